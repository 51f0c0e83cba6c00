"""A client that leaves while its body is being read is no server error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.live_server import LiveServer


@pytest.fixture
def served(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(database_url=database_url, refresh_enabled=False, _env_file=None)  # type: ignore[call-arg]
    with LiveServer(create_app(settings)) as server:
        yield server


def _answered(metrics: str, status: str) -> float:
    pattern = (
        r'feedback_api_http_requests_total\{method="POST",route="/v1/feedback",'
        rf'status="{status}"\}} ([0-9.e+]+)'
    )
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def test_a_body_cut_short_by_the_client_is_counted_as_499_not_500(
    served: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        before = (await client.get("/metrics")).text
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        # Announces 1,000 bytes, sends 10, and leaves.
        writer.write(
            b"POST /v1/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"query": '
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        for _ in range(400):  # the server notices when it next reads the socket (< 20 s)
            after = (await client.get("/metrics")).text
            if _answered(after, "499") > _answered(before, "499"):
                break
            await asyncio.sleep(0.05)
    assert _answered(after, "499") == _answered(before, "499") + 1
    assert _answered(after, "500") == _answered(before, "500")
