from __future__ import annotations

from pydantic import BaseModel, Field


class Erasure(BaseModel):
    interactions_deleted: int
    feedback_deleted: int = Field(
        description="Votes removed: the user's own and those others cast on their interactions."
    )
    note: str = "aggregates forget the user at the next analytics refresh"
