"""Accuracy over every answer of a window, per group: what the votes say, what the reviewed
random sample says, and the PPI++ estimate that uses both (docs/review.md, "Estimated
accuracy")."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from feedback_api.analytics import figures
from feedback_api.analytics.service import ALPHA
from feedback_api.analytics.stats import Z_95, wilson_interval
from feedback_api.exceptions import InvalidInput, NotFound
from feedback_api.kit.time import MAX_DAYS
from feedback_api.review.estimated.ppi import (
    Estimate,
    Sums,
    difference_test,
    hajek,
    ppi_mean,
    stratified,
)
from feedback_api.review.estimated.repository import Answers, EstimateRepository, Sampled
from feedback_api.review.estimated.schemas import (
    GROUP_BY,
    EstimatedAccuracy,
    EstimatedAccuracyItem,
    EstimatedComparison,
    EstimatedModelFigures,
    EstimateWindow,
)
from feedback_api.review.estimated.window import Rule, Scope

DEFAULT_DAYS = 30
# When an answer has no vote and its model x intent none either: no information, a coin.
UNINFORMED = 0.5
# Below this many reviewed answers the interval's normal approximation is rough.
FEW_REVIEWED = 30
FEW_WARNING = f"fewer than {FEW_REVIEWED} reviewed answers"
NONE_WARNING = "no reviewed answers"


@dataclass
class _Group:
    answers: int = 0
    voted_answers: int = 0
    votes: int = 0
    positive: int = 0
    sampled: int = 0
    needs_adjudication: int = 0
    reviewed: int = 0
    strata: dict[float, Sums] = field(default_factory=lambda: defaultdict(Sums))
    strata_answers: dict[float, int] = field(default_factory=lambda: defaultdict(int))
    verdicts: list[tuple[float, float, int]] = field(default_factory=list)


@dataclass
class _Groups:
    """The groups of a window built from its answers and sampled items; `all_answers`
    counts every answer of a group, covered by a rule or not."""

    groups: dict[str | None, _Group] = field(default_factory=lambda: defaultdict(_Group))
    all_answers: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))


def _build(rules: list[Rule], answers: list[Answers], sampled: list[Sampled]) -> _Groups:
    """Per group and inclusion-rate stratum, the PPI++ sums. Yhat of an answer: its share of
    thumbs-up when it has votes; else the voted accuracy of its model x intent over the
    covered answers of the window; else UNINFORMED. Every covered answer starts unlabelled;
    a reviewed item moves its answer to the labelled ones."""
    rates = {rule.id: rule.rate for rule in rules}
    segment: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for a in answers:
        if a.rule is not None:
            segment[(a.model, a.intent)][0] += a.positive
            segment[(a.model, a.intent)][1] += a.votes

    def fill(model: str, intent: str | None) -> float:
        positive, votes = segment[(model, intent)]
        return positive / votes if votes else UNINFORMED

    out = _Groups()
    for a in answers:
        out.all_answers[a.group] += a.answers
        if a.rule is None:
            continue
        group, rate = out.groups[a.group], rates[a.rule]
        group.answers += a.answers
        group.voted_answers += a.voted_answers
        group.votes += a.votes
        group.positive += a.positive
        group.strata_answers[rate] += a.answers
        unvoted, yhat = a.answers - a.voted_answers, fill(a.model, a.intent)
        group.strata[rate].add_unlabelled_sums(
            a.answers, a.share_sum + unvoted * yhat, a.share_squares + unvoted * yhat * yhat
        )
    for s in sampled:
        group, rate = out.groups[s.group], rates[s.rule]
        group.sampled += s.items
        group.needs_adjudication += s.needs_adjudication
        if s.y is None:
            continue
        yhat = s.positive / s.votes if s.votes else fill(s.model, s.intent)
        group.reviewed += s.items
        group.strata[rate].add_labelled(s.y, yhat, s.items)
        group.strata[rate].add_unlabelled(yhat, -s.items)
        group.verdicts.append((s.y, rate, s.items))
    return out


def _bounds(estimate: Estimate | None) -> tuple[float | None, float | None]:
    if estimate is None:
        return None, None
    return estimate.interval(Z_95)


def _reviewed(group: _Group) -> tuple[float | None, float | None, float | None]:
    """Hajek's mean of the verdicts; its Wilson interval with one inclusion rate, else its
    normal interval (clipped to [0, 1])."""
    estimate = hajek(group.verdicts)
    if estimate is None:
        return None, None, None
    if len({rate for _, rate, _ in group.verdicts}) == 1:
        correct = sum(count for y, _, count in group.verdicts if y == 1)
        low, high = wilson_interval(correct, group.reviewed) or (None, None)
        return estimate.mean, low, high
    low, high = estimate.interval(Z_95)
    return estimate.mean, max(0.0, low), min(1.0, high)


def _estimate(group: _Group) -> Estimate | None:
    """PPI++ per inclusion-rate stratum, combined by the strata's answers."""
    return stratified(
        (group.strata_answers[rate], ppi_mean(sums)) for rate, sums in group.strata.items()
    )


def _item(group_by: str, key: str | None, group: _Group, all_answers: int) -> EstimatedAccuracyItem:
    voted = figures.accuracy(group.positive, group.votes)
    voted_low, voted_high = wilson_interval(group.positive, group.votes) or (None, None)
    reviewed, reviewed_low, reviewed_high = _reviewed(group)
    estimate = _estimate(group)
    low, high = _bounds(estimate)
    warning = None
    if group.answers and group.reviewed == 0:
        warning = NONE_WARNING
    elif 0 < group.reviewed < FEW_REVIEWED:
        warning = FEW_WARNING
    estimated = None if estimate is None else estimate.mean
    return EstimatedAccuracyItem(
        **{group_by: key},
        answers=group.answers,
        all_answers=all_answers,
        voted_answers=group.voted_answers,
        votes=group.votes,
        voted_accuracy=voted,
        voted_ci_low=voted_low,
        voted_ci_high=voted_high,
        sampled=group.sampled,
        reviewed=group.reviewed,
        pending=group.sampled - group.reviewed - group.needs_adjudication,
        needs_adjudication=group.needs_adjudication,
        reviewed_accuracy=reviewed,
        reviewed_ci_low=reviewed_low,
        reviewed_ci_high=reviewed_high,
        estimated_accuracy=estimated,
        estimated_ci_low=low,
        estimated_ci_high=high,
        vote_bias=None if voted is None or estimated is None else voted - estimated,
        warning=warning,
    )


class EstimateService:
    def __init__(self, repository: EstimateRepository) -> None:
        self.repository = repository

    async def _scope(
        self,
        *,
        model: str | None,
        intent: str | None,
        project: str | None,
        since: datetime | None,
        until: datetime | None,
        group_by: str,
        queue_id: uuid.UUID | None,
    ) -> tuple[datetime, Scope]:
        """The database's now, and the scope asked for with its defaults; bad input refused."""
        if group_by not in GROUP_BY:
            raise InvalidInput(
                f"group_by: unknown value {group_by!r}; use one of {', '.join(GROUP_BY)}"
            )
        if queue_id is not None and not await self.repository.queue_exists(queue_id):
            raise NotFound(f"no review queue {queue_id}")
        now = await self.repository.now()
        until = until or now
        since = since or until - timedelta(days=DEFAULT_DAYS)
        if since >= until:
            raise InvalidInput("since must be earlier than until")
        if until - since > timedelta(days=MAX_DAYS):
            raise InvalidInput(f"ask for at most {MAX_DAYS} days at a time")
        return now, Scope(since, until, model, intent, project, group_by, queue_id)

    async def _groups(self, scope: Scope) -> _Groups:
        rules = await self.repository.sample_rules(scope)
        parts = await self.repository.parts(scope, rules)
        answers = await self.repository.answers(scope, rules, parts)
        sampled = await self.repository.sampled(scope, rules, parts)
        return _build(rules, answers, sampled)

    async def estimated_accuracy(
        self,
        *,
        model: str | None,
        intent: str | None,
        project: str | None,
        since: datetime | None,
        until: datetime | None,
        group_by: str,
        queue_id: uuid.UUID | None,
    ) -> EstimatedAccuracy:
        now, scope = await self._scope(
            model=model,
            intent=intent,
            project=project,
            since=since,
            until=until,
            group_by=group_by,
            queue_id=queue_id,
        )
        built = await self._groups(scope)
        everything = built.all_answers
        keys = sorted(everything, key=lambda key: (key is None, key or ""))
        items = [
            _item(group_by, key, built.groups.get(key) or _Group(), everything[key]) for key in keys
        ]
        return EstimatedAccuracy(
            as_of=now,
            window=EstimateWindow(since=scope.since, until=scope.until),
            group_by=group_by,  # checked against GROUP_BY in _scope
            items=items,
        )

    async def compare(
        self,
        model_a: str,
        model_b: str,
        *,
        intent: str | None,
        project: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> EstimatedComparison:
        """The difference of two models' estimated accuracies over the same window and slice.

        The two estimates come from disjoint answers and independent draws, so the variance
        of their difference is the sum of their variances (each the square of its PPI++
        standard error, the half-width of its 95 % interval over z): a normal interval and
        a two-sided z-test of no difference."""
        if model_a == model_b:
            raise InvalidInput("model_a and model_b must be two different models")
        now, scope = await self._scope(
            model=None,
            intent=intent,
            project=project,
            since=since,
            until=until,
            group_by="model",
            queue_id=None,
        )
        groups = (await self._groups(scope)).groups
        sides = []
        for name in (model_a, model_b):
            group = groups.get(name)
            estimate = None if group is None else _estimate(group)
            if group is None or estimate is None:
                raise NotFound(
                    f"no estimate for model {name!r}: no reviewed answer of its random sample"
                    " in this window and slice"
                )
            sides.append((name, group, estimate))
        (_, _, a), (_, _, b) = sides
        test = difference_test(a, b)
        return EstimatedComparison(
            as_of=now,
            window=EstimateWindow(since=scope.since, until=scope.until),
            intent=intent,
            project=project,
            model_a=_figures(*sides[0]),
            model_b=_figures(*sides[1]),
            difference=test.difference,
            difference_ci_low=test.difference_ci_low,
            difference_ci_high=test.difference_ci_high,
            standard_error=test.standard_error,
            z=test.z,
            p_value=test.p_value,
            significant=test.p_value < ALPHA,
            alpha=ALPHA,
        )


def _figures(model: str, group: _Group, estimate: Estimate) -> EstimatedModelFigures:
    low, high = estimate.interval(Z_95)
    voted = figures.accuracy(group.positive, group.votes)
    return EstimatedModelFigures(
        model=model,
        answers=group.answers,
        reviewed=group.reviewed,
        estimated_accuracy=estimate.mean,
        estimated_ci_low=low,
        estimated_ci_high=high,
        standard_error=math.sqrt(estimate.variance),
        voted_accuracy=voted,
        vote_bias=None if voted is None else voted - estimate.mean,
        warning=FEW_WARNING if group.reviewed < FEW_REVIEWED else None,
    )
