"""``/metrics`` latency and ingest while clients hammer the API (issue #21).

A ``bmp-agent`` subprocess is loaded with a table (default the full table of
``streams.FULL_TABLE``: 4.8M routes; ``--small`` one tenth), then:

1. quiet: ``--scrapes`` sequential ``/metrics`` GETs (client wall time);
2. hammered: ``--clients`` concurrent clients loop over
   ``/api/v1/routes?limit=10000`` (the largest default answer, streamed),
   ``/api/v1/routes?limit=10000&cursor=...`` (the next page),
   ``/api/v1/routes?prefix=...`` and ``/api/v1/flaps`` (honouring a 429's
   ``Retry-After``) while a scraper, in a process of its own, GETs
   ``/metrics`` every 50 ms and a second router dumps ``--second`` routes;
3. held back: four clients request the largest answer and never read it.

Prints, per phase: /metrics p50/p99/max, API answers (200/429) and bytes
per second, the second router's dump time (vs. the same dump with no API
load), and the agent's RSS. Asserts nothing.

    python3 bench/api.py [--small] [--clients 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Agent, cpu_seconds, print_machine, run_agent, status_kb
from streams import FULL_TABLE, SMALL_TABLE, StreamSpec, cached_stream


def gc_runs(agent: Agent) -> dict[str, float]:
    text = agent.get("/metrics").decode()
    return {
        g: float(v)
        for g, v in re.findall(r'python_gc_collections_total\{generation="(\d)"\} ([\d.e+]+)', text)
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(values: list[float]) -> str:
    return (
        f"p50 {pct(values, 0.5) * 1000:.1f} ms, p99 {pct(values, 0.99) * 1000:.1f} ms, "
        f"max {max(values) * 1000:.1f} ms ({len(values)} scrapes)"
    )


def send(agent: Agent, data: bytes, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", agent.bmp_port))
    sock.sendall(data)
    return sock


def router_routes(agent: Agent, address: str) -> int:
    rows = agent.get_json("/api/v1/routers")["routers"]
    return sum(r["routes"] for r in rows if r["address"] == address)


async def wait_router(agent: Agent, url: str, address: str, expected: int) -> float:
    start = time.monotonic()
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.get(url + "/api/v1/routers") as r:
                if r.status == 200:
                    rows = (await r.json())["routers"]
                    if sum(x["routes"] for x in rows if x["address"] == address) >= expected:
                        return time.monotonic() - start
            await asyncio.sleep(0.05)


def _scrape_loop(url: str, stop: Any, out: Any) -> None:
    while not stop.is_set():
        t = time.monotonic()
        with urllib.request.urlopen(url + "/metrics", timeout=120) as r:
            r.read()
        out.put(time.monotonic() - t)
        time.sleep(0.05)


class Scraper:
    """``/metrics`` every 50 ms from a process of its own (the hammering
    clients' event loop must not delay the measurement)."""

    def __init__(self, url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.out: Any = ctx.Queue()
        self.proc = ctx.Process(target=_scrape_loop, args=(url, self.stop, self.out))
        self.proc.start()

    def finish(self) -> list[float]:
        self.stop.set()
        self.proc.join(180)
        values = []
        while not self.out.empty():
            values.append(self.out.get())
        return values


async def hammer(url: str, i: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    paths = ["/api/v1/routes?limit=10000", "/api/v1/flaps", "/api/v1/routes?prefix=8.8.8.8"]
    cursor = None
    async with aiohttp.ClientSession() as s:
        n = i
        while not stop.is_set():
            path = paths[n % len(paths)]
            if cursor and n % 4 == 0:
                path = f"/api/v1/routes?limit=10000&cursor={cursor}"
            n += 1
            async with s.get(url + path) as r:
                body = await r.read()
                stats[str(r.status)] = stats.get(str(r.status), 0) + 1
                stats["bytes"] = stats.get("bytes", 0) + len(body)
                if r.status == 200 and path.startswith("/api/v1/routes?limit"):
                    m = re.search(rb'"next": ?"([^"]+)"\}$', body[-400:])
                    cursor = m.group(1).decode() if m else None
                elif r.status == 429:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))


async def phase_hammer(agent: Agent, args: argparse.Namespace, second: bytes, n2: int) -> None:
    url = f"http://127.0.0.1:{agent.http_port}"
    stop = asyncio.Event()
    stats: dict[str, int] = {}
    gc0, cpu0 = gc_runs(agent), cpu_seconds(agent.pid)
    tasks = [asyncio.create_task(hammer(url, i, stop, stats)) for i in range(args.clients)]
    scraper = Scraper(url)
    await asyncio.sleep(1.0)
    start = time.monotonic()
    sock = send(agent, second, "127.0.0.3")
    dump = await wait_router(agent, url, "127.0.0.3", n2)
    left = args.seconds - (time.monotonic() - start)
    if left > 0:
        await asyncio.sleep(left)
    stop.set()
    await asyncio.gather(*tasks)
    scrapes = scraper.finish()
    elapsed = time.monotonic() - start + 1.0
    gc1, cpu1 = gc_runs(agent), cpu_seconds(agent.pid)
    sock.close()
    print(f"hammered ({args.clients} clients, {elapsed:.0f} s): /metrics {ms(scrapes)}")
    print(
        f"  API: {stats.get('200', 0)} answers 200, {stats.get('429', 0)} answers 429, "
        f"{stats.get('bytes', 0) / elapsed / 1e6:.1f} MB/s; second router's {n2:,} routes "
        f"in {dump:.2f} s; RSS {status_kb(agent.pid, 'VmRSS') / 1024:.0f} MiB"
    )
    print(
        f"  agent CPU {(cpu1 - cpu0) / elapsed * 100:.0f} % of a core; GC collections "
        + ", ".join(f"gen{g} +{gc1.get(g, 0) - gc0.get(g, 0):.0f}" for g in sorted(gc1))
    )


async def phase_held_back(agent: Agent) -> None:
    url = f"http://127.0.0.1:{agent.http_port}"
    before = status_kb(agent.pid, "VmRSS")
    socks = []
    for _ in range(4):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", agent.http_port))
        s.sendall(b"GET /api/v1/routes?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    scraper = Scraper(url)
    await asyncio.sleep(5)
    held = status_kb(agent.pid, "VmRSS")
    scrapes = scraper.finish()
    for s in socks:
        s.close()
    await asyncio.sleep(2)
    after = status_kb(agent.pid, "VmRSS")
    print(
        f"held back (4 clients never reading 10,000 routes): RSS {(held - before) / 1024:+.1f} MiB, "
        f"{(after - before) / 1024:+.1f} MiB after they closed; /metrics {ms(scrapes)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="one tenth of the full table")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="hammer phase length")
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--second", type=int, default=30_000, help="IPv4 prefixes of router 2")
    args = ap.parse_args()
    print_machine()
    spec = SMALL_TABLE if args.small else FULL_TABLE
    table = cached_stream(spec)
    second = cached_stream(
        StreamSpec(v4=args.second, v6=args.second // 4, peers=2, views=(False, True), seed=11)
    )
    with run_agent() as agent:
        t = time.monotonic()
        first = send(agent, table.data, "127.0.0.2")
        while router_routes(agent, "127.0.0.2") < table.routes:
            time.sleep(0.2)
        print(
            f"table: {table.routes:,} routes loaded in {time.monotonic() - t:.1f} s, "
            f"RSS {status_kb(agent.pid, 'VmRSS') / 1024:.0f} MiB"
        )
        quiet = []
        for _ in range(args.scrapes):
            t = time.monotonic()
            agent.get("/metrics")
            quiet.append(time.monotonic() - t)
        print(f"quiet: /metrics {ms(quiet)}")
        t = time.monotonic()
        s2 = send(agent, second.data, "127.0.0.4")
        while router_routes(agent, "127.0.0.4") < second.routes:
            time.sleep(0.02)
        print(f"quiet: second router's {second.routes:,} routes in {time.monotonic() - t:.2f} s")
        s2.close()
        asyncio.run(phase_hammer(agent, args, second.data, second.routes))
        asyncio.run(phase_held_back(agent))
        first.close()


if __name__ == "__main__":
    main()
