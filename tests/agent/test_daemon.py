"""The daemon end to end: replay a real capture into a running agent, read the
API, metrics and ``bmp-agent peers``; subprocess start-up, SIGHUP, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemon_support import loopback_config
from prometheus_client.parser import text_string_to_metric_families

from agent.app import build_daemon
from agent.cli.main import main
from agent.cli.replay import replay
from agent.config import Endpoint, load
from agent.daemon import Daemon, StartupError

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "captures"
WAIT = 20.0


def api(d: Daemon) -> str:
    return f"http://{d.http_addresses[0]}"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


class Replayer:
    """``agent.cli.replay.replay(..., hold=True)`` in a thread: the router stays connected."""

    def __init__(self, path: Path, target: Endpoint) -> None:
        self.result: tuple[int, int] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(path, target), daemon=True)
        self.thread.start()

    def _run(self, path: Path, target: Endpoint) -> None:
        try:
            self.result = replay(str(path), target, hold=True)
        except BaseException as exc:  # reported by the test
            self.error = exc


async def wait_for(cond: Any) -> None:
    async def poll() -> None:
        while not await cond():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


FRR_BASIC_ROUTES = {
    # peer A (10.0.1.2): 20 IPv4 + 10 IPv6 announced, 5 withdrawn (4 IPv4, 1 IPv6),
    # one prefix per family rejected by the import policy (FRR shows it as a
    # pre-policy withdrawal); peer B (fd00:1::2): 5 + 5.
    ("10.0.1.2", "adj_in_pre", "ipv4"): 15.0,
    ("10.0.1.2", "adj_in_post", "ipv4"): 15.0,
    ("10.0.1.2", "adj_in_pre", "ipv6"): 8.0,
    ("10.0.1.2", "adj_in_post", "ipv6"): 8.0,
    ("fd00:1::2", "adj_in_pre", "ipv4"): 5.0,
    ("fd00:1::2", "adj_in_post", "ipv4"): 5.0,
    ("fd00:1::2", "adj_in_pre", "ipv6"): 5.0,
    ("fd00:1::2", "adj_in_post", "ipv6"): 5.0,
}


async def test_replay_frr_basic_into_running_agent(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    target = daemon.bmp_addresses[0]
    player = Replayer(CAPTURES / "frr-basic.bmp", target)
    metrics_url = api(daemon) + "/metrics"

    async def all_in() -> bool:
        text = await get_text(metrics_url)
        msgs = samples(text, "bmp_messages_total")
        return sum(msgs.values()) == 276.0  # every message of the capture applied

    await wait_for(all_in)
    text = await get_text(metrics_url)
    msgs = samples(text, "bmp_messages_total")
    by_type = {dict(k)["type"]: v for k, v in msgs.items()}
    assert by_type == {
        "initiation": 1.0,
        "peer_up": 4.0,
        "route_monitoring": 238.0,
        "statistics_report": 26.0,
        "peer_down": 7.0,
    }
    routes = {
        (d["peer"], d["view"], d["afi"]): v
        for k, v in samples(text, "bmp_rib_routes").items()
        if (d := dict(k))["router"] == "127.0.0.1"
    }
    assert routes == FRR_BASIC_ROUTES
    assert any(n.startswith("process_") for n in _names(text))  # default collectors too
    logged = [e["event"] for e in daemon.captured_logs]  # type: ignore[attr-defined]
    assert (logged.count("peer up"), logged.count("peer down")) == (4, 7)
    assert logged.count("router connected") == 1

    # bmp-agent peers against the live API (a thread: urllib blocks).
    rc = await asyncio.to_thread(main, ["peers", "--api", api(daemon)])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ROUTER",
        "STATE",
        "UPTIME",
        "SYS",
        "NAME",
        "SYS",
        "DESCR",
        "PEERS",
        "UP",
    ]
    peer_rows = {
        tuple(line.split()[:4]): line.split()[5:] for line in lines if line.startswith("127.0.0.1 ")
    }
    header = next(line for line in lines if line.startswith("ROUTER") and "PEER" in line.split())
    assert header.split()[5:] == ["pre/ipv4", "pre/ipv6", "post/ipv4", "post/ipv6"]
    assert peer_rows[("127.0.0.1", "10.0.1.2", "65001", "up")] == ["15", "8", "15", "8"]
    assert peer_rows[("127.0.0.1", "fd00:1::2", "65002", "up")] == ["5", "5", "5", "5"]
    assert peer_rows[("127.0.0.1", "10.0.1.99", "65099", "down")] == ["0", "0", "0", "0"]

    rc = await asyncio.to_thread(main, ["peers", "--api", api(daemon), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and sorted(data) == ["peers", "routers"]

    rc = await asyncio.to_thread(
        main,
        ["routes", "--api", api(daemon), "--peer", "10.0.1.2", "--view", "adj_in_post", "--json"],
    )
    routes_json = json.loads(capsys.readouterr().out)
    assert rc == 0 and routes_json["count"] == 23 and len(routes_json["routes"]) == 23

    # Shutdown closes the router's connection: the replayer's hold ends.
    await daemon.stop()
    await asyncio.to_thread(player.thread.join, WAIT)
    assert not player.thread.is_alive()
    assert player.error is None
    assert player.result == (276, 31315)


def _names(text: str) -> set[str]:
    return {f.name for f in text_string_to_metric_families(text)}


async def test_bind_failure_is_a_startup_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = loopback_config()
        cfg = dataclasses.replace(
            cfg, bmp=dataclasses.replace(cfg.bmp, listen=(Endpoint("127.0.0.1", port),))
        )
        d = build_daemon(cfg)
        with pytest.raises(StartupError) as info:
            await d.start()
        assert str(info.value) == (
            f"cannot listen for BMP on 127.0.0.1:{port}: Address already in use"
        )
        assert d.http.runner is None  # HTTP was released again


async def test_reload_applies_safe_keys(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("bmp:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: 127.0.0.1:0\n")
    d = build_daemon(load(path=path, environ={}), loader=lambda: load(path=path, environ={}))
    await d.start()
    try:
        path.write_text(
            "bmp:\n  listen: ['127.0.0.1:1']\n  max_routers: 3\n  allow: [10.0.0.0/8]\n"
            "http:\n  listen: 127.0.0.1:0\nrib:\n  flap_window: 5\nlog:\n  level: debug\n"
        )
        not_applied = d.reload()
        assert not_applied == ["bmp.listen"]
        assert d.routers.settings.max_routers == 3
        assert [str(n) for n in d.routers.settings.allow] == ["10.0.0.0/8"]
        assert d.core.settings.flap_window == 5.0
        assert d.config.bmp.listen == (Endpoint("127.0.0.1", 0),)  # kept
        from agent import log

        assert log.get_level() == "debug"
        log.set_level("info")
        # A broken file keeps the running config.
        path.write_text("bmp:\n  max_routers: -1\n")
        assert d.reload() == []
        assert d.routers.settings.max_routers == 3
    finally:
        await d.stop()


# ------------------------------------------------------------------ subprocess


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMP_AGENT_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def agent_proc(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], Path]]:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("log:\n  level: info\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "run",
            "--config",
            str(cfg),
            "--bmp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,  # not a TTY: log.format auto gives JSON lines
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        seen: dict[str, Any] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            seen[event["event"]] = event
            if event["event"] == "bmp-agent ready":
                break
        assert "bmp-agent ready" in seen, proc.stderr.read() if proc.stderr else ""
        yield proc, seen, cfg
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=WAIT)


def test_subprocess_sigterm_shutdown(
    agent_proc: tuple[subprocess.Popen[str], dict[str, Any], Path],
) -> None:
    proc, seen, _ = agent_proc
    bmp_addr = seen["bmp listening"]["addresses"][0]
    host, port = bmp_addr.rsplit(":", 1)
    # A connected router must not hold the shutdown up.
    with socket.create_connection((host, int(port)), timeout=WAIT) as router:
        router.sendall((CAPTURES / "frr-addpath.bmp").read_bytes())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        router.settimeout(WAIT)
        # The agent closed the router's connection (a RST if it had unread data).
        with contextlib.suppress(ConnectionResetError):
            assert router.recv(1) == b""
    assert proc.stdout is not None
    lines = [json.loads(line) for line in proc.stdout]
    events = [e["event"] for e in lines]
    assert "signal received, shutting down" in events
    [gone] = [e for e in lines if e["event"] == "router disconnected"]
    assert gone["reason"] == "shutdown"
    assert events[-1] == "bmp-agent stopped"


def test_subprocess_sighup_reload(
    agent_proc: tuple[subprocess.Popen[str], dict[str, Any], Path],
) -> None:
    proc, _, cfg = agent_proc
    cfg.write_text("log:\n  level: debug\nbmp:\n  max_routers: 2\n")
    proc.send_signal(signal.SIGHUP)
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "config reloaded":
            break
    assert event["applied"] == ["log.level", "bmp.max_routers"]
    assert event["not_applied"] == []
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0


def test_subprocess_bind_failure_exit_status() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "run",
                "--bmp-listen",
                f"127.0.0.1:{port}",
                "--http-listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=WAIT,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"bmp-agent: cannot listen for BMP on 127.0.0.1:{port}: Address already in use\n"
    )
