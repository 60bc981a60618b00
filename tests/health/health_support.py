"""Helpers for the health check tests (no tests here): parser dataclasses in,
core events out, and a core with the ``HealthObserver`` attached."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import core_events
from core_events import POST, PRE, RouteMonitorings, hdr, path_attributes, peer_down

from agent.config import HealthConfig
from agent.core import Core, RouterSession
from agent.health import HealthObserver, Report, evaluate
from agent.health.dc import DcObserver
from parsers.bgp.attributes import PathAttributes
from parsers.bmp.messages import PerPeerHeader
from parsers.bmp.session import Decoded

__all__ = ["POST", "PRE", "hdr", "peer_down"]

ROUTER = "10.0.9.1"


def attrs(
    *, originator: str | None = None, clusters: tuple[str, ...] = (), med: int = 0
) -> PathAttributes:
    return path_attributes(med=med, originator_id=originator, cluster_list=clusters)


rm = RouteMonitorings(attrs)


def peer_up(
    header: PerPeerHeader,
    local_asn: int = 65000,
    *,
    local_gr: bool = True,
    remote_gr: bool = True,
) -> Decoded:
    """A Peer Up with Graceful Restart in both OPENs unless turned off."""
    return core_events.peer_up(header, local_asn, local_gr=local_gr, remote_gr=remote_gr)


class Lab:
    """A core with the observer attached and one router session."""

    def __init__(self, config: HealthConfig | None = None, *, attach: bool = True) -> None:
        self.config = config or HealthConfig()
        self.core = Core()
        self.observer = HealthObserver(self.config.route_views)
        #: the multi-DC and MetalLB checks' counters (``agent.health.dc``)
        self.dc = DcObserver(self.config)
        if attach:
            self.core.observers.append(self.observer)
            self.core.observers.append(self.dc)
        self.session: RouterSession = self.core.open_session(ROUTER, 40000)

    def feed(self, *events: Decoded) -> Lab:
        for e in events:
            self.session.handle(e)
        return self

    def report(self, **changes: Any) -> Report:
        cfg = replace(self.config, **changes) if changes else self.config
        return evaluate(self.core, cfg, dc=self.dc)

    def firing(self, check: str, **changes: Any) -> list[tuple[str, str]]:
        res = self.report(**changes).results[check]
        return [(f.router, f.peer) for f in res.findings]

    def subjects(self, check: str) -> list[tuple[str, str, bool]]:
        return self.report().results[check].subjects
