"""Unknown query parameters are a 422 naming them, on every operation of the API.

A typo (`?modle=x`) or a filter an operation does not have would otherwise be ignored, and
the caller would take an unfiltered answer for a filtered one. Bodies refuse unknown
fields already (their schemas forbid extras); this does the same for query strings.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from feedback_api.exception_handlers import app_error_response
from feedback_api.exceptions import InvalidInput

# Paths seen with a query string, remembered up to this many (ids make paths many).
_REMEMBERED = 4_096


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters an operation reads: its own and its dependencies'."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names.update(f.alias or n for n, f in annotation.model_fields.items())
            else:
                names.add(field.alias)
        stack.extend(current.dependencies)
    return frozenset(names)


def unknown_parameters(sent: list[str], allowed: frozenset[str]) -> InvalidInput:
    unknown = list(dict.fromkeys(name for name in sent if name not in allowed))
    takes = (
        f"this operation takes {', '.join(sorted(allowed))}"
        if allowed
        else "this operation takes no query parameters"
    )
    errors = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        errors.append(
            {"field": name, "message": f"not a query parameter of this operation{hint}",
             "type": "extra_forbidden"}
        )  # fmt: skip
    listed = ", ".join(repr(name) for name in unknown)
    first_hint = errors[0]["message"].partition(";")[2]
    return InvalidInput(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {listed}: {takes}"
        + (f" ({first_hint.strip()})" if len(unknown) == 1 and first_hint else ""),
        errors=errors,
    )


class UnknownQueryParameters:
    """Plain ASGI middleware: a request without a query string costs one call and one test
    (the votes come without one); with one, its operation is found as the router finds it (the first
    route that matches, in the router's order) and the names are compared with the ones
    that operation's parameters declare, worked out once per path and method.

    Pages and assets outside the API schema (the dashboard, feedback.js, /docs) are left
    alone: browsers and caches add query strings of their own to those.
    """

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._allowed: dict[tuple[str, str], frozenset[str] | None] = {}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine function: without a query string the caller awaits the next
        # layer's coroutine itself, and no frame of ours stays in the request's await chain
        # (a frame there costs every suspension of the request: measured,
        # docs/benchmarks/ingest.md).
        if scope["type"] != "http" or not scope["query_string"]:
            return self.app(scope, receive, send)
        return self._checked(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope["method"], scope["path"])
        allowed = self._allowed.get(key, ...)
        if allowed is ...:
            allowed = self._operation_names(scope)
            if len(self._allowed) >= _REMEMBERED:
                self._allowed.clear()
            self._allowed[key] = allowed
        if allowed is not None:
            sent = [name for name, _ in parse_qsl(scope["query_string"].decode("latin-1"),
                                                  keep_blank_values=True)]  # fmt: skip
            if any(name not in allowed for name in sent):
                await app_error_response(unknown_parameters(sent, allowed))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _operation_names(self, scope: Scope) -> frozenset[str] | None:
        """The query names of the operation the request goes to; None where no operation of
        the API schema answers it (a 404, a 405, a page)."""
        probe: dict[str, Any] = dict(scope)  # matching may add keys; the request is not ours
        for context in iter_route_contexts(self.api.routes):
            match, _ = context.matches(probe)
            if match is Match.FULL:
                dependant = getattr(context, "dependant", None)
                if dependant is None or not getattr(context, "include_in_schema", False):
                    return None
                return query_names(dependant)
        return None
