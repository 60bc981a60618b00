"""HTTP server (aiohttp): metrics, health, and the JSON API.

- ``/metrics``: Prometheus exposition of the agent's registry (process,
  platform and GC collectors plus the core's collector, see ``agent.daemon``).
- ``/healthz``: 200 while the event loop runs.
- ``/readyz``: 200 once every BMP listener is bound, 503 before.
- ``/api/v1/routers``, ``/api/v1/peers``, ``/api/v1/routes``, ``/api/v1/flaps``:
  JSON from ``agent.export.views``. Bad query parameters give 400 with
  ``{"error": "..."}``.

Later endpoints (``/api/v1/fib/diff``, ``/api/v1/health``) are added with
``HttpServer.add_get(path, handler)`` before ``start()``; a handler is any
``async (request) -> web.StreamResponse``, or use ``json_handler`` to wrap a
plain function returning JSON-ready data.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from parsers.bmp.messages import VIEWS

from ..config import Endpoint
from ..log import get_logger, os_reason
from ..netaddr import listen_socket

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The exposition format /metrics renders (text 0.0.4).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROUTE_PARAMS = ("router", "peer", "view", "prefix", "limit")
MAX_LIMIT = 1_000_000


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


def route_filters(request: web.Request) -> dict[str, Any]:
    """``router``, ``peer`` (label or address), ``view`` (one of ``VIEWS``),
    ``prefix`` (prefix or address: exact, else longest match), ``limit``."""
    params = check_params(request, ROUTE_PARAMS)
    view = params.get("view")
    if view is not None and view not in VIEWS:
        raise BadRequest(f"view {view!r} is not one of {', '.join(VIEWS)}")
    prefix = params.get("prefix")
    if prefix is not None:
        try:
            ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise BadRequest(f"prefix {prefix!r} is not a prefix or an address") from None
    out: dict[str, Any] = {
        "router": params.get("router"),
        "peer": params.get("peer"),
        "view": view,
        "prefix": prefix,
    }
    limit = params.get("limit")
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise BadRequest(f"limit {limit!r} is not an integer between 1 and {MAX_LIMIT}")
        out["limit"] = int(limit)
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


class HttpServer:
    def __init__(
        self,
        core: Any,
        registry: CollectorRegistry,
        *,
        ready: Callable[[], bool] = lambda: True,
        views: Any = None,
    ) -> None:
        if views is None:
            from . import views as views_module

            views = views_module
        self.core = core
        self.registry = registry
        #: Exposition text appended to ``/metrics`` after the registry's
        #: (``agent.export.metrics.CoreCollector.table_text``).
        self.metrics_text: list[Callable[[], str]] = []
        self.ready = ready
        self.views = views
        self.log = get_logger(component="http")
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.addresses: list[Endpoint] = []
        v = views
        self.add_get("/metrics", self._metrics)
        self.add_get("/healthz", self._healthz)
        self.add_get("/readyz", self._readyz)
        self.add_get("/api/v1/routers", json_handler(lambda r: v.routers(self.core)))
        self.add_get(
            "/api/v1/peers",
            json_handler(
                lambda r: v.peers(self.core, router=r.query.get("router")), params=("router",)
            ),
        )
        self.add_get(
            "/api/v1/routes",
            json_handler(lambda r: v.routes(self.core, **route_filters(r)), params=None),
        )
        self.add_get("/api/v1/flaps", json_handler(lambda r: v.flaps(self.core)))

    def add_get(self, path: str, handler: Handler) -> None:
        """Register a GET endpoint (before ``start``)."""
        self.app.router.add_get(path, handler)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        body = generate_latest(self.registry)
        if self.metrics_text:
            body += "".join(fn() for fn in self.metrics_text).encode()
        resp = web.Response(body=body)
        # The text is format 0.0.4 (generate_latest and the cached table text),
        # whatever CONTENT_TYPE_LATEST of the installed prometheus_client says.
        resp.headers["Content-Type"] = METRICS_CONTENT_TYPE
        resp.enable_compression()  # gzip/deflate when the scraper accepts it
        return resp

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        if self.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")

    async def start(
        self, endpoint: Endpoint, web_config: str = "", *, ipv6_only: bool = False
    ) -> list[Endpoint]:
        """Bind and serve; raise ``OSError`` naming the address when it cannot bind.

        ``web_config``: a web config file (``agent.webconfig``) for TLS and
        basic auth; a bad one raises ``OSError`` too."""
        ssl_context = None
        if web_config:
            from .. import webconfig

            try:
                wc = webconfig.load(web_config)
                ssl_context = wc.ssl_context()
            except webconfig.WebConfigError as exc:
                raise OSError(0, str(exc)) from exc
            auth = wc.middleware()
            if auth is not None:
                self.app.middlewares.append(auth)
            self.log.info(
                "http web config", file=web_config, tls=wc.tls is not None, users=len(wc.users)
            )
        self.runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self.runner.setup()
        site: web.BaseSite
        try:
            sock = listen_socket(endpoint.host, endpoint.port, ipv6_only=ipv6_only)
            if sock is not None:  # [::] is dual-stack (agent.netaddr)
                site = web.SockSite(self.runner, sock, ssl_context=ssl_context)
            else:
                site = web.TCPSite(
                    self.runner,
                    endpoint.host,
                    endpoint.port,
                    reuse_address=True,
                    ssl_context=ssl_context,
                )
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            self.runner = None
            raise OSError(
                exc.errno, f"cannot listen for HTTP on {endpoint}: {os_reason(exc)}"
            ) from exc
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.addresses = [
            Endpoint(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in sockets
        ]
        return self.addresses

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
