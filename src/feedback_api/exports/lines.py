"""The JSON line of each dataset format, written from a row of `lines_query`.

Written here rather than by PostgreSQL's json_build_object: the texts pass through Python
anyway when they are redacted, and `json.dumps` writes the ordinary separators
(`{"label": true}`), which line-oriented tools (grep, jq's users) expect.

Each line is the text `json.dumps(line, ensure_ascii=False)` writes for the line's dict (the
shapes are in `tests/exports/test_lines.py`, which checks them byte for byte), put together
from its fixed parts and its values, each value encoded by the json module's own functions
(`json_text`): building a dict per line and walking it took most of a line's time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from feedback_api.exports.repository import EXAMPLE_COLUMNS, PAIR_COLUMNS, PAIRED, Shape

LineWriter = Callable[[Any], str]

_encode = json.JSONEncoder(ensure_ascii=False).encode
# A string as `_encode` writes it, quotes included (the json module's public name for it).
_string = json.encoder.encode_basestring


def json_text(value: Any) -> str:
    """`value` as `json.dumps(value, ensure_ascii=False)` writes it; strings, None, booleans,
    numbers and empty lists and objects (nearly every value) without the encoder's set-up."""
    kind = value.__class__
    if kind is str:
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):  # json writes NaN and Infinity its own way
        return float.__repr__(value)
    if not value and (kind is list or kind is dict):
        return "[]" if kind is list else "{}"
    return _encode(value)


def _prompt(system: str | None, query: str) -> str:
    """The prompt's messages, without the list's brackets: the system prompt (when there is
    one) and the question."""
    user = f'{{"role": "user", "content": {json_text(query)}}}'
    if system is None:
        return user
    return f'{{"role": "system", "content": {json_text(system)}}}, {user}'


def _answer(content: str) -> str:
    return f'[{{"role": "assistant", "content": {json_text(content)}}}]'


def _reasons(groups: list[list[str]] | None) -> str:
    """The distinct reasons of an example's votes, sorted ([] for none)."""
    distinct = set().union(*groups) if groups else None
    return _encode(sorted(distinct)) if distinct else "[]"


def _instant(value: datetime | None) -> str:
    # isoformat() writes digits, '-', ':', '.', '+' and 'T' only: nothing to escape.
    return "null" if value is None else f'"{value.isoformat()}"'


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
        # The weights as the encoder writes them (a float's repr), once.
        positive_weight = _encode(float(shape.positive_weight))
        negative_weight = _encode(float(shape.negative_weight))

        def weighted(r: Any) -> str:
            return (
                f'{{"messages": [{_prompt(r[0], r[1])}, '
                f'{{"role": "assistant", "content": {json_text(r[2])}}}], '
                f'"weight": {positive_weight if r[_POSITIVE] else negative_weight}, '
                f'"metadata": {{"model": {json_text(r[5])}, "intent": {json_text(r[6])}, '
                f'"project": {json_text(r[7])}, "created_at": {_instant(r[8])}, '
                f'"voted_at": {_instant(r[9])}, "up_votes": {json_text(r[3])}, '
                f'"down_votes": {json_text(r[4])}, "reasons": {_reasons(r[10])}, '
                f'"correction": {json_text(r[11])}, "label_source": {json_text(r[_SOURCE])}}}}}'
            )

        return weighted
    if fmt == "openai":
        if shape.include_negative:

            def openai_weighted(r: Any) -> str:
                return (
                    f'{{"messages": [{_prompt(r[0], r[1])}, '
                    f'{{"role": "assistant", "content": {json_text(r[2])}, '
                    f'"weight": {1 if r[_POSITIVE] else 0}}}]}}'
                )

            return openai_weighted

        def openai(r: Any) -> str:
            return (
                f'{{"messages": [{_prompt(r[0], r[1])}, '
                f'{{"role": "assistant", "content": {json_text(r[2])}}}]}}'
            )

        return openai

    def kto(r: Any) -> str:
        return (
            f'{{"prompt": [{_prompt(r[0], r[1])}], "completion": {_answer(r[2])}, '
            f'"label": {json_text(r[_POSITIVE])}, '
            f'"metadata": {{"label_source": {json_text(r[_SOURCE])}}}}}'
        )

    return kto


def _dpo(r: Any) -> str:
    return (
        f'{{"prompt": [{_prompt(r[0], r[1])}], "chosen": {_answer(r[2])}, '
        f'"rejected": {_answer(r[3])}, '
        f'"metadata": {{"label_source": {json_text(r[_PAIR_SOURCE])}}}}}'
    )


def _openai_dpo(r: Any) -> str:
    return (
        f'{{"input": {{"messages": [{_prompt(r[0], r[1])}]}}, '
        f'"preferred_output": {_answer(r[2])}, '
        f'"non_preferred_output": {_answer(r[3])}}}'
    )
