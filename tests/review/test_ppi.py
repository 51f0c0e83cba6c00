"""The closed form of PPI++ (from sums) against the reference implementation, ppi_py 0.2.3."""

from __future__ import annotations

import numpy as np
import pytest
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

from feedback_api.review.estimated.ppi import Sums, hajek, ppi_mean, stratified


def _sums(y: np.ndarray, yhat: np.ndarray, unlabelled: np.ndarray) -> Sums:
    s = Sums()
    for value, prediction in zip(y, yhat, strict=True):
        s.add_labelled(float(value), float(prediction))
    for prediction in unlabelled:
        s.add_unlabelled(float(prediction))
    return s


def _reference(
    y: np.ndarray, yhat: np.ndarray, unlabelled: np.ndarray
) -> tuple[float, float, float]:
    point = float(np.ravel(ppi_mean_pointestimate(y, yhat, unlabelled))[0])
    low, high = ppi_mean_ci(y, yhat, unlabelled, alpha=0.05)
    return point, float(np.ravel(low)[0]), float(np.ravel(high)[0])


@pytest.mark.parametrize("seed", range(8))
def test_equals_ppi_py_on_random_votes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, big_n = int(rng.integers(5, 400)), int(rng.integers(20, 5000))
    truth = rng.random(n + big_n) < rng.uniform(0.3, 0.9)
    # Thumbs that agree with the truth more or less: a share of up-votes per answer,
    # some answers with a segment's fallback value.
    noise = rng.uniform(0.0, 0.6)
    votes = rng.integers(1, 4, size=n + big_n)
    ups = rng.binomial(votes, np.where(truth, 1 - noise / 2, noise / 2))
    yhat_all = ups / votes
    yhat_all[rng.random(n + big_n) < 0.3] = rng.uniform(0.4, 0.8)
    y, yhat, unlabelled = truth[:n].astype(float), yhat_all[:n], yhat_all[n:]
    estimate = ppi_mean(_sums(y, yhat, unlabelled))
    assert estimate is not None
    point, low, high = _reference(y, yhat, unlabelled)
    low_ours, high_ours = estimate.interval()
    assert estimate.mean == pytest.approx(point, abs=1e-6)
    assert low_ours == pytest.approx(low, abs=1e-6)
    assert high_ours == pytest.approx(high, abs=1e-6)


@pytest.mark.parametrize("correlation", [-1.0, 0.0, 1.0])
def test_lambda_clipped_like_ppi_py(correlation: float) -> None:
    """Predictions against the truth (lambda clipped to 0), unrelated to it, and equal to
    it: every case equals the reference."""
    rng = np.random.default_rng(7)
    y = (rng.random(60) < 0.6).astype(float)
    if correlation > 0:
        yhat = y.copy()
    elif correlation < 0:
        yhat = 1 - y
    else:
        yhat = rng.random(60)
    unlabelled = rng.random(40)
    estimate = ppi_mean(_sums(y, yhat, unlabelled))
    assert estimate is not None
    point, low, high = _reference(y, yhat, unlabelled)
    assert 0.0 <= estimate.lam <= 1.0
    if correlation < 0:
        assert estimate.lam == 0.0
    assert estimate.mean == pytest.approx(point, abs=1e-6)
    assert estimate.interval() == pytest.approx((low, high), abs=1e-6)


def test_constant_predictions_give_the_classical_interval() -> None:
    y = np.array([1.0, 0.0, 1.0, 1.0])
    estimate = ppi_mean(_sums(y, np.full(4, 0.5), np.full(10, 0.5)))
    assert estimate is not None and estimate.lam == 0.0
    assert estimate.mean == pytest.approx(0.75)
    assert estimate.variance == pytest.approx(np.var(y) / 4)
    assert ppi_mean(Sums()) is None


def test_strata_combine_by_their_answers() -> None:
    rng = np.random.default_rng(3)
    parts = []
    for n, big_n in ((50, 950), (40, 160)):
        y = (rng.random(n) < 0.7).astype(float)
        parts.append((n + big_n, ppi_mean(_sums(y, rng.random(n), rng.random(big_n)))))
    combined = stratified(parts)
    assert combined is not None
    first, second = parts[0][1], parts[1][1]
    assert first is not None and second is not None
    assert combined.mean == pytest.approx(0.833333333 * first.mean + 0.166666667 * second.mean)
    assert combined.variance == pytest.approx(
        (1000 / 1200) ** 2 * first.variance + (200 / 1200) ** 2 * second.variance
    )
    assert stratified([(10, first), (5, None)]) is None


def test_hajek_weights_by_the_inverse_probability() -> None:
    estimate = hajek([(1.0, 0.5, 3), (0.0, 0.1, 1)])
    assert estimate is not None
    # weights 2, 2, 2 and 10: 6 / 16
    assert estimate.mean == pytest.approx(6 / 16)
    expected = (3 * (2 * (1 - 6 / 16)) ** 2 + (10 * (6 / 16)) ** 2) / 16**2
    assert estimate.variance == pytest.approx(expected)
    assert hajek([(1.0, 0.2, 0)]) is None
