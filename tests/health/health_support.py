"""Helpers for the health check tests (no tests here): parser dataclasses in,
core events out, and a core with the ``HealthObserver`` attached."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from agent.config import HealthConfig
from agent.core import Core, RouterSession
from agent.health import HealthObserver, Report, evaluate
from parsers.bgp.attributes import AS_SEQUENCE, AsPathSegment, PathAttributes
from parsers.bgp.nlri import NlriSet
from parsers.bgp.open import FourOctetAsCapability, GracefulRestartCapability, OpenMessage
from parsers.bgp.update import Update
from parsers.bmp.header import FLAG_L, FLAG_V, PerPeerHeader
from parsers.bmp.peer_down import PeerDown
from parsers.bmp.peer_up import PeerUp
from parsers.bmp.route_monitoring import RouteMonitoring
from parsers.bmp.session import Decoded

PRE = 0
POST = FLAG_L
ROUTER = "10.0.9.1"


def hdr(
    address: str = "10.0.1.2", asn: int = 65001, flags: int = PRE, *, peer_type: int = 0
) -> PerPeerHeader:
    if ":" in address and peer_type != 3:
        flags |= FLAG_V
    return PerPeerHeader(peer_type, flags, bytes(8), address, asn, address, 0, 0)


def key(prefix: str) -> bytes:
    net = ipaddress.ip_network(prefix)
    n = net.prefixlen
    return bytes([n]) + net.network_address.packed[: (n + 7) // 8]


def attrs(
    *, originator: str | None = None, clusters: tuple[str, ...] = (), med: int = 0
) -> PathAttributes:
    return PathAttributes(
        origin=0,
        as_path=(AsPathSegment(AS_SEQUENCE, (65001,)),),
        next_hop="10.0.1.2",
        med=med,
        originator_id=originator,
        cluster_list=clusters,
    )


def nset(prefixes: list[str], path_ids: list[int] | None = None) -> NlriSet:
    afi = 2 if ":" in prefixes[0] else 1
    return NlriSet(
        afi, 1, tuple(key(p) for p in prefixes), None if path_ids is None else tuple(path_ids)
    )


def rm(
    header: PerPeerHeader,
    announce: list[str] | None = None,
    withdraw: list[str] | None = None,
    *,
    a: PathAttributes | None = None,
    ids: list[int] | None = None,
    wids: list[int] | None = None,
) -> Decoded:
    ann = (nset(announce, ids),) if announce else ()
    wd = (nset(withdraw, wids),) if withdraw else ()
    upd = Update(withdrawn=wd, announced=ann, attributes=(a or attrs()) if ann else None)
    return Decoded(0, RouteMonitoring(header, upd), 100)


def open_msg(asn: int, bgp_id: str, gr: bool = True) -> OpenMessage:
    caps: tuple[Any, ...] = (FourOctetAsCapability(65, b"", asn),)
    if gr:
        caps += (GracefulRestartCapability(64, b"", 0, 120, ((1, 1, 0),)),)
    return OpenMessage(4, asn if asn < 65536 else 23456, 90, bgp_id, caps)


def peer_up(
    header: PerPeerHeader,
    local_asn: int = 65000,
    *,
    local_gr: bool = True,
    remote_gr: bool = True,
) -> Decoded:
    sent = open_msg(local_asn, "10.0.1.1", local_gr)
    received = open_msg(header.asn, header.bgp_id, remote_gr)
    return Decoded(0, PeerUp(header, "10.0.1.1", 179, 40000, sent, received), 200)


def peer_down(header: PerPeerHeader, reason: int = 4) -> Decoded:
    return Decoded(0, PeerDown(header, reason, fsm_event=0 if reason == 2 else None), 50)


class Lab:
    """A core with the observer attached and one router session."""

    def __init__(self, config: HealthConfig | None = None, *, attach: bool = True) -> None:
        self.config = config or HealthConfig()
        self.core = Core()
        self.observer = HealthObserver(self.config.route_views)
        if attach:
            self.core.observers.append(self.observer)
        self.session: RouterSession = self.core.open_session(ROUTER, 40000)

    def feed(self, *events: Decoded) -> Lab:
        for e in events:
            self.session.handle(e)
        return self

    def report(self, **changes: Any) -> Report:
        cfg = replace(self.config, **changes) if changes else self.config
        return evaluate(self.core, cfg)

    def firing(self, check: str, **changes: Any) -> list[tuple[str, str]]:
        res = self.report(**changes).results[check]
        return [(f.router, f.peer) for f in res.findings]

    def subjects(self, check: str) -> list[tuple[str, str, bool]]:
        return self.report().results[check].subjects
