"""The recorder: turns route changes, Peer Downs and kernel events into history events.

``Recorder`` is a core ``RouteObserver`` and ``ClearObserver`` (it sees
every change just before it is applied, so ``table.routes`` still holds the
previous route) and the listener of the FIB reconciler (``FibListener`` of
``agent.fib.reconciler``: kernel route changes, drift state changes, pass
ends). It writes ``agent.history.store`` events, counts best-path changes
and feeds ``agent.history.convergence``.

Best path, per router
    From its Loc-RIB (RFC 9069) when it sends one: every change of a
    Loc-RIB route whose next hop or AS_PATH differs is a best-path change
    (view ``loc_rib``). Otherwise the agent's own selection, the decision
    process of ``agent.fib.expected`` over the post-policy (else pre-policy)
    Adj-RIB-In of the router's peers of the same distinguisher: the best
    path before and after each change, computed from the tables the
    selection reads (the changed table with the new route in place of the
    old), so nothing is kept per route. A change of winning peer, next hop
    or AS_PATH is a best-path change (view: the view the selection reads).
    ADD-PATH tables take part with the path being changed only (walking a
    table for a prefix's other path IDs costs O(table)).

Cost per route change, while attached: one tuple and one index append, and
for the tables the selection reads, one dict lookup per peer holding the
view plus the decision process when more than one peer has the prefix.
Nothing per route when detached (``history.enabled: false``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ..core import Peer, RibTable, Router
from ..fib.expected import Candidate, PathSource, decide, peer_source, source_view
from .convergence import Convergence, PrefixRef
from .store import (
    ANNOUNCE,
    BEST_PATH_CHANGE,
    DRIFT,
    FIB_INSTALL,
    FIB_NEXTHOP_CHANGE,
    FIB_REMOVE,
    IMPLICIT_WITHDRAW,
    WITHDRAW,
    Event,
    HistoryStore,
)

if TYPE_CHECKING:
    from ..fib.reconciler import DriftChange, KernelRouteChange

LOC_RIB = "loc_rib"
LOC_RIB_PEER_TYPE = 3
ADJ_IN = frozenset(("adj_in_pre", "adj_in_post"))
SELECTION_VIEWS = {"loc_rib": 0, "adj_in_post": 1, "adj_in_pre": 2}
#: Peer Down "reason" of a closed BMP session: the router did not withdraw
#: anything, the agent lost sight of it (no event is recorded).
SESSION_CLOSED = "session_closed"
KERNEL_VIEW = "kernel"
IN_SYNC = "in_sync"

#: the best path as history keeps it: (peer label, attributes), None = no route
Best = tuple[str, PathAttributes] | None


def _same_path(a: Best, b: Best, *, loc_rib: bool) -> bool:
    if a is None or b is None:
        return a is b
    if a[1] is b[1] and (loc_rib or a[0] == b[0]):
        return True
    x, y = a[1], b[1]
    return (
        (loc_rib or a[0] == b[0])
        and x.next_hop == y.next_hop
        and x.mp_next_hop == y.mp_next_hop
        and x.effective_as_path == y.effective_as_path
    )


def _bmp_time(peer: Peer) -> float | None:
    h = peer.header
    if h is None or not (h.timestamp_sec or h.timestamp_usec):
        return None
    return h.timestamp_sec + h.timestamp_usec / 1e6


class Recorder:
    """See the module docstring."""

    def __init__(
        self,
        store: HistoryStore,
        convergence: Convergence,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.convergence = convergence
        self.clock = clock
        #: (router, view, afi, safi) → best-path changes
        self.best_changes: Counter[tuple[str, str, int, int]] = Counter()
        #: events recorded per kind (evicted ones included)
        self.recorded: Counter[str] = Counter()
        self._views: dict[int, tuple[Router, str | None]] = {}
        self._tables: dict[
            tuple[int, str, int, int, str | None], tuple[int, list[Any], set[int]]
        ] = {}
        self._sources: dict[int, tuple[Peer, float | None, int | None, PathSource]] = {}

    # -- selection ----------------------------------------------------------------------

    def selection_view(self, router: Router, view: str) -> str | None:
        """The view whose changes move the router's best paths (cached; upgraded
        when a better view shows up, recomputed after a peer's routes go)."""
        got = self._views.get(id(router))
        if got is None or got[0] is not router:
            cur = source_view(router)
            self._views[id(router)] = (router, cur)
        else:
            cur = got[1]
        rank = SELECTION_VIEWS.get(view)
        if rank is not None and (cur is None or rank < SELECTION_VIEWS[cur]):
            cur = view
            self._views[id(router)] = (router, cur)
        return cur

    def _source(self, peer: Peer) -> PathSource:
        got = self._sources.get(id(peer))
        if (
            got is not None
            and got[0] is peer
            and got[1] == peer.up_since
            and got[2] == peer.local_asn
        ):
            return got[3]
        src = peer_source(peer)
        self._sources[id(peer)] = (peer, peer.up_since, peer.local_asn, src)
        return src

    def _peer_tables(self, router: Router, peer: Peer, table: RibTable) -> list[Any]:
        """[(peer, table)] of the router's peers (same distinguisher) holding ``table``'s
        view and family; cached, rebuilt when the peers change."""
        key = (id(router), table.view, table.afi, table.safi, peer.rd)
        got = self._tables.get(key)
        if got is None or got[0] != len(router.peers) or id(table) not in got[2]:
            tk = (table.view, table.afi, table.safi)
            lst = [
                (p, p.tables[tk])
                for p in list(router.peers.values())
                if p.rd == peer.rd and tk in p.tables and p.peer_type != LOC_RIB_PEER_TYPE
            ]
            got = (len(router.peers), lst, {id(t) for _, t in lst})
            self._tables[key] = got
        return got[1]

    def _best(
        self, pairs: list[Any], peer: Peer, prefix: bytes, new: PathAttributes | None
    ) -> tuple[Best, Best]:
        """The best path of ``prefix`` before and after ``peer``'s route becomes ``new``."""
        before: list[tuple[Peer, PathAttributes]] = []
        after: list[tuple[Peer, PathAttributes]] = []
        for p, t in pairs:
            a = t.routes.get(prefix)
            if p is peer:
                if a is not None:
                    before.append((p, a))
                if new is not None:
                    after.append((p, new))
            elif a is not None and p.up:
                c = (p, a)
                before.append(c)
                after.append(c)
        return self._pick(before), self._pick(after)

    def _pick(self, cands: list[tuple[Peer, PathAttributes]]) -> Best:
        if not cands:
            return None
        if len(cands) == 1:
            p, a = cands[0]
            return (p.label, a)
        src = self._source
        full: list[Candidate] = [(src(p), a) for p, a in cands]
        won = decide(full, "best")[0]
        for (p, a), c in zip(cands, full, strict=True):
            if c is won:
                return (p.label, a)
        raise AssertionError("decide returned no candidate")  # pragma: no cover

    def _changes(
        self,
        router: Router,
        peer: Peer,
        table: RibTable,
        prefixes: tuple[bytes, ...],
        path_ids: tuple[int, ...] | None,
        new: PathAttributes | None,
        now: float,
        bmp: float | None,
    ) -> None:
        """Best-path changes of ``prefixes`` when ``peer``'s routes in ``table``
        become ``new`` (None: withdrawn)."""
        view = table.view
        sel = self.selection_view(router, view)
        if sel is None or view != sel:
            return
        label = router.label
        afi, safi = table.afi, table.safi
        events: list[Any] = []
        add = events.append
        if view == LOC_RIB:
            routes = table.routes
            pl = peer.label
            nb: Best = None if new is None else (pl, new)
            for i, p in enumerate(prefixes):
                k: Any = p if path_ids is None else (path_ids[i], p)
                old_a = routes.get(k)
                if old_a is new:
                    continue
                ob: Best = None if old_a is None else (pl, old_a)
                if not _same_path(ob, nb, loc_rib=True):
                    add((now, bmp, BEST_PATH_CHANGE, label, pl, view, afi, safi, p, None, ob, nb))
        else:
            pairs = self._peer_tables(router, peer, table)
            best = self._best
            for p in prefixes:
                ob, nb = best(pairs, peer, p, new)
                if not _same_path(ob, nb, loc_rib=False):
                    who = nb[0] if nb is not None else (ob[0] if ob is not None else "")
                    add((now, bmp, BEST_PATH_CHANGE, label, who, view, afi, safi, p, None, ob, nb))
        if events:
            self.store.extend(afi, safi, events)
            self.best_changes[(label, view, afi, safi)] += len(events)
            self.recorded[BEST_PATH_CHANGE] += len(events)
            conv = self.convergence
            if conv.open:
                for ev in events:
                    conv.best_changed(label, (afi, safi, ev[8]), now)

    # -- RouteObserver ------------------------------------------------------------------

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None:
        router, now, bmp, events = self._record(peer, table, nset, WITHDRAW, None)
        if router is None:
            return
        known: list[PrefixRef] = [
            (table.afi, table.safi, ev[8]) for ev in events if ev[10] is not None
        ]
        if known and table.view in ADJ_IN and peer.peer_type != LOC_RIB_PEER_TYPE:
            self.convergence.triggered(
                router.label, peer.label, peer.rd, "withdraw", known, now, bmp
            )
        self._changes(router, peer, table, nset.prefixes, nset.path_ids, None, now, bmp)

    def announce(self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
        router, now, bmp, _ = self._record(peer, table, nset, ANNOUNCE, attrs)
        if router is not None:
            self._changes(router, peer, table, nset.prefixes, nset.path_ids, attrs, now, bmp)

    def _record(
        self, peer: Peer, table: RibTable, nset: NlriSet, kind: str, attrs: PathAttributes | None
    ) -> tuple[Router | None, float, float | None, list[Event]]:
        """One ``kind`` event per route of ``nset``, each with the route's
        attributes before the change (the table is not yet updated)."""
        router: Router | None = peer.router
        label = router.label if router is not None else ""
        now = self.clock()
        bmp = _bmp_time(peer)
        pl, view, afi, safi = peer.label, table.view, table.afi, table.safi
        pids = nset.path_ids
        get = table.routes.get
        events: list[Event]
        if pids is None:
            events = [
                (now, bmp, kind, label, pl, view, afi, safi, p, None, get(p), attrs)
                for p in nset.prefixes
            ]
        else:
            events = [
                (now, bmp, kind, label, pl, view, afi, safi, p, pid, get((pid, p)), attrs)
                for pid, p in zip(pids, nset.prefixes, strict=False)
            ]
        self.store.extend(afi, safi, events)
        self.recorded[kind] += len(nset.prefixes)
        return router, now, bmp, events

    # -- ClearObserver ------------------------------------------------------------------

    def routes_cleared(self, peer: Peer, reason: str) -> None:
        """Peer Down (or stale routes at Peer Up): an implicit withdraw per route."""
        router: Router | None = peer.router
        if reason == SESSION_CLOSED or router is None:
            self._views.pop(id(router), None)
            return
        label = router.label
        now = self.clock()
        bmp = _bmp_time(peer)
        pl = peer.label
        add = self.store.add
        affected: list[PrefixRef] = []
        n = 0
        plain: list[tuple[RibTable, tuple[bytes, ...]]] = []
        for table in list(peer.tables.values()):
            routes = table.routes
            if not routes:
                continue
            view, afi, safi = table.view, table.afi, table.safi
            keys: list[bytes] = []
            for k, a in routes.items():
                if isinstance(k, tuple):
                    pid, p = k
                else:
                    pid, p = None, k
                    keys.append(k)
                add((now, bmp, IMPLICIT_WITHDRAW, label, pl, view, afi, safi, p, pid, a, reason))
                if view in ADJ_IN:
                    affected.append((afi, safi, p))
            n += len(routes)
            plain.append((table, tuple(keys)))
        self.recorded[IMPLICIT_WITHDRAW] += n
        if reason != "peer_up" and affected and peer.peer_type != LOC_RIB_PEER_TYPE:
            self.convergence.triggered(label, pl, peer.rd, "peer_down", affected, now, bmp)
        for table, keys_ in plain:
            self._changes(router, peer, table, keys_, None, None, now, bmp)
        self._views.pop(id(router), None)

    # -- FIB listener (agent.fib.reconciler) ----------------------------------------------

    def kernel_route(self, change: KernelRouteChange) -> None:
        """A kernel route of a watched protocol and table changed."""
        c = change
        if c.old == c.new:
            return
        if c.old is None:
            kind = FIB_INSTALL
        elif c.new is None:
            kind = FIB_REMOVE
        else:
            kind = FIB_NEXTHOP_CHANGE
        row = (c.table, c.old)
        self.store.add(
            (c.now, None, kind, c.router, "", KERNEL_VIEW, c.afi, 1, c.prefix, None, row, c.new)
        )
        self.recorded[kind] += 1
        if c.router:
            self.convergence.kernel_changed(c.router, (c.afi, 1, c.prefix), c.now)

    def drift(self, change: DriftChange) -> None:
        """``change.prefixes`` entered drift ``change.state`` (None: back in sync)."""
        st = IN_SYNC if change.state is None else change.state
        add = self.store.add
        head = (change.now, None, DRIFT, change.router, "", KERNEL_VIEW, change.afi, 1)
        for p in change.prefixes:
            add((*head, p, None, change.table, st))
        self.recorded[DRIFT] += len(change.prefixes)

    def pass_done(self, now: float) -> None:
        self.convergence.tick(now, fib_pass=True)
