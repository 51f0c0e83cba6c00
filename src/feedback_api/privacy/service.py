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
        if not interactions and not votes:
            # Likely a user_id other than the one sent with their writes: say so, not only 0.
            return Erasure(
                interactions_deleted=0,
                feedback_deleted=0,
                note=f"nothing is stored under user_id {user_id!r}: send the id the writes "
                "sent (a slash as %2F; a trailing slash is part of it)",
            )
        return Erasure(interactions_deleted=interactions, feedback_deleted=votes)
