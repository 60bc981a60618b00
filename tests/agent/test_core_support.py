"""Helpers for the core, metrics and views tests (no tests here).

Events are built from the parser dataclasses directly, so these tests pin
the core's semantics independently of the decoders; ``test_core_bytes.py``
and ``test_core_captures.py`` go through ``BmpSession`` with real bytes.
"""

from __future__ import annotations

from core_events import (
    POST,
    PRE,
    hdr,
    key,
    peer_down,
    peer_up,
    route_monitoring,
)

from agent.core import Core, CoreSettings, RouterSession
from parsers.bgp.attributes import AS_SEQUENCE, AsPathSegment, PathAttributes
from parsers.bgp.messages import Update
from parsers.bmp.messages import (
    FLAG_L,
    FLAG_O,
    InformationTlv,
    Initiation,
    PerPeerHeader,
    RouteMonitoring,
    StatEntry,
    StatisticsReport,
    Termination,
)
from parsers.bmp.session import Decoded

__all__ = [
    "POST",
    "PRE",
    "hdr",
    "key",
    "peer_down",
    "peer_up",
]

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


def attrs(med: int = 0, path: tuple[int, ...] = (65001,), nh: str = "10.0.1.2") -> PathAttributes:
    return PathAttributes(
        origin=0,
        as_path=(AsPathSegment(AS_SEQUENCE, path),),
        next_hop=nh,
        med=med,
        communities=(65001 << 16 | 100,),
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
    return route_monitoring(header, announce, withdraw, a or attrs(), ids, wids)


def eor(header: PerPeerHeader, afi: int = 1, safi: int = 1) -> Decoded:
    return Decoded(0, RouteMonitoring(header, Update(end_of_rib=(afi, safi))), 100)


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
