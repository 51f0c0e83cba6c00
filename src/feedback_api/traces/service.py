"""Trace exports -> interactions: which spans become exchanges, and what the exporter is told."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
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

logger = logging.getLogger(__name__)

# Reasons quoted in the partial_success message; the count says how many there were.
_QUOTED_REASONS = 3


class RejectedSpansLog:
    """One warning line per export that rejected spans (how many, and the first reason), at
    most one a `interval` seconds per kind of reason: an exporter set up wrongly sends the
    same spans every few seconds, and its operator needs the line, not thousands of them."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._logged: dict[str, float] = {}  # kind of reason -> when last logged
        self._held: Counter[str] = Counter()  # exports not logged since, by kind

    def export_rejected(self, rejected: int, spans: int, kind: str, reason: str) -> bool:
        """Log an export that rejected `rejected` of its `spans`; False when held back."""
        now = self.clock()
        last = self._logged.get(kind)
        if last is not None and now - last < self.interval:
            self._held[kind] += 1
            return False
        if len(self._logged) > 1_000:  # kinds are few; forget the quiet ones all the same
            self._logged = {k: t for k, t in self._logged.items() if now - t < self.interval}
        self._logged[kind] = now
        held = self._held.pop(kind, 0)
        logger.warning(
            "OTLP export: %d of %d span(s) not stored; the first: %s%s",
            rejected,
            spans,
            reason,
            f" ({held} more export(s) rejected spans for this reason since the last such line)"
            if held
            else "",
        )
        return True


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
    def __init__(
        self,
        interactions: InteractionService,
        names: AttributeNames,
        rejections: RejectedSpansLog,
    ) -> None:
        self.interactions = interactions
        self.names = names
        self.rejections = rejections

    async def ingest(self, spans: list[SpanRecord]) -> TraceOutcome:
        """Log the exchanges the spans hold, in one statement (all or nothing)."""
        # (kind, text): the kind names the reason without the span's own values.
        reasons: list[tuple[str, str]] = []
        payloads: list[tuple[str, InteractionCreate]] = []
        outcomes: Counter[str] = Counter()
        for span, reading in zip(spans, read_spans(spans, self.names), strict=True):
            if isinstance(reading, Ignored):
                outcomes["ignored"] += 1
            elif isinstance(reading, Rejected):
                reasons.append((reading.reason, f"span {span_name(span)}: {reading.reason}"))
            elif isinstance(reading, Exchange):
                try:
                    payloads.append(
                        (span_name(span), InteractionCreate.model_validate(reading.body))
                    )
                except ValidationError as exc:
                    message, errors = describe_validation_errors(list(exc.errors()))
                    kind = f"{errors[0]['field']}: {errors[0]['type']}" if errors else message
                    reasons.append((kind, f"span {span_name(span)}: {message}"))
        written = await self.interactions.create_many([payload for _, payload in payloads])
        for (name, _), result in zip(payloads, written, strict=True):
            if isinstance(result, AppError):
                reasons.append((result.code, f"span {name}: {result.message}"))
            else:
                outcomes["stored"] += 1
        outcomes["rejected"] = len(reasons)
        for outcome, count in outcomes.items():
            OTEL_SPANS.labels(outcome).inc(count)
        message = ""
        if reasons:
            self.rejections.export_rejected(len(reasons), len(spans), *reasons[0])
            message = f"{len(reasons)} GenAI span(s) not stored: " + "; ".join(
                text for _, text in reasons[:_QUOTED_REASONS]
            )
            if len(reasons) > _QUOTED_REASONS:
                message += f"; and {len(reasons) - _QUOTED_REASONS} more"
        return TraceOutcome(outcomes["stored"], outcomes["ignored"], len(reasons), message)
