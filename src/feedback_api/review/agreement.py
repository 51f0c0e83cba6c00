"""Agreement between reviewers, from their verdicts (no SQL).

- Krippendorff's alpha, nominal, by the `krippendorff` package: alpha = 1 - D_o / D_e, the
  disagreement observed within items over the disagreement expected by chance (from every
  value's share of all pairable values), over the items with 2 or more labels.
- Its 95 % interval: percentiles 2.5 and 97.5 of alpha over 1,000 resamples of the items
  (with replacement, a fixed seed: the same labels give the same interval).
- Percent agreement: within each item with m >= 2 labels, the share of its m(m-1)/2 pairs
  of labels that agree; the mean over those items.
- Cohen's kappa of two reviewers on their common items: (p_o - p_e) / (1 - p_e), p_o the
  share agreed, p_e = sum over verdicts of the product of the two reviewers' shares.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np

RESAMPLES = 1_000
SEED = 20_261_205


def _value_counts(units: Sequence[Sequence[Hashable]]) -> np.ndarray[Any, Any]:
    """Units x values: how often each value was given to each unit with 2+ values."""
    pairable = [unit for unit in units if len(unit) >= 2]
    values = sorted({value for unit in pairable for value in unit}, key=str)
    index = {value: i for i, value in enumerate(values)}
    counts = np.zeros((len(pairable), len(values)))
    for row, unit in enumerate(pairable):
        for value in unit:
            counts[row, index[value]] += 1
    return counts


def _alpha(counts: np.ndarray[Any, Any]) -> float | None:
    # One value only (or none): no disagreement can be expected, alpha is undefined.
    if counts.shape[0] == 0 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return None
    value = float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))
    return None if math.isnan(value) else value


def alpha_nominal(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha (nominal) of the values each unit got; None where undefined."""
    return _alpha(_value_counts(units))


def alpha_interval(
    units: Sequence[Sequence[Hashable]], resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float | None, float | None]:
    """The 95 % bootstrap interval of alpha, resampling the units."""
    counts = _value_counts(units)
    if _alpha(counts) is None:
        return None, None
    rng = np.random.default_rng(seed)
    draws = [
        _alpha(counts[rng.integers(0, counts.shape[0], counts.shape[0])]) for _ in range(resamples)
    ]
    found = np.array([d for d in draws if d is not None])
    if found.size == 0:
        return None, None
    low, high = np.percentile(found, [2.5, 97.5])
    return float(low), float(high)


def percent_agreement(units: Sequence[Sequence[Hashable]]) -> float | None:
    shares = []
    for unit in units:
        if len(unit) < 2:
            continue
        pairs = list(combinations(unit, 2))
        shares.append(sum(a == b for a, b in pairs) / len(pairs))
    return sum(shares) / len(shares) if shares else None


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items, in order; None where p_e = 1."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    shares_a, shares_b = Counter(a), Counter(b)
    expected = sum(shares_a[v] * shares_b[v] for v in shares_a) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class Pair:
    reviewer_a: str
    reviewer_b: str
    items: int
    agreement: float
    cohen_kappa: float | None


def pairs(labels: Mapping[Any, Mapping[str, str]]) -> list[Pair]:
    """Every two reviewers with an item in common: item -> reviewer -> verdict."""
    common: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for by_reviewer in labels.values():
        for x, y in combinations(sorted(by_reviewer), 2):
            common[(x, y)].append((by_reviewer[x], by_reviewer[y]))
    found = []
    for (x, y), verdicts in sorted(common.items()):
        a, b = [v for v, _ in verdicts], [v for _, v in verdicts]
        agreed = sum(p == q for p, q in verdicts) / len(verdicts)
        found.append(Pair(x, y, len(verdicts), agreed, cohen_kappa(a, b)))
    return found


def votes_vs_reviews(decided: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Each decided answer's users' majority thumb against its consensus verdict, from
    (verdict, thumbs up, thumbs down) rows; answers without votes, or with a tie, say
    nothing and are left out."""
    cells: Counter[str] = Counter()
    for verdict, up, down in decided:
        if up != down:
            cells[f"{'up' if up > down else 'down'}_{verdict}"] += 1
    compared = sum(cells.values())
    agreed = cells["up_correct"] + cells["down_incorrect"]
    return {
        "items": compared,
        **{
            name: cells[name]
            for name in ("up_correct", "up_incorrect", "down_correct", "down_incorrect")
        },
        "vote_agreement": agreed / compared if compared else None,
    }
