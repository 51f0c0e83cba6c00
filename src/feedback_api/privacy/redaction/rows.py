"""Rows of an export redacted off the event loop: what the exports call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from feedback_api.privacy.redaction.entities import RedactionTally

if TYPE_CHECKING:
    from feedback_api.privacy.redaction.redactor import Redactor


async def redacted(
    redactor: Redactor | None,
    rows: Sequence[Any],
    texts: Sequence[int],
    values: Sequence[int] = (),
    tally: RedactionTally | None = None,
) -> Sequence[Any]:
    """`rows` with their `texts` columns and the strings in their `values` columns (JSON)
    redacted, in a worker thread (the event loop serves other requests meanwhile, and the
    next batch is fetched); `rows` themselves without a redactor."""
    if redactor is None:
        return rows
    from feedback_api.privacy.redaction.redactor import redact_rows

    return await asyncio.to_thread(redact_rows, redactor, rows, texts, values, tally)
