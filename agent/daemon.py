"""The daemon: wires config, core, BMP listeners/connectors and HTTP together.

``Daemon.start()`` binds HTTP first (``/readyz`` answers 503), then every BMP
listener (then ``/readyz`` is 200), then starts the connectors and any extra
components. ``Daemon.stop()`` closes listeners, connectors and router
sessions (``core.close_session`` for each) and HTTP, within
``SHUTDOWN_TIMEOUT``. ``Daemon.reload()`` (SIGHUP) re-reads the config and
applies what is safe at run time; ``serve()`` is the async entry point of
``bmp-agent run``.

Later sources (netlink, BIRD sockets) plug in as ``Component``s:
``daemon.add_component(c)`` before ``start()``; ``c.start(daemon)``,
``c.stop()`` and ``c.reload(config) -> list[str]`` (keys it could not apply).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import Callable
from typing import Any, Protocol, cast

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from . import __version__, log
from .config import Config, ConfigError, Endpoint
from .connector import Connector
from .http import HttpServer
from .listener import Routers, bound_addresses, start_listeners

#: Graceful shutdown must finish within this many seconds (SIGTERM → exit).
SHUTDOWN_TIMEOUT = 4.0


class StartupError(RuntimeError):
    """The daemon cannot start (a listen address cannot be bound, ...)."""


class Component(Protocol):
    name: str

    async def start(self, daemon: Daemon) -> None: ...

    async def stop(self) -> None: ...

    def reload(self, config: Config) -> list[str]: ...


def new_registry() -> CollectorRegistry:
    """A registry with what the default one has: process, platform and GC metrics."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def make_core(config: Config) -> Any:
    from .core import Core, CoreSettings

    return Core(CoreSettings(flap_window=config.rib.flap_window, top_flaps=config.rib.top_flaps))


def register_metrics(
    core: Any, registry: CollectorRegistry, *, tables_as_text: bool = False
) -> Any:
    from . import metrics

    return metrics.register(core, registry, tables_as_text=tables_as_text)


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        loader: Callable[[], Config] | None = None,
        core: Any = None,
        registry: CollectorRegistry | None = None,
        views: Any = None,
    ) -> None:
        self.config = config
        self.loader = loader
        self.core = core if core is not None else make_core(config)
        own_registry = registry is None
        core_collector = None
        if registry is None:
            registry = new_registry()
            # Per-table families as cached text (agent.metrics.CoreCollector).
            core_collector = register_metrics(self.core, registry, tables_as_text=True)
        self.registry = registry
        self.routers = Routers(self.core, config.bmp)
        self.http = HttpServer(self.core, registry, ready=lambda: self.ready, views=views)
        if core_collector is not None:
            self.http.metrics_text.append(core_collector.table_text)
        self.servers: list[asyncio.base_events.Server] = []
        self.connectors: dict[Endpoint, Connector] = {}
        self.components: list[Component] = []
        self.bmp_addresses: list[Endpoint] = []
        self.http_addresses: list[Endpoint] = []
        self.ready = False
        self.stopped = asyncio.Event()
        self.log = log.get_logger(component="daemon")
        # BGP health checks: /api/v1/health, bmp_health_check, a reloadable component.
        from .health import attach as attach_health

        self.health = attach_health(self, metrics=own_registry)
        # Kernel FIB reconciliation (fib.enabled): /api/v1/fib/diff, bmp_fib_* metrics.
        from .fib import attach as attach_fib

        self.fib = attach_fib(self, metrics=own_registry)
        # BIRD control sockets (sources: [{type: bird}]), polled into the core.
        from .bird import attach as attach_bird

        self.bird = attach_bird(self)
        # BMP relay to upstream collectors (bmp.relay), with resync from the RIB.
        from .export.relay import attach as attach_relay

        self.relay = attach_relay(self, metrics=own_registry)
        # MRT snapshots: GET /api/v1/mrt (bmp-agent dump --mrt FILE).
        from .export.mrt import attach as attach_mrt

        attach_mrt(self)

    def add_component(self, component: Component) -> None:
        self.components.append(component)

    async def start(self) -> None:
        cfg = self.config
        self.log.info("bmp-agent starting", version=__version__)
        try:
            self.http_addresses = await self.http.start(cfg.http.listen, cfg.http.web_config)
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


async def serve(
    config: Config,
    *,
    loader: Callable[[], Config] | None = None,
    on_ready: Callable[[Daemon], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. Returns the exit status."""
    from .core.gctune import tune_gc

    tune_gc()  # big RIBs: rare full collections (agent.core.gctune)
    daemon = Daemon(config, loader=loader)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Handlers go in before start(): a signal right after "ready" is logged
    # must not hit the default action (SIGHUP would kill the process).
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, daemon.reload)
        installed.append(signal.SIGHUP)
    try:
        await daemon.start()
    except StartupError as exc:
        daemon.log.error("cannot start", error=str(exc))
        for sig in installed:
            loop.remove_signal_handler(sig)
        raise
    if on_ready is not None:
        on_ready(daemon)
    try:
        await stop.wait()
        daemon.log.info("signal received, shutting down")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await daemon.stop()
    return 0
