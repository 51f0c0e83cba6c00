"""The votes family: `vote_hours` (votes per cast hour and segment) and `vote_windows` (their
sums over each kept window's whole hours): hour buckets plus kept window sums (kept.py).

Counts and sums only, never averages, so any set of hours adds up exactly; the windows'
figures (window_stats.py) and `model_accuracy` (accuracy.py) are sums over these rows.
"""

from __future__ import annotations

import typing
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import DIMENSIONS, in_hours, utc_hour
from feedback_api.analytics.kept import KeptWindows
from feedback_api.analytics.models import VoteHour, VoteWindow
from feedback_api.analytics.rollup import Tick
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction


def votes_joined() -> Any:
    """Votes joined to their interactions (the segment and the answer's measures)."""
    return (
        select().select_from(Feedback).join(Interaction, Interaction.id == Feedback.interaction_id)
    )


def vote_measures() -> list[Any]:
    """The additive measures of a set of votes joined to their interactions: counts and
    sums, never averages. Each is a column of vote_hours and vote_windows (SegmentVotes)."""
    return [
        figures.votes().label("total"),
        figures.positive().label("positive"),
        figures.negative().label("negative"),
        figures.corrections().label("corrections"),
        figures.stars_sum().label("stars_sum"),
        figures.stars_count().label("stars_count"),
        func.coalesce(func.sum(Interaction.memory_used), 0.0).label("memory_sum"),
        func.count(Interaction.memory_used).label("memory_count"),
        func.coalesce(func.sum(Interaction.response_time_ms), 0).label("response_time_sum"),
        func.count(Interaction.response_time_ms).label("response_time_count"),
    ]


# The columns vote_hours and vote_windows keep, named by vote_measures' labels.
MEASURES = tuple(str(c.name) for c in vote_measures())
KEPT = KeptWindows(
    hours=typing.cast(Table, VoteHour.__table__),
    windows=typing.cast(Table, VoteWindow.__table__),
    key=DIMENSIONS,
    measures=MEASURES,
    empty="total",
)


class Votes:
    """vote_hours recomputed per touched cast hour; vote_windows follow in the same
    statements, and slide with the windows' starts."""

    async def rebuild(self, tick: Tick) -> None:
        await tick.session.execute(delete(VoteHour))
        await tick.session.execute(delete(VoteWindow))
        await self._insert_hours(tick, [])

    async def slide(self, tick: Tick) -> None:
        if await KEPT.slide(tick.session, tick.windows, tick.previous, tick.now):
            await KEPT.drop_empty(tick.session)

    async def apply(self, tick: Tick) -> None:
        hours = tick.changes.vote_hours
        if not hours:
            return
        t = KEPT.hours
        returned = [t.c[n] for n in ("hour", *DIMENSIONS, *MEASURES)]
        old = delete(t).where(t.c.hour.in_(sorted(hours))).returning(*returned).cte("old")
        await KEPT.add(tick.session, old, -1, tick.now, tick.windows)
        await self._insert_hours(tick, [in_hours(Feedback.created_at, hours)])

    @staticmethod
    async def _insert_hours(tick: Tick, where: list[Any]) -> None:
        """Insert the hours of the votes `where` selects, and add them to the windows."""
        t = KEPT.hours
        hour = utc_hour(Feedback.created_at)
        dims = (Interaction.model, Interaction.intent, Interaction.project)
        rows = (
            votes_joined()
            .add_columns(hour, *dims, *vote_measures())
            .add_columns(func.max(Feedback.created_at))
            .add_columns(func.count().filter(func.cardinality(Feedback.reasons) > 0))
            .where(*where)
            .group_by(hour, *dims)
        )
        new = (
            insert(t)
            .from_select(["hour", *DIMENSIONS, *MEASURES, "last_at", "reasoned"], rows)
            .returning(*(t.c[n] for n in ("hour", *DIMENSIONS, *MEASURES)))
            .cte("new")
        )
        await KEPT.add(tick.session, new, 1, tick.now, tick.windows)
        await KEPT.drop_empty(tick.session)
