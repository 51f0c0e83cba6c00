from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from feedback_api.auth.keys import Scope, require
from feedback_api.dependencies import IngestRulesDep
from feedback_api.kit.db import ReadSessionDep, SessionDep
from feedback_api.kit.fields import Label
from feedback_api.kit.openapi import KEYED, READ, WRITE, responses
from feedback_api.reasons.repository import ReasonSetReader, ReasonSetRepository
from feedback_api.reasons.schemas import ReasonSetIn, ReasonSetOut
from feedback_api.reasons.service import ReasonSets, ReasonSetService

router = APIRouter(prefix="/v1/projects", tags=["reasons"])

# `path`: a project's name may hold a slash.
# Read as an exchange's `project` is written: 1-200 characters, surrounding spaces stripped.
ProjectPath = Annotated[Label, Path()]


@router.get(
    "/{project:path}/reasons",
    response_model=ReasonSetOut,
    summary="The labels a vote on this project may give as reasons",
    description="The project's own label set, or the server's default when it has none.",
    dependencies=[require(Scope.READ)],
    responses=responses(*READ),
)
async def get_reasons(
    project: ProjectPath, session: ReadSessionDep, rules: IngestRulesDep
) -> ReasonSetOut:
    return await ReasonSets(ReasonSetReader(session), rules.reasons).get(project)


@router.put(
    "/{project:path}/reasons",
    response_model=ReasonSetOut,
    summary="Give a project its own label set (replaces the default for it)",
    description="From now on a vote on this project may give only these labels as reasons; "
    "votes already stored keep theirs.",
    dependencies=[require(Scope.ADMIN)],
    responses=responses(*WRITE),
)
async def put_reasons(
    project: ProjectPath, payload: ReasonSetIn, session: SessionDep, rules: IngestRulesDep
) -> ReasonSetOut:
    return await ReasonSetService(ReasonSetRepository(session), rules.reasons).put(project, payload)


@router.delete(
    "/{project:path}/reasons",
    response_model=ReasonSetOut,
    summary="Drop a project's own label set: it uses the default again",
    description="Votes on the project may give the server's default labels again; votes "
    "already stored keep theirs.",
    dependencies=[require(Scope.ADMIN)],
    responses=responses(*KEYED, 422, 503),
)
async def reset_reasons(
    project: ProjectPath, session: SessionDep, rules: IngestRulesDep
) -> ReasonSetOut:
    return await ReasonSetService(ReasonSetRepository(session), rules.reasons).reset(project)
