from __future__ import annotations

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback_api.analytics.changes import change_row, log_changes, utc_hour
from feedback_api.feedback.models import Feedback
from feedback_api.idempotency.models import IdempotencyKey
from feedback_api.interactions.models import Interaction
from feedback_api.review.repository import lock_places_of_answers


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def erase(self, user_id: str) -> tuple[int, int]:
        """Delete the user's votes and the interactions they had; (interactions, votes)."""
        # Their exchanges locked first, in one order: no review item can join one of them
        # meanwhile (adding one takes a lock on its exchange), so the places locked below
        # are all there will be.
        await self.session.execute(
            select(Interaction.id)
            .where(Interaction.user_id == user_id)
            .order_by(Interaction.id)
            .with_for_update()
        )
        own_votes = await self.session.scalar(
            select(func.count())
            .select_from(Feedback)
            .join(Interaction, Interaction.id == Feedback.interaction_id)
            .where((Feedback.user_id == user_id) | (Interaction.user_id == user_id))
        )
        # Logged before the rows go, in this transaction: the analytics forget them at the
        # next refresh (their days, hours, questions, and every voter's last cast).
        theirs = (Feedback.user_id == user_id) | (Interaction.user_id == user_id)
        await self.session.execute(
            log_changes(
                select(
                    *change_row(
                        Interaction.__table__,
                        Feedback.__table__,
                        query_hour=case(
                            (Interaction.user_id == user_id, utc_hour(Interaction.created_at))
                        ),
                        removed=True,
                    )
                )
                .join_from(Feedback, Interaction, Interaction.id == Feedback.interaction_id)
                .where(theirs)
            )
        )
        await self.session.execute(
            log_changes(
                select(
                    *change_row(Interaction.__table__, query_hour=utc_hour(Interaction.created_at))
                ).where(Interaction.user_id == user_id)
            )
        )
        await self.session.execute(delete(Feedback).where(Feedback.user_id == user_id))
        # Their answers' review places go with them: locked first, in a claim's order.
        await lock_places_of_answers(self.session, Interaction.user_id == user_id)
        # Votes others cast on this user's interactions go with them (ON DELETE CASCADE).
        interactions = await self.session.execute(
            delete(Interaction).where(Interaction.user_id == user_id).returning(Interaction.id)
        )
        # Stored answers to idempotent retries hold the vote, with its user id and text.
        await self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.response["user_id"].astext == user_id)
        )
        return len(interactions.all()), int(own_votes or 0)
