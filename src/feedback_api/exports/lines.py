"""The JSON line of each dataset format, written from a row of `lines_query`.

Written here rather than by PostgreSQL's json_build_object: the texts pass through Python
anyway when they are redacted, and `json.dumps` writes the ordinary separators
(`{"label": true}`), which line-oriented tools (grep, jq's users) expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from feedback_api.exports.repository import EXAMPLE_COLUMNS, PAIR_COLUMNS, PAIRED, Shape

Message = dict[str, Any]
LineWriter = Callable[[Any], str]

_encode = json.JSONEncoder(ensure_ascii=False).encode


def _message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def _prompt(system: str | None, query: str) -> list[Message]:
    user = _message("user", query)
    return [user] if system is None else [_message("system", system), user]


def _reasons(groups: list[list[str]] | None) -> list[str]:
    """The distinct reasons of an example's votes, sorted ([] for none)."""
    return sorted({reason for group in groups or () for reason in group})


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# Where a row holds its label (True: a positive example) and the label's source.
_POSITIVE = EXAMPLE_COLUMNS.index("positive")
_SOURCE = EXAMPLE_COLUMNS.index("label_source")
_PAIR_SOURCE = PAIR_COLUMNS.index("label_source")


def line_writer(shape: Shape) -> LineWriter:
    """row -> line (no newline), for `shape`'s format. Rows are EXAMPLE_COLUMNS (weighted,
    openai, kto) or PAIR_COLUMNS (dpo, openai-dpo); texts may have been redacted already.

    weighted, kto and dpo lines say where their label comes from (`metadata.label_source`:
    `vote` or `review`); openai and openai-dpo lines hold only what OpenAI's upload format
    names."""
    fmt = shape.format
    if fmt in PAIRED:
        return _dpo if fmt == "dpo" else _openai_dpo
    if fmt == "weighted":
        positive_weight = float(shape.positive_weight)
        negative_weight = float(shape.negative_weight)

        def weighted(r: Any) -> str:
            positive = r[_POSITIVE]
            return _encode(
                {
                    "messages": [*_prompt(r[0], r[1]), _message("assistant", r[2])],
                    "weight": positive_weight if positive else negative_weight,
                    "metadata": {
                        "model": r[5],
                        "intent": r[6],
                        "project": r[7],
                        "created_at": _instant(r[8]),
                        "voted_at": _instant(r[9]),
                        "up_votes": r[3],
                        "down_votes": r[4],
                        "reasons": _reasons(r[10]),
                        "correction": r[11],
                        "label_source": r[_SOURCE],
                    },
                }
            )

        return weighted
    if fmt == "openai":
        if shape.include_negative:

            def openai_weighted(r: Any) -> str:
                answer = {"role": "assistant", "content": r[2], "weight": 1 if r[_POSITIVE] else 0}
                return _encode({"messages": [*_prompt(r[0], r[1]), answer]})

            return openai_weighted

        def openai(r: Any) -> str:
            return _encode({"messages": [*_prompt(r[0], r[1]), _message("assistant", r[2])]})

        return openai

    def kto(r: Any) -> str:
        return _encode(
            {
                "prompt": _prompt(r[0], r[1]),
                "completion": [_message("assistant", r[2])],
                "label": r[_POSITIVE],
                "metadata": {"label_source": r[_SOURCE]},
            }
        )

    return kto


def _dpo(r: Any) -> str:
    return _encode(
        {
            "prompt": _prompt(r[0], r[1]),
            "chosen": [_message("assistant", r[2])],
            "rejected": [_message("assistant", r[3])],
            "metadata": {"label_source": r[_PAIR_SOURCE]},
        }
    )


def _openai_dpo(r: Any) -> str:
    return _encode(
        {
            "input": {"messages": _prompt(r[0], r[1])},
            "preferred_output": [_message("assistant", r[2])],
            "non_preferred_output": [_message("assistant", r[3])],
        }
    )
