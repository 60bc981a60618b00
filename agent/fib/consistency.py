"""Cross-view consistency of a router's BMP feed: "the kernel is wrong" vs
"the router's BMP feed is wrong".

A kernel route that BGP's selection (the source view) lacks is ``extra``,
unless the router's own feed contradicts itself in a way no policy explains:

* the source view (``adj_in_post``, ``loc_rib`` or ``adj_in_pre``)
  *withdrew the prefix without ever having announced it* there (a withdrawal
  of an unknown route), and never announced it since;
* the kernel holds it (from a watched routing protocol: BGP installed it);
* another view shows it: the same peer's pre-policy (or post-policy)
  Adj-RIB-In holds it, or, for ``loc_rib``, some peer's Adj-RIB-In does, or
  that other view is itself an "all withdrawals" feed (it never announced
  anything but withdrew routes it never had: FRR 8.4 pre-policy without
  ``soft-reconfiguration inbound``).

Such a prefix is ``bmp_inconsistent`` (``agent.fib.diff``), with the
evidence (which view said what, when), and counted in
``bmp_view_inconsistencies_total{kind="kernel_holds_withdrawn_route"}``;
it is not FIB drift. Known cause: FRR 8.4 sends a post-policy withdrawal for
a route whose next hop is not resolved yet and no announcement once it is
(FRRouting/frr#18070, #13292); at 20k IPv6 routes over an IPv4 session that
is the first few dozen IPv6 prefixes.

Cost: the FIB observer looks up each withdrawn prefix of the local router's
source view in the table (before the core applies the withdrawal); the
evidence is one small object per such prefix, at most ``fib.evidence_max``
per peer (the rest are counted in ``dropped``, and a kernel route without
kept evidence stays ``extra``). An announcement in the source view drops the
prefix's evidence (the view is consistent again), so does a Peer Down
(checked lazily: the table object changed).

The other way round, a stale path (``post_holds_pre_withdrawn_route``): BGP's
selection (the source view ``adj_in_post``) holds a prefix the kernel lacks,
but every post-policy path of it belongs to a peer whose *pre-policy* view no
longer holds it (withdrew it) although that pre-policy view is live (it has
announced routes: an all-withdrawals feed, FRR 8.4 without
``soft-reconfiguration inbound``, proves nothing). No import policy adds a
route the peer did not send, so the post-policy path is stale: the prefix is
``bmp_inconsistent`` (evidence ``said: "post_holds_pre_withdrawn_route"``),
counted in ``bmp_view_inconsistencies_total{kind="post_holds_pre_withdrawn_route"}``,
and not ``missing``. Known cause: GoBGP 3.10 sends the pre-policy withdrawal
of a non-best path and nothing in post-policy (seen with
``route-monitoring-policy = "all"``, where the FIB reads Loc-RIB and is
immune; 3.10's ``"both"`` sends no Route Monitoring at all). Such a prefix
is not in the kernel: ``kernel = in_sync + extra + nexthop_mismatch +
bmp_inconsistent`` minus these.

No Route Monitoring at all (``no_route_monitoring``): a router whose up peers
have no RIB table but whose Statistics Reports count Adj-RIB-In routes (GoBGP
3.10 with ``"both"``, obsolete there) leaves no source view; its kernel routes
are ``bmp_inconsistent`` (``unmonitored_routes``), not ``extra``. Cost: a look-up per peer
for each ``missing`` candidate only; at most ``fib.evidence_max`` held in all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from parsers.afi import afi_name
from parsers.bmp.context import PeerKey

from ..core.peer import Peer
from ..core.rib import RibTable
from ..core.router import Router
from .diff import BMP_INCONSISTENT, DriftTracker

#: the view withdrew a route it never announced (all views, from the RIB counters)
WITHDRAW_NEVER_ANNOUNCED = "withdraw_never_announced"
#: a bmp_inconsistent prefix: the kernel holds a route the source view withdrew unknown
KERNEL_HOLDS_WITHDRAWN = "kernel_holds_withdrawn_route"
#: a bmp_inconsistent prefix: post-policy holds a path its peer's live pre-policy view withdrew
POST_HOLDS_PRE_WITHDRAWN = "post_holds_pre_withdrawn_route"
#: bmp_inconsistent kernel routes: the router sends no Route Monitoring at all
#: while its Statistics Reports count Adj-RIB-In routes (GoBGP 3.10 "both")
NO_ROUTE_MONITORING = "no_route_monitoring"
ADJ_IN = ("adj_in_pre", "adj_in_post")
STAT_ADJ_IN = ("adj_rib_in_routes", None, None)
LOC_RIB_PEER = 3


class Withdrawal:
    """Evidence: ``view`` of peer ``peer`` withdrew the prefix at ``at`` never having
    announced it; ``other`` is what the other views said when it was last classified."""

    __slots__ = ("at", "other", "peer", "peer_label", "routes_id", "said", "view")

    def __init__(
        self,
        peer: Peer,
        view: str,
        at: float,
        routes_id: int,
        said: str = WITHDRAW_NEVER_ANNOUNCED,
    ) -> None:
        self.peer: PeerKey = peer.key
        self.peer_label = peer.label
        self.view = view
        self.at = at
        self.routes_id = routes_id
        self.said = said
        self.other: list[dict[str, Any]] = []


def all_withdrawals(table: RibTable | None) -> bool:
    """A view that never announced anything but withdrew routes it never had."""
    return table is not None and table.announces == 0 and table.unknown_withdraws > 0


def _holds(table: RibTable, p: bytes) -> bool:
    return p in table.refs if table.refs is not None else p in table.routes


class Evidence:
    """Withdrawals of never-announced routes in the local router's source view."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: (afi, rd) → prefix → evidence
        self.tables: dict[tuple[int, str | None], dict[bytes, Withdrawal]] = {}
        #: peer key → evidence entries held
        self.held: Counter[PeerKey] = Counter()
        #: peer label → withdrawals not kept (over ``limit``)
        self.dropped: Counter[str] = Counter()
        #: (peer label, view) → prefixes that became bmp_inconsistent
        self.inconsistent: Counter[tuple[str, str]] = Counter()
        #: (afi, rd) → prefix → stale post-policy path (POST_HOLDS_PRE_WITHDRAWN)
        self.stale: dict[tuple[int, str | None], dict[bytes, Withdrawal]] = {}
        #: (peer label, view) → prefixes that became bmp_inconsistent as stale paths
        self.stale_inconsistent: Counter[tuple[str, str]] = Counter()
        #: kernel routes that became bmp_inconsistent: no Route Monitoring at all
        self.unmonitored = 0

    def clear(self) -> None:
        self.tables.clear()
        self.held.clear()
        self.stale.clear()

    def get(self, afi: int, rd: str | None, p: bytes) -> Withdrawal | None:
        """The evidence of a ``bmp_inconsistent`` prefix (either kind)."""
        w = self.tables.get((afi, rd), {}).get(p)
        return w if w is not None else self.stale.get((afi, rd), {}).get(p)

    def classify_stale(
        self,
        router: Router,
        source: str,
        afi: int,
        rd: str | None,
        chunk: set[bytes],
        missing: set[bytes],
        reported: dict[bytes, Any],
        now: float,
    ) -> set[bytes]:
        """The prefixes of ``missing`` (selection holds, kernel lacks) whose every
        post-policy path is stale: its peer's live pre-policy view does not hold
        it. ``chunk``: the prefixes compared (their old stale evidence is
        re-decided); ``reported``: the drift entries (counts new ones once)."""
        ev = self.stale.get((afi, rd))
        if ev:
            for p in ev.keys() & chunk:
                if p not in missing:
                    del ev[p]
        if source != "adj_in_post" or not missing:
            return set()
        pairs = []
        for q in list(router.peers.values()):
            if not q.up or q.rd != rd:
                continue
            post = q.tables.get(("adj_in_post", afi, 1))
            if post is None:
                continue
            pre = q.tables.get(("adj_in_pre", afi, 1))
            pairs.append((q, post, pre if pre is not None and pre.announces > 0 else None))
        if not pairs:
            return set()
        out: dict[bytes, Peer] = {}
        for p in missing:
            stale_of: Peer | None = None
            for q, post, pre in pairs:
                if not _holds(post, p):
                    continue
                if pre is None or _holds(pre, p):
                    stale_of = None  # a path no view contradicts
                    break
                stale_of = q
            if stale_of is not None:
                out[p] = stale_of
        if not out:
            return set()
        ev = self.stale.setdefault((afi, rd), {})
        kept: set[bytes] = set()
        for p, q in out.items():
            w = ev.get(p)
            if w is None:
                if len(ev) >= self.limit:
                    self.dropped[q.label] += 1  # stays missing: over the evidence budget
                    continue
                w = ev[p] = self._stale_evidence(pairs, p, now)
            kept.add(p)
            d = reported.get(p)
            if d is None or d.state != BMP_INCONSISTENT:
                self.stale_inconsistent[(w.peer_label, w.view)] += 1
        return kept

    def stale_held(
        self, afi: int, rd: str | None, drifts: dict[bytes, Any], kernel: dict[bytes, Any]
    ) -> int:
        """The ``bmp_inconsistent`` stale paths held (the kernel lacks them)."""
        ev = self.stale.get((afi, rd))
        if not ev:
            return 0
        n = 0
        for p in ev:
            d = drifts.get(p)
            if d is not None and d.state == BMP_INCONSISTENT and p not in kernel:
                n += 1
        return n

    @staticmethod
    def _stale_evidence(
        pairs: list[tuple[Peer, RibTable, RibTable | None]], p: bytes, now: float
    ) -> Withdrawal:
        first: Withdrawal | None = None
        other: list[dict[str, Any]] = []
        for q, post, _pre in pairs:
            if not _holds(post, p):
                continue
            if first is None:
                first = Withdrawal(q, "adj_in_post", now, id(post.routes), POST_HOLDS_PRE_WITHDRAWN)
            other.append({"view": "adj_in_pre", "peer": q.label, "said": "withdrawn"})
        assert first is not None
        first.other = [*other, {"view": "kernel", "said": "lacks"}]
        return first

    def record(
        self, afi: int, rd: str | None, peer: Peer, table: RibTable, prefixes: Any, now: float
    ) -> None:
        """``table`` (about to apply a withdrawal of ``prefixes``) withdraws these."""
        routes = table.routes
        unknown = [p for p in prefixes if p not in routes]
        if not unknown:
            return
        ev = self.tables.setdefault((afi, rd), {})
        room = self.limit - self.held[peer.key]
        if room < len(unknown):
            self.dropped[peer.label] += len(unknown) - max(room, 0)
            unknown = unknown[: max(room, 0)]
        rid = id(routes)
        for p in unknown:
            old = ev.get(p)
            if old is not None:
                self.held[old.peer] -= 1
            ev[p] = Withdrawal(peer, table.view, now, rid)
        self.held[peer.key] += len(unknown)

    def announced(self, afi: int, rd: str | None, prefixes: Any) -> None:
        """The source view announced ``prefixes``: their evidence goes."""
        ev = self.tables.get((afi, rd))
        if not ev:
            return
        for p in ev.keys() & set(prefixes):
            self.held[ev.pop(p).peer] -= 1

    def drop(self, afi: int, rd: str | None, p: bytes) -> None:
        ev = self.tables.get((afi, rd))
        if ev is not None:
            w = ev.pop(p, None)
            if w is not None:
                self.held[w.peer] -= 1

    def classify(
        self, router: Router, source: str, afi: int, rd: str | None, extra: set[bytes]
    ) -> set[bytes]:
        """The prefixes of ``extra`` (kernel holds, selection lacks) that are
        ``bmp_inconsistent``; their evidence gets the other views' statements."""
        ev = self.tables.get((afi, rd))
        if not ev or not extra:
            return set()
        out: set[bytes] = set()
        view = source
        for p in extra & ev.keys():
            w = ev[p]
            if w.view != view:
                continue  # recorded before the source view was known
            peer = router.peers.get(w.peer)
            t = peer.tables.get((w.view, afi, 1)) if peer is not None else None
            if peer is None or not peer.up or t is None or id(t.routes) != w.routes_id:
                self.drop(afi, rd, p)  # the peer went down or its table was cleared
                continue
            other = self._other_views(router, peer, w.view, afi, p)
            if other:
                w.other = [*other, {"view": "kernel", "said": "holds"}]
                out.add(p)
        return out

    def held_for(
        self, peer: Peer, tables: Iterable[tuple[int, str | None]], tracker: DriftTracker
    ) -> tuple[dict[str, int], tuple[str, ...]]:
        """The ``bmp_inconsistent`` prefixes (reported, past the grace period) whose
        evidence names ``peer``, counted by afi name, and the views that withdrew
        them; ``tables``: the watched (kernel table, rd). Reads the drift entries
        of evidence prefixes only."""
        return self._held(self.tables, peer, tables, tracker)

    def stale_for(
        self, peer: Peer, tables: Iterable[tuple[int, str | None]], tracker: DriftTracker
    ) -> dict[str, int]:
        """The reported ``bmp_inconsistent`` stale post-policy paths of ``peer``, by afi name."""
        return self._held(self.stale, peer, tables, tracker)[0]

    @staticmethod
    def _held(
        evidence: dict[tuple[int, str | None], dict[bytes, Withdrawal]],
        peer: Peer,
        tables: Iterable[tuple[int, str | None]],
        tracker: DriftTracker,
    ) -> tuple[dict[str, int], tuple[str, ...]]:
        by_afi: dict[str, int] = {}
        views: set[str] = set()
        for (afi, rd), ev in list(evidence.items()):
            mine = [(p, w) for p, w in list(ev.items()) if w.peer == peer.key]
            if not mine:
                continue
            for table, table_rd in tables:
                if table_rd != rd:
                    continue
                drifts = tracker.tables.get((afi, table), {})
                for p, w in mine:
                    d = drifts.get(p)
                    if d is not None and d.reported and d.state == BMP_INCONSISTENT:
                        name = afi_name(afi)
                        by_afi[name] = by_afi.get(name, 0) + 1
                        views.add(w.view)
        return by_afi, tuple(sorted(views))

    @staticmethod
    def _other_views(
        router: Router, peer: Peer, view: str, afi: int, p: bytes
    ) -> list[dict[str, Any]]:
        if view == "adj_in_pre":
            # the only view: inconsistent only when it is an all-withdrawals feed
            t = peer.tables.get((view, afi, 1))
            return [{"view": view, "said": "all_withdrawals"}] if all_withdrawals(t) else []
        peers = [peer]
        if view == "loc_rib" or peer.peer_type == LOC_RIB_PEER:
            peers = [q for q in router.peers.values() if q.peer_type != LOC_RIB_PEER and q.up]
        out: list[dict[str, Any]] = []
        for q in peers:
            for v in ADJ_IN:
                if v == view:
                    continue
                o = q.tables.get((v, afi, 1))
                if o is None:
                    continue
                held = p in o.refs if o.refs is not None else p in o.routes
                if held:
                    out.append({"view": v, "peer": q.label, "said": "announces"})
                elif all_withdrawals(o):
                    out.append({"view": v, "peer": q.label, "said": "all_withdrawals"})
        return out


def unmonitored_routes(router: Router) -> dict[str, int]:
    """peer label → Adj-RIB-In routes its last Statistics Report counts, for the
    up peers of a router that sent no Route Monitoring at all (no peer has a RIB
    table); empty when any peer has one or no report counts a route. Kernel
    routes are not ``extra`` then: the router holds routes its feed never shows."""
    out: dict[str, int] = {}
    for q in list(router.peers.values()):
        if q.tables:
            return {}
        n = q.stats.get(STAT_ADJ_IN, 0)
        if q.up and n > 0:
            out[q.label] = n
    return out


def view_withdrawals(router: Router) -> Counter[tuple[str, str]]:
    """(peer label, view) → withdrawals of routes the view did not hold (RIB counters)."""
    out: Counter[tuple[str, str]] = Counter()
    for peer in list(router.peers.values()):
        for (view, _afi, _safi), t in list(peer.tables.items()):
            if t.unknown_withdraws:
                out[(peer.label, view)] += t.unknown_withdraws
    return out
