"""JSON answers of the HTTP API: responses, query-parameter checks, and the
wrapper that turns a plain function into a GET handler.

Below both the HTTP server (``agent.export.http``) and the daemon's host
interface (``agent.host``), so components add JSON endpoints without
importing an exporter. Imports only aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """A query parameter problem: becomes a 400 with the message."""


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def check_params(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each at most once and all known; else ``BadRequest``."""
    out: dict[str, str] = {}
    for name in request.query:
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise BadRequest(f"unknown parameter {name!r} (allowed: {known})")
        values = request.query.getall(name)
        if len(values) > 1:
            raise BadRequest(f"parameter {name!r} given {len(values)} times")
        value = values[0].strip()
        if not value:
            raise BadRequest(f"parameter {name!r} is empty")
        out[name] = value
    return out


def json_handler(
    fn: Callable[[web.Request], Any], *, params: tuple[str, ...] | None = ()
) -> Handler:
    """Wrap ``fn(request) -> JSON-ready data``; ``BadRequest``/``ValueError`` → 400.

    ``params``: allowed query parameters (checked before ``fn``); None skips the check.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            if params is not None:
                check_params(request, params)
            data = fn(request)
        except ValueError as exc:
            return error_response(400, str(exc))
        return json_response(data)

    return handler
