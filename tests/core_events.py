"""Core events built from the parser dataclasses (no tests here): one source
for the helpers that the core tests (``tests/agent/test_core_support.py``) and
the health tests (``tests/health/health_support.py``) share. ``tests/`` is on
``sys.path``, so both import this module by name.

Each of those modules keeps its own default path attributes (``attrs()``) and
re-exports or wraps what is here with its own defaults.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from parsers.bgp.attributes import AS_SEQUENCE, AsPathSegment, PathAttributes
from parsers.bgp.messages import (
    Capability,
    FourOctetAsCapability,
    GracefulRestartCapability,
    OpenMessage,
    Update,
)
from parsers.bgp.nlri import NlriSet
from parsers.bmp.messages import FLAG_L, FLAG_V, PeerDown, PeerUp, PerPeerHeader, RouteMonitoring
from parsers.bmp.session import Decoded

PRE = 0
POST = FLAG_L


def hdr(
    address: str = "10.0.1.2",
    asn: int = 65001,
    flags: int = PRE,
    *,
    bgp_id: str | None = None,
    peer_type: int = 0,
    rd: bytes = bytes(8),
) -> PerPeerHeader:
    if ":" in address and peer_type != 3:
        flags |= FLAG_V
    return PerPeerHeader(
        peer_type, flags, rd, address, asn, bgp_id if bgp_id is not None else address, 0, 0
    )


def key(prefix: str) -> bytes:
    """Wire NLRI key of a unicast prefix."""
    net = ipaddress.ip_network(prefix)
    n = net.prefixlen
    return bytes([n]) + net.network_address.packed[: (n + 7) // 8]


def nset(prefixes: list[str], path_ids: list[int] | None = None) -> NlriSet:
    afi = 2 if ":" in prefixes[0] else 1
    return NlriSet(
        afi, 1, tuple(key(p) for p in prefixes), None if path_ids is None else tuple(path_ids)
    )


def route_monitoring(
    header: PerPeerHeader,
    announce: list[str] | None,
    withdraw: list[str] | None,
    attributes: PathAttributes,
    ids: list[int] | None = None,
    wids: list[int] | None = None,
) -> Decoded:
    """A Route Monitoring of ``announce`` (with ``attributes``) and ``withdraw``."""
    ann = (nset(announce, ids),) if announce else ()
    wd = (nset(withdraw, wids),) if withdraw else ()
    upd = Update(withdrawn=wd, announced=ann, attributes=attributes if ann else None)
    return Decoded(0, 100, RouteMonitoring(header, upd))


def path_attributes(
    *, med: int = 0, path: tuple[int, ...] = (65001,), nh: str = "10.0.1.2", **fields: Any
) -> PathAttributes:
    """Origin IGP, one AS_SEQUENCE ``path``, next hop ``nh``, ``med``, plus ``fields``."""
    return PathAttributes(
        origin=0,
        as_path=(AsPathSegment(AS_SEQUENCE, path),),
        next_hop=nh,
        med=med,
        **fields,
    )


class RouteMonitorings:
    """``rm(header, announce, withdraw, *, a=None, ids=None, wids=None)``: a Route
    Monitoring whose attributes default to the caller's own ``attrs()``."""

    def __init__(self, default_attributes: Callable[[], PathAttributes]) -> None:
        self.default_attributes = default_attributes

    def __call__(
        self,
        header: PerPeerHeader,
        announce: list[str] | None = None,
        withdraw: list[str] | None = None,
        *,
        a: PathAttributes | None = None,
        ids: list[int] | None = None,
        wids: list[int] | None = None,
    ) -> Decoded:
        return route_monitoring(
            header, announce, withdraw, a or self.default_attributes(), ids, wids
        )


def open_msg(asn: int, bgp_id: str, gr: bool = False) -> OpenMessage:
    """An OPEN with the 4-octet AS capability, plus Graceful Restart when ``gr``."""
    caps: tuple[Capability, ...] = (FourOctetAsCapability(65, b"", asn),)
    if gr:
        caps += (GracefulRestartCapability(64, b"", 0, 120, ((1, 1, 0),)),)
    return OpenMessage(4, asn if asn < 65536 else 23456, 90, bgp_id, caps)


def peer_up(
    header: PerPeerHeader,
    local_asn: int = 65000,
    local: str = "10.0.1.1",
    *,
    local_gr: bool = False,
    remote_gr: bool = False,
) -> Decoded:
    sent = open_msg(local_asn, "10.0.1.1", local_gr)
    received = open_msg(header.asn, header.bgp_id, remote_gr)
    return Decoded(0, 200, PeerUp(header, local, 179, 40000, sent, received))


def peer_down(header: PerPeerHeader, reason: int = 4) -> Decoded:
    return Decoded(0, 50, PeerDown(header, reason, fsm_event=0 if reason == 2 else None))
