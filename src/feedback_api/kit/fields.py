"""Field types shared by the request schemas: text PostgreSQL will accept, bounded labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from feedback_api.kit.search import words

NUL = "\x00"


def _no_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text and jsonb; say so before the database does.
    if NUL in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _json_without_nul(value: Any) -> Any:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                _no_nul(str(key))
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)
    return value


def _assume_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The earliest moment a write may carry: older is a clock or a parser gone wrong (a year 1,
# a Unix epoch 0), not a conversation with a language model.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _not_before_2000(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError(
            f"{value.isoformat()} is before 2000-01-01: send the time the exchange or the vote "
            "happened, in ISO 8601 (or leave it out for now)"
        )
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# The longest text of each kind, in characters.
LONG_TEXT_MAX = 1_000_000
COMMENT_MAX = 20_000
LABEL_MAX = 200
IDENTIFIER_MAX = 255
REQUEST_ID_MAX = 128
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT_MAX), AfterValidator(_no_nul)]
Comment = Annotated[str, StringConstraints(max_length=COMMENT_MAX), AfterValidator(_no_nul)]
Label = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=LABEL_MAX),
    AfterValidator(_no_nul),
]
Identifier = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX),
    AfterValidator(_no_nul),
]
RequestId = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=REQUEST_ID_MAX),
    AfterValidator(_no_nul),
]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_without_nul)]
JsonValue = Annotated[Any, AfterValidator(_json_without_nul)]
NonNegativeInt = Annotated[int, Field(ge=0, le=2_147_483_647)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]
# When a written exchange or vote happened (a filter's bound may lie anywhere: Timestamp).
RecordedAt = Annotated[Timestamp, AfterValidator(_not_before_2000)]

# For query and path parameters: bounded, and no NUL (PostgreSQL would refuse it).
SearchText = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]


# The types above with every rule in pydantic's core: no call into Python per text. For a
# JSON document with no NUL and no U+001C-U+001F in it (`python_checks_needed`), they accept
# exactly what the types above accept, with the same values: the core strips what Python's
# `str.strip` strips but those four separators. Their refusals are not worded like the
# types above (a stripped text's length is counted before stripping): whatever they refuse
# is validated again with the types above (feedback/http.py).
CoreLongText = Annotated[str, StringConstraints(max_length=LONG_TEXT_MAX)]
CoreComment = Annotated[str, StringConstraints(max_length=COMMENT_MAX)]
CoreLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LABEL_MAX)
]
CoreIdentifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=IDENTIFIER_MAX)
]
CoreRequestId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REQUEST_ID_MAX)
]

# In JSON, NUL and U+001C-U+001F can only be written as escapes (control characters are
# refused raw): "\u0000", "\u001c" and so on, hex digits in either case.
_PYTHON_CHECKED = re.compile(rb"\\u00(?:00|1[c-fC-F])")


def python_checks_needed(document: bytes) -> bool:
    """Whether a JSON document may hold a text that the Core* types above would not judge
    as the types they stand for do. (Without an escape's start, decided by one search.)"""
    return b"\\u00" in document and _PYTHON_CHECKED.search(document) is not None


SEARCH_MAX_LENGTH = 200


def _searchable(value: str) -> str:
    if len(value) > SEARCH_MAX_LENGTH:
        raise ValueError(f"a search has at most {SEARCH_MAX_LENGTH} characters")
    if not words(value):
        raise ValueError("type a word to search for: letters or digits")
    return value


# Words typed into a search box (GET /v1/feedback?q=, kit/search.py): 1-200 characters.
SearchQuery = Annotated[
    str,
    BeforeValidator(_strip),
    AfterValidator(_searchable),
    AfterValidator(_no_nul),
]
