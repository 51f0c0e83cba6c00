"""OTLP/HTTP trace exports as they arrive: protobuf or OTLP/JSON, maybe compressed.

The protobuf classes are opentelemetry-proto's. OTLP/JSON is protobuf's JSON mapping with the
specification's exceptions, which protobuf's parser does not know: trace and span ids are hex
strings (not base64), so they are turned into base64 before `json_format` parses the rest
(camelCase names, int64 as strings or numbers, enums as integers, unknown fields ignored).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from feedback_api.exceptions import BadRequest, PayloadTooLarge, UnsupportedMediaType


class Encoding(StrEnum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def encoding_of(content_type: str | None) -> Encoding:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return Encoding.PROTOBUF
    if media == "application/json":
        return Encoding.JSON
    raise UnsupportedMediaType(
        "POST /v1/traces takes an OTLP/HTTP trace export as application/x-protobuf or "
        f"application/json, not {media or 'a body without Content-Type'}"
    )


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent before compression (gzip or deflate), at most `max_bytes` of it."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    if coding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {coding} is not supported: use gzip")
    # wbits: 31 reads the gzip wrapper, 15 zlib's (HTTP's "deflate"); at most max_bytes + 1
    # come out, so a small body cannot expand into a large one in memory.
    inflater = zlib.decompressobj(31 if coding == "gzip" else 15)
    try:
        plain = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        raise BadRequest(f"the body is not valid {coding} data") from None
    if len(plain) > max_bytes:
        raise PayloadTooLarge(
            f"the decompressed body is over the limit of {max_bytes} bytes "
            "(FEEDBACK_MAX_BODY_BYTES); send fewer spans per export"
        )
    if not inflater.eof:
        raise BadRequest(f"the {coding} body is truncated")
    return plain


def parse_export(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """The export request in `body`; BadRequest, saying where, when it is not one."""
    export = ExportTraceServiceRequest()
    if encoding is Encoding.PROTOBUF:
        try:
            export.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError):
            raise BadRequest(
                "the body is not an OTLP ExportTraceServiceRequest in protobuf encoding"
            ) from None
        return export
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequest('an OTLP/JSON trace export is an object: {"resourceSpans": [...]}')
    for where, holder, key, size in _ids(document):
        holder[key] = _hex_to_base64(holder[key], where, size)
    try:
        json_format.ParseDict(document, export, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError) as exc:
        raise BadRequest(f"the body is not an OTLP/JSON trace export: {exc}") from None
    return export


# OTLP/JSON's hex ids, where they live, and their length in bytes.
_SPAN_IDS = (("traceId", 16), ("spanId", 8), ("parentSpanId", 8))
_LINK_IDS = (("traceId", 16), ("spanId", 8))


def _items(holder: Any, *names: str) -> list[Any]:
    """The list under the first of `names` that `holder` has (camelCase or snake_case)."""
    if not isinstance(holder, dict):
        return []
    for name in names:
        value = holder.get(name)
        if isinstance(value, list):
            return value
    return []


def _ids(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str, int]]:
    """Every id of the document: (where, the object holding it, its key, its size)."""
    for r, resource in enumerate(_items(document, "resourceSpans", "resource_spans")):
        for s, scope in enumerate(_items(resource, "scopeSpans", "scope_spans")):
            for n, span in enumerate(_items(scope, "spans")):
                if not isinstance(span, dict):
                    continue
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                yield from _fields(span, where, _SPAN_IDS)
                for k, link in enumerate(_items(span, "links")):
                    if isinstance(link, dict):
                        yield from _fields(link, f"{where}.links[{k}]", _LINK_IDS)


def _fields(
    holder: dict[str, Any], where: str, names: tuple[tuple[str, int], ...]
) -> Iterator[tuple[str, dict[str, Any], str, int]]:
    for camel, size in names:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
        for key in (camel, snake):
            if key in holder:
                yield f"{where}.{camel}", holder, key, size


def _hex_to_base64(value: Any, where: str, size: int) -> str:
    if value in ("", None):
        return ""
    if not isinstance(value, str) or len(value) != 2 * size:
        raise BadRequest(f"{where} must be {2 * size} hex digits (OTLP/JSON ids are hex)")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadRequest(f"{where} must be {2 * size} hex digits (OTLP/JSON ids are hex)") from None
    return base64.b64encode(raw).decode()


def encode_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    """OTLP's answer: ExportTraceServiceResponse, with partial_success when spans were
    rejected (the exporter logs its message and does not retry them)."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
        )
    if encoding is Encoding.PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def any_value(value: AnyValue) -> Any:
    """An attribute's value as plain Python: str, bool, int, float, list, dict or None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    """A repeated KeyValue as a dict (the first value of a key wins, as OTLP asks keys to
    be unique)."""
    found: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        found.setdefault(pair.key, any_value(pair.value))
    return found


@dataclass(frozen=True)
class SpanRecord:
    """One span of an export, its attributes decoded, with its resource's attributes."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]
    resource: dict[str, Any]

    @property
    def key(self) -> tuple[bytes, bytes]:
        return self.trace_id, self.span_id

    @property
    def parent_key(self) -> tuple[bytes, bytes] | None:
        return (self.trace_id, self.parent_span_id) if self.parent_span_id else None


def span_records(export: ExportTraceServiceRequest) -> list[SpanRecord]:
    records = []
    for resource_spans in export.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            span: Span
            for span in scope_spans.spans:
                records.append(
                    SpanRecord(
                        trace_id=span.trace_id,
                        span_id=span.span_id,
                        parent_span_id=span.parent_span_id,
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=attributes(span.attributes),
                        events=tuple((e.name, attributes(e.attributes)) for e in span.events),
                        resource=resource,
                    )
                )
    return records
