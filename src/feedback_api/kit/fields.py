"""Field types shared by the request schemas: text PostgreSQL will accept, bounded labels."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from feedback_api.kit.search import words

NUL = "\x00"


def storable_text(value: str) -> str:
    """`value`, or ValueError saying why PostgreSQL could not store it."""
    # PostgreSQL refuses NUL in text and jsonb; say so before the database does. JSON may
    # also escape half of a UTF-16 pair ("\\ud800"), which Python's parser keeps as a lone
    # surrogate: no character, so no UTF-8 to store (or to write in an answer).
    if NUL in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(
                "must be valid Unicode: it holds half of a UTF-16 surrogate pair "
                "(\\ud800-\\udfff) without its other half"
            ) from None
    return value


# How deep a JSON value sent in a field (metadata, sources_used) may nest, in objects and
# arrays: far more than any real document needs, and well inside the 200 levels of
# pydantic's parser, which reads the stored value back (the engine's JSON deserializer) and
# reads a request's whole body, the field's value a few levels down.
JSON_MAX_DEPTH = 64


def _too_deep() -> ValueError:
    return ValueError(
        f"is nested more than {JSON_MAX_DEPTH} levels deep (objects and arrays inside one "
        "another): send a flatter document"
    )


def _not_a_number() -> ValueError:
    return ValueError(
        "holds NaN or Infinity, which JSON and the database cannot store: send a number or null"
    )


def storable_json(value: Any, *, texts: bool = True) -> Any:
    """`value`, or ValueError when the database cannot store it as JSON: NaN or Infinity,
    nesting deeper than JSON_MAX_DEPTH levels, or (`texts`) a text or key that
    `storable_text` refuses. `texts=False` for the core-checked types, whose texts are known
    to hold no NUL or lone surrogate."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if texts:
                storable_text(item)
        elif isinstance(item, dict):
            if depth == JSON_MAX_DEPTH:
                raise _too_deep()
            for key, sub in item.items():
                if texts:
                    storable_text(str(key))
                stack.append((sub, depth + 1))
        elif isinstance(item, list):
            if depth == JSON_MAX_DEPTH:
                raise _too_deep()
            stack.extend((sub, depth + 1) for sub in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _not_a_number()
    return value


def _core_storable_json(value: Any) -> Any:
    return storable_json(value, texts=False)


def instant_in_utc_years(value: datetime) -> datetime:
    """`value` in UTC (taken as UTC when it names no zone), as every time the service
    answers with; ValueError when it falls outside the years 1-9999 in UTC."""
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        # The database compares and stores instants in UTC: one that falls outside the
        # years 1-9999 there (0001-01-01T00:00+14:00) cannot be sent to it.
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value.isoformat()} falls outside the years 1 to 9999 once converted to UTC, "
            "which the database cannot hold: send a time within them"
        ) from None


# The first and the last instant of the years 1-9999: the database driver writes them as
# PostgreSQL's -infinity and infinity, and reads those back as times without a zone, which
# every comparison with a time with one then fails on.
_ENDS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def _not_an_end(value: datetime) -> datetime:
    if value in _ENDS:
        raise ValueError(
            f"{value.isoformat()} is the {'first' if value == _ENDS[0] else 'last'} instant "
            "there is, which the database would keep as an infinity: send a time after the "
            "first or before the last"
        )
    return value


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
LongText = Annotated[
    str, StringConstraints(max_length=LONG_TEXT_MAX), AfterValidator(storable_text)
]
Comment = Annotated[str, StringConstraints(max_length=COMMENT_MAX), AfterValidator(storable_text)]
Label = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=LABEL_MAX),
    AfterValidator(storable_text),
]
Identifier = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX),
    AfterValidator(storable_text),
]
RequestId = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=REQUEST_ID_MAX),
    AfterValidator(storable_text),
]
JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
JsonValue = Annotated[Any, AfterValidator(storable_json)]
NonNegativeInt = Annotated[int, Field(ge=0, le=2_147_483_647)]
# The largest measure a write may carry (memory_used): far above any real one, and small
# enough that the analytics' sums of millions of them stay finite in PostgreSQL's double
# precision (a sum of two values near 1e308 overflows, and the refresh failed on it).
MEASURE_MAX = 1e15
NonNegativeFloat = Annotated[float, Field(ge=0, le=MEASURE_MAX, allow_inf_nan=False)]
Timestamp = Annotated[datetime, AfterValidator(instant_in_utc_years)]
# When a written exchange or vote happened (a filter's bound may lie anywhere: Timestamp).
RecordedAt = Annotated[Timestamp, AfterValidator(_not_before_2000)]
# Any other instant a client sends that is stored (a review rule's start).
StoredInstant = Annotated[Timestamp, AfterValidator(_not_an_end)]

# For query and path parameters: bounded, and no NUL (PostgreSQL would refuse it).
SearchText = Annotated[str, StringConstraints(max_length=255), AfterValidator(storable_text)]


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
CoreJsonObject = Annotated[dict[str, Any], AfterValidator(_core_storable_json)]
CoreJsonValue = Annotated[Any, AfterValidator(_core_storable_json)]

# In JSON, NUL and U+001C-U+001F can only be written as escapes (control characters are
# refused raw): "\u0000", "\u001c" and so on, hex digits in either case. Half of a UTF-16
# pair too ("\ud800"): Python's parser keeps it as a lone surrogate, which the Core* JSON
# types do not look for (a whole pair, as JSON writers escape emoji, is checked the same way).
_PYTHON_CHECKED = re.compile(rb"\\u(?:00(?:00|1[c-fC-F])|[dD][89a-fA-F])")


def python_checks_needed(document: bytes) -> bool:
    """Whether a JSON document may hold a text that the Core* types above would not judge
    as the types they stand for do. (Without an escape's start, decided by one search.)"""
    return b"\\u" in document and _PYTHON_CHECKED.search(document) is not None


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
    AfterValidator(storable_text),
]
