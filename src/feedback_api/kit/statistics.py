"""Table statistics brought up to date before a plan that depends on them.

PostgreSQL plans from each table's statistics: `reltuples` and `relpages` in `pg_class`,
kept by ANALYZE (autovacuum's, a minute or more after the writes). A table analyzed while
empty, after its rows were deleted, keeps "no rows in N pages". The planner scales that
density by the table's current size, so however many rows are written afterwards it plans
for none until the next ANALYZE, and a join planned as a nested loop over a table it
believes empty reads that table once per row: a full analytics rebuild of 20,000 exchanges
took 158 s, and 3.6 s with the ANALYZE done here first (docs/benchmarks/analytics.md,
"Statistics that say a table is empty").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Table, func, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback_api.kit.db import QUERY_CANCELED
from feedback_api.kit.driver_errors import is_database_unavailable, sqlstate

logger = logging.getLogger(__name__)

# A table the statistics plan for fewer rows than this is counted (up to SAMPLE rows), and
# analyzed when it holds ten times as many as planned and at least this many.
PLANNED_FEW = 1_000
SAMPLE = 10_000
# How long refresh_stale_apart waits for a table's lock.
LOCK_WAIT = "100ms"
LOCK_NOT_AVAILABLE = "55P03"

# The rows the planner expects in a table: its statistics' density scaled by its current
# size, as PostgreSQL's estimate does; NULL for a table never analyzed (or vacuumed to no
# pages), for which the planner estimates from the rows' width instead.
_PLANNED = text(
    "SELECT CASE WHEN c.reltuples >= 0 AND c.relpages > 0 THEN c.reltuples / c.relpages"
    " * (pg_relation_size(c.oid) / current_setting('block_size')::int) END"
    " FROM pg_class c WHERE c.oid = CAST(:name AS regclass)"
)


class TableStatistics:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh_stale(self, tables: Sequence[Table]) -> list[str]:
        """ANALYZE each of `tables` whose statistics plan for fewer than PLANNED_FEW rows
        where it holds ten times as many and at least PLANNED_FEW: the names of those
        analyzed (or, where the role may not analyze them, warned about by PostgreSQL). In
        the caller's transaction."""
        analyzed = []
        preparer = self.session.get_bind().dialect.identifier_preparer
        for table in tables:
            name = preparer.format_table(table)  # quoted, with its schema if it has one
            planned = await self.session.scalar(_PLANNED, {"name": name})
            if planned is None or planned >= PLANNED_FEW:
                continue
            sample = select(literal(1)).select_from(table).limit(SAMPLE).subquery()
            held = int(await self.session.scalar(select(func.count()).select_from(sample)) or 0)
            if held < max(10 * planned, PLANNED_FEW):
                continue
            logger.info(
                "statistics of %s plan for %d rows where it holds %s%d: analyzing it",
                table.name,
                planned,
                "at least " if held == SAMPLE else "",
                held,
            )
            # A role that may not analyze the table gets PostgreSQL's warning, no error.
            await self.session.execute(text(f"ANALYZE {name}"))
            analyzed.append(table.name)
        return analyzed


async def refresh_stale_apart(
    sessionmaker: async_sessionmaker[AsyncSession], tables: Sequence[Table]
) -> list[str]:
    """`refresh_stale` for each of `tables` in a transaction of its own, committed at once,
    on the primary that `sessionmaker` writes to: for readers that may run on a replica
    (where ANALYZE cannot run) or for a long time (ANALYZE's lock is not held through them).

    Each waits at most LOCK_WAIT for its table's lock (another session's ALTER TABLE,
    VACUUM FULL or ANALYZE): past that the table is not checked, and the reader waits for
    the lock itself, where its own limits and cancellation apply. One transaction a table:
    a table given up on leaves the ones analyzed before it analyzed.

    A primary that cannot be reached, or a check cut by its statement timeout, is logged
    and the rest left unchecked: the reader may run elsewhere (a replica), and answers for
    itself if it cannot."""
    analyzed: list[str] = []
    try:
        async with sessionmaker() as session:
            for table in tables:
                await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
                try:
                    analyzed += await TableStatistics(session).refresh_stale([table])
                except DBAPIError as exc:
                    if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                        raise
                    logger.info(
                        "statistics of %s not checked: it is locked (%s)", table.name, exc.orig
                    )
                    await session.rollback()
                    continue
                await session.commit()
    except Exception as exc:
        if not (is_database_unavailable(exc) or sqlstate(exc) == QUERY_CANCELED):
            raise
        logger.warning("statistics not checked: the primary did not answer (%s)", exc)
    return analyzed
