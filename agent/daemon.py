"""The daemon: config, core, BMP listeners/connectors, HTTP and components, with a life cycle.

``Daemon.start()`` binds HTTP first (``/readyz`` answers 503), then every BMP
listener (then ``/readyz`` is 200), then starts the connectors and the
components. ``Daemon.stop()`` closes listeners, connectors and router
sessions (``core.close_session`` for each) and HTTP, within
``SHUTDOWN_TIMEOUT``. ``Daemon.reload()`` (SIGHUP) re-reads the config and
applies what is safe at run time.

The daemon knows no component by name: ``agent.app`` (the composition root)
builds it, builds each component from it (it is their ``agent.host.Host``)
and adds them with ``add_component`` before ``start()``; ``c.start(host)``,
``c.stop()`` and ``c.reload(config) -> list[str]`` (keys it could not apply).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from . import __version__, log
from .config import Config, ConfigError, Endpoint
from .export.http import HttpServer, json_handler
from .host import Component, Handler
from .sources.bmp.connector import Connector
from .sources.bmp.listener import Routers, bound_addresses, start_listeners

#: Graceful shutdown must finish within this many seconds (SIGTERM → exit).
SHUTDOWN_TIMEOUT = 4.0


class StartupError(RuntimeError):
    """The daemon cannot start (a listen address cannot be bound, ...)."""


class Daemon:
    """Implements ``agent.host.Host`` for the components built on it."""

    def __init__(
        self,
        config: Config,
        *,
        core: Any,
        registry: CollectorRegistry,
        loader: Callable[[], Config] | None = None,
        views: Any = None,
    ) -> None:
        self.config = config
        self.loader = loader
        self.core = core
        self.registry = registry
        self.routers = Routers(self.core, config.bmp)
        self.http = HttpServer(
            self.core, registry, ready=lambda: self.ready, views=views, config=config.http
        )
        self.servers: list[asyncio.base_events.Server] = []
        self.connectors: dict[Endpoint, Connector] = {}
        self.components: list[Component] = []
        self.bmp_addresses: list[Endpoint] = []
        self.http_addresses: list[Endpoint] = []
        self.ready = False
        self.stopped = asyncio.Event()
        self.log = log.get_logger(component="daemon")

    # -- agent.host.Host --------------------------------------------------------

    def add_get(self, path: str, handler: Handler) -> None:
        self.http.add_get(path, handler)

    def add_json_get(
        self,
        path: str,
        fn: Callable[[web.Request], Any],
        *,
        params: tuple[str, ...] | None = (),
    ) -> None:
        self.http.add_get(path, json_handler(fn, params=params))

    def register_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def add_metrics_text(self, fn: Callable[[], str]) -> None:
        self.http.metrics_text.append(fn)

    # -- components -------------------------------------------------------------

    def add_component(self, component: Component) -> None:
        self.components.append(component)

    def component(self, name: str) -> Component | None:
        """The component called ``name`` (``"fib"``, ``"health"``, ``"bird"``), if added."""
        return next((c for c in self.components if c.name == name), None)

    async def start(self) -> None:
        cfg = self.config
        self.log.info("bmp-agent starting", version=__version__)
        try:
            self.http_addresses = await self.http.start(
                cfg.http.listen, cfg.http.web_config, ipv6_only=cfg.http.ipv6_only
            )
            self.log.info("http listening", addresses=[str(a) for a in self.http_addresses])
            self.servers = await start_listeners(self.routers, cfg.bmp.listen)
        except OSError as exc:
            await self.http.stop()
            raise StartupError(exc.strerror or str(exc)) from exc
        self.bmp_addresses = [a for s in self.servers for a in bound_addresses(s)]
        self.log.info("bmp listening", addresses=[str(a) for a in self.bmp_addresses])
        for target in cfg.bmp.connect:
            self._start_connector(target)
        for comp in self.components:
            await comp.start(self)
        self.ready = True
        self.log.info("bmp-agent ready")

    def _start_connector(self, target: Endpoint) -> None:
        conn = Connector(self.routers, target)
        self.connectors[target] = conn
        conn.start()
        self.log.info("bmp connecting", target=str(target))

    async def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.ready = False
        self.log.info("bmp-agent stopping", routers=len(self.routers.connections))
        try:
            await asyncio.wait_for(self._stop(), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            self.log.warning("shutdown timed out", timeout=SHUTDOWN_TIMEOUT)
        self.stopped.set()
        self.log.info("bmp-agent stopped")
        log.flush()

    async def _stop(self) -> None:
        for s in self.servers:
            s.close()
        for comp in reversed(self.components):
            try:
                await comp.stop()
            except Exception:
                self.log.exception("component failed to stop", name=comp.name)
        await asyncio.gather(*(c.stop() for c in self.connectors.values()))
        self.routers.close_all("shutdown")
        await self.routers.wait_closed()
        for s in self.servers:
            with contextlib.suppress(Exception):
                await s.wait_closed()
        await self.http.stop()

    def reload(self) -> list[str]:
        """Re-read the config; apply what is safe; return the keys not applied."""
        if self.loader is None:
            self.log.warning("reload requested but there is no config source to re-read")
            return []
        if not self.ready:
            self.log.warning("reload ignored: the agent is starting or stopping")
            return []
        try:
            new = self.loader()
        except ConfigError as exc:
            self.log.error("config reload failed, keeping the running config", error=str(exc))
            return []
        old = self.config
        applied: list[str] = []
        not_applied: list[str] = []
        if new.log.level != old.log.level:
            log.set_level(new.log.level)
            applied.append("log.level")
        if new.log.format != old.log.format:
            not_applied.append("log.format")
        if new.bmp.listen != old.bmp.listen:
            not_applied.append("bmp.listen")
        if new.http.listen != old.http.listen:
            not_applied.append("http.listen")
        if new.http.web_config != old.http.web_config:
            not_applied.append("http.web_config")
        # Live limits: new connections see them, live ones keep going.
        settings = dataclasses.replace(new.bmp, listen=old.bmp.listen)
        for f in ("allow", "max_routers", "idle_timeout", "max_message_size"):
            if getattr(new.bmp, f) != getattr(old.bmp, f):
                applied.append(f"bmp.{f}")
        for f in ("reconnect_min", "reconnect_max"):
            if getattr(new.bmp, f) != getattr(old.bmp, f):
                applied.append(f"bmp.{f}")
        self.routers.settings = settings
        if new.bmp.connect != old.bmp.connect:
            for target in set(old.bmp.connect) - set(new.bmp.connect):
                conn = self.connectors.pop(target, None)
                if conn is not None:
                    asyncio.get_running_loop().create_task(conn.stop())
            for target in new.bmp.connect:
                if target not in self.connectors:
                    self._start_connector(target)
            applied.append("bmp.connect")
        if new.rib != old.rib:
            if self._reload_core(new):
                applied.extend(
                    f"rib.{f}"
                    for f in ("flap_window", "top_flaps")
                    if getattr(new.rib, f) != getattr(old.rib, f)
                )
            else:
                not_applied.append("rib")
        for comp in self.components:
            not_applied.extend(comp.reload(new))
        # Keep the running values for what was not applied.
        self.config = dataclasses.replace(
            new,
            bmp=settings,
            http=old.http,
            log=dataclasses.replace(new.log, format=old.log.format),
        )
        self.log.info(
            "config reloaded",
            applied=applied,
            not_applied=not_applied,
        )
        if not_applied:
            self.log.warning("config changes need a restart", keys=not_applied)
        return not_applied

    def _reload_core(self, new: Config) -> bool:
        settings = getattr(self.core, "settings", None)
        if settings is None or not dataclasses.is_dataclass(settings):
            return False
        settings = cast(Any, settings)
        # The core reads its settings on every use: the flap window applies
        # to the next withdrawal, top_flaps to the next API/metrics read.
        self.core.settings = dataclasses.replace(
            settings, flap_window=new.rib.flap_window, top_flaps=new.rib.top_flaps
        )
        return True
