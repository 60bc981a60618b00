"""Cyclic-GC policy and malloc settings for a process that holds large RIBs.

A RIB is a few huge dicts (one entry per route) whose values are interned
``PathAttributes``. CPython's collector traverses every container of the
generations it collects: a full collection visits every RIB dict entry, so
at 4.8M routes one full collection holds the event loop for 100-800 ms, and
with the default thresholds (700, 10, 10) one runs every time the long-lived
heap grows by 25 % (13 full collections and 1.6 s of a 5.4 s ingest once,
``bench/ingest.py``).

Two measures (``tune_gc``, applied by ``serve`` at process start; libraries
and tests that build a ``Core`` are unaffected):

- **Thresholds** (10_000, 5, 50): generation 0 is collected every 10k net
  new containers (the BMP listener also turns the collector off inside an
  ingest slice), generation 1 every 5 of those. A RIB dict is created empty
  when its table appears and then grows by millions of entries: a young
  collection traverses it whole, so it must leave the young generations
  (be frozen, below) while it is small. With the old multiplier of 50 the
  tables stayed young for 20-40 s of a full-table load, and the generation-1
  collection that finally promoted them held the loop for ~200 ms of CPU.
- **Freeze the survivors** (``gc.freeze``) after every collection of
  generation 1 or 2: what survived two young collections (the RIB dicts, the
  interned attribute sets, the peers) moves to the permanent generation,
  which no collection traverses. The old generation stays nearly empty, so a
  full collection costs what was promoted since the last one, not the table.
  Freezing is O(1) (a list splice), and reference counting still frees a
  frozen object (a withdrawn route's attributes) as soon as nothing holds it.

What freezing gives up is the collection of *cycles* that become garbage
after they were frozen; the agent creates almost no cycles (routes,
attribute sets, NLRI tuples are acyclic), and young cycles (a request's,
an exception's) are still collected before they are frozen. A **sweep**
(``gc.unfreeze`` + a full collection, then freeze again) reclaims the rest
on the event loop, 15 min after start and then at an interval that doubles
(up to 6 h) while sweeps find next to nothing: the one full traversal of the
heap (``bench/scrape.py --full-table`` times it), rare by construction.
``bmp_gc_*`` (``agent.export.metrics.GcPolicyCollector``) counts freezes
and sweeps and shows what the last sweep cost and collected (not the frozen
count: ``gc.get_freeze_count()`` walks the permanent generation).
``tune_malloc``: a RIB table's dict doubles as it fills; each doubling frees
the old entry array (up to ~50 MB at 1M routes), and the FIB's passes free
large transient sets. glibc serves allocations above its mmap threshold with
``mmap`` and gives them back on free, but it raises that threshold to the
size of each mmapped block freed (up to 32 MB), after which those arrays
come from the heap and their holes stay in RSS (``bench/memory.py``: 10-13
B/route at 1.2-4.8M routes). A fixed threshold (setting it turns the
adjustment off) returns every large block to the system when freed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import time
from typing import Any

from ..log import get_logger

#: Generation 0 threshold, then the generation 1 and 2 multipliers.
THRESHOLDS = (10_000, 5, 50)
#: Seconds between sweeps (unfreeze + full collection) of frozen objects at
#: first; the interval doubles (up to ``SWEEP_MAX_SECONDS``) after each sweep
#: that collected fewer than ``SWEEP_FEW`` objects, and returns to
#: ``SWEEP_SECONDS`` after one that collected more.
SWEEP_SECONDS = 900.0
SWEEP_MAX_SECONDS = 6 * 3600.0
SWEEP_FEW = 10_000


class GcPolicy:
    """Freezes survivors after each older-generation collection; sweeps now
    and then (module docstring). ``install``/``uninstall`` are idempotent."""

    def __init__(
        self, sweep_seconds: float = SWEEP_SECONDS, max_seconds: float = SWEEP_MAX_SECONDS
    ) -> None:
        self.sweep_seconds = sweep_seconds
        self.max_seconds = max(max_seconds, sweep_seconds)
        #: Seconds until the next sweep (adapts: ``SWEEP_FEW``).
        self.interval = sweep_seconds
        self.freezes = 0
        self.sweeps = 0
        #: Duration and objects collected of the last sweep.
        self.last_sweep_seconds = 0.0
        self.last_sweep_collected = 0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # After a collection of generation >= 1 the young generations are
        # empty: what is left in the old one survived two collections.
        if phase == "stop" and info.get("generation", 0) >= 1:
            gc.freeze()
            self.freezes += 1

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Freeze from now on; with ``loop``, sweep every ``sweep_seconds`` on it."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        if loop is not None and self._handle is None:
            self._loop = loop
            self._handle = loop.call_later(self.interval, self._sweep_due)

    def uninstall(self) -> None:
        """Stop freezing; unfreeze what was frozen (a later full collection sees it)."""
        while self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.unfreeze()

    def sweep(self) -> int:
        """Unfreeze, collect everything, freeze again; the objects collected."""
        t = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self.sweeps += 1
        self.last_sweep_seconds = time.perf_counter() - t
        self.last_sweep_collected = collected
        if collected < SWEEP_FEW:
            self.interval = min(self.max_seconds, 2 * self.interval)
        else:
            self.interval = self.sweep_seconds
        return collected

    def _sweep_due(self) -> None:
        collected = self.sweep()
        get_logger(component="gc").debug(
            "gc sweep",
            collected=collected,
            seconds=round(self.last_sweep_seconds, 4),
            next_in=self.interval,
        )
        if self._loop is not None and not self._loop.is_closed():
            self._handle = self._loop.call_later(self.interval, self._sweep_due)


#: The process's policy (``tune_gc``).
POLICY = GcPolicy()


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> tuple[int, int, int]:
    """Set the collector thresholds and install ``POLICY`` (sweeps only when
    called on a running event loop); returns the previous thresholds."""
    old = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    POLICY.install(loop)
    return old


#: Allocations at least this big are mmapped and returned on free (glibc).
MMAP_THRESHOLD = 128 * 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (and trim threshold) at ``threshold`` bytes;
    False where the C library has no ``mallopt`` (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    return bool(mallopt(_M_TRIM_THRESHOLD, 2 * threshold)) and ok
