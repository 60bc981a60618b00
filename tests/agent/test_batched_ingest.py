"""The listener's batched ingest equals applying every message one by one.

``BmpSession.feed_batched`` collapses runs of one-NLRI-set Route Monitoring
into ``RouteBatch`` events (``fast.decode_flat``: no per-message objects) and
``RouterSession.handle_batch`` applies them; both must leave the core exactly
as ``feed`` + ``handle`` does: same routes (keys and attribute values), the
same counters, quirks, decode errors, peer states and flaps. Checked on every
golden capture (including the mistakes one: decode errors, withdrawals of
unknown routes, quirks), cut into reads of several sizes, with several
per-call message limits. Then over a real loopback socket with the slice
budget at zero, so reading pauses and resumes after every slice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support import bgp, bmp

from agent.config import Endpoint, load
from agent.core import Core, CoreSettings
from agent.core.router import RouterSession
from agent.sources.bmp import listener as listener_mod
from agent.sources.bmp.listener import Routers, start_listeners
from parsers.bmp.messages import RouteMonitoring
from parsers.bmp.session import BmpSession, Decoded, DecodeFailed, RouteBatch
from parsers.errors import ParseError

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
SMALL = sorted(CAPTURES.glob("*.bmp"))


def _clock() -> float:
    return 1000.0


def _snapshot(core: Core) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, router in core.routers.items():
        peers = {}
        for key, peer in router.peers.items():
            tables = {
                tk: (
                    dict(t.routes),
                    t.route_count,
                    t.prefix_count,
                    t.announces,
                    t.withdraws,
                    t.unknown_withdraws,
                    t.flaps,
                    t.eor,
                )
                for tk, t in peer.tables.items()
            }
            peers[key] = (peer.state, peer.asn, peer.bgp_id, peer.ever_up, tables)
        out[label] = (
            dict(router.messages),
            dict(router.quirks),
            dict(router.decode_errors),
            peers,
        )
    return out


def _one_by_one(data: bytes, chunk: int) -> dict[str, Any]:
    core = Core(CoreSettings(clock=_clock))
    rs = core.open_session("192.0.2.1", 179)
    session = BmpSession()
    for i in range(0, len(data), chunk):
        try:
            events = session.feed(data[i : i + chunk])
        except ParseError:
            break
        for ev in events:
            rs.handle(ev)
        rs.absorb_quirks(session.ctx.quirks)
    return _snapshot(core)


def _batched(data: bytes, chunk: int, limit: int) -> tuple[dict[str, Any], int]:
    core = Core(CoreSettings(clock=_clock))
    rs = core.open_session("192.0.2.1", 179)
    session = BmpSession(batch=True)
    batched = 0
    for i in range(0, len(data), chunk):
        piece = data[i : i + chunk]
        while True:
            try:
                events = session.feed_batched(piece, limit)
            except ParseError:
                return _snapshot(core), batched
            piece = b""
            if not events:
                break
            for ev in events:
                if isinstance(ev, RouteBatch):
                    batched += len(ev.routes)
                    rs.handle_batch(ev)
                else:
                    assert isinstance(ev, Decoded | DecodeFailed)
                    rs.handle(ev)
            rs.absorb_quirks(session.ctx.quirks)
            if not limit:
                break
    return _snapshot(core), batched


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "limit"), [(1 << 20, 0), (4096, 3), (333, 1), (65536, 512)])
def test_batched_equals_one_by_one_on_capture(path: Path, chunk: int, limit: int) -> None:
    data = path.read_bytes()
    expected = _one_by_one(data, 1 << 20)
    got, batched = _batched(data, chunk, limit)
    assert got == expected
    # Most Route Monitoring of a capture goes through the batch path.
    rm = sum(r[0].get("route_monitoring", 0) for r in expected.values())
    assert rm > 0 or path.name == "bird-addpath-latesink.bmp"
    assert batched >= rm // 2, (batched, rm)


@pytest.mark.parametrize("name", ["frr-scale.bmp.gz", "gobgp-scale.bmp.gz"])
def test_batched_equals_one_by_one_at_scale(name: str) -> None:
    data = gzip.decompress((CAPTURES / name).read_bytes())
    expected = _one_by_one(data, 1 << 18)
    got, batched = _batched(data, 1 << 18, 512)
    assert got == expected
    routes = sum(len(t[0]) for r in expected.values() for p in r[3].values() for t in p[4].values())
    assert routes > 10_000
    assert batched > 0


async def test_listener_slices_a_big_read_and_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slice budget 0: every slice of 512 messages yields to the loop with reading
    paused; the RIB still ends equal to the one-by-one result, and other
    callbacks ran in between."""
    data = gzip.decompress((CAPTURES / "frr-scale.bmp.gz").read_bytes())
    expected = _one_by_one(data, 1 << 18)
    monkeypatch.setattr(listener_mod, "SLICE_SECONDS", 0.0)
    pauses = 0
    real_ingest = listener_mod.BmpProtocol._ingest

    def counting(self: listener_mod.BmpProtocol, data: bytes = b"") -> None:
        nonlocal pauses
        was = self._paused
        real_ingest(self, data)
        pauses += int(self._paused and not was)

    monkeypatch.setattr(listener_mod.BmpProtocol, "_ingest", counting)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    with capture_logs():
        core = Core(CoreSettings(clock=_clock))
        routers = Routers(core, dataclasses.replace(load(environ={}).bmp))
        servers = await start_listeners(routers, (Endpoint("127.0.0.1", 0),))
        port = servers[0].sockets[0].getsockname()[1]
        tick = asyncio.create_task(ticker())
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()

            def total() -> int:
                return sum(
                    sum(r.messages.values()) + sum(r.decode_errors.values())
                    for r in core.routers.values()
                )

            want = sum(sum(r[0].values()) + sum(r[2].values()) for r in expected.values())
            async with asyncio.timeout(30):
                while total() < want:
                    await asyncio.sleep(0.01)
            got = _snapshot(core)
            # Labels differ by the ephemeral port: compare the routers' contents.
            assert list(got.values()) == list(expected.values())
            assert pauses >= 3
            assert ticks >= pauses
            writer.close()
        finally:
            tick.cancel()
            for s in servers:
                s.close()
            routers.close_all()
            await asyncio.wait_for(routers.wait_closed(), 10)


def _merge_stream() -> bytes:
    """One peer, one prefix per message as FRR dumps: runs of one attribute
    set, a prefix announced twice within a run (a flap), withdrawals in a
    row, one of them of a route never announced."""
    attrs = bgp.origin(0) + bgp.as_path([(2, [65001, 65002])]) + bgp.next_hop("192.0.2.1")
    other = bgp.origin(0) + bgp.as_path([(2, [65001])]) + bgp.next_hop("192.0.2.1")

    def announce(prefix: str, a: bytes = attrs) -> bytes:
        return bmp.build_route_monitoring(bmp.build_update(attributes=a, nlri=bgp.nlri([prefix])))

    def withdraw(prefix: str) -> bytes:
        return bmp.build_route_monitoring(bmp.build_update(withdrawn=bgp.nlri([prefix])))

    return b"".join(
        [
            bmp.build_peer_up(),
            announce("10.0.0.0/24"),
            announce("10.0.1.0/24"),
            announce("10.0.0.0/24"),  # again, same run: a flap
            announce("10.0.2.0/24"),
            announce("10.0.3.0/24", other),
            announce("10.0.4.0/24", other),
            withdraw("10.0.1.0/24"),
            withdraw("10.0.9.0/24"),  # unknown
            withdraw("10.0.1.0/24"),  # unknown by now
            announce("10.0.1.0/24"),
        ]
    )


@pytest.mark.parametrize(
    "settings",
    [{}, {"max_routes_per_peer": 3}, {"max_routes_per_peer": 3, "on_limit": "close"}],
    ids=["no-limit", "peer-limit", "limit-close"],
)
def test_merged_runs_equal_one_by_one(settings: dict[str, Any]) -> None:
    """``handle_batch`` applies runs of one attribute set as one announce: the
    RIB, flaps, unknown withdrawals and counters equal the per-message path's,
    with and without route limits (which keep the per-message path)."""
    data = _merge_stream()
    seen: dict[int, list[tuple[str, bytes, bool]]] = {}

    class Recorder:
        """What an observer sees: each prefix, and whether the table held it."""

        def __init__(self, log: list[tuple[str, bytes, bool]]) -> None:
            self.log = log

        def announce(self, peer: Any, table: Any, nset: Any, attrs: Any) -> None:
            self.log.extend(("announce", p, p in table.routes) for p in nset.prefixes)

        def withdraw(self, peer: Any, table: Any, nset: Any) -> None:
            self.log.extend(("withdraw", p, p in table.routes) for p in nset.prefixes)

    def core() -> Core:
        c = Core(CoreSettings(clock=_clock, **settings))
        c.observers.append(Recorder(seen.setdefault(len(seen), [])))
        return c

    one = core()
    rs = one.open_session("192.0.2.1", 179)
    session = BmpSession()
    for ev in session.feed(data):
        if rs.limit_closed:
            break
        rs.handle(ev)
    merged = core()
    rs2 = merged.open_session("192.0.2.1", 179)
    session2 = BmpSession(batch=True)
    events = session2.feed_batched(data)
    assert [type(e).__name__ for e in events] == ["Decoded", "RouteBatch"]
    for event in events:
        if isinstance(event, RouteBatch):
            rs2.handle_batch(event)
        else:
            assert isinstance(event, Decoded)
            rs2.handle(event)
    assert _snapshot(merged) == _snapshot(one)
    assert seen[1] == seen[0]
    (table,) = next(iter(merged.routers["192.0.2.1"].peers.values())).tables.values()
    if not settings:
        assert sorted(table.routes) == [bgp.prefix_key(f"10.0.{i}.0/24") for i in (0, 1, 2, 3, 4)]
        assert (table.announces, table.withdraws, table.unknown_withdraws) == (7, 3, 2)
        assert table.flaps == 1


async def test_listener_survives_an_exception_in_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the core (``handle`` or ``handle_batch`` raising) costs only the
    message it was applying: one rate-limited error log with the traceback, the
    session stays, every other message is applied."""
    data = gzip.decompress((CAPTURES / "frr-scale.bmp.gz").read_bytes())
    expected = _one_by_one(data, 1 << 18)
    want = sum(sum(r[0].values()) + sum(r[2].values()) for r in expected.values())
    real_handle, real_batch = RouterSession.handle, RouterSession.handle_batch
    raised = {"handle": 0, "batch": 0}
    lost = 0

    def handle(self: RouterSession, event: Any) -> None:
        if (
            not raised["handle"]
            and isinstance(event, Decoded)
            and isinstance(event.message, RouteMonitoring)
        ):
            raised["handle"] += 1  # the first Route Monitoring the slow path applies
            raise RuntimeError("core bug (handle)")
        real_handle(self, event)

    def handle_batch(self: RouterSession, batch: RouteBatch) -> None:
        nonlocal lost
        if not raised["batch"]:
            raised["batch"] += 1
            lost += len(batch.routes)
            raise RuntimeError("core bug (batch)")
        real_batch(self, batch)

    monkeypatch.setattr(RouterSession, "handle", handle)
    monkeypatch.setattr(RouterSession, "handle_batch", handle_batch)
    with capture_logs() as logs:
        core = Core(CoreSettings(clock=_clock))
        routers = Routers(core, dataclasses.replace(load(environ={}).bmp))
        servers = await start_listeners(routers, (Endpoint("127.0.0.1", 0),))
        port = servers[0].sockets[0].getsockname()[1]
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()

            def total() -> int:
                return sum(sum(r.messages.values()) for r in core.routers.values())

            async with asyncio.timeout(30):
                while total() < want - lost - 1:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            assert total() == want - lost - 1
            assert raised == {"handle": 1, "batch": 1}
            failed = [e for e in logs if str(e["event"]).startswith("core failed")]
            assert sorted((e["event"], e["log_level"], e.get("exc_info")) for e in failed) == [
                ("core failed to apply a message", "error", True),
                ("core failed to apply messages", "error", True),
            ]
            assert all(isinstance(e["offset"], int) and e["suppressed"] == 0 for e in failed)
            assert [r.up for r in core.routers.values()] == [True]
            writer.close()
        finally:
            for s in servers:
                s.close()
            routers.close_all()
            await asyncio.wait_for(routers.wait_closed(), 10)
