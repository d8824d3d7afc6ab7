"""The WSGI application (uWSGI serves it as thumbs.app:application).

    GET  /health               JSON: versions of the app, Python, Pillow, psycopg2 and the libpq it was built against
    GET  /sample.png?size=N    a generated N x N PNG
    POST /thumbnail?size=N     the request body (an image) scaled to fit N x N, as PNG
    POST /info                 JSON: the body image's format, width, height and mode
"""

import json
import sys
from urllib.parse import parse_qs

import PIL
import psycopg2

from . import __version__, imaging, settings

SETTINGS = settings.load()


def libpq_version():
    """libpq's version as psycopg2 reports it (160003 -> "16.3")."""
    number = psycopg2.__libpq_version__
    major = number // 10000
    return "%d.%d" % (major, number % 10000) if major >= 10 else "%d.%d.%d" % (major, number // 100 % 100, number % 100)


def health():
    try:
        import uwsgi  # Only inside uWSGI.
        server = "uWSGI " + uwsgi.version.decode()
    except ImportError:
        server = "not uWSGI"
    return {
        "status": "ok",
        "thumbs": __version__,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "server": server,
        "pillow": PIL.__version__,
        "psycopg2": psycopg2.__version__.split(" ")[0],
        "libpq": libpq_version(),
    }


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def requested_size(query):
    values = query.get("size")
    if not values:
        return SETTINGS["default_size"]
    try:
        size = int(values[0])
    except ValueError:
        raise HTTPError("400 Bad Request", "size must be a whole number of pixels")
    if not 1 <= size <= SETTINGS["max_size"]:
        raise HTTPError("400 Bad Request", "size must be between 1 and %d" % SETTINGS["max_size"])
    return size


def read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HTTPError("400 Bad Request", "Content-Length is not a number")
    if length > SETTINGS["max_body"]:
        raise HTTPError("413 Payload Too Large", "the body is larger than %d bytes" % SETTINGS["max_body"])
    return environ["wsgi.input"].read(length) if length > 0 else b""


def route(environ):
    """(status, content type, body bytes) for a request."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/health" and method in ("GET", "HEAD"):
        return "200 OK", "application/json", json.dumps(health()).encode()
    if path == "/sample.png" and method in ("GET", "HEAD"):
        return "200 OK", "image/png", imaging.sample_png(requested_size(query))
    if path in ("/thumbnail", "/info"):
        if method != "POST":
            raise HTTPError("405 Method Not Allowed", "POST an image to %s" % path)
        try:
            image = imaging.open_image(read_body(environ), SETTINGS["max_pixels"])
        except imaging.ImageError as error:
            raise HTTPError("400 Bad Request", str(error))
        if path == "/info":
            return "200 OK", "application/json", json.dumps(imaging.describe(image)).encode()
        return "200 OK", "image/png", imaging.thumbnail_png(image, requested_size(query))
    raise HTTPError("404 Not Found", "no such page; try /health, /sample.png, POST /thumbnail or POST /info")


def application(environ, start_response):
    try:
        status, content_type, body = route(environ)
    except HTTPError as error:
        status, content_type, body = error.status, "text/plain; charset=utf-8", (str(error) + "\n").encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
