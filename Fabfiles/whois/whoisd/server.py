"""The whois server: one query line in, one answer out, then the server closes
the connection (RFC 3912)."""

import sys

# Imported unconditionally: the package's C extension links libpq.so.5, so a host
# without libpq5 fails here, at start, and not at the first database query.
import psycopg2
from twisted.enterprise import adbapi
from twisted.internet import defer, protocol
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin

import whoisd
from whoisd import config, records

log = Logger()

HEADER = "% vrmd-whois " + whoisd.__version__ + ": for documentation and testing only.\n\n"
HELP = (
    "Send one domain name followed by CR LF, for example:\n"
    "  printf 'example.com\\r\\n' | nc HOST 4343\n"
)


class PostgresTable:
    """Records in PostgreSQL: table whois_records(name text primary key, body text)."""

    def __init__(self, dsn):
        # adbapi runs psycopg2's blocking calls in Twisted's thread pool.
        self.pool = adbapi.ConnectionPool("psycopg2", dsn, cp_min=1, cp_max=4, cp_reconnect=True)

    def lookup(self, name):
        d = self.pool.runQuery("SELECT body FROM whois_records WHERE name = %s", (name,))
        d.addCallback(lambda rows: rows[0][0] if rows else None)
        return d


class WhoisProtocol(LineOnlyReceiver, TimeoutMixin):
    # RFC 3912 says CR LF; a bare LF is accepted too and the CR stripped.
    delimiter = b"\n"
    MAX_LENGTH = 512
    answered = False

    def connectionMade(self):
        self.setTimeout(self.factory.settings.timeout)

    def lineReceived(self, line):
        if self.answered:
            return
        self.answered = True
        self.setTimeout(None)
        query = line.rstrip(b"\r").decode("utf-8", "replace").strip()
        d = self.factory.answer(query)
        d.addCallback(self._reply)
        d.addErrback(self._failed, query)

    def lineLengthExceeded(self, line):
        self._reply("%% Error: query longer than %d bytes.\n" % self.MAX_LENGTH)

    def timeoutConnection(self):
        self.transport.loseConnection()

    def _reply(self, text):
        self.transport.write((HEADER + text).replace("\n", "\r\n").encode("utf-8"))
        self.transport.loseConnection()

    def _failed(self, failure, query):
        log.failure("lookup of {query!r} failed", failure, query=query)
        self._reply("% Error: temporary failure, try again later.\n")


class WhoisFactory(protocol.ServerFactory):
    protocol = WhoisProtocol

    def __init__(self, settings):
        self.settings = settings
        self.database = PostgresTable(settings.dsn) if settings.dsn else None

    @defer.inlineCallbacks
    def answer(self, query):
        name = query.lower().rstrip(".")
        if name in ("", "help"):
            return HELP
        body = None
        if self.database is not None:
            body = yield self.database.lookup(name)
        if body is None:
            body = records.lookup(name)
        if body is None:
            return 'No match for "%s".\n' % query.upper()
        log.info("answered {name}", name=name)
        return body if body.endswith("\n") else body + "\n"


def main(argv=None):
    args = config.parser("Run the vrmd-whois server.").parse_args(argv)
    try:
        settings = config.load(args)
    except config.ConfigError as e:
        print("whoisd: %s" % e, file=sys.stderr)
        return 2
    out = open(settings.logfile, "a", encoding="utf-8", buffering=1) if settings.logfile else sys.stdout
    globalLogBeginner.beginLoggingTo([textFileLogObserver(out)], redirectStandardIO=False)

    from twisted.internet import reactor

    factory = WhoisFactory(settings)
    port = reactor.listenTCP(settings.port, factory, interface=settings.bind)
    log.info(
        "whoisd {version} listening on {host}:{port}; psycopg2 {pg} (libpq {libpq}); backend: {backend}",
        version=whoisd.__version__, host=settings.bind, port=port.getHost().port,
        pg=psycopg2.__version__.split()[0], libpq=psycopg2.__libpq_version__,
        backend="postgresql, then built-in table" if settings.dsn else "built-in table",
    )
    reactor.run()
    return 0
