"""Expected FIB routes of one router: what BGP selected, per prefix.

Source of the selection, per router:

* its ``loc_rib`` view when it sends one (RFC 9069; GoBGP ``local-rib``);
* otherwise the post-policy Adj-RIB-In (``adj_in_post``) of all its peers,
  put through the BGP decision process (FRR 8.4 and BIRD 3 send pre- and
  post-policy but no Loc-RIB);
* otherwise (a router sending only pre-policy) ``adj_in_pre``, the same way.

Decision process (RFC 4271 §9.1.2.2, with the usual LOCAL_PREF/eBGP steps of
§9.1.2.1): highest LOCAL_PREF (absent: 100), shortest AS_PATH (an AS_SET
counts 1), lowest ORIGIN, lowest MED among routes from the same neighbour AS
(absent MED: 0), eBGP over iBGP, lowest BGP ID (ORIGINATOR_ID when present),
lowest peer address. There is no IGP cost step: the collector cannot see it.

Modes (``fib.mode``):

``best``
    one next hop: the best path's (its global or link-local address).
``multipath``
    ECMP as FRR's ``bgp bestpath as-path multipath-relax``: every path that
    ties with the best one down to the eBGP/iBGP step (same AS_PATH *length*,
    any content) is installed; the kernel must hold exactly those next hops.
``any``
    loose: every next hop the kernel holds must be the next hop of *some*
    candidate path. Use it when the speaker's selection cannot be rebuilt
    from BMP (IGP cost ties, ``maximum-paths`` limits, add-path oddities,
    policies that set next hops the collector does not see).

A route's expected value is a ``Want``: a tuple of next hops, each a
frozenset of acceptable gateway addresses (packed bytes: the global and, for
IPv6, the link-local next hop). ``Want`` values are interned.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from parsers.bgp.attributes import PathAttributes, path_length

from ..core.peer import Peer
from ..core.router import Router

MODES = ("best", "multipath", "any")
DEFAULT_LOCAL_PREF = 100

#: one acceptable next hop: packed gateway addresses
Hop = frozenset[bytes]
Want = tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class PathSource:
    """The per-peer facts the decision process needs."""

    asn: int
    ebgp: bool
    bgp_id: int
    address: tuple[int, int]


def _ip_sort_key(address: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))


def _id(address: str | None) -> int:
    if not address:
        return 0
    try:
        return int(ipaddress.IPv4Address(address))
    except ValueError:
        return 0


def peer_source(peer: Peer) -> PathSource:
    local = peer.local_asn
    ebgp = True if local is None else peer.asn != local
    return PathSource(peer.asn, ebgp, _id(peer.bgp_id), _ip_sort_key(peer.address))


def _packed(address: str) -> bytes | None:
    text = address.split("%", 1)[0]
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except OSError:
        return None


def hop_of(attrs: PathAttributes) -> Hop:
    """Acceptable kernel gateways for a path: its next hop(s) as packed bytes."""
    hops = attrs.mp_next_hop or ((attrs.next_hop,) if attrs.next_hop else ())
    out = set()
    for h in hops:
        p = _packed(h)
        if p is not None and any(p):
            out.add(p)
    return frozenset(out)


def _neighbor_as(attrs: PathAttributes) -> int:
    segs = attrs.effective_as_path
    if segs:
        first = segs[0]
        if first.type == 2 and first.asns:  # AS_SEQUENCE
            return first.asns[0]
    return 0


Candidate = tuple[PathSource, PathAttributes]


def decide(cands: list[Candidate], mode: str) -> list[Candidate]:
    """The selected path(s): ``[best]`` in ``best`` mode, the ECMP set in ``multipath``,
    every candidate in ``any``."""
    if mode == "any" or len(cands) == 1:
        return cands
    # 1. highest LOCAL_PREF
    lp = [DEFAULT_LOCAL_PREF if a.local_pref is None else a.local_pref for _, a in cands]
    top = max(lp)
    c = [x for x, v in zip(cands, lp, strict=True) if v == top]
    # 2. shortest AS_PATH
    if len(c) > 1:
        lens = [path_length(a.effective_as_path) for _, a in c]
        low = min(lens)
        c = [x for x, v in zip(c, lens, strict=True) if v == low]
    # 3. lowest ORIGIN
    if len(c) > 1:
        org = [2 if a.origin is None else a.origin for _, a in c]
        low = min(org)
        c = [x for x, v in zip(c, org, strict=True) if v == low]
    # 4. MED, only among routes from the same neighbour AS
    if len(c) > 1:
        best_med: dict[int, int] = {}
        meds = []
        for _, a in c:
            nas = _neighbor_as(a)
            med = a.med or 0
            meds.append((nas, med))
            if nas not in best_med or med < best_med[nas]:
                best_med[nas] = med
        c = [x for x, (nas, med) in zip(c, meds, strict=True) if med == best_med[nas]]
    # 5. eBGP over iBGP
    if len(c) > 1 and any(s.ebgp for s, _ in c) and not all(s.ebgp for s, _ in c):
        c = [x for x in c if x[0].ebgp]
    if mode == "multipath":
        return c
    # 7. lowest BGP ID (ORIGINATOR_ID when reflected), 8. lowest peer address
    return [min(c, key=lambda x: (_id(x[1].originator_id) or x[0].bgp_id, x[0].address))]


class WantBuilder:
    """Interns ``Want`` values; caches the hop of each attribute object of one pass."""

    def __init__(self) -> None:
        self._hops: dict[int, tuple[PathAttributes, Hop]] = {}
        self._wants: dict[Want, Want] = {}

    def hop(self, attrs: PathAttributes) -> Hop:
        got = self._hops.get(id(attrs))
        if got is not None:
            return got[1]
        h = hop_of(attrs)
        # keep attrs alive so its id is not reused during the pass
        self._hops[id(attrs)] = (attrs, h)
        return h

    def want(self, hops: Iterable[Hop]) -> Want:
        w = tuple(sorted(set(hops), key=sorted))
        return self._wants.setdefault(w, w)


def source_view(router: Router) -> str | None:
    """``loc_rib``, ``adj_in_post`` or ``adj_in_pre``: the best view the router sends."""
    views = {v for p in router.peers.values() for (v, _a, _s) in p.tables}
    for v in ("loc_rib", "adj_in_post", "adj_in_pre"):
        if v in views:
            return v
    return None


def expected_routes(
    router: Router,
    afi: int,
    *,
    rd: str | None = None,
    mode: str = "best",
    view: str | None = None,
    builder: WantBuilder | None = None,
    snapshot: dict[int, dict[bytes | tuple[int, bytes], PathAttributes]] | None = None,
) -> dict[bytes, Want]:
    """prefix key → ``Want`` for unicast routes of ``afi`` from peers whose
    distinguisher is ``rd`` (None: the global instance).

    ``snapshot`` (peer id → routes copy) lets a worker thread compute while
    the event loop keeps changing the live tables.
    """
    if builder is None:
        builder = WantBuilder()
    if view is None:
        view = source_view(router)
    if view is None:
        return {}
    tables = []
    for peer in list(router.peers.values()):
        if peer.rd != rd or not peer.up:
            continue
        t = peer.tables.get((view, afi, 1))
        if t is None:
            continue
        routes = snapshot.get(id(t)) if snapshot is not None else t.routes
        if routes:
            tables.append((peer_source(peer), routes))
    return select(tables, mode, builder)


def select(
    tables: list[tuple[PathSource, dict[bytes | tuple[int, bytes], PathAttributes]]],
    mode: str,
    builder: WantBuilder,
) -> dict[bytes, Want]:
    """Run the decision process over the routes of several peers."""
    out: dict[bytes, Want] = {}
    hop = builder.hop
    want = builder.want
    single: dict[int, Want] = {}
    if len(tables) == 1 and mode != "any" and set(map(type, tables[0][1])) <= {bytes}:
        # one peer, no ADD-PATH keys: one Want per distinct attribute object,
        # the mapping built at C speed
        routes0 = tables[0][1]
        values = list(routes0.values())
        objs = dict(zip(map(id, values), values, strict=True))
        wmap = {i: want((hop(a),)) for i, a in objs.items()}
        return dict(zip(routes0.keys(), map(wmap.__getitem__, map(id, values)), strict=True))  # type: ignore[arg-type]
    if len(tables) == 1 and mode != "any":
        src, routes = tables[0]
        multi: dict[bytes, list[Candidate]] = {}
        for key, attrs in routes.items():
            if isinstance(key, tuple):
                p = key[1]
                prev = multi.get(p)
                if prev is None:
                    multi[p] = [(src, attrs)]
                else:
                    prev.append((src, attrs))
                continue
            w = single.get(id(attrs))
            if w is None:
                w = single[id(attrs)] = want((hop(attrs),))
            out[key] = w
        for p, cands in multi.items():
            out[p] = want(hop(a) for _, a in decide(cands, mode))
        return out
    cands_by: dict[bytes, Candidate | list[Candidate]] = {}
    for src, routes in tables:
        for key, attrs in routes.items():
            p = key[1] if isinstance(key, tuple) else key
            got = cands_by.get(p)
            if got is None:
                cands_by[p] = (src, attrs)
            elif isinstance(got, list):
                got.append((src, attrs))
            else:
                cands_by[p] = [got, (src, attrs)]
    for p, c in cands_by.items():
        if isinstance(c, list):
            out[p] = want(hop(a) for _, a in decide(c, mode))
        else:
            attrs = c[1]
            w = single.get(id(attrs))
            if w is None:
                w = single[id(attrs)] = want((hop(attrs),))
            out[p] = w
    return out
