"""The built-in whois table: what the server answers when no database is configured,
and for names the database does not know."""

RECORDS = {
    "example.com": {
        "Domain Name": "EXAMPLE.COM",
        "Registrar": "RESERVED-Internet Assigned Numbers Authority",
        "Creation Date": "1995-08-14T04:00:00Z",
        "Name Server": ["A.IANA-SERVERS.NET", "B.IANA-SERVERS.NET"],
        "Remarks": "Reserved for documentation (RFC 2606).",
    },
    "example.net": {
        "Domain Name": "EXAMPLE.NET",
        "Registrar": "RESERVED-Internet Assigned Numbers Authority",
        "Creation Date": "1995-01-15T05:00:00Z",
        "Name Server": ["A.IANA-SERVERS.NET", "B.IANA-SERVERS.NET"],
        "Remarks": "Reserved for documentation (RFC 2606).",
    },
    "example.org": {
        "Domain Name": "EXAMPLE.ORG",
        "Registrar": "RESERVED-Internet Assigned Numbers Authority",
        "Creation Date": "1995-08-31T04:00:00Z",
        "Name Server": ["A.IANA-SERVERS.NET", "B.IANA-SERVERS.NET"],
        "Remarks": "Reserved for documentation (RFC 2606).",
    },
    "vrmd.test": {
        "Domain Name": "VRMD.TEST",
        "Registrar": "vrmd example registry",
        "Creation Date": "2026-01-01T00:00:00Z",
        "Name Server": ["NS1.VRMD.TEST"],
        "Remarks": "The .test TLD never resolves (RFC 2606).",
    },
}


def format_record(record):
    """Render one record as whois text lines `Key: value` (lists give one line each)."""
    lines = []
    for key, value in record.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append("%s: %s" % (key, item))
    return "\n".join(lines) + "\n"


def lookup(name):
    """The built-in answer for `name` (already lower-cased), or None."""
    record = RECORDS.get(name)
    return format_record(record) if record is not None else None
