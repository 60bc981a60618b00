"""Per-prefix history and convergence inside the daemon: component, endpoints, metrics.

``build(host)`` (called by ``agent.app`` with the daemon as ``agent.host.Host``)
returns the ``History`` component and registers, before the daemon starts:

* ``GET /api/v1/history?prefix=P[&router=&peer=&view=&since=&limit=]``: the
  events of ``P`` (exact match, else the longest covering prefix that has
  events) oldest first;
* ``GET /api/v1/convergence[?router=]``: the last episode's figures, the
  recent ones and the open ones (``agent.history.convergence``);
* a collector:

==========================================  =========  ==========================
metric                                      type       labels
==========================================  =========  ==========================
bmp_convergence_seconds                     histogram  router, stage
bmp_rib_best_path_changes_total             counter    router, view, afi, safi
bmp_history_events                          gauge      (none)
bmp_history_recorded_events_total           counter    event
bmp_history_evicted_events_total            counter    (none)
==========================================  =========  ==========================

``agent.app.connect`` subscribes the recorder to the FIB reconciler
(``FibReconciler.listeners``) when both run. Every ``history:`` key applies
on reload; turning it off detaches the recorder and drops the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from parsers.afi import afi_name, safi_name
from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import describe
from parsers.render import render_attributes

from ..config import Config, HistoryConfig
from ..core import Core
from ..host import Host
from .convergence import BUCKETS, Convergence, FibStatus, PrefixRef, episode_json
from .recorder import Recorder
from .store import (
    AFI,
    ANNOUNCE,
    BEST_PATH_CHANGE,
    BMP_TIME,
    DRIFT,
    FIB_INSTALL,
    FIB_NEXTHOP_CHANGE,
    FIB_REMOVE,
    IMPLICIT_WITHDRAW,
    KIND,
    KINDS,
    NEW,
    OLD,
    PATH_ID,
    PEER,
    PREFIX,
    ROUTER,
    SAFI,
    VIEW,
    WITHDRAW,
    Event,
    HistoryStore,
    T,
)

HISTORY_PARAMS = ("prefix", "router", "peer", "view", "since", "limit")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100000


class FibHooks(FibStatus, Protocol):
    """The FIB reconciler as history sees it (``agent.fib.reconciler.FibReconciler``)."""

    @property
    def listeners(self) -> list[Any]: ...


class Histograms:
    """``bmp_convergence_seconds`` per (router, stage): bucket counts and sums."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], list[float]] = {}

    def observe(self, router: str, stage: str, value: float) -> None:
        row = self.data.get((router, stage))
        if row is None:
            # one count per bucket, then +Inf, sum
            row = self.data[(router, stage)] = [0.0] * (len(BUCKETS) + 2)
        value = max(0.0, value)
        for i, le in enumerate(BUCKETS):
            if value <= le:
                row[i] += 1
                break
        else:
            row[len(BUCKETS)] += 1
        row[-1] += value

    def count(self, router: str, stage: str) -> int:
        row = self.data.get((router, stage))
        return 0 if row is None else int(sum(row[:-1]))


class History:
    """The history component (a daemon ``Component``)."""

    name = "history"

    def __init__(
        self, core: Core, config: HistoryConfig, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.core = core
        self.config = config
        self.clock = clock if clock is not None else core.settings.clock
        self.histograms = Histograms()
        self.store = HistoryStore(config.max_events, config.max_per_prefix)
        self.convergence = Convergence(
            self.histograms.observe,
            settle=config.settle,
            timeout=config.timeout,
            max_prefixes=config.convergence_prefixes,
        )
        self.recorder = Recorder(self.store, self.convergence, self.clock)
        self.fib: FibHooks | None = None
        self._attached = False
        self._task: asyncio.Task[None] | None = None
        if config.enabled:
            self._attach()

    # -- wiring ---------------------------------------------------------------------

    def _attach(self) -> None:
        if self._attached:
            return
        self.core.observers.append(self.recorder)
        self.core.clear_observers.append(self.recorder)
        if self.fib is not None:
            self.fib.listeners.append(self.recorder)
            self.convergence.fib = self.fib
        self._attached = True

    def _detach(self) -> None:
        if not self._attached:
            return
        with contextlib.suppress(ValueError):
            self.core.observers.remove(self.recorder)
        with contextlib.suppress(ValueError):
            self.core.clear_observers.remove(self.recorder)
        if self.fib is not None:
            with contextlib.suppress(ValueError):
                self.fib.listeners.remove(self.recorder)
        self.convergence.fib = None
        self._attached = False

    def attach_fib(self, fib: FibHooks) -> None:
        """Follow the FIB reconciler's kernel events, drift and passes."""
        self.fib = fib
        if self._attached:
            fib.listeners.append(self.recorder)
            self.convergence.fib = fib

    @property
    def attached(self) -> bool:
        return self._attached

    # -- Component ------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="history-tick")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(min(0.25, self.config.settle / 4))
            if self._attached:
                self.convergence.tick(self.clock())

    async def stop(self) -> None:
        self._detach()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reload(self, config: Config) -> list[str]:
        new = config.history
        self.config = new
        conv = self.convergence
        conv.settle, conv.timeout, conv.max_prefixes = (
            new.settle,
            new.timeout,
            new.convergence_prefixes,
        )
        if not new.enabled:
            self._detach()
            self.store.clear()
        else:
            self.store.resize(new.max_events, new.max_per_prefix)
            self._attach()
        return []

    # -- reading --------------------------------------------------------------------

    def history(
        self,
        prefix: str,
        *,
        router: str | None = None,
        peer: str | None = None,
        view: str | None = None,
        since: float | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError as exc:
            raise ValueError(f"prefix {prefix!r}: {exc}") from None
        key, found = self.store.lookup(net)
        events = [
            ev
            for ev in found
            if (router is None or ev[ROUTER] == router)
            and (peer is None or ev[PEER] == peer or ev[PEER].split("%", 1)[0] == peer)
            and (view is None or ev[VIEW] == view)
            and (since is None or ev[T] >= since)
        ]
        truncated = len(events) > limit
        if truncated:
            events = events[-limit:]
        render = Renderer()
        match = None
        matched = None
        if key is not None:
            match = "exact" if key[0] == net.prefixlen else "longest"
            matched = describe(1 if net.version == 4 else 2, 1, key)
        return {
            "prefix": str(net),
            "match": match,
            "matched_prefix": matched,
            "enabled": self._attached,
            "events": [render.event(ev) for ev in events],
            "count": len(events),
            "truncated": truncated,
            "held": len(self.store),
            "evicted": self.store.evicted,
        }

    def convergence_doc(self, router: str | None = None) -> dict[str, Any]:
        def desc(ref: PrefixRef) -> str:
            return describe(ref[0], ref[1], ref[2])

        recent = [e for e in self.convergence.recent if router is None or e.router == router]
        opened = [e for e in self.convergence.open.values() if router is None or e.router == router]
        return {
            "enabled": self._attached,
            "settle": self.config.settle,
            "timeout": self.config.timeout,
            "fib_router": self.fib.router_label if self.fib is not None else None,
            "last": episode_json(recent[-1], desc) if recent else None,
            "recent": [episode_json(e, desc) for e in reversed(recent)],
            "open": [episode_json(e, desc) for e in opened],
        }


class Renderer:
    """Event tuples as JSON; attribute sets rendered once per answer."""

    def __init__(self) -> None:
        self._attrs: dict[int, dict[str, Any]] = {}

    def attrs(self, a: PathAttributes | None) -> dict[str, Any] | None:
        if a is None:
            return None
        got = self._attrs.get(id(a))
        if got is None:
            got = self._attrs[id(a)] = render_attributes(a)
        return got

    def best(self, b: Any) -> dict[str, Any] | None:
        if b is None:
            return None
        peer, a = b
        r = self.attrs(a) or {}
        return {"peer": peer, "next_hop": r.get("next_hop"), "as_path": r.get("as_path", [])}

    def event(self, ev: Event) -> dict[str, Any]:
        kind = ev[KIND]
        afi, safi = ev[AFI], ev[SAFI]
        out: dict[str, Any] = {
            "time": ev[T],
            "bmp_time": ev[BMP_TIME],
            "router": ev[ROUTER],
            "peer": ev[PEER],
            "view": ev[VIEW],
            "afi": afi_name(afi),
            "safi": safi_name(safi),
            "prefix": describe(afi, safi, ev[PREFIX]),
            "path_id": ev[PATH_ID],
            "event": kind,
        }
        old, new = ev[OLD], ev[NEW]
        if kind == ANNOUNCE:
            cur = self.attrs(new) or {}
            prev = self.attrs(old)
            if prev is None:
                out["changed"] = cur
                out["previous"] = None
            else:
                changed = {k: v for k, v in cur.items() if prev.get(k) != v}
                changed.update({k: None for k in prev if k not in cur})
                out["changed"] = changed
                out["previous"] = {k: prev.get(k) for k in changed}
        elif kind == WITHDRAW:
            out["attributes"] = self.attrs(old)
        elif kind == IMPLICIT_WITHDRAW:
            out["attributes"] = self.attrs(old)
            out["reason"] = new
        elif kind == BEST_PATH_CHANGE:
            out["source"] = "loc_rib" if ev[VIEW] == "loc_rib" else "agent_selection"
            out["old"] = self.best(old)
            out["new"] = self.best(new)
        elif kind in (FIB_INSTALL, FIB_REMOVE, FIB_NEXTHOP_CHANGE):
            table, hops = old
            out["table"] = table
            out["old_next_hops"] = None if hops is None else list(hops)
            out["next_hops"] = None if new is None else list(new)
        elif kind == DRIFT:
            out["table"] = old
            out["state"] = new
        return out


class HistoryCollector(Collector):
    def __init__(self, history: History) -> None:
        self.history = history

    def collect(self) -> Iterator[Metric]:
        h = self.history
        conv = HistogramMetricFamily(
            "bmp_convergence_seconds",
            "Seconds from a Peer Down or withdraw burst until the selection (stage=rib) "
            "and then the kernel FIB (stage=fib) stopped changing / matched it.",
            labels=["router", "stage"],
        )
        for (router, stage), row in sorted(h.histograms.data.items()):
            buckets = []
            acc = 0.0
            for le, n in zip(BUCKETS, row, strict=False):
                acc += n
                buckets.append((_le(le), acc))
            acc += row[len(BUCKETS)]
            buckets.append(("+Inf", acc))
            conv.add_metric([router, stage], buckets, row[-1])
        best = CounterMetricFamily(
            "bmp_rib_best_path_changes",
            "Best-path changes (next hop, AS_PATH or winning peer) from Loc-RIB or, "
            "without one, from the agent's own selection over the view it names.",
            labels=["router", "view", "afi", "safi"],
        )
        for (router, view, afi, safi), n in sorted(h.recorder.best_changes.items()):
            best.add_metric([router, view, afi_name(afi), safi_name(safi)], n)
        held = GaugeMetricFamily("bmp_history_events", "Events held by the per-prefix history.")
        held.add_metric([], len(h.store))
        recorded = CounterMetricFamily(
            "bmp_history_recorded_events",
            "Events recorded by the per-prefix history, by event.",
            labels=["event"],
        )
        for kind in KINDS:
            recorded.add_metric([kind], h.recorder.recorded.get(kind, 0))
        evicted = CounterMetricFamily(
            "bmp_history_evicted_events",
            "History events evicted (oldest first) to stay within history.max_events.",
        )
        evicted.add_metric([], h.store.evicted)
        yield from (conv, best, held, recorded, evicted)


def _le(value: float) -> str:
    return str(float(value)) if not math.isinf(value) else "+Inf"


def _history_handler(history: History) -> Callable[[web.Request], Any]:
    def handle(request: web.Request) -> Any:
        q = request.query
        prefix = q.get("prefix")
        if not prefix:
            raise ValueError("prefix is required (a prefix or an address)")
        since: float | None = None
        if "since" in q:
            try:
                since = float(q["since"])
            except ValueError:
                raise ValueError(f"since {q['since']!r} is not a Unix time in seconds") from None
        limit = DEFAULT_LIMIT
        if "limit" in q:
            text = q["limit"]
            if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
                raise ValueError(f"limit {text!r} is not an integer from 1 to {MAX_LIMIT}")
            limit = int(text)
        return history.history(
            prefix,
            router=q.get("router"),
            peer=q.get("peer"),
            view=q.get("view"),
            since=since,
            limit=limit,
        )

    return handle


def build(host: Host, *, metrics: bool = True) -> History | None:
    """The history over ``host.core`` with its endpoints and metrics (before ``start``);
    None when the core is not a ``Core``."""
    core: object = host.core  # tests build daemons over stand-in cores
    if not isinstance(core, Core):
        return None
    history = History(core, host.config.history)
    host.add_json_get("/api/v1/history", _history_handler(history), params=HISTORY_PARAMS)

    def conv(request: web.Request) -> Any:
        return history.convergence_doc(request.query.get("router"))

    host.add_json_get("/api/v1/convergence", conv, params=("router",))
    if metrics:
        host.register_collector(HistoryCollector(history))
    return history


__all__ = ["History", "HistoryCollector", "build"]
