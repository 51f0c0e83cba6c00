"""Agreement figures checked against published worked examples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from feedback_api.review.agreement import alpha_interval, alpha_nominal, cohen_kappa
from tests.review.helpers import add, as_open, claim, log_answers, new_queue, submit

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", C: nominal data, four
# observers, missing values (None); alpha = 0.743.
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
# The same paper, A: binary data, two observers, no missing values; alpha = 0.095.
KRIPPENDORFF_A = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]


def _units(table: list[list[Any]]) -> list[list[Any]]:
    return [[row[u] for row in table if row[u] is not None] for u in range(len(table[0]))]


def test_alpha_of_the_published_examples() -> None:
    assert alpha_nominal(_units(KRIPPENDORFF_C)) == pytest.approx(0.743, abs=5e-4)
    assert alpha_nominal(_units(KRIPPENDORFF_A)) == pytest.approx(0.095, abs=5e-4)
    assert alpha_nominal([["a", "a"], ["a", "a"]]) is None  # one value: undefined
    low, high = alpha_interval(_units(KRIPPENDORFF_C))
    assert low is not None and high is not None and low < 0.743 < high


def test_kappa_of_the_textbook_example() -> None:
    # Two readers of 50 grant proposals (Wikipedia, "Cohen's kappa"): both yes 20, both no
    # 15, A yes B no 5, A no B yes 10: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["yes"] * 3, ["yes"] * 3) is None


async def _label_all(
    client: httpx.AsyncClient, queue_id: str, verdicts: dict[str, dict[str, str]]
) -> None:
    """Each reviewer works through the queue, giving the verdict set for each answer."""
    for name, by_request in verdicts.items():
        while (lease := await claim(client, queue_id, as_open(name))) is not None:
            verdict = by_request[lease["interaction"]["request_id"]]
            assert (await submit(client, lease, as_open(name), verdict)).status_code == 201


def _verdict(value: int) -> str:
    return "correct" if value else "incorrect"


async def test_agreement_of_a_queue(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 10)
    queue_id = await new_queue(client, reviewers_per_item=2)
    await add(client, queue_id, ids)
    alice, bob = KRIPPENDORFF_A
    await _label_all(
        client,
        queue_id,
        {
            "alice": {rid: _verdict(v) for rid, v in zip(ids, alice, strict=True)},
            "bob": {rid: _verdict(v) for rid, v in zip(ids, bob, strict=True)},
        },
    )
    # Users' thumbs: up on a correct answer, up on an incorrect one, down on an incorrect
    # one, and a tie (which says nothing); the first answer has no consensus.
    for rid, rating, user in [
        (ids[0], 1, "u"), (ids[1], 1, "u"), (ids[3], 1, "u"), (ids[4], -1, "u"),
        (ids[6], 1, "u"), (ids[6], -1, "v"),
    ]:  # fmt: skip
        body = {"request_id": rid, "rating": rating, "user_id": user}
        assert (await client.post("/v1/feedback", json=body)).status_code == 201
    r = await client.get(f"/v1/review/queues/{queue_id}/agreement")
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["items_with_2_or_more_labels"] == 10
    assert found["krippendorff_alpha"] == pytest.approx(0.095, abs=5e-4)
    assert found["alpha_ci_low"] <= found["krippendorff_alpha"] <= found["alpha_ci_high"]
    assert found["percent_agreement"] == pytest.approx(0.6)
    [pair] = found["pairs"]
    assert (pair["reviewer_a"], pair["reviewer_b"], pair["items"]) == ("alice", "bob", 10)
    # p_o = 0.6; alice says correct 2 in 10, bob 4 in 10: p_e = 0.56.
    assert pair["agreement"] == pytest.approx(0.6)
    assert pair["cohen_kappa"] == pytest.approx((0.6 - 0.56) / 0.44)
    assert found["reviewers"] == [
        {"reviewer": "alice", "labels": 10, "declined": 0, "agreement_with_consensus": 1.0},
        {"reviewer": "bob", "labels": 10, "declined": 0, "agreement_with_consensus": 1.0},
    ]
    assert found["votes_vs_reviews"] == {
        "items": 3, "up_correct": 1, "up_incorrect": 1, "down_correct": 0,
        "down_incorrect": 1, "vote_agreement": pytest.approx(2 / 3),
    }  # fmt: skip
    again = (await client.get(f"/v1/review/queues/{queue_id}/agreement")).json()
    assert again == found  # a fixed seed: the same interval


async def test_kappa_of_a_queue(client: httpx.AsyncClient) -> None:
    ids = await log_answers(client, 50)
    queue_id = await new_queue(client, reviewers_per_item=2)
    await add(client, queue_id, ids)
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    await _label_all(
        client,
        queue_id,
        {
            "ann": {rid: _verdict(v) for rid, v in zip(ids, a, strict=True)},
            "ben": {rid: _verdict(v) for rid, v in zip(ids, b, strict=True)},
        },
    )
    [pair] = (await client.get(f"/v1/review/queues/{queue_id}/agreement")).json()["pairs"]
    assert pair["agreement"] == pytest.approx(0.7) and pair["cohen_kappa"] == pytest.approx(0.4)
