"""Label sets' SQL. The vote statement reads them itself (feedback.repository)."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.feedback.models import Feedback
from feedback_api.kit.db import ReadSession
from feedback_api.reasons.models import ProjectReasons


class ReasonSetReader:
    def __init__(self, session: ReadSession) -> None:
        self.session = session

    async def get(self, project: str) -> list[str] | None:
        """The project's own label set, or None where it has none."""
        stmt = select(ProjectReasons.reasons).where(ProjectReasons.project == project)
        reasons: list[str] | None = await self.session.scalar(stmt)
        return reasons

    async def carried(self, reason: str) -> bool:
        """Whether a stored vote carries `reason` (one read of the reasons' GIN index): a
        label set changed since keeps its old labels on the votes cast under it."""
        stmt = select(exists().where(Feedback.reasons.contains([reason])))
        return bool(await self.session.scalar(stmt))

    async def project_labels(self) -> list[str]:
        """Every label of any project's own set, once each, in alphabetical order."""
        label = func.unnest(ProjectReasons.reasons).label("label")
        stmt = select(label).distinct().order_by(label)
        return list((await self.session.execute(stmt)).scalars())


class ReasonSetRepository(ReasonSetReader):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.writer = session

    async def put(self, project: str, reasons: list[str]) -> None:
        stmt = insert(ProjectReasons).values(project=project, reasons=reasons)
        await self.writer.execute(
            stmt.on_conflict_do_update(
                index_elements=[ProjectReasons.project],
                set_={"reasons": stmt.excluded.reasons, "updated_at": func.now()},
            )
        )

    async def delete(self, project: str) -> bool:
        stmt = (
            delete(ProjectReasons)
            .where(ProjectReasons.project == project)
            .returning(ProjectReasons.project)
        )
        return (await self.writer.execute(stmt)).first() is not None
