"""The API under pressure, against a real agent on loopback (issue #21).

Scale: ``TABLE`` is 200,000 routes (40k IPv4 + 10k IPv6 prefixes x 2 peers x
pre/post-policy; the full table of the issue is 4.8M: ``bench/api.py``), a
size at which building and ingesting it keeps CI fast. Numbers asserted are
exact (routes stored, 429s answered vs counted, connections refused vs
counted); times only bound a hang or the 5 s shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_support import REPO, WAIT, Agent, rss_bytes, running_agent, until

sys.path.insert(0, str(REPO / "bench"))
import streams

#: 40k + 10k prefixes x 2 peers x 2 views = 200,000 routes.
TABLE = streams.StreamSpec(v4=40_000, v6=10_000, peers=2, views=(False, True), seed=3)
#: The second router's dump: 12,000 routes.
SECOND = streams.StreamSpec(v4=2_000, v6=1_000, peers=2, views=(False, True), seed=4)
#: RSS four held-back answers may add (each: a 64 KiB slice, the transport
#: buffer, the rendered attributes of up to 10,000 routes; plus the route
#: indexes and allocator slack).
HELD_BACK_RSS = 48 * 1024 * 1024


@pytest.fixture(scope="module")
def table() -> streams.Stream:
    return streams.cached_stream(TABLE)


@pytest.fixture(scope="module")
def second() -> streams.Stream:
    return streams.cached_stream(SECOND)


def agent_with(**http: Any) -> contextlib.AbstractAsyncContextManager[Agent]:
    return running_agent(http=http)


async def send(agent: Agent, data: bytes) -> asyncio.StreamWriter:
    _, writer = await agent.connect()
    writer.write(data)
    await writer.drain()
    return writer


def router_routes(agent: Agent, label: str) -> int:
    r = agent.daemon.core.routers.get(label)
    if r is None:
        return 0
    return sum(t.route_count for p in r.peers.values() for t in p.tables.values())


async def load_table(agent: Agent, stream: streams.Stream, label: str) -> asyncio.StreamWriter:
    writer = await send(agent, stream.data)
    await until(lambda: router_routes(agent, label) == stream.routes, timeout=120)
    return writer


async def test_hammered_api_keeps_ingest_and_metrics(
    table: streams.Stream, second: streams.Stream
) -> None:
    """50 clients on /api/v1/routes and /api/v1/flaps while a second router
    dumps its table: the dump completes exactly, /metrics answers, every 429
    the clients saw is counted."""
    async with agent_with(max_concurrent_api=4) as agent:
        first = await load_table(agent, table, "127.0.0.1")
        statuses: dict[int, int] = {}
        complete = 0
        stop = asyncio.Event()

        async def client(i: int) -> None:
            nonlocal complete
            path = "/api/v1/routes?limit=10000" if i % 2 == 0 else "/api/v1/flaps"
            for _ in range(4):
                async with agent.http.get(agent.url + path) as resp:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    body = await resp.read()
                    if resp.status == 200 and path.startswith("/api/v1/routes"):
                        data = json.loads(body)
                        assert (data["count"], data["truncated"]) == (10_000, True)
                        assert len(data["routes"]) == 10_000 and data["next"]
                        complete += 1
                    elif resp.status == 429:
                        assert resp.headers["Retry-After"] == "1"
                if stop.is_set():
                    return

        scrapes = 0

        async def scraper() -> None:
            nonlocal scrapes
            while not stop.is_set():
                async with agent.http.get(agent.url + "/metrics") as resp:
                    assert resp.status == 200
                    await resp.read()
                    scrapes += 1
                await asyncio.sleep(0.05)

        clients = [asyncio.create_task(client(i)) for i in range(50)]
        scrape = asyncio.create_task(scraper())
        writer = await send(agent, second.data)
        await until(lambda: router_routes(agent, "127.0.0.1#2") == second.routes, timeout=120)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=300)
        stop.set()
        await scrape
        assert router_routes(agent, "127.0.0.1") == table.routes
        assert router_routes(agent, "127.0.0.1#2") == second.routes
        assert sum(statuses.values()) == 200
        assert set(statuses) <= {200, 429} and statuses.get(200, 0) >= 4, statuses
        assert scrapes >= 1 and complete >= 1
        assert await agent.value("bmp_http_rejected_total", reason="busy") == statuses.get(429, 0)
        assert agent.daemon.http.api_active == 0
        for w in (first, writer):
            w.close()


async def test_cursor_walk_returns_every_route_once(table: streams.Stream) -> None:
    """Following ``next`` at the largest limit visits each of the 200,000
    routes exactly once, in order; a larger limit is refused with the way out."""
    async with agent_with(max_limit=50_000) as agent:
        writer = await load_table(agent, table, "127.0.0.1")
        seen: set[tuple[str, str, str, str]] = set()
        cursor = ""
        pages = 0
        while True:
            data = await agent.api(f"/api/v1/routes?limit=50000{cursor}")
            pages += 1
            for r in data["routes"]:
                seen.add((r["peer"], r["view"], r["afi"], r["prefix"]))
            if not data["next"]:
                break
            cursor = f"&cursor={data['next']}"
        assert (len(seen), pages) == (table.routes, 4)
        async with agent.http.get(agent.url + "/api/v1/routes?limit=50001") as resp:
            assert resp.status == 400
            assert "follow 'next'" in (await resp.json())["error"]
        writer.close()


async def test_clients_that_never_read_hold_bounded_memory(table: streams.Stream) -> None:
    """Four clients request the largest allowed answer (10,000 routes, ~5 MB)
    and never read: RSS grows by at most HELD_BACK_RSS, /metrics still
    answers, and the memory is returned once they close."""
    async with agent_with(max_concurrent_api=8) as agent:
        writer = await load_table(agent, table, "127.0.0.1")
        # Build the route indexes and warm the allocator once.
        for _ in range(2):
            async with agent.http.get(agent.url + "/api/v1/routes?limit=10000") as resp:
                assert len((await resp.json())["routes"]) == 10_000
        before = rss_bytes()
        port = agent.daemon.http_addresses[0].port
        socks = []
        for _ in range(4):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /api/v1/routes?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        await until(lambda: agent.daemon.http.api_active == 4)
        await asyncio.sleep(2.0)  # let them fill every buffer they can
        assert agent.daemon.http.api_active == 4  # still held back, not finished
        async with agent.http.get(agent.url + "/metrics") as resp:
            assert resp.status == 200
        held = rss_bytes() - before
        assert held <= HELD_BACK_RSS, f"{held / 2**20:.1f} MiB held"
        for s in socks:
            s.close()
        await until(lambda: agent.daemon.http.api_active == 0)
        after = rss_bytes() - before
        assert after <= HELD_BACK_RSS // 4, f"{after / 2**20:.1f} MiB still held"
        writer.close()


async def test_connection_flood_leaves_bmp_alone(second: streams.Stream) -> None:
    """10,000 loopback connections to the HTTP port while a router dumps its
    table: at most ``max_connections`` are held, every other one gets a 503
    and is closed (and counted); the router's routes are exact."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536)
    if want < 16000:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for 10,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        async with agent_with(max_connections=1000, keepalive_timeout=120.0) as agent:
            cap = agent.daemon.http.connection_cap
            assert cap == 1000
            port = agent.daemon.http_addresses[0].port
            writers: list[asyncio.StreamWriter] = []
            readers: list[asyncio.StreamReader] = []

            async def connect_batch(n: int) -> None:
                for conn in await asyncio.gather(
                    *(asyncio.open_connection("127.0.0.1", port) for _ in range(n))
                ):
                    readers.append(conn[0])
                    writers.append(conn[1])

            http = agent.daemon.http

            def handled() -> int:
                return http.rejected["connections"] + http.open_connections()

            bmp = await send(agent, second.data)
            for i in range(20):
                await connect_batch(500)
                await until(lambda: handled() == 500 * (i + 1))  # noqa: B023
            await until(lambda: router_routes(agent, "127.0.0.1") == second.routes, timeout=120)

            async def outcome(reader: asyncio.StreamReader) -> str:
                try:
                    data = await asyncio.wait_for(reader.read(200), 3.0)
                except TimeoutError:
                    return "held"
                return "refused" if data.startswith(b"HTTP/1.1 503") else f"other {data[:40]!r}"

            results = await asyncio.gather(*(outcome(r) for r in readers))
            counts = {k: results.count(k) for k in set(results)}
            assert counts == {"held": cap, "refused": 10_000 - cap}, counts
            assert agent.daemon.http.rejected["connections"] == 10_000 - cap
            assert agent.daemon.http.open_connections() == cap
            for w in writers:
                w.close()
            await until(lambda: agent.daemon.http.open_connections() == 0)
            assert await agent.value("bmp_http_rejected_total", reason="connections") == (
                10_000 - cap
            )
            assert router_routes(agent, "127.0.0.1") == second.routes
            bmp.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_sigterm_during_largest_answer_exits_in_5s(tmp_path: Path, table: streams.Stream) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: 127.0.0.1:0\n"
        "log:\n  level: info\n  format: json\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMP_AGENT_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        addrs: dict[str, str] = {}
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] in ("http listening", "bmp listening"):
                addrs[event["event"]] = event["addresses"][0]
            if event["event"] == "bmp-agent ready":
                break
        host, port = addrs["bmp listening"].rsplit(":", 1)
        bmp = socket.create_connection((host, int(port)), timeout=WAIT)
        bmp.sendall(table.data)
        hhost, hport = addrs["http listening"].rsplit(":", 1)
        deadline = time.monotonic() + 120
        while True:  # until the table is in
            with socket.create_connection((hhost, int(hport)), timeout=WAIT) as s:
                s.sendall(b"GET /api/v1/routers HTTP/1.0\r\n\r\n")
                raw = b"".join(iter(lambda: s.recv(65536), b""))
            body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
            if body["routers"] and body["routers"][0]["routes"] == table.routes:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((hhost, int(hport)))
        slow.sendall(b"GET /api/v1/routes?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert slow.recv(1024).startswith(b"HTTP/1.1 200")  # the answer has started
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - start < 5
        slow.close()
        bmp.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
