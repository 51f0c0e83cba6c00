"""What every batch endpoint shares: its limit and the shape of one item's result."""

from __future__ import annotations

from pydantic import BaseModel, Field

# Items per batch request: one statement each, and a body well under the size limit for
# typical exchanges and votes.
MAX_BATCH_ITEMS = 1000


class BatchItemStatus(BaseModel):
    """One item's result in a batch answer, in the order the items were sent."""

    index: int = Field(description="The item's position in `items`, from 0.")
    status: int = Field(description="The HTTP status this item alone would have got.")
    error: str | None = Field(default=None, description="Why the item was refused.")
