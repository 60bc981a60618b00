"""Where a loaded RIB's bytes go: the ``bench/ingest.py`` stream applied to a
``Core`` in this process (the listener's decode/apply path:
``BmpSession.feed_batched`` + ``RouterSession.handle_batch``, 64 KiB reads),
with the FIB reconciler's observer and passes (FIB on, the default; an empty
kernel table, so every selected prefix ends as ``missing`` drift, as in
``bench/ingest.py``) or without (``--no-fib``).

Prints RSS before/after/peak, B/route, and a per-component breakdown from
``sys.getsizeof`` (dicts at their real fill, key objects, attribute
objects, FIB state); "unaccounted" is RSS growth no live object explains:
pymalloc arenas kept by freed transient objects, allocator slack. Asserts
nothing.

    python3 bench/memory.py [--scale 0.25] [--no-fib] [--pass-every 250000]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import Spec, cached

from agent.config import Config
from agent.core import gctune
from agent.core.core import Core
from agent.core.interner import KEYS
from agent.fib.reconciler import FibReconciler
from parsers.bmp.session import BmpSession, RouteBatch

READ = 65536


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def mallinfo() -> dict[str, int]:
    """glibc heap figures (bytes): brk heap, mmapped, in use, free."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"heap": m.arena, "mmap": m.hblkhd, "used": m.uordblks + m.hblkhd, "free": m.fordblks}


def pymalloc() -> dict[str, int]:
    """pymalloc's own figures (bytes) from ``sys._debugmallocstats``."""
    import io
    import os
    import tempfile

    out: dict[str, int] = {}
    with tempfile.TemporaryFile("w+") as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    for line in io.StringIO(text):
        for label, key in (
            ("bytes in allocated blocks", "allocated"),
            ("bytes in available blocks", "available"),
            ("unused pools", "unused_pools"),
            ("bytes lost to quantization", "quantization"),
            ("arenas allocated current", "arenas"),
        ):
            if line.startswith("# " + label):
                out[key] = int(line.split("=")[-1].replace(",", "").strip())
    return out


def reset_peak() -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0)
    Path("/proc/self/clear_refs").write_text("5")


def size_of_attrs(a: Any, seen: set[int]) -> int:
    """Bytes of one PathAttributes and the objects it alone holds (shared
    small ints/None/empty tuples excluded by identity dedup)."""
    total = 0
    stack = [a]
    while stack:
        o = stack.pop()
        if id(o) in seen or o is None or isinstance(o, bool):
            continue
        seen.add(id(o))
        if isinstance(o, int) and -5 <= o <= 256:
            continue
        total += sys.getsizeof(o)
        if isinstance(o, tuple | list | frozenset | set):
            stack.extend(o)
        elif hasattr(o, "__slots__"):
            for s in type(o).__slots__:
                stack.append(getattr(o, s, None))
    return total


async def load(data: bytes, fib_on: bool, pass_every: int) -> tuple[Core, Any, dict[str, float]]:
    core = Core()
    fib = None
    if fib_on:
        fib = FibReconciler(Config().fib, core)
        core.observers.append(fib.observer)
    rs = core.open_session("127.0.0.1", 40000)
    session = BmpSession(fast=True, batch=True)
    routes_since = 0
    passes = 0.0
    t_fib = 0.0
    t0 = time.process_time()
    for i in range(0, len(data), READ):
        events = session.feed_batched(data[i : i + READ])
        for ev in events:
            if isinstance(ev, RouteBatch):
                before = core.route_count
                rs.handle_batch(ev)
                routes_since += core.route_count - before
            else:
                rs.handle(ev)
        del events
        if fib is not None and routes_since >= pass_every:
            routes_since = 0
            t1 = time.process_time()
            await fib._pass()
            t_fib += time.process_time() - t1
            passes += 1
    if fib is not None:
        t1 = time.process_time()
        await fib._pass()
        t_fib += time.process_time() - t1
        passes += 1
    cpu = time.process_time() - t0
    return core, fib, {"cpu": cpu, "fib_cpu": t_fib, "passes": passes}


def breakdown(core: Core, fib: Any) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    dicts = refs = recent = ext = entries = tables = 0
    for router in core.routers.values():
        for peer in router.peers.values():
            for t in peer.tables.values():
                tables += 1
                entries += len(t.routes)
                dicts += sys.getsizeof(t.routes)
                if t.refs is not None:
                    refs += sys.getsizeof(t.refs)
                recent += sys.getsizeof(t.recent)
                if t.ext:
                    ext += sys.getsizeof(t.ext)
    rows.append((f"RibTable.routes dicts ({tables} tables, {entries:,} entries)", dicts))
    rows.append(("RibTable.refs / recent / ext dicts", refs + recent + ext))
    keys = KEYS.keys
    rows.append((f"KeyPool dict ({len(keys):,} keys)", sys.getsizeof(keys)))
    rows.append(("prefix key bytes objects", sum(map(sys.getsizeof, keys))))
    interner = core.interner
    seen: set[int] = set()
    rows.append(
        (f"AttributeInterner dict ({len(interner):,} sets)", sys.getsizeof(interner._table))
    )
    rows.append(
        ("PathAttributes objects (deep)", sum(size_of_attrs(a, seen) for a in interner._table))
    )
    flaps = 0
    for router in core.routers.values():
        fc = getattr(router, "flap_counts", None)
        if fc is not None:
            slots = getattr(type(fc), "__slots__", ())
            fields = [getattr(fc, s, None) for s in slots] if slots else list(vars(fc).values())
            flaps += sum(sys.getsizeof(v) for v in fields if isinstance(v, dict | list | set))
    rows.append(("flap counters", flaps))
    if fib is not None:
        tr = fib.tracker
        drift = sum(sys.getsizeof(d) for d in tr.tables.values())
        n = sum(len(d) for d in tr.tables.values())
        groups = {id(g): g for d in tr.tables.values() for g in d.values()}
        rows.append((f"FIB DriftTracker dicts ({n:,} prefixes)", drift))
        rows.append((f"FIB Drift groups ({len(groups)})", sum(map(sys.getsizeof, groups.values()))))
        dirty = sum(sys.getsizeof(v) for v in fib._dirty_bgp.values())
        rows.append(("FIB dirty lists", dirty + sys.getsizeof(fib._dirty_kernel)))
        ev = sum(sys.getsizeof(d) for d in fib.evidence.tables.values())
        rows.append(("FIB evidence", ev))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--no-fib", action="store_true")
    ap.add_argument("--pass-every", type=int, default=250_000, help="routes between FIB passes")
    ap.add_argument("--default-malloc", action="store_true", help="without gctune.tune_malloc")
    args = ap.parse_args()
    gctune.tune_gc()
    if not args.default_malloc:
        gctune.tune_malloc()  # as ``serve`` does
    data = cached(Spec.scaled(args.scale)).stream.data
    gc.collect()
    rss0 = status_kb("VmRSS")
    reset_peak()
    core, fib, t = asyncio.run(load(data, not args.no_fib, args.pass_every))
    gc.collect()
    rss1 = status_kb("VmRSS")
    peak = status_kb("VmHWM")
    n = core.route_count
    print(f"routes {n:,}  FIB {'off' if fib is None else 'on'}  cpu {t['cpu']:.2f} s", end="")
    if fib is not None:
        print(f"  (FIB passes {int(t['passes'])}: {t['fib_cpu']:.2f} s)", end="")
    print()
    print(
        f"RSS before {rss0 / 1024:.0f} MB, after {rss1 / 1024:.0f} MB, peak {peak / 1024:.0f} MB:"
        f" {(peak - rss0) * 1024 / n:.1f} B/route peak, {(rss1 - rss0) * 1024 / n:.1f} B/route held"
    )
    pm = pymalloc()
    mi = mallinfo()
    print(
        "pymalloc: allocated {:.0f} MB, free in used pools {:.0f} MB, arenas {}".format(
            pm.get("allocated", 0) / 2**20, pm.get("available", 0) / 2**20, pm.get("arenas", 0)
        )
    )
    if mi:
        print(
            "glibc malloc: brk heap {:.0f} MB, mmapped {:.0f} MB, free in heap {:.0f} MB".format(
                mi["heap"] / 2**20, mi["mmap"] / 2**20, mi["free"] / 2**20
            )
        )
    rows = breakdown(core, fib)
    total = sum(b for _, b in rows)
    held = (rss1 - rss0) * 1024
    rows.append(("unaccounted (arenas of freed objects, allocator slack)", held - total))
    rows.append(("transient peak above the held RSS", (peak - rss1) * 1024))
    print(f"{'component':<62} {'MB':>8} {'B/route':>8}")
    for name, b in rows:
        print(f"{name:<62} {b / 2**20:8.1f} {b / n:8.1f}")


if __name__ == "__main__":
    main()
