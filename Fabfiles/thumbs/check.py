"""python -m thumbs.check [--config /etc/thumbs/uwsgi.ini] [--quiet]: asks the running service's /health.

Exits 0 when it answers {"status": "ok"}, 1 otherwise; debian/postinst uses it to wait for the start.
"""

import argparse
import configparser
import json
import sys
import urllib.request


def health_url(ini_path):
    """http://HOST:PORT/health for the ini's http-socket (0.0.0.0 or an empty host mean this machine)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    if not parser.read(ini_path):
        raise SystemExit("thumbs.check: cannot read %s" % ini_path)
    address = parser.get("uwsgi", "http-socket", fallback="")
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise SystemExit("thumbs.check: %s has no http-socket = HOST:PORT line" % ini_path)
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return "http://%s:%s/health" % (host, port)


def main(argv=None):
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--config", default="/etc/thumbs/uwsgi.ini")
    options.add_argument("--quiet", action="store_true")
    arguments = options.parse_args(argv)
    url = health_url(arguments.config)
    # This machine's service, never through a proxy that http_proxy may name.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            answer = json.load(response)
    except (OSError, ValueError) as error:
        if not arguments.quiet:
            print("thumbs.check: %s: %s" % (url, error), file=sys.stderr)
        return 1
    if not arguments.quiet:
        print(json.dumps(answer, indent=2))
    return 0 if answer.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
