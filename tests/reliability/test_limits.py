"""Bounded under pressure (issue #21): a real agent on loopback against a
router that leaks a table, squatters, a peer churner and a stream of garbage.

Routers connect from distinct loopback addresses (127.0.0.2, .3, ...).
Counts are exact; memory and /metrics sizes are printed (``pytest -s``).

Documented bounds checked here:

* a router announcing 3x ``rib.max_routes_per_router`` holds the limit and
  its routes cost at most ``BYTES_PER_ROUTE`` each (``agent.membudget``),
  traced by tracemalloc, for the routes stored, not those sent;
* 100,000 malformed messages write at most ``log.decode_warnings_per_minute``
  decode lines and one summary (under 8 KiB of JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import struct
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

from reliability_support import (
    Agent,
    bmp,
    initiation,
    peer_down,
    peer_up,
    per_peer,
    prefixes,
    read_eof,
    route_monitoring,
    router_from,
    running_agent,
    send,
    until,
    up,
)
from support import bgp as b
from support import bmp as m
from test_signals import AgentProcess

from agent.membudget import BYTES_PER_ROUTE, HEADROOM

PEER = "10.0.1.2"


def table_rm(first: int, count: int, *, origin: int = 0, peer: str = PEER) -> bytes:
    """One Route Monitoring announcing the /24s number ``first`` .. ``first+count-1``
    of 10.0.0.0/8 onwards (raw NLRI: fast to build for big tables)."""
    raw = b"".join(
        b"\x18" + struct.pack("!I", (10 << 24) + ((first + i) << 8))[:3] for i in range(count)
    )
    update = b.build_update(
        attributes=b.origin(origin) + b.as_path([65001]) + b.next_hop("10.0.0.2"), nlri=raw
    )
    return m.build_route_monitoring(
        update, peer=m.build_per_peer_header(address=peer, asn=65001, bgp_id="10.0.0.1")
    )


def table_withdraw(first: int, count: int, *, peer: str = PEER) -> bytes:
    raw = b"".join(
        b"\x18" + struct.pack("!I", (10 << 24) + ((first + i) << 8))[:3] for i in range(count)
    )
    return m.build_route_monitoring(
        b.build_update(withdrawn=raw),
        peer=m.build_per_peer_header(address=peer, asn=65001, bgp_id="10.0.0.1"),
    )


#: What the agent's own code allocates (its RIB, decoders, FIB state); the
#: modules imported on first use (the FIB's pyroute2, ...) are not routes.
AGENT_CODE = (
    tracemalloc.Filter(True, "*/agent/*"),
    tracemalloc.Filter(True, "*/parsers/*"),
)


def agent_memory() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(AGENT_CODE)
    return sum(s.size for s in snapshot.statistics("filename"))


async def health(agent: Agent, check: str) -> dict[str, Any]:
    doc = await agent.api("/api/v1/health")
    [c] = [c for c in doc["checks"] if c["check"] == check]
    return c  # type: ignore[no-any-return]


async def test_router_announcing_3x_its_limit_holds_the_limit_exactly() -> None:
    limit = 20_000
    async with running_agent(rib={"max_routes_per_router": limit}) as agent:
        _, a = await router_from(agent, "127.0.0.2")
        _, other = await router_from(agent, "127.0.0.3")
        await send(a, initiation("leaky") + peer_up(PEER))
        await send(other, initiation("good") + peer_up(PEER))
        await until(lambda: up(agent, "127.0.0.2") and up(agent, "127.0.0.3"))
        gc.collect()
        tracemalloc.start()
        try:
            before = agent_memory()
            # 60,000 routes (3x the limit) in 300 messages of 200.
            for i in range(300):
                await send(a, table_rm(i * 200, 200))
            # The other router meanwhile: 5,000 routes, all kept.
            await send(other, b"".join(table_rm(100_000 + i * 250, 250) for i in range(20)))
            await until(
                lambda: agent.daemon.core.routers["127.0.0.2"].messages["route_monitoring"] == 300
            )
            await until(lambda: agent.routes("127.0.0.3") == 5_000)
            gc.collect()
            after = agent_memory()
        finally:
            tracemalloc.stop()
        grown = after - before
        print(
            f"traced memory for {limit} stored of 60,000 sent: {grown / 1e6:.2f} MB"
            f" ({grown / limit:.0f} B/route stored)"
        )
        assert grown < limit * BYTES_PER_ROUTE
        assert agent.routes("127.0.0.2") == limit
        dropped = await agent.metrics("bmp_rib_routes_dropped_total")
        assert dropped == {
            (("peer", PEER), ("router", "127.0.0.2"), ("view", "adj_in_pre")): 40_000.0
        }
        assert await agent.value("bmp_router_up", router="127.0.0.2") == 1.0
        assert (
            await agent.value(
                "bmp_route_updates_total",
                router="127.0.0.2",
                peer=PEER,
                view="adj_in_pre",
                afi="ipv4",
                safi="unicast",
                action="announce",
            )
            == 20_000.0
        )
        assert await agent.value("bmp_rib_route_usage", scope="router_max") == limit
        assert await agent.value("bmp_rib_route_usage", scope="total") == limit + 5_000
        assert await agent.value("bmp_rib_route_limit", scope="per_router") == limit
        check = await health(agent, "rib_limit_reached")
        assert (check["status"], check["firing"], check["severity"]) == ("firing", 1, "critical")
        [finding] = check["findings"]
        assert (finding["router"], finding["peer"]) == ("127.0.0.2", PEER)
        assert finding["details"] == {
            "limit_key": "rib.max_routes_per_router",
            "limit": limit,
            "dropped": 40_000,
            "peer_routes": limit,
            "router_routes": limit,
            "total_routes": limit + 5_000,
        }
        [warned] = agent.events("route limit reached: new routes from this peer are dropped")
        assert (warned["router"], warned["peer"], warned["limit"]) == ("127.0.0.2", PEER, limit)
        # Replacements apply at the limit: origin changes on 200 stored routes.
        await send(a, table_rm(0, 200, origin=2))
        await until(
            lambda: agent.daemon.core.routers["127.0.0.2"].messages["route_monitoring"] == 301
        )
        peer = next(iter(agent.router("127.0.0.2").peers.values()))
        assert {a.origin for a in peer.tables[("adj_in_pre", 1, 1)].routes.values()} == {0, 2}
        # 2,000 withdrawn (18,000 = 90 %, not below): still held, a new route is dropped.
        await send(a, table_withdraw(0, 2_000) + table_rm(200_000, 1))
        await until(
            lambda: agent.daemon.core.routers["127.0.0.2"].messages["route_monitoring"] == 303
        )
        assert agent.routes("127.0.0.2") == 18_000
        assert (await health(agent, "rib_limit_reached"))["firing"] == 1
        # One more withdrawn: below 90 %, the check clears and routes are stored again.
        await send(a, table_withdraw(2_000, 1) + table_rm(200_000, 10))
        await until(lambda: agent.routes("127.0.0.2") == 18_009)
        check = await health(agent, "rib_limit_reached")
        assert (check["status"], check["firing"]) == ("ok", 0)
        assert await agent.metrics("bmp_rib_routes_dropped_total") == {
            (("peer", PEER), ("router", "127.0.0.2"), ("view", "adj_in_pre")): 40_001.0
        }
        assert len(agent.events("route limit cleared: storing new routes again")) == 1
        assert agent.routes("127.0.0.3") == 5_000  # the other router: untouched
        a.close()
        other.close()


async def test_on_limit_close_ends_the_session_like_max_prefix() -> None:
    async with running_agent(rib={"max_routes_per_peer": 1_000, "on_limit": "close"}) as agent:
        reader, a = await router_from(agent, "127.0.0.2")
        await send(
            a,
            initiation()
            + peer_up(PEER)
            + table_rm(0, 800)
            + table_rm(800, 800)
            + table_rm(5_000, 10),
        )
        assert await read_eof(reader)
        await until(lambda: not up(agent, "127.0.0.2"))
        router = agent.router("127.0.0.2")
        assert router.close_reason == "route_limit"
        assert router.messages["route_monitoring"] == 2  # the third came after the close
        assert agent.routes("127.0.0.2") == 0
        assert await agent.metrics("bmp_rib_routes_dropped_total") == {
            (("peer", PEER), ("router", "127.0.0.2"), ("view", "adj_in_pre")): 600.0
        }


async def test_64_squatters_from_one_address_cannot_keep_a_router_out() -> None:
    async with running_agent(max_routers=8) as agent:
        squatters = []
        for _ in range(64):
            reader, writer = await router_from(agent, "127.0.0.5")
            with contextlib.suppress(ConnectionError):
                await send(writer, initiation("squat"))
            squatters.append((reader, writer))
        await until(lambda: sum(agent.daemon.routers.refusals.values()) == 62)
        assert agent.daemon.routers.by_address == {"127.0.0.5": 2}
        _, real = await router_from(agent, "127.0.0.2")
        await send(
            real,
            initiation("real") + peer_up(PEER) + route_monitoring(PEER, announce=prefixes(100)),
        )
        await until(lambda: agent.routes("127.0.0.2") == 100)
        assert await agent.metrics("bmp_router_refusals_total") == {
            (("reason", "not_allowed"),): 0.0,
            (("reason", "max_sessions_per_address"),): 62.0,
            (("reason", "max_routers"),): 0.0,
        }
        # The refusals are one log line per reason, not 62.
        refused = agent.events("router refused: bmp.max_sessions_per_address reached")
        assert len(refused) == 5
        assert sum(r.get("suppressed", 0) for r in refused) == 0
        for _, w in squatters:
            w.close()
        real.close()


async def test_silent_sessions_make_room_oldest_first_when_slots_are_short() -> None:
    # idle_timeout below silent_timeout: its checks (sessions silent between
    # whole messages are healthy) must not reset the silence measured.
    async with running_agent(max_routers=4, silent_timeout=0.3, idle_timeout=0.1) as agent:
        # The oldest has a peer up (busy, never evicted); three stay silent.
        _, busy = await router_from(agent, "127.0.0.5")
        await send(busy, initiation("busy") + peer_up(PEER))
        await until(lambda: up(agent, "127.0.0.5"))
        silent = []
        for source in ("127.0.0.5", "127.0.0.6", "127.0.0.6"):
            reader, writer = await router_from(agent, source)
            await send(writer, initiation("silent"))
            silent.append((reader, writer))
            await until(lambda: agent.daemon.routers.live == len(silent) + 1)
        # Before silent_timeout a fifth router is refused.
        r5, w5 = await router_from(agent, "127.0.0.2")
        assert await read_eof(r5)
        assert agent.daemon.routers.refusals["max_routers"] == 1
        await asyncio.sleep(0.4)  # let silent_timeout pass
        _, real = await router_from(agent, "127.0.0.2")
        await send(
            real, initiation("real") + peer_up(PEER) + route_monitoring(PEER, announce=prefixes(10))
        )
        await until(lambda: agent.routes("127.0.0.2") == 10)
        assert await read_eof(silent[0][0])  # the oldest silent one (127.0.0.5#2)
        assert agent.router("127.0.0.5#2").close_reason == "silent_evicted"
        assert up(agent, "127.0.0.5") and up(agent, "127.0.0.6") and up(agent, "127.0.0.6#2")
        assert await agent.value("bmp_router_evictions_total", reason="silent") == 1.0
        for w in (busy, w5, real, *(w for _, w in silent)):
            w.close()


def series(text: str) -> set[str]:
    """The bmp_* series (name and labels) of an exposition, without values."""
    return {
        line.rsplit(" ", 1)[0]
        for line in text.splitlines()
        if line.startswith("bmp_") and not line.startswith("bmp_forgotten")
    }


async def scrape(agent: Agent) -> str:
    async with agent.http.get(agent.url + "/metrics") as resp:
        return await resp.text()


async def test_router_churning_20000_peers_is_forgotten_and_metrics_shrink_back() -> None:
    # No FIB check: its series follow the kernel's routes and fib.grace, not the churn.
    async with running_agent(
        forget_after=0.5, max_peers_per_router=0, fib={"enabled": False}
    ) as agent:
        _, keep = await router_from(agent, "127.0.0.2")
        await send(
            keep,
            initiation("keep") + peer_up(PEER) + route_monitoring(PEER, announce=prefixes(100)),
        )
        await until(lambda: agent.routes("127.0.0.2") == 100)
        before = await scrape(agent)
        _, churn = await router_from(agent, "127.0.0.3")
        await send(churn, initiation("churn"))
        n = 20_000
        for start in range(0, n, 1000):
            chunk = []
            for i in range(start, start + 1000):
                address = f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}"
                chunk.append(
                    peer_up(address, 65000 + i % 1000) + peer_down(address, 65000 + i % 1000)
                )
            await send(churn, b"".join(chunk))
        await until(lambda: agent.router("127.0.0.3").messages["peer_down"] == n, timeout=180)
        during = await scrape(agent)
        churn.close()
        await until(lambda: "127.0.0.3" not in agent.daemon.core.routers)
        after = await scrape(agent)
        print(
            f"/metrics: {len(before)} B before, {len(during)} B with 20,000 peers "
            f"(some already forgotten), {len(after)} B after"
        )
        assert len(during) > len(before)
        assert series(after) == series(before)
        assert "127.0.0.3" not in after
        forgotten = await agent.metrics("bmp_forgotten_total")
        assert forgotten[(("what", "routers"),)] == 1.0
        assert forgotten[(("what", "peers"),)] == n
        assert forgotten[(("what", "peer_downs"),)] == n
        assert agent.routes("127.0.0.2") == 100 and up(agent, "127.0.0.2")
        keep.close()


def malformed() -> bytes:
    """A Statistics Report cut short after its stats count: skipped, the session stays."""
    return bmp(1, per_peer(PEER) + bytes(3))


async def test_100000_malformed_messages_log_a_bounded_summary() -> None:
    async with running_agent(max_errors=0) as agent:
        _, a = await router_from(agent, "127.0.0.2")
        bad = malformed()
        await send(a, initiation())
        for _ in range(100):
            await send(a, bad * 1000)
        # (the decoder takes 40-200 µs per malformed message: a long bound, not a timing)
        await until(
            lambda: agent.router("127.0.0.2").decode_errors["truncated"] == 100_000, timeout=180
        )
        assert up(agent, "127.0.0.2")
        a.close()
        await until(lambda: not up(agent, "127.0.0.2"))
        lines = agent.events("bmp message decode error")
        [summary] = agent.events("bmp message decode errors suppressed")
        assert len(lines) == 10  # log.decode_warnings_per_minute
        assert (summary["kind"], summary["suppressed"]) == ("truncated", 99_990)
        size = sum(len(json.dumps(e, default=str)) + 1 for e in [*lines, summary])
        print(f"log for 100,000 malformed messages: {len(lines) + 1} lines, {size} B")
        assert size < 8192


async def test_session_dropped_after_max_errors_consecutive_malformed() -> None:
    async with running_agent(max_errors=100) as agent:
        reader, a = await router_from(agent, "127.0.0.2")
        bad = malformed()
        good = route_monitoring(PEER, announce=prefixes(1))
        # 99 bad, one good (the run restarts), 99 bad: still up.
        await send(a, initiation() + peer_up(PEER) + bad * 99 + good + bad * 99)
        await until(lambda: agent.router("127.0.0.2").decode_errors["truncated"] == 198)
        assert up(agent, "127.0.0.2")
        # The 100th in a row drops the session; what follows is not read.
        await send(a, bad * 50)
        assert await read_eof(reader)
        router = agent.router("127.0.0.2")
        assert router.decode_errors["truncated"] == 199
        assert router.close_reason == "too_many_errors"
        [err] = agent.events("too many consecutive malformed messages, closing connection")
        assert (err["errors"], err["max_errors"]) == (100, 100)


def test_malformed_http_requests_are_counted_not_logged(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: 127.0.0.1:0\n"
        "log:\n  level: info\n  format: json\n"
    )
    a = AgentProcess(cfg)
    try:
        http = a.wait_event("http listening")["addresses"][0]
        a.wait_event("bmp-agent ready")
        host, port = http.rsplit(":", 1)
        for _ in range(100):
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
                assert s.recv(4096).split(b" ", 2)[1] == b"400"
        with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert 'bmp_http_client_errors_total{error="BadHttpMessage"} 100.0' in text
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=10) == 0
        rest = a.rest()
        assert [e for e in a.seen + rest if "Error handling request" in e["event"]] == []
        assert a.proc.stderr is not None and "Error handling request" not in a.proc.stderr.read()
    finally:
        if a.proc.poll() is None:
            a.proc.kill()
        a.proc.wait(timeout=10)


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_agent_rss_follows_the_limit_not_what_the_router_sends(tmp_path: Path) -> None:
    """The agent as a process: 600,000 routes sent, 200,000 stored; RSS grows
    by less than the budget ``agent.membudget`` sets aside for 200,000 routes
    (x ``BYTES_PER_ROUTE`` / ``HEADROOM``: 57 MB). Measured: +40 MB with the
    limit (FIB state and first-use imports included), +85 MB storing all
    600,000 without it (which fails this test)."""
    limit, sent = 200_000, 600_000
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: 127.0.0.1:0\n"
        f"log:\n  level: info\n  format: json\nrib:\n  max_routes_per_router: {limit}\n"
    )
    stream = initiation("leaky") + peer_up(PEER)
    stream += b"".join(table_rm(first, 500) for first in range(0, sent, 500))
    a = AgentProcess(cfg)
    try:
        http = a.wait_event("http listening")["addresses"][0]
        bmp_addr = a.wait_event("bmp listening")["addresses"][0]
        a.wait_event("bmp-agent ready")
        idle = rss_of(a.proc.pid)
        host, port = bmp_addr.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=20) as router:
            router.sendall(stream)
            deadline = time.monotonic() + 60
            while True:
                with urllib.request.urlopen(f"http://{http}/metrics", timeout=20) as resp:
                    text = resp.read().decode()
                if (
                    f'bmp_messages_total{{router="127.0.0.1",type="route_monitoring"}} {sent // 500}.0'
                    in text
                ):
                    break
                assert time.monotonic() < deadline, "stream not applied"
                time.sleep(0.1)
            grown = rss_of(a.proc.pid) - idle
            print(
                f"RSS {idle / 1e6:.1f} MB idle, +{grown / 1e6:.1f} MB for {limit} routes stored "
                f"of {sent} sent ({grown / limit:.0f} B/route stored)"
            )
            assert f'bmp_rib_route_usage{{scope="total"}} {float(limit)}' in text
            assert (
                'bmp_rib_routes_dropped_total{peer="10.0.1.2",router="127.0.0.1",'
                f'view="adj_in_pre"}} {float(sent - limit)}'
            ) in text
            assert grown < limit * BYTES_PER_ROUTE / HEADROOM
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=10) == 0
    finally:
        if a.proc.poll() is None:
            a.proc.kill()
        a.proc.wait(timeout=10)
