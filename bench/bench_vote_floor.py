"""What the stack costs a vote before any of our code runs: instructions per request of an
app that only has the vote route's shape, counted as `instructions.sh` counts the real one.

    python bench/bench_vote_floor.py [--votes 2000] [--connections 8] [LAYERS ...]

The app: FastAPI with the vote's route (`POST /v1/feedback`, the `Request` and one injected
dependency, the body read), answering a fixed 201 JSON body; served by uvicorn as `feedback-api
serve` serves (one worker, uvloop, httptools). Layers are added one at a time, each counted on
its own server: `bare` (the route alone), `middlewares` (plus three plain ASGI middlewares
that wrap `send` as ours do), `handlers` (plus exception handlers, as the app installs).
The difference between the real route's figure and these is what our code and the database
round trip cost; these are the price of FastAPI, Starlette and uvicorn themselves.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HERE = Path(__file__).resolve().parent
ANSWER = b'{"id": "00000000-0000-0000-0000-000000000000", "rating": 1}'


class Passing:
    """A plain ASGI middleware that wraps `send`, as each of ours does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def passing_send(message: Message) -> None:
            await send(message)

        await self.app(scope, receive, passing_send)


async def intake_of(request: Request) -> Any:
    return request.app


def create(layers: str) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/feedback", status_code=201)
    async def vote(request: Request, intake: Annotated[Any, Depends(intake_of)]) -> Response:
        await request.body()
        return Response(ANSWER, status_code=201, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    if layers in ("middlewares", "handlers"):
        for _ in range(3):
            app.add_middleware(Passing)
    if layers == "handlers":

        @app.exception_handler(ValueError)
        async def _value(_: Request, exc: ValueError) -> Response:
            return Response(b"{}", status_code=422)

    return app


LAYERS = ("bare", "middlewares", "handlers")


def bare() -> FastAPI:
    return create("bare")


def middlewares() -> FastAPI:
    return create("middlewares")


def handlers() -> FastAPI:
    return create("handlers")


def count(layers: str, votes: int, connections: int) -> int:
    """Instructions per request of the floor app with `layers`, under callgrind."""
    port = 18900 + os.getpid() % 90
    out = Path(tempfile.mkdtemp(prefix="floor-"))
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/cg.%p",
            sys.executable,
            "-m",
            "uvicorn",
            f"bench.bench_vote_floor:{layers}",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(1)
        load = [sys.executable, str(HERE / "vote_load.py"), str(port)]
        subprocess.run([*load, "300", str(connections)], check=True)
        pid = str(server.pid)
        subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
        subprocess.run([*load, str(votes), str(connections)], check=True)
        subprocess.run(
            ["callgrind_control", "--dump=measured", pid], check=True, capture_output=True
        )
        time.sleep(1)
    finally:
        server.terminate()
        server.wait()
    summary = next(
        line
        for line in (next(out.glob("cg.*.1"))).read_text().splitlines()
        if line.startswith("summary:")
    )
    return int(summary.split()[1]) // votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("layers", nargs="*", default=list(LAYERS), choices=LAYERS)
    parser.add_argument("--votes", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    for layers in args.layers:
        figure = count(layers, args.votes, args.connections)
        print(f"{layers:<12} {figure:>12,} instructions per request", flush=True)


if __name__ == "__main__":
    main()
