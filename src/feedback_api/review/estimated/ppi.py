"""The prediction-powered estimate of a mean (PPI++ with power tuning), in closed form from
sums, and its combination over strata of a stratified random sample.

Angelopoulos, Duchi & Zrnic (2023), "PPI++: Efficient Prediction-Powered Inference",
arXiv:2311.01453. With n labelled items (Y_i, Yhat_i) and N unlabelled predictions Yhat'_j:

    lambda   = clip(Cov(Y, Yhat) / ((1 + n/N) Var(Yhat, Yhat')), 0, 1)
    theta    = lambda mean(Yhat') + mean(Y - lambda Yhat)
    se^2     = lambda^2 Var(Yhat') / N + Var(Y - lambda Yhat) / n
    interval = theta -+ z_{1-alpha/2} se

Cov and the variances of the standard errors divide by the count (ddof 0); the variance in
lambda's denominator is over the labelled and unlabelled predictions together, dividing by
count - 1. This is what the reference implementation (`ppi_py` 0.2.3, `ppi_mean_ci` and
`ppi_mean_pointestimate` with their default `lam=None`) computes, to rounding.

Everything is a function of a few sums (`Sums`), so the database sums per distinct Yhat
value and no answer travels to Python. Two cases the reference leaves undefined (a NaN) are
given the limit the formula tends to: when every prediction is the same value, lambda is 0
(Yhat then carries no information, and any lambda gives the same estimate); with no
unlabelled answer, lambda is 0 (the classical interval of the labelled mean).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from feedback_api.analytics.stats import Z_95


@dataclass
class Sums:
    """What PPI++ needs of a sample: counts, sums and sums of squares (Y is 0 or 1)."""

    n: int = 0  # labelled
    y: float = 0.0
    y2: float = 0.0
    yhat: float = 0.0  # over the labelled
    yhat2: float = 0.0
    y_yhat: float = 0.0
    big_n: int = 0  # unlabelled
    u: float = 0.0  # Yhat over the unlabelled
    u2: float = 0.0

    def add_labelled(self, y: float, yhat: float, count: int = 1) -> None:
        self.n += count
        self.y += count * y
        self.y2 += count * y * y
        self.yhat += count * yhat
        self.yhat2 += count * yhat * yhat
        self.y_yhat += count * y * yhat

    def add_unlabelled(self, yhat: float, count: int = 1) -> None:
        self.add_unlabelled_sums(count, count * yhat, count * yhat * yhat)

    def add_unlabelled_sums(self, count: int, total: float, squares: float) -> None:
        """Unlabelled items given by their count and the sums of their Yhat and Yhat^2 (a
        negative count takes them out again)."""
        self.big_n += count
        self.u += total
        self.u2 += squares


@dataclass(frozen=True)
class Estimate:
    mean: float
    variance: float  # of the estimate (se^2)
    lam: float

    def interval(self, z: float = Z_95) -> tuple[float, float]:
        half = z * math.sqrt(self.variance)
        return self.mean - half, self.mean + half


def power_tuning(s: Sums) -> float:
    """lambda: the weight of the predictions that minimises the estimate's variance."""
    if s.big_n <= 0 or s.n == 0:
        return 0.0
    cov = s.y_yhat / s.n - (s.y / s.n) * (s.yhat / s.n)
    total = s.n + s.big_n
    every = s.yhat + s.u
    var_all = (s.yhat2 + s.u2 - every * every / total) / (total - 1) if total > 1 else 0.0
    if var_all <= 1e-15:
        return 0.0
    return min(1.0, max(0.0, cov / ((1 + s.n / s.big_n) * var_all)))


def ppi_mean(s: Sums) -> Estimate | None:
    """PPI++ estimate of the mean of Y over labelled and unlabelled together; None with no
    labelled item."""
    if s.n == 0:
        return None
    lam = power_tuning(s)
    rect_mean = (s.y - lam * s.yhat) / s.n
    # sum of (Y - lambda Yhat)^2, divided by n, less the squared mean: the ddof-0 variance.
    rect_sq = (s.y2 - 2 * lam * s.y_yhat + lam * lam * s.yhat2) / s.n
    rect_var = max(0.0, rect_sq - rect_mean * rect_mean)
    if s.big_n > 0:
        u_mean = s.u / s.big_n
        u_var = max(0.0, s.u2 / s.big_n - u_mean * u_mean)
        imputed = lam * u_mean
        imputed_var = lam * lam * u_var / s.big_n
    else:
        imputed, imputed_var = 0.0, 0.0
    return Estimate(imputed + rect_mean, imputed_var + rect_var / s.n, lam)


def stratified(strata: Iterable[tuple[int, Estimate | None]]) -> Estimate | None:
    """Combine per-stratum estimates by the strata's sizes (answers): theta = sum W_h
    theta_h, variance = sum W_h^2 var_h, W_h = N_h / N. None when a stratum with answers has
    no estimate (no reviewed answer): its accuracy is unknown, and so is the whole's."""
    parts = [(size, est) for size, est in strata if size > 0]
    total = sum(size for size, _ in parts)
    if not parts or any(est is None for _, est in parts):
        return None
    mean = sum(size / total * est.mean for size, est in parts if est is not None)
    variance = sum((size / total) ** 2 * est.variance for size, est in parts if est is not None)
    # lambda differs per stratum; the combined one says nothing, so report the mean weight.
    lam = sum(size / total * est.lam for size, est in parts if est is not None)
    return Estimate(mean, variance, lam)


def hajek(verdicts: Iterable[tuple[float, float, int]]) -> Estimate | None:
    """Hajek's weighted mean of (y, inclusion probability, count) and its linearised
    variance sum w_i^2 (y_i - mean)^2 / (sum w_i)^2; None with no item."""
    rows = [(y, 1 / p, c) for y, p, c in verdicts if c]
    weight = sum(w * c for _, w, c in rows)
    if not weight:
        return None
    mean = sum(y * w * c for y, w, c in rows) / weight
    variance = sum(c * (w * (y - mean)) ** 2 for y, w, c in rows) / weight**2
    return Estimate(mean, variance, 0.0)


@dataclass(frozen=True)
class Difference:
    difference: float
    difference_ci_low: float
    difference_ci_high: float
    standard_error: float
    z: float
    p_value: float


def difference_test(a: Estimate, b: Estimate, z_crit: float = Z_95) -> Difference:
    """a - b for two estimates from independent samples: variance var_a + var_b, a normal
    interval, and the two-sided z-test of no difference, p = erfc(|z| / sqrt 2). With no
    variance at all (every answer of both reviewed, say) there is no test: z 0, p 1."""
    difference = a.mean - b.mean
    se = math.sqrt(a.variance + b.variance)
    if se == 0:
        z, p_value = 0.0, 1.0
    else:
        z = difference / se
        p_value = min(1.0, math.erfc(abs(z) / math.sqrt(2)))
    return Difference(
        difference=difference,
        difference_ci_low=difference - z_crit * se,
        difference_ci_high=difference + z_crit * se,
        standard_error=se,
        z=z,
        p_value=p_value,
    )
