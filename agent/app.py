"""The composition root: builds the daemon from the core, the exporters and the components.

``build_daemon(config)`` makes the ``Core``, the Prometheus registry with the
core's collector, the ``Daemon`` (BMP listeners/connectors, HTTP) and then
each component in ``COMPONENTS`` from the daemon's narrow ``agent.host.Host``
interface: health checks (``agent.health``), kernel FIB reconciliation
(``agent.fib``), BIRD control sockets (``agent.sources.bird``). ``serve()``
is the async entry point of ``bmp-agent run``. Nothing imports this module
but the CLI (and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from . import sdnotify
from .config import Config
from .core import Core, CoreSettings
from .daemon import Daemon, StartupError
from .export import metrics
from .export.http import HttpCollector
from .fib.component import build as build_fib
from .fib.reconciler import FibReconciler
from .health.component import Health
from .health.component import build as build_health
from .host import Component, Host
from .sources.bird import build as build_bird


class ComponentBuilder(Protocol):
    def __call__(self, host: Host, *, metrics: bool) -> Component | None: ...


#: In start order (stopped in reverse): health observes the core before any
#: route arrives, the FIB reconciler reads it, BIRD sockets feed it.
COMPONENTS: tuple[ComponentBuilder, ...] = (build_health, build_fib, build_bird)


def new_registry() -> CollectorRegistry:
    """A registry with what the default one has (process, platform and GC
    metrics) and ``bmp_agent_build_info``."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(metrics.BuildInfoCollector())
    return registry


def make_core(config: Config) -> Core:
    return Core(CoreSettings(flap_window=config.rib.flap_window, top_flaps=config.rib.top_flaps))


def build_daemon(
    config: Config,
    *,
    loader: Callable[[], Config] | None = None,
    core: Any = None,
    registry: CollectorRegistry | None = None,
    views: Any = None,
) -> Daemon:
    """The daemon with every component. With a ``registry`` of the caller's, no
    metric is registered (the caller owns what is on it)."""
    core = core if core is not None else make_core(config)
    own_registry = registry is None
    if registry is None:
        registry = new_registry()
    daemon = Daemon(config, core=core, registry=registry, loader=loader, views=views)
    if own_registry:
        # Per-table families as cached text (agent.export.metrics.CoreCollector).
        collector = metrics.register(core, registry, tables_as_text=True)
        daemon.add_metrics_text(collector.table_text)
        registry.register(HttpCollector(daemon.http))
    for build in COMPONENTS:
        component = build(daemon, metrics=own_registry)
        if component is not None:
            daemon.add_component(component)
    connect(daemon)
    return daemon


def connect(daemon: Daemon) -> None:
    """What one component reads of another goes through here, so that no component
    imports another: the health check ``bmp_feed_inconsistent`` reads the FIB
    reconciler's ``bmp_inconsistent`` evidence (``agent.health.feed.FeedEvidence``)."""
    health = daemon.component("health")
    fib = daemon.component("fib")
    if isinstance(health, Health) and isinstance(fib, FibReconciler):
        health.evidence = fib


def _reload_notified(daemon: Daemon) -> None:
    """SIGHUP: reload, telling systemd (``RELOADING=1`` … ``READY=1``)."""
    sdnotify.reloading()
    try:
        daemon.reload()
    finally:
        sdnotify.ready("config reloaded")


async def serve(
    config: Config,
    *,
    loader: Callable[[], Config] | None = None,
    on_ready: Callable[[Daemon], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. Returns the exit status."""
    from .core.gctune import tune_gc

    tune_gc()  # big RIBs: rare full collections (agent.core.gctune)
    daemon = build_daemon(config, loader=loader)
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
        loop.add_signal_handler(signal.SIGHUP, _reload_notified, daemon)
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
    sdnotify.ready(f"bmp on {', '.join(str(a) for a in daemon.bmp_addresses)}")
    try:
        await stop.wait()
        daemon.log.info("signal received, shutting down")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        sdnotify.stopping()
        await daemon.stop()
    return 0
