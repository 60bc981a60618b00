"""Helpers for the reliability tests: BMP bytes, a running agent on loopback,
and process measurements (FDs, RSS, asyncio tasks).

``running_agent(**bmp)`` starts ``agent.daemon.Daemon`` in this event loop
with BMP and HTTP on 127.0.0.1 (ephemeral ports) and every log event
captured; ``Agent.metrics()`` scrapes ``/metrics`` over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import ipaddress
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
from daemon_support import loopback_config, serving
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs
from support import bgp as b
from support import bmp as m

from agent.app import build_daemon
from agent.daemon import Daemon

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "captures"
CRASHERS = REPO / "tests" / "data" / "crashers"
WAIT = 20.0

# ----------------------------------------------------------------------------- BMP bytes


def bmp(msg_type: int, body: bytes, *, version: int = 3, length: int | None = None) -> bytes:
    n = 6 + len(body) if length is None else length
    return struct.pack("!BIB", version, n, msg_type) + body


def per_peer(address: str, asn: int = 65001, *, peer_type: int = 0, flags: int = 0) -> bytes:
    return m.build_per_peer_header(
        peer_type=peer_type, flags=flags, address=address, asn=asn, bgp_id="10.0.0.1"
    )


def open_msg(asn: int, bgp_id: str) -> bytes:
    return b.build_open(
        my_as=min(asn, 23456),
        hold_time=90,
        bgp_id=bgp_id,
        capabilities=[b.cap_four_octet_as(asn), b.cap_mp(1, 1)],
    )


def initiation(sys_name: str = "r1") -> bytes:
    return m.build_initiation(None, None, tlvs=[(2, sys_name), (1, "test")])


def peer_up(address: str, asn: int = 65001, *, peer_type: int = 0) -> bytes:
    return m.build_peer_up(
        local_address="10.0.0.1",
        sent_open=open_msg(65000, "10.0.0.1"),
        received_open=open_msg(asn, "10.9.9.9"),
        peer=per_peer(address, asn, peer_type=peer_type),
    )


def peer_down(address: str, asn: int = 65001) -> bytes:
    return m.build_peer_down(2, fsm_event=24, peer=per_peer(address, asn))


def attributes(origin: int = 0, next_hop: str = "10.0.0.2", asn: int = 65001) -> bytes:
    return b.origin(origin) + b.as_path([asn]) + b.next_hop(next_hop)


def update(*, announce: list[str] = (), withdraw: list[str] = (), origin: int = 0) -> bytes:  # type: ignore[assignment]
    return b.build_update(
        withdrawn=b.nlri(list(withdraw)),
        attributes=attributes(origin) if announce else b"",
        nlri=b.nlri(list(announce)),
    )


def route_monitoring(
    address: str,
    *,
    announce: list[str] = (),  # type: ignore[assignment]
    withdraw: list[str] = (),  # type: ignore[assignment]
    origin: int = 0,
    asn: int = 65001,
    peer_type: int = 0,
) -> bytes:
    return m.build_route_monitoring(
        update(announce=list(announce), withdraw=list(withdraw), origin=origin),
        peer=per_peer(address, asn, peer_type=peer_type),
    )


def prefixes(n: int, base: str = "10.128.0.0", length: int = 24) -> list[str]:
    start = int(ipaddress.IPv4Address(base))
    step = 1 << (32 - length)
    return [f"{ipaddress.IPv4Address(start + i * step)}/{length}" for i in range(n)]


# ----------------------------------------------------------------------------- process


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def task_count() -> int:
    return len(asyncio.all_tasks())


# ----------------------------------------------------------------------------- agent


def local_config(
    *,
    rib: dict[str, Any] | None = None,
    log: dict[str, Any] | None = None,
    fib: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
    **bmp_settings: Any,
) -> Any:
    return loopback_config(
        bmp=bmp_settings, http=http or {}, rib=rib or {}, log=log or {}, fib=fib or {}
    )


Samples = dict[tuple[tuple[str, str], ...], float]


@dataclasses.dataclass
class Agent:
    daemon: Daemon
    logs: list[MutableMapping[str, Any]]
    http: aiohttp.ClientSession

    @property
    def bmp_port(self) -> int:
        return self.daemon.bmp_addresses[0].port

    @property
    def url(self) -> str:
        return f"http://{self.daemon.http_addresses[0]}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.bmp_port)

    def events(self, name: str) -> list[MutableMapping[str, Any]]:
        return [e for e in self.logs if e.get("event") == name]

    async def metrics(self, name: str, **match: str) -> Samples:
        """Samples of metric ``name`` (``_total`` included) whose labels contain ``match``."""
        async with self.http.get(self.url + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        out: Samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in match.items()):
                    out[tuple(sorted(s.labels.items()))] = s.value
        return out

    async def value(self, name: str, **labels: str) -> float:
        """The one sample with exactly these labels; 0 when absent."""
        key = tuple(sorted(labels.items()))
        return (await self.metrics(name)).get(key, 0.0)

    async def api(self, path: str) -> Any:
        async with self.http.get(self.url + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    def router(self, label: str) -> Any:
        return self.daemon.core.routers[label]

    def routes(self, label: str, view: str = "adj_in_pre") -> int:
        """Routes of every peer of router ``label`` in ``view``."""
        router = self.daemon.core.routers.get(label)
        if router is None:
            return 0
        return sum(
            t.route_count
            for p in router.peers.values()
            for (v, *_), t in p.tables.items()
            if v == view
        )


@contextlib.asynccontextmanager
async def running_agent(
    *,
    rib: dict[str, Any] | None = None,
    log: dict[str, Any] | None = None,
    fib: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
    **bmp_settings: Any,
) -> AsyncIterator[Agent]:
    """``rib``/``log``/``fib``/``http``: keys of those sections; the rest are ``bmp.*`` keys."""
    with capture_logs() as logs:
        daemon = build_daemon(local_config(rib=rib, log=log, fib=fib, http=http, **bmp_settings))
        async with serving(daemon), aiohttp.ClientSession() as session:
            yield Agent(daemon, logs, session)


async def router_from(
    agent: Agent, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A router connection to ``agent`` from loopback address ``source``."""
    return await asyncio.open_connection("127.0.0.1", agent.bmp_port, local_addr=(source, 0))


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def up(agent: Agent, label: str) -> bool:
    """Whether the agent's core holds router ``label`` and it is up."""
    router = agent.daemon.core.routers.get(label)
    return router is not None and router.up


async def until(cond: Callable[[], bool | Awaitable[bool]], timeout: float = WAIT) -> None:
    """Wait until ``cond()`` holds (polling; the timeout only bounds a hang)."""

    async def poll() -> None:
        while True:
            r = cond()
            if not isinstance(r, bool):
                r = await r
            if r:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def read_eof(reader: asyncio.StreamReader, timeout: float = WAIT) -> bool:
    """True when the agent closed the connection (EOF or reset)."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except ConnectionResetError:
        pass
    return True


# ----------------------------------------------------------------------------- fuzz target


def fuzz_target() -> ModuleType:
    """``fuzz/target.py`` (the atheris harness's contract checks), imported by path."""
    spec = importlib.util.spec_from_file_location("bmp_fuzz_target", REPO / "fuzz" / "target.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
