"""FeedbackClient and AsyncFeedbackClient: queue, return at once, send in the background."""

from __future__ import annotations

import asyncio
import atexit
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from feedback_api_client.engine import ClientStats, Engine

logger = logging.getLogger("feedback_api_client")


def _fields(**fields: Any) -> dict[str, Any]:
    """The body of a request: the fields given, without the ones left at None."""
    return {name: value for name, value in fields.items() if value is not None}


class _Base:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        spool_dir: str | Path | None = None,
        max_queue: int = 100_000,
        max_batch_items: int = 500,
        max_batch_bytes: int = 512 * 1024,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 300.0,
        not_found_retries: int = 6,
        close_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.close_timeout = close_timeout
        self._engine = Engine(
            base_url,
            api_key,
            max_queue=max_queue,
            max_batch_items=max_batch_items,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            timeout=timeout,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=retry_after_max,
            not_found_retries=not_found_retries,
            spool_dir=spool_dir,
            headers=headers,
            transport=transport,
        )
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self._engine.close(self.close_timeout)

    def log_interaction(
        self,
        *,
        query: str,
        response: str,
        model: str,
        request_id: str | None = None,
        intent: str | None = None,
        project: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        response_time_ms: int | None = None,
        sources_used: Any = None,
        tools_called: list[str] | None = None,
        memory_used: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_at: datetime | str | None = None,
        **extra: Any,
    ) -> str:
        """Queue one exchange for `POST /v1/interactions`; returns its request_id at once.

        The request_id is generated here when not given: it is the exchange's idempotency
        key, and what the frontend votes on. Fields other than these are sent as given.
        """
        request_id = request_id or str(uuid.uuid4())
        try:
            body = _fields(
                request_id=request_id,
                query=query,
                response=response,
                model=model,
                intent=intent,
                project=project,
                user_id=user_id,
                session_id=session_id,
                response_time_ms=response_time_ms,
                sources_used=sources_used,
                tools_called=tools_called,
                memory_used=memory_used,
                metadata=metadata,
                created_at=created_at,
                **extra,
            )
            self._engine.put("interaction", body, request_id, request_id)
        except Exception:  # never into the caller's request
            logger.exception("could not queue an interaction")
        return request_id

    def feedback(
        self,
        *,
        request_id: str | None = None,
        is_helpful: bool | None = None,
        rating: int | None = None,
        stars: int | None = None,
        comment: str | None = None,
        user_id: str | None = None,
        feedback_token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        query: str | None = None,
        response: str | None = None,
        model: str | None = None,
        created_at: datetime | str | None = None,
        **extra: Any,
    ) -> str | None:
        """Queue one vote for `POST /v1/feedback`, in either of its shapes; returns the
        request_id it is about (None when it names none).

        * by reference: `request_id` of a logged exchange, `is_helpful`, optional `rating`
          (1-5 stars), `comment`, `user_id`; with an API key, or with the exchange's
          `feedback_token` (such votes go one request each, where the server takes tokens);
        * with its context: `query`, `response`, `model`, `rating` (+1/-1) and the
          exchange's other fields (intent, project, ...) in `extra`; a request_id is
          generated when not given, so that a retry stores one exchange and one vote.
        """
        if query is not None and request_id is None:
            request_id = str(uuid.uuid4())
        try:
            body = _fields(
                request_id=request_id,
                is_helpful=is_helpful,
                rating=rating,
                stars=stars,
                comment=comment,
                user_id=user_id,
                feedback_token=feedback_token,
                metadata=metadata,
                query=query,
                response=response,
                model=model,
                created_at=created_at,
                **extra,
            )
            self._engine.put("feedback", body, str(uuid.uuid4()), request_id)
        except Exception:
            logger.exception("could not queue a vote")
        return request_id

    def stats(self) -> ClientStats:
        """Counts of what was queued, stored, refused and retried, and the last error."""
        return self._engine.stats()


class FeedbackClient(_Base):
    """Logs exchanges and votes to feedback-api from a background thread.

    `log_interaction` and `feedback` only queue and return (no network on the caller's
    path, also while the server is down); errors are logged and counted (`stats()`), never
    raised. `flush()` waits for the queue to drain; `close()` (or leaving a `with` block, or
    the interpreter exiting) flushes for up to `close_timeout` seconds and stops the worker.

    The queue holds up to `max_queue` items; when it is full, new items are dropped and
    counted (`stats().overflowed`): the items already queued (the older exchanges the newer
    votes name) are kept. With `spool_dir`, every queued item is also written to a SQLite
    file there before the call returns, so a process restart or crash loses nothing queued:
    the next client on the same directory sends it.
    """

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is stored or refused; False if `timeout`
        (seconds) ran out first."""
        return self._engine.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush for up to `timeout` seconds (default `close_timeout`), then stop."""
        atexit.unregister(self._at_exit)
        self._engine.close(self.close_timeout if timeout is None else timeout)

    def __enter__(self) -> FeedbackClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncFeedbackClient(_Base):
    """FeedbackClient for asyncio applications: the same queue and worker thread.

    `log_interaction` and `feedback` are plain methods (queueing never waits, so there is
    nothing to await); `flush` and `close` are coroutines that wait without blocking the
    event loop.
    """

    # A timeout parameter (not asyncio.timeout): the same call as the sync client's, and
    # running out of time is an answer (False), not an exception.
    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until everything queued so far is stored or refused; False if `timeout`
        (seconds) ran out first."""
        return await asyncio.to_thread(self._engine.flush, timeout)

    async def close(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Flush for up to `timeout` seconds (default `close_timeout`), then stop."""
        atexit.unregister(self._at_exit)
        await asyncio.to_thread(
            self._engine.close, self.close_timeout if timeout is None else timeout
        )

    async def __aenter__(self) -> AsyncFeedbackClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
