"""Statements compiled once: SQLAlchemy text of a Core statement's own SQL."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ARRAY,
    CompoundSelect,
    Select,
    TextualSelect,
    bindparam,
    column,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.types import NullType, TypeEngine


def frozen(statement: Select[Any] | CompoundSelect[Any]) -> TextualSelect:
    """`statement` as SQLAlchemy text of its own SQL, compiled once for PostgreSQL, with its
    parameters and result columns typed as `statement` types them: for a statement run on
    every request of a hot route (the vote, a review claim and submit).

    SQLAlchemy finds a statement's compiled form by its cache key, a nested tuple of every
    element of the statement, which Python hashes anew on every execution (a tuple keeps no
    hash): for the vote statement, over 2,000 elements, that hash cost more instructions than
    the rest of SQLAlchemy's execution (docs/benchmarks/ingest.md, "Votes at a million a week"). A
    text's cache key holds its string, whose hash Python keeps. For statements whose SQL is
    the same whatever their parameters (the vote's rows are JSON parameters; no IN list
    expanded per call). A parameter the statement gives a value (a constant of a CASE, an
    UPDATE's fixed value) keeps it; the others must be passed on each execution. The casts
    the dialect writes after each parameter are taken out of the text (the dialect writes
    them again for the text's typed parameters), every other `::` is escaped; the tests of
    this function check that the text renders the statement's own SQL.
    """
    dialect = asyncpg_dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    # By the name each has in the SQL (a parameter without a name of its own has `param_1`).
    binds = {name: bind for bind, name in compiled.bind_names.items()}
    for name in binds:
        sql = re.sub(rf":{name}::[\w\[\]]+", f":{name}", sql)
    sql = sql.replace("::", "\\:\\:")
    return (
        text(sql)
        .bindparams(
            *(
                bindparam(name, type_=bind.type)
                if bind.required
                else bindparam(name, bind.value, type_=bind.type)
                for name, bind in binds.items()
            )
        )
        .columns(
            *(column(str(c.key), _result_type(c.type, dialect)) for c in statement.selected_columns)
        )
    )


def _result_type(sql_type: TypeEngine[Any], dialect: Any) -> TypeEngine[Any]:
    """How a result column is typed: as the statement types it, but an array whose items
    the driver returns as they are. asyncpg returns an array as a list (of lists, for more
    dimensions) already, which SQLAlchemy's array type would copy for every row."""
    if (
        isinstance(sql_type, ARRAY)
        and not sql_type.as_tuple
        and sql_type.item_type.dialect_impl(dialect).result_processor(dialect, None) is None
    ):
        return NullType()
    return sql_type


# The dialect `_result_type` asks about a type's result processing: made once, not once per
# column of every export's query (3 µs each).
_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def as_driver_returns(selected: Any) -> Any:
    """A selected column (or label) read as asyncpg returns it where SQLAlchemy's type would
    only copy it: an array of plain items (`_result_type`), for statements that stream many
    rows (an export's)."""
    if isinstance(selected.type, NullType) or not isinstance(
        _result_type(selected.type, _DIALECT), NullType
    ):
        return selected
    return type_coerce(selected, NullType()).label(selected.key)
