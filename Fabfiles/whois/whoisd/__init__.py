"""vrmd-whois: a small RFC 3912 whois server built on Twisted.

Answers from a built-in table, or from PostgreSQL (through psycopg2) when a DSN
is configured. See README.md beside setup for the layout of the package.
"""

__version__ = "1.0"
