"""agent.core.gctune: the daemon's GC thresholds."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from agent.core.gctune import THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    old = gc.get_threshold()
    yield
    gc.set_threshold(*old)


def test_tune_gc_sets_thresholds_and_returns_previous(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_gc() == (700, 10, 10)
    assert gc.get_threshold() == THRESHOLDS == (10_000, 50, 50)
    assert tune_gc((123, 4, 5)) == (10_000, 50, 50)
    assert gc.get_threshold() == (123, 4, 5)


def test_full_collections_are_rare_while_a_rib_grows(restore_gc: None) -> None:
    # 1M acyclic containers (as interned attribute sets are) stored in one
    # big dict: the default thresholds run full collections (one per 25% growth
    # of the long-lived heap, and this test process holds well under 3M
    # objects), the tuned ones none (one per 25M allocations at most).
    def full_collections(thresholds: tuple[int, int, int]) -> int:
        gc.collect()
        gc.set_threshold(*thresholds)
        before = gc.get_stats()[2]["collections"]
        rib: dict[int, list[int]] = {}
        for i in range(1_000_000):
            rib[i] = [i]
        after = gc.get_stats()[2]["collections"]
        del rib
        return int(after - before)

    assert full_collections((700, 10, 10)) >= 1
    assert full_collections(THRESHOLDS) == 0


_PROBE = """
import ctypes, ctypes.util, sys
from agent.core.gctune import MMAP_THRESHOLD, tune_malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = MallInfo2
tuned = tune_malloc() if sys.argv[1] == "tuned" else None
big = bytearray(16 << 20)
del big
before = libc.mallinfo2().hblks
blocks = [bytearray(MMAP_THRESHOLD * 8) for _ in range(4)]
during = libc.mallinfo2().hblks
del blocks
print(tuned, during - before, libc.mallinfo2().hblks - before)
"""


def _probe(mode: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], check=True, capture_output=True, text=True
    )
    return out.stdout.split()


def test_tune_malloc_keeps_large_blocks_mmapped() -> None:
    """In a fresh process (as ``serve`` applies it, at start): after a 16 MB
    block is freed, glibc serves the next 1 MB blocks from its heap (its
    dynamic threshold rose to 16 MB); tuned, they stay mmapped, so freeing
    them gives the pages back."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc >= 2.33")
    assert _probe("tuned") == ["True", "4", "0"]
    assert _probe("default") == ["None", "0", "0"]
