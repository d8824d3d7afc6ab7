"""Image work, with Pillow: thumbnails, a generated sample image, and what an image is."""

import io

from PIL import Image, ImageDraw

# Formats Pillow may open from a request body; anything else is refused before decoding.
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")


class ImageError(ValueError):
    """The request's image cannot be used; the message says why, for the client."""


def open_image(data, max_pixels):
    """Opens an image from bytes, refusing unknown formats and images larger than max_pixels."""
    if not data:
        raise ImageError("the request body is empty; send an image (PNG, JPEG, GIF, WebP or BMP)")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Exception as error:  # Pillow raises several types for undecodable input.
        raise ImageError("the body is not an image Pillow can read (%s)" % error.__class__.__name__)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError("the image has %d x %d pixels, more than the limit of %d" % (width, height, max_pixels))
    return image


def describe(image):
    """What an image is: its format, size and mode."""
    width, height = image.size
    return {"format": image.format, "width": width, "height": height, "mode": image.mode}


def thumbnail_png(image, size):
    """A PNG of the image scaled down (never up) to fit in size x size, keeping its aspect ratio."""
    copy = image.convert("RGBA") if image.mode not in ("RGB", "RGBA", "L", "LA") else image.copy()
    copy.thumbnail((size, size), Image.LANCZOS)
    out = io.BytesIO()
    copy.save(out, format="PNG", optimize=True)
    return out.getvalue()


def sample_png(size):
    """A generated size x size PNG: a diagonal gradient with a frame, so clients can try the service."""
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    for y in range(size):
        for x in range(size):
            pixels[x, y] = (255 * x // max(size - 1, 1), 255 * y // max(size - 1, 1), 160)
    ImageDraw.Draw(image).rectangle((0, 0, size - 1, size - 1), outline=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
