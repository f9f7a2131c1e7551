"""PII redaction: e-mail addresses, phone numbers and IPv4 addresses replaced by placeholders, with a
count of what was removed (the report a data card needs). Regular expressions in the spirit of
BigScience's ROOTS and BigCode's StarCoder PII passes: precise rather than exhaustive — a regex misses
unusual formats, which is why production pipelines add a learned detector."""

from __future__ import annotations

import collections
import re

__all__ = ["PII_PATTERNS", "redact_pii"]

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
PII_PATTERNS: dict[str, re.Pattern] = {
    "EMAIL": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    # an IPv4 address: four octets 0–255, not part of a longer dotted number
    "IP": re.compile(rf"(?<!\d)(?<!\d\.){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?!\d)(?!\.\d)"),
    # +country (area) exchange-line with separators: 3-3-4 digit groups, so lists of single digits never match
    "PHONE": re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]\d{3}[ .-]\d{4}(?![\w.])"),
}


def redact_pii(text: str) -> tuple[str, collections.Counter]:
    """Replace each match with ``<EMAIL>``, ``<IP>`` or ``<PHONE>``; return the text and the counts by kind.
    E-mails go first, so an address's digits never read as a phone number."""
    report: collections.Counter = collections.Counter()
    for kind, pattern in PII_PATTERNS.items():
        text, n = pattern.subn(f"<{kind}>", text)
        if n:
            report[kind] += n
    return text, report
