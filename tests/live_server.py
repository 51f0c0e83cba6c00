"""The real app served by uvicorn on a real loopback port, for browsers and HTTP clients."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# Ports assigned to the dashboard's tests on this machine.
PORTS = range(18400, 18500)


def free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class LiveServer:
    """uvicorn.Server in a thread of its own (its own event loop, engine and lifespan)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class RequireKey(BaseHTTPMiddleware):
    """Stands in for API keys: the JSON API answers 401 without `Bearer secret`."""

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        if (
            request.url.path.startswith("/v1/")
            and request.headers.get("authorization") != "Bearer secret"
        ):
            return JSONResponse(
                {"detail": "an API key is required", "code": "unauthorized", "errors": []}, 401
            )
        response: Response = await call_next(request)
        return response
