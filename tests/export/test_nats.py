"""The gobmp-compatible NATS JetStream feed against a real nats-server (JetStream on).

A durable pull consumer on the stream the agent creates reads every message,
as a gobmp pipeline's consumer would. Expected counts come from decoding the
captures (every unicast NLRI announced is one ``add``, every one withdrawn
one ``del``, every Peer Up one peer ``add``, every Peer Down one ``down``),
and are pinned too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from export_support import (
    AgentProc,
    Router,
    agent_rib,
    capture,
    free_port,
    need,
    run_agent,
    stop,
    wait_for,
)
from nats.js.api import AckPolicy, ConsumerConfig

from parsers.bmp.messages import PeerDown, PeerUp, RouteMonitoring
from parsers.bmp.session import BmpSession, Decoded

pytestmark = pytest.mark.slow

CAPTURES = [
    "bird-addpath.bmp",
    "bird-basic.bmp",
    "frr-addpath.bmp",
    "frr-basic-nosoftreconf.bmp",
    "frr-basic.bmp",
    "frr-mistakes.bmp",
    "gobgp-addpath.bmp",
    "gobgp-basic.bmp",
]
V4 = "gobmp.parsed.unicast_prefix_v4"
V6 = "gobmp.parsed.unicast_prefix_v6"
PEER = "gobmp.parsed.peer"
VIEW_OF_FLAGS = {
    (False, False, False): "adj_in_pre",
    (True, False, False): "adj_in_post",
    (False, False, True): "adj_out_pre",
    (False, True, True): "adj_out_post",
}


async def _quiet(exc: Exception) -> None:
    return None  # a server not up yet is what the caller is waiting for


class NatsServer:
    """nats-server with JetStream in a temporary directory, restartable on its port."""

    def __init__(self, workdir: Path) -> None:
        self.exe = need("nats-server")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.workdir / f"nats-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [self.exe, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(lambda: asyncio.run(self._ping()), 20, "nats-server to accept connections")

    async def _ping(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "nats-server exited"
        try:
            nc = await nats.connect(
                self.url, allow_reconnect=False, connect_timeout=1, error_cb=_quiet
            )
        except Exception:
            return False
        await nc.close()
        return True

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Consumer:
    """A durable pull consumer on ``goBMP``: every message, in stream order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    async def _create(self) -> None:
        nc = await nats.connect(self.url, allow_reconnect=False)
        js = nc.jetstream()
        await js.add_consumer(
            "goBMP",
            ConsumerConfig(durable_name="test", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1),
        )
        await nc.close()

    def create(self) -> None:
        asyncio.run(self._create())

    async def _drain(self) -> int:
        nc = await nats.connect(self.url, allow_reconnect=False)
        js = nc.jetstream()
        sub = await js.pull_subscribe("", durable="test", stream="goBMP")
        got = 0
        while True:
            try:
                batch = await sub.fetch(1000, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for m in batch:
                self.messages.append((m.subject, dict(m.headers or {}), json.loads(m.data)))
                await m.ack()
                got += 1
        await nc.close()
        return got

    def drain(self) -> int:
        return asyncio.run(self._drain())

    def until(self, total: int, timeout: float = 120) -> None:
        wait_for(
            lambda: self.drain() >= 0 and len(self.messages) >= total,
            timeout,
            f"{total} messages (have {len(self.messages)})",
            interval=0.2,
        )
        self.drain()
        assert len(self.messages) == total


def expected(msgs: list[bytes]) -> Counter[tuple[str, str]]:
    """(subject, action) counts the feed must publish for these BMP messages."""
    session = BmpSession(fast=True)
    out: Counter[tuple[str, str]] = Counter()
    for raw in msgs:
        for ev in session.feed(raw):
            assert type(ev) is Decoded
            m = ev.message
            if isinstance(m, RouteMonitoring):
                for action, sets in (("add", m.update.announced), ("del", m.update.withdrawn)):
                    for n in sets:
                        if n.safi == 1 and n.afi in (1, 2):
                            out[(V4 if n.afi == 1 else V6, action)] += len(n)
            elif isinstance(m, PeerUp):
                out[(PEER, "add")] += 1
            elif isinstance(m, PeerDown):
                out[(PEER, "down")] += 1
    return out


def agent_env(srv: NatsServer) -> dict[str, str]:
    return {
        "BMP_AGENT_EXPORT_NATS_URL": srv.url,
        "BMP_AGENT_BMP_RECONNECT_MIN": "0.2",
        "BMP_AGENT_BMP_RECONNECT_MAX": "1",
    }


def connected(agent: AgentProc) -> bool:
    return agent.metric("bmp_export_up", exporter="nats") == 1.0


def test_every_announcement_and_withdrawal_is_one_message(
    server: NatsServer, tmp_path: Path
) -> None:
    with run_agent(tmp_path, env=agent_env(server)) as agent:
        wait_for(lambda: connected(agent), 30, "the feed to connect")
        consumer = Consumer(server.url)
        consumer.create()
        want: dict[str, Counter[tuple[str, str]]] = {}
        routers = []
        for i, name in enumerate(CAPTURES):
            r = Router(f"127.0.0.{40 + i}", agent.bmp_port)
            msgs = capture(name)
            want[r.address] = expected(msgs)
            r.send(msgs)
            routers.append(r)
        for r in routers:
            wait_for(lambda r=r: agent.messages(r.address) == r.messages, 60, r.address)
        total = sum(sum(c.values()) for c in want.values())
        consumer.until(total)
        got: dict[str, Counter[tuple[str, str]]] = {}
        for subject, headers, doc in consumer.messages:
            got.setdefault(doc["router_ip"], Counter())[(subject, doc["action"])] += 1
            # gobmp's Hash header: the router hash, MD5 of router_ip
            assert headers["Hash"] == doc["router_hash"]
            assert doc["router_hash"] == hashlib.md5(doc["router_ip"].encode()).hexdigest()
        assert got == want
        pinned = {name: want[f"127.0.0.{40 + i}"] for i, name in enumerate(CAPTURES)}
        assert pinned["frr-basic.bmp"] == feed_counts(98, 54, 54, 32, 4, 7)
        assert pinned["gobgp-basic.bmp"] == feed_counts(159, 97, 93, 36, 4, 2)
        assert total == 1668
        assert agent.metric("bmp_export_dropped_total", exporter="nats") == 0
        assert agent.metric("bmp_export_messages_total", exporter="nats") == total
        # one announcement checked field by field against the API
        sample = next(
            d
            for s, _, d in consumer.messages
            if s == V4 and d["action"] == "add" and d["router_ip"] == "127.0.0.44"
        )
        assert sample["prefix_len"] > 0 and "." in sample["prefix"]
        assert sample["base_attrs"]["as_path"] == [
            a for seg in sample["base_attrs"]["as_path_segments"] for a in seg["asns"]
        ]
        for r in routers:
            r.close()


def feed_counts(
    v4_add: int, v4_del: int, v6_add: int, v6_del: int, peer_add: int, peer_down: int
) -> dict[tuple[str, str], int]:
    """gobmp messages per (subject, action): unicast prefixes per family, peers."""
    return {
        (V4, "add"): v4_add,
        (V4, "del"): v4_del,
        (V6, "add"): v6_add,
        (V6, "del"): v6_del,
        (PEER, "add"): peer_add,
        (PEER, "down"): peer_down,
    }


def fold(
    messages: list[tuple[str, dict[str, str], dict[str, Any]]],
) -> set[tuple[str, str, str, str, int | None]]:
    """The routes a consumer holds after applying every message in order:
    (router, peer, view, prefix, path ID)."""
    state: dict[tuple[str, str, str, str, int | None], str] = {}
    for subject, _, d in messages:
        if subject == PEER and d["action"] == "down":
            # routers send no withdrawals for a peer that went down: a consumer
            # drops its routes (as with gobmp)
            gone = (d["router_ip"], d["remote_ip"])
            state = {k: v for k, v in state.items() if k[:2] != gone}
            continue
        if subject not in (V4, V6):
            continue
        view = (
            "loc_rib"
            if d["is_loc_rib"]
            else VIEW_OF_FLAGS[
                (
                    d["is_adj_rib_in_post_policy"],
                    d["is_adj_rib_out_post_policy"],
                    d["is_adj_rib_out"],
                )
            ]
        )
        key = (
            d["router_ip"],
            d["peer_ip"],
            view,
            f"{d['prefix']}/{d['prefix_len']}",
            d.get("path_id"),
        )
        state[key] = d["action"]
    return {k for k, action in state.items() if action == "add"}


def test_outage_drops_then_converges(server: NatsServer, tmp_path: Path) -> None:
    """nats-server stops: ingest goes on, drops are exact; after the restart the
    consumer's state is the agent's RIB, withdrawals during the outage included."""
    with run_agent(tmp_path, env=agent_env(server)) as agent:
        wait_for(lambda: connected(agent), 30, "the feed to connect")
        consumer = Consumer(server.url)
        consumer.create()
        first = Router("127.0.0.60", agent.bmp_port)
        a = capture("gobgp-basic.bmp")
        first.send(a)
        b = capture("frr-basic.bmp")
        # after message 92, 10 routes the consumer holds are withdrawn for good
        half = 92
        second = Router("127.0.0.61", agent.bmp_port)
        second.send(b[:half])
        before = expected(a) + expected(b[:half])
        consumer.until(sum(before.values()))

        server.stop()
        wait_for(lambda: not connected(agent), 30, "the feed to see NATS gone")
        second.send(b[half:])
        wait_for(lambda: agent.messages("127.0.0.61") == len(b), 60, "ingest during the outage")
        missed = expected(b[half:])
        assert agent.metric("bmp_export_dropped_total", exporter="nats") == sum(missed.values())
        assert missed == feed_counts(50, 52, 26, 30, 2, 2)
        assert first.alive() and second.alive()

        server.start()
        wait_for(lambda: connected(agent), 30, "the feed to reconnect")
        wait_for(
            lambda: (
                agent.metric("bmp_export_resyncs_total", exporter="nats", reason="connect") == 2
            ),
            30,
            "the resync",
        )

        def converged() -> bool:
            consumer.drain()
            return fold(consumer.messages) == rib

        rib_a = {("127.0.0.60", *r) for r in agent_rib(agent, "127.0.0.60")}
        rib_b = {("127.0.0.61", *r) for r in agent_rib(agent, "127.0.0.61")}
        rib = rib_a | rib_b
        # frr-basic ends with 66 routes (as tests/export/test_mrt_bgpdump.py pins), gobgp-basic 44
        assert (len(rib_a), len(rib_b)) == (44, 66)
        wait_for(converged, 60, "the consumer to hold the agent's RIB")
        # the withdrawals missed during the outage came as del after the restart
        resynced = consumer.messages[sum(before.values()) :]
        assert Counter(d["action"] for s, _, d in resynced if s in (V4, V6))["del"] > 0
        first.close()
        second.close()


def test_a_full_queue_drops_and_resyncs_to_the_rib(server: NatsServer, tmp_path: Path) -> None:
    """240000 routes into a queue of 1024: whatever is dropped is republished by
    a resync, and the consumer ends with exactly the agent's RIB."""
    env = {**agent_env(server), "BMP_AGENT_EXPORT_NATS_QUEUE": "1024"}
    with run_agent(tmp_path, env=env) as agent:
        wait_for(lambda: connected(agent), 30, "the feed to connect")
        consumer = Consumer(server.url)
        consumer.create()
        router = Router("127.0.0.70", agent.bmp_port)
        router.send_capture("frr-scale.bmp.gz")
        wait_for(lambda: agent.messages("127.0.0.70") == router.messages, 120, "ingest")
        rib = {("127.0.0.70", *r) for r in agent_rib(agent, "127.0.0.70")}
        assert len(rib) == 240000

        def settled() -> bool:
            return (
                agent.metric("bmp_export_queue_routes", exporter="nats") == 0
                and fold_count(consumer) == rib
            )

        def fold_count(c: Consumer) -> set[tuple[str, str, str, str, int | None]]:
            c.drain()
            return fold(c.messages)

        wait_for(settled, 300, "the consumer to hold the agent's RIB", interval=1)
        dropped = agent.metric("bmp_export_dropped_total", exporter="nats")
        resyncs = agent.metric("bmp_export_resyncs_total", exporter="nats", reason="dropped")
        # every drop is followed by a republication of the RIB
        assert (dropped == 0) == (resyncs == 0)
        assert router.alive()
        router.close()
