"""Word search in PostgreSQL's full-text search, the way a search box is used.

What a person types is split into words; a text matches when each word starts a word of
it, in any order and any case (`kube` finds "Kubernetes"). Words of one or two characters
match whole words only: as prefixes they would match a large part of the vocabulary and
read a large part of the index. The `simple` configuration lowercases and stems nothing, so
it treats every language (and code) alike.

The words of a row are a stored generated column (`search_column`) with a GIN index: a
search that walks the newest votes (for words most rows contain) then reads each row's
words instead of parsing its texts again, which costs as much as the parse at insert time.
docs/explorer.md says why words rather than substrings; docs/benchmarks/search.md has the figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Computed, Index, Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.driver_errors import PROGRAM_LIMIT_EXCEEDED, sqlstate

CONFIG = "simple"
# The words of a search: runs of letters and digits (the `simple` parser splits at `_`, `.`,
# `-` and the like as well; "snake_case" is the two words "snake" and "case" to it).
_WORD = re.compile(r"[^\W_]+")
PREFIX_FROM = 3


def document(*columns: str) -> str:
    """`to_tsvector('simple', a || ' ' || b ...)`, NULL as empty: the words of the columns."""
    joined = " || ' ' || ".join(f"coalesce({name}, '')" for name in columns)
    return f"to_tsvector('{CONFIG}'::regconfig, {joined})"


def search_column(*columns: str) -> Mapped[Any]:
    """The words of `columns`, computed by PostgreSQL whenever they change; never loaded
    with the row (deferred), never written by us."""
    return mapped_column(TSVECTOR, Computed(document(*columns), persisted=True), deferred=True)


def search_index(name: str, column: str) -> Index:
    """The GIN index `matches` reads."""
    return Index(name, column, postgresql_using="gin")


def words(typed: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(typed)]


def tsquery(typed: str) -> str:
    """The tsquery of a search: every word, a prefix from three characters on."""
    return " & ".join(f"{word}:*" if len(word) >= PREFIX_FROM else word for word in words(typed))


def matches(column: ColumnElement[Any], typed: str) -> ColumnElement[bool]:
    """`column @@ to_tsquery('simple', ...)` for what a person typed (words() not empty)."""
    query = func.to_tsquery(
        text(f"'{CONFIG}'::regconfig"), bindparam("search", tsquery(typed), Text)
    )
    return column.op("@@")(query)


def share(typed: str, common: Sequence[str], shares: Sequence[float]) -> float:
    """The share of rows that match `typed` at most, by the statistics of a column's most
    common words (`common`, each with its share of rows in `shares`), 0 for a word not
    among them (rarer than all of them, or unseen): for each word of the search, the shares
    of the common words it matches, summed (a prefix matches several); for the search,
    the smallest of those (every word must match)."""
    found = []
    for word in words(typed):
        prefix = len(word) >= PREFIX_FROM
        found.append(
            sum(
                part
                for lexeme, part in zip(common, shares, strict=False)  # shares has 3 more
                if lexeme == word or (prefix and lexeme.startswith(word))
            )
        )
    return min(min(found, default=0.0), 1.0)


# PostgreSQL keeps at most 1 MB of a row's search words (a tsvector's lexemes and their
# positions). A word takes at most 4.5 bytes of it per character of text (a one-character
# word of three UTF-8 bytes, its position and a separator), so texts of fewer characters
# than this always fit, and longer ones are checked before they are written.
WORDS_ALWAYS_FIT = 230_000


# What a text whose words do not fit is answered with (after the names of its fields).
TOO_MANY_WORDS = (
    "more distinct words than the search index keeps (1 MB of them, a few hundred thousand "
    "characters): shorten it"
)


def may_overflow(first: str | None, second: str | None) -> bool:
    """Whether the search words of a row's two texts (question and answer, or comment and
    correction) might not fit in a tsvector. Two arguments, no loop: it runs for every
    item of a batch (0.17 µs an item, docs/benchmarks/ingest.md)."""
    return len(first or "") + len(second or "") > WORDS_ALWAYS_FIT


async def words_fit(session: AsyncSession, *texts: str | None) -> bool:
    """Whether PostgreSQL keeps the search words of `texts`, as the row's generated column
    (`document`) would compute them: asked of the database, in a savepoint of the session's
    transaction (so a refusal leaves it usable). For texts `may_overflow` names only."""
    joined = " ".join(t or "" for t in texts)
    words = func.to_tsvector(text(f"'{CONFIG}'::regconfig"), bindparam("joined", joined, Text))
    try:
        async with session.begin_nested():
            await session.execute(select(func.length(words)))
    except DBAPIError as exc:
        if sqlstate(exc) != PROGRAM_LIMIT_EXCEEDED:
            raise
        return False
    return True
