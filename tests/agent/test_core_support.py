"""Helpers for the core, metrics and views tests (no tests here).

Events are built from the parser dataclasses directly, so these tests pin
the core's semantics independently of the decoders; ``test_core_bytes.py``
and ``test_core_captures.py`` go through ``BmpSession`` with real bytes.
"""

from __future__ import annotations

from core_events import (
    POST,
    PRE,
    RouteMonitorings,
    hdr,
    key,
    path_attributes,
    peer_down,
    peer_up,
)

from agent.core import Core, CoreSettings, RouterSession
from parsers.bgp.attributes import PathAttributes
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
    return path_attributes(med=med, path=path, nh=nh, communities=(65001 << 16 | 100,))


rm = RouteMonitorings(attrs)


def eor(header: PerPeerHeader, afi: int = 1, safi: int = 1) -> Decoded:
    return Decoded(0, 100, RouteMonitoring(header, Update(end_of_rib=(afi, safi))))


def initiation(sys_name: str = "spk", sys_descr: str = "FRRouting 8.4.4") -> Decoded:
    tlvs = (InformationTlv(1, sys_descr.encode()), InformationTlv(2, sys_name.encode()))
    return Decoded(0, 40, Initiation(tlvs))


def termination(reason: int = 0) -> Decoded:
    return Decoded(0, 12, Termination((), reason))


def stats(header: PerPeerHeader, entries: list[StatEntry]) -> Decoded:
    return Decoded(0, 80, StatisticsReport(header, tuple(entries)))


def feed(session: RouterSession, *events: Decoded) -> None:
    for e in events:
        session.handle(e)
