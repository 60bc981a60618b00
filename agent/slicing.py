"""Work cut into event-loop slices: how much to do between two clock checks.

BMP ingest (messages per decode batch) and the FIB reconciler (prefixes per
compare step) both check the clock after a batch and yield once a slice's
time is spent. A fixed batch either overruns the slice (costly items) or
checks far too often (cheap ones), so the next batch follows what the last
one cost.
"""

from __future__ import annotations


def next_batch(size: int, took: float, slice_seconds: float, lo: int, hi: int) -> int:
    """The next batch size after a batch of ``size`` items took ``took`` seconds:
    aimed at half a slice, so a slice overruns by at most about that, kept
    within ``lo``..``hi``."""
    return max(lo, min(hi, int(size * slice_seconds / 2 / max(took, 1e-6))))
