"""Settings: defaults, then the config file ($THUMBS_CONFIG, else /etc/thumbs/thumbs.conf)."""

import configparser
import os

DEFAULT_PATH = "/etc/thumbs/thumbs.conf"
DEFAULTS = {
    # The largest side of a thumbnail a client may ask for.
    "max_size": 1024,
    # The side of a thumbnail when the request gives none.
    "default_size": 128,
    # Images with more pixels than this are refused before they are decoded.
    "max_pixels": 40_000_000,
    # The largest request body accepted, in bytes.
    "max_body": 20 * 1024 * 1024,
}


def load(path=None):
    """The settings as a dict of ints; a missing file gives the defaults, a bad value raises ValueError."""
    path = path or os.environ.get("THUMBS_CONFIG") or DEFAULT_PATH
    settings = dict(DEFAULTS)
    parser = configparser.ConfigParser()
    if parser.read(path) and parser.has_section("thumbs"):
        for key in DEFAULTS:
            if parser.has_option("thumbs", key):
                value = parser.get("thumbs", key)
                try:
                    settings[key] = int(value)
                except ValueError:
                    raise ValueError("%s: %s = %r is not a whole number" % (path, key, value))
    return settings
