"""Cyclic-GC thresholds for a process that holds large RIBs.

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
"""

from __future__ import annotations

import gc

#: Generation 0 threshold, then the generation 1 and 2 multipliers.
THRESHOLDS = (10_000, 50, 50)


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> tuple[int, int, int]:
    """Set the collector thresholds; returns the previous ones."""
    old = gc.get_threshold()
    gc.set_threshold(*thresholds)
    return old
