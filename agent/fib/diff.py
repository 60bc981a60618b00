"""Expected vs kernel routes: per-route drift states, with a grace period.

States: ``in_sync``; ``missing`` (BGP selected it, the kernel lacks it);
``extra`` (the kernel holds a route of a watched protocol that BGP does not
select: stale); ``nexthop_mismatch``. A difference counts only once it has
lasted ``grace`` seconds; until then it is ``pending`` (so convergence is not
flagged). ``DriftTracker`` keeps, per (afi, table), only the drifting
prefixes, so a table in sync costs nothing to hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .expected import Want
from .netlink import Entry, Nexthop

IN_SYNC = "in_sync"
MISSING = "missing"
EXTRA = "extra"
NEXTHOP_MISMATCH = "nexthop_mismatch"
PENDING = "pending"
DRIFT_STATES = (MISSING, EXTRA, NEXTHOP_MISMATCH)
STATES = (IN_SYNC, MISSING, EXTRA, NEXTHOP_MISMATCH, PENDING)


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


@dataclass(slots=True)
class Drift:
    state: str
    since: float
    reported: bool = False


class DriftTracker:
    """Drifting prefixes per (afi, table) with the time each difference started."""

    def __init__(self) -> None:
        self.tables: dict[tuple[int, int], dict[bytes, Drift]] = {}
        self.in_sync: dict[tuple[int, int], int] = {}
        #: (afi, state) → routes that entered a reported drift state (or, for
        #: ``in_sync``, left one)
        self.events: Counter[tuple[int, str]] = Counter()

    def update(self, afi: int, table: int, diff: TableDiff, now: float, grace: float) -> None:
        old = self.tables.get((afi, table), {})
        new: dict[bytes, Drift] = {}
        for p, state in diff.drift.items():
            prev = old.get(p)
            if prev is not None and prev.state == state:
                new[p] = prev
            else:
                new[p] = Drift(state, now)
        for p, d in old.items():
            if d.reported and p not in new:
                self.events[(afi, IN_SYNC)] += 1
        self.tables[(afi, table)] = new
        self.in_sync[(afi, table)] = diff.in_sync
        self.promote(now, grace)

    def promote(self, now: float, grace: float) -> int:
        """Report the differences older than ``grace``; returns how many are still pending."""
        pending = 0
        for (afi, _table), drifts in self.tables.items():
            for d in drifts.values():
                if d.reported:
                    continue
                if now - d.since >= grace:
                    d.reported = True
                    self.events[(afi, d.state)] += 1
                else:
                    pending += 1
        return pending

    def next_deadline(self, grace: float) -> float | None:
        times = [
            d.since + grace for ds in self.tables.values() for d in ds.values() if not d.reported
        ]
        return min(times) if times else None

    def counts(self) -> dict[tuple[int, int], dict[str, int]]:
        """(afi, table) → state → routes (``pending`` for differences within grace)."""
        out: dict[tuple[int, int], dict[str, int]] = {}
        for key, drifts in self.tables.items():
            c = dict.fromkeys(STATES, 0)
            c[IN_SYNC] = self.in_sync.get(key, 0)
            for d in drifts.values():
                c[d.state if d.reported else PENDING] += 1
            out[key] = c
        return out

    def clear(self) -> None:
        self.tables.clear()
        self.in_sync.clear()
