"""Structured JSON logs with a request id, and Prometheus metrics.

Logs never carry query or response text, request bodies, query strings or raw user ids:
only the route template (`/v1/feedback/{feedback_id}`), status and timing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


REQUESTS = Counter(
    "feedback_api_http_requests_total", "HTTP requests", ["method", "route", "status"]
)


LATENCY = Histogram(
    "feedback_api_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


POOL_CHECKED_OUT = Gauge(
    "feedback_api_db_pool_checked_out",
    "Database connections in use",
    multiprocess_mode="livesum",
)


REFRESH_DURATION = Histogram(
    "feedback_api_analytics_refresh_duration_seconds",
    "Analytics refresh duration",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


EXPORT_RUNS = Counter(
    "feedback_api_export_runs_total", "Dataset files written by the weekly job", ["format"]
)


OTEL_SPANS = Counter(
    "feedback_api_otel_spans_total",
    "Spans received by POST /v1/traces, by what became of them: stored (an interaction), "
    "ignored (not a GenAI inference span, or a tool-calling step) or rejected",
    ["outcome"],
)


# Attributes every LogRecord has: what is not among them came with `extra=`. (uvicorn's
# color_message is the message again with terminal colour codes.)
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


def log_time(created: float) -> str:
    """A log line's time, as logging's default (`2026-12-01 09:31:09,123`, local time)."""
    global _second
    second, text = _second
    if second != int(created):
        second = int(created)
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        _second = (second, text)  # one assignment: threads see a pair that matches
    return f"{text},{int((created - second) * 1000):03d}"


_second: tuple[int, str] = (-1, "")  # the last second formatted, as (second, text)


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, the `extra` fields."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return super().formatTime(record, datefmt) if datefmt else log_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for everything, uvicorn included; its access log is ours."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    handler.addFilter(_RequestIdFilter())
    # Where a call was made from, and thread and process names, are not in our lines: not
    # collecting them saves a stack walk per line (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log and httpx's request log print query strings, which may carry
    # user ids.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)


class AccessLog:
    """The access log: one JSON line per request on stderr, in the shape of the other lines.

    Written here rather than through `logging`: a record, its handlers and a generic JSON
    formatter cost six times this line's instructions (decisions/026, "Alternatives").
    Every value in it is one this service chose or checked (a route template, a token-only
    HTTP method, a request id of safe characters), so none needs JSON escaping.

    The lines of the requests that end in one turn of the event loop are written together,
    at the end of that turn: one system call for all of them rather than one each. Where
    stderr is a pipe (a container's or a service manager's log), each write wakes the
    reader: one line a write cost 4-5 % of the vote rate (docs/benchmarks/ingest.md). Outside an
    event loop (a line written from a thread) a line is written at once.
    """

    def __init__(self) -> None:
        self._pending: list[str] = []
        # The loop whose turn will write the pending lines (None: no write scheduled). A
        # loop that closed before its turn came leaves its lines to the next one's write.
        self._flushing: asyncio.AbstractEventLoop | None = None

    def write(self, method: str, route: str, status: int, seconds: float, rid: str) -> None:
        line = (
            f'{{"time": "{log_time(time.time())}", "level": "INFO", '
            f'"logger": "feedback_api.access", "message": "request", "method": "{method}", '
            f'"route": "{route}", "status": {status}, "duration_ms": {round(seconds * 1000, 2)}, '
            f'"request_id": "{rid}"}}\n'
        )
        self._pending.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._flushing is not loop:
            self._flushing = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines waiting for the end of this turn of the loop."""
        lines, self._pending, self._flushing = self._pending, [], None
        if lines:
            sys.stderr.write("".join(lines))


def metrics_text(extra: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The exposition text: every worker's metrics in multiprocess mode, else this one's."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    if extra is not None:
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
