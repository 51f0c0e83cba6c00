"""POST /v1/traces: OTLP/HTTP trace exports, from the real OpenTelemetry SDK over a socket
and as OTLP/JSON bodies written as the OTLP specification describes them."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from feedback_api.app import create_app
from feedback_api.auth.tokens import check_token
from feedback_api.config import Settings
from tests.helpers import count
from tests.live_server import LiveServer

KEYS = "ingest:ingest-key-0123456789,read:read-key-0123456789"
SECRET = "s3cr3t-" + "z" * 40
INGEST = {"Authorization": "Bearer ingest-key-0123456789"}
JSON = {**INGEST, "Content-Type": "application/json"}

TRACE = "5b8efff798038103d269b633813fc60c"
TRACE_2 = "5b8efff798038103d269b633813fc60d"


async def _rows(engine: AsyncEngine, where: str = "true") -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(f"SELECT * FROM interactions WHERE {where} ORDER BY request_id")
        )
        return [dict(row._mapping) for row in result]


# --- the real SDK and its OTLP/HTTP (protobuf) exporter, over a socket -------------------


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=database_url,
        refresh_enabled=False,
        api_keys=KEYS,
        secret_key=SECRET,
        otel_intent_attributes="app.intent,feedback.intent",
        _env_file=None,
    )
    with LiveServer(create_app(settings)) as server:
        yield server


def _chat_trace(response_id: str | None = "chatcmpl-42") -> tuple[ReadableSpan, ...]:
    """A request span carrying the user, a GenAI chat span and its tool, as an app makes them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "chat-backend", "feedback.project": "demo"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("chat-backend")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as request:
        request.set_attribute("user.id", "alice")
        request.set_attribute("session.id", "sess-1")
        request.set_attribute("app.intent", "code")
        with tracer.start_as_current_span("chat qwen", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "qwen-2.5-coder")
            chat.set_attribute("gen_ai.response.model", "qwen-2.5-coder-7b-0613")
            if response_id:
                chat.set_attribute("gen_ai.response.id", response_id)
            chat.set_attribute("gen_ai.usage.input_tokens", 12)
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps(
                    [
                        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                        {"role": "user", "parts": [{"type": "text", "content": "Hello world?"}]},
                    ]
                ),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": 'print("Hello, World!")'}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            )
            with tracer.start_as_current_span("execute_tool run_python") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "run_python")
        with tracer.start_as_current_span("SELECT users"):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


async def _export(exporter: OTLPSpanExporter, spans: tuple[ReadableSpan, ...]) -> SpanExportResult:
    return await asyncio.to_thread(exporter.export, spans)


async def test_the_sdk_exporter_logs_genai_spans_as_interactions(
    served: LiveServer, engine: AsyncEngine
) -> None:
    spans = _chat_trace()
    exporter = OTLPSpanExporter(endpoint=f"{served.url}/v1/traces", headers=INGEST)
    assert await _export(exporter, spans) == SpanExportResult.SUCCESS
    # The same spans again (an exporter's retry): still one interaction.
    assert await _export(exporter, spans) == SpanExportResult.SUCCESS
    exporter.shutdown()

    [row] = await _rows(engine)
    chat = next(s for s in spans if s.name == "chat qwen")
    assert row["request_id"] == "chatcmpl-42"
    assert (row["query"], row["response"]) == ("Hello world?", 'print("Hello, World!")')
    assert row["model"] == "qwen-2.5-coder-7b-0613"  # the response's model, not the request's
    assert (row["user_id"], row["session_id"]) == ("alice", "sess-1")  # from the parent span
    assert (row["intent"], row["project"]) == ("code", "demo")  # configured; the resource's
    assert row["tools_called"] == ["run_python"]  # the execute_tool child span
    assert chat.start_time is not None and chat.end_time is not None
    assert row["response_time_ms"] == (chat.end_time - chat.start_time) // 1_000_000
    assert row["metadata"]["system_prompt"] == "Be brief."
    assert row["metadata"]["otel"]["trace_id"] == format(chat.context.trace_id, "032x")
    assert row["metadata"]["otel"]["input_tokens"] == 12

    async with httpx.AsyncClient(base_url=served.url) as client:
        metrics = (await client.get("/metrics")).text
        # Issued for the span's request_id, the token votes as the span's user only.
        issued = await client.post("/v1/interactions/chatcmpl-42/token", headers=INGEST)
        token = issued.json()["feedback_token"]
        assert check_token(SECRET, token, "chatcmpl-42").voter == "alice"
        vote = await client.post(
            "/v1/feedback",
            json={"request_id": "chatcmpl-42", "is_helpful": True},
            headers={"X-Feedback-Token": token},
        )
        assert vote.status_code == 201 and vote.json()["user_id"] == "alice"
    stored = _counter(metrics, "stored")
    ignored = _counter(metrics, "ignored")
    assert stored >= 2 and ignored >= 6  # two exports: the chat span; 3 other spans each


def _counter(metrics: str, outcome: str) -> float:
    line = f'feedback_api_otel_spans_total{{outcome="{outcome}"}}'
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


async def test_the_sdk_exporter_configured_as_the_readme_says_compressed(
    served: LiveServer, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OTEL_EXPORTER_OTLP_* variables of docs/opentelemetry.md; gzip; no response id."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", served.url)  # the SDK adds /v1/traces
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Authorization=Bearer%20ingest-key-0123456789"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    spans = _chat_trace(response_id=None)
    exporter = OTLPSpanExporter()
    assert await _export(exporter, spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    chat = next(s for s in spans if s.name == "chat qwen")
    expected = f"{chat.context.trace_id:032x}-{chat.context.span_id:016x}"
    assert [row["request_id"] for row in await _rows(engine)] == [expected]


async def test_the_sdk_exporter_without_a_key_is_refused(
    served: LiveServer, engine: AsyncEngine
) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{served.url}/v1/traces")
    assert await _export(exporter, _chat_trace()) == SpanExportResult.FAILURE
    exporter.shutdown()
    assert await count(engine, "interactions") == 0


async def test_partial_success_in_protobuf(served: LiveServer, engine: AsyncEngine) -> None:
    """A GenAI span without its content is rejected, and the answer (protobuf) says why."""
    spans = _chat_trace()
    export = encode_spans(spans)
    chat = export.resource_spans[0].scope_spans[0].spans
    for span in chat:
        kept = [a for a in span.attributes if a.key != "gen_ai.output.messages"]
        del span.attributes[:]
        span.attributes.extend(kept)
    async with httpx.AsyncClient(base_url=served.url) as client:
        r = await client.post(
            "/v1/traces",
            content=export.SerializeToString(),
            headers={**INGEST, "Content-Type": "application/x-protobuf"},
        )
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "no output messages" in answer.partial_success.error_message
    assert "CAPTURE_MESSAGE_CONTENT" in answer.partial_success.error_message
    assert await count(engine, "interactions") == 0


# --- OTLP/JSON, as the specification writes it, through the ASGI app ----------------------


@pytest.fixture
async def otlp(make_client: Any) -> Any:
    async with make_client(api_keys=KEYS, secret_key=SECRET) as client:
        yield client


def _value(value: Any) -> dict[str, Any]:
    """An AnyValue in OTLP/JSON: int64 as a string, arrays and maps structured."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {"stringValue": value}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items()]


def _span(
    span_id: str,
    attributes: dict[str, Any],
    *,
    trace_id: str = TRACE,
    parent: str = "",
    name: str = "chat",
    start: int = 1_764_000_000_000_000_000,
    millis: int = 250,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,  # SPAN_KIND_CLIENT: enums are integers in OTLP/JSON
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + millis * 1_000_000),
        "attributes": _attributes(attributes),
        "events": events or [],
        "status": {},
    }


def _export_body(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": _attributes(resource or {"service.name": "b"})},
                    "scopeSpans": [{"scope": {"name": "genai", "version": "1"}, "spans": spans}],
                }
            ]
        }
    ).encode()


STRUCTURED_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "llama-3-8b",
    "gen_ai.conversation.id": "conv-7",
    "enduser.id": "bob",
    "feedback.intent": "math",
    "gen_ai.input.messages": [
        {"role": "user", "parts": [{"type": "text", "content": "What is 2+2?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "calculator", "arguments": {}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "4"}]},
    ],
    "gen_ai.output.messages": [
        {"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}
    ],
}


async def test_otlp_json_with_structured_messages(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = _export_body(
        _span("eee19b7ec3c1b174", STRUCTURED_CHAT),
        _span("eee19b7ec3c1b175", {"http.route": "/chat"}, name="GET /chat"),
        resource={"service.name": "bot", "feedback.project": "school"},
    )
    r = await otlp.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json" and r.json() == {}
    [row] = await _rows(engine)
    assert row["request_id"] == f"{TRACE}-eee19b7ec3c1b174"
    assert (row["query"], row["response"], row["model"]) == ("What is 2+2?", "4", "llama-3-8b")
    assert (row["user_id"], row["session_id"]) == ("bob", "conv-7")
    assert (row["intent"], row["project"]) == ("math", "school")
    assert row["tools_called"] == ["calculator"]  # the tool call of this turn
    assert row["response_time_ms"] == 250
    assert row["created_at"].isoformat() == "2025-11-24T16:00:00+00:00"

    again = await otlp.post("/v1/traces", content=body, headers=JSON)
    assert again.json() == {} and await count(engine, "interactions") == 1


async def test_otlp_json_older_conventions(otlp: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """Flattened gen_ai.prompt.N / gen_ai.completion.N attributes, and span events."""
    flattened = _span(
        "0000000000000001",
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.id": "resp-flat",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You answer in French.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Hello?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Bonjour !",
            "gen_ai.completion.0.tool_calls.0.name": "translate",
        },
    )
    events = _span(
        "0000000000000002",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "phi-3"},
        events=[
            {
                "timeUnixNano": "1764000000000000000",
                "name": "gen_ai.user.message",
                "attributes": _attributes(
                    {"gen_ai.event.content": json.dumps({"content": "Name a prime."})}
                ),
            },
            {
                "timeUnixNano": "1764000000100000000",
                "name": "gen_ai.choice",
                "attributes": _attributes(
                    {
                        "gen_ai.event.content": json.dumps(
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"content": "7", "tool_calls": []},
                            }
                        )
                    }
                ),
            },
        ],
    )
    prompt_events = _span(
        "0000000000000003",
        {"gen_ai.operation.name": "text_completion", "gen_ai.response.model": "old-1"},
        events=[
            {
                "name": "gen_ai.content.prompt",
                "attributes": _attributes(
                    {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Say hi"}])}
                ),
            },
            {
                "name": "gen_ai.content.completion",
                "attributes": _attributes(
                    {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "hi"}])}
                ),
            },
        ],
    )
    r = await otlp.post(
        "/v1/traces", content=_export_body(flattened, events, prompt_events), headers=JSON
    )
    assert r.json() == {}, r.text
    rows = {row["model"]: row for row in await _rows(engine)}
    assert (rows["gpt-4o-mini"]["query"], rows["gpt-4o-mini"]["response"]) == (
        "Hello?",
        "Bonjour !",
    )
    assert rows["gpt-4o-mini"]["tools_called"] == ["translate"]
    assert rows["gpt-4o-mini"]["metadata"]["system_prompt"] == "You answer in French."
    assert (rows["phi-3"]["query"], rows["phi-3"]["response"]) == ("Name a prime.", "7")
    assert (rows["old-1"]["query"], rows["old-1"]["response"]) == ("Say hi", "hi")


async def test_otlp_json_partial_success_and_what_is_ignored(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tool_step = {
        **STRUCTURED_CHAT,
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "tool_call", "name": "calculator"}]}
        ],
    }
    no_content = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    no_model = {**STRUCTURED_CHAT, "gen_ai.request.model": ""}
    body = _export_body(
        _span("0000000000000010", STRUCTURED_CHAT),
        _span("0000000000000011", tool_step),  # asks for a tool: ignored, not rejected
        _span("0000000000000012", no_content),
        _span("0000000000000013", no_model),
        _span("0000000000000014", {"gen_ai.operation.name": "embeddings"}),
        _span("0000000000000015", {"gen_ai.operation.name": "execute_tool"}),
        _span("", STRUCTURED_CHAT),  # no span id: it could not be told from another
    )
    r = await otlp.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"  # int64 as a string, as OTLP/JSON has it
    assert "0000000000000012: no input messages" in partial["errorMessage"]
    assert "0000000000000013: no gen_ai.response.model" in partial["errorMessage"]
    assert "a span_id of 8" in partial["errorMessage"]
    assert [row["request_id"] for row in await _rows(engine)] == [f"{TRACE}-0000000000000010"]


async def test_a_response_id_sent_again_with_another_exchange_is_rejected(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = {**STRUCTURED_CHAT, "gen_ai.response.id": "same-id"}
    other = {
        **first,
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": "5"}]}
        ],
    }
    await otlp.post(
        "/v1/traces", content=_export_body(_span("00000000000000a1", first)), headers=JSON
    )
    r = await otlp.post(
        "/v1/traces", content=_export_body(_span("00000000000000a1", other)), headers=JSON
    )
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "already logged" in partial["errorMessage"]
    [row] = await _rows(engine)
    assert row["response"] == "4"


async def test_configured_attribute_names_and_pseudonyms(
    make_client: Any, engine: AsyncEngine
) -> None:
    async with make_client(
        secret_key=SECRET,
        pseudonymize_users=True,
        otel_intent_attributes="app.route_intent",
        otel_project_attributes="service.name",
    ) as client:
        chat = {**STRUCTURED_CHAT, "app.route_intent": "arithmetic", "gen_ai.response.id": "p1"}
        r = await client.post(
            "/v1/traces",
            content=_export_body(
                _span("00000000000000b1", chat), resource={"service.name": "tutor"}
            ),
            headers={"Content-Type": "application/json"},
        )
        assert r.json() == {}
        token = (await client.post("/v1/interactions/p1/token")).json()["feedback_token"]
        own = await client.post(
            "/v1/feedback",
            json={"request_id": "p1", "rating": 1, "user_id": "bob"},
            headers={"X-Feedback-Token": token},
        )
        assert own.status_code == 201, own.text
    [row] = await _rows(engine)
    assert (row["intent"], row["project"]) == ("arithmetic", "tutor")
    assert row["user_id"] != "bob" and len(row["user_id"]) == 64  # the span's user, pseudonymised
    assert own.json()["user_id"] == row["user_id"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"\x0a\xff\xff", {"Content-Type": "application/x-protobuf"}, 400, "protobuf"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "resourceSpans"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId must be 32 hex digits",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5, "kind": "sideways"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
            "not an OTLP/JSON trace export",
        ),
        (b"{}", {"Content-Type": "text/plain"}, 415, "application/x-protobuf"),
        (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}, 415, "gzip"),
        (
            b"not gzip",
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            400,
            "gzip",
        ),
        (
            gzip.compress(b" " * 2_000_000),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            413,
            "decompressed",
        ),
        (b" " * 1_100_000, {"Content-Type": "application/json"}, 413, "larger than"),
    ],
)
async def test_malformed_exports_are_refused_and_write_nothing(
    otlp: httpx.AsyncClient,
    engine: AsyncEngine,
    content: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    r = await otlp.post("/v1/traces", content=content, headers={**INGEST, **headers})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert await count(engine, "interactions") == 0


async def test_traces_need_the_ingest_scope(otlp: httpx.AsyncClient) -> None:
    body = _export_body(_span("00000000000000c1", STRUCTURED_CHAT))
    plain = {"Content-Type": "application/json"}
    assert (await otlp.post("/v1/traces", content=body, headers=plain)).status_code == 401
    read = {**plain, "Authorization": "Bearer read-key-0123456789"}
    assert (await otlp.post("/v1/traces", content=body, headers=read)).status_code == 403


async def test_otlp_json_openai_shaped_messages_and_agent_spans(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Messages in the OpenAI-like shape some instrumentations record, structured system
    instructions, tool calls of a gen_ai.choice event; an invoke_agent span is ignored."""
    agent = _span(
        "00000000000000d0",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "tutor",
            "user.id": "carol",
        },
        name="invoke_agent tutor",
    )
    chat = _span(
        "00000000000000d1",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4.1",
            "gen_ai.system_instructions": [{"type": "text", "content": "You are a tutor."}],
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "content": [{"type": "text", "text": "Old question"}]},
                    {"role": "assistant", "content": "Old answer", "tool_calls": []},
                    {"role": "user", "content": [{"type": "text", "text": "Explain pi"}]},
                ]
            ),
        },
        parent="00000000000000d0",
        events=[
            {
                "name": "gen_ai.choice",
                "attributes": _attributes(
                    {
                        "index": 0,
                        "message": json.dumps(
                            {
                                "content": "Pi is the ratio of a circle's circumference...",
                                "tool_calls": [{"id": "1", "function": {"name": "wiki"}}],
                            }
                        ),
                    }
                ),
            }
        ],
    )
    r = await otlp.post("/v1/traces", content=_export_body(agent, chat), headers=JSON)
    assert r.json() == {}, r.text
    [row] = await _rows(engine)
    assert row["query"] == "Explain pi"  # the last user message, not the history
    assert row["response"].startswith("Pi is the ratio")
    assert row["tools_called"] == ["wiki"]
    assert row["user_id"] == "carol"  # from the agent span, its parent
    assert row["metadata"]["system_prompt"] == "You are a tutor."


async def test_a_message_attribute_too_deep_to_decode_is_no_server_error(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # A string that looks like JSON but nests deeper than Python's parser recurses (1,000
    # levels by default; a test run may have raised the limit): kept as the text it is, or
    # decoded into lists that hold no message; never a 500.
    deep = "[" * 5000 + "]" * 5000
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": deep,
        "gen_ai.output.messages": "4",
    }
    r = await otlp.post(
        "/v1/traces", content=_export_body(_span("00000000000000d1", attributes)), headers=JSON
    )
    assert r.status_code == 200, r.text
    rows = await _rows(engine)
    if rows:
        [row] = rows
        assert (row["query"], row["response"]) == (deep, "4")
    else:
        assert "no input messages" in r.json()["partialSuccess"]["errorMessage"], r.text


async def test_a_token_count_that_is_not_a_number_is_left_out(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": "What is 2+2?",
        "gen_ai.output.messages": "4",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": float("nan"),
        "gen_ai.response.finish_reasons": ["stop", float("inf")],
    }
    body = _export_body(_span("00000000000000d2", attributes))
    body = body.replace(b"NaN", b'"NaN"').replace(b"Infinity", b'"Infinity"')
    r = await otlp.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 200, r.text
    [row] = await _rows(engine)
    assert row["metadata"]["otel"]["input_tokens"] == 12
    assert "output_tokens" not in row["metadata"]["otel"]
    assert "finish_reasons" not in row["metadata"]["otel"]


async def test_a_span_whose_search_words_would_not_fit_is_rejected_alone(
    otlp: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # ~700,000 characters of distinct words: more than PostgreSQL's tsvector keeps.
    made = ("".join(w) for w in itertools.product(string.ascii_lowercase, repeat=4))
    wordy = " ".join(itertools.islice(made, 140_000))
    long_answer = {
        **STRUCTURED_CHAT,
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": wordy}]}
        ],
    }
    body = _export_body(
        _span("0000000000000020", STRUCTURED_CHAT),
        _span("0000000000000021", long_answer),
    )
    r = await otlp.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "more distinct words than the search index keeps" in partial["errorMessage"]
    assert [row["request_id"] for row in await _rows(engine)] == [f"{TRACE}-0000000000000020"]
