"""thumbs: a small WSGI service that makes PNG thumbnails with Pillow (the fab deploy kit's third example)."""

__version__ = "1.0"
