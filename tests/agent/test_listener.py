"""BMP listener and connector over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import struct
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.backoff import backoff_delay
from agent.config import BmpConfig, Endpoint, load
from agent.core import Core, CoreSettings
from agent.sources.bmp.connector import Connector
from agent.sources.bmp.listener import Routers, start_listeners

#: Bound for every wait in these tests (a hang fails instead of blocking CI).
WAIT = 10.0


def bmp(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!BIB", 3, 6 + len(body), msg_type) + body


def initiation(sys_name: str = "r1", sys_descr: str = "test router") -> bytes:
    tlvs = b""
    for t, v in ((2, sys_name), (1, sys_descr)):
        raw = v.encode()
        tlvs += struct.pack("!HH", t, len(raw)) + raw
    return bmp(4, tlvs)


def termination() -> bytes:
    return bmp(5, struct.pack("!HHH", 1, 2, 0))


def settings(**kw: Any) -> BmpConfig:
    return dataclasses.replace(load(environ={}).bmp, **kw)


class Harness:
    def __init__(self, routers: Routers, port: int, logs: list[MutableMapping[str, Any]]) -> None:
        self.routers = routers
        self.core: Core = routers.core  # type: ignore[assignment]
        self.port = port
        self.logs = logs

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    def events(self, name: str) -> list[MutableMapping[str, Any]]:
        return [e for e in self.logs if e["event"] == name]

    async def send_until_closed(self, data: bytes) -> Any:
        """Send ``data`` from 127.0.0.1; the collector must close the connection.
        Returns that router's state in the core."""
        reader, writer = await self.connect()
        writer.write(data)
        await writer.drain()
        assert await read_eof(reader) == b""
        writer.close()
        return self.core.routers["127.0.0.1"]

    async def until(self, cond: Any) -> None:
        async def poll() -> None:
            while not cond():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), WAIT)


@contextlib.asynccontextmanager
async def start(**kw: Any) -> AsyncIterator[Harness]:
    with capture_logs() as logs:
        routers = Routers(Core(CoreSettings()), settings(**kw))
        servers = await start_listeners(routers, (Endpoint("127.0.0.1", 0),))
        port = servers[0].sockets[0].getsockname()[1]
        try:
            yield Harness(routers, port, logs)
        finally:
            for s in servers:
                s.close()
            routers.close_all()
            await asyncio.wait_for(routers.wait_closed(), WAIT)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with start() as h:
        yield h


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the collector closes the connection (b'' or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    except ConnectionResetError:
        return b""


async def test_router_session_applied_and_closed(harness: Harness) -> None:
    _reader, writer = await harness.connect()
    writer.write(initiation("spine1") + termination())
    await writer.drain()
    await harness.until(lambda: harness.core.routers.get("127.0.0.1") is not None)
    router = harness.core.routers["127.0.0.1"]
    await harness.until(lambda: router.messages["termination"] == 1)
    assert router.sys_name == "spine1"
    assert router.messages["initiation"] == 1
    assert router.up is True
    writer.close()
    await harness.until(lambda: not router.up)
    assert router.close_reason == "closed_by_router"
    assert len(harness.routers.connections) == 0
    init = harness.events("router initiation")
    assert len(init) == 1
    assert init[0]["sys_name"] == "spine1" and init[0]["router"].startswith("127.0.0.1:")
    disc = harness.events("router disconnected")
    assert [(d["reason"], d["messages"]) for d in disc] == [("closed_by_router", 2)]


async def test_allow_list_rejects() -> None:
    async with start(allow=(ipaddress.ip_network("10.0.0.0/8"),)) as harness:
        reader, writer = await harness.connect()
        writer.write(initiation())
        assert await read_eof(reader) == b""
        writer.close()
        rejected = harness.events("router rejected: address not in bmp.allow")
        assert len(rejected) == 1
        assert rejected[0]["remote_address"] == "127.0.0.1"
        assert rejected[0]["log_level"] == "warning"
        assert dict(harness.core.routers) == {}  # never reached the core


async def test_max_routers_refuses_the_extra_one() -> None:
    async with start(max_routers=1) as harness:
        _r1, w1 = await harness.connect()
        w1.write(initiation("first"))
        await w1.drain()
        await harness.until(lambda: "127.0.0.1" in harness.core.routers)
        r2, w2 = await harness.connect()
        assert await read_eof(r2) == b""
        w2.close()
        refused = harness.events("router refused: bmp.max_routers reached")
        assert len(refused) == 1 and refused[0]["max_routers"] == 1
        # The first one is untouched and still streaming.
        w1.write(termination())
        await w1.drain()
        router = harness.core.routers["127.0.0.1"]
        await harness.until(lambda: router.messages["termination"] == 1)
        assert router.up and len(harness.routers.connections) == 1
        assert list(harness.core.routers) == ["127.0.0.1"]
        w1.close()


async def test_idle_timeout_closes_slowloris() -> None:
    async with start(idle_timeout=0.3) as harness:
        # A complete message first, then a header that never completes.
        router = await harness.send_until_closed(initiation() + initiation()[:4])
        assert router.close_reason == "idle_timeout"
        assert router.messages["initiation"] == 1
        idle = harness.events("router idle: no complete bmp message, closing connection")
        assert len(idle) == 1
        assert idle[0]["buffered_bytes"] == 4 and idle[0]["idle_timeout"] == 0.3


async def test_idle_timeout_spares_a_silent_router_between_messages() -> None:
    # BIRD sends nothing while nothing changes: silence after whole messages
    # is healthy. A connection that never sends its first message is not.
    async with start(idle_timeout=0.3) as harness:
        _quiet_reader, quiet = await harness.connect()
        quiet.write(initiation("quiet"))
        await quiet.drain()
        silent_reader, silent = await harness.connect()
        assert await read_eof(silent_reader) == b""
        silent.close()
        await asyncio.sleep(1.0)  # more than three timeouts
        router = harness.core.routers["127.0.0.1"]
        assert router.up and router.close_reason is None
        assert router.messages["initiation"] == 1
        assert harness.core.routers["127.0.0.1#2"].close_reason == "idle_timeout"
        quiet.close()


async def test_framing_error_closes_only_that_session(harness: Harness) -> None:
    ra, wa = await harness.connect()
    wa.write(initiation("a"))
    await wa.drain()
    await harness.until(lambda: "127.0.0.1" in harness.core.routers)
    _rb, wb = await harness.connect()
    wb.write(initiation("b"))
    await wb.drain()
    await harness.until(lambda: "127.0.0.1#2" in harness.core.routers)
    a = harness.core.routers["127.0.0.1"]
    b = harness.core.routers["127.0.0.1#2"]
    # Router a claims a 4 GB message.
    wa.write(struct.pack("!BIB", 3, 0xFFFFFFFF, 0))
    await wa.drain()
    assert await read_eof(ra) == b""
    wa.close()
    assert a.close_reason == "framing_error" and not a.up
    assert a.decode_errors["malformed"] == 1
    errors = harness.events("bmp framing error, closing connection")
    assert len(errors) == 1
    assert errors[0]["offset"] == len(initiation("a"))
    assert errors[0]["action"] == "drop_session"
    assert errors[0]["log_level"] == "error"
    # Router b keeps streaming.
    for _ in range(5):
        wb.write(initiation("b"))
    wb.write(termination())
    await wb.drain()
    await harness.until(lambda: b.messages["termination"] == 1)
    assert b.up and b.messages["initiation"] == 6
    assert sum(b.decode_errors.values()) == 0
    wb.close()


async def test_decode_errors_logged_and_session_kept(harness: Harness) -> None:
    _reader, writer = await harness.connect()
    bad_peer_up = bmp(3, b"\x00" * 10)  # per-peer header cut short
    writer.write(initiation() + bad_peer_up + bmp(0, b"\x00" * 50) + termination())
    await writer.drain()
    await harness.until(lambda: "127.0.0.1" in harness.core.routers)
    router = harness.core.routers["127.0.0.1"]
    await harness.until(lambda: router.messages["termination"] == 1)
    assert router.up and router.decode_errors["truncated"] == 2
    errors = harness.events("bmp message decode error")
    first = len(initiation())
    # offset: where in the stream decoding failed; msg_offset: the message's start.
    assert [(e["msg_type"], e["msg_offset"], e["offset"], e["action"]) for e in errors] == [
        ("peer_up", first, first + 6, "skip_message"),
        ("route_monitoring", first + 16, first + 16 + 6 + 42, "skip_message"),
    ]
    assert errors[0]["error"] == "per-peer header needs 42 bytes, 10 left"
    assert {e["log_level"] for e in errors} == {"warning"}
    writer.close()


async def test_bad_version_closes(harness: Harness) -> None:
    router = await harness.send_until_closed(b"\x05" + initiation()[1:])  # BMP version 5: unknown
    assert router.close_reason == "framing_error"
    assert router.decode_errors["unsupported"] == 1


async def test_shutdown_closes_routers(harness: Harness) -> None:
    reader, writer = await harness.connect()
    writer.write(initiation())
    await writer.drain()
    await harness.until(lambda: "127.0.0.1" in harness.core.routers)
    harness.routers.close_all("shutdown")
    assert await read_eof(reader) == b""
    await harness.until(lambda: not harness.core.routers["127.0.0.1"].up)
    assert harness.core.routers["127.0.0.1"].close_reason == "shutdown"
    writer.close()


# ------------------------------------------------------------------ active mode


def test_backoff_delay_bounds() -> None:
    high = [backoff_delay(n, 1.0, 60.0, rand=lambda a, b: b) for n in range(8)]
    assert high == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    low = [backoff_delay(n, 1.0, 60.0, rand=lambda a, b: a) for n in range(8)]
    assert low == [1.0] * 8
    assert backoff_delay(500, 0.5, 10.0, rand=lambda a, b: b) == 10.0


async def test_connector_dials_and_reconnects() -> None:
    """Active mode: a fake router listening for BMP stations; it drops us twice."""
    accepted: list[int] = []

    async def fake_router(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.write(initiation(f"listener{len(accepted)}"))
        await writer.drain()
        if len(accepted) < 3:
            writer.close()
            return
        await reader.read()  # stay until the collector closes
        writer.close()

    server = await asyncio.start_server(fake_router, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with capture_logs() as logs:
        core = Core(CoreSettings())
        routers = Routers(core, settings(reconnect_min=0.01, reconnect_max=0.05))
        conn = Connector(routers, Endpoint("127.0.0.1", port))
        conn.start()

        async def third() -> None:
            while len(accepted) < 3 or not routers.connections:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(third(), WAIT)
        router = core.routers["127.0.0.1"]
        await asyncio.wait_for(_until(lambda: router.sys_name == "listener3"), WAIT)
        assert router.connections == 3 and router.mode == "active" and router.up
        assert conn.sessions == 3
        await asyncio.wait_for(conn.stop(), WAIT)
        closed = core.routers["127.0.0.1"]
        assert (closed.up, closed.close_reason) == (False, "shutdown")
    server.close()
    await server.wait_closed()
    connected = [e for e in logs if e["event"] == "router connected"]
    assert len(connected) == 3 and {e["mode"] for e in connected} == {"active"}


async def test_connector_retries_refused_target() -> None:
    # A port nobody listens on: bind one, note it, close it.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with capture_logs() as logs:
        routers = Routers(Core(CoreSettings()), settings(reconnect_min=0.01, reconnect_max=0.02))
        conn = Connector(routers, Endpoint("127.0.0.1", port))
        conn.start()
        await asyncio.wait_for(_until(lambda: conn.attempts >= 3), WAIT)
        await asyncio.wait_for(conn.stop(), WAIT)
    failed = [e for e in logs if e["event"] == "bmp connect failed"]
    assert len(failed) >= 3 and conn.sessions == 0
    assert failed[0]["connect"] == f"127.0.0.1:{port}"


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.01)
