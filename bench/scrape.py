"""Scrape latency and idle cost of a running ``bmp-agent`` (subprocess).

1. ``/metrics`` latency with 1k peers x 5 views x 2 AFIs loaded: one router
   sends a Peer Up and ``--routes-per-table`` IPv4 and IPv6 routes for each of
   1000 peers in adj_in_pre, adj_in_post, adj_out_pre, adj_out_post and
   loc_rib (RFC 9069 Loc-RIB uses its own peer type, so the agent holds those
   tables under a second peer entry per address: 10 000 RIB tables in all).
   Then ``--scrapes`` sequential GETs of ``/metrics``; prints min, median,
   p95 and max wall time per scrape (client side, HTTP included), body size
   and series count; then, in process, how the server-side time splits
   between the registry's collectors.
2. Idle cost: a fresh agent, 3 routers connected (from 127.0.0.11-13), each
   with 2 peers and 100 routes, then silent; CPU% and RSS over ``--idle``
   seconds (default 60) from /proc. The agent runs with its default config
   unless ``--no-fib``.
3. ``--full-table``: only the in-process breakdown, with the full table of
   ``streams.FULL_TABLE`` (4.8M routes) loaded instead: what one scrape of
   a full table costs the event loop (counters are incremental: no
   collector may walk a table).

Prints figures; asserts nothing.

    python3 bench/scrape.py [--peers 1000] [--scrapes 30] [--idle 60] [--skip-idle]
    python3 bench/scrape.py --full-table
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import Agent, cpu_seconds, print_machine, run_agent, status_kb
from streams import (
    bmp,
    open_msg,
    per_peer,
    update_v4,
    update_v6,
    v4_prefixes,
    v6_prefixes,
)

#: (post, out, peer_type) of the five views.
VIEWS = (
    (False, False, 0),  # adj_in_pre
    (True, False, 0),  # adj_in_post
    (False, True, 0),  # adj_out_pre
    (True, True, 0),  # adj_out_post
    (False, False, 3),  # loc_rib
)


def peer_address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def router_stream(
    peers: int, routes_per_table: int, views: tuple[tuple[bool, bool, int], ...]
) -> bytes:
    """Initiation, then per peer: Peer Up (per peer type) and routes in every view."""
    out = [bmp(4, struct.pack("!HH", 2, 5) + b"bench")]
    v4 = [p for p in v4_prefixes(routes_per_table, "198.18.0.0", 24)]
    v6 = [p for p in v6_prefixes(routes_per_table, "2001:db8::", 48)]
    nh6 = bytes(15) + b"\x01"
    for i in range(peers):
        address = peer_address(i + 1)
        asn = 64512 + i % 1000
        attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x06\x02\x01" + struct.pack("!I", asn)
        attrs4 = attrs + b"\x40\x03\x04" + socket.inet_aton(address)
        for ptype in sorted({t for _, _, t in views}):
            hdr = per_peer(address, asn, address, peer_type=ptype)
            body = hdr + bytes(12) + bytes([192, 0, 2, 254]) + struct.pack("!HH", 179, 40000)
            out.append(bmp(3, body + open_msg(65000, "192.0.2.254") + open_msg(asn, address)))
        for post, adj_out, ptype in views:
            hdr = per_peer(address, asn, address, post=post, out=adj_out, peer_type=ptype)
            out.append(bmp(0, hdr + update_v4(attrs4, v4)))
            out.append(bmp(0, hdr + update_v6(attrs, v6, nh6)))
    return b"".join(out)


def send(agent: Agent, data: bytes, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", agent.bmp_port))
    sock.sendall(data)
    return sock


def wait_routes(agent: Agent, expected: int, limit: float = 300) -> int:
    deadline = time.monotonic() + limit
    routes = agent.routes()
    while routes < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        routes = agent.routes()
    return routes


def scrape_latency(peers: int, routes_per_table: int, scrapes: int) -> None:
    data = router_stream(peers, routes_per_table, VIEWS)
    expected = peers * len(VIEWS) * 2 * routes_per_table
    with run_agent(env={"BMP_AGENT_FIB_ENABLED": "false"}) as agent:
        sock = send(agent, data)
        routes = wait_routes(agent, expected)
        body = agent.get("/metrics")  # warm-up
        times = []
        for _ in range(scrapes):
            t = time.perf_counter()
            body = agent.get("/metrics")
            times.append(time.perf_counter() - t)
        rss = status_kb(agent.pid, "VmRSS")
        sock.close()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    tables = sum(1 for line in body.splitlines() if line.startswith(b"bmp_rib_routes{"))
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"loaded: {peers} peers x {len(VIEWS)} views x 2 AFIs = {tables} RIB tables,"
        f" {routes:,} routes (expected {expected:,}), agent RSS {rss / 1024:.0f} MB"
    )
    print(
        f"/metrics: {len(body) / 1e6:.1f} MB, {series:,} series; {scrapes} scrapes:"
        f" min {times[0] * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms,"
        f" p95 {p95 * 1e3:.1f} ms, max {times[-1] * 1e3:.1f} ms"
    )


# -- where a scrape's time goes ---------------------------------------------------


def breakdown(peers: int, routes_per_table: int, repeat: int = 7, full_table: bool = False) -> None:
    """In process, a ``Daemon`` (default config) loaded like the agent above
    (or, ``full_table``, with ``streams.FULL_TABLE``: 4.8M routes, 2 peers):
    best-of-``repeat`` time of each collector of its registry, of the cached
    text families (``CoreCollector.table_text``, ``HealthCollector.text``), and of the whole core
    collector through prometheus_client (what /metrics cost before)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.app import build_daemon
    from agent.config import Config
    from agent.export.metrics import CoreCollector
    from parsers.bmp.session import BmpSession

    async def build() -> Any:
        return build_daemon(Config())

    daemon = asyncio.run(build())
    rs = daemon.core.open_session("127.0.0.1", 1)
    if full_table:
        # The full table (4.8M routes) through the batched path the listener uses.
        from streams import FULL_TABLE, cached_stream

        from parsers.bmp.session import RouteBatch

        stream = cached_stream(FULL_TABLE)
        session = BmpSession(fast=True, batch=True)
        data = stream.data
        for i in range(0, len(data), 1 << 20):
            for ev in session.feed_batched(data[i : i + (1 << 20)]):
                if isinstance(ev, RouteBatch):
                    rs.handle_batch(ev)
                else:
                    rs.handle(ev)
        print(f"in process: {daemon.core.route_count:,} routes loaded")
        gc_pauses()
    else:
        for ev in BmpSession(fast=True).feed(router_stream(peers, routes_per_table, VIEWS)):
            rs.handle(ev)

    def best(fn: Any) -> tuple[float, int]:
        t_best, size = float("inf"), 0
        for _ in range(repeat):
            t = time.perf_counter()
            out = fn()
            t_best = min(t_best, time.perf_counter() - t)
            size = out.count(b"\n" if isinstance(out, bytes) else "\n")
        return t_best, size

    parts = []
    for collector in list(daemon.registry._collector_to_names):
        reg = CollectorRegistry()
        reg.register(collector)
        t, n = best(lambda reg=reg: generate_latest(reg))
        parts.append((type(collector).__name__, t, n))
    for fn in daemon.http.metrics_text:
        t, n = best(fn)
        parts.append((getattr(fn, "__qualname__", repr(fn)), t, n))
    total = sum(t for _, t, _ in parts)
    print(f"server side, in process: {total * 1e3:.1f} ms in all:")
    for name, t, n in sorted(parts, key=lambda p: -p[1]):
        if t >= 0.0005:
            print(f"  {name:<26} {t * 1e3:6.1f} ms  {n:>6,} lines")
    whole = CollectorRegistry()
    whole.register(CoreCollector(daemon.core))
    t, n = best(lambda: generate_latest(whole))
    print(f"  (whole core collector through prometheus_client: {t * 1e3:.0f} ms, {n:,} lines)")


def gc_pauses() -> None:
    """With the table loaded: a full collection without and with the GC
    policy (``agent.core.gctune``: survivors frozen), and one sweep."""
    import gc

    from agent.core.gctune import GcPolicy

    def timed(fn: Any) -> float:
        t = time.thread_time()
        fn()
        return time.thread_time() - t

    plain = min(timed(gc.collect) for _ in range(3))
    policy = GcPolicy()
    policy.install()
    try:
        gc.collect(1)  # the first older-generation collection freezes the survivors
        frozen = min(timed(gc.collect) for _ in range(3))
        sweep = min(timed(policy.sweep) for _ in range(3))
    finally:
        policy.uninstall()
    print(
        f"GC (CPU): full collection {plain * 1e3:.1f} ms; with survivors frozen"
        f" {frozen * 1e3:.2f} ms; one sweep (unfreeze + collect + freeze) {sweep * 1e3:.1f} ms"
    )


def idle_cost(seconds: float, fib: bool) -> None:
    env = {} if fib else {"BMP_AGENT_FIB_ENABLED": "false"}
    with run_agent(env=env) as agent:
        socks = []
        for r in range(3):
            data = router_stream(2, 50, VIEWS[:2])
            socks.append(send(agent, data, source=f"127.0.0.{11 + r}"))
        routes = wait_routes(agent, 3 * 2 * 2 * 2 * 50)
        time.sleep(2)
        cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(agent.pid), time.monotonic()
        rss = status_kb(agent.pid, "VmRSS")
        up = sum(1 for r in agent.get_json("/api/v1/routers")["routers"] if r["up"])
        for s in socks:
            s.close()
    pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    print(
        f"idle ({'default config' if fib else 'fib.enabled false'}): {up} routers up,"
        f" {routes} routes, {t1 - t0:.0f} s: CPU {cpu1 - cpu0:.2f} s = {pct:.2f}%,"
        f" RSS {rss / 1024:.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--routes-per-table", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--no-fib", action="store_true", help="idle run with fib.enabled false")
    ap.add_argument(
        "--full-table",
        action="store_true",
        help="only the in-process collector breakdown, with the full table (4.8M routes) loaded",
    )
    args = ap.parse_args()
    print("# bench/scrape.py")
    print_machine()
    if args.full_table:
        breakdown(args.peers, args.routes_per_table, full_table=True)
        return
    scrape_latency(args.peers, args.routes_per_table, args.scrapes)
    breakdown(args.peers, args.routes_per_table)
    if not args.skip_idle:
        idle_cost(args.idle, fib=not args.no_fib)


if __name__ == "__main__":
    main()
