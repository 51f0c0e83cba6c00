"""Label sets: a project's own, or the default one (FEEDBACK_REASONS); the check of a vote's
reasons against them."""

from __future__ import annotations

from collections.abc import Sequence

from feedback_api.exceptions import InvalidInput
from feedback_api.reasons.repository import ReasonSetReader, ReasonSetRepository
from feedback_api.reasons.schemas import ReasonSetIn, ReasonSetOut


def refusal(
    project: str | None,
    reasons: Sequence[str],
    allowed: Sequence[str],
    *,
    field: str = "reasons",
    where: str | None = None,
) -> InvalidInput:
    """The 422 of a vote with a reason outside its project's label set; `field` and `where`
    name another field and the label sets its reasons were checked against."""
    unknown = [r for r in reasons if r not in allowed] or list(reasons)
    if where is None:
        where = "the label set of " + (
            f"project {project!r}" if project is not None else "votes without a project"
        )
    many = len(unknown) > 1
    return InvalidInput(
        f"{field}: {', '.join(repr(r) for r in unknown)} {'are' if many else 'is'} not in "
        f"{where}; allowed: {', '.join(allowed)}"
    )


class ReasonSets:
    """Reads label sets; the default set stands in for a project without its own."""

    def __init__(self, reader: ReasonSetReader, default: Sequence[str]) -> None:
        self.reader = reader
        self.default = tuple(default)

    async def get(self, project: str) -> ReasonSetOut:
        own = await self.reader.get(project)
        if own is None:
            return ReasonSetOut(project=project, reasons=list(self.default), source="default")
        return ReasonSetOut(project=project, reasons=own, source="project")

    async def allowed(self, project: str | None) -> tuple[str, ...]:
        return self.of(await self.reader.get(project) if project is not None else None)

    def of(self, own: Sequence[str] | None) -> tuple[str, ...]:
        """The label set of a project whose own set is `own` (None: it has none)."""
        return self.default if own is None else tuple(own)

    async def check(self, project: str | None, reasons: Sequence[str]) -> None:
        """Raise InvalidInput unless every reason is a label of the project's set."""
        if not reasons:
            return
        allowed = await self.allowed(project)
        if not set(reasons) <= set(allowed):
            raise refusal(project, reasons, allowed)

    async def check_filter(self, field: str, project: str | None, reason: str) -> None:
        """Raise InvalidInput unless `reason` is a label of the set a filter on `project`
        (None: on every project) looks at, or one some stored vote carries (of any project:
        a set changed since keeps its old labels on the votes cast under it). On any other
        label the filter would never match."""
        where = None
        if project is not None:
            allowed = await self.allowed(project)
        elif reason in self.default:
            return
        else:
            # Votes on every project: the default set's labels and each project's own.
            allowed = tuple(dict.fromkeys([*self.default, *await self.reader.project_labels()]))
            where = "the default label set or any project's own"
        if reason in allowed or await self.reader.carried(reason):
            return
        raise refusal(project, [reason], allowed, field=field, where=where)


class ReasonSetService(ReasonSets):
    """Changes to a project's label set (the admin's)."""

    def __init__(self, repository: ReasonSetRepository, default: Sequence[str]) -> None:
        super().__init__(repository, default)
        self.repository = repository

    async def put(self, project: str, payload: ReasonSetIn) -> ReasonSetOut:
        await self.repository.put(project, payload.reasons)
        return ReasonSetOut(project=project, reasons=payload.reasons, source="project")

    async def reset(self, project: str) -> ReasonSetOut:
        """Back to the default set."""
        await self.repository.delete(project)
        return await self.get(project)
