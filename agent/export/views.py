"""JSON-ready views of the state core for the HTTP API and the CLI.

Pure functions: they read ``Core`` and return plain dicts/lists/str/int/
float/bool/None. Endpoints:

* ``routers(core)`` → ``/api/v1/routers``
* ``peers(core, router=None)`` → ``/api/v1/peers`` (per-peer counts per view
  and family in ``tables``, for the ``bmp-agent peers`` table)
* ``routes(core, limit=, cursor=, router=, peer=, view=, prefix=)`` → ``/api/v1/routes``
  (``RoutePages`` streams the same pages)
* ``flaps(core)`` → ``/api/v1/flaps``

A route's ``path_status`` is ``parsers.render.render_path_status`` of its
marking (null when the router sent none). A route's ``attributes`` are ``parsers.render.render_attributes``, the
object ``bmp-agent decode`` prints (``docs/decode-schema.md``): one renderer,
one documented shape.

Route lookup by ``prefix`` (unicast, multicast and labeled-unicast tables;
``prefix`` is a prefix or a bare address): every table of the selected
routers/peers/views answers with its exact match, or when the exact prefix
is absent with its longest covering prefix (each route is marked
``"match": "exact" | "longest"``). The candidates are the supernets computed
with ``ipaddress`` and probed in the table's dict: at most 33 (IPv4) or 129
(IPv6) dict lookups per table, no walk. ADD-PATH tables find the matching
prefix the same way and then scan the table once for its path IDs
(O(table size), only for a table that holds the prefix). VPN and EVPN tables
are matched by their text form (``describe``), a full walk. Without
``prefix`` the routes are listed in table order up to ``limit``
(``truncated`` says when more exist).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Generator, Iterable, Iterator
from typing import Any, ClassVar, TypedDict, Unpack

from parsers.afi import afi_name, safi_name
from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import describe
from parsers.bmp.messages import VIEWS
from parsers.render import render_attributes, render_path_status

from ..core import Core, Peer, RibTable, Router
from ..core.path_status import status_of
from ..core.rib import RouteKey, key_path_id, key_prefix
from ..pages import TICK, IndexCache, SortedKeys, Tick, decode_cursor, encode_cursor, index_of

JsonDict = dict[str, Any]

#: Default cap on routes returned by one ``routes`` call.
DEFAULT_LIMIT = 10_000

#: SAFIs whose key is ``<length><prefix octets>`` (unicast, multicast, labeled unicast).
PREFIX_SAFIS = (1, 2, 4)
_VIEW_ORDER = {v: i for i, v in enumerate(VIEWS)}


def _table_order(item: tuple[tuple[str, int, int], RibTable]) -> tuple[int, int, int]:
    (view, afi, safi), _ = item
    return (_VIEW_ORDER.get(view, 99), afi, safi)


# -- routers ----------------------------------------------------------------


def router_view(router: Router, now: float) -> JsonDict:
    peers = list(router.peers.values())
    return {
        "router": router.label,
        "address": router.address,
        "port": router.port,
        "mode": router.mode,
        "state": "up" if router.up else "down",
        "up": router.up,
        "sys_name": router.sys_name,
        "sys_descr": router.sys_descr,
        "information": router.info,
        "connections": router.connections,
        "connected_since": router.connected_since if router.up else None,
        "uptime": now - router.connected_since
        if router.up and router.connected_since is not None
        else None,
        "last_message": router.last_message,
        "last_close": router.last_close,
        "close_reason": router.close_reason,
        "termination_reason": router.termination_reason,
        "peers_up": sum(1 for p in peers if p.up),
        "peers_total": len(peers),
        "routes": sum(p.route_count for p in peers),
        "messages": dict(sorted(router.messages.items())),
        "decode_errors": dict(sorted(router.decode_errors.items())),
        "quirks": dict(sorted(router.quirks.items())),
    }


def routers(core: Core) -> JsonDict:
    now = core.settings.clock()
    return {"routers": [router_view(r, now) for r in _routers(core, None)]}


# -- peers ------------------------------------------------------------------


def table_view(t: RibTable) -> JsonDict:
    return {
        "view": t.view,
        "afi": afi_name(t.afi),
        "safi": safi_name(t.safi),
        "routes": t.route_count,
        "prefixes": t.prefix_count,
        "eor": t.eor,
        "announces": t.announces,
        "withdraws": t.withdraws,
        "unknown_withdraws": t.unknown_withdraws,
        "flaps": t.flaps,
    }


def _stat_key(item: tuple[tuple[str, int | None, int | None], int]) -> tuple[str, int, int]:
    (name, afi, safi), _ = item
    return (name, afi or 0, safi or 0)


def peer_view(router: Router, peer: Peer, now: float) -> JsonDict:
    tables = [table_view(t) for _, t in sorted(peer.tables.items(), key=_table_order)]
    prefixes: dict[str, dict[str, int]] = {}
    for t in tables:
        fam = f"{t['afi']}_{t['safi']}"
        prefixes.setdefault(t["view"], {})[fam] = t["prefixes"]
    return {
        "router": router.label,
        "peer": peer.label,
        "address": peer.address,
        "peer_type": peer.peer_type_name,
        "rd": peer.rd,
        "asn": peer.asn,
        "bgp_id": peer.bgp_id,
        "local_asn": peer.local_asn,
        "local_address": peer.local_address,
        "local_port": peer.local_port,
        "remote_port": peer.remote_port,
        "state": peer.state,
        "up": peer.up,
        "up_since": peer.up_since,
        "uptime": now - peer.up_since if peer.up_since is not None else None,
        "last_change": peer.last_change,
        "last_down_reason": peer.last_down_reason,
        "table": peer.table_name,
        "downs": dict(sorted(peer.downs.items())),
        "routes": sum(t["routes"] for t in tables),
        "prefixes": prefixes,
        "tables": tables,
        "stats": [
            {
                "stat": name,
                "afi": None if afi is None else afi_name(afi),
                "safi": None if safi is None else safi_name(safi),
                "value": value,
            }
            for (name, afi, safi), value in sorted(peer.stats.items(), key=_stat_key)
        ],
    }


def peers(core: Core, router: str | None = None) -> JsonDict:
    now = core.settings.clock()
    return {
        "peers": [
            peer_view(r, p, now) for r in _routers(core, router) for p in list(r.peers.values())
        ]
    }


# -- routes -----------------------------------------------------------------

#: Indexes of the route tables, shared by every request (``agent.pages``).
INDEXES = IndexCache()

#: A position in the walk: router label, peer key, table, route sort key.
Position = tuple[str, tuple[int, bytes, str], tuple[int, int, int], Any]
#: A route of the walk: router, peer, table, key, attributes, match (or None).
Row = tuple[Router, Peer, RibTable, RouteKey, PathAttributes, str | None]


class _Renderer:
    """Renders routes to JSON, sharing the rendering of an interned value.

    ``route`` (a whole answer built at once) renders each attribute set once
    per answer. ``route_text`` (streamed answers) shares the JSON *text* of an
    attribute set across answers in ``_TEXT``: clients page through the same
    tables again and again, and text is one untracked ``str``, where cached
    rendered dicts would be tens of thousands of young containers for every
    cyclic-GC pass to traverse while the answer streams.

    Both caches hold the attribute objects themselves, so an ``id`` is never
    reused for another value while it is cached (a streamed answer yields to
    the loop, where ingest may free attributes)."""

    #: Attribute sets whose JSON text is kept, across answers (~300 B each).
    TEXT_CACHE: ClassVar[int] = 32768

    _TEXT: ClassVar[dict[int, tuple[PathAttributes, str]]] = {}

    def __init__(self) -> None:
        self._attrs: dict[int, tuple[PathAttributes, JsonDict]] = {}

    def attrs(self, a: PathAttributes) -> JsonDict:
        got = self._attrs.get(id(a))
        if got is None:
            got = self._attrs[id(a)] = (a, render_attributes(a))
        return got[1]

    @classmethod
    def attrs_text(cls, a: PathAttributes) -> str:
        got = cls._TEXT.get(id(a))
        if got is None or got[0] is not a:
            if len(cls._TEXT) >= cls.TEXT_CACHE:
                cls._TEXT.clear()
            got = cls._TEXT[id(a)] = (a, json.dumps(render_attributes(a), default=str))
        return got[1]

    @staticmethod
    def head(row: Row) -> JsonDict:
        """A route's fields before ``attributes``."""
        router, peer, t, k, a, _ = row
        return {
            "router": router.label,
            "peer": peer.label,
            "view": t.view,
            "afi": afi_name(t.afi),
            "safi": safi_name(t.safi),
            "prefix": describe(t.afi, t.safi, key_prefix(k)),
            "path_id": key_path_id(k),
            "path_status": render_path_status(status_of(a)),
        }

    def route(self, row: Row) -> JsonDict:
        out = self.head(row)
        out["attributes"] = self.attrs(row[4])
        if row[5] is not None:
            out["match"] = row[5]
        return out

    def route_text(self, row: Row) -> str:
        """``json.dumps(route(row))`` with the attributes' text shared."""
        head = json.dumps(self.head(row))
        match = row[5]
        tail = "}" if match is None else f', "match": "{match}"}}'
        return f'{head[:-1]}, "attributes": {self.attrs_text(row[4])}{tail}'


def _network_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network, plen: int) -> bytes:
    n = net.supernet(new_prefix=plen) if plen < net.prefixlen else net
    return bytes([plen]) + n.network_address.packed[: (plen + 7) // 8]


# Sort keys: a table's plain keys (prefix bytes) sort as themselves; once it
# holds ADD-PATH keys every key sorts as (prefix, path id or -1).


def _mixed(k: RouteKey) -> tuple[bytes, int]:
    return (k[1], k[0]) if isinstance(k, tuple) else (k, -1)


def _route_key(sk: Any) -> RouteKey:
    if isinstance(sk, tuple):
        return sk[0] if sk[1] < 0 else (sk[1], sk[0])
    return sk  # type: ignore[no-any-return]


def _sort_key_json(sk: Any) -> list[Any]:
    if isinstance(sk, tuple):
        return [sk[0].hex(), None if sk[1] < 0 else sk[1]]
    return [sk.hex(), None]


def _sort_key_for(index_mixed: bool, prefix: bytes, pid: int | None) -> Any:
    if index_mixed:
        return (prefix, -1 if pid is None else pid)
    return prefix


class _Indexes:
    """Route-table indexes for one walk (``agent.pages.index_of``): built
    inline (``sync``) or handed to the streaming driver as a ``Tick``."""

    def __init__(self, cache: IndexCache, *, fresh: bool, sync: bool) -> None:
        self.cache = cache
        self.fresh = fresh
        self.sync = sync

    def get(self, t: RibTable) -> Generator[Tick, None, SortedKeys]:
        routes = t.routes
        mixed = t.refs is not None
        version = (id(routes), t.announces, t.withdraws, len(routes), mixed)
        return index_of(
            self.cache,
            t,
            routes,
            version,
            fresh=self.fresh,
            sync=self.sync,
            transform=_mixed if mixed else None,
        )


def _peer_json(key: tuple[int, bytes, str]) -> list[Any]:
    return [key[0], key[1].hex(), key[2]]


def position_json(pos: Position) -> list[Any]:
    router, peer, table, sk = pos
    return [router, _peer_json(peer), list(table), _sort_key_json(sk)]


def parse_position(
    value: list[Any],
) -> tuple[str, tuple[int, bytes, str], tuple[int, int, int], bytes, int | None]:
    """A cursor's position; ``ValueError`` when it is not one."""
    try:
        router, (ptype, rd, addr), (vo, afi, safi), (prefix, pid) = value
        out = (
            str(router),
            (int(ptype), bytes.fromhex(rd), str(addr)),
            (int(vo), int(afi), int(safi)),
            bytes.fromhex(prefix),
            None if pid is None else int(pid),
        )
    except (TypeError, ValueError):
        raise ValueError("cursor is not a cursor this agent gave out") from None
    return out


def _lookup_keys(
    t: RibTable, net: ipaddress.IPv4Network | ipaddress.IPv6Network, indexes: _Indexes
) -> Iterator[Tick | tuple[list[Any], str | None]]:
    """Exact or longest-prefix match of ``net``: (sort keys, match) once."""
    routes = t.routes
    refs = t.refs
    for plen in range(net.prefixlen, -1, -1):
        p = _network_key(net, plen)
        match = "exact" if plen == net.prefixlen else "longest"
        if refs is None:
            if p in routes:
                yield [p], match
                return
        elif p in refs:
            index = yield from indexes.get(t)
            yield list(index.between((p, -1), (p, 1 << 32))), match
            return
    yield [], None


class RouteFilter(TypedDict, total=False):
    """Which routes a walk yields (absent or None: all): ``router`` label,
    ``peer`` label or address, ``view`` name, ``prefix`` (a prefix or an
    address: exact, else longest match)."""

    router: str | None
    peer: str | None
    view: str | None
    prefix: str | None


def walk_routes(
    core: Core, where: RouteFilter, *, after: list[Any] | None, indexes: _Indexes
) -> Iterator[Tick | tuple[Position, Row]]:
    """Routes in API order (router label, peer key, view/afi/safi, key) after
    the position ``after`` (a cursor's), with ``Tick`` while working."""
    router, peer, view = where.get("router"), where.get("peer"), where.get("view")
    prefix = where.get("prefix")
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    if prefix is not None:
        net = ipaddress.ip_network(prefix, strict=False)
    start = parse_position(after) if after is not None else None
    examined = 0
    for r in sorted(_routers(core, router), key=lambda r: r.label):
        if start is not None and r.label < start[0]:
            continue
        same_router = start is not None and r.label == start[0]
        for pkey, p in sorted(r.peers.items()):
            if same_router and start is not None and pkey < start[1]:
                continue
            same_peer = same_router and start is not None and pkey == start[1]
            if peer is not None and peer not in (p.label, p.address):
                continue
            for tkey, t in sorted(
                ((_VIEW_ORDER.get(v, 99), a, s), t) for (v, a, s), t in list(p.tables.items())
            ):
                if view is not None and t.view != view:
                    continue
                if same_peer and start is not None and tkey < start[2]:
                    continue
                resume = same_peer and start is not None and tkey == start[2]
                match: str | None = None
                keys: Iterable[Any]
                if net is not None and t.safi in PREFIX_SAFIS:
                    if t.afi != (1 if net.version == 4 else 2):
                        continue
                    keys = []
                    for got in _lookup_keys(t, net, indexes):
                        if isinstance(got, Tick):
                            yield got
                        else:
                            keys, match = got
                    mixed = t.refs is not None
                    if resume and start is not None:
                        ck = _sort_key_for(mixed, start[3], start[4])
                        keys = [k for k in keys if k > ck]
                else:
                    index = yield from indexes.get(t)
                    mixed = bool(index.version[-1])  # type: ignore[index]
                    ck = _sort_key_for(mixed, start[3], start[4]) if resume and start else None
                    keys = index.after(ck)
                    if net is not None:
                        match = "exact"
                text = str(net) if net is not None and t.safi not in PREFIX_SAFIS else None
                routes = t.routes
                for sk in keys:
                    examined += 1
                    if examined % 1024 == 0:
                        yield TICK
                    k = _route_key(sk)
                    a = routes.get(k)
                    if a is None:
                        continue  # withdrawn since the index was built
                    if text is not None and (
                        describe(t.afi, t.safi, key_prefix(k)).split(" ")[-1] != text
                    ):
                        continue
                    yield (r.label, pkey, tkey, sk), (r, p, t, k, a, match)
            examined += 1
            if examined % 1024 == 0:
                yield TICK


def routes(
    core: Core,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    **where: Unpack[RouteFilter],
) -> JsonDict:
    """Routes of the selected routers/peers/view (``RouteFilter``); ``peer``
    matches the label or the address. ``truncated`` says more exist; ``next``
    is the cursor of the next page (the HTTP API streams the same walk:
    ``RoutePages``)."""
    pages = RoutePages(core, limit=limit, cursor=cursor, sync=True, **where)
    render = _Renderer()
    out = [render.route(row) for row in pages.rows() if not isinstance(row, Tick)]
    return {"routes": out, **pages.tail()}


class RoutePages:
    """One paged ``/api/v1/routes`` answer: ``items`` for ``stream_json`` (or
    ``rows`` for ``routes``), then ``tail()`` with count, truncated and next.
    ``sync``: build table indexes inline rather than yield to the loop."""

    def __init__(
        self,
        core: Core,
        *,
        limit: int,
        cursor: str | None = None,
        sync: bool = False,
        **where: Unpack[RouteFilter],
    ) -> None:
        self.after = decode_cursor(cursor) if cursor is not None else None
        if self.after is not None:
            parse_position(self.after)
        self.core = core
        self.limit = limit
        self.where = where
        self.indexes = _Indexes(INDEXES, fresh=cursor is None, sync=sync)
        self.count = 0
        self.truncated = False
        self.last: Position | None = None

    def rows(self) -> Iterator[Tick | Row]:
        for item in walk_routes(self.core, self.where, after=self.after, indexes=self.indexes):
            if isinstance(item, Tick):
                yield item
                continue
            if self.count >= self.limit:
                self.truncated = True
                return
            pos, row = item
            self.count += 1
            self.last = pos
            yield row

    def items(self) -> Iterator[str | Tick]:
        render = _Renderer()
        for row in self.rows():
            yield row if isinstance(row, Tick) else render.route_text(row)

    def tail(self) -> JsonDict:
        nxt = None
        if self.truncated and self.last is not None:
            nxt = encode_cursor(position_json(self.last))
        return {"count": self.count, "truncated": self.truncated, "next": nxt}


# -- flaps ------------------------------------------------------------------


def flaps(core: Core) -> JsonDict:
    """Top-N flapping prefixes, and per (router, peer, view, family) flap counters."""
    top = [
        {
            "router": f.router,
            "peer": f.peer,
            "view": f.view,
            "afi": afi_name(f.afi),
            "safi": safi_name(f.safi),
            "prefix": describe(f.afi, f.safi, f.prefix),
            "flaps": f.flaps,
        }
        for f in core.top_flaps()
    ]
    tables = [
        {
            "router": r.label,
            "peer": p.label,
            "view": t.view,
            "afi": afi_name(t.afi),
            "safi": safi_name(t.safi),
            "flaps": t.flaps,
        }
        for r in _routers(core, None)
        for p in list(r.peers.values())
        for _, t in sorted(p.tables.items(), key=_table_order)
        if t.flaps
    ]
    sessions = [
        {"router": r.label, "peer": p.label, "downs": dict(sorted(p.downs.items()))}
        for r in _routers(core, None)
        for p in list(r.peers.values())
        if p.downs
    ]
    return {
        "window": core.settings.flap_window,
        "top": top,
        "tables": tables,
        "sessions": sessions,
    }


def _routers(core: Core, label: str | None) -> list[Router]:
    if label is None:
        return list(core.routers.values())
    r = core.routers.get(label)
    return [] if r is None else [r]
