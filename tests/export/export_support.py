"""Helpers of the exporter tests: the agent as a subprocess, replaying routers,
pmacct's ``pmbmpd`` as an upstream collector, the agent's RIB as a set.

Everything listens on loopback on free ports and is stopped by the fixtures.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.procs import AgentProcess, agent_argv, free_port, stop

from agent.cli.replay import iter_messages, open_capture

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "captures"
#: The small captures (every speaker and scenario); the scale ones are separate.
SMALL = sorted(p.name for p in CAPTURES.glob("*.bmp"))


def need(tool: str) -> str:
    """Path of ``tool``; skip without it (fail with ``CI=true``)."""
    path = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/usr/bin/{tool}") if os.path.exists(p)), None
    )
    if path is None:
        reason = f"{tool} is not installed (scripts/install-test-deps.sh)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason + " (CI=true: not skipping)", pytrace=False)
        pytest.skip(reason)
    return path


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- the agent ---------------------------------------------------------------------


@dataclass
class AgentProc(AgentProcess):
    log_path: Path

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.get("/metrics").decode().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def routers(self) -> dict[str, Any]:
        return {r["router"]: r for r in self.get_json("/api/v1/routers")["routers"]}

    def messages(self, router: str) -> int:
        r = self.routers().get(router)
        return sum(r["messages"].values()) if r is not None else 0


@contextlib.contextmanager
def run_agent(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[AgentProc]:
    bmp_port, http_port = free_port(), free_port()
    log_path = tmp / "agent.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BMP_AGENT_")}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            agent_argv(bmp_port, http_port, *args),
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    agent = AgentProc(proc, bmp_port, http_port, log_path)
    try:

        def ready() -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                agent.get("/readyz", timeout=1)
                return True
            except OSError:
                return False

        wait_for(ready, 30, "the agent to be ready")
        yield agent
    finally:
        stop(proc)


# -- routers ---------------------------------------------------------------------


def capture(name: str) -> list[bytes]:
    """The whole BMP messages of a capture, without a final Termination: the
    test routers stay connected, and a collector ends the session on one
    (BIRD sends it on shutdown)."""
    with open_capture(str(CAPTURES / name)) as f:
        msgs = list(iter_messages(f))
    if msgs and msgs[-1][5] == 5:
        msgs.pop()
    return msgs


class Router:
    """A router: one BMP connection (to the agent, or straight to a collector)
    from its own loopback address."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.connect(("127.0.0.1", port))
        self.local_port: int = self.sock.getsockname()[1]
        self.messages = 0

    def send(self, msgs: list[bytes]) -> None:
        self.sock.sendall(b"".join(msgs))
        self.messages += len(msgs)

    def send_capture(self, name: str) -> int:
        msgs = capture(name)
        self.send(msgs)
        return len(msgs)

    def alive(self) -> bool:
        """The agent has not closed the connection (nothing to read, no EOF)."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1) != b""
        except BlockingIOError:
            return True
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


Route = tuple[str, str, str, int | None]


def all_routes(agent: AgentProc, query: str) -> list[dict[str, Any]]:
    """Every route ``/api/v1/routes?{query}`` answers, page by page (``next`` cursor;
    one answer holds at most ``http.max_limit`` routes)."""
    routes: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""
        doc = agent.get_json(f"/api/v1/routes?{query}&limit=10000{page}")
        routes.extend(doc["routes"])
        cursor = doc.get("next") or ""
        if not cursor:
            assert not doc["truncated"]
            return routes


def agent_rib(agent: AgentProc, router: str) -> set[Route]:
    """(peer address, view, prefix, path ID) of every unicast route of ``router``."""
    return {
        (r["peer"].split("%")[0], r["view"], r["prefix"], r["path_id"])
        for r in all_routes(agent, f"router={router}")
        if r["safi"] == "unicast"
    }


# -- pmbmpd ----------------------------------------------------------------------


class Pmbmpd:
    """pmacct's BMP collector with its RIB dumped every 60 s (its minimum),
    restartable on the same port and directory."""

    def __init__(self, workdir: Path) -> None:
        self.exe = need("pmbmpd")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.workdir / f"pmbmpd-{self.starts}.log"
        conf = self.workdir / "pmbmpd.conf"
        conf.write_text(
            "daemonize: false\n"
            "bmp_daemon_ip: 127.0.0.1\n"
            f"bmp_daemon_port: {self.port}\n"
            "bmp_daemon_max_peers: 100\n"
            f"bmp_dump_file: {self.workdir}/dump-{self.starts}-$bmp_router.json\n"
            "bmp_dump_refresh_time: 60\n"
            "timestamps_utc: true\n"
            f"logfile: {log}\n"
        )
        self.proc = subprocess.Popen(
            [self.exe, "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self.proc

        def up() -> bool:
            assert proc.poll() is None, log.read_text() if log.exists() else "pmbmpd exited"
            return log.exists() and "waiting for BMP data" in log.read_text()

        wait_for(up, 15, "pmbmpd to start")

    def drained(self, ports: set[int]) -> bool:
        """pmbmpd has accepted the connections from these local ports and read
        everything sent on them (its sockets are established, receive queues
        empty; /proc/net/tcp)."""
        seen: set[int] = set()
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote, state = parts[1], parts[2], parts[3]
                if int(local.rsplit(":", 1)[1], 16) != self.port or state != "01":
                    continue
                rport = int(remote.rsplit(":", 1)[1], 16)
                if rport in ports and int(parts[4].split(":")[1], 16) == 0:
                    seen.add(rport)
        return seen == ports

    def control(self, msgs: list[bytes], address: str = "127.0.0.1") -> Router:
        """Send ``msgs`` straight to pmbmpd on a connection of its own (a
        *control*), and wait until pmbmpd has read all of it. pmbmpd's accept
        queue is short: under a burst of connections (the relay reconnecting
        every session at once) it may reset one, so a control whose connection
        never drains is sent again on a new one."""
        for _ in range(3):
            r = Router(address, self.port)
            r.send(msgs)
            try:
                wait_for(lambda r=r: self.drained({r.local_port}), 30, "a control to drain")
            except AssertionError:
                r.close()
                continue
            return r
        raise AssertionError(f"pmbmpd never read a control of {len(msgs)} messages")

    def kill(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)
            self.proc = None

    def dump(self, after: float) -> dict[int, set[Route]] | None:
        """The routes of the last complete dump of this run, if it began at or
        after ``after`` (epoch seconds), per BMP session (the relay's local
        port), as ``agent_rib`` gives them. All relayed sessions come from the
        agent's address, so they share one file."""
        path = self.workdir / f"dump-{self.starts}-127_0_0_1.json"
        if not path.exists():
            return None
        lines = path.read_text().splitlines()
        if not lines or '"dump_close"' not in lines[-1]:
            return None
        begun = json.loads(lines[0])["timestamp"]  # the dump's time slot, UTC
        if calendar.timegm(time.strptime(begun, "%Y-%m-%d %H:%M:%S")) < after:
            return None
        out: dict[int, set[Route]] = {}
        for line in lines:
            d = json.loads(line)
            if d.get("event_type") != "dump" or d.get("bmp_msg_type") != "route_monitor":
                continue
            if d.get("safi") != 1:
                continue
            route = (d["peer_ip"], pm_view(d), d["ip_prefix"], d.get("as_path_id"))
            out.setdefault(d["bmp_router_port"], set()).add(route)
        return out


RELAY_CONNECTED = "relay connected, sending state"
#: What ends a relay connection, or keeps one from being made: the link's
#: next connection (after any number of failed tries) resyncs with reason
#: ``reconnect``.
RELAY_ENDED = ("relay connection lost", "relay connect failed")


def relay_log(agent: AgentProc) -> list[dict[str, Any]]:
    """The relay's log events, in order."""
    out = []
    for line in agent.log_path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            ev = json.loads(line)
            if ev.get("component") == "relay":
                out.append(ev)
    return out


def relay_ports(agent: AgentProc) -> dict[str, int]:
    """Router label -> local port of its latest relay connection (from the agent's log)."""
    return {
        ev["router"]: ev["local_port"] for ev in relay_log(agent) if ev["event"] == RELAY_CONNECTED
    }


def relay_reconnects(events: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """Resyncs with reason ``reconnect`` in ``events``, and those of them that
    no lost or failed connection of the same router came before (a relay
    that reconnects on its own)."""
    ended: dict[str, bool] = {}
    count = 0
    unprovoked = []
    for ev in events:
        router = ev.get("router")
        if router is None:
            continue  # the relay's own events, not one link's
        if ev["event"] in RELAY_ENDED:
            ended[router] = True
        elif ev["event"] == RELAY_CONNECTED:
            if ev["reason"] == "reconnect":
                count += 1
                if not ended.get(router):
                    unprovoked.append(ev)
            ended[router] = False
    return count, unprovoked


def pm_view(d: dict[str, Any]) -> str:
    if d.get("is_loc"):
        return "loc_rib"
    side = "adj_out" if d.get("is_out") else "adj_in"
    return f"{side}_{'post' if d.get('is_post') else 'pre'}"
