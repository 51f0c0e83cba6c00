"""GenAI spans -> exchanges: the OpenTelemetry GenAI semantic conventions read as interactions.

What is read, in order of preference (docs/opentelemetry.md has the full table):

* which spans: `gen_ai.operation.name` chat / text_completion / generate_content, or no
  operation name but a `gen_ai.request.model` / `gen_ai.response.model` (instrumentations
  older than the operation name). `execute_tool` spans give tools; every other span is ignored.
* model: `gen_ai.response.model`, else `gen_ai.request.model`.
* question and answer: `gen_ai.input.messages` / `gen_ai.output.messages` (structured or a
  JSON string; `{role, parts: [{type: text, content}]}`), else the flattened
  `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` attributes, else `gen_ai.prompt` /
  `gen_ai.completion` (JSON strings), else the span's events (`gen_ai.content.prompt` /
  `gen_ai.content.completion`; `gen_ai.{system,user,assistant,tool}.message` and
  `gen_ai.choice`, their message in `gen_ai.event.content`). The question is the last user
  message; the answer the first output message with text.
* tools: tool-call parts of the output and of the input since the last user message, and the
  `execute_tool` child spans (`gen_ai.tool.name`).
* user, session, intent, project: the first of the configured attribute names found on the
  span, then on its ancestors in the same export, then on its resource.
* request_id: `gen_ai.response.id`, else `<trace_id>-<span_id>` in hex.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feedback_api.kit.fields import storable_json
from feedback_api.traces.otlp import SpanRecord

INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
EXECUTE_TOOL = "execute_tool"
USER_ATTRIBUTES = ("user.id", "enduser.id", "langfuse.user.id")
SESSION_ATTRIBUTES = ("session.id", "gen_ai.conversation.id", "langfuse.session.id")

# Span events of the conventions before content moved onto attributes, by the role they carry.
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_EVENT_CONTENT = ("gen_ai.event.content", "content", "message", "body")
_FLAT = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
_FLAT_TOOL = re.compile(r"tool_calls\.\d+\.name")


@dataclass(frozen=True)
class AttributeNames:
    """Which attributes name the user, the session, the intent and the project."""

    intent: tuple[str, ...] = ("feedback.intent",)
    project: tuple[str, ...] = ("feedback.project",)
    user: tuple[str, ...] = USER_ATTRIBUTES
    session: tuple[str, ...] = SESSION_ATTRIBUTES


@dataclass
class Message:
    role: str | None
    texts: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(t for t in self.texts if t)


@dataclass(frozen=True)
class Ignored:
    """Not a span this service stores (another kind of span, or a step with no answer)."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """A GenAI span that cannot become an exchange, and why (the exporter is told)."""

    reason: str


@dataclass(frozen=True)
class Exchange:
    """A body of POST /v1/interactions, made of one span."""

    body: dict[str, Any]


Reading = Exchange | Ignored | Rejected


def hex_id(raw: bytes) -> str:
    return raw.hex()


def span_name(span: SpanRecord) -> str:
    return f"{hex_id(span.trace_id)}-{hex_id(span.span_id)}"


def read_spans(spans: Sequence[SpanRecord], names: AttributeNames) -> list[Reading]:
    """One reading per span, in order."""
    by_key = {span.key: span for span in spans}
    tools: dict[tuple[bytes, bytes], list[str]] = {}
    for span in spans:
        if span.attributes.get("gen_ai.operation.name") == EXECUTE_TOOL and span.parent_key:
            tool = _tool_name(span)
            if tool:
                tools.setdefault(span.parent_key, []).append(tool)
    return [_read(span, by_key, tools.get(span.key, []), names) for span in spans]


def _tool_name(span: SpanRecord) -> str | None:
    name = _text(span.attributes.get("gen_ai.tool.name"))
    if name:
        return name
    prefix = EXECUTE_TOOL + " "
    return span.name[len(prefix) :].strip() or None if span.name.startswith(prefix) else None


def _is_inference(attributes: Mapping[str, Any]) -> bool:
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        return operation in INFERENCE_OPERATIONS
    return "gen_ai.request.model" in attributes or "gen_ai.response.model" in attributes


def _read(
    span: SpanRecord,
    by_key: Mapping[tuple[bytes, bytes], SpanRecord],
    child_tools: list[str],
    names: AttributeNames,
) -> Reading:
    attrs = span.attributes
    if not _is_inference(attrs):
        return Ignored(f"not a GenAI inference span ({attrs.get('gen_ai.operation.name')})")
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or not any(span.trace_id):
        return Rejected("a span needs a trace_id of 16 bytes and a span_id of 8")
    model = _text(attrs.get("gen_ai.response.model")) or _text(attrs.get("gen_ai.request.model"))
    if not model:
        return Rejected("no gen_ai.response.model or gen_ai.request.model")
    inputs = input_messages(span)
    outputs = output_messages(span)
    if not inputs or not outputs:
        missing = "input" if not inputs else "output"
        return Rejected(
            f"no {missing} messages: the instrumentation records message content only when "
            "asked (e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)"
        )
    question_at = _last_user(inputs)
    if question_at is None or not inputs[question_at].text:
        return Rejected("the input messages have no user message with text")
    question = inputs[question_at].text
    answer = next((m.text for m in outputs if m.text), "")
    tools = _unique(
        [tool for m in inputs[question_at + 1 :] for tool in m.tools]
        + [tool for m in outputs for tool in m.tools]
        + child_tools
    )
    if not answer:
        # A step of an agent loop that asks for tools: its answer comes in a later span.
        return Ignored("no text in the output (a tool-calling step)")
    chain = _chain(span, by_key)
    body: dict[str, Any] = {
        "request_id": _text(attrs.get("gen_ai.response.id")) or span_name(span),
        "query": question,
        "response": answer,
        "model": model,
        "tools_called": tools,
        "metadata": _metadata(span, inputs),
    }
    for key, candidates in (
        ("user_id", names.user),
        ("session_id", names.session),
        ("intent", names.intent),
        ("project", names.project),
    ):
        value = _first(chain, candidates)
        if value is not None:
            body[key] = value
    if span.end_ns >= span.start_ns > 0:
        body["response_time_ms"] = (span.end_ns - span.start_ns) // 1_000_000
    if span.start_ns > 0:
        seconds, nanos = divmod(span.start_ns, 1_000_000_000)
        body["created_at"] = datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    return Exchange(body)


def _chain(
    span: SpanRecord, by_key: Mapping[tuple[bytes, bytes], SpanRecord]
) -> list[Mapping[str, Any]]:
    """The span's attributes, its ancestors' in this export (nearest first), its resource's."""
    chain: list[Mapping[str, Any]] = [span.attributes]
    seen = {span.key}
    parent = span.parent_key
    while parent is not None and parent in by_key and parent not in seen:
        seen.add(parent)
        chain.append(by_key[parent].attributes)
        parent = by_key[parent].parent_key
    chain.append(span.resource)
    return chain


def _first(chain: Iterable[Mapping[str, Any]], names: Sequence[str]) -> str | None:
    for attrs in chain:
        for name in names:
            value = attrs.get(name)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | str) and str(value).strip():
                return str(value).strip()
    return None


def _storable(value: Any) -> bool:
    """Whether an attribute's value can be stored as JSON (a double that is not a number,
    NaN or Infinity, has no JSON to be stored as): one left out, not the whole span."""
    try:
        storable_json(value)
    except ValueError:
        return False
    return True


def _metadata(span: SpanRecord, inputs: list[Message]) -> dict[str, Any]:
    attrs = span.attributes
    otel: dict[str, Any] = {"trace_id": hex_id(span.trace_id), "span_id": hex_id(span.span_id)}
    for key, name in (
        ("operation", "gen_ai.operation.name"),
        ("provider", "gen_ai.provider.name"),
        ("system", "gen_ai.system"),
        ("input_tokens", "gen_ai.usage.input_tokens"),
        ("output_tokens", "gen_ai.usage.output_tokens"),
        ("finish_reasons", "gen_ai.response.finish_reasons"),
    ):
        value = attrs.get(name)
        if value is not None and _storable(value):
            otel[key] = value
    metadata: dict[str, Any] = {"otel": otel}
    instructions = [_parts_text(_decoded(attrs.get("gen_ai.system_instructions")))]
    instructions += [m.text for m in inputs if m.role in ("system", "developer")]
    system_prompt = "\n".join(text for text in instructions if text)
    if system_prompt:
        metadata["system_prompt"] = system_prompt  # the exports' system message
    return metadata


def _last_user(messages: list[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    if all(m.role is None for m in messages):
        return len(messages) - 1
    return None


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name for name in names if name))


def input_messages(span: SpanRecord) -> list[Message]:
    return _messages(span, "gen_ai.input.messages", "prompt", "user")


def output_messages(span: SpanRecord) -> list[Message]:
    return _messages(span, "gen_ai.output.messages", "completion", "assistant")


def _messages(span: SpanRecord, attribute: str, legacy: str, role: str) -> list[Message]:
    attrs = span.attributes
    if attrs.get(attribute) is not None:
        return _message_list(_decoded(attrs[attribute]), role)
    flat = _flattened(attrs, legacy)
    if flat:
        return flat
    if attrs.get(f"gen_ai.{legacy}") is not None:
        return _message_list(_decoded(attrs[f"gen_ai.{legacy}"]), role)
    return _event_messages(span.events, legacy)


def _event_messages(events: Iterable[tuple[str, Mapping[str, Any]]], legacy: str) -> list[Message]:
    found: list[Message] = []
    for name, attrs in events:
        if name == f"gen_ai.content.{legacy}":
            found += _message_list(_decoded(attrs.get(f"gen_ai.{legacy}")), None)
            continue
        wanted = name in _MESSAGE_EVENTS if legacy == "prompt" else name == "gen_ai.choice"
        if not wanted:
            continue
        role = _MESSAGE_EVENTS.get(name, "assistant")
        content = next((attrs[k] for k in _EVENT_CONTENT if attrs.get(k) is not None), None)
        message = _message(_decoded(content), role) if content is not None else None
        if message is not None:
            message.role = message.role or role
            found.append(message)
    return found


def _flattened(attrs: Mapping[str, Any], legacy: str) -> list[Message]:
    """`gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, `...tool_calls.0.name` (OpenLLMetry)."""
    fields: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _FLAT.match(key)
        if match and match.group(1) == legacy:
            fields.setdefault(int(match.group(2)), {})[match.group(3)] = value
    messages = []
    for index in sorted(fields):
        item = fields[index]
        tools = [
            _text(v) or ""
            for k, v in sorted(item.items())
            if re.fullmatch(r"tool_calls\.\d+\.name", k)
        ]
        content = item.get("content")
        texts = [_parts_text(_decoded(content))] if content is not None else []
        messages.append(Message(_text(item.get("role")), texts, _unique(tools)))
    return messages


def _decoded(value: Any) -> Any:
    """A JSON string as what it holds; anything else as it is."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{", '"'):
            try:
                return json.loads(stripped)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than it parses
                return value
    return value


def _message_list(value: Any, role: str | None) -> list[Message]:
    items = value if isinstance(value, list) else [value]
    return [m for m in (_message(item, role) for item in items) if m is not None]


def _message(value: Any, role: str | None) -> Message | None:
    """One message in any of the shapes the conventions used (or plain text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return Message(role, [value])
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("message"), dict):  # gen_ai.choice: {index, finish_reason, message}
        inner = _message(value["message"], role)
        if inner is not None:
            inner.role = inner.role or role
        return inner
    message = Message(_text(value.get("role")) or role)
    parts = value.get("parts")
    if isinstance(parts, list):
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text":
                message.texts.append(_text(part.get("content")) or "")
            elif kind == "tool_call":
                message.tools.append(_text(part.get("name")) or "")
    content = value.get("content")
    if content is not None:
        message.texts.append(_parts_text(content))
    for call in value.get("tool_calls") or []:
        if isinstance(call, dict):
            function = call.get("function")
            name = function.get("name") if isinstance(function, dict) else call.get("name")
            message.tools.append(_text(name) or "")
    message.tools = _unique(message.tools)
    return message


def _parts_text(value: Any) -> str:
    """Text of a content value: a string, or a list of `{type: text, content | text}` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return ""
    texts = []
    for part in value:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            texts.append(_text(part.get("content")) or _text(part.get("text")) or "")
    return "\n".join(t for t in texts if t)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
