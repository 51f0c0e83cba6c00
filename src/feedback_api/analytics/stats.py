"""Small-sample statistics for vote counts: Wilson intervals and the two-proportion test.

The normal ("Wald") interval p +- z*sqrt(p(1-p)/n) collapses to zero width at 0 % or
100 % and leaves [0, 1] on few votes; Wilson's score interval does neither, which is why
it is used to rank by votes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The 97.5th percentile of the standard normal distribution: a two-sided 95 % interval.
Z_95 = 1.959963984540054


def wilson_interval(positive: int, total: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for positive/total; None when there are no votes."""
    if total <= 0:
        return None
    p = positive / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ProportionTest:
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    z: float
    p_value: float


def two_proportion_test(
    positive_a: int, total_a: int, positive_b: int, total_b: int, z_crit: float = Z_95
) -> ProportionTest:
    """Pooled two-proportion z-test of p_a == p_b (two-sided), and a 95 % interval of p_a - p_b.

    The interval is Newcombe's hybrid score interval (method 10), built from both Wilson
    intervals, so it stays sensible on small counts and at 0 % or 100 %.
    """
    if total_a <= 0 or total_b <= 0:
        raise ValueError("both groups need at least one vote")
    p_a = positive_a / total_a
    p_b = positive_b / total_b
    pooled = (positive_a + positive_b) / (total_a + total_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if se == 0:
        # Both groups all positive or all negative: no evidence of any difference.
        z, p_value = 0.0, 1.0
    else:
        z = (p_a - p_b) / se
        # Two-sided tail of the standard normal: P(|Z| >= |z|) = erfc(|z| / sqrt(2)).
        p_value = math.erfc(abs(z) / math.sqrt(2))
    low_a, high_a = wilson_interval(positive_a, total_a, z_crit) or (0.0, 1.0)
    low_b, high_b = wilson_interval(positive_b, total_b, z_crit) or (0.0, 1.0)
    difference = p_a - p_b
    return ProportionTest(
        difference=difference,
        difference_ci_low=difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
        difference_ci_high=difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2),
        z=z,
        p_value=min(1.0, p_value),
    )
