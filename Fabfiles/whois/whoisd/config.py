"""Settings: built-in defaults, then the config file, then WHOISD_* environment
variables, then command-line options (each overrides the one before)."""

import argparse
import configparser
import os

DEFAULT_CONFIG = "/etc/vrmd-whois/whoisd.conf"
DEFAULTS = {
    "bind": "0.0.0.0",
    # Above 1024, so the server needs no root and no capability.
    "port": "4343",
    # A libpq connection string ("dbname=whois user=whois host=/run/postgresql").
    # Empty: answer from the built-in table only.
    "dsn": "",
    # Seconds a client may take to send its query.
    "timeout": "30",
    # Empty: log to standard output.
    "logfile": "",
}


class ConfigError(Exception):
    """A setting that cannot be used; the message says which and why."""


class Settings:
    def __init__(self, values):
        self.bind = values["bind"]
        self.dsn = values["dsn"]
        self.logfile = values["logfile"]
        self.port = _integer(values, "port", 1, 65535)
        self.timeout = _integer(values, "timeout", 1, 3600)


def _integer(values, key, low, high):
    text = values[key]
    try:
        number = int(text)
    except ValueError:
        raise ConfigError("%s must be a whole number, not %r" % (key, text))
    if not low <= number <= high:
        raise ConfigError("%s must be between %d and %d, not %d" % (key, low, high, number))
    return number


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", help="config file (default: $WHOISD_CONFIG or %s)" % DEFAULT_CONFIG)
    for key in DEFAULTS:
        p.add_argument("--" + key, help="overrides %s from the config file and $WHOISD_%s" % (key, key.upper()))
    return p


def load(args, environ=os.environ):
    """Merge the four levels into Settings. A missing config file is fine
    (defaults apply); an unreadable or malformed one raises ConfigError."""
    values = dict(DEFAULTS)
    path = args.config or environ.get("WHOISD_CONFIG") or DEFAULT_CONFIG
    if os.path.exists(path):
        config = configparser.ConfigParser()
        try:
            with open(path, encoding="utf-8") as f:
                config.read_file(f)
        except (OSError, configparser.Error) as e:
            raise ConfigError("cannot read %s: %s" % (path, e))
        if config.has_section("whoisd"):
            for key, value in config.items("whoisd"):
                if key not in DEFAULTS:
                    raise ConfigError("%s: unknown setting %r in [whoisd]" % (path, key))
                values[key] = value.strip()
    elif args.config:
        raise ConfigError("config file %s does not exist" % path)
    for key in DEFAULTS:
        if "WHOISD_" + key.upper() in environ:
            values[key] = environ["WHOISD_" + key.upper()]
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    return Settings(values)
