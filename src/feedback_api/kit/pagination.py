"""Keyset cursors: the (created_at, id) of a page's last row, opaque to the client."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from pydantic import TypeAdapter

from feedback_api.exceptions import BadRequest
from feedback_api.kit.fields import Timestamp

# What a cursor holds, checked as a whole: a forged one of other types (an id that is a
# number or a list) or with an instant the database cannot compare is refused like any
# cursor this API did not return.
_CURSOR: TypeAdapter[tuple[Timestamp, uuid.UUID]] = TypeAdapter(tuple[Timestamp, uuid.UUID])


def encode_cursor(created_at: datetime, feedback_id: uuid.UUID) -> str:
    raw = _CURSOR.dump_json((created_at, feedback_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return _CURSOR.validate_json(raw)
    except (binascii.Error, ValueError):  # pydantic's ValidationError is a ValueError
        raise BadRequest(
            "cursor is not one this API returned; pass next_cursor from the previous page"
        ) from None
