from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from feedback_api.auth.keys import Scope, require
from feedback_api.dependencies import IngestRulesDep
from feedback_api.kit.db import SessionDep
from feedback_api.kit.fields import SearchText
from feedback_api.privacy.repository import ErasureRepository

router = APIRouter(prefix="/v1/users", tags=["privacy"], dependencies=[require(Scope.ADMIN)])


class Erasure(BaseModel):
    interactions_deleted: int
    feedback_deleted: int = Field(
        description="Votes removed: the user's own and those others cast on their interactions."
    )
    note: str = "aggregates forget the user at the next analytics refresh"


@router.delete(
    "/{user_id}",
    response_model=Erasure,
    summary="Erase everything of one user (right to erasure)",
)
async def erase_user(
    user_id: Annotated[SearchText, Path(min_length=1, max_length=255)],
    session: SessionDep,
    rules: IngestRulesDep,
) -> Erasure:
    # Stored ids may be pseudonyms: look them up the way they were written.
    stored = rules.pseudonym(user_id) or user_id
    interactions, votes = await ErasureRepository(session).erase(stored)
    return Erasure(interactions_deleted=interactions, feedback_deleted=votes)
