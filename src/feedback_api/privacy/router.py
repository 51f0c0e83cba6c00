from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from feedback_api.auth.keys import Scope, require
from feedback_api.dependencies import IngestRulesDep
from feedback_api.kit.db import SessionDep
from feedback_api.kit.fields import Identifier
from feedback_api.kit.openapi import KEYED, responses
from feedback_api.privacy.repository import ErasureRepository
from feedback_api.privacy.schemas import Erasure
from feedback_api.privacy.service import ErasureService

router = APIRouter(prefix="/v1/users", tags=["privacy"], dependencies=[require(Scope.ADMIN)])


# `:path`: a user_id may hold a slash (sent as %2F), and every stored one can be erased.
@router.delete(
    "/{user_id:path}",
    response_model=Erasure,
    summary="Erase everything of one user (right to erasure)",
    description="Deletes the user's exchanges and votes, and the votes others cast on "
    "their exchanges, looked up by user_id as it was stored (pseudonymised or not); the "
    "aggregates forget the user at the next analytics refresh.",
    responses=responses(*KEYED, 422, 503),
)
async def erase_user(
    # Read as writes read it (surrounding spaces stripped): the id it was stored under.
    user_id: Annotated[Identifier, Path()],
    session: SessionDep,
    rules: IngestRulesDep,
) -> Erasure:
    return await ErasureService(ErasureRepository(session), rules).erase(user_id)
