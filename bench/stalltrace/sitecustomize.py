"""In-process event-loop stall tracer for the benchmarks (not part of the agent).

Put this directory first on ``PYTHONPATH`` and set ``BMP_STALL_TRACE=FILE``:
every asyncio callback (``Handle._run``: socket reads, task steps, timers) is
timed, and so is every cyclic-GC collection (``gc.callbacks``). At exit FILE
gets a JSON summary: a histogram of callback durations, the slowest
callbacks with what they ran (task coroutine, transport protocol, function)
and the GC time inside them, and GC pauses per generation.

This measures what holds the loop inside the process, so it is much less
sensitive to the machine's load than a client's latency (a callback that is
descheduled by the kernel still counts, but a request waiting in a socket
does not).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time

PATH = os.environ.get("BMP_STALL_TRACE", "").replace("{pid}", str(os.getpid()))

if PATH:
    import asyncio.events

    #: Histogram upper bounds (seconds) of callback durations.
    BOUNDS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, float("inf"))
    hist = [0] * len(BOUNDS)
    hist_cpu = [0] * len(BOUNDS)
    #: (wall seconds, CPU seconds, GC seconds inside, what)
    slow: list[tuple[float, float, float, str]] = []
    #: generation -> [(wall, CPU, inside a callback?)]
    gcs: dict[int, list[tuple[float, float, bool]]] = {0: [], 1: [], 2: []}
    state = {"gc_start": 0.0, "gc_cpu": 0.0, "gc_in_cb": 0.0, "busy": 0.0, "callbacks": 0}
    state["in_cb"] = 0
    clock = time.perf_counter
    cpu = time.thread_time

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if info["generation"] >= 1 and len(census) < 40 and clock() - STARTED > 5:
                _census(info["generation"])
            state["gc_start"] = clock()
            state["gc_cpu"] = cpu()
        else:
            d = clock() - state["gc_start"]
            gcs[info["generation"]].append((d, cpu() - state["gc_cpu"], bool(state["in_cb"])))
            state["gc_in_cb"] += d

    #: What the generations a collection of generation >= 1 traverses hold
    #: (first few such collections): object counts and container lengths by type.
    census: list[dict[str, object]] = []
    STARTED = time.perf_counter()

    def _owner(o: object) -> str:
        """Where a big young container hangs: owner type and attribute."""
        names = []
        for r in gc.get_referrers(o):
            if r is census or type(r).__name__ == "frame":
                continue
            if isinstance(r, dict):
                key = next((k for k, v in r.items() if v is o), None)
                owners = [
                    type(x).__qualname__
                    for x in gc.get_referrers(r)
                    if getattr(x, "__dict__", None) is r
                ]
                names.append(f"{owners[0] if owners else 'dict'}[{key!r}]")
            else:
                slot = next(
                    (
                        n
                        for c in type(r).__mro__
                        for n in getattr(c, "__slots__", ())
                        if getattr(r, n, None) is o
                    ),
                    "?",
                )
                names.append(f"{type(r).__qualname__}.{slot}")
        return ", ".join(names[:3])

    def _census(generation: int) -> None:
        counts: dict[str, list[int]] = {}
        big: list[str] = []
        for g in range(generation + 1):
            for o in gc.get_objects(generation=g):
                if isinstance(o, (dict, set, list)) and len(o) > 100_000 and len(big) < 8:
                    big.append(f"{type(o).__name__}({len(o)}) <- {_owner(o)}")
                name = type(o).__qualname__
                c = counts.setdefault(name, [0, 0])
                c[0] += 1
                if isinstance(o, (list, dict, tuple, set)):
                    c[1] += len(o)
        top = sorted(counts.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:6]
        census.append(
            {
                "at": round(clock() - STARTED, 1),
                "generation": generation,
                "top": {k: {"n": v[0], "items": v[1]} for k, v in top},
                "big": big,
            }
        )

    gc.callbacks.append(_on_gc)

    def _what(handle: asyncio.events.Handle) -> str:
        cb = handle._callback  # type: ignore[attr-defined]
        owner = getattr(cb, "__self__", None)
        name = getattr(cb, "__qualname__", repr(cb))
        if owner is not None:
            if hasattr(owner, "get_coro"):
                coro = owner.get_coro()
                frame = getattr(coro, "cr_frame", None)
                where = ""
                if frame is not None:
                    where = f" @{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}"
                return f"task {getattr(coro, '__qualname__', coro)}{where}"
            proto = getattr(owner, "_protocol", None)
            if proto is not None:
                return f"{name} -> {type(proto).__qualname__}"
        return str(name)

    _run = asyncio.events.Handle._run

    def _bucket(h: list[int], d: float) -> None:
        for i, b in enumerate(BOUNDS):
            if d <= b:
                h[i] += 1
                return

    def _timed_run(self: asyncio.events.Handle) -> None:
        state["gc_in_cb"] = 0.0
        state["in_cb"] = 1
        cb = self._callback  # type: ignore[attr-defined]
        t, c = clock(), cpu()
        try:
            _run(self)
        finally:
            d, dc = clock() - t, cpu() - c
            state["in_cb"] = 0
            state["busy"] += d
            state["callbacks"] += 1
            _bucket(hist, d)
            _bucket(hist_cpu, dc)
            if d >= 0.02 or dc >= 0.02:
                self._callback = cb  # type: ignore[attr-defined]
                slow.append((d, dc, state["gc_in_cb"], _what(self)))

    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]

    def _dump() -> None:
        slow.sort(key=lambda x: -x[1])
        by_what: dict[str, list[tuple[float, float]]] = {}
        for d, dc, _, w in slow:
            by_what.setdefault(w, []).append((d, dc))

        def _ms(x: float) -> float:
            return round(x * 1e3, 1)

        out = {
            "callbacks": state["callbacks"],
            "busy_seconds": state["busy"],
            "histogram_wall": {f"<={b}": n for b, n in zip(BOUNDS, hist, strict=True)},
            "histogram_cpu": {f"<={b}": n for b, n in zip(BOUNDS, hist_cpu, strict=True)},
            "over_20ms": {
                "wall": sum(1 for x in slow if x[0] >= 0.02),
                "cpu": sum(1 for x in slow if x[1] >= 0.02),
            },
            "over_100ms": {
                "wall": sum(1 for x in slow if x[0] >= 0.1),
                "cpu": sum(1 for x in slow if x[1] >= 0.1),
            },
            "slowest_cpu": [
                {"ms": _ms(d), "cpu_ms": _ms(dc), "gc_ms": _ms(g), "what": w}
                for d, dc, g, w in slow[:30]
            ],
            "slow_by_what": {
                w: {
                    "n": len(v),
                    "max_ms": _ms(max(x[0] for x in v)),
                    "max_cpu_ms": _ms(max(x[1] for x in v)),
                    "cpu_over_20ms": sum(1 for x in v if x[1] >= 0.02),
                }
                for w, v in sorted(by_what.items(), key=lambda kv: -len(kv[1]))
            },
            "census": census,
            "gc": {
                str(g): {
                    "n": len(v),
                    "max_ms": _ms(max(x[0] for x in v)) if v else 0,
                    "max_cpu_ms": _ms(max(x[1] for x in v)) if v else 0,
                    "sum_cpu_ms": _ms(sum(x[1] for x in v)),
                    "over_20ms_cpu": sum(1 for x in v if x[1] >= 0.02),
                    "outside_callbacks": sum(1 for x in v if not x[2]),
                }
                for g, v in gcs.items()
            },
        }
        with open(PATH, "w") as f:
            json.dump(out, f, indent=1)

    atexit.register(_dump)

if PATH:
    # Slow BMP apply calls: the sizes of the RIB tables at that moment (a dict
    # resize happens when a dict passes 2/3 of a power of two).
    applies: list[dict[str, object]] = []

    import agent.sources.bmp.listener as _listener

    _orig_apply = _listener.BmpProtocol._apply

    def _apply(self: object, session: object, rs: object, events: object) -> int:
        c = time.thread_time()
        n: int = _orig_apply(self, session, rs, events)  # type: ignore[arg-type]
        dc = time.thread_time() - c
        if dc >= 0.03 and len(applies) < 30:
            router = getattr(rs, "router", None)
            sizes = [
                len(t.routes)
                for p in list(getattr(router, "peers", {}).values())
                for t in list(p.tables.values())
            ]
            applies.append({"cpu_ms": round(dc * 1e3, 1), "tables": sizes})
        return n

    _listener.BmpProtocol._apply = _apply  # type: ignore[method-assign,assignment]

    def _dump_applies() -> None:
        with open(PATH + ".applies", "w") as f:
            json.dump(applies, f)

    atexit.register(_dump_applies)

if PATH and os.environ.get("BMP_STALL_TRACE_OLD_GC"):
    # The GC policy before the freeze (for before/after runs on one build):
    # thresholds (10_000, 50, 50), no freezing, no sweeps.
    import agent.core.gctune as _gctune

    def _old_tune_gc(thresholds: tuple[int, int, int] = (10_000, 50, 50)) -> tuple[int, int, int]:
        old = gc.get_threshold()
        gc.set_threshold(*thresholds)
        return old

    _gctune.tune_gc = _old_tune_gc
