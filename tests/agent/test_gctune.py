"""agent.core.gctune: the daemon's GC thresholds."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator

import pytest

from agent.core.gctune import MMAP_THRESHOLD, THRESHOLDS, tune_gc, tune_malloc


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


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _mmapped_blocks() -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().hblks)


def test_tune_malloc_keeps_large_blocks_mmapped() -> None:
    """After a 16 MB block is freed glibc would serve the next 1 MB one from
    its heap (the dynamic threshold rose to 16 MB); tuned, it stays mmapped,
    so freeing it gives the pages back."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc >= 2.33")
    assert tune_malloc() is True
    big = bytearray(16 << 20)
    del big
    before = _mmapped_blocks()
    blocks = [bytearray(MMAP_THRESHOLD * 8) for _ in range(4)]
    assert _mmapped_blocks() == before + 4
    del blocks
    assert _mmapped_blocks() == before
