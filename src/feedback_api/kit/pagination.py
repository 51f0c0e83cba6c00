from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from feedback_api.exceptions import BadRequest


def encode_cursor(created_at: datetime, feedback_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(feedback_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, ident = json.loads(raw)
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest(
            "cursor is not one this API returned; pass next_cursor from the previous page"
        ) from None
