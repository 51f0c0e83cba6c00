"""The marks of the pattern entities: what a text must contain to be worth analysing.

A mark is a necessary condition, never a finding: a text is analysed for the entities whose
mark it bears, and left as it is without asking Presidio when it bears none (most texts of
a chat bear none). So a mark may let through texts with nothing in them (they cost time),
but must never hold back a text in which Presidio would find something.

Each check is a substring test or an expression that starts with a literal or a character
class, which Python's `re` skips to directly: every text of every exported row goes
through these, so they are written for speed (one alternation of all of them, as before,
costs five times more).
"""

from __future__ import annotations

import re

# Seven digits close together (phones, cards, IBANs), in the text without its dates
# (`\d(?:[\s().+/-]{0,3}\d){6}` written out: a fifth faster).
_CLOSE = r"[\s().+/-]{0,3}\d" * 6
_DIGITS = re.compile(r"\d" + _CLOSE).search
# ISO dates and times are no phone, card or account number: their digits do not count.
_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b")
# Presidio's IPv4 patterns want four dot-separated groups of one to three digits: the
# shape is looked for in the text itself (a date holds no dot, so it can neither make nor
# hide one), and a version number (`3.12.1`) is not analysed.
_IPV4 = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d").search
# Either of the two, in one pass: most texts with digits have neither.
_NUMERIC = re.compile(r"\d(?:\.\d{1,3}\.\d{1,3}\.\d|" + _CLOSE + ")").search
# Every IPv6 pattern of Presidio holds `::` or two hex groups each followed by `:`; looked
# for without the dates, whose times (`10:00:00`) have that shape.
_IPV6 = re.compile(r"::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:").search
# Secrets: their prefixes (the recognizers then want the word boundary and the length).
_AWS = re.compile(r"A(?:KIA|SIA|BIA|CCA|3T)").search
_GITHUB = re.compile(r"gh[pousr]_|github_pat_").search

_LITERALS = (
    ("@", ("EMAIL", "CREDENTIALS_URL")),
    ("sk-", ("API_KEY",)),
    ("eyJ", ("JWT",)),
    ("-----BEGIN", ("PRIVATE_KEY",)),
)
_NUMBERS = ("PHONE", "CREDIT_CARD", "IBAN")


def marked_entities(text: str) -> set[str]:
    """The pattern entities `text` may hold (a superset: Presidio decides)."""
    marked: set[str] = set()
    for literal, entities in _LITERALS:
        if literal in text:
            marked.update(entities)
    if _AWS(text):
        marked.add("AWS_ACCESS_KEY")
    if _GITHUB(text):
        marked.add("GITHUB_TOKEN")
    numeric = _NUMERIC(text) is not None
    if numeric and _IPV4(text):
        marked.add("IP_ADDRESS")
    digits = numeric and _DIGITS(text) is not None
    if digits or ":" in text:
        # A date has seven digits close together: the text bears the digits mark whenever
        # it holds one, so dates are taken out only then.
        dateless = _DATES.sub(" ", text) if digits else text
        if digits and _DIGITS(dateless):
            marked.update(_NUMBERS)
        if ":" in dateless and _IPV6(dateless):
            marked.add("IP_ADDRESS")
    return marked
