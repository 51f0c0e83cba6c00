"""Every operation in the OpenAPI schema says what it does and the answers it can give."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from feedback_api.config import Settings
from tests.conftest import built_app, in_process

# What no single operation gives all of: the old blanket list on every operation.
BLANKET = {"400", "401", "403", "404", "413", "422", "503"}


@pytest.fixture(scope="module")
async def operations(database_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The served schema, fetched once for the module: generating it takes seconds, and
    every test here only reads it."""
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    async with in_process(built_app(settings)) as client:
        spec = (await client.get("/openapi.json")).json()
    return {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


def _generated(operation: dict[str, Any]) -> str:
    """The summary FastAPI makes of a function's name: "Get Feedback"."""
    name = operation["operationId"].split("_v1")[0].split("__")[0]
    return name.replace("_", " ").title()


async def test_every_operation_has_a_summary_and_a_description(
    operations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert len(operations) > 30
    for key, operation in operations.items():
        summary = operation.get("summary", "")
        assert summary and summary != _generated(operation), key
        assert len(operation.get("description", "").split()) >= 5, key


async def test_no_operation_lists_every_error_and_each_lists_its_own(
    operations: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for key, operation in operations.items():
        answers = set(operation["responses"])
        assert not answers >= BLANKET, key
        assert "422" in answers, key  # a query parameter it does not take, at least
        for code in answers - {"200", "201", "204"}:
            assert operation["responses"][code]["description"], (key, code)
    health = operations[("GET", "/healthz")]["responses"]
    assert set(health) == {"200", "422"}
    assert set(operations[("GET", "/readyz")]["responses"]) == {"200", "422", "503"}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/feedback", {"201", "200", "401", "403", "404", "413", "422", "503"}),
        ("GET", "/v1/feedback", {"200", "400", "401", "403", "422", "503"}),
        ("GET", "/v1/feedback/{feedback_id}", {"200", "401", "403", "404", "422", "503"}),
        ("POST", "/v1/interactions", {"201", "200", "401", "403", "409", "413", "422", "503"}),
        ("GET", "/v1/interactions", {"200", "401", "403", "404", "422", "503"}),
        ("POST", "/v1/traces", {"200", "400", "401", "403", "413", "415", "422", "503"}),
        ("GET", "/v1/metrics/top-queries", {"200", "401", "403", "422", "503"}),
        ("DELETE", "/v1/users/{user_id}", {"200", "401", "403", "422", "503"}),
    ],
)
async def test_an_operation_lists_the_answers_it_can_give(
    operations: dict[tuple[str, str], dict[str, Any]],
    method: str,
    path: str,
    expected: set[str],
) -> None:
    assert set(operations[(method, path)]["responses"]) == expected


async def test_the_access_log_names_the_route_of_the_schema(
    client: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    await client.get("/openapi.json")
    await client.get("/no/such/path")
    await asyncio.sleep(0)  # the access log writes its lines at the end of the loop's turn
    lines = capfd.readouterr().err.splitlines()
    assert any('"route": "/openapi.json"' in line for line in lines), lines
    assert any('"route": "unmatched", "status": 404' in line for line in lines), lines
