"""Cyclic-GC thresholds and malloc settings for a process that holds large RIBs.

A RIB is a few huge dicts (one entry per route) whose values are interned
``PathAttributes``. With CPython's default thresholds (700, 10, 10) a full
collection runs every ~90k new container objects once the heap is small in
*object count* (a 1.2M-route table is ~300k tracked objects), and each full
collection traverses every RIB dict entry: on a 4.8M-route ingest that was
13 full collections and 1.6 s of a 5.4 s ingest (``bench/ingest.py``).

Raising the thresholds keeps young collections cheap and makes full ones
rare: the agent creates almost no reference cycles (routes, attribute sets,
NLRI tuples are acyclic and freed by reference counting), so cyclic garbage
stays small between collections. ``serve`` applies this at process start;
libraries and tests that build a ``Core`` are unaffected.

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

import ctypes
import ctypes.util
import gc

#: Generation 0 threshold, then the generation 1 and 2 multipliers.
THRESHOLDS = (10_000, 50, 50)


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> tuple[int, int, int]:
    """Set the collector thresholds; returns the previous ones."""
    old = gc.get_threshold()
    gc.set_threshold(*thresholds)
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
