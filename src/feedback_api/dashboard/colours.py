"""One colour per model on every chart: the dashboard's (colours.js) and the weekly report's.

The palette lives in `static/model-colours.json`, read by both. The rule is written once in
each language, and a browser test checks that both give the same colours:

1. a model's slot is the 32-bit FNV-1a hash of its name (UTF-8) modulo the palette's length,
   so a model keeps its colour whatever other models come and go;
2. two models of one view rarely share a slot, but when they do, the models are taken in
   the order of their names (by code point) and a model whose slot is taken moves to the
   next free one. So a colour changes only when a model hashing to the same slot comes or
   goes. Beyond as many models as colours, slots are shared.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PALETTE_FILE = Path(__file__).parent / "static" / "model-colours.json"

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


@cache
def palette() -> tuple[str, ...]:
    colours: list[str] = json.loads(PALETTE_FILE.read_text(encoding="utf-8"))["palette"]
    return tuple(colours)


def fnv1a(name: str) -> int:
    value = _FNV_OFFSET
    for byte in name.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def model_colours(models: Iterable[str]) -> dict[str, str]:
    """The colour of each model of one view (a page or a report), by the rule above."""
    colours = palette()
    taken: set[int] = set()
    result = {}
    for name in sorted(set(models)):
        slot = fnv1a(name) % len(colours)
        if len(taken) < len(colours):
            while slot in taken:
                slot = (slot + 1) % len(colours)
        taken.add(slot)
        result[name] = colours[slot]
    return result
