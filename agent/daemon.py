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
import resource
from collections.abc import Callable
from typing import Any, cast

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from . import __version__, build, log, membudget
from .config import Config, ConfigError, Endpoint, to_dict
from .core import CoreSettings, reaper
from .export.http import HttpServer
from .host import Component, Host, TeeFactory
from .httpjson import Handler
from .sources.bmp.connector import Connector
from .sources.bmp.listener import Routers, bound_addresses, start_listeners

#: Graceful shutdown must finish within this many seconds (SIGTERM → exit).
SHUTDOWN_TIMEOUT = 4.0
#: Descriptors the agent raises its soft limit to (the unit's LimitNOFILE).
NOFILE_WANTED = 65536


class StartupError(RuntimeError):
    """The daemon cannot start (a listen address cannot be bound, ...)."""


class Daemon(Host):
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
        self.routers.log_settings = config.log
        self._forget_task: asyncio.Task[None] | None = None
        self._reap_task: asyncio.Task[None] | None = None

    # -- agent.host.Host --------------------------------------------------------

    def add_get(self, path: str, handler: Handler) -> None:
        self.http.add_get(path, handler)

    def register_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def add_metrics_text(self, fn: Callable[[], str]) -> None:
        self.http.metrics_text.append(fn)

    def add_bmp_tee(self, factory: TeeFactory) -> None:
        self.routers.tees.append(factory)

    # -- components -------------------------------------------------------------

    def add_component(self, component: Component) -> None:
        self.components.append(component)

    def component(self, name: str) -> Component | None:
        """The component called ``name`` (``"fib"``, ``"health"``, ``"bird"``), if added."""
        return next((c for c in self.components if c.name == name), None)

    async def start(self) -> None:
        cfg = self.config
        self.log.info(
            "bmp-agent starting",
            version=__version__,
            compiled=build.compiled(),
            build=build.describe(),
        )
        self._log_limits()
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
        if hasattr(self.core, "forget"):
            self._forget_task = asyncio.get_running_loop().create_task(self._forget_loop())
        self._reap_task = asyncio.get_running_loop().create_task(self._reap_loop())
        self.ready = True
        self.log.info("bmp-agent ready")

    def _log_limits(self) -> None:
        """Raise the descriptor limit to ``NOFILE_WANTED`` where the hard limit
        allows, and log it with the route budget."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(hard, NOFILE_WANTED)
        if soft != resource.RLIM_INFINITY and soft < want:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
        routes, memory, source = membudget.default_max_routes()
        settings = getattr(self.core, "settings", None)
        fields = {
            "nofile": soft,
            "nofile_hard": hard,
            "max_routes": getattr(settings, "max_routes", routes),
            "memory_bytes": memory,
            "memory_from": source,
        }
        if soft != resource.RLIM_INFINITY and soft < NOFILE_WANTED:
            self.log.warning("descriptor limit is low: set LimitNOFILE=65536", **fields)
        else:
            self.log.info("limits", **fields)

    async def _forget_loop(self) -> None:
        """Drop the state of routers and peers gone for ``bmp.forget_after``."""
        while True:
            after = self.config.bmp.forget_after
            await asyncio.sleep(max(0.05, min(60.0, after / 4)))
            try:
                routers, peers = self.core.forget(self.config.bmp.forget_after)
            except Exception:
                self.log.exception("forgetting old routers and peers failed")
                continue
            if routers or peers:
                self.log.info(
                    "forgot routers and peers gone for bmp.forget_after",
                    routers=routers,
                    peers=peers,
                    forget_after=after,
                )

    async def _reap_loop(self) -> None:
        """Free the dicts of big cleared tables a slice per callback (``agent.core.reaper``)."""
        wanted = asyncio.Event()
        reaper.notify = wanted.set
        if reaper.pending():
            wanted.set()
        try:
            while True:
                await wanted.wait()
                wanted.clear()
                while reaper.reap():
                    await asyncio.sleep(0)
        finally:
            reaper.notify = None

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
        if self._forget_task is not None:
            self._forget_task.cancel()
            self._forget_task = None
        if self._reap_task is not None:
            self._reap_task.cancel()
            self._reap_task = None
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
        """Re-read the config; apply what is safe; return the keys not applied.

        Every changed key is in the log line, ``applied`` or ``not_applied``:
        keys of the daemon's own sections are compared one by one, and a
        section whose component is absent (``fib.enabled: false`` at start,
        no BIRD ``sources`` at start) cannot apply anything."""
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
        changed = changed_keys(old, new)
        applied: list[str] = []
        not_applied: list[str] = []
        if new.log.level != old.log.level:
            log.set_level(new.log.level)
        # Live limits: new connections see them, live ones keep going.
        settings = dataclasses.replace(new.bmp, listen=old.bmp.listen)
        self.routers.settings = settings
        self.routers.log_settings = new.log
        if new.bmp.connect != old.bmp.connect:
            for target in set(old.bmp.connect) - set(new.bmp.connect):
                conn = self.connectors.pop(target, None)
                if conn is not None:
                    asyncio.get_running_loop().create_task(conn.stop())
            for target in new.bmp.connect:
                if target not in self.connectors:
                    self._start_connector(target)
        core_ok = True
        if new.rib != old.rib or new.bmp.max_peers_per_router != old.bmp.max_peers_per_router:
            core_ok = self._reload_core(new)
        for key in changed:
            section = key.split(".", 1)[0].split("[", 1)[0]
            if key in RESTART_KEYS or (section == "http" and key not in LIVE_HTTP_KEYS):
                not_applied.append(key)
            elif section in ("bmp", "log"):
                applied.append(key)
            elif section == "rib" or key == "bmp.max_peers_per_router":
                (applied if core_ok else not_applied).append(key)
        comp_names = {c.name for c in self.components}
        for comp in self.components:
            not_applied.extend(comp.reload(new))
        for section, comp_name in (("health", "health"), ("fib", "fib"), ("sources", "bird")):
            if comp_name in comp_names:
                continue
            for key in changed:
                if key.split(".", 1)[0].split("[", 1)[0] == section:
                    not_applied.append(key)
        not_applied = list(dict.fromkeys(not_applied))
        # Keep the running values for what was not applied.
        self.config = dataclasses.replace(
            new,
            bmp=settings,
            http=old.http,
            log=dataclasses.replace(new.log, format=old.log.format),
        )
        self.log.info("config reloaded", applied=applied, not_applied=not_applied)
        if not_applied:
            self.log.warning("config changes need a restart", keys=not_applied)
        return not_applied

    def _reload_core(self, new: Config) -> bool:
        settings = getattr(self.core, "settings", None)
        if settings is None or not dataclasses.is_dataclass(settings):
            return False
        settings = cast(Any, settings)
        # The core reads its settings on every use: the flap window applies
        # to the next withdrawal, top_flaps to the next API/metrics read, the
        # route limits to the next announcement.
        self.core.settings = core_settings(new, settings)
        return True


#: Keys a running agent cannot change (bound sockets, the log renderer).
RESTART_KEYS = frozenset(
    {
        "bmp.listen",
        "bmp.ipv6_only",
        "http.listen",
        "http.web_config",
        "http.ipv6_only",
        "log.format",
    }
)


#: ``http.*`` keys a running server takes over (none yet: the server is built
#: at start; a key added here must be handed to it in ``reload``).
LIVE_HTTP_KEYS: frozenset[str] = frozenset()


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys whose value differs (``sources`` as one key)."""
    a, b = to_dict(old), to_dict(new)
    out: list[str] = []
    order = ("log", "bmp", "http")
    for section in (*order, *(k for k in b if k not in order)):
        values = b[section]
        if section == "sources":
            if values != a["sources"]:
                out.append("sources")
            continue
        for key, value in values.items():
            if a.get(section, {}).get(key) != value:
                out.append(f"{section}.{key}")
    return out


def core_settings(config: Config, base: CoreSettings | None = None) -> CoreSettings:
    """The core's ``CoreSettings`` from ``config`` over ``base`` (its clock is
    kept); ``rib.max_routes: 0`` is derived from memory (``agent.membudget``)."""
    rib = config.rib
    max_routes = rib.max_routes or membudget.default_max_routes()[0]
    return dataclasses.replace(
        CoreSettings() if base is None else base,
        flap_window=rib.flap_window,
        top_flaps=rib.top_flaps,
        max_routes_per_peer=rib.max_routes_per_peer,
        max_routes_per_router=rib.max_routes_per_router,
        max_routes=max_routes,
        on_limit=rib.on_limit,
        max_peers_per_router=config.bmp.max_peers_per_router,
    )
