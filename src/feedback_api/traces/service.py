"""Trace exports -> interactions: which spans become exchanges, and what the exporter is told."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pydantic import ValidationError

from feedback_api.config import Settings
from feedback_api.exceptions import AppError, describe_validation_errors
from feedback_api.interactions.schemas import InteractionCreate
from feedback_api.interactions.service import InteractionService
from feedback_api.observability import OTEL_SPANS
from feedback_api.traces.mapping import (
    AttributeNames,
    Exchange,
    Ignored,
    Rejected,
    read_spans,
    span_name,
)
from feedback_api.traces.otlp import SpanRecord

# Reasons quoted in the partial_success message; the count says how many there were.
_QUOTED_REASONS = 3


def attribute_names(settings: Settings) -> AttributeNames:
    return AttributeNames(
        intent=tuple(settings.otel_intent_attributes),
        project=tuple(settings.otel_project_attributes),
    )


@dataclass(frozen=True)
class TraceOutcome:
    """What became of an export's spans."""

    stored: int  # exchanges logged now or already (the same span sent again)
    ignored: int  # not GenAI inference spans, or steps without an answer
    rejected: int  # GenAI spans that could not become an exchange
    message: str  # why they were rejected: OTLP's partial_success.error_message


class TraceService:
    def __init__(self, interactions: InteractionService, names: AttributeNames) -> None:
        self.interactions = interactions
        self.names = names

    async def ingest(self, spans: list[SpanRecord]) -> TraceOutcome:
        """Log the exchanges the spans hold, in one statement (all or nothing)."""
        reasons: list[str] = []
        payloads: list[tuple[str, InteractionCreate]] = []
        outcomes: Counter[str] = Counter()
        for span, reading in zip(spans, read_spans(spans, self.names), strict=True):
            if isinstance(reading, Ignored):
                outcomes["ignored"] += 1
            elif isinstance(reading, Rejected):
                reasons.append(f"span {span_name(span)}: {reading.reason}")
            elif isinstance(reading, Exchange):
                try:
                    payloads.append(
                        (span_name(span), InteractionCreate.model_validate(reading.body))
                    )
                except ValidationError as exc:
                    message, _ = describe_validation_errors(list(exc.errors()))
                    reasons.append(f"span {span_name(span)}: {message}")
        written = await self.interactions.create_many([payload for _, payload in payloads])
        for (name, _), result in zip(payloads, written, strict=True):
            if isinstance(result, AppError):
                reasons.append(f"span {name}: {result.message}")
            else:
                outcomes["stored"] += 1
        outcomes["rejected"] = len(reasons)
        for outcome, count in outcomes.items():
            OTEL_SPANS.labels(outcome).inc(count)
        message = ""
        if reasons:
            message = f"{len(reasons)} GenAI span(s) not stored: " + "; ".join(
                reasons[:_QUOTED_REASONS]
            )
            if len(reasons) > _QUOTED_REASONS:
                message += f"; and {len(reasons) - _QUOTED_REASONS} more"
        return TraceOutcome(outcomes["stored"], outcomes["ignored"], len(reasons), message)
