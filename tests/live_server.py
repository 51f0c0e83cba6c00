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


def listening_socket(port: int | None = None) -> socket.socket:
    """A loopback socket already listening, on `port` or the first free one of PORTS: held
    from here on, so no other test process can take the port before the server starts."""
    for candidate in [port] if port else PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A port just given up (connections in TIME_WAIT) may be taken again at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
            sock.listen(128)
        except OSError:
            sock.close()
            if port:
                raise
            continue
        return sock
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class LiveServer:
    """uvicorn.Server in a thread of its own (its own event loop, engine and lifespan)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        # A given port: a server started again where its clients expect it.
        self.socket = listening_socket(port)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.socket]},
            name="live-server",
            daemon=True,
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.socket.close()
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.socket.close()


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
