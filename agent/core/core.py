"""The state core: routers, their peers and RIB views, fed by BMP sessions.

Data flows one way: the IO shell turns bytes into events
(``parsers.bmp.session.BmpSession.feed``) and hands them to a
``RouterSession``; exporters (``agent.export.metrics``, ``agent.export.views``) only read
``Core.routers``. Everything runs on one thread (the event loop).

Router identity
    A router is keyed by the source address of its BMP connection. The label
    is the address itself; when a second session from the same address is
    open at the same time (two BMP targets configured on one speaker), it gets
    its own router entry labelled ``<addr>#2`` (then ``#3`` ...), so the two
    streams never corrupt each other's RIB state. A new connection takes the
    lowest label that has no open session, so a reconnect reuses its old entry
    (and counters).

Lifecycle
    ``open_session`` marks the router up and counts a connection;
    ``close_session`` drops all of the router's RIB state, marks it and its
    peers down and keeps every counter (they persist for the life of the
    process). A Peer Down clears that peer's tables; a Peer Up starts them
    afresh. Timestamps (last change, last message) come from
    ``CoreSettings.clock``, i.e. the time the agent processed the event, not
    the per-peer header timestamp (speakers fill that inconsistently).

Quirks (``Router.quirks``)
    ``route_monitoring_without_peer_up`` once each time a peer that is not up
    gets a Route Monitoring (the routes are applied and the peer becomes
    ``implicit``); ``withdraw_unknown_route`` per withdrawn route not in the
    table; ``peer_down_without_peer_up`` per Peer Down for a peer never seen
    up; ``peer_up_while_up``; ``stats_value_undecoded``; plus the decoders'
    own quirks merged with ``RouterSession.absorb_quirks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from .flaps import FlapKey
from .peer import Peer
from .rib import AttributeInterner, RibTable
from .router import Router, RouterSession


class RouteObserver(Protocol):
    """Sees every route change just before it is applied to a ``RibTable``.

    Called once per ``NlriSet`` of a Route Monitoring, in stream order, so
    ``table.routes`` still holds the state before the change. Per-table
    state belongs in ``table.ext`` (dropped with the routes by
    ``RibTable.clear``). Must be cheap: it runs on the ingest path.
    """

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None: ...

    def announce(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CoreSettings:
    #: Seconds: withdraw then re-announce of the same route within this window = 1 prefix flap.
    flap_window: float = 60.0
    #: Bounded top-N of flapping prefixes (API and metric).
    top_flaps: int = 10
    #: Injectable wall clock (tests).
    clock: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class TopFlap:
    router: str
    peer: str
    view: str
    afi: int
    safi: int
    prefix: bytes
    flaps: int


class Core:
    def __init__(self, settings: CoreSettings = CoreSettings()) -> None:
        self.settings = settings
        self.interner = AttributeInterner()
        self._routers: dict[str, Router] = {}
        self.routers: Mapping[str, Router] = MappingProxyType(self._routers)
        #: ``RouteObserver``s (e.g. ``agent.health``), called on every route change.
        self.observers: list[RouteObserver] = []

    def open_session(
        self,
        remote_address: str,
        remote_port: int,
        *,
        mode: str = "passive",
        source: str = "bmp",
    ) -> RouterSession:
        """One BMP TCP connection (``mode``: passive = we accepted, active = we connected).

        Other sources open a session the same way (``agent.sources.bird``: ``mode="poll"``,
        ``source="bird"``, the label in place of the address)."""
        label = remote_address
        n = 1
        while True:
            router = self._routers.get(label)
            if router is None or router.session is None:
                break
            n += 1
            label = f"{remote_address}#{n}"
        if router is None:
            router = self._routers[label] = Router(
                label, remote_address, max(1000, self.settings.top_flaps * 100)
            )
        now = self.settings.clock()
        session = RouterSession(self, router, remote_address, remote_port)
        router.session = session
        router.up = True
        router.port = remote_port
        router.mode = mode
        router.source = source
        router.connections += 1
        router.connected_since = now
        router.close_reason = None
        router.termination_reason = None
        return session

    def close_session(self, session: RouterSession, reason: str) -> None:
        """The connection closed: drop the router's RIB state, mark it down, keep counters."""
        if not session.active:
            return
        session.active = False
        router = session.router
        if router.session is not session:
            return
        now = self.settings.clock()
        router.session = None
        router.up = False
        router.last_close = now
        router.close_reason = reason
        router.drop_rib(now)
        if len(self.interner) > 4096:
            self.interner.sweep()

    def top_flaps(self, n: int | None = None) -> list[TopFlap]:
        """The most flapping prefixes over all routers, highest count first."""
        limit = self.settings.top_flaps if n is None else n
        rows: list[tuple[int, str, FlapKey]] = []
        for router in self._routers.values():
            for key, count in router.flap_counts.top(limit):
                rows.append((count, router.label, key))
        rows.sort(key=lambda r: r[0], reverse=True)
        out: list[TopFlap] = []
        for count, label, key in rows[:limit]:
            peer_key, view, afi, safi, prefix = key
            peer = self._routers[label].peers.get(peer_key)
            peer_label = peer.label if peer is not None else peer_key[2]
            out.append(TopFlap(label, peer_label, view, afi, safi, prefix, count))
        return out
