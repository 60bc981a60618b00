"""A router's current state as BMP messages, for a collector that missed the stream.

``Snapshot.take(router, initiation, peer_ups)`` copies what is needed at one
instant (the route dicts are copied, the interned attributes shared), so the
live stream that follows applies on top of exactly this state. ``messages()``
then yields, lazily:

1. the router's Initiation (the original bytes), when it sent one;
2. one Peer Up per peer that is up (the original bytes);
3. per peer, view and table: Route Monitoring messages built from the RIB,
   one UPDATE per attribute set packed to 4096 bytes
   (``parsers.bgp.encode.pack_updates``), then End-of-RIB for the tables the
   router had already finished (``RibTable.eor``).

Tables of SAFIs whose keys lost their labels (labeled unicast, VPN) cannot be
rebuilt; they are counted in ``skipped_routes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.encode import ENCODABLE_SAFIS, end_of_rib, pack_updates
from parsers.bmp.context import PeerKey
from parsers.bmp.encode import per_peer_header, route_monitoring

from ..core.peer import Peer
from ..core.rib import RouteKey
from ..core.router import Router


@dataclass(slots=True)
class TableCopy:
    header: bytes
    afi: int
    safi: int
    items: list[tuple[RouteKey, PathAttributes]]
    eor: bool


def groups(
    items: list[tuple[RouteKey, PathAttributes]],
) -> Iterator[tuple[PathAttributes, list[bytes], list[int] | None]]:
    """Routes grouped by attribute set (interned: grouped by identity), plain
    and ADD-PATH keys apart, in first-seen order."""
    plain: dict[int, tuple[PathAttributes, list[bytes]]] = {}
    added: dict[int, tuple[PathAttributes, list[bytes], list[int]]] = {}
    for key, attrs in items:
        if isinstance(key, tuple):
            g = added.get(id(attrs))
            if g is None:
                g = added[id(attrs)] = (attrs, [], [])
            g[1].append(key[1])
            g[2].append(key[0])
        else:
            p = plain.get(id(attrs))
            if p is None:
                p = plain[id(attrs)] = (attrs, [])
            p[1].append(key)
    for attrs, keys in plain.values():
        yield attrs, keys, None
    for attrs, keys, pids in added.values():
        yield attrs, keys, pids


def peer_header(peer: Peer, view: str, now: float) -> bytes:
    return per_peer_header(
        peer.peer_type, view, peer.distinguisher, peer.address, peer.asn, peer.bgp_id, now
    )


@dataclass(slots=True)
class Snapshot:
    initiation: bytes | None = None
    peer_ups: list[bytes] = field(default_factory=list)
    tables: list[TableCopy] = field(default_factory=list)
    routes: int = 0
    skipped_routes: int = 0

    @classmethod
    def take(
        cls,
        router: Router,
        initiation: bytes | None,
        peer_ups: Mapping[PeerKey, bytes],
        now: float,
    ) -> Snapshot:
        snap = cls(initiation=initiation)
        for key, peer in router.peers.items():
            if not peer.up:
                continue
            raw = peer_ups.get(key)
            if raw is not None:
                snap.peer_ups.append(raw)
            for (view, afi, safi), table in peer.tables.items():
                if not table.routes and not table.eor:
                    continue
                if safi not in ENCODABLE_SAFIS:
                    snap.skipped_routes += len(table.routes)
                    continue
                items = list(table.routes.items())
                snap.routes += len(items)
                snap.tables.append(
                    TableCopy(peer_header(peer, view, now), afi, safi, items, table.eor)
                )
        return snap

    def messages(self) -> Iterator[bytes]:
        if self.initiation is not None:
            yield self.initiation
        yield from self.peer_ups
        for t in self.tables:
            for attrs, keys, pids in groups(t.items):
                for update in pack_updates(t.afi, t.safi, attrs, keys, pids):
                    yield route_monitoring(t.header, update)
            if t.eor:
                yield route_monitoring(t.header, end_of_rib(t.afi, t.safi))
