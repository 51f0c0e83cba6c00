"""The statistics behind the analytics: Wilson intervals and the two-proportion z-test."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 0.975 quantile of the standard normal


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None without observations.

    Unlike the normal approximation it stays inside [0, 1] and is honest for small counts
    and for proportions near 0 or 1, which is where ranking models on few votes goes wrong.
    """
    if total <= 0:
        return None
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    center = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class ProportionTest:
    difference: float  # p_a - p_b
    z: float
    p_value: float


def two_proportion_test(
    successes_a: int, total_a: int, successes_b: int, total_b: int
) -> ProportionTest | None:
    """Two-sided two-proportion z-test with the pooled standard error; None if undefined.

    Undefined without votes on either side, or when both sides are all-positive or
    all-negative (no variance to test against).
    """
    if total_a <= 0 or total_b <= 0:
        return None
    p_a, p_b = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if se == 0:
        return None
    z = (p_a - p_b) / se
    return ProportionTest(difference=p_a - p_b, z=z, p_value=math.erfc(abs(z) / math.sqrt(2)))
