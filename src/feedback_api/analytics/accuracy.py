"""The accuracy family: `model_accuracy`, a materialized view (owned by the migrations)
summing `vote_hours` per segment over all time, behind `GET /v1/feedback/accuracy` and
`/v1/metrics/compare`. Runs after the votes family."""

from __future__ import annotations

from sqlalchemy import text

from feedback_api.analytics.rollup import Tick


class Accuracy:
    """REFRESH ... CONCURRENTLY when a vote hour changed: readers keep the old rows until the
    new ones commit, and it costs what vote_hours holds, not what feedback holds."""

    async def rebuild(self, tick: Tick) -> None:
        await tick.session.execute(text("REFRESH MATERIALIZED VIEW CONCURRENTLY model_accuracy"))

    async def slide(self, tick: Tick) -> None:
        """All time: nothing slides."""

    async def apply(self, tick: Tick) -> None:
        if tick.changes.vote_hours:
            await self.rebuild(tick)
