"""End-to-end ingest: a full-table BMP stream over TCP into ``bmp-agent``, and
into pmacct's ``pmbmpd`` on the same stream in the same run.

The stream (``streams.FULL_TABLE``: 1M IPv4 + 200k IPv6 prefixes per peer with
a real table's length mix, 2 peers, pre- and post-policy = 4.8M routes,
1-100 NLRI per UPDATE, ~10 prefixes per attribute set) is built once and
cached under ``bench/.cache/`` (git-ignored).

bmp-agent: started as a subprocess (``bmp-agent run`` on loopback ports);
the clock runs from ``connect()`` until ``/api/v1/routers`` reports as many
routes as the stream holds (polled every 10 ms).

pmbmpd (Debian pmacct 1.7) with its RIB kept (``bmp_dump_file``, dumped
every 60 s, as users run it): it has no API for its RIB size, so the clock
runs from ``connect()`` until its socket is drained and its CPU has gone idle
(last /proc tick after the whole stream was written; 10 ms resolution).
``--verify-pmbmpd`` then waits for its next table dump (up to 60 s) and
prints the ENTRIES count it logs, proving every route was kept.

Prints routes/s (prefix x peer x view), unique prefixes/s, the ratio, RSS
before/after/peak and bytes per route (RSS delta / routes). Asserts nothing.

The agent runs with ``fib.enabled: false``: the stream comes from 127.0.0.1,
which the FIB reconciler takes for this host's own router and would diff
against the kernel; ``--fib`` adds a run with it on (its default).

    python3 bench/ingest.py [--small] [--no-pmbmpd] [--verify-pmbmpd] [--fib] [--profile FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (
    connect,
    cpu_seconds,
    print_machine,
    profile_summary,
    run_agent,
    run_pmbmpd,
    status_kb,
    wait_cpu_idle,
    wait_drained,
)
from streams import FULL_TABLE, SMALL_TABLE, Stream, cached_stream


@dataclass
class Result:
    name: str
    seconds: float
    cpu: float
    rss_before_kb: int
    rss_after_kb: int
    peak_kb: int
    routes_seen: int | None


def measure_agent(stream: Stream, profile: str | None, fib: bool) -> Result:
    # The stream comes from 127.0.0.1, i.e. "the router of this host": with
    # fib.enabled the agent would also diff its RIB against this machine's
    # kernel FIB (which holds none of these routes) every second.
    env = {"BMP_AGENT_FIB_ENABLED": "true" if fib else "false"}
    with run_agent(env=env) as agent:
        time.sleep(0.5)
        before = status_kb(agent.pid, "VmRSS")
        spy = None
        if profile:
            spy = subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(agent.pid), "--rate", "250"),
                    *("--format", "raw", "--output", profile, "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        cpu0 = cpu_seconds(agent.pid)
        t0 = time.perf_counter()
        sock = connect(agent.bmp_port)
        sender = threading.Thread(target=sock.sendall, args=(stream.data,))
        sender.start()
        routes = 0
        while True:
            routes = agent.routes()
            if routes >= stream.routes:
                break
            if not sender.is_alive() and time.perf_counter() - t0 > 600:
                break
            time.sleep(0.01)
        t1 = time.perf_counter()
        cpu1 = cpu_seconds(agent.pid)
        sender.join()
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        after = status_kb(agent.pid, "VmRSS")
        peak = status_kb(agent.pid, "VmHWM")
        sock.close()
        name = "agent+fib" if fib else "bmp-agent"
        return Result(name, t1 - t0, cpu1 - cpu0, before, after, peak, routes)


def measure_pmbmpd(stream: Stream, verify: bool) -> Result:
    with run_pmbmpd() as pm:
        before = status_kb(pm.pid, "VmRSS")
        cpu0 = cpu_seconds(pm.pid)
        t0 = time.perf_counter()
        sock = connect(pm.port)
        sock.sendall(stream.data)
        # The whole stream is in pmbmpd's socket; it has ingested it once it
        # has read it all and its CPU has gone idle (it may still be working
        # on what it has read: the later of the two counts).
        t_drained = wait_drained(pm.port)
        t_idle = wait_cpu_idle(pm.pid)
        t1 = max(t_drained, t_idle)
        cpu1 = cpu_seconds(pm.pid)
        after = status_kb(pm.pid, "VmRSS")
        peak = status_kb(pm.pid, "VmHWM")
        entries = None
        if verify:
            deadline = time.monotonic() + 150
            while entries is None and time.monotonic() < deadline:
                time.sleep(1)
                entries = pm.dumped_entries()
        sock.close()
        print(
            f"pmbmpd: socket drained at {t_drained - t0:.2f} s, CPU idle after {t_idle - t0:.2f} s"
        )
        return Result("pmbmpd", t1 - t0, cpu1 - cpu0, before, after, peak, entries)


def report(stream: Stream, results: list[Result]) -> None:
    print(
        f"stream: {len(stream.data) / 1e6:.1f} MB, {stream.messages:,} BMP messages,"
        f" {stream.route_monitoring:,} Route Monitoring, {stream.routes:,} routes"
        f" (prefix x peer x view), {stream.unique_prefixes:,} unique prefixes"
    )
    print(
        f"{'collector':<10} {'seconds':>8} {'routes/s':>11} {'prefixes/s':>11}"
        f" {'cpu s':>7} {'RSS MB':>7} {'after':>7} {'peak':>7} {'B/route':>8} {'routes kept':>12}"
    )
    for r in results:
        delta = (r.rss_after_kb - r.rss_before_kb) * 1024
        kept = "?" if r.routes_seen is None else f"{r.routes_seen:,}"
        print(
            f"{r.name:<10} {r.seconds:>8.2f} {stream.routes / r.seconds:>11,.0f}"
            f" {stream.unique_prefixes / r.seconds:>11,.0f} {r.cpu:>7.2f}"
            f" {r.rss_before_kb / 1024:>7.0f} {r.rss_after_kb / 1024:>7.0f}"
            f" {r.peak_kb / 1024:>7.0f} {delta / stream.routes:>8.0f} {kept:>12}"
        )
    if len(results) >= 2:
        a, p = results[:2]
        print(f"ratio bmp-agent / pmbmpd (routes/s): {p.seconds / a.seconds:.2f}x")
        pa = (a.rss_after_kb - a.rss_before_kb) / max(1, p.rss_after_kb - p.rss_before_kb)
        print(f"memory bmp-agent / pmbmpd (RSS delta): {pa:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="one tenth of the table (480k routes)")
    ap.add_argument("--no-pmbmpd", action="store_true", help="measure bmp-agent only")
    ap.add_argument(
        "--verify-pmbmpd", action="store_true", help="wait for pmbmpd's dump; print its count"
    )
    ap.add_argument(
        "--fib", action="store_true", help="also run the agent with fib.enabled (its default)"
    )
    ap.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the agent's ingest")
    args = ap.parse_args()
    print("# bench/ingest.py")
    print_machine()
    t = time.perf_counter()
    stream = cached_stream(SMALL_TABLE if args.small else FULL_TABLE)
    print(f"stream ready in {time.perf_counter() - t:.1f} s")
    results = [measure_agent(stream, args.profile, fib=False)]
    if not args.no_pmbmpd:
        results.append(measure_pmbmpd(stream, args.verify_pmbmpd))
    if args.fib:
        results.append(measure_agent(stream, None, fib=True))
    report(stream, results)
    if args.profile:
        print(profile_summary(args.profile))


if __name__ == "__main__":
    main()
