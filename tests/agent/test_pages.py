"""agent.pages: sorted-key indexes (order, cursors, GC tracking) and index_of."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from agent import pages
from agent.pages import IndexCache, SortedKeys, Tick, build_async, build_sync, index_of


def _keys(n: int) -> dict[bytes, None]:
    # Inserted in a scrambled order, so sorting is observable.
    return {bytes([24]) + ((i * 7919) % n).to_bytes(3, "big"): None for i in range(n)}


def test_index_runs_leave_the_gc_after_one_young_collection(monkeypatch: Any) -> None:
    monkeypatch.setattr(pages, "RUN", 1000)
    keys = _keys(5000)
    sync = build_sync(keys, 1)
    built = asyncio.run(build_async(keys, 1))
    assert [len(r) for r in built.runs] == [1000] * 5
    gc.collect(1)  # young generations only (an automatic gen-0 pass may have run)
    assert [gc.is_tracked(r) for r in sync.runs] == [False]
    assert [gc.is_tracked(r) for r in built.runs] == [False] * 5
    expected = sorted(keys)
    assert list(sync.after()) == list(built.after()) == expected
    assert list(built.after(expected[2499])) == expected[2500:]
    assert list(built.between(expected[10], expected[13])) == expected[10:13]


def test_index_of_builds_caches_and_yields_a_tick_for_async(monkeypatch: Any) -> None:
    monkeypatch.setattr(pages, "SMALL", 10)
    monkeypatch.setattr(pages, "RUN", 40)
    keys = _keys(100)
    cache = IndexCache()

    def walk(sync: bool, fresh: bool = True) -> tuple[list[Tick], SortedKeys]:
        ticks: list[Tick] = []
        gen = index_of(cache, keys, keys, "v1", fresh=fresh, sync=sync)
        try:
            while True:
                tick = next(gen)
                ticks.append(tick)
                assert tick.build is not None
                asyncio.run(tick.build())
        except StopIteration as stop:
            return ticks, stop.value

    ticks, index = walk(sync=False)
    assert len(ticks) == 1 and len(index.runs) == 3 and cache.builds == 1
    assert list(index.after()) == sorted(keys)
    ticks, again = walk(sync=False)
    assert ticks == [] and again is index and cache.builds == 1  # cached
    cache.clear()
    ticks, index = walk(sync=True)
    assert ticks == [] and len(index.runs) == 1 and cache.builds == 2
    # A small table is sorted at once and not cached.
    small = _keys(8)
    gen = index_of(cache, small, small, "v1", fresh=True, sync=False)
    try:
        next(gen)
        raise AssertionError("a small table needs no Tick")
    except StopIteration as stop:
        assert list(stop.value.after()) == sorted(small)
    assert cache.builds == 2
