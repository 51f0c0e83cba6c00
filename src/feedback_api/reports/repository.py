"""All SQL of the weekly report: aggregates over one week of interactions and their votes.

A vote counts in the week its answer was given (the interaction's `created_at`), like the
daily rollup, so a week's figures describe the answers the models gave that week. A week
is a bounded range on the `created_at` indexes; p50/p95 need the raw latencies, which is
why the report reads the tables rather than the rollups.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Double, cast, func, not_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from feedback_api.analytics import figures
from feedback_api.analytics.buckets import utc_day
from feedback_api.feedback.models import Feedback
from feedback_api.interactions.models import Interaction
from feedback_api.kit.db import ReadSession
from feedback_api.kit.models import AnyRow


def _in_week(start: datetime, end: datetime) -> Any:
    return (Interaction.created_at >= start) & (Interaction.created_at < end)


class ReportRepository:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        value: datetime = (await self.session.execute(select(func.now()))).scalar_one()
        return value

    async def model_traffic(self, start: datetime, end: datetime) -> list[AnyRow]:
        """Per model: interactions and response-time percentiles of the week."""
        latency = Interaction.response_time_ms
        stmt = (
            select(
                Interaction.model,
                func.count().label("volume"),
                func.percentile_cont(0.5).within_group(latency).label("p50"),
                func.percentile_cont(0.95).within_group(latency).label("p95"),
            )
            .where(_in_week(start, end))
            .group_by(Interaction.model)
        )
        return list((await self.session.execute(stmt)).all())

    async def votes(
        self, start: datetime, end: datetime, *, by_intent: bool = False
    ) -> list[AnyRow]:
        """Votes on the week's answers per model (and intent): totals, positives, stars, and
        the answers with any vote (feedback_rate's part)."""
        dims: list[Any] = [Interaction.model]
        if by_intent:
            dims.append(Interaction.intent)
        stmt = (
            select(
                *dims,
                figures.votes().label("total"),
                figures.positive().label("positive"),
                figures.answered().label("answered"),
                cast(func.avg(Feedback.stars), Double).label("avg_stars"),
            )
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(_in_week(start, end))
            .group_by(*dims)
        )
        return list((await self.session.execute(stmt)).all())

    async def most_downvoted(self, start: datetime, end: datetime, per_model: int) -> list[AnyRow]:
        """Per model, the questions with the most down-votes, with the latest complaint."""
        down = figures.negative()
        comments = func.array_agg(
            aggregate_order_by(Feedback.comment, Feedback.created_at.desc())
        ).filter(not_(Feedback.is_helpful), Feedback.comment.is_not(None), Feedback.comment != "")
        grouped = (
            select(
                Interaction.model,
                Interaction.query,
                down.label("downvotes"),
                figures.votes().label("votes"),
                comments[1].label("last_comment"),
                func.row_number()
                .over(
                    partition_by=Interaction.model,
                    order_by=(down.desc(), func.count().desc(), Interaction.query),
                )
                .label("rank"),
            )
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(_in_week(start, end))
            .group_by(Interaction.model, Interaction.query)
            .having(down > 0)
            .subquery()
        )
        stmt = (
            select(grouped)
            .where(grouped.c.rank <= per_model)
            .order_by(grouped.c.model, grouped.c.rank)
        )
        return list((await self.session.execute(stmt)).all())

    async def downvote_reasons(self, start: datetime, end: datetime) -> list[AnyRow]:
        """Per model and reason: the down-votes on the week's answers that gave it, and
        (reason None) every down-vote on them; counted by `figures.per_reason`, as
        `/v1/metrics/reasons` counts over the week's days. `silent`: those that gave none."""
        down = (
            select(Interaction.model, Feedback.is_helpful, Feedback.reasons)
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(_in_week(start, end), not_(Feedback.is_helpful))
            .cte("down")
        )
        counted = figures.per_reason(down, ("model",)).subquery("counted")
        silent = (
            select(
                down.c.model,
                figures.without_reason(down.c.is_helpful, down.c.reasons).label("silent"),
            )
            .group_by(down.c.model)
            .subquery("silent")
        )
        downvotes = counted.c.down_votes
        stmt = (
            select(
                counted.c.model,
                counted.c.reason,
                downvotes.label("downvotes"),
                silent.c.silent,
            )
            .join(silent, silent.c.model == counted.c.model)
            .order_by(counted.c.model, counted.c.reason.is_not(None), downvotes.desc())
            .order_by(counted.c.reason)
        )
        return list((await self.session.execute(stmt)).all())

    async def daily(
        self, start: datetime, end: datetime, *, by_model: bool = False
    ) -> list[AnyRow]:
        """Per UTC day (and model): interactions, votes and positive votes."""
        day = utc_day(Interaction.created_at)
        dims: list[Any] = [day.label("day")]
        if by_model:
            dims.append(Interaction.model)
        votes = (
            select(
                Feedback.interaction_id,
                figures.votes().label("votes"),
                figures.positive().label("up"),
            )
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where(_in_week(start, end))
            .group_by(Feedback.interaction_id)
            .subquery()
        )
        stmt = (
            select(
                *dims,
                func.count().label("volume"),
                func.coalesce(func.sum(votes.c.votes), 0).label("votes"),
                func.coalesce(func.sum(votes.c.up), 0).label("positive"),
            )
            .outerjoin(votes, votes.c.interaction_id == Interaction.id)
            .where(_in_week(start, end))
            .group_by(*dims)
            .order_by(*dims)
        )
        return list((await self.session.execute(stmt)).all())
