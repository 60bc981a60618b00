"""agent.core.gctune: the daemon's GC thresholds."""

from __future__ import annotations

import gc
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
