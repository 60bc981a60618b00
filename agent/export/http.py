"""HTTP server (aiohttp): metrics, health, and the JSON API.

- ``/metrics``: Prometheus exposition of the agent's registry (process,
  platform and GC collectors plus the core's collector, see ``agent.daemon``).
- ``/healthz``: 200 while the event loop runs.
- ``/readyz``: 200 once every BMP listener is bound, 503 before.
- ``/api/v1/routers``, ``/api/v1/peers``, ``/api/v1/routes``, ``/api/v1/flaps``:
  JSON from ``agent.export.views``. Bad query parameters give 400 with
  ``{"error": "..."}``.

Limits (``http.*`` in ``agent.config``; counted in
``bmp_http_rejected_total{reason}``):

- at most ``max_concurrent_api`` ``/api/`` requests run at once; beyond it a
  429 with ``Retry-After: 1`` (``reason="busy"``);
- at most ``max_connections`` open connections, and never so many that fewer
  than ``fd_reserve`` descriptors stay free below ``RLIMIT_NOFILE`` (kept for
  BMP sessions); beyond it a new connection gets a 503 and is closed
  (``reason="connections"``). The soft descriptor limit is raised to the hard
  one at start;
- idle connections (before the first request, between keep-alive requests,
  or with half-sent headers) close after ``keepalive_timeout``, a request
  body may take ``body_timeout`` (aiohttp ``keepalive_timeout`` and
  ``lingering_time``); request line and header sizes are aiohttp's
  ``max_line_size``, ``max_field_size``, ``max_headers``;
- a request takes at most ``request_timeout`` seconds, answer included; a
  client that reads slower is cut off (``reason="timeout"``);
- ``limit`` is at most ``max_limit``: larger answers only by following the
  cursor (``next`` → ``?cursor=``);
- streamed answers together use at most ``api_share`` of the event loop's
  time (``agent.pages.Pacer``): under load they slow down, ingest and
  ``/metrics`` do not.

``/api/v1/routes`` streams its answer in slices (``agent.pages.stream_json``):
it walks a sorted index of each table, never the whole table, and waits for
the client to read, so a client that never reads holds a bounded amount.

Later endpoints (``/api/v1/fib/diff``, ``/api/v1/health``) are added with
``HttpServer.add_get(path, handler)`` before ``start()``; a handler is any
``async (request) -> web.StreamResponse``, or use ``agent.httpjson.json_handler``
to wrap a plain function returning JSON-ready data.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import resource
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from parsers.bmp.messages import VIEWS

from ..config import Endpoint, HttpConfig
from ..httpjson import (
    BadRequest,
    Handler,
    check_params,
    error_response,
    json_handler,
)
from ..log import get_logger, os_reason
from ..netaddr import listen_socket
from ..pages import PACER, CursorError, stream_json
from .metrics import FamiliesCollector, Family

#: The exposition format /metrics renders (text 0.0.4).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROUTE_PARAMS = ("router", "peer", "view", "prefix", "limit", "cursor")
#: Default ``http.max_limit``.
MAX_LIMIT = HttpConfig().max_limit
#: What a connection beyond the limit gets before it is closed.
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 20\r\n\r\ntoo many connections"
)
REJECT_REASONS = ("busy", "connections", "timeout")
#: Listen backlog of the HTTP socket: a burst of connections waits in the
#: kernel to be accepted (held or refused) instead of retrying its handshake.
HTTP_BACKLOG = 1024


def parse_limit(value: str | None, max_limit: int, default: int | None) -> int | None:
    """``limit``: 1 to ``max_limit``; more only by cursor."""
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(f"limit {value!r} is not an integer between 1 and {max_limit}")
    if int(value) > max_limit:
        raise BadRequest(
            f"limit {value} is above the maximum of {max_limit} per request "
            "(http.max_limit); follow 'next' (?cursor=) for more"
        )
    return int(value)


def route_filters(request: web.Request, max_limit: int = MAX_LIMIT) -> dict[str, Any]:
    """``router``, ``peer`` (label or address), ``view`` (one of ``VIEWS``),
    ``prefix`` (prefix or address: exact, else longest match), ``limit``, ``cursor``."""
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
    limit = parse_limit(params.get("limit"), max_limit, None)
    if limit is not None:
        out["limit"] = limit
    if "cursor" in params:
        out["cursor"] = params["cursor"]
    return out


class HttpCollector(FamiliesCollector):
    """``bmp_http_*``: connections, API requests in progress, rejections."""

    FAMILIES = (
        (GaugeMetricFamily, "bmp_http_connections", "Open HTTP connections.", ()),
        (GaugeMetricFamily, "bmp_http_connection_limit", "Open HTTP connections allowed "
         "(http.max_connections, less the BMP fd reserve).", ()),
        (GaugeMetricFamily, "bmp_http_api_requests", "API requests being answered.", ()),
        (CounterMetricFamily, "bmp_http_rejected", "HTTP requests or connections turned away: "
         "busy (429, http.max_concurrent_api), connections (503, http.max_connections), "
         "timeout (http.request_timeout).", ("reason",)),
    )  # fmt: skip

    def __init__(self, server: HttpServer) -> None:
        self.server = server

    def fill(self, families: list[Family]) -> list[Family]:
        s = self.server
        conns, cap, active, rejected = families
        conns.add_metric([], s.open_connections())
        cap.add_metric([], s.connection_cap)
        active.add_metric([], s.api_active)
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], s.rejected[reason])
        return families


class _Refused(asyncio.Protocol):
    """A connection beyond the limit: a 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSED)
        transport.close()


def raise_nofile() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class HttpServer:
    def __init__(
        self,
        core: Any,
        registry: CollectorRegistry,
        *,
        ready: Callable[[], bool] = lambda: True,
        views: Any = None,
        config: HttpConfig | None = None,
    ) -> None:
        if views is None:
            from . import views as views_module

            views = views_module
        self.core = core
        self.registry = registry
        self.config = config if config is not None else HttpConfig()
        #: Exposition text appended to ``/metrics`` after the registry's
        #: (``agent.export.metrics.CoreCollector.table_text``).
        self.metrics_text: list[Callable[[], str]] = []
        self.ready = ready
        self.views = views
        self.log = get_logger(component="http")
        self.api_active = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.connection_cap = self.config.max_connections
        PACER.share = self.config.api_share
        self._accepted = 0
        self.app = web.Application(middlewares=[self._limits])
        self.runner: web.AppRunner | None = None
        self._server: asyncio.base_events.Server | None = None
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
        self.add_get("/api/v1/routes", self._routes)
        self.add_get("/api/v1/flaps", json_handler(lambda r: v.flaps(self.core)))

    def add_get(self, path: str, handler: Handler) -> None:
        """Register a GET endpoint (before ``start``)."""
        self.app.router.add_get(path, handler)

    # -- limits -----------------------------------------------------------------

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``/api/`` requests: at most ``max_concurrent_api`` at once (429 beyond);
        every request: at most ``request_timeout`` seconds."""
        api = request.path.startswith("/api/")
        if api:
            if self.api_active >= self.config.max_concurrent_api:
                self.rejected["busy"] += 1
                resp = error_response(
                    429,
                    f"{self.api_active} API requests in progress "
                    f"(http.max_concurrent_api); retry later",
                )
                resp.headers["Retry-After"] = "1"
                return resp
            self.api_active += 1
        try:
            async with asyncio.timeout(self.config.request_timeout):
                return await handler(request)
        except TimeoutError:
            self.rejected["timeout"] += 1
            self.log.debug("http request timed out", path=request.path)
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable(text="request timed out\n") from None
        finally:
            if api:
                self.api_active -= 1

    def open_connections(self) -> int:
        """Connections held: aiohttp's, plus those accepted whose
        ``connection_made`` has not run yet (asyncio accepts up to a backlog
        of connections before it calls any of them)."""
        server = self.runner.server if self.runner is not None else None
        if server is None:
            return 0
        conns = getattr(server, "_connections", None)
        held = len(conns) if conns is not None else len(server.connections)
        return held + self._accepted

    def _protocol(self) -> asyncio.BaseProtocol:
        """One protocol per accepted connection: aiohttp's, or a refusal."""
        assert self.runner is not None and self.runner.server is not None
        if self.open_connections() >= self.connection_cap:
            self.rejected["connections"] += 1
            return _Refused()
        # asyncio schedules connection_made (which registers the handler with
        # aiohttp) after this; count it meanwhile. The reset is scheduled
        # before those calls and no accept runs between them.
        if not self._accepted:
            asyncio.get_running_loop().call_soon(self._reset_accepted)
        self._accepted += 1
        return self.runner.server()

    def _reset_accepted(self) -> None:
        self._accepted = 0

    # -- endpoints --------------------------------------------------------------

    async def _routes(self, request: web.Request) -> web.StreamResponse:
        try:
            filters = route_filters(request, self.config.max_limit)
            filters.setdefault("limit", min(self.views.DEFAULT_LIMIT, self.config.max_limit))
            pages = self.views.RoutePages(self.core, **filters)
        except (ValueError, CursorError) as exc:
            return error_response(400, str(exc))
        resp: web.StreamResponse = await stream_json(
            request, {}, "routes", pages.items(), pages.tail
        )
        return resp

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
        cfg = self.config
        soft, _hard = raise_nofile()
        self.connection_cap = max(1, min(cfg.max_connections, soft - cfg.fd_reserve - open_fds()))
        self.runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            keepalive_timeout=cfg.keepalive_timeout,
            lingering_time=cfg.body_timeout,
            max_line_size=cfg.max_line_size,
            max_field_size=cfg.max_field_size,
            max_headers=cfg.max_headers,
        )
        await self.runner.setup()
        loop = asyncio.get_running_loop()
        try:
            sock = listen_socket(endpoint.host, endpoint.port, ipv6_only=ipv6_only)
            if sock is not None:  # [::] is dual-stack (agent.netaddr)
                server = await loop.create_server(
                    self._protocol, sock=sock, ssl=ssl_context, backlog=HTTP_BACKLOG
                )
            else:
                server = await loop.create_server(
                    self._protocol,
                    endpoint.host,
                    endpoint.port,
                    reuse_address=True,
                    ssl=ssl_context,
                    backlog=HTTP_BACKLOG,
                )
        except OSError as exc:
            await self.runner.cleanup()
            self.runner = None
            raise OSError(
                exc.errno, f"cannot listen for HTTP on {endpoint}: {os_reason(exc)}"
            ) from exc
        self._server = server
        self.addresses = [
            Endpoint(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in server.sockets
        ]
        self.log.info(
            "http limits",
            max_connections=self.connection_cap,
            nofile=soft,
            fd_reserve=cfg.fd_reserve,
            max_concurrent_api=cfg.max_concurrent_api,
        )
        return self.addresses

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
