"""The agent as a process: SIGHUP reloads what is safe and names what it did
not apply; SIGTERM shuts down within 5 s with a router mid-stream, closing it
after every message it sent was applied, and flushes the logs."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from reliability_support import CAPTURES, REPO

from agent import membudget

WAIT = 20.0
#: frr-basic.bmp: 1 Initiation + 4 Peer Up + 238 RM + 26 Stats + 7 Peer Down.
FRR_BASIC_MESSAGES = 276


class AgentProcess:
    def __init__(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BMP_AGENT_")}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_event(self, name: str) -> dict[str, Any]:
        while True:
            event = self.lines.get(timeout=WAIT)
            assert event is not None, f"agent exited before {name!r}: {self.seen[-3:]}"
            self.seen.append(event)
            if event["event"] == name:
                return event

    def rest(self) -> list[dict[str, Any]]:
        out = []
        while (event := self.lines.get(timeout=WAIT)) is not None:
            out.append(event)
        self.seen.extend(out)
        return out


def messages_total(http: str) -> float:
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=WAIT) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "bmp_messages_total"
    )


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[AgentProcess, Path]]:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\n  max_routers: 8\n"
        "http:\n  listen: 127.0.0.1:0\nlog:\n  level: info\n  format: json\n"
    )
    a = AgentProcess(cfg)
    try:
        yield a, cfg
    finally:
        if a.proc.poll() is None:
            a.proc.kill()
        a.proc.wait(timeout=WAIT)


def test_sighup_reports_what_it_did_not_apply(agent: tuple[AgentProcess, Path]) -> None:
    a, cfg = agent
    http = a.wait_event("http listening")["addresses"][0]
    bmp_addr = a.wait_event("bmp listening")["addresses"][0]
    a.wait_event("bmp-agent ready")
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.2:0']\n  max_routers: 4\n  idle_timeout: 30\n"
        "http:\n  listen: 127.0.0.2:0\nlog:\n  level: debug\n  format: console\n"
    )
    a.proc.send_signal(signal.SIGHUP)
    reloaded = a.wait_event("config reloaded")
    assert reloaded["applied"] == ["log.level", "bmp.max_routers", "bmp.idle_timeout"]
    assert reloaded["not_applied"] == ["log.format", "bmp.listen", "http.listen"]
    warning = a.wait_event("config changes need a restart")
    assert warning["keys"] == ["log.format", "bmp.listen", "http.listen"]
    # Still on the old addresses.
    with urllib.request.urlopen(f"http://{http}/healthz", timeout=WAIT) as resp:
        assert resp.status == 200
    host, port = bmp_addr.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=WAIT).close()
    # A broken file keeps the running config.
    cfg.write_text("bmp:\n  max_routers: many\n")
    a.proc.send_signal(signal.SIGHUP)
    failed = a.wait_event("config reload failed, keeping the running config")
    assert "bmp.max_routers" in failed["error"]
    with urllib.request.urlopen(f"http://{http}/readyz", timeout=WAIT) as resp:
        assert resp.status == 200
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=5) == 0


def test_sigterm_with_router_mid_stream(agent: tuple[AgentProcess, Path]) -> None:
    a, _ = agent
    http = a.wait_event("http listening")["addresses"][0]
    bmp_addr = a.wait_event("bmp listening")["addresses"][0]
    a.wait_event("bmp-agent ready")
    host, port = bmp_addr.rsplit(":", 1)
    capture = (CAPTURES / "frr-basic.bmp").read_bytes()
    with socket.create_connection((host, int(port)), timeout=WAIT) as router:
        router.sendall(capture)
        # Every message of the capture has been applied.
        deadline = time.monotonic() + WAIT
        while messages_total(http) != FRR_BASIC_MESSAGES:
            assert time.monotonic() < deadline, "capture not applied"
            time.sleep(0.05)
        router.sendall(capture[:1000])  # a dump restarting, cut mid-message
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=5) == 0
    rest = a.rest()
    events = [e["event"] for e in rest]
    assert events[-1] == "bmp-agent stopped"
    assert "signal received, shutting down" in events
    [gone] = [e for e in rest if e["event"] == "router disconnected"]
    assert gone["reason"] == "shutdown"
    # Every whole message sent before SIGTERM was applied, the partial one was not.
    whole_in_cut = 0
    pos = 0
    while pos + 6 <= 1000:
        n = int.from_bytes(capture[pos + 1 : pos + 5], "big")
        if pos + n > 1000:
            break
        whole_in_cut += 1
        pos += n
    assert gone["messages"] == FRR_BASIC_MESSAGES + whole_in_cut


def _table_stream(routes: int, per_message: int = 500) -> bytes:
    """Initiation, Peer Up and ``routes`` /24s in Route Monitoring messages."""
    from reliability_support import initiation, peer_up
    from support import bgp as b
    from support import bmp as m

    header = m.build_per_peer_header(address="10.0.1.2", asn=65001, bgp_id="10.0.0.1")
    attrs = b.origin(0) + b.as_path([65001]) + b.next_hop("10.0.0.2")
    out = [initiation("full"), peer_up("10.0.1.2")]
    for first in range(0, routes, per_message):
        raw = b"".join(
            b"\x18" + ((10 << 24) + ((first + i) << 8)).to_bytes(4, "big")[:3]
            for i in range(min(per_message, routes - first))
        )
        out.append(
            m.build_route_monitoring(b.build_update(attributes=attrs, nlri=raw), peer=header)
        )
    return b"".join(out)


def test_sigterm_during_full_table_ingest_exits_within_5s(
    agent: tuple[AgentProcess, Path],
) -> None:
    a, _ = agent
    http = a.wait_event("http listening")["addresses"][0]
    bmp_addr = a.wait_event("bmp listening")["addresses"][0]
    a.wait_event("bmp-agent ready")
    host, port = bmp_addr.rsplit(":", 1)
    stream = _table_stream(1_000_000)
    sent = threading.Event()
    with socket.create_connection((host, int(port)), timeout=WAIT) as router:

        def push() -> None:
            with contextlib.suppress(OSError):
                router.sendall(stream)
            sent.set()

        threading.Thread(target=push, daemon=True).start()
        deadline = time.monotonic() + WAIT
        while messages_total(http) < 200:  # the ingest is under way
            assert time.monotonic() < deadline, "ingest did not start"
            time.sleep(0.02)
        applied = messages_total(http)
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=5) == 0
    assert applied < 2002  # SIGTERM came mid-table
    events = [e["event"] for e in a.rest()]
    assert events[-1] == "bmp-agent stopped"
    assert "shutdown timed out" not in events


def test_sighup_names_sources_and_sections_it_cannot_apply(
    agent: tuple[AgentProcess, Path],
) -> None:
    a, cfg = agent
    a.wait_event("bmp-agent ready")
    # At start: the descriptor limit (raised to 65536 where the hard limit
    # allows) and the route budget derived from memory.
    [limits] = [
        e
        for e in a.seen
        if e["event"] in ("limits", "descriptor limit is low: set LimitNOFILE=65536")
    ]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    assert limits["nofile"] == max(soft, want)
    assert limits["nofile_hard"] == hard
    assert limits["max_routes"] == membudget.default_max_routes()[0]
    cfg.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\n  max_routers: 8\n  forget_after: 60\n"
        "http:\n  listen: 127.0.0.1:0\nlog:\n  level: info\n  format: json\n"
        "rib:\n  max_routes_per_peer: 1000\n"
        "sources:\n  - {type: bird, socket: /run/bird/bird.ctl}\n"
    )
    a.proc.send_signal(signal.SIGHUP)
    reloaded = a.wait_event("config reloaded")
    # The listen addresses did not change (port 0 both times).
    assert reloaded["applied"] == ["bmp.forget_after", "rib.max_routes_per_peer"]
    assert reloaded["not_applied"] == ["sources"]
    assert a.wait_event("config changes need a restart")["keys"] == ["sources"]
