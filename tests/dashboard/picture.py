"""The README's picture of the dashboard carries the list of charts it shows, in a PNG text
chunk, so that a test can tell when the page has changed and the picture has not."""

from __future__ import annotations

import struct
import zlib

KEYWORD = b"feedback-api:charts"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png.startswith(_SIGNATURE), "not a PNG"
    chunks, at = [], len(_SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        chunks.append((kind, png[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def with_charts(png: bytes, charts: list[str]) -> bytes:
    """The PNG with a tEXt chunk naming `charts`, before its end."""
    body = b"".join(_chunk(k, d) for k, d in _chunks(png) if k != b"IEND")
    text = _chunk(b"tEXt", KEYWORD + b"\x00" + ",".join(charts).encode("latin-1"))
    return _SIGNATURE + body + text + _chunk(b"IEND", b"")


def charts_of(png: bytes) -> list[str] | None:
    """The charts a picture written by `with_charts` shows; None for another picture."""
    for kind, data in _chunks(png):
        if kind == b"tEXt" and data.startswith(KEYWORD + b"\x00"):
            return data[len(KEYWORD) + 1 :].decode("latin-1").split(",")
    return None
