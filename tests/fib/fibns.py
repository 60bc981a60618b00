"""Helpers for the FIB tests: a namespace with a veth neighbour, routes, and
running code (threads, asyncio loops) inside it.

``fib_netns()`` yields a ``FibNs``: namespace ``fib`` (10.9.0.1/24,
fd09::1/64 on ``veth0``) linked to ``nbr`` (10.9.0.2-5, fd09::2-5), so
routes via 10.9.0.2-5 / fd09::2-5 resolve. Everything is deleted on exit
(``lab.Topology``). Needs root.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lab import Namespace, Topology, call_in_ns
from support import bgp, bmp  # noqa: F401  (re-exported)

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FibNs:
    topo: Topology
    ns: Namespace
    nbr: Namespace
    ifname: str

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ip", "-n", self.ns.name, *args], capture_output=True, text=True, timeout=60
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def batch(self, lines: list[str]) -> None:
        path = self.topo.workdir / "batch.txt"
        path.write_text("\n".join(lines) + "\n")
        self.ip("-batch", str(path))

    def ifindex(self) -> int:
        out = self.ip("-o", "link", "show", self.ifname).stdout
        return int(out.split(":", 1)[0])


@contextlib.contextmanager
def fib_netns() -> Iterator[FibNs]:
    with Topology() as topo:
        ns, nbr = topo.add("fib"), topo.add("nbr")
        a, _ = topo.link(
            ns,
            nbr,
            ["10.9.0.1/24", "fd09::1/64"],
            [
                "10.9.0.2/24",
                "10.9.0.3/24",
                "10.9.0.4/24",
                "10.9.0.5/24",
                "fd09::2/64",
                "fd09::3/64",
            ],
            name_a="veth0",
            name_b="veth1",
        )
        yield FibNs(topo, ns, nbr, a)


async def until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait (polling every 50 ms) until ``pred()``; the seconds it took."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


def run_async_in_ns(name: str, factory: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(factory())`` on a thread inside the namespace (worker threads
    of ``asyncio.to_thread`` are created by it and inherit the namespace)."""

    def go() -> T:
        async def main() -> T:
            return await factory()

        return asyncio.run(main())

    return call_in_ns(name, go)


@contextlib.contextmanager
def routes_api(fns: FibNs) -> Iterator[Any]:
    """A pyroute2 ``NetNS`` handle on the test namespace (route add/del/replace)."""
    from pyroute2 import NetNS

    with NetNS(fns.ns.name) as ns:
        yield ns
