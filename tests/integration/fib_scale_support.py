"""Helpers of the FIB scale lab tests (``test_fib_scale_lab.py``, ``bench/kernel.py --live``).

The table: 100,000 IPv4 /26 (10.128.0.0/9 in order) and 20,000 IPv6 /56
(2001:db8::/32 in order), announced by ExaBGP peer A over its one IPv4
session with ``announce attributes ... nlri P1 P2 ...``: one API line and one
UPDATE per 400 IPv4 / 200 IPv6 prefixes, ExaBGP's fastest path (the table
loads in about 25 s; one line per prefix takes minutes).

``Agent`` is ``bmp-agent run`` with built-in defaults in the speaker's
namespace (BMP on 127.0.0.1:11019, HTTP on 127.0.0.1:9324, fib.grace 5 s).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lab import ExaBgp, LabError, Namespace, socket_in, wait_until

REPO = Path(__file__).resolve().parents[2]
HTTP_PORT = 9324
N4 = 100_000
N6 = 20_000
#: prefixes per ``announce attributes`` line (one UPDATE each, under 4 KiB)
CHUNK4 = 400
CHUNK6 = 200
ATTRS = "origin igp as-path [ 65001 4200000001 ] med 10 community [ 65001:100 ]"
STATES = ("in_sync", "missing", "extra", "nexthop_mismatch", "bmp_inconsistent", "pending")


def v4_prefixes(n: int = N4) -> list[str]:
    base = int(ipaddress.IPv4Address("10.128.0.0"))
    return [f"{ipaddress.IPv4Address(base + (i << 6))}/26" for i in range(n)]


def v6_prefixes(n: int = N6) -> list[str]:
    base = int(ipaddress.IPv6Address("2001:db8::"))
    return [f"{ipaddress.IPv6Address(base + (i << 72))}/56" for i in range(n)]


def bulk_lines(
    inj: ExaBgp, peer: str, verb: str, prefixes: Sequence[str], next_hop: str, chunk: int
) -> list[str]:
    p = inj.peers[peer]
    head = f"{p.selector} {verb} attributes next-hop {next_hop} {ATTRS} nlri "
    return [head + " ".join(prefixes[i : i + chunk]) for i in range(0, len(prefixes), chunk)]


def announce_bulk(
    inj: ExaBgp, peer: str, prefixes: Sequence[str], next_hop: str, chunk: int
) -> None:
    """Announce ``prefixes`` with one shared attribute set, ``chunk`` per UPDATE."""
    inj.send(*bulk_lines(inj, peer, "announce", prefixes, next_hop, chunk))


def withdraw_bulk(
    inj: ExaBgp, peer: str, prefixes: Sequence[str], next_hop: str, chunk: int
) -> None:
    inj.send(*bulk_lines(inj, peer, "withdraw", prefixes, next_hop, chunk))


def kernel_count(ns: Namespace, family: str, proto: str) -> int:
    """Routes of ``proto`` in the main table (``ip route show``, one line each)."""
    out = ns.run(["ip", family, "route", "show", "proto", proto], timeout=60).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith(" "))


def kernel_routes(ns: Namespace, family: str, proto: str) -> list[dict[str, Any]]:
    out = ns.run(["ip", "-j", family, "route", "show", "proto", proto], timeout=120).stdout
    routes = json.loads(out or "[]")
    assert isinstance(routes, list)
    return routes


def wait_kernel(
    ns: Namespace, proto: str, n4: int, n6: int, timeout: float, describe: Any = None
) -> None:
    def check() -> bool:
        return kernel_count(ns, "-4", proto) == n4 and kernel_count(ns, "-6", proto) == n6

    wait_until(
        check,
        timeout=timeout,
        interval=1.0,
        what=f"{n4} IPv4 + {n6} IPv6 proto {proto} routes in the kernel",
        describe=lambda: (
            f"kernel has {kernel_count(ns, '-4', proto)} IPv4, {kernel_count(ns, '-6', proto)} IPv6"
            + (f"\n{describe()}" if describe else "")
        ),
    )


def http_get(ns: Namespace, path: str, port: int = HTTP_PORT, timeout: float = 30) -> Any:
    with socket_in(ns.name) as s:
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
        except OSError as exc:
            raise LabError(f"agent HTTP not reachable: {exc}") from exc
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: agent\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise LabError(f"GET {path}: {head[:200]!r} {body[:300]!r}")
    return json.loads(body) if path.startswith("/api") else body.decode()


class Agent:
    """``bmp-agent run`` with built-in defaults, in ``ns`` (the speaker's namespace)."""

    def __init__(self, ns: Namespace, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.ns = ns
        self.log = workdir / "agent.log"
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        argv = [sys.executable, "-m", "agent.cli", "run", "--log-format", "json"]
        self.proc = ns.popen(argv, log=self.log, env=full_env, cwd=REPO)
        wait_until(
            lambda: self.alive() and http_get(ns, "/readyz"),
            timeout=30,
            what="the agent's /readyz",
            describe=self.tail,
        )

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise LabError(f"agent exited with {self.proc.returncode}\n{self.tail()}")
        return True

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-n:])
        except OSError:
            return ""

    def get(self, path: str) -> Any:
        return http_get(self.ns, path)

    def diff(self, query: str = "") -> dict[str, Any]:
        d = self.get("/api/v1/fib/diff" + query)
        assert isinstance(d, dict)
        return d

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def counts(d: dict[str, Any]) -> dict[str, dict[str, int]]:
    """afi → the non-zero counts of the main table in a ``/api/v1/fib/diff`` answer."""
    out = {}
    for t in d["tables"]:
        if t["table"] == "main":
            keys = ("expected", "kernel", *STATES)
            out[t["afi"]] = {k: t[k] for k in keys if t.get(k)}
    return out


def wait_counts(
    agent: Agent, want: dict[str, dict[str, int]], timeout: float, what: str
) -> tuple[float, dict[str, Any]]:
    """Wait until the diff's counts are ``want``; (seconds waited, the last diff)."""
    t0 = time.monotonic()
    last: list[Any] = [None, None]

    def check() -> bool:
        agent.alive()
        d = agent.diff("?limit=50")
        last[0], last[1] = counts(d), d
        return last[0] == want

    wait_until(
        check,
        timeout=timeout,
        interval=0.5,
        what=what,
        describe=lambda: (
            f"last counts: {last[0]}\nwant: {want}\n"
            f"drift sample: {json.dumps((last[1] or {}).get('drift', [])[:5])}\n{agent.tail()}"
        ),
    )
    return time.monotonic() - t0, last[1]


def batch(ns: Namespace, workdir: Path, lines: Iterable[str], name: str = "routes") -> None:
    """``ip -batch`` in ``ns`` (route changes in bulk; ``-force`` keeps going past errors)."""
    f = workdir / f"{name}.batch"
    f.write_text("\n".join(lines) + "\n")
    ns.run(["ip", "-batch", str(f)], timeout=120)


def metric_lines(agent: Agent, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family from /metrics."""
    text = agent.get("/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line.rpartition(" ")
            out[labels[len(name) :]] = float(value)
    return out
