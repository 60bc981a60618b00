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

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .flaps import FlapKey
from .peer import DOWN, NO_LIMIT, Peer
from .rib import AttributeInterner
from .router import Router, RouterSession
from .settings import ClearObserver, CoreSettings, PeerObserver, RouteObserver, Shared


@dataclass(frozen=True, slots=True)
class TopFlap:
    router: str
    peer: str
    view: str
    afi: int
    safi: int
    prefix: bytes
    flaps: int


__all__ = ["ClearObserver", "Core", "CoreSettings", "PeerObserver", "RouteObserver", "TopFlap"]


class Core:
    def __init__(self, settings: CoreSettings | None = None) -> None:
        #: What the routers share with the core (settings, observers, interner).
        self.shared = Shared(CoreSettings() if settings is None else settings)
        self._routers: dict[str, Router] = {}
        self.routers: Mapping[str, Router] = MappingProxyType(self._routers)
        #: What ``forget`` dropped, in aggregate: "routers", "peers", and the
        #: counters they held: "prefix_flaps", "peer_downs", "routes_dropped".
        self.forgotten: Counter[str] = Counter()

    @property
    def settings(self) -> CoreSettings:
        """Read on every use: replacing it (reload) applies to every router at once."""
        return self.shared.settings

    @settings.setter
    def settings(self, settings: CoreSettings) -> None:
        shared = self.shared
        shared.settings = settings
        if not shared.blocked:
            shared.cap = settings.max_routes or NO_LIMIT
        for router in self._routers.values():
            router.apply_limits()

    @property
    def route_count(self) -> int:
        """Routes held by every router (what ``CoreSettings.max_routes`` limits)."""
        return self.shared.routes

    @property
    def interner(self) -> AttributeInterner:
        return self.shared.interner

    @property
    def observers(self) -> list[RouteObserver]:
        """``RouteObserver``s (e.g. ``agent.health``), called on every route change."""
        return self.shared.observers

    @property
    def peer_observers(self) -> list[PeerObserver]:
        """``PeerObserver``s (e.g. ``agent.export.nats``), called on Peer Up / Peer Down."""
        return self.shared.peer_observers

    @property
    def clear_observers(self) -> list[ClearObserver]:
        """``ClearObserver``s (e.g. ``agent.history``), called before a peer's routes go."""
        return self.shared.clear_observers

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
                label, remote_address, max(1000, self.settings.top_flaps * 100), self.shared
            )
        now = self.settings.clock()
        session = RouterSession(router, remote_address, remote_port)
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

    def forget(self, after: float, now: float | None = None) -> tuple[int, int]:
        """Drop BMP routers disconnected for ``after`` seconds and, of connected
        ones, peers down for as long; their counters go to ``forgotten``.
        Returns (routers, peers) dropped."""
        now = self.settings.clock() if now is None else now
        before = now - after
        routers = peers = 0
        for label, router in list(self._routers.items()):
            if router.source != "bmp":
                continue  # other sources own their routers' life cycle
            if router.session is None:
                if (router.last_close or 0.0) <= before:
                    for peer in router.peers.values():
                        self._forget_peer(peer)
                    peers += len(router.peers)
                    del self._routers[label]
                    routers += 1
                continue
            gone = [
                key
                for key, peer in router.peers.items()
                if peer.state == DOWN
                and not peer.count
                and (peer.last_change or router.connected_since or 0.0) <= before
            ]
            for key in gone:
                self._forget_peer(router.peers.pop(key))
            if gone:
                peers += len(gone)
                router.peers = dict(router.peers)  # give the memory back
        self.forgotten["routers"] += routers
        self.forgotten["peers"] += peers
        if routers and len(self.interner) > 4096:
            self.interner.sweep()
        return routers, peers

    def _forget_peer(self, peer: Peer) -> None:
        f = self.forgotten
        f["prefix_flaps"] += sum(t.flaps for t in peer.tables.values())
        f["peer_downs"] += sum(peer.downs.values())
        f["routes_dropped"] += sum(peer.dropped.values())

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
