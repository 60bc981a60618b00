"""Big cleared tables are freed a slice at a time (``agent.core.reaper``).

A router's session closing with a full table used to free its dicts in one
callback (160-300 ms of loop time at 4.8M routes). The table is emptied at
once; the old dict goes to the reaper, which the daemon drains a slice per
callback."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.core import reaper
from agent.daemon import Daemon

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"


@pytest.fixture
def notified() -> Iterator[list[int]]:
    calls: list[int] = []
    was = reaper.notify
    reaper.notify = lambda: calls.append(reaper.pending())
    try:
        yield calls
    finally:
        reaper.notify = was
        while reaper.reap():
            pass


def test_reap_frees_at_most_a_slice_per_call(notified: list[int]) -> None:
    big = {i.to_bytes(4, "big"): i for i in range(reaper.BIG + 40_000)}
    reaper.bury(big)
    reaper.bury({b"small": 1})  # at most BIG entries: freed by its caller, never held
    assert notified == [reaper.BIG + 40_000]
    assert reaper.pending() == reaper.BIG + 40_000
    assert reaper.reap(50_000) is True
    assert reaper.pending() == reaper.BIG + 40_000 - 50_000
    assert reaper.reap(50_000) is True
    assert reaper.pending() == reaper.BIG + 40_000 - 100_000
    assert reaper.reap(50_000) is False
    assert reaper.pending() == 0


def test_without_a_reaping_task_a_dict_is_not_held() -> None:
    assert reaper.notify is None
    reaper.bury({i: i for i in range(reaper.BIG + 1)})
    assert reaper.pending() == 0


async def test_a_closed_full_session_is_empty_at_once_and_freed_in_slices(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """frr-scale (100k IPv4 + 20k IPv6, pre and post): on close, every count is 0
    in the same callback; the two 100k-entry IPv4 dicts are freed later, in
    slices, by the daemon's reaping task (one slice per callback)."""
    slices: list[int] = []
    real_reap = reaper.reap

    def counting(limit: int | None = None) -> bool:
        slices.append(reaper.pending())
        return real_reap(limit)

    monkeypatch.setattr(reaper, "reap", counting)
    monkeypatch.setattr(reaper, "SLICE", 30_000)
    data = gzip.decompress((CAPTURES / "frr-scale.bmp.gz").read_bytes())
    target = daemon.bmp_addresses[0]
    _reader, writer = await asyncio.open_connection(target.host, target.port)
    writer.write(data)
    await writer.drain()
    core = daemon.core
    async with asyncio.timeout(60):
        while sum(r.routes for r in core.routers.values()) < 240_000:
            await asyncio.sleep(0.05)
    (router,) = core.routers.values()
    assert router.routes == 240_000
    writer.close()
    async with asyncio.timeout(30):
        while any(r.routes for r in core.routers.values()):
            await asyncio.sleep(0)
    # the session's close emptied every table in the same callback
    for peer in router.peers.values():
        assert all(not t.routes for t in peer.tables.values())
    async with asyncio.timeout(30):
        while reaper.pending():
            await asyncio.sleep(0)
    # two 100k dicts (IPv6 ones are 20k: freed by the clear), 30k a slice
    assert slices == [200_000 - 30_000 * i for i in range(7)]
