"""A minimal whois client for checks: `python -m whoisd.client [QUERY]` sends QUERY
(default `help`) to the server named by the same settings as the server
(config file, WHOISD_*, options) and prints the answer. Exit status 1 when
the server cannot be reached or what answers is not vrmd-whois: the maintainer
scripts use it to wait for a start."""

import socket
import sys

from whoisd import config


def main(argv=None):
    p = config.parser("Query the vrmd-whois server.")
    p.add_argument("query", nargs="?", default="help")
    p.add_argument("--quiet", action="store_true", help="print nothing, only set the exit status")
    args = p.parse_args(argv)
    try:
        settings = config.load(args)
    except config.ConfigError as e:
        print("whoisd.client: %s" % e, file=sys.stderr)
        return 2
    host = "127.0.0.1" if settings.bind in ("", "0.0.0.0") else "::1" if settings.bind == "::" else settings.bind
    try:
        with socket.create_connection((host, settings.port), timeout=5) as s:
            s.sendall(args.query.encode("utf-8") + b"\r\n")
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as e:
        if not args.quiet:
            print("whoisd.client: %s:%d: %s" % (host, settings.port, e), file=sys.stderr)
        return 1
    answer = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    if not args.quiet:
        sys.stdout.write(answer)
    if not answer.startswith("% vrmd-whois "):
        if not args.quiet:
            print("whoisd.client: %s:%d answered, but not as vrmd-whois" % (host, settings.port), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
