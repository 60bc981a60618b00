"""The relay never slows ingest: an upstream that stops reading overflows its
spool, the connection is dropped and counted, and once the upstream reads
again it is resynced to exactly the agent's RIB."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from export_support import AgentProc, Route, Router, agent_rib, capture, run_agent, wait_for

from agent.core import Core
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.slow


class StalledUpstream:
    """A BMP collector that accepts and reads nothing until ``resume()``."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.reading = threading.Event()
        self.streams: list[bytearray] = []
        self.threads: list[threading.Thread] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            buf = bytearray()
            self.streams.append(buf)
            t = threading.Thread(target=self._read, args=(conn, buf), daemon=True)
            t.start()
            self.threads.append(t)

    def _read(self, conn: socket.socket, buf: bytearray) -> None:
        self.reading.wait()
        with conn:
            while chunk := conn.recv(1 << 16):
                buf += chunk

    def close(self) -> None:
        self.closed = True
        self.server.close()


def live(agent: AgentProc, up: StalledUpstream) -> bool:
    """The agent's last relay event is "relay live", every connection it made
    has reached the upstream, and no byte arrived for a second."""
    events = [
        e["event"]
        for e in map(json.loads, agent.log_path.read_text().splitlines())
        if e.get("component") == "relay"
    ]
    if not events or events[-1] != "relay live":
        time.sleep(0.2)
        return False
    n, size = len(up.streams), len(up.streams[-1])
    time.sleep(1)
    return n == events.count("relay connected, sending state") == len(up.streams) and size == len(
        up.streams[-1]
    )


def rib_of(stream: bytes) -> set[Route]:
    core = Core()
    rs = core.open_session("127.0.0.1", 1)
    session = BmpSession()
    for ev in session.feed(stream):
        rs.handle(ev)
    out: set[Route] = set()
    for peer in rs.router.peers.values():
        for t in peer.tables.values():
            if t.safi != 1:
                continue
            from parsers.bgp.nlri import describe

            for k in t.routes:
                pid, key = k if isinstance(k, tuple) else (None, k)
                out.add((peer.address, t.view, describe(t.afi, t.safi, key), pid))
    return out


def test_full_spool_drops_then_resyncs(tmp_path: Path) -> None:
    up = StalledUpstream()
    env = {
        "BMP_AGENT_BMP_RELAY_SPOOL_BYTES": "65536",
        "BMP_AGENT_BMP_RECONNECT_MIN": "0.1",
        "BMP_AGENT_BMP_RECONNECT_MAX": "0.5",
    }
    msgs = capture("gobgp-scale.bmp.gz")
    try:
        with run_agent(tmp_path, "--relay", f"127.0.0.1:{up.port}", env=env) as agent:
            router = Router("127.0.0.7", agent.bmp_port)
            wait_for(lambda: len(up.streams) == 1, 30, "the relay connection")
            router.send(msgs)
            # Ingest finishes while the upstream reads nothing.
            wait_for(lambda: agent.messages(router.address) == len(msgs), 180, "ingest")
            assert agent.metric("bmp_relay_resyncs_total", reason="spool_full") >= 1
            assert agent.metric("bmp_export_dropped_total", exporter="relay") >= 1
            assert agent.metric("bmp_relay_dropped_bytes_total") > 65536
            up.reading.set()
            wait_for(lambda: agent.metric("bmp_relay_spool_bytes") == 0, 60, "an empty spool")
            want = agent_rib(agent, router.address)
            assert len(want) == 276023  # 3 x 120000 announced, 83977 Loc-RIB withdrawn
            # The last connection carries the resynced state: exactly the agent's RIB.
            wait_for(lambda: live(agent, up), 120, "the last connection to go live", 0)
            got = rib_of(bytes(up.streams[-1]))
            assert len(got) == len(want), (len(up.streams), sorted(want - got)[:3])
            assert got == want
            assert router.alive()
            assert agent.routers()[router.address]["connections"] == 1
            router.close()
    finally:
        up.close()
