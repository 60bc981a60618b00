"""JSON-ready views of the state core for the HTTP API and the CLI.

Pure functions: they read ``Core`` and return plain dicts/lists/str/int/
float/bool/None. Endpoints:

* ``routers(core)`` → ``/api/v1/routers``
* ``peers(core, router=None)`` → ``/api/v1/peers`` (per-peer counts per view
  and family in ``tables``, for the ``bmp-agent peers`` table)
* ``routes(core, router=, peer=, view=, prefix=, limit=)`` → ``/api/v1/routes``
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
from typing import Any

from parsers.afi import afi_name, safi_name
from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import describe
from parsers.bmp.messages import VIEWS
from parsers.render import render_attributes, render_path_status

from ..core import Core, Peer, RibTable, Router
from ..core.path_status import status_of
from ..core.rib import RouteKey, key_path_id, key_prefix

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


class _Renderer:
    """Renders routes, sharing the attribute dict of an interned value."""

    def __init__(self) -> None:
        self._attrs: dict[int, JsonDict] = {}

    def route(
        self,
        router: Router,
        peer: Peer,
        t: RibTable,
        k: RouteKey,
        a: PathAttributes,
        match: str | None,
    ) -> JsonDict:
        rendered = self._attrs.get(id(a))
        if rendered is None:
            rendered = self._attrs[id(a)] = render_attributes(a)
        out: JsonDict = {
            "router": router.label,
            "peer": peer.label,
            "view": t.view,
            "afi": afi_name(t.afi),
            "safi": safi_name(t.safi),
            "prefix": describe(t.afi, t.safi, key_prefix(k)),
            "path_id": key_path_id(k),
            "attributes": rendered,
            "path_status": render_path_status(status_of(a)),
        }
        if match is not None:
            out["match"] = match
        return out


def _network_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network, plen: int) -> bytes:
    n = net.supernet(new_prefix=plen) if plen < net.prefixlen else net
    return bytes([plen]) + n.network_address.packed[: (plen + 7) // 8]


def lookup(
    t: RibTable, net: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> tuple[list[tuple[RouteKey, PathAttributes]], str | None]:
    """Exact or longest-prefix match of ``net`` in a prefix-keyed table."""
    routes = t.routes
    refs = t.refs
    for plen in range(net.prefixlen, -1, -1):
        p = _network_key(net, plen)
        match = "exact" if plen == net.prefixlen else "longest"
        if refs is None:
            a = routes.get(p)
            if a is not None:
                return [(p, a)], match
        elif p in refs:
            found = [(k, a) for k, a in routes.items() if key_prefix(k) == p]
            found.sort(key=lambda ka: -1 if ka[0] == p else (key_path_id(ka[0]) or 0))
            return found, match
    return [], None


def routes(
    core: Core,
    router: str | None = None,
    peer: str | None = None,
    view: str | None = None,
    prefix: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> JsonDict:
    """Routes of the selected routers/peers/view; ``peer`` matches the label or the address."""
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    if prefix is not None:
        net = ipaddress.ip_network(prefix, strict=False)
    render = _Renderer()
    out: list[JsonDict] = []
    truncated = False
    for r in _routers(core, router):
        for p in list(r.peers.values()):
            if peer is not None and peer not in (p.label, p.address):
                continue
            for _, t in sorted(p.tables.items(), key=_table_order):
                if view is not None and t.view != view:
                    continue
                if net is None:
                    items: list[tuple[RouteKey, PathAttributes]] = list(t.routes.items())
                    match = None
                elif t.safi in PREFIX_SAFIS:
                    if t.afi != (1 if net.version == 4 else 2):
                        continue
                    items, match = lookup(t, net)
                else:
                    text = str(net)
                    items = [
                        (k, a)
                        for k, a in t.routes.items()
                        if describe(t.afi, t.safi, key_prefix(k)).split(" ")[-1].endswith(text)
                    ]
                    match = "exact"
                for k, a in items:
                    if len(out) >= limit:
                        truncated = True
                        break
                    out.append(render.route(r, p, t, k, a, match))
    return {"routes": out, "count": len(out), "truncated": truncated}


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
