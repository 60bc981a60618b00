"""End-to-end ingest in the deployed shape: a full-table BMP stream over TCP
from 127.0.0.1 into ``bmp-agent run`` with its defaults (FIB reconciliation
on: a router on loopback is this host's own router), and into pmacct's
``pmbmpd`` on the same stream in the same run.

The stream (issue #14's shape, built here and cached under ``bench/.cache/``):
1M IPv4 + 200k IPv6 prefixes per peer with a real table's length mix, 2
peers, pre- and post-policy (4.8M routes); UPDATEs of 1, 10 or 100 NLRI
(40 / 55 / 5 % by message count: ~11 routes per message); attribute sets
shared by runs of consecutive prefixes whose lengths are heavy-tailed
(Pareto, ~20 prefixes per set on average: most sets hold a few prefixes,
a few hold thousands); the post-policy copy of each set carries one more
community than the pre-policy one. ``--scale`` shrinks the table (0.1 = 480k
routes) for quicker runs.

bmp-agent: a subprocess (``bmp-agent run`` on loopback ports; ``--no-fib``
adds ``fib.enabled: false`` for the variant). Clocks from ``connect()``:
*RIB* until ``/api/v1/routers`` reports every route (polled every 10 ms);
*FIB* (FIB on) until ``bmp_fib_routes`` on ``/metrics`` counts every
selected prefix in some state (polled every 50 ms). The kernel
table of the host here holds none of these routes, so every one ends as
``missing`` drift: that is the full cost of the comparison. A thread
scrapes ``/metrics`` every 50 ms during the load; its p99 is printed.

pmbmpd (Debian pmacct 1.7) keeps its RIB (``bmp_dump_file``, dumped every
60 s, as users run it): it has no API for its RIB size, so the clock runs
from ``connect()`` until its socket is drained and its CPU has gone idle.
``--verify-pmbmpd`` waits for its next dump and prints the ENTRIES it logs.

Prints routes/s (prefix x peer x view), unique prefixes/s, messages/s,
B/route (peak RSS minus RSS before the stream, over routes), the ratio to
pmbmpd, the /metrics p99. Asserts nothing.

    python3 bench/ingest.py [--scale 1.0] [--nlri N] [--no-fib] [--both] [--no-pmbmpd]
                            [--verify-pmbmpd] [--profile FILE] [--nats] [--relay] [--history]

``--nats`` adds a run of the agent without FIB feeding a local nats-server
(JetStream, the agent's gobmp feed) and prints its share of ingest against
the same agent without the feed, and when the whole RIB was on NATS.

``--relay`` adds runs of the agent without FIB (as ``--nats``: the same
baseline, and the FIB's own cost out of the share) relaying to an upstream on
loopback (``bmp.relay``): a plain TCP sink in this process that reads and
hashes everything, and pmacct's ``pmbmpd`` (unless ``--no-pmbmpd``). Prints
the relay's share of wall and CPU time against the agent without relay, the
bytes relayed (``bmp_relay_bytes_total``) and received against the bytes sent
(equal, and the sink's SHA-256 equal to the stream's: the router's bytes go
on unchanged), when the upstream had everything, and the resyncs
(``bmp_relay_resyncs_total`` by reason; one ``connect`` is the first).

``--history``: two agent runs, ``history.enabled`` true then false (FIB as
``--no-fib`` says), with the history's events held/recorded/evicted and its
share of wall time, CPU and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import ipaddress
import json
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (
    Agent,
    connect,
    cpu_seconds,
    free_port,
    print_machine,
    profile_summary,
    run_agent,
    run_pmbmpd,
    status_kb,
    wait_cpu_idle,
    wait_drained,
)
from streams import (
    Stream,
    attr,
    bmp,
    open_msg,
    per_peer,
    table_prefixes,
    update_v4,
    update_v6,
)

#: NLRI per UPDATE and their shares by message count (mean 10.9).
NLRI_MIX = ((1, 40), (10, 55), (100, 5))
#: Pareto shape and mean of an attribute set's target size; a set is filled
#: with whole UPDATEs drawn from ``NLRI_MIX`` until it reaches its target, so
#: sets end up with ~20 prefixes on average and UPDATEs keep the mix.
PARETO_ALPHA = 1.3
SET_MEAN = 7


def attribute_set(index: int, next_hop: bytes | None, post: bool) -> bytes:
    """Attribute set ``index``; the post-policy copy carries one more community."""
    path = [65001, 64512 + index % 700, 4200000000 + index % 5000]
    out = attr(0x40, 1, b"\x00")
    out += attr(0x40, 2, bytes([2, len(path)]) + b"".join(struct.pack("!I", a) for a in path))
    if next_hop is not None:
        out += attr(0x40, 3, next_hop)
    out += attr(0x80, 4, struct.pack("!I", index % 1000))
    comms = [(65001 << 16) | 100, (65001 << 16) | (index % 65536)]
    if post:
        comms.append((65000 << 16) | 1)  # the import policy's tag
    out += attr(0xC0, 8, b"".join(struct.pack("!I", c) for c in comms))
    if index % 2:
        out += attr(0xC0, 32, struct.pack("!III", 4200000001, 1, index))
    return out


def set_target(rng: random.Random) -> int:
    """A heavy-tailed attribute-set target size (Pareto with mean ``SET_MEAN``)."""
    xm = SET_MEAN * (PARETO_ALPHA - 1) / PARETO_ALPHA
    return max(1, int(xm * rng.paretovariate(PARETO_ALPHA)))


@dataclass(frozen=True)
class Spec:
    v4: int = 1_000_000
    v6: int = 200_000
    peers: int = 2
    seed: int = 14
    #: NLRI per UPDATE (0: the ``NLRI_MIX``); 1 is FRR's dump shape.
    nlri: int = 0

    @classmethod
    def scaled(cls, scale: float, nlri: int = 0) -> Spec:
        return cls(v4=max(1, int(1_000_000 * scale)), v6=max(1, int(200_000 * scale)), nlri=nlri)


@dataclass
class Built:
    stream: Stream
    attribute_sets: int


def build(spec: Spec) -> Built:
    rng = random.Random(spec.seed)
    mix = NLRI_MIX if not spec.nlri else ((spec.nlri, 1),)
    sizes = [k for k, _ in mix]
    weights = [w for _, w in mix]
    out = [bmp(4, struct.pack("!HH", 2, 9) + b"benchmark")]
    peers = [(f"192.0.2.{i + 1}", 65001 + i) for i in range(spec.peers)]
    for address, asn in peers:
        hdr = per_peer(address, asn, address)
        body = hdr + bytes(12) + bytes([192, 0, 2, 254]) + struct.pack("!HH", 179, 40000)
        out.append(bmp(3, body + open_msg(65000, "192.0.2.254") + open_msg(asn, address)))
    tables = {4: table_prefixes(4, spec.v4, spec.seed), 6: table_prefixes(6, spec.v6, spec.seed)}
    # One plan (attribute-set runs split into UPDATEs) per family, shared by
    # every peer and view, so pre and post differ only by the community.
    plans: dict[int, list[tuple[int, int, int]]] = {}
    sets = 0
    for family, prefixes in tables.items():
        plan = []
        i = 0
        while i < len(prefixes):
            got = 0
            target = set_target(rng)
            while got < target and i < len(prefixes):
                k = min(rng.choices(sizes, weights)[0], len(prefixes) - i)
                plan.append((sets, i, i + k))
                i += k
                got += k
            sets += 1
        plans[family] = plan
    rm = 0
    for p_index, (address, asn) in enumerate(peers):
        nh4 = ipaddress.IPv4Address(address).packed
        nh6 = ipaddress.IPv6Address(f"2001:db8:ffff::{p_index + 1}").packed
        for post in (False, True):
            hdr = per_peer(address, asn, address, post=post)
            for family, plan in plans.items():
                prefixes = tables[family]
                cache: dict[int, bytes] = {}
                for set_index, lo, hi in plan:
                    a = cache.get(set_index)
                    if a is None:
                        cache.clear()
                        a = cache[set_index] = attribute_set(
                            set_index + p_index * 7, nh4 if family == 4 else None, post
                        )
                    chunk = prefixes[lo:hi]
                    msg = update_v4(a, chunk) if family == 4 else update_v6(a, chunk, nh6)
                    out.append(bmp(0, hdr + msg))
                    rm += 1
    data = b"".join(out)
    routes = (spec.v4 + spec.v6) * spec.peers * 2
    return Built(Stream(data, len(out), rm, routes, spec.v4 + spec.v6), sets)


def cached(spec: Spec) -> Built:
    directory = Path(__file__).resolve().parent / ".cache"
    # The stream's recipe only (not the measuring code): editing the rest keeps the cache.
    recipe = "".join(inspect.getsource(f) for f in (attribute_set, set_target, build, Spec))
    recipe += repr((NLRI_MIX, PARETO_ALPHA, SET_MEAN))
    src = recipe.encode() + (Path(__file__).parent / "streams.py").read_bytes()
    key = hashlib.sha256(repr(spec).encode() + src).hexdigest()[:16]
    data_path = directory / f"ingest-{key}.bmp"
    meta_path = directory / f"ingest-{key}.json"
    if data_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        sets = meta.pop("attribute_sets")
        return Built(Stream(data_path.read_bytes(), **meta), sets)
    built = build(spec)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = data_path.with_suffix(".tmp")
    tmp.write_bytes(built.stream.data)
    tmp.replace(data_path)
    s = built.stream
    meta = {
        "messages": s.messages,
        "route_monitoring": s.route_monitoring,
        "routes": s.routes,
        "unique_prefixes": s.unique_prefixes,
        "attribute_sets": built.attribute_sets,
    }
    meta_path.write_text(json.dumps(meta))
    return built


# -- measurement --------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    cpu: float
    rss_before_kb: int
    rss_after_kb: int
    peak_kb: int
    routes_seen: int | None
    fib_seconds: float | None = None
    fib_cpu: float | None = None
    scrapes: list[float] = field(default_factory=list)
    feed: dict[str, float] | None = None


class Scraper(threading.Thread):
    """GET /metrics every ``every`` seconds until stopped; keeps each latency."""

    def __init__(self, agent: Agent, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{agent.http_port}/metrics"
        self.every = every
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as r:
                    r.read()
            except OSError:
                continue
            self.latencies.append(time.perf_counter() - t)
            self.stop.wait(self.every)


def fib_classified(agent: Agent) -> int:
    """Prefixes the FIB has classified (``bmp_fib_routes`` of every state but extra)."""
    n = 0.0
    for line in agent.get("/metrics").decode().splitlines():
        if line.startswith("bmp_fib_routes{") and 'state="extra"' not in line:
            n += float(line.rsplit(" ", 1)[1])
    return int(n)


def metric_sum(agent: Agent, name: str) -> float:
    total = 0.0
    for line in agent.get("/metrics").decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    """nats-server with JetStream in a temporary directory on a free loopback port."""
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start")
                time.sleep(0.1)
            yield f"nats://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


class Sink(threading.Thread):
    """A TCP upstream on loopback that reads everything (the relay's target):
    bytes received, their SHA-256, and when the last byte arrived."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.received = 0
        self.connections = 0
        self.digest = hashlib.sha256()
        self.last = 0.0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while chunk := conn.recv(1 << 20):
                    self.received += len(chunk)
                    self.digest.update(chunk)
                    self.last = time.perf_counter()

    def close(self) -> None:
        self.server.close()


@contextlib.contextmanager
def relay_upstream(kind: str) -> Iterator[tuple[str, Sink | None]]:
    """``("HOST:PORT", sink)`` of a relay upstream: ``sink`` or ``pmbmpd``."""
    if kind == "sink":
        sink = Sink()
        sink.start()
        try:
            yield f"127.0.0.1:{sink.port}", sink
        finally:
            sink.close()
    else:
        with run_pmbmpd() as pm:
            yield f"127.0.0.1:{pm.port}", None


def metric_by(agent: Agent, name: str, label: str) -> dict[str, float]:
    """``name``'s samples by the value of ``label`` (summed over the other labels)."""
    out: dict[str, float] = {}
    key = f'{label}="'
    for line in agent.get("/metrics").decode().splitlines():
        if line.startswith(name + "{") and key in line:
            value = line.split(key, 1)[1].split('"', 1)[0]
            out[value] = out.get(value, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def history_figures(agent: Any) -> str:
    """Events held, recorded and evicted by the per-prefix history (``/metrics``)."""
    held = recorded = evicted = 0.0
    for line in agent.get("/metrics").decode().splitlines():
        if line.startswith("bmp_history_events "):
            held = float(line.rsplit(" ", 1)[1])
        elif line.startswith("bmp_history_recorded_events_total{"):
            recorded += float(line.rsplit(" ", 1)[1])
        elif line.startswith("bmp_history_evicted_events_total "):
            evicted = float(line.rsplit(" ", 1)[1])
    return f"{held:,.0f} events held, {recorded:,.0f} recorded, {evicted:,.0f} evicted"


def measure_agent(
    stream: Stream,
    profile: str | None,
    fib: bool,
    nats: str | None = None,
    history: bool | None = None,
    relay: str | None = None,
) -> Result:
    env = {} if fib else {"BMP_AGENT_FIB_ENABLED": "false"}
    extra = ("--relay", relay.split("+", 1)[1]) if relay is not None else ()
    if nats is not None:
        env["BMP_AGENT_EXPORT_NATS_URL"] = nats
    if history is not None:
        env["BMP_AGENT_HISTORY_ENABLED"] = "true" if history else "false"
    with run_agent(*extra, env=env) as agent:
        if nats is not None:
            while metric_sum(agent, "bmp_export_up") != 1.0:
                time.sleep(0.05)
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
        scraper = Scraper(agent)
        scraper.start()
        cpu0 = cpu_seconds(agent.pid)
        t0 = time.perf_counter()
        sock = connect(agent.bmp_port)
        # sendall's timeout would be for the whole stream, and a slow agent (a
        # loaded machine, --history) must not time the sender out: the loop
        # below has its own deadline
        sock.settimeout(None)
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
        feed = None
        if nats is not None:
            feed = {
                "at_rib": metric_sum(agent, "bmp_export_messages_total"),
                "dropped": metric_sum(agent, "bmp_export_dropped_total"),
            }
            # until the feed has published the whole RIB (live, or by a resync)
            while time.perf_counter() - t0 < 1800:
                if (
                    metric_sum(agent, "bmp_export_queue_routes") == 0
                    and metric_sum(agent, "bmp_export_messages_total") >= stream.routes
                ):
                    break
                time.sleep(0.2)
            feed["seconds"] = time.perf_counter() - t0
            feed["cpu"] = cpu_seconds(agent.pid) - cpu0
            feed["messages"] = metric_sum(agent, "bmp_export_messages_total")
            feed["dropped_total"] = metric_sum(agent, "bmp_export_dropped_total")
            feed["resyncs"] = metric_sum(agent, "bmp_export_resyncs_total")
        if relay is not None:
            feed = relay_figures(agent, stream, t0, cpu0)
        fib_s = fib_cpu = None
        if fib:
            while time.perf_counter() - t0 < 900:
                if fib_classified(agent) >= stream.unique_prefixes:
                    break
                time.sleep(0.05)
            fib_s = time.perf_counter() - t0
            fib_cpu = cpu_seconds(agent.pid) - cpu0
        scraper.stop.set()
        scraper.join(60)
        sender.join()
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        after = status_kb(agent.pid, "VmRSS")
        peak = status_kb(agent.pid, "VmHWM")
        sock.close()
        name = ("agent" if fib else "agent-nofib") + ("+nats" if nats else "")
        if relay is not None:
            name += "+relay-" + relay.split("+", 1)[0]
        if history is not None:
            name += "-hist" if history else "-nohist"
            if history:
                print(f"{name}: history {history_figures(agent)}")
        return Result(
            name,
            t1 - t0,
            cpu1 - cpu0,
            before,
            after,
            peak,
            routes,
            fib_s,
            fib_cpu,
            scraper.latencies,
            feed,
        )


def relay_figures(agent: Agent, stream: Stream, t0: float, cpu0: float) -> dict[str, float]:
    """The relay at RIB complete, then once it has written everything: the
    spool empty and ``bmp_relay_bytes_total`` still for a second (or 600 s)."""
    feed = {"at_rib": metric_sum(agent, "bmp_relay_bytes_total"), "t0": t0}
    last = -1.0
    changed = time.perf_counter()
    cpu = cpu_seconds(agent.pid)
    while (now := time.perf_counter()) - t0 < 600:
        sent = metric_sum(agent, "bmp_relay_bytes_total")
        if sent != last or metric_sum(agent, "bmp_relay_spool_bytes") != 0:
            last, changed, cpu = sent, now, cpu_seconds(agent.pid)
        elif now - changed >= 1.0:
            break
        time.sleep(0.05)
    feed["seconds"] = changed - t0
    feed["cpu"] = cpu - cpu0
    feed["bytes"] = last
    feed["dropped_bytes"] = metric_sum(agent, "bmp_relay_dropped_bytes_total")
    for reason, n in metric_by(agent, "bmp_relay_resyncs_total", "reason").items():
        feed["resyncs_" + reason] = n
    return feed


def measure_relay(stream: Stream, kind: str) -> Result:
    """The agent without FIB relaying to a ``kind`` upstream (``sink``/``pmbmpd``)."""
    with relay_upstream(kind) as (address, sink):
        r = measure_agent(stream, None, fib=False, relay=f"{kind}+{address}")
        assert r.feed is not None
        t0 = r.feed.pop("t0")
        if sink is not None:
            deadline = time.monotonic() + 60
            while sink.received < r.feed["bytes"] and time.monotonic() < deadline:
                time.sleep(0.05)
            r.feed["received"] = sink.received
            r.feed["connections"] = sink.connections
            r.feed["same_bytes"] = float(
                sink.digest.hexdigest() == hashlib.sha256(stream.data).hexdigest()
            )
            r.feed["received_at"] = sink.last - t0
        return r


def measure_pmbmpd(stream: Stream, verify: bool) -> Result:
    with run_pmbmpd() as pm:
        before = status_kb(pm.pid, "VmRSS")
        cpu0 = cpu_seconds(pm.pid)
        t0 = time.perf_counter()
        sock = connect(pm.port)
        sock.settimeout(None)
        sock.sendall(stream.data)
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


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def report(built: Built, results: list[Result]) -> None:
    s = built.stream
    print(
        f"stream: {len(s.data) / 1e6:.1f} MB, {s.messages:,} BMP messages,"
        f" {s.route_monitoring:,} Route Monitoring ({s.routes / s.route_monitoring:.1f} routes"
        f" per message), {s.routes:,} routes (prefix x peer x view),"
        f" {s.unique_prefixes:,} unique prefixes, {built.attribute_sets:,} attribute sets"
        f" ({s.unique_prefixes / built.attribute_sets:.1f} prefixes per set)"
    )
    print(
        f"{'collector':<12} {'seconds':>8} {'routes/s':>11} {'prefixes/s':>11} {'msgs/s':>9}"
        f" {'cpu s':>7} {'RSS MB':>7} {'peak':>7} {'B/route':>8} {'routes kept':>12}"
    )
    for r in results:
        delta = (r.peak_kb - r.rss_before_kb) * 1024
        kept = "?" if r.routes_seen is None else f"{r.routes_seen:,}"
        print(
            f"{r.name:<12} {r.seconds:>8.2f} {s.routes / r.seconds:>11,.0f}"
            f" {s.unique_prefixes / r.seconds:>11,.0f} {s.route_monitoring / r.seconds:>9,.0f}"
            f" {r.cpu:>7.2f} {r.rss_before_kb / 1024:>7.0f}"
            f" {r.peak_kb / 1024:>7.0f} {delta / s.routes:>8.0f} {kept:>12}"
        )
    by = {r.name: r for r in results}
    pm = by.get("pmbmpd")
    for r in results:
        if r.fib_seconds is not None:
            print(
                f"{r.name}: FIB settled (every prefix classified) at {r.fib_seconds:.2f} s,"
                f" {r.fib_cpu:.2f} CPU s"
            )
        if r.scrapes:
            print(
                f"{r.name}: /metrics during the load: {len(r.scrapes)} scrapes,"
                f" p99 {p99(r.scrapes) * 1e3:.1f} ms, max {max(r.scrapes) * 1e3:.1f} ms"
            )
        if pm is not None and r is not pm:
            print(f"ratio {r.name} / pmbmpd (routes/s): {pm.seconds / r.seconds:.2f}x")
    for r in results:
        f = r.feed
        if f is None or "+relay-" not in r.name:
            continue
        resyncs = ", ".join(
            f"{k.removeprefix('resyncs_')} {v:.0f}"
            for k, v in f.items()
            if k.startswith("resyncs_")
        )
        line = (
            f"{r.name}: {f['at_rib']:,.0f} bytes relayed at RIB complete; every byte relayed at"
            f" {f['seconds']:.2f} s ({f['cpu']:.2f} CPU s): {f['bytes']:,.0f} bytes relayed,"
            f" {len(s.data):,} sent ({'equal' if f['bytes'] == len(s.data) else 'NOT equal'}),"
            f" {f['dropped_bytes']:,.0f} dropped; resyncs: {resyncs}"
        )
        if "received" in f:
            line += (
                f"; sink received {f['received']:,.0f} bytes (last at {f['received_at']:.2f} s)"
                f" on {f['connections']:.0f}"
                f" connection(s), SHA-256 {'equal to' if f['same_bytes'] else 'NOT'} the stream's"
            )
        print(line)
        base = by.get(r.name.split("+relay-", 1)[0])
        if base is not None:
            print(
                f"relay ({r.name.split('+relay-', 1)[1]}) share of ingest:"
                f" wall {r.seconds / base.seconds - 1:+.1%} (RIB complete),"
                f" CPU {r.cpu / base.cpu - 1:+.1%};"
                f" until every byte relayed: wall {f['seconds'] / base.seconds - 1:+.1%},"
                f" CPU {f['cpu'] / base.cpu - 1:+.1%}"
            )
    for r in results:
        f = r.feed
        if f is None or "+nats" not in r.name:
            continue
        print(
            f"{r.name}: at RIB complete {f['at_rib']:,.0f} messages published, {f['dropped']:,.0f}"
            f" dropped; whole RIB on NATS at {f['seconds']:.2f} s ({f['cpu']:.2f} CPU s),"
            f" {f['messages']:,.0f} messages, {f['dropped_total']:,.0f} dropped,"
            f" {f['resyncs']:.0f} resyncs"
        )
        base = by.get(r.name.removesuffix("+nats"))
        if base is not None:
            print(
                f"NATS share of ingest: wall {r.seconds / base.seconds - 1:+.1%}"
                f" (RIB complete), CPU {r.cpu / base.cpu - 1:+.1%}"
            )
    for base in ("agent", "agent-nofib"):
        h, nh = by.get(base + "-hist"), by.get(base + "-nohist")
        if h is not None and nh is not None:
            print(
                f"history share of ingest ({base}): wall {h.seconds / nh.seconds - 1:+.1%}"
                f" (RIB complete), CPU {h.cpu / nh.cpu - 1:+.1%},"
                f" peak RSS {(h.peak_kb - nh.peak_kb) / 1024:+.0f} MB"
            )
    a, n = by.get("agent"), by.get("agent-nofib")
    if a is not None and n is not None:
        print(
            f"FIB share of ingest: wall {a.seconds / n.seconds - 1:+.1%}"
            f" (RIB complete), CPU {a.cpu / n.cpu - 1:+.1%}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="table size (1.0 = 4.8M routes)")
    ap.add_argument("--no-fib", action="store_true", help="the agent with fib.enabled: false")
    ap.add_argument(
        "--nlri",
        type=int,
        default=0,
        help="NLRI per UPDATE for every message (1: FRR's one prefix per message; default: the mix)",
    )
    ap.add_argument("--both", action="store_true", help="the agent with and without FIB")
    ap.add_argument("--no-pmbmpd", action="store_true", help="measure bmp-agent only")
    ap.add_argument(
        "--history",
        action="store_true",
        help="the agent with and without the per-prefix history (history.enabled)",
    )
    ap.add_argument(
        "--verify-pmbmpd", action="store_true", help="wait for pmbmpd's dump; print its count"
    )
    ap.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the agent's ingest")
    ap.add_argument(
        "--nats",
        action="store_true",
        help="also the agent (no FIB) feeding a local nats-server; print the feed's share",
    )
    ap.add_argument(
        "--relay",
        action="store_true",
        help="also the agent (no FIB) relaying to a TCP sink and to pmbmpd; print the relay's share",
    )
    args = ap.parse_args()
    print("# bench/ingest.py")
    print_machine()
    t = time.perf_counter()
    built = cached(Spec.scaled(args.scale, args.nlri))
    print(f"stream ready in {time.perf_counter() - t:.1f} s (scale {args.scale})")
    results = []
    if args.history:
        for on in (True, False):
            results.append(measure_agent(built.stream, None, fib=not args.no_fib, history=on))
    elif args.both or not args.no_fib:
        results.append(measure_agent(built.stream, args.profile, fib=True))
    if not args.history and (args.both or args.no_fib):
        results.append(measure_agent(built.stream, None if results else args.profile, fib=False))
    if args.nats:
        if not any(r.name == "agent-nofib" for r in results):
            results.append(measure_agent(built.stream, None, fib=False))
        with nats_server() as url:
            results.append(measure_agent(built.stream, None, fib=False, nats=url))
    if args.relay:
        if not any(r.name == "agent-nofib" for r in results):
            results.append(measure_agent(built.stream, None, fib=False))
        for kind in ("sink",) if args.no_pmbmpd else ("sink", "pmbmpd"):
            results.append(measure_relay(built.stream, kind))
    if not args.no_pmbmpd:
        results.append(measure_pmbmpd(built.stream, args.verify_pmbmpd))
    report(built, results)
    if args.profile:
        print(profile_summary(args.profile))


if __name__ == "__main__":
    main()
