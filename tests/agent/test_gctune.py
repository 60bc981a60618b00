"""agent.core.gctune: the daemon's GC thresholds, freezing and sweeps."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest

from agent.core.gctune import POLICY, THRESHOLDS, GcPolicy, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    old = gc.get_threshold()
    yield
    POLICY.uninstall()
    gc.set_threshold(*old)


def test_tune_gc_sets_thresholds_and_returns_previous(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_gc() == (700, 10, 10)
    assert gc.get_threshold() == THRESHOLDS == (10_000, 5, 50)
    assert tune_gc((123, 4, 5)) == (10_000, 5, 50)
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


class Node:
    """A container that can be part of a reference cycle (and be weak-referenced)."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_survivors_are_frozen_so_full_collections_skip_them(restore_gc: None) -> None:
    policy = GcPolicy()
    gc.collect()
    policy.install()
    try:
        rib = {i: [i] for i in range(100_000)}  # a long-lived table
        before = policy.freezes
        gc.collect(1)  # a collection of generation 1: its survivors are frozen
        assert policy.freezes == before + 1
        assert gc.get_freeze_count() >= len(rib)
        # A full collection no longer traverses them: the old generation
        # holds nothing of the table.
        gc.collect()
        assert policy.freezes == before + 2
        old = gc.get_objects(generation=2)
        assert not any(o is rib for o in old)
        assert len(old) < 1000
        # Reference counting still frees a frozen object.
        probe = Node()
        ref = weakref.ref(probe)
        gc.collect(1)
        assert gc.is_tracked(probe) and ref() is probe
        del probe
        assert ref() is None
        del rib
    finally:
        policy.uninstall()
    assert gc.get_freeze_count() == 0


def test_sweep_collects_cycles_that_died_frozen(restore_gc: None) -> None:
    policy = GcPolicy()
    gc.collect()
    policy.install()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        gc.collect(1)  # the cycle survives (it is referenced) and is frozen
        del a, b
        gc.collect()  # a full collection does not see frozen objects
        assert ref() is not None
        assert policy.sweep() >= 2  # the two nodes (and their __dict__s)
        assert ref() is None
        assert policy.sweeps == 1
        assert gc.get_freeze_count() > 0  # what survived the sweep is frozen again
    finally:
        policy.uninstall()


def test_sweeps_run_on_the_event_loop(restore_gc: None) -> None:
    async def run() -> int:
        policy = GcPolicy(sweep_seconds=0.01)
        policy.install(asyncio.get_running_loop())
        try:
            while policy.sweeps < 3:
                await asyncio.sleep(0.01)
        finally:
            policy.uninstall()
        return policy.sweeps

    assert asyncio.run(run()) == 3
    assert gc.get_freeze_count() == 0


def test_tune_gc_installs_the_policy_once(restore_gc: None) -> None:
    tune_gc()
    tune_gc()
    assert gc.callbacks.count(POLICY._on_gc) == 1
    POLICY.uninstall()
    assert POLICY._on_gc not in gc.callbacks


def test_gc_policy_metrics_follow_the_policy(restore_gc: None) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.export.metrics import GcPolicyCollector

    policy = GcPolicy()
    gc.collect()
    policy.install()
    try:
        registry = CollectorRegistry()
        registry.register(GcPolicyCollector(policy))
        keep = [[i] for i in range(1000)]
        gc.collect(1)
        policy.sweep()
        lines = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in generate_latest(registry).decode().splitlines()
            if line.startswith("bmp_gc_")
        }
        assert "bmp_gc_frozen_objects" not in lines  # get_freeze_count walks the frozen heap
        assert gc.get_freeze_count() > len(keep)
        assert lines["bmp_gc_freezes_total"] == policy.freezes >= 2
        assert lines["bmp_gc_sweeps_total"] == 1.0
        assert lines["bmp_gc_last_sweep_seconds"] == policy.last_sweep_seconds > 0
        assert lines["bmp_gc_last_sweep_collected"] == policy.last_sweep_collected
    finally:
        policy.uninstall()


def test_sweep_interval_doubles_while_sweeps_find_little(restore_gc: None) -> None:
    policy = GcPolicy(sweep_seconds=10.0, max_seconds=35.0)
    gc.collect()
    policy.install()
    try:
        intervals = []
        for _ in range(3):
            policy.sweep()  # nothing much to collect in this test process
            intervals.append(policy.interval)
        assert intervals == [20.0, 35.0, 35.0]
        cycles = []
        for _ in range(6000):
            a, b = Node(), Node()
            a.other, b.other = b, a
            cycles.append(a)
        gc.collect(1)  # frozen while referenced
        del cycles, a, b
        assert policy.sweep() >= 12_000  # the 12,000 nodes
        assert policy.interval == 10.0
    finally:
        policy.uninstall()


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
