"""Helpers for the core, metrics and views tests (no tests here).

Events are built from the parser dataclasses directly, so these tests pin
the core's semantics independently of the decoders; ``test_core_bytes.py``
and ``test_core_captures.py`` go through ``BmpSession`` with real bytes.
"""

from __future__ import annotations

import ipaddress

from agent.core import Core, CoreSettings, RouterSession
from parsers.bgp.attributes import AS_SEQUENCE, AsPathSegment, PathAttributes
from parsers.bgp.nlri import NlriSet
from parsers.bgp.open import FourOctetAsCapability, OpenMessage
from parsers.bgp.update import Update
from parsers.bmp.header import FLAG_L, FLAG_O, FLAG_V, PerPeerHeader
from parsers.bmp.initiation import Initiation, Termination
from parsers.bmp.peer_down import PeerDown
from parsers.bmp.peer_up import PeerUp
from parsers.bmp.route_monitoring import RouteMonitoring
from parsers.bmp.session import Decoded
from parsers.bmp.stats import StatEntry, StatisticsReport
from parsers.bmp.tlv import InformationTlv

PRE = 0
POST = FLAG_L
OUT_PRE = FLAG_O
OUT_POST = FLAG_O | FLAG_L


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_core(window: float = 60.0, top: int = 10) -> tuple[Core, Clock]:
    clock = Clock()
    return Core(CoreSettings(flap_window=window, top_flaps=top, clock=clock)), clock


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


def attrs(med: int = 0, path: tuple[int, ...] = (65001,), nh: str = "10.0.1.2") -> PathAttributes:
    return PathAttributes(
        origin=0,
        as_path=(AsPathSegment(AS_SEQUENCE, path),),
        next_hop=nh,
        med=med,
        communities=(65001 << 16 | 100,),
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


def eor(header: PerPeerHeader, afi: int = 1, safi: int = 1) -> Decoded:
    return Decoded(0, RouteMonitoring(header, Update(end_of_rib=(afi, safi))), 100)


def open_msg(asn: int, bgp_id: str) -> OpenMessage:
    two = asn if asn < 65536 else 23456
    return OpenMessage(4, two, 90, bgp_id, (FourOctetAsCapability(65, b"", asn),))


def peer_up(header: PerPeerHeader, local_asn: int = 65000, local: str = "10.0.1.1") -> Decoded:
    sent = open_msg(local_asn, "10.0.1.1")
    received = open_msg(header.asn, header.bgp_id)
    return Decoded(0, PeerUp(header, local, 179, 40000, sent, received), 200)


def peer_down(header: PerPeerHeader, reason: int = 4) -> Decoded:
    return Decoded(0, PeerDown(header, reason, fsm_event=0 if reason == 2 else None), 50)


def initiation(sys_name: str = "spk", sys_descr: str = "FRRouting 8.4.4") -> Decoded:
    tlvs = (InformationTlv(1, sys_descr.encode()), InformationTlv(2, sys_name.encode()))
    return Decoded(0, Initiation(tlvs), 40)


def termination(reason: int = 0) -> Decoded:
    return Decoded(0, Termination((), reason), 12)


def stats(header: PerPeerHeader, entries: list[StatEntry]) -> Decoded:
    return Decoded(0, StatisticsReport(header, tuple(entries)), 80)


def feed(session: RouterSession, *events: Decoded) -> None:
    for e in events:
        session.handle(e)
