"""The health checks inside the daemon: observer, ``/api/v1/health``, metric, reload.

``build(host)`` (called by ``agent.app``, the composition root, with the
daemon as ``agent.host.Host``) returns the ``Health`` component and registers,
before the daemon starts:

* a ``HealthObserver`` on ``daemon.core.observers`` (while ``health.enabled``);
* ``GET /api/v1/health[?router=LABEL]`` (``checks.report_json``);
* the ``bmp_health_check{check, router, peer, severity}`` gauge, a second
  collector beside ``agent.export.metrics.CoreCollector``: 1 while the problem is
  present, 0 for every subject the check evaluated and found fine (router
  checks have ``peer=""``). Disabled checks export nothing;
* a ``DcObserver`` (the multi-DC and MetalLB checks, ``agent.health.dc``);
* while ``rib.count_communities`` is set (independent of ``health.enabled``),
  a ``CommunityCounter`` and its ``bmp_rib_community_routes`` family
  (``agent.health.rib_communities``).

Every ``health:`` key and ``rib.count_communities`` apply on reload (SIGHUP);
a change of what the counters depend on (``health.route_views``, the peer
selectors, CIDRs, DCI limits and communities) or re-enabling rebuilds them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..config import Config, HealthConfig
from ..core import Core
from ..export.metrics import escape_label
from ..host import Host
from .checks import HealthObserver, Report, evaluate, report_json
from .dc import DcObserver
from .feed import FeedEvidence
from .rib_communities import CommunityCounter

METRIC = "bmp_health_check"
METRIC_HELP = "1 while the BGP health check finds the problem (0: evaluated and fine)."
LABELS = ["check", "router", "peer", "severity"]


class Health:
    """Health checks over one ``Core`` (a daemon ``Component``)."""

    name = "health"

    def __init__(
        self, core: Core, config: HealthConfig, count_communities: tuple[str, ...] = ()
    ) -> None:
        self.core = core
        self.config = config
        self.observer = HealthObserver(config.route_views)
        self.dc = DcObserver(config)
        self.communities = CommunityCounter(count_communities)
        #: the FIB reconciler, set by ``agent.app`` (``bmp_feed_inconsistent``)
        self.evidence: FeedEvidence | None = None
        self._attached = False
        self._counting = False
        if config.enabled:
            self._attach()
        self._count(bool(count_communities))

    def _attach(self) -> None:
        if not self._attached:
            self.core.observers.append(self.observer)
            self.core.observers.append(self.dc)
            self._attached = True
            self.observer.rebuild(self.core)
            self.dc.rebuild(self.core)

    def _detach(self) -> None:
        if self._attached:
            self.core.observers.remove(self.observer)
            self.core.observers.remove(self.dc)
            self._attached = False

    def _count(self, on: bool) -> None:
        if on and not self._counting:
            self.core.observers.append(self.communities)
            self._counting = True
        elif not on and self._counting:
            self.core.observers.remove(self.communities)
            self._counting = False

    def evaluate(self, router: str | None = None) -> Report:
        return evaluate(self.core, self.config, router=router, dc=self.dc, evidence=self.evidence)

    def community_text(self) -> str:
        """``bmp_rib_community_routes`` as exposition text ("" while nothing is listed)."""
        return self.communities.text(self.core) if self._counting else ""

    def document(self, router: str | None = None) -> dict[str, Any]:
        return report_json(self.evaluate(router), self.config)

    # -- Component ------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        return None

    async def stop(self) -> None:
        self._detach()
        self._count(False)

    def reload(self, config: Config) -> list[str]:
        new = config.health
        old = self.config
        self.config = new
        if not new.enabled:
            self._detach()
            self.dc.configure(new)
        elif not self._attached:
            self.observer.route_views = frozenset(new.route_views)
            self.dc.configure(new)
            self._attach()
        else:
            if new.route_views != old.route_views:
                self.observer.route_views = frozenset(new.route_views)
                self.observer.rebuild(self.core)
            self.dc.configure(new, self.core)
        wanted = config.rib.count_communities
        if self._counting:
            self.communities.configure(wanted, self.core)
        else:
            self.communities.configure(wanted, None)
            if wanted:
                self.communities.rebuild(self.core)
        self._count(bool(wanted))
        return []


class HealthCollector(Collector):
    """``bmp_health_check``: evaluated at scrape time (no RIB walk)."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(METRIC, METRIC_HELP, labels=LABELS)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(METRIC, METRIC_HELP, labels=LABELS)
        for name, res in self.health.evaluate().results.items():
            if not res.enabled:
                continue
            sev = res.info.severity
            for router, peer, firing in res.subjects:
                family.add_metric([name, router, peer, sev], 1.0 if firing else 0.0)
        yield family

    def text(self) -> str:
        """The same family as exposition text, written directly: through
        prometheus_client it costs ~20 ms at 1k peers, this ~2 ms."""
        lines = [f"# HELP {METRIC} {METRIC_HELP}", f"# TYPE {METRIC} gauge"]
        for name, res in self.health.evaluate().results.items():
            if not res.enabled:
                continue
            # labels in prometheus_client's (sorted) order
            head = f'{METRIC}{{check="{name}",peer="'
            tail = f'",severity="{res.info.severity}"}} '
            for router, peer, firing in res.subjects:
                lines.append(
                    f'{head}{escape_label(peer)}",router="{escape_label(router)}{tail}'
                    + ("1.0" if firing else "0.0")
                )
        return "\n".join(lines) + "\n"


def build(host: Host, *, metrics: bool = True) -> Health | None:
    """The checks over ``host.core`` with their endpoint and metric (before ``start``);
    None when the core is not a ``Core``."""
    core: object = host.core  # tests build daemons over stand-in cores
    if not isinstance(core, Core):
        return None
    health = Health(core, host.config.health, host.config.rib.count_communities)

    def api(request: web.Request) -> dict[str, Any]:
        return health.document(request.query.get("router"))

    host.add_json_get("/api/v1/health", api, params=("router",))
    if metrics:
        host.add_metrics_text(HealthCollector(health).text)
        host.add_metrics_text(health.community_text)
    return health
