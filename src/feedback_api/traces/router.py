"""POST /v1/traces: the OTLP/HTTP trace receiver (docs/opentelemetry.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from feedback_api.auth.keys import Scope, require
from feedback_api.config import SettingsDep
from feedback_api.dependencies import IngestRulesDep
from feedback_api.interactions.repository import InteractionRepository
from feedback_api.interactions.service import InteractionService
from feedback_api.kit.db import SessionDep
from feedback_api.kit.openapi import WRITE, responses
from feedback_api.traces.otlp import (
    Encoding,
    SpanRecord,
    decompress,
    encode_response,
    encoding_of,
    parse_export,
    span_records,
)
from feedback_api.traces.service import RejectedSpansLog, TraceService, attribute_names

router = APIRouter(tags=["opentelemetry"])


async def rejected_spans_of(request: Request) -> RejectedSpansLog:
    log: RejectedSpansLog = request.state.rejected_spans
    return log


async def get_service(
    session: SessionDep,
    rules: IngestRulesDep,
    settings: SettingsDep,
    rejections: Annotated[RejectedSpansLog, Depends(rejected_spans_of)],
) -> TraceService:
    interactions = InteractionService(InteractionRepository(session), rules)
    return TraceService(interactions, attribute_names(settings), rejections)


@dataclass(frozen=True)
class TraceExport:
    """An export request's spans, and the encoding its answer must have."""

    spans: list[SpanRecord]
    encoding: Encoding


async def read_export(
    request: Request,
    settings: SettingsDep,
    content_type: Annotated[str | None, Header()] = None,
    content_encoding: Annotated[str | None, Header()] = None,
) -> TraceExport:
    """The body, decompressed and parsed once; 400 / 413 / 415 saying why it is not one."""
    encoding = encoding_of(content_type)
    body = decompress(await request.body(), content_encoding, settings.max_body_bytes)
    return TraceExport(span_records(parse_export(body, encoding)), encoding)


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest (opentelemetry-proto), in protobuf "
        "or OTLP/JSON; gzip or deflate Content-Encoding accepted.",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post(
    "/v1/traces",
    summary="Take an OTLP/HTTP trace export: GenAI spans become interactions",
    dependencies=[require(Scope.INGEST)],
    openapi_extra=_BODY,
    responses={
        200: {
            "description": "ExportTraceServiceResponse, in the request's encoding; "
            "partial_success counts the GenAI spans that could not be stored, and says why",
            "content": {"application/x-protobuf": {}, "application/json": {}},
        },
        **responses(
            *WRITE,
            _400="Not an OTLP trace export in the encoding its Content-Type names, or a "
            "body that does not decompress",
            _413="The body, or the body decompressed, is larger than FEEDBACK_MAX_BODY_BYTES",
            _415="Neither application/x-protobuf nor application/json, or a "
            "Content-Encoding other than gzip and deflate",
        ),
    },
    description="The OTLP/HTTP endpoint an OpenTelemetry SDK or Collector exports traces "
    "to: each GenAI inference span (model, input and output messages) becomes a logged "
    "exchange, keyed by its trace and span ids; other spans are ignored, and the answer's "
    "partial_success counts and explains the GenAI spans that could not be stored.",
)
async def export_traces(
    export: Annotated[TraceExport, Depends(read_export)],
    service: Annotated[TraceService, Depends(get_service)],
) -> Response:
    outcome = await service.ingest(export.spans)
    body = encode_response(outcome.rejected, outcome.message, export.encoding)
    return Response(body, media_type=export.encoding.value)
