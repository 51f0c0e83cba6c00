"""`feedback-api review`: review queues for admins, straight on the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from feedback_api.cli.runner import run_with_session, settings_or_exit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from feedback_api.review.schemas import QueueOut
    from feedback_api.review.service import QueueService

T = TypeVar("T")

review_app = typer.Typer(
    help="Review queues: list or create them, add answers, add a random sample.",
    no_args_is_help=True,
)

QueueArg = Annotated[str, typer.Argument(help="The queue's name or id.")]
Day = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])]


def _checked(build: Callable[[], T]) -> T:
    """A request body built from the options, or exit 2 with what is wrong."""
    from pydantic import ValidationError

    from feedback_api.exceptions import describe_validation_errors

    try:
        return build()
    except ValidationError as exc:
        message, _ = describe_validation_errors(exc.errors())
        typer.secho(message, fg="red", err=True)
        raise typer.Exit(2) from None


def _service(session: AsyncSession, reasons: list[str]) -> QueueService:
    # Imported here: `feedback-api --help` need not load the database layers.
    from feedback_api.review.labels import LabelRepository
    from feedback_api.review.repository import QueueWriter
    from feedback_api.review.service import QueueService

    return QueueService(QueueWriter(session), LabelRepository(session), reasons)


async def _find(service: QueueService, name_or_id: str) -> QueueOut:
    from feedback_api.exceptions import NotFound

    for queue in await service.list():
        if queue.name == name_or_id or str(queue.id) == name_or_id:
            return queue
    raise NotFound(f"no review queue named {name_or_id!r}; `feedback-api review queues` lists them")


def _line(queue: QueueOut) -> str:
    items = queue.progress.items
    state = "closed" if queue.closed else "open"
    return (
        f"{queue.name}  ({queue.id}, {state}, {queue.reviewers_per_item} per item)  "
        f"pending {items['pending']:,} · in review {items['in_review']:,} · done "
        f"{items['done']:,} · to adjudicate {items['needs_adjudication']:,} · labels "
        f"{sum(queue.progress.labels.values()):,}"
    )


@review_app.command("queues")
def queues(
    create: Annotated[str | None, typer.Option(help="Create a queue of this name first.")] = None,
    instructions: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="A markdown file of instructions for the new queue.",
        ),
    ] = None,
    reviewers_per_item: Annotated[int, typer.Option(min=1, max=5)] = 1,
    lease_seconds: Annotated[int, typer.Option(min=30, max=86_400)] = 900,
    blind: Annotated[bool, typer.Option(help="Hide votes and others' labels.")] = True,
    project: Annotated[str | None, typer.Option(help="Whose reason labels apply.")] = None,
) -> None:
    """List the review queues with their progress (and create one with --create)."""
    from feedback_api.review.schemas import QueueCreate

    settings = settings_or_exit()
    body = None
    if create is not None:
        text = instructions.read_text(encoding="utf-8") if instructions else ""
        body = _checked(
            lambda: QueueCreate(
                name=create,
                instructions=text,
                reviewers_per_item=reviewers_per_item,
                lease_seconds=lease_seconds,
                blind=blind,
                project=project,
            )
        )

    async def work(session: AsyncSession) -> list[QueueOut]:
        service = _service(session, settings.reasons)
        if body is not None:
            await service.create(body)
        return await service.list()

    found = run_with_session(settings, work)
    for queue in found:
        typer.echo(_line(queue))
    if not found:
        typer.echo("no review queues yet: create one with --create NAME")


@review_app.command("add")
def add(
    queue: QueueArg,
    request_id: Annotated[
        list[str] | None, typer.Option("--request-id", help="A logged request_id (repeatable).")
    ] = None,
    model: Annotated[str | None, typer.Option()] = None,
    intent: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    helpful: Annotated[bool | None, typer.Option("--helpful/--unhelpful")] = None,
    reason: Annotated[str | None, typer.Option(help="Votes that carry this reason.")] = None,
    since: Day = None,
    until: Day = None,
    q: Annotated[str | None, typer.Option(help="Words in the exchange or the vote.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Add answers by request_id, or the answers with a vote that matches the filters."""
    from feedback_api.review.schemas import ItemFilter, ItemsAdd

    settings = settings_or_exit()
    if request_id:
        payload = _checked(lambda: ItemsAdd(request_ids=request_id))
    else:
        where = ItemFilter(
            model=model,
            intent=intent,
            project=project,
            is_helpful=helpful,
            reason=reason,
            since=since,
            until=until,
            q=q,
        )
        payload = _checked(lambda: ItemsAdd(filter=where, limit=limit))

    async def work(session: AsyncSession) -> str:
        service = _service(session, settings.reasons)
        found = await _find(service, queue)
        added = await service.add(found.id, payload)
        unknown = f", unknown: {', '.join(added.unknown)}" if added.unknown else ""
        return f"added {added.added:,}, already queued {added.already_queued:,}{unknown}"

    typer.echo(run_with_session(settings, work))


@review_app.command("sample")
def sample(
    queue: QueueArg,
    rate: Annotated[float, typer.Option(help="The chance each matching answer has, in (0, 1].")],
    model: Annotated[str | None, typer.Option()] = None,
    intent: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
    since: Day = None,
) -> None:
    """Add a random sample rule; a --since in the past backfills, applied now."""
    from feedback_api.reasons.repository import ReasonSetReader
    from feedback_api.reasons.service import ReasonSets
    from feedback_api.review.job import apply_rules
    from feedback_api.review.repository import QueueWriter
    from feedback_api.review.rule_service import RuleService
    from feedback_api.review.rules import RuleRepository
    from feedback_api.review.schemas import RuleCreate

    settings = settings_or_exit()
    payload = _checked(
        lambda: RuleCreate(
            sample_rate=rate, model=model, intent=intent, project=project, since=since
        )
    )

    async def work(session: AsyncSession) -> str:
        found = await _find(_service(session, settings.reasons), queue)
        label_sets = ReasonSets(ReasonSetReader(session), settings.reasons)
        rules = RuleService(RuleRepository(session), QueueWriter(session), label_sets)
        rule = await rules.create(found.id, payload)
        return f"sample rule {rule.id}: {await apply_rules(session):,} answers queued now"

    typer.echo(run_with_session(settings, work))
