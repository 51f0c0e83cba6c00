"""Alert rules: segments, the drop test, Benjamini-Hochberg, opening and resolving.

The method is described in docs/alerts.md. No SQL here (repository.py) and no HTTP
(webhook.py): the service decides, the repository writes, the delivery job sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedback_api.alerts.models import OPEN, RESOLVED, Alert
from feedback_api.alerts.repository import AlertRepository, AlertWriter
from feedback_api.alerts.schemas import AlertOut, StatusFilter, WebhookBody
from feedback_api.analytics.repository import AnalyticsRepository
from feedback_api.analytics.stats import two_proportion_test, wilson_interval
from feedback_api.config import Settings

logger = logging.getLogger(__name__)

# (model, intent, project); intent or project None where not part of the segment.
SegmentKey = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class AlertRules:
    recent_days: int = 7
    baseline_days: int = 28
    min_votes: int = 100
    min_effect: float = 0.05
    fdr: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        return cls(
            recent_days=settings.alert_recent_days,
            baseline_days=settings.alert_baseline_days,
            min_votes=settings.alert_min_votes,
            min_effect=settings.alert_min_effect,
            fdr=settings.alert_fdr,
        )

    @property
    def windows(self) -> tuple[int, int]:
        """The windows (days back from the refresh) the evaluation reads: the recent one,
        and the recent one with its baseline (the baseline is their difference)."""
        return self.recent_days, self.recent_days + self.baseline_days


@dataclass
class Counts:
    positive: int = 0
    negative: int = 0

    @property
    def total(self) -> int:
        return self.positive + self.negative

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.positive - other.positive, self.negative - other.negative)


def segment_counts(rows: Iterable[Any]) -> dict[SegmentKey, Counts]:
    """Rows (model, intent, project, positive, negative), one per segment: each model, each
    model x intent and each model x project, NULL where a dimension is not part of it."""
    return {
        (model, intent, project): Counts(int(positive), int(negative))
        for model, intent, project, positive, negative in rows
    }


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses to reject with the false discovery rate controlled at `q`.

    The step-up procedure: with p-values sorted p(1) <= ... <= p(m), reject the k smallest
    for the largest k with p(k) <= k / m * q.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff = 0
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= rank / m * q:
            cutoff = rank
    rejected = [False] * m
    for index in order[:cutoff]:
        rejected[index] = True
    return rejected


@dataclass(frozen=True)
class Drop:
    """One segment's recent window against its baseline."""

    key: SegmentKey
    baseline: Counts
    recent: Counts
    p_value: float  # one-sided, for a drop

    @property
    def baseline_rate(self) -> float:
        return self.baseline.positive / self.baseline.total

    @property
    def recent_rate(self) -> float:
        return self.recent.positive / self.recent.total

    @property
    def effect(self) -> float:
        """How far the rate fell (positive: a drop)."""
        return self.baseline_rate - self.recent_rate

    def figures(self) -> dict[str, Any]:
        base = wilson_interval(self.baseline.positive, self.baseline.total) or (0.0, 1.0)
        recent = wilson_interval(self.recent.positive, self.recent.total) or (0.0, 1.0)
        return {
            "baseline_rate": self.baseline_rate,
            "baseline_ci_low": base[0],
            "baseline_ci_high": base[1],
            "recent_rate": self.recent_rate,
            "recent_ci_low": recent[0],
            "recent_ci_high": recent[1],
            "baseline_votes": self.baseline.total,
            "recent_votes": self.recent.total,
            "p_value": self.p_value,
        }


def compare(key: SegmentKey, baseline: Counts, recent: Counts) -> Drop | None:
    """The drop test of one segment; None when a side has no votes."""
    if baseline.total == 0 or recent.total == 0:
        return None
    test = two_proportion_test(recent.positive, recent.total, baseline.positive, baseline.total)
    # two_proportion_test's p-value is two-sided; an alert is about a drop only, so one-sided:
    # P(Z <= z) is half the two-sided tail when z < 0, and its complement otherwise.
    p_value = test.p_value / 2 if test.z < 0 else 1 - test.p_value / 2
    return Drop(key, baseline, recent, p_value)


@dataclass
class Evaluation:
    tested: int = 0
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    still_open: int = 0


def segment_label(model: str, intent: str | None, project: str | None) -> str:
    label = f"model {model}"
    if intent is not None:
        label += f" / intent {intent}"
    if project is not None:
        label += f" / project {project}"
    return label


def _chat_text(text: str) -> str:
    """`text` (names a client chose) as plain text on one line in a chat message: its line
    breaks and runs of spaces made one space, and `&`, `<` and `>` escaped as Slack's and
    Mattermost's message formats ask, so that a model named `<!channel>` is shown, not a
    mention of the whole channel."""
    return " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


class AlertService:
    """Evaluates the segments after a refresh, in the refresh's transaction."""

    def __init__(
        self,
        votes: AnalyticsRepository,
        reads: AlertRepository,
        writes: AlertWriter,
        rules: AlertRules,
        *,
        notify: bool,
    ) -> None:
        self.votes = votes
        self.reads = reads
        self.writes = writes
        self.rules = rules
        self.notify = notify

    def summary(self, alert: AlertOut) -> str:
        """The one line a chat channel shows."""
        segment = _chat_text(segment_label(alert.model, alert.intent, alert.project))
        rates = (
            f"{_pct(alert.recent_rate)} positive over the last {self.rules.recent_days} days "
            f"({alert.recent_votes:,} votes) against {_pct(alert.baseline_rate)} over the "
            f"{self.rules.baseline_days} days before ({alert.baseline_votes:,} votes)"
        )
        if alert.status == OPEN:
            return f"[feedback-api] Regression: {segment}: {rates}, p = {alert.p_value:.2g}"
        return (
            f"[feedback-api] Resolved: {segment}: {rates}; open since "
            f"{alert.opened_at:%Y-%m-%d %H:%M} UTC"
        )

    async def _changed(self, alert: Alert, event: str) -> None:
        if not self.notify:
            return
        out = AlertOut.model_validate(alert)
        body = WebhookBody(text=self.summary(out), alert=out)
        await self.writes.enqueue(alert.id, event, body.model_dump(mode="json"))

    async def evaluate(self) -> Evaluation:
        rules = self.rules
        now = await self.reads.now()
        # The windows the refresh that runs this evaluation has just brought up to date
        # (the refresher keeps them: AlertRules.windows).
        recent_days, both_days = rules.windows
        recent = segment_counts(await self.votes.segment_votes(recent_days))
        both = segment_counts(await self.votes.segment_votes(both_days))
        baseline = {key: both[key] - recent.get(key, Counts()) for key in both}

        tested = [
            drop
            for key in sorted(recent.keys() & baseline.keys(), key=str)
            if recent[key].total >= rules.min_votes
            and baseline[key].total >= rules.min_votes
            and (drop := compare(key, baseline[key], recent[key])) is not None
        ]
        discoveries = benjamini_hochberg([d.p_value for d in tested], rules.fdr)
        regressions = {
            drop.key: drop
            for drop, discovered in zip(tested, discoveries, strict=True)
            if discovered and drop.effect >= rules.min_effect
        }
        result = Evaluation(tested=len(tested))

        for alert in await self.writes.open_alerts():
            key: SegmentKey = (alert.model, alert.intent, alert.project)
            drop = regressions.pop(key, None)
            if drop is None:
                drop = compare(key, baseline.get(key, Counts()), recent.get(key, Counts()))
                holds = drop is not None and self._still_holds(drop)
            else:
                holds = True
            if drop is not None:
                for name, value in drop.figures().items():
                    setattr(alert, name, value)
            alert.evaluated_at = now
            if holds:
                result.still_open += 1
                continue
            alert.status = RESOLVED
            alert.resolved_at = now
            result.resolved.append(alert)
        await self.writes.flush()
        for alert in result.resolved:
            await self._changed(alert, RESOLVED)

        for key, drop in regressions.items():
            model, intent, project = key
            opened = await self.writes.open_alert(
                {
                    "model": model,
                    "intent": intent,
                    "project": project,
                    "status": OPEN,
                    "opened_at": now,
                    "resolved_at": None,
                    "evaluated_at": now,
                    **drop.figures(),
                }
            )
            if opened is not None:
                result.opened.append(opened)
                await self._changed(opened, OPEN)
        for alert in result.opened:
            logger.warning(
                "alert opened: %s", segment_label(alert.model, alert.intent, alert.project)
            )
        return result

    def _still_holds(self, drop: Drop) -> bool:
        """An open alert stays open while the drop is still at least half the minimum effect
        and still significant on its own (one-sided p below the FDR level): a hysteresis, so
        that a segment hovering at the threshold does not open and resolve at every tick."""
        return drop.effect >= self.rules.min_effect / 2 and drop.p_value < self.rules.fdr


class AlertQueries:
    """The reads the routes, the report and /metrics serve."""

    def __init__(self, repository: AlertRepository) -> None:
        self.repository = repository

    async def alerts(self, status: StatusFilter, limit: int) -> list[AlertOut]:
        wanted = None if status is StatusFilter.all else status.value
        return [AlertOut.model_validate(a) for a in await self.repository.alerts(wanted, limit)]

    async def active_between(self, start: datetime, end: datetime) -> list[AlertOut]:
        rows = await self.repository.active_between(start, end)
        return [AlertOut.model_validate(a) for a in rows]

    async def open_count(self) -> int:
        return await self.repository.open_count()
