from __future__ import annotations

from feedback_api.interactions.service import IngestRules
from feedback_api.privacy.repository import ErasureRepository
from feedback_api.privacy.schemas import Erasure


class ErasureService:
    def __init__(self, repository: ErasureRepository, rules: IngestRules) -> None:
        self.repository = repository
        self.rules = rules

    async def erase(self, user_id: str) -> Erasure:
        """Everything of one user, in the caller's transaction."""
        # Stored ids may be pseudonyms: look them up the way they were written.
        stored = self.rules.pseudonym(user_id) or user_id
        interactions, votes = await self.repository.erase(stored)
        return Erasure(interactions_deleted=interactions, feedback_deleted=votes)
