"""The composition root: builds the daemon from the core, the exporters and the components.

``build_daemon(config)`` makes the ``Core``, the Prometheus registry with the
core's collector, the ``Daemon`` (BMP listeners/connectors, HTTP) and then
each component in ``COMPONENTS`` from the daemon's narrow ``agent.host.Host``
interface: health checks (``agent.health``), kernel FIB reconciliation
(``agent.fib``), BIRD control sockets (``agent.sources.bird``), the BMP relay
and MRT snapshots (``agent.export.relay``, ``agent.export.mrt``). ``serve()``
is the async entry point of ``bmp-agent run``. Nothing imports this module
but the CLI (and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from . import log, sdnotify
from .config import Config
from .core import Core
from .daemon import Daemon, StartupError, core_settings
from .export import metrics
from .export.http import HttpCollector
from .export.mrt import build as build_mrt
from .export.nats import build as build_nats
from .export.relay import build as build_relay
from .fib.component import build as build_fib
from .fib.reconciler import FibReconciler
from .health.component import Health
from .health.component import build as build_health
from .history.component import History
from .history.component import build as build_history
from .host import Component, Host
from .sources.bird import build as build_bird
from .sources.bmp.listener import RefusalCollector


class ComponentBuilder(Protocol):
    def __call__(self, host: Host, *, metrics: bool) -> Component | None: ...


#: In start order (stopped in reverse): health and history observe the core
#: before any route arrives, the FIB reconciler reads it, BIRD sockets feed it;
#: the BMP relay (``bmp.relay``) tees every router session of the BMP source
#: (``Host.add_bmp_tee``); the NATS feed (``export.nats_url``) observes the
#: core's route and peer changes; MRT snapshots are an endpoint only (``/api/v1/mrt``).
COMPONENTS: tuple[ComponentBuilder, ...] = (
    build_health,
    build_history,
    build_fib,
    build_bird,
    build_relay,
    build_nats,
    build_mrt,
)


def new_registry() -> CollectorRegistry:
    """A registry with what the default one has (process, platform and GC
    metrics) and ``bmp_agent_build_info``."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(metrics.BuildInfoCollector())
    registry.register(metrics.GcPolicyCollector())
    return registry


class HttpClientErrorCollector(Collector):
    """``bmp_http_client_errors_total{error}``: requests the HTTP server could
    not parse (``agent.log.ClientErrorFilter``: logged at debug level only)."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bmp_http_client_errors",
            "HTTP requests that could not be parsed (malformed, too large), by error.",
            labels=["error"],
        )
        for name, n in sorted(log.HTTP_CLIENT_ERRORS.items()):
            family.add_metric([name], n)
        yield family


def make_core(config: Config) -> Core:
    return Core(core_settings(config))


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
        registry.register(RefusalCollector(daemon.routers))
        registry.register(HttpClientErrorCollector())
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
    reconciler's ``bmp_inconsistent`` evidence (``agent.health.feed.FeedEvidence``);
    the per-prefix history follows the reconciler's kernel events, drift and passes
    (``FibReconciler.listeners``)."""
    health = daemon.component("health")
    fib = daemon.component("fib")
    if isinstance(health, Health) and isinstance(fib, FibReconciler):
        health.evidence = fib
    history = daemon.component("history")
    if isinstance(history, History) and isinstance(fib, FibReconciler):
        history.attach_fib(fib)


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
    from .core.gctune import tune_gc, tune_malloc

    tune_gc()  # big RIBs: rare full collections (agent.core.gctune)
    tune_malloc()  # and freed large arrays go back to the system
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
