"""The multi-DC and MetalLB checks: ``metallb_pod_routes``, ``cidr_overlap``,
``dci_unsummarized``, ``local_only_leak``.

Which tables each check looks at
--------------------------------
* ``metallb_pod_routes``: the ``health.route_views`` tables of the peers that
  ``health.metallb_peers`` selects by address, ASN or BGP identifier (what the
  speaker announces to the router), and the ``adj_out_post`` tables of every
  peer of a router whose sysName a ``sysname:`` selector matches (what that
  router, the speaker itself, announces). A prefix is bad when it lies inside
  ``health.pod_cidrs`` or, with ``health.lb_pools`` set, outside every pool.
* ``dci_unsummarized`` and ``local_only_leak``: the ``health.route_views``
  tables (received from the DCI peer) and the ``adj_out_post`` table (sent to
  it; RFC 8671 post-policy Adj-RIB-Out is what goes on the wire; pre-policy
  Adj-RIB-Out holds what the export policy may still filter) of the peers
  ``health.dci_peers`` selects. Unsummarized: a prefix longer than
  ``health.dci_max_length`` for its family, or more than
  ``health.dci_max_routes`` routes in one view. A leak: a route carrying one
  of ``health.local_only_communities``.
* ``cidr_overlap``: the ``health.route_views`` tables of every peer but
  Loc-RIB. Watched routes are those inside ``health.pod_cidrs`` or
  ``health.service_cidrs``; with neither set, the CIDRs are *learned*: the
  routes a node peer originates itself (an AS_PATH of one AS, prepends
  allowed; host routes left out, they are MetalLB/anycast service addresses)
  plus every route from a DCI peer (learning needs ``health.dci_peers``: with
  no CIDRs and no DCI peers the check evaluates nothing). Two watched routes of one router conflict
  when their prefixes are equal or one contains the other and their origin
  ASes (last AS of the AS_PATH; the peer AS for an empty path) differ: the
  origin AS stands for the DC. Routes ending in an AS_SET (aggregates) are
  not watched. A peer fires when one of its routes is in a conflict.

Cost
----
``DcObserver`` (a ``agent.core.RouteObserver``) keeps per ``RibTable`` (in
``table.ext["health.dc"]``, dropped with the routes): bad-MetalLB prefix,
long-DCI prefix and local-only prefix -> path counts, and watched prefix ->
origin AS -> path count. Ingest cost: nothing for tables no check selects;
otherwise a CIDR test per prefix and, for the attribute-dependent counters,
one dict lookup per prefix (the replaced route's attributes). Evaluation
reads dict sizes and at most ``SAMPLE`` keys per table; ``cidr_overlap``
sorts the watched prefixes of a router only when one of its tables changed
(a per-table serial, cached in the observer).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from parsers.bgp.attributes import AS_SEQUENCE, PathAttributes
from parsers.bgp.nlri import NlriSet

from ..config import HealthConfig
from ..core import IMPLICIT, UP, Core, Peer, RibTable, RouteChangeObserver, RouteKey, Router
from .community import CommunityMatcher
from .results import CheckResult, Finding
from .selectors import PeerSelector, up_routers
from .table_ext import get_state, new_state, reset_tables

EXT_KEY = "health.dc"
UNICAST = 1
LOC_RIB_PEER = 3
WIRE_OUT = "adj_out_post"
BITS = {1: 32, 2: 128}
#: At most this many prefixes (and conflicts) are listed in a finding.
SAMPLE = 20

METALLB = "metallb_pod_routes"
OVERLAP = "cidr_overlap"
DCI = "dci_unsummarized"
LEAK = "local_only_leak"
DC_CHECKS = (METALLB, OVERLAP, DCI, LEAK)

_tokens = itertools.count(1)

# ----------------------------------------------------------------------------- prefixes


def decode(p: bytes, afi: int) -> tuple[int, int]:
    """(network as an int, length) of a wire prefix."""
    bits = BITS[afi]
    plen = p[0]
    raw = p[1:]
    v = int.from_bytes(raw, "big") << (bits - 8 * len(raw)) if raw else 0
    if plen < bits:
        v &= ~((1 << (bits - plen)) - 1)
    return v, plen


def prefix_text(p: bytes, afi: int) -> str:
    v, plen = decode(p, afi)
    addr = ipaddress.IPv4Address(v) if afi == 1 else ipaddress.IPv6Address(v)
    return f"{addr}/{plen}"


def _sort_key(afi: int, p: bytes) -> tuple[int, int, int]:
    v, plen = decode(p, afi)
    return afi, v, plen


class Space:
    """A set of CIDRs per family, for containment tests on wire prefixes."""

    __slots__ = ("nets",)

    def __init__(self, nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.nets: dict[int, list[tuple[int, int]]] = {1: [], 2: []}
        for n in nets:
            afi = 1 if n.version == 4 else 2
            self.nets[afi].append((int(n.network_address), n.prefixlen))

    def __bool__(self) -> bool:
        return bool(self.nets[1] or self.nets[2])

    def contains(self, afi: int, p: bytes) -> bool:
        nets = self.nets.get(afi)
        if not nets:
            return False
        bits = BITS[afi]
        v, plen = decode(p, afi)
        return any(plen >= nl and (v >> (bits - nl)) == (nv >> (bits - nl)) for nv, nl in nets)


# ----------------------------------------------------------------------------- settings


class DcSettings:
    """``HealthConfig`` compiled for the ingest path."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        on = {n for n in DC_CHECKS if cfg.enabled and n not in cfg.disabled}
        self.route_views = frozenset(cfg.route_views)
        self.metallb = PeerSelector(cfg.metallb_peers) if METALLB in on else PeerSelector(())
        self.pods = Space(cfg.pod_cidrs)
        self.pools = Space(cfg.lb_pools)
        self.dci = PeerSelector(cfg.dci_peers)
        self.dci_on = DCI in on and bool(self.dci)
        self.leak = CommunityMatcher(cfg.local_only_communities)
        self.leak_on = LEAK in on and bool(self.dci) and bool(self.leak)
        self.watch = Space((*cfg.pod_cidrs, *cfg.service_cidrs))
        # learned CIDRs (neither pod_cidrs nor service_cidrs) need DCI peers: a
        # router sees another DC's routes through them; without either the
        # check evaluates nothing (and costs nothing on ingest)
        self.overlap_on = OVERLAP in on and (bool(self.watch) or bool(self.dci))
        self.max_len = {1: cfg.dci_max_len(1), 2: cfg.dci_max_len(2)}
        self.dci_views = self.route_views | {WIRE_OUT}

    def key(self) -> tuple[Any, ...]:
        """What the ingest counters depend on (a change needs a rebuild)."""
        c = self.cfg
        return (
            c.enabled,
            tuple(n for n in DC_CHECKS if n in c.disabled),
            c.route_views,
            c.metallb_peers,
            c.pod_cidrs,
            c.service_cidrs,
            c.lb_pools,
            c.dci_peers,
            c.dci_max_length,
            c.local_only_communities,
        )

    def metallb_bad(self, afi: int, p: bytes) -> bool:
        if self.pods.contains(afi, p):
            return True
        return bool(self.pools) and not self.pools.contains(afi, p)


def origin_as(attrs: PathAttributes, peer: Peer) -> int | None:
    """The origin AS: last AS of the AS_PATH, the peer AS for an empty path,
    None when the path ends in an AS_SET or a confederation segment."""
    path = attrs.effective_as_path
    if not path:
        return peer.asn
    last = path[-1]
    if last.type != AS_SEQUENCE or not last.asns:
        return None
    return last.asns[-1]


def node_originated(attrs: PathAttributes) -> bool:
    """An AS_PATH of one AS (prepends allowed): the peer originated the route."""
    path = attrs.effective_as_path
    if not path or len(path) != 1:
        return False
    seg = path[0]
    return seg.type == AS_SEQUENCE and len(set(seg.asns)) == 1


# ----------------------------------------------------------------------------- state


class DcState:
    __slots__ = ("leak_comms", "leaks", "long", "metallb", "origins", "serial", "token")

    def __init__(self) -> None:
        self.token = next(_tokens)
        #: bumped on every change of ``origins``
        self.serial = 0
        #: prefix -> paths
        self.metallb: dict[bytes, int] = {}
        self.long: dict[bytes, int] = {}
        self.leaks: dict[bytes, int] = {}
        #: local-only community text -> routes carrying it
        self.leak_comms: dict[str, int] = {}
        #: watched prefix -> origin AS -> paths
        self.origins: dict[bytes, dict[int, int]] = {}


def dc_state(table: RibTable) -> DcState | None:
    return get_state(table, EXT_KEY, DcState)


def _new_state(table: RibTable) -> DcState:
    return new_state(table, EXT_KEY, DcState, DcState)


def _bump(d: dict[Any, int], k: Any, n: int) -> None:
    v = d.get(k, 0) + n
    if v > 0:
        d[k] = v
    else:
        d.pop(k, None)


class _Roles:
    __slots__ = ("dci", "metallb", "watch")

    def __init__(self, metallb: bool, dci: bool, watch: bool) -> None:
        self.metallb = metallb
        self.dci = dci
        self.watch = watch


class DcObserver(RouteChangeObserver):
    """Incremental per-table counters of the four checks (module docstring)."""

    def __init__(self, cfg: HealthConfig | None = None) -> None:
        self.settings = DcSettings(cfg or HealthConfig())
        #: id(peer) -> (peer, asn, bgp_id, metallb?, dci?)
        self._peers: dict[int, tuple[Peer, int, str, bool, bool]] = {}
        #: router label -> (fingerprint, conflicts per peer label)
        self._overlaps: dict[str, tuple[tuple[tuple[int, int], ...], dict[str, Conflicts]]] = {}

    def configure(self, cfg: HealthConfig, core: Core | None = None) -> bool:
        """New settings; rebuilds the counters from ``core`` when they depend on
        what changed. Returns whether it rebuilt."""
        new = DcSettings(cfg)
        changed = new.key() != self.settings.key()
        self.settings = new
        if changed:
            self._peers.clear()
            self._overlaps.clear()
            if core is not None:
                self.rebuild(core)
        return changed

    def _peer_roles(self, peer: Peer) -> tuple[bool, bool]:
        got = self._peers.get(id(peer))
        if got is not None and got[0] is peer and got[1] == peer.asn and got[2] == peer.bgp_id:
            return got[3], got[4]
        s = self.settings
        m = s.metallb.peer_selectors and s.metallb.peer(peer)
        d = s.dci.peer_selectors and s.dci.peer(peer)
        self._peers[id(peer)] = (peer, peer.asn, peer.bgp_id, m, d)
        return m, d

    def _roles(self, peer: Peer, table: RibTable) -> _Roles | None:
        if table.safi != UNICAST or table.afi not in BITS:
            return None
        s = self.settings
        view = table.view
        m_peer, d_peer = self._peer_roles(peer)
        metallb = bool((m_peer and view in s.route_views) or (s.metallb.globs and view == WIRE_OUT))
        dci = (s.dci_on or s.leak_on) and bool(
            (d_peer and view in s.dci_views) or (s.dci.globs and view in s.dci_views)
        )
        watch = s.overlap_on and view in s.route_views and peer.peer_type != LOC_RIB_PEER
        if not (metallb or dci or watch):
            return None
        return _Roles(metallb, dci, watch)

    # -- RouteChangeObserver --------------------------------------------------------

    def change(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes | None
    ) -> None:
        if attrs is None and dc_state(table) is None:
            return  # a withdrawal from a table with no counters
        roles = self._roles(peer, table)
        if roles is not None:
            self._update(peer, table, nset, attrs, roles, d_peer=self._peer_roles(peer)[1])

    # -- counters -----------------------------------------------------------------

    def _origin_of(self, attrs: PathAttributes, peer: Peer, d_peer: bool) -> int | None:
        """The origin AS when a route with ``attrs`` may be watched by
        cidr_overlap (the prefix decides the rest, ``_prefix_watched``)."""
        if not self.settings.watch and not d_peer and not node_originated(attrs):
            return None
        return origin_as(attrs, peer)

    def _prefix_watched(self, afi: int, p: bytes, d_peer: bool) -> bool:
        s = self.settings
        if s.watch:
            return s.watch.contains(afi, p)
        # learned: what nodes originate (no host routes) and what DCI peers send
        return p != b"\x00" and (d_peer or p[0] != BITS[afi])

    def _update(
        self,
        peer: Peer,
        table: RibTable,
        nset: NlriSet,
        attrs: PathAttributes | None,
        roles: _Roles,
        *,
        d_peer: bool,
    ) -> None:
        s = self.settings
        afi = table.afi
        st = dc_state(table)
        new_origin: int | None = None
        watch = False
        if roles.watch:
            if attrs is not None:
                new_origin = self._origin_of(attrs, peer, d_peer)
            watch = new_origin is not None or (st is not None and bool(st.origins))
        leak = roles.dci and s.leak_on
        new_leak = s.leak.match(attrs) if (attrs is not None and leak) else ()
        leak = leak and (bool(new_leak) or (st is not None and bool(st.leaks)))
        metallb = roles.metallb
        long = roles.dci and s.dci_on
        if not (metallb or long or leak or watch):
            return
        routes = table.routes
        path_ids = nset.path_ids
        keys: Iterable[RouteKey]
        if path_ids is None:
            keys = dict.fromkeys(nset.prefixes)
        else:
            keys = dict.fromkeys(zip(path_ids, nset.prefixes, strict=False))
        add = attrs is not None
        long_len = s.max_len[afi]
        # attribute-derived values of the last old attrs looked at
        leak_of: PathAttributes | None = None
        old_leak: tuple[str, ...] = ()
        origin_of: PathAttributes | None = None
        old_origin: int | None = None
        for k in keys:
            p = k[1] if isinstance(k, tuple) else k
            old = routes.get(k)
            if add and old is attrs:
                continue
            present = old is not None
            # prefix-only counters: one path more (new key) or less (withdrawn key)
            delta = (1 if not present else 0) if add else (-1 if present else 0)
            if delta:
                if metallb and s.metallb_bad(afi, p):
                    st = st or _new_state(table)
                    _bump(st.metallb, p, delta)
                if long and p[0] > long_len:
                    st = st or _new_state(table)
                    _bump(st.long, p, delta)
            # attribute-dependent counters: the old route goes, the new one comes
            if leak:
                if old is not None and st is not None and st.leaks:
                    if old is not leak_of:
                        leak_of = old
                        old_leak = s.leak.match(old)
                    if old_leak:
                        _bump(st.leaks, p, -1)
                        for c in old_leak:
                            _bump(st.leak_comms, c, -1)
                if new_leak:
                    st = st or _new_state(table)
                    _bump(st.leaks, p, 1)
                    for c in new_leak:
                        _bump(st.leak_comms, c, 1)
            if watch and self._prefix_watched(afi, p, d_peer):
                if old is not None and st is not None and st.origins:
                    if old is not origin_of:
                        origin_of = old
                        old_origin = self._origin_of(old, peer, d_peer)
                    per = st.origins.get(p) if old_origin is not None else None
                    if per is not None and old_origin in per:
                        _bump(per, old_origin, -1)
                        if not per:
                            del st.origins[p]
                        st.serial += 1
                if new_origin is not None:
                    st = st or _new_state(table)
                    per = st.origins.setdefault(p, {})
                    per[new_origin] = per.get(new_origin, 0) + 1
                    st.serial += 1

    def rebuild(self, core: Core) -> None:
        """Recompute every table's counters from its routes (O(routes), once)."""
        for peer, table in reset_tables(core, EXT_KEY):
            roles = self._roles(peer, table)
            if roles is None or not table.routes:
                continue
            d_peer = self._peer_roles(peer)[1]
            routes = table.routes
            table.routes = {}
            try:
                for k, a in routes.items():
                    if isinstance(k, tuple):
                        ns = NlriSet(table.afi, table.safi, (k[1],), (k[0],))
                    else:
                        ns = NlriSet(table.afi, table.safi, (k,), None)
                    self._update(peer, table, ns, a, roles, d_peer=d_peer)
                    table.routes[k] = a
            finally:
                table.routes = routes
        self._overlaps.clear()

    # -- cidr_overlap ---------------------------------------------------------------

    def overlaps(self, router: Router) -> dict[str, Conflicts]:
        """Conflicts per peer label of ``router``, recomputed only after a change."""
        tables: list[tuple[Peer, RibTable, DcState]] = []
        for peer in list(router.peers.values()):
            if peer.peer_type == LOC_RIB_PEER:
                continue
            for t in list(peer.tables.values()):
                st = dc_state(t)
                if st is not None and st.origins:
                    tables.append((peer, t, st))
        fp = tuple((st.token, st.serial) for _, _, st in tables)
        got = self._overlaps.get(router.label)
        if got is not None and got[0] == fp:
            return got[1]
        result = find_conflicts((p.label, t.afi, st.origins) for p, t, st in tables)
        self._overlaps[router.label] = (fp, result)
        return result


# ----------------------------------------------------------------------------- overlap sweep


@dataclass(slots=True)
class Conflicts:
    """The conflicts one peer's routes are part of."""

    count: int = 0
    #: (prefix, origin, other prefix, other origin, other peers), up to SAMPLE,
    #: in address order
    sample: list[tuple[str, int, str, int, tuple[str, ...]]] | None = None
    _keys: list[tuple[tuple[int, int, int], tuple[int, int, int]]] | None = None


def find_conflicts(
    entries: Iterable[tuple[str, int, dict[bytes, dict[int, int]]]],
) -> dict[str, Conflicts]:
    """Overlapping prefixes with different origin ASes: conflicts per peer label."""
    # (afi, value, length) -> (prefix text or bytes, origin -> peers)
    nodes: dict[tuple[int, int, int], tuple[int, bytes, dict[int, set[str]]]] = {}
    for label, afi, origins in entries:
        for p, per in origins.items():
            v, plen = decode(p, afi)
            node = nodes.get((afi, v, plen))
            if node is None:
                node = nodes[(afi, v, plen)] = (afi, p, {})
            for o in per:
                node[2].setdefault(o, set()).add(label)
    out: dict[str, Conflicts] = {}

    def record(
        a: tuple[int, bytes, dict[int, set[str]]],
        oa: int,
        b: tuple[int, bytes, dict[int, set[str]]],
        ob: int,
    ) -> None:
        for this, o1, other, o2 in ((a, oa, b, ob), (b, ob, a, oa)):
            for label in this[2][o1]:
                c = out.get(label)
                if c is None:
                    c = out[label] = Conflicts(0, [], [])
                c.count += 1
                assert c.sample is not None and c._keys is not None
                if len(c.sample) < SAMPLE:
                    c._keys.append((_sort_key(this[0], this[1]), _sort_key(other[0], other[1])))
                    c.sample.append(
                        (
                            prefix_text(this[1], this[0]),
                            o1,
                            prefix_text(other[1], other[0]),
                            o2,
                            tuple(sorted(other[2][o2])),
                        )
                    )

    stack: list[tuple[int, int, int, tuple[int, bytes, dict[int, set[str]]]]] = []
    for afi, v, plen in sorted(nodes):
        node = nodes[(afi, v, plen)]
        bits = BITS[afi]
        while stack:
            sa, sv, sl, _ = stack[-1]
            if sa == afi and plen >= sl and (v >> (bits - sl)) == (sv >> (bits - sl)):
                break
            stack.pop()
        here = sorted(node[2])
        for i, oa in enumerate(here):
            for ob in here[i + 1 :]:
                record(node, oa, node, ob)
        for _, _, _, anc in stack:
            for oa in sorted(anc[2]):
                for ob in here:
                    if oa != ob:
                        record(anc, oa, node, ob)
        stack.append((afi, v, plen, node))
    for c in out.values():
        assert c.sample is not None and c._keys is not None
        order = sorted(range(len(c.sample)), key=lambda i: (c._keys[i], c.sample[i]))  # type: ignore[index]
        c.sample = [c.sample[i] for i in order]
        c._keys = None
    return out


# ----------------------------------------------------------------------------- evaluation


def _sample(afi_prefixes: Iterable[tuple[int, bytes]]) -> list[str]:
    """Up to SAMPLE prefixes (the first found), sorted, as text."""
    got = sorted(set(itertools.islice(afi_prefixes, SAMPLE * 4)), key=lambda ap: _sort_key(*ap))
    return [prefix_text(p, afi) for afi, p in got[:SAMPLE]]


def _tables(peer: Peer, views: Iterable[str]) -> Iterator[RibTable]:
    vs = frozenset(views)
    for (view, afi, safi), t in list(peer.tables.items()):
        if view in vs and safi == UNICAST and afi in BITS:
            yield t


def _flagged(
    peer: Peer,
    views: frozenset[str],
    pick: Callable[[DcState], dict[bytes, int]],
    *,
    paths: bool = False,
) -> tuple[dict[str, int], list[tuple[int, bytes]]]:
    """What a check found in ``peer``'s tables of ``views``: per view, how many
    prefixes (``paths``: paths) the ``pick``ed ``DcState`` map holds, and the
    first of them as (afi, prefix) for ``_sample``."""
    per_view: dict[str, int] = {}
    found: list[tuple[int, bytes]] = []
    for t in _tables(peer, views):
        st = dc_state(t)
        flagged = pick(st) if st is not None else None
        if not flagged:
            continue
        n = sum(flagged.values()) if paths else len(flagged)
        per_view[t.view] = per_view.get(t.view, 0) + n
        found.extend((t.afi, p) for p in itertools.islice(flagged, SAMPLE))
    return per_view, found


def _views_of(
    selector: PeerSelector,
    router: Router,
    peer: Peer,
    side: frozenset[str],
    glob: frozenset[str],
) -> frozenset[str]:
    """The views a selector makes a check look at for ``peer`` (empty: not selected)."""
    views: set[str] = set()
    if selector.peer_selectors and selector.peer(peer):
        views |= side
    if selector.globs and selector.router(router.sys_name):
        views |= glob
    return frozenset(views)


def check_metallb(s: DcSettings, router: Router, peer: Peer, views: frozenset[str]) -> Any:
    per_view, found = _flagged(peer, views, lambda st: st.metallb)
    if not per_view:
        return None
    prefixes = _sample(found)
    in_pods = [p for p in prefixes if _in_any(p, s.cfg.pod_cidrs)]
    outside = [p for p in prefixes if p not in in_pods]
    worst = max(per_view.values())
    what = []
    if in_pods:
        what.append("inside the pod CIDRs")
    if outside:
        what.append("outside the LoadBalancer pools")
    return Finding(
        METALLB,
        router.label,
        peer.label,
        f"MetalLB speaker (AS {peer.asn}) announces {worst} prefix(es) {' and '.join(what)}: "
        + ", ".join(prefixes[:5])
        + (" ..." if worst > 5 else ""),
        {
            "prefixes": prefixes,
            "per_view": dict(sorted(per_view.items())),
            "in_pod_cidrs": in_pods,
            "outside_lb_pools": outside,
            "peer_asn": peer.asn,
        },
    )


def _in_any(text: str, nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    net = ipaddress.ip_network(text)
    return any(n.version == net.version and net.subnet_of(n) for n in nets)  # type: ignore[arg-type]


def check_dci(s: DcSettings, router: Router, peer: Peer, views: frozenset[str]) -> Any:
    long_per_view, found = _flagged(peer, views, lambda st: st.long)
    routes: dict[str, int] = {}
    for t in _tables(peer, views):
        routes[t.view] = routes.get(t.view, 0) + t.route_count
    limit = s.cfg.dci_max_routes
    over = {v: n for v, n in routes.items() if n > limit}
    if not long_per_view and not over:
        return None
    parts = []
    prefixes = _sample(found)
    if long_per_view:
        parts.append(
            ", ".join(
                f"{n} prefix(es) longer than /{s.max_len[1]} (IPv4) or /{s.max_len[2]} (IPv6) "
                f"in {v}"
                for v, n in sorted(long_per_view.items())
            )
            + ": "
            + ", ".join(prefixes[:5])
            + (" ..." if len(prefixes) > 5 else "")
        )
    if over:
        parts.append(
            ", ".join(f"{n} routes in {v}" for v, n in sorted(over.items()))
            + f" (more than {limit})"
        )
    return Finding(
        DCI,
        router.label,
        peer.label,
        f"DCI peer AS {peer.asn}: " + "; ".join(parts),
        {
            "prefixes": prefixes,
            "long_prefixes": dict(sorted(long_per_view.items())),
            "routes_over_limit": dict(sorted(over.items())),
            "max_length": {"ipv4": s.max_len[1], "ipv6": s.max_len[2]},
            "max_routes": limit,
        },
    )


def check_leak(s: DcSettings, router: Router, peer: Peer, views: frozenset[str]) -> Any:
    per_view, found = _flagged(peer, views, lambda st: st.leaks, paths=True)
    if not per_view:
        return None
    comms: Counter[str] = Counter()
    for t in _tables(peer, views):
        st = dc_state(t)
        if st is not None and st.leaks:
            comms.update(st.leak_comms)
    prefixes = _sample(found)
    order = {c: i for i, c in enumerate(s.leak.texts)}
    texts = sorted(comms, key=lambda c: order.get(c, len(order)))
    where = ", ".join(
        f"{n} in {v} ({'to' if v.startswith('adj_out') else 'from'} the DCI peer)"
        for v, n in sorted(per_view.items())
    )
    return Finding(
        LEAK,
        router.label,
        peer.label,
        f"routes tagged local-only ({', '.join(texts)}) cross the DCI link with AS {peer.asn}: "
        f"{where}: " + ", ".join(prefixes[:5]) + (" ..." if len(prefixes) > 5 else ""),
        {
            "prefixes": prefixes,
            "routes": dict(sorted(per_view.items())),
            "communities": {c: comms[c] for c in texts},
        },
    )


def check_overlap(router: Router, peer: Peer, conflicts: dict[str, Conflicts]) -> Any:
    c = conflicts.get(peer.label)
    if c is None or not c.count:
        return None
    sample = c.sample or []
    first = sample[0]
    others = ", ".join(first[4])
    return Finding(
        OVERLAP,
        router.label,
        peer.label,
        f"{first[0]} (origin AS {first[1]}) overlaps {first[2]} (origin AS {first[3]}, "
        f"from {others})" + (f" and {c.count - 1} more" if c.count > 1 else ""),
        {
            "conflicts": c.count,
            "overlaps": [
                {
                    "prefix": a,
                    "origin_as": oa,
                    "other_prefix": b,
                    "other_origin_as": ob,
                    "other_peers": list(peers),
                }
                for a, oa, b, ob, peers in sample
            ],
        },
    )


def evaluate_dc(
    core: Core,
    cfg: HealthConfig,
    results: dict[str, CheckResult],
    on: set[str],
    *,
    router: str | None = None,
    observer: DcObserver | None = None,
) -> None:
    """Add the four checks' subjects and findings to ``results`` (``checks.evaluate``)."""
    if not on.intersection(DC_CHECKS):
        return
    if observer is not None and observer.settings.cfg is cfg:
        s = observer.settings
    else:
        s = DcSettings(cfg)
    obs = observer or DcObserver(cfg)
    side_m = s.route_views
    glob_m = frozenset((WIRE_OUT,))
    dci_views = frozenset(s.dci_views)
    for rtr in up_routers(core, router):
        r = rtr.label
        conflicts = obs.overlaps(rtr) if OVERLAP in on and s.overlap_on else {}
        for peer in list(rtr.peers.values()):
            if peer.peer_type == LOC_RIB_PEER or peer.state not in (UP, IMPLICIT):
                continue
            p = peer.label
            if METALLB in on and s.metallb:
                views = _views_of(s.metallb, rtr, peer, side_m, glob_m)
                if views:
                    results[METALLB].add(r, p, check_metallb(s, rtr, peer, views))
            if OVERLAP in on and s.overlap_on:
                results[OVERLAP].add(r, p, check_overlap(rtr, peer, conflicts))
            if s.dci and (DCI in on or (LEAK in on and s.leak)):
                views = _views_of(s.dci, rtr, peer, dci_views, dci_views)
                if views:
                    if DCI in on:
                        results[DCI].add(r, p, check_dci(s, rtr, peer, views))
                    if LEAK in on and s.leak:
                        results[LEAK].add(r, p, check_leak(s, rtr, peer, views))


__all__ = [
    "DC_CHECKS",
    "Conflicts",
    "DcObserver",
    "DcSettings",
    "DcState",
    "dc_state",
    "evaluate_dc",
    "find_conflicts",
    "origin_as",
]
