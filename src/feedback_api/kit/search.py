"""Word search in PostgreSQL's full-text search, the way a search box is used.

What a person types is split into words; a text matches when each word starts a word of
it, in any order and any case (`kube` finds "Kubernetes"). Words of one or two characters
match whole words only: as prefixes they would match a large part of the vocabulary and
read a large part of the index. The `simple` configuration lowercases and stems nothing, so
it treats every language (and code) alike. docs/explorer.md says why words rather than
substrings; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Index, Text, TextClause, bindparam, func, text
from sqlalchemy.dialects.postgresql import TSVECTOR

CONFIG = "simple"
# The words of a search: runs of letters and digits (the `simple` parser splits at `_`, `.`,
# `-` and the like as well; "snake_case" is the two words "snake" and "case" to it).
_WORD = re.compile(r"[^\W_]+")
PREFIX_FROM = 3


def document(*columns: ColumnElement[str | None]) -> ColumnElement[str]:
    """`to_tsvector('simple', a || ' ' || b ...)`: the words of the columns, NULL as empty.

    The expression of the search indexes and of the searches, built here only: PostgreSQL
    uses an expression index only for the very same expression.
    """
    # Constants written into the SQL, not bound: the index's expression has no parameters.
    # (text(), not literal_column(): an Index finds its table from the columns it names.)
    empty, space = text("''"), text("' '")
    parts: list[ColumnElement[Any]] = [func.coalesce(column, empty) for column in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(space).op("||")(part)
    return func.to_tsvector(_config(), joined, type_=TSVECTOR)


def _config() -> TextClause:
    return text(f"'{CONFIG}'::regconfig")


def search_index(name: str, *columns: ColumnElement[str | None]) -> Index:
    """A GIN index over the words of `columns`, for `matches`."""
    return Index(name, document(*columns), postgresql_using="gin")


def words(typed: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(typed)]


def tsquery(typed: str) -> str:
    """The tsquery of a search: every word, a prefix from three characters on."""
    return " & ".join(f"{word}:*" if len(word) >= PREFIX_FROM else word for word in words(typed))


def matches(document_: ColumnElement[str], search: str) -> ColumnElement[bool]:
    """`document @@ to_tsquery('simple', ...)` for what a person typed (words() not empty)."""
    query = func.to_tsquery(_config(), bindparam("search", tsquery(search), Text))
    return document_.op("@@")(query)
