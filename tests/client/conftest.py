"""The client against the real server: uvicorn on a loopback port, the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from feedback_api.app import create_app
from feedback_api.config import Settings
from tests.live_server import LiveServer

Serve = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """`with serve(port=None, middleware=None, **settings) as server`: a fresh app each time,
    so a test can stop the server and start another on the same port."""

    @contextmanager
    def _serve(
        port: int | None = None, middleware: Any = None, **overrides: Any
    ) -> Iterator[LiveServer]:
        values = {**settings.model_dump(), "access_log": False, **overrides}
        app = create_app(Settings(**values, _env_file=None))  # type: ignore[call-arg]
        if middleware is not None:
            app.add_middleware(middleware)
        with LiveServer(app, port) as server:
            yield server

    return _serve
