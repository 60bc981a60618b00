"""The FIB reconciler inside the daemon: component, ``/api/v1/fib/diff``, metrics.

``build(host)`` (called by ``agent.app`` with the daemon as ``agent.host.Host``,
while ``fib.enabled``) returns the ``FibReconciler`` component and adds the
endpoint and a collector:

==========================================  =======  ==========================
metric                                      type     labels
==========================================  =======  ==========================
bmp_fib_routes                              gauge    router, afi, table, state
bmp_fib_drift_events_total                  counter  router, afi, state
bmp_kernel_routes                           gauge    afi, table, proto
bmp_fib_last_sync_timestamp_seconds         gauge    (none)
bmp_fib_resyncs_total                       counter  reason
bmp_view_inconsistencies_total              counter  router, peer, view, kind
==========================================  =======  ==========================

``state``: ``in_sync``, ``missing``, ``extra``, ``nexthop_mismatch``,
``bmp_inconsistent`` (not drift: the router's BMP feed contradicts itself
about a route the kernel holds, ``agent.fib.consistency``), and
``pending`` (a difference younger than ``fib.grace``).
``bmp_view_inconsistencies_total`` kinds: ``withdraw_never_announced``
(the view withdrew a route it did not hold; every router, from the RIB
counters) and ``kernel_holds_withdrawn_route`` (prefixes of the local router
that became ``bmp_inconsistent``, by the view that withdrew them). Drift events count
routes entering a drift state once the grace period is over; ``in_sync``
events count drifts that went away. ``bmp_kernel_routes`` counts the routes
of the watched protocols in the watched tables. The last sync timestamp is
the last time the comparison was confirmed current.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from parsers.afi import afi_name, format_address
from parsers.bgp.nlri import describe

from ..host import Host
from ..pages import (
    TICK,
    IndexCache,
    SortedKeys,
    Tick,
    decode_cursor,
    encode_cursor,
    index_of,
    stream_json,
)
from .consistency import (
    KERNEL_HOLDS_WITHDRAWN,
    NO_ROUTE_MONITORING,
    POST_HOLDS_PRE_WITHDRAWN,
    WITHDRAW_NEVER_ANNOUNCED,
    unmonitored_routes,
    view_withdrawals,
)
from .diff import BMP_INCONSISTENT, HELD_STATES, PENDING, STATES
from .netlink import Entry, proto_name, table_name
from .reconciler import FibReconciler

DIFF_PARAMS = ("state", "afi", "limit", "pending", "cursor")


class FibCollector(Collector):
    def __init__(self, fib: FibReconciler) -> None:
        self.fib = fib

    def collect(self) -> Iterator[Metric]:
        fib = self.fib
        r = fib.router_label
        routes = GaugeMetricFamily(
            "bmp_fib_routes",
            "Routes of the local router per FIB drift state (kernel vs BGP selection).",
            labels=["router", "afi", "table", "state"],
        )
        events = CounterMetricFamily(
            "bmp_fib_drift_events",
            "Routes that entered a FIB drift state after the grace period (in_sync: recovered).",
            labels=["router", "afi", "state"],
        )
        kernel = GaugeMetricFamily(
            "bmp_kernel_routes",
            "Kernel routes of the watched protocols in the watched tables.",
            labels=["afi", "table", "proto"],
        )
        last = GaugeMetricFamily(
            "bmp_fib_last_sync_timestamp_seconds",
            "Time the FIB comparison was last confirmed current.",
        )
        resyncs = CounterMetricFamily(
            "bmp_fib_resyncs",
            "Full kernel route dumps, by reason (initial, enobufs, read_error, reload, retry).",
            labels=["reason"],
        )
        views = CounterMetricFamily(
            "bmp_view_inconsistencies",
            "BMP views contradicting themselves: withdraw_never_announced (a view withdrew a "
            "route it did not hold), kernel_holds_withdrawn_route (bmp_inconsistent prefixes the "
            "kernel holds), post_holds_pre_withdrawn_route (bmp_inconsistent prefixes: stale "
            "post-policy paths the peer's pre-policy view withdrew), no_route_monitoring (kernel "
            "routes bmp_inconsistent: the router sends no Route Monitoring, its Statistics "
            "Reports count routes; peer and view empty).",
            labels=["router", "peer", "view", "kind"],
        )
        for router in list(fib.core.routers.values()):
            for (peer, view), n in sorted(view_withdrawals(router).items()):
                views.add_metric([router.label, peer, view, WITHDRAW_NEVER_ANNOUNCED], n)
        if r:
            for (peer, view), n in sorted(fib.evidence.inconsistent.items()):
                views.add_metric([r, peer, view, KERNEL_HOLDS_WITHDRAWN], n)
            for (peer, view), n in sorted(fib.evidence.stale_inconsistent.items()):
                views.add_metric([r, peer, view, POST_HOLDS_PRE_WITHDRAWN], n)
            if fib.evidence.unmonitored:
                views.add_metric([r, "", "", NO_ROUTE_MONITORING], fib.evidence.unmonitored)
        if r:
            for (afi, table), counts in sorted(fib.tracker.counts().items()):
                for state in STATES:
                    routes.add_metric(
                        [r, afi_name(afi), table_name(table), state], counts.get(state, 0)
                    )
            for (afi, state), n in sorted(fib.tracker.events.items()):
                events.add_metric([r, afi_name(afi), state], n)
        for (afi, table, proto), n in sorted(fib.kernel_counts.items()):
            kernel.add_metric([afi_name(afi), table_name(table), proto_name(proto)], n)
        if fib.last_sync is not None:
            last.add_metric([], fib.last_sync)
        for reason, n in sorted(fib.resyncs.items()):
            resyncs.add_metric([reason], n)
        yield from (routes, events, kernel, last, resyncs, views)


def _actual(fib: FibReconciler, entry: Entry | None) -> list[str]:
    if entry is None or fib.kernel_snapshot is None:
        return []
    return fib.kernel_snapshot.hop_texts(entry, fib.link_name)


def _expected(want: Any) -> list[str]:
    if want is None:
        return []
    return ["|".join(format_address(a) for a in sorted(hop)) for hop in want]


def _evidence(fib: FibReconciler, afi: int, table: int, key: bytes) -> dict[str, Any] | None:
    w = fib.evidence.get(afi, fib.rd_of(table), key)
    if w is None:
        router = fib.router
        if fib.view is not None or router is None:
            return None
        counted = unmonitored_routes(router)
        return {
            "peer": None,
            "view": None,
            "said": NO_ROUTE_MONITORING,
            "at": None,
            "other_views": [
                *({"view": "statistics", "peer": q, "said": f"adj_rib_in_routes {n}"}
                  for q, n in sorted(counted.items())),
                {"view": "kernel", "said": "holds"},
            ],
        }  # fmt: skip
    return {
        "peer": w.peer_label,
        "view": w.view,
        "said": w.said,
        "at": w.at,
        "other_views": w.other,
    }


#: Drift tables' sorted-key indexes (``agent.pages``), shared by requests.
DIFF_INDEXES = IndexCache(budget=4_000_000)
#: Default answer size of ``/api/v1/fib/diff`` (``http.max_limit`` caps it).
DEFAULT_LIMIT = 10_000


def _summary(fib: FibReconciler) -> dict[str, Any]:
    tables = []
    for (a, table), counts in sorted(fib.tracker.counts().items()):
        kern = fib.kernel_snapshot.routes.get((a, table), {}) if fib.kernel_snapshot else {}
        tables.append(
            {
                "afi": afi_name(a),
                "table": table_name(table),
                "expected": len(fib.expected.get((a, table), {})),
                "kernel": len(kern),
                **counts,
            }
        )
    return {
        "router": fib.router_label or None,
        "view": fib.view,
        "mode": fib.config.mode,
        "grace": fib.config.grace,
        "protocols": list(fib.config.protocols),
        "synced": fib.synced,
        "last_sync": fib.last_sync,
        "error": fib.error,
        "resyncs": dict(fib.resyncs),
        "evidence_dropped": dict(fib.evidence.dropped),
        "passes": fib.passes,
        "full_passes": fib.full_passes,
        "last_pass_seconds": fib.last_pass_seconds,
        "tables": tables,
    }


def _row(fib: FibReconciler, a: int, table: int, key: bytes, d: Any) -> dict[str, Any]:
    kern = fib.kernel_snapshot.routes.get((a, table), {}) if fib.kernel_snapshot else {}
    entry = kern.get(key)
    row = {
        "prefix": describe(a, 1, key),
        "afi": afi_name(a),
        "table": table_name(table),
        "state": d.state,
        "pending": not d.reported,
        "since": d.since,
        "expected": _expected(fib.want_of(a, fib.rd_of(table), key)),
        "actual": _actual(fib, entry),
        "proto": proto_name(entry[0]) if entry is not None else None,
    }
    if d.state == BMP_INCONSISTENT:
        row["evidence"] = _evidence(fib, a, table, key)
    return row


@dataclass
class DiffPages:
    """One ``/api/v1/fib/diff`` answer: drifting prefixes ordered by (afi,
    table, prefix key: length, then address), ``limit`` of them after
    ``cursor``. Each drift table is walked through a sorted-key index
    (``agent.pages``): a limited answer touches its rows, the index, and the
    entries a ``state``/``pending`` filter skips."""

    fib: FibReconciler
    _: KW_ONLY
    state: str | None = None
    afi: str | None = None
    limit: int = DEFAULT_LIMIT
    pending: bool = False
    cursor: InitVar[str | None] = None
    sync: bool = False
    after: tuple[int, int, bytes] | None = field(default=None, init=False)
    count: int = field(default=0, init=False)
    truncated: bool = field(default=False, init=False)
    last: tuple[int, int, bytes] | None = field(default=None, init=False)

    def __post_init__(self, cursor: str | None) -> None:
        if cursor is not None:
            try:
                a, t, k = decode_cursor(cursor)
                self.after = (int(a), int(t), bytes.fromhex(k))
            except (TypeError, ValueError):
                raise ValueError(
                    f"cursor {cursor[:40]!r} is not a cursor this agent gave out"
                ) from None

    def _index(self, drifts: dict[bytes, Any]) -> Generator[Tick, None, SortedKeys]:
        fresh = self.after is None
        # A fresh walk rebuilds the index (drift entries change in place); a
        # continuation reuses it while it is young (DIFF_INDEXES.max_age).
        version = ("fresh", time.monotonic()) if fresh else "continued"
        return index_of(DIFF_INDEXES, drifts, drifts, version, fresh=fresh, sync=self.sync)

    def items(self) -> Iterator[dict[str, Any] | Tick]:
        fib = self.fib
        examined = 0
        for a, table in sorted(fib.tracker.tables):
            if self.afi is not None and afi_name(a) != self.afi:
                continue
            after = self.after
            if after is not None and (a, table) < after[:2]:
                continue
            drifts = fib.tracker.tables.get((a, table))
            if not drifts:
                continue
            index = yield from self._index(drifts)
            start = after[2] if after is not None and (a, table) == after[:2] else None
            for key in index.after(start):
                examined += 1
                if examined % 1024 == 0:
                    yield TICK
                d = drifts.get(key)
                if d is None:
                    continue
                if not d.reported and not self.pending:
                    continue
                if self.state is not None and d.state != self.state:
                    continue
                if self.count >= self.limit:
                    self.truncated = True
                    return
                self.count += 1
                self.last = (a, table, key)
                yield _row(fib, a, table, key, d)

    def tail(self) -> dict[str, Any]:
        nxt = None
        if self.truncated and self.last is not None:
            a, t, k = self.last
            nxt = encode_cursor([a, t, k.hex()])
        return {"count": self.count, "truncated": self.truncated, "next": nxt}

    def texts(self) -> Iterator[str | Tick]:
        for item in self.items():
            yield item if isinstance(item, Tick) else json.dumps(item, default=str)


def diff_view(
    fib: FibReconciler,
    *,
    state: str | None = None,
    afi: str | None = None,
    limit: int | None = None,
    pending: bool = False,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The drifting prefixes with their expected and actual next hops (what
    ``/api/v1/fib/diff`` streams), built at once."""
    pages = DiffPages(
        fib,
        state=state,
        afi=afi,
        limit=DEFAULT_LIMIT if limit is None else limit,
        pending=pending,
        cursor=cursor,
        sync=True,
    )
    drift = [d for d in pages.items() if not isinstance(d, Tick)]
    return {**_summary(fib), "drift": drift, **pages.tail()}


def _diff_handler(fib: FibReconciler, max_limit: int) -> Any:
    """``/api/v1/fib/diff``: bad parameters are a 400 with the message."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            pages = _pages(fib, request, max_limit)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        resp: web.StreamResponse = await stream_json(
            request, _summary(fib), "drift", pages.texts(), pages.tail
        )
        return resp

    return handle


def _pages(fib: FibReconciler, request: web.Request, max_limit: int) -> DiffPages:
    q = request.query
    for name in q:
        if name not in DIFF_PARAMS:
            raise ValueError(f"unknown parameter {name!r} (allowed: {', '.join(DIFF_PARAMS)})")
        if len(q.getall(name)) > 1:
            raise ValueError(f"parameter {name!r} given {len(q.getall(name))} times")
    state = q.get("state")
    if state is not None and state not in HELD_STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(HELD_STATES)}")
    afi = q.get("afi")
    if afi is not None and afi not in ("ipv4", "ipv6"):
        raise ValueError(f"afi {afi!r} is not ipv4 or ipv6")
    limit = q.get("limit")
    if limit is not None and (not limit.isdigit() or int(limit) < 1):
        raise ValueError(f"limit {limit!r} is not a positive integer")
    if limit is not None and int(limit) > max_limit:
        raise ValueError(
            f"limit {limit} is above the maximum of {max_limit} per request "
            "(http.max_limit); follow 'next' (?cursor=) for more"
        )
    pend = q.get("pending")
    if pend is not None and pend not in ("0", "1", "true", "false"):
        raise ValueError(f"pending {pend!r} is not 0/1/true/false")
    return DiffPages(
        fib,
        state=state,
        afi=afi,
        limit=min(DEFAULT_LIMIT, max_limit) if limit is None else int(limit),
        pending=pend in ("1", "true"),
        cursor=q.get("cursor"),
    )


def build(host: Host, *, metrics: bool = True) -> FibReconciler | None:
    """The reconciler with ``/api/v1/fib/diff`` and its collector (before ``start``);
    None while ``fib.enabled`` is false."""
    cfg = host.config.fib
    if not cfg.enabled:
        return None
    fib = FibReconciler(cfg, host.core)
    host.add_get("/api/v1/fib/diff", _diff_handler(fib, host.config.http.max_limit))
    if metrics:
        host.register_collector(FibCollector(fib))
    return fib


__all__ = ["PENDING", "FibCollector", "build", "diff_view"]
