from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    MetaData,
    Row,
    Table,
    func,
    literal_column,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A result row of any shape (SQLAlchemy 2.1's Row is variadic in its column types).
AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        datetime: DateTime(timezone=True),
    }


def attribute_names(model: type[Base]) -> dict[str, str]:
    """Column name -> mapped attribute name, for every column of `model` we write and show
    (not the ones PostgreSQL computes: see written_columns).

    The API and the SQL use the column names; the attribute differs where a column's name
    is reserved on declarative classes (`metadata`, mapped as `meta`).
    """
    return {
        column.name: key
        for key, column in sa_inspect(model).columns.items()
        if column.computed is None
    }


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so new rows land at the right edge of the index.

    Random v4 keys scatter inserts over the whole B-tree, and ingest slows down as the
    table outgrows memory; v7 keys keep it flat. (Python 3.14 has uuid.uuid7; we target 3.11.)
    """
    return uuid.UUID(int=_uuid7s(1)[0])


def new_id_strings(count: int) -> list[str]:
    """`count` UUIDv7s in their canonical text form, `str(new_id())` each, from one read of
    the random source: a fresh id one at a time costs about 3 microseconds (a batch of
    exchanges sent without request_id, docs/benchmarks/ingest.md)."""
    hexes = (f"{value:032x}" for value in _uuid7s(count))
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]


def new_id_texts(count: int) -> list[str]:
    """`count` UUIDv7s as 32 hex digits each, which PostgreSQL's uuid input reads: for JSON."""
    return [f"{value:032x}" for value in _uuid7s(count)]


_VERSION_7 = 0x7 << 76 | 0x2 << 62  # version 7, variant 10


_RANDOM_BITS = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)


def _uuid7s(count: int) -> list[int]:
    """`count` UUIDv7s as integers, with one read of the system's random source (a syscall)."""
    # The current millisecond in the top 48 bits, with the version and variant bits set.
    stamp = (time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_7
    random = os.urandom(10 * count)
    return [
        stamp | int.from_bytes(random[i : i + 10]) & _RANDOM_BITS for i in range(0, 10 * count, 10)
    ]


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=new_id)


def created_at_column() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), nullable=False)


def was_inserted() -> ColumnElement[bool]:
    """For `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`: true when the row is new.

    A row written by this statement's insert has no deleting transaction (xmax = 0); one it
    updated carries our transaction id in xmax. The documented way to tell the two apart in
    one round trip.
    """
    return literal_column("xmax = 0", type_=Boolean).label("inserted")


def written_columns(table: Table) -> list[Column[Any]]:
    """The columns of `table` a statement may write and an answer shows: all but the ones
    PostgreSQL computes (generated columns, such as the search words)."""
    return [column for column in table.columns if column.computed is None]
