"""Scrape latency and idle cost of a running ``bmp-agent`` (subprocess).

1. ``/metrics`` latency with 1k peers x 5 views x 2 AFIs loaded: one router
   sends a Peer Up and ``--routes-per-table`` IPv4 and IPv6 routes for each of
   1000 peers in adj_in_pre, adj_in_post, adj_out_pre, adj_out_post and
   loc_rib (RFC 9069 Loc-RIB uses its own peer type, so the agent holds those
   tables under a second peer entry per address: 10 000 RIB tables in all).
   Then ``--scrapes`` sequential GETs of ``/metrics``; prints min, median,
   p95 and max wall time per scrape (client side, HTTP included), body size
   and series count.
2. Idle cost: a fresh agent, 3 routers connected (from 127.0.0.11-13), each
   with 2 peers and 100 routes, then silent; CPU% and RSS over ``--idle``
   seconds (default 60) from /proc. The agent runs with its default config
   unless ``--no-fib``.

Prints figures; asserts nothing.

    python3 bench/scrape.py [--peers 1000] [--scrapes 30] [--idle 60] [--skip-idle]
"""

from __future__ import annotations

import argparse
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


# -- what would close the gap ----------------------------------------------------

TABLE_FAMILIES = (
    ("bmp_rib_routes", "gauge"),
    ("bmp_rib_prefixes", "gauge"),
    ("bmp_route_updates_total", "counter"),
    ("bmp_prefix_flaps_total", "counter"),
    ("bmp_eor_received", "gauge"),
)


def _num(n: float) -> str:
    # prometheus_client's floatToGoString for the values counters hold.
    if isinstance(n, int) and -1_000_000 < n < 1_000_000:
        return f"{n}.0"
    from prometheus_client.utils import floatToGoString

    return str(floatToGoString(n))


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def table_samples_text(core: Any, cache: dict[tuple[Any, ...], str]) -> list[list[str]]:
    """Prototype: the per-table families as exposition lines, label text
    cached per table (sorted label names, as prometheus_client writes them)."""
    from parsers.afi import afi_name, safi_name

    fams: list[list[str]] = [[] for _ in TABLE_FAMILIES]
    routes, prefixes, updates, flaps, eor = fams
    for router in core.routers.values():
        for peer in router.peers.values():
            for (view, afi, safi), t in peer.tables.items():
                key = (router.label, peer.label, view, afi, safi)
                lab = cache.get(key)
                if lab is None:
                    lab = cache[key] = (
                        f'afi="{afi_name(afi)}",peer="{_esc(peer.label)}",'
                        f'router="{_esc(router.label)}",safi="{safi_name(safi)}",view="{view}"'
                    )
                routes.append(f"bmp_rib_routes{{{lab}}} {_num(t.route_count)}\n")
                prefixes.append(f"bmp_rib_prefixes{{{lab}}} {_num(t.prefix_count)}\n")
                updates.append(
                    f'bmp_route_updates_total{{action="announce",{lab}}} {_num(t.announces)}\n'
                )
                updates.append(
                    f'bmp_route_updates_total{{action="withdraw",{lab}}} {_num(t.withdraws)}\n'
                )
                flaps.append(f"bmp_prefix_flaps_total{{{lab}}} {_num(t.flaps)}\n")
                eor.append(f"bmp_eor_received{{{lab}}} {'1.0' if t.eor else '0.0'}\n")
    return fams


def prototype(peers: int, routes_per_table: int, repeat: int = 10) -> None:
    """In process: the core's collector through prometheus_client, against a
    renderer with cached label text for the per-table families (91% of the
    series); checks both give the same samples."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.core import Core
    from agent.metrics import CoreCollector
    from parsers.bmp.session import BmpSession

    core = Core()
    rs = core.open_session("127.0.0.1", 1)
    for ev in BmpSession(fast=True).feed(router_stream(peers, routes_per_table, VIEWS)):
        rs.handle(ev)
    registry = CollectorRegistry()
    registry.register(CoreCollector(core))
    best_lib = best_proto = float("inf")
    cache: dict[tuple[Any, ...], str] = {}
    body = b""
    fams: list[list[str]] = []
    for _ in range(repeat):
        t = time.perf_counter()
        body = generate_latest(registry)
        best_lib = min(best_lib, time.perf_counter() - t)
        t = time.perf_counter()
        fams = table_samples_text(core, cache)
        text = "".join("".join(f) for f in fams)
        best_proto = min(best_proto, time.perf_counter() - t)
    lib_lines = {
        line
        for line in body.decode().splitlines()
        if line.startswith(tuple(name + "{" for name, _ in TABLE_FAMILIES))
    }
    proto_lines = set(text.splitlines())
    n = len(proto_lines)
    lines = body.count(b"\n")
    print(
        f"in-process, {n:,} per-table series: prometheus_client (whole core collector,"
        f" {lines:,} lines) {best_lib * 1e3:.0f} ms; cached-label renderer"
        f" {best_proto * 1e3:.1f} ms; same samples: {lib_lines == proto_lines}"
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
    args = ap.parse_args()
    print("# bench/scrape.py")
    print_machine()
    scrape_latency(args.peers, args.routes_per_table, args.scrapes)
    prototype(args.peers, args.routes_per_table)
    if not args.skip_idle:
        idle_cost(args.idle, fib=not args.no_fib)


if __name__ == "__main__":
    main()
