"""Expected vs kernel routes: per-route drift states, with a grace period.

States: ``in_sync``; ``missing`` (BGP selected it, the kernel lacks it);
``extra`` (the kernel holds a route of a watched protocol that BGP does not
select: stale); ``nexthop_mismatch``. A difference counts only once it has
lasted ``grace`` seconds; until then it is ``pending`` (so convergence is not
flagged). ``DriftTracker`` keeps, per (afi, table), only the drifting
prefixes, so a table in sync costs nothing to hold.

``bmp_inconsistent`` is not drift: the kernel holds a route that the router's
source view withdrew without ever announcing it, while another view (its
pre-policy Adj-RIB-In) shows it (``agent.fib.consistency``). It goes through
the same grace period and is counted like a state, but it raises no drift
events and the drift alert ignores it: the router's BMP feed is wrong, not
the kernel.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.interner import KEYS
from .expected import Want
from .netlink import Entry, Nexthop

IN_SYNC = "in_sync"
MISSING = "missing"
EXTRA = "extra"
NEXTHOP_MISMATCH = "nexthop_mismatch"
PENDING = "pending"
BMP_INCONSISTENT = "bmp_inconsistent"
DRIFT_STATES = (MISSING, EXTRA, NEXTHOP_MISMATCH)
#: states a prefix can be held in (drift, and the feed defect)
HELD_STATES = (*DRIFT_STATES, BMP_INCONSISTENT)
STATES = (IN_SYNC, MISSING, EXTRA, NEXTHOP_MISMATCH, BMP_INCONSISTENT, PENDING)


def matches(want: Want, hops: tuple[Nexthop, ...], mode: str) -> bool:
    """Whether the kernel's next hops are what BGP selected (see ``agent.fib.expected``)."""
    gws = {g for g, _ in hops}
    if not gws:
        return False
    if mode == "any":
        return all(any(g in w for w in want) for g in gws)
    if len(gws) != len(want):
        return False
    used: set[bytes] = set()
    for w in want:
        for g in gws:
            if g in w and g not in used:
                used.add(g)
                break
        else:
            return False
    return True


@dataclass(slots=True)
class TableDiff:
    """One comparison of one (afi, table): drifting prefixes and the in-sync count."""

    in_sync: int = 0
    expected: int = 0
    kernel: int = 0
    drift: dict[bytes, str] = field(default_factory=dict)


def compare(
    expected: dict[bytes, Want],
    kernel: dict[bytes, Entry],
    resolve: Callable[[Entry], tuple[Nexthop, ...]],
    mode: str,
) -> TableDiff:
    out = TableDiff(expected=len(expected), kernel=len(kernel))
    drift = out.drift
    cache: dict[tuple[int, int], bool] = {}
    in_sync = 0
    mismatched = 0
    get = kernel.get
    for p, w in expected.items():
        e = get(p)
        if e is None:
            drift[p] = MISSING
            continue
        k = (id(w), id(e))
        ok = cache.get(k)
        if ok is None:
            ok = cache[k] = matches(w, resolve(e), mode)
        if ok:
            in_sync += 1
        else:
            drift[p] = NEXTHOP_MISMATCH
            mismatched += 1
    if len(kernel) > in_sync + mismatched:
        for p in kernel.keys() - expected.keys():
            drift[p] = EXTRA
    out.in_sync = in_sync
    return out


class Drift:
    """A group of prefixes that entered ``state`` at ``since`` (one comparison).

    Every prefix of the group points at the same object, so a drifting route
    costs one dict entry and no object of its own, and reporting a group once
    its grace period is over is one flag, not a walk.
    """

    __slots__ = ("n", "reported", "since", "state")

    def __init__(self, state: str, since: float, reported: bool = False) -> None:
        self.state = state
        self.since = since
        self.reported = reported
        #: prefixes in the group
        self.n = 0


class DriftTracker:
    """Drifting prefixes per (afi, table) with the time each difference started.

    ``tables[(afi, table)][prefix] = Drift`` holds only the drifting prefixes;
    per-state counts are kept as prefixes move (``move``), so ``counts()`` is
    O(tables), never a walk. ``update`` replaces a table's drift with a whole
    comparison (``compare``), for tools and tests.
    """

    def __init__(self) -> None:
        self.tables: dict[tuple[int, int], dict[bytes, Drift]] = {}
        self.in_sync: dict[tuple[int, int], int] = {}
        #: (afi, state) → routes that entered a reported drift state (or, for
        #: ``in_sync``, left one); never ``bmp_inconsistent``
        self.events: Counter[tuple[int, str]] = Counter()
        #: (afi, table) → state → prefixes, reported / within grace
        self._reported: dict[tuple[int, int], Counter[str]] = {}
        self._pending: dict[tuple[int, int], Counter[str]] = {}
        #: groups not yet reported, oldest first: (key, group)
        self._waiting: list[tuple[tuple[int, int], Drift]] = []
        #: the open group per (key, state): new drift of one comparison joins it
        self._open: dict[tuple[tuple[int, int], str], Drift] = {}
        #: Called with (key, prefixes, state) for prefixes whose drift state
        #: changes (state None: back in sync); None costs nothing.
        self.on_move: Callable[[tuple[int, int], set[bytes], str | None], None] | None = None

    # -- incremental ------------------------------------------------------------------

    def _forget(self, key: tuple[int, int], groups: list[Drift], recovered: bool = True) -> None:
        rep = self._reported[key]
        pen = self._pending[key]
        afi = key[0]
        # few distinct groups: count them at C speed, adjust once per group
        for g, n in Counter(groups).items():
            g.n -= n
            if g.reported:
                rep[g.state] -= n
                if recovered and g.state != BMP_INCONSISTENT:
                    self.events[(afi, IN_SYNC)] += n
            else:
                pen[g.state] -= n

    def move(
        self, key: tuple[int, int], prefixes: set[bytes], state: str | None, now: float
    ) -> None:
        """Set the drift state of ``prefixes`` in table ``key`` (None: not drifting).

        Prefixes already in ``state`` keep their group (and its start time);
        the others join the open group of this state started at ``now``.
        """
        if not prefixes:
            return
        drifts = self.tables.get(key)
        if drifts is None:
            if state is None:
                return
            drifts = self.tables[key] = {}
            self._reported[key] = Counter()
            self._pending[key] = Counter()
        if state is not None:
            # One probe per prefix tells the two cases of a table load apart:
            # none drifting yet (first comparison), or all already in
            # ``state`` in one group (another peer's copy re-dirtied them).
            groups = set(map(drifts.get, prefixes))
            if len(groups) == 1:
                (g0,) = groups
                if g0 is not None and g0.state == state:
                    return
                prev = set() if g0 is None else prefixes
            else:
                prev = drifts.keys() & prefixes
        else:
            prev = drifts.keys() & prefixes
        if state is None:
            if prev:
                self._forget(key, list(map(drifts.pop, prev)))
                if self.on_move is not None:
                    self.on_move(key, prev, None)
            return
        if prev:
            olds = list(map(drifts.__getitem__, prev))
            same: set[bytes] = set()
            gone: list[Drift] = []
            states = {g.state for g in set(olds)}
            if states == {state}:
                same = prev
            elif state not in states:
                gone = olds
            else:
                for p, old in zip(prev, olds, strict=True):
                    if old.state == state:
                        same.add(p)
                    else:
                        gone.append(old)
            if gone:
                self._forget(key, gone, recovered=False)
            if same:
                prefixes = prefixes - same
            if not prefixes:
                return
        g: Drift | None = self._open.get((key, state))
        if g is None or g.since != now or g.reported:
            g = self._open[(key, state)] = Drift(state, now)
            self._waiting.append((key, g))
        g.n += len(prefixes)
        # Key the entries with the RIB's shared prefix objects
        # (``interner.KEYS``): the prefixes come from the dirty lists, i.e.
        # the decoded messages' own copies, and a drifting prefix would hold
        # its copy (~40 B) alive as long as it drifts.
        pool = KEYS.keys
        drifts.update(dict.fromkeys(map(pool.get, prefixes, prefixes), g))
        self._pending[key][state] += len(prefixes)
        if self.on_move is not None:
            self.on_move(key, prefixes, state)

    def promote(self, now: float, grace: float) -> int:
        """Report the differences older than ``grace``; returns how many are still pending."""
        keep = []
        for key, g in self._waiting:
            if g.n <= 0:
                continue
            if now - g.since >= grace:
                g.reported = True
                self._pending[key][g.state] -= g.n
                self._reported[key][g.state] += g.n
                if g.state != BMP_INCONSISTENT:
                    self.events[(key[0], g.state)] += g.n
            else:
                keep.append((key, g))
        self._waiting = keep
        return sum(g.n for _, g in keep)

    def next_deadline(self, grace: float) -> float | None:
        times = [g.since + grace for _, g in self._waiting if g.n > 0]
        return min(times) if times else None

    def drifting(self, key: tuple[int, int], state: str) -> int:
        """Prefixes in ``state`` (reported or within grace) in table ``key``."""
        rep = self._reported.get(key)
        if rep is None:
            return 0
        return rep[state] + self._pending[key][state]

    def counts(self) -> dict[tuple[int, int], dict[str, int]]:
        """(afi, table) → state → routes (``pending`` for differences within grace)."""
        out: dict[tuple[int, int], dict[str, int]] = {}
        for key in self.tables.keys() | self.in_sync.keys():
            c = dict.fromkeys(STATES, 0)
            c[IN_SYNC] = self.in_sync.get(key, 0)
            rep = self._reported.get(key)
            if rep is not None:
                for s in HELD_STATES:
                    c[s] = rep[s]
                c[PENDING] = sum(self._pending[key].values())
            out[key] = c
        return out

    # -- whole comparisons --------------------------------------------------------------

    def update(self, afi: int, table: int, diff: TableDiff, now: float, grace: float) -> None:
        """Replace table (afi, table)'s drift with the comparison ``diff``."""
        key = (afi, table)
        by_state: dict[str, set[bytes]] = {s: set() for s in DRIFT_STATES}
        for p, state in diff.drift.items():
            by_state[state].add(p)
        old = self.tables.get(key)
        if old:
            self.move(key, old.keys() - diff.drift.keys(), None, now)
        for state, ps in by_state.items():
            self.move(key, ps, state, now)
        self.in_sync[key] = diff.in_sync
        self.promote(now, grace)

    def clear(self) -> None:
        self.tables.clear()
        self.in_sync.clear()
        self._reported.clear()
        self._pending.clear()
        self._waiting.clear()
        self._open.clear()
