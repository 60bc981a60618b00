"""MRT snapshots of the RIB (``GET /api/v1/mrt``, ``bmp-agent dump --mrt FILE``).

One RFC 6396 TABLE_DUMP_V2 file: a PEER_INDEX_TABLE with one entry per
(router, peer, view) selected, then one RIB record per prefix and family with
an entry per path (RFC 8050 ADD-PATH subtypes for paths with a path ID).
Query: ``router`` (label or address), ``view`` (one of the five views);
without them every router and view. Unicast and multicast only (MRT has no
TABLE_DUMP_V2 subtype for the others).

Peer entries: the peer's address, BGP ID and AS; a Loc-RIB instance (which
has no peer address) appears as its router's address. The originated time of
each entry is when its peer came up (the RIB keeps no per-route time).

Streaming: the routes are indexed by prefix in one pass (references to the
interned attributes, no encoded bytes), then records are encoded and written
in 64 KiB chunks with the event loop free in between, so a full table never
sits encoded in memory and ingest goes on while the file is sent.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web

from parsers.bgp.attributes import PathAttributes
from parsers.bmp.messages import VIEWS
from parsers.mrt import MrtPeer, RibEntry, mrt_attributes, peer_index_table, rib_record

from ..core import Core
from ..httpjson import check_params, error_response

if TYPE_CHECKING:
    from ..host import Host

CHUNK = 1 << 16
MRT_SAFIS = (1, 2)

#: prefix key -> [(peer index, originated, attrs, path id)]
Index = dict[bytes, list[tuple[int, int, PathAttributes, int | None]]]


class Snapshot:
    """Peers and per-family prefix indexes of the selected RIB tables."""

    def __init__(self, core: Core, router: str | None, view: str | None, now: float) -> None:
        if view is not None and view not in VIEWS:
            raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
        routers = [
            r for r in core.routers.values() if router is None or router in (r.label, r.address)
        ]
        if router is not None and not routers:
            raise LookupError(f"no router {router!r}")
        self.now = int(now)
        self.peers: list[MrtPeer] = []
        self.families: dict[tuple[int, int], Index] = {}
        self.routes = 0
        for r in routers:
            for peer in r.peers.values():
                if not peer.up:
                    continue
                by_view: dict[str, int] = {}
                originated = int(peer.up_since or now)
                for (v, afi, safi), table in peer.tables.items():
                    if (view is not None and v != view) or safi not in MRT_SAFIS:
                        continue
                    if not table.routes:
                        continue
                    index = by_view.get(v)
                    if index is None:
                        index = by_view[v] = len(self.peers)
                        address = peer.address
                        if peer.peer_type == 3 or ipaddress.ip_address(address).is_unspecified:
                            address = r.address.split("%", 1)[0]
                        self.peers.append(MrtPeer(peer.bgp_id, address, peer.asn))
                    fam = self.families.setdefault((afi, safi), {})
                    for key, attrs in table.routes.items():
                        if isinstance(key, tuple):
                            pid: int | None = key[0]
                            pkey = key[1]
                        else:
                            pid, pkey = None, key
                        entries = fam.get(pkey)
                        if entries is None:
                            entries = fam[pkey] = []
                        entries.append((index, originated, attrs, pid))
                    self.routes += len(table.routes)

    def records(self, view_name: str = "") -> Iterator[bytes]:
        ts = self.now
        yield peer_index_table(ts, "0.0.0.0", view_name, self.peers)
        seq = 0
        cache: dict[tuple[int, int, int], bytes] = {}
        for (afi, safi), index in sorted(self.families.items()):
            for pkey in sorted(index, key=lambda k: (k[1:], k[0])):
                entries = index[pkey]
                plain: list[RibEntry] = []
                added: list[RibEntry] = []
                for peer_index, originated, attrs, pid in entries:
                    ck = (id(attrs), afi, safi)
                    raw = cache.get(ck)
                    if raw is None:
                        raw = cache[ck] = mrt_attributes(afi, safi, attrs)
                    (added if pid is not None else plain).append((peer_index, originated, raw, pid))
                for group in (plain, added):
                    if group:
                        yield rib_record(ts, seq, afi, safi, pkey, group)
                        seq += 1
                if len(cache) > 65536:
                    cache.clear()


async def stream(snap: Snapshot, write: Callable[[bytes], Awaitable[None]], name: str) -> int:
    """Write the snapshot in chunks; returns the bytes written."""
    buf: list[bytes] = []
    size = total = 0
    for rec in snap.records(name):
        buf.append(rec)
        size += len(rec)
        if size >= CHUNK:
            await write(b"".join(buf))
            total += size
            buf, size = [], 0
    if buf:
        await write(b"".join(buf))
        total += size
    return total


def build(host: Host, *, metrics: bool = True) -> None:
    """``GET /api/v1/mrt[?router=R&view=V]``: a TABLE_DUMP_V2 snapshot (an
    endpoint, no life cycle: nothing to return); nothing over a stand-in core."""
    core: object = host.core  # tests build daemons over stand-in cores
    if not isinstance(core, Core):
        return None
    rib = core

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            params = check_params(request, ("router", "view"))
            snap = Snapshot(rib, params.get("router"), params.get("view"), time.time())
        except LookupError as exc:
            return error_response(404, str(exc.args[0]))
        except ValueError as exc:  # BadRequest too
            return error_response(400, str(exc))
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": 'attachment; filename="rib.mrt"',
                "X-MRT-Routes": str(snap.routes),
            }
        )
        await resp.prepare(request)
        name = "/".join(p for p in (params.get("router"), params.get("view")) if p) or "bmp-agent"
        await stream(snap, resp.write, name)
        await resp.write_eof()
        return resp

    host.add_get("/api/v1/mrt", handler)
    return None
