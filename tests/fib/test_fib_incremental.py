"""The incremental FIB pass with exact counts, against a real kernel (private
namespace) and a core fed with BMP bytes from a router on 127.0.0.1.

* 10,000 /32 announced by one post-policy peer and installed in the kernel;
  100 withdrawn over BMP, 50 deleted from the kernel (pyroute2): exactly 100
  ``extra``, 50 ``missing``, 9,850 in sync, from a comparison of exactly those
  150 prefixes (no second full pass).
* Seeded random churn of two peers' routes and of the kernel: the state kept
  incrementally equals a full comparison from scratch (``expected_routes`` +
  a fresh netlink dump + ``compare``), and a forced full pass changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable

import pytest
from fibns import FibNs, bgp, bmp, routes_api, run_async_in_ns, until

from agent.config import FibConfig
from agent.core import Core
from agent.core.router import RouterSession
from agent.fib import netlink
from agent.fib.component import FibCollector, diff_view
from agent.fib.diff import compare
from agent.fib.expected import expected_routes
from agent.fib.reconciler import FibReconciler
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

POST = 0x40
A = {"address": "10.9.0.2", "asn": 65001, "bgp_id": "10.9.0.2", "flags": POST}
B = {"address": "10.9.0.3", "asn": 65002, "bgp_id": "10.9.0.3", "flags": POST}


def addr(i: int) -> str:
    return f"10.80.{i >> 8}.{i & 255}"


def announce(peer: dict[str, object], prefixes: list[str], path: list[int], nh: str) -> bytes:
    out = b""
    for i in range(0, len(prefixes), 100):
        out += bmp.build_route_monitoring(
            bgp.build_update(
                attributes=[bgp.origin(0), bgp.as_path(path), bgp.next_hop(nh)],
                nlri=bgp.nlri(prefixes[i : i + 100]),
            ),
            **peer,
        )
    return out


def withdraw(peer: dict[str, object], prefixes: list[str]) -> bytes:
    out = b""
    for i in range(0, len(prefixes), 100):
        out += bmp.build_route_monitoring(
            bgp.build_update(withdrawn=bgp.nlri(prefixes[i : i + 100])), **peer
        )
    return out


class Feed:
    def __init__(self, core: Core) -> None:
        self.rs: RouterSession = core.open_session("127.0.0.1", 40000)
        self.bmp = BmpSession()
        data = bmp.build_initiation()
        for p in (A, B):
            data += bmp.build_peer_up(local_address="10.9.0.1", **p)
        self(data)

    def __call__(self, data: bytes) -> None:
        for ev in self.bmp.feed(data):
            self.rs.handle(ev)


def counts(fib: FibReconciler) -> dict[str, int]:
    return {k: v for k, v in fib.tracker.counts().get((1, 254), {}).items() if v}


async def settle(fib: FibReconciler) -> None:
    """Until two passes ran after every queued change was taken."""
    await until(
        lambda: not fib._dirty_kernel and not any(fib._dirty_bgp.values()), 10, "dirty drained"
    )
    n = fib.rounds
    await until(lambda: fib.rounds >= n + 2, 10, "two passes")


def run(
    fns: FibNs, body: Callable[[Core, FibReconciler, Feed], Awaitable[None]], **cfg: object
) -> None:
    core = Core()
    fib = FibReconciler(FibConfig(interval=0.1, **cfg), core)  # type: ignore[arg-type]

    async def main() -> None:
        feed = Feed(core)
        await fib.start()
        try:
            await fib.wait_synced()
            await body(core, fib, feed)
        finally:
            await fib.stop()

    run_async_in_ns(fns.ns.name, main)


def test_10k_routes_100_withdrawn_50_deleted_from_the_kernel(fns: FibNs) -> None:
    n = 10_000
    prefixes = [f"{addr(i)}/32" for i in range(n)]
    fns.batch([f"route add {p} via 10.9.0.2 proto bgp metric 20" for p in prefixes])

    async def body(core: Core, fib: FibReconciler, feed: Feed) -> None:
        feed(announce(A, prefixes, [65001], "10.9.0.2"))
        await until(lambda: counts(fib) == {"in_sync": n}, 10, "in sync")
        assert fib.kernel_counts == {(1, 254, 186): n}
        # the initial one, and one when the post-policy view appeared
        assert fib.full_passes == 2
        compared = fib.compared
        feed(withdraw(A, prefixes[:100]))

        def kernel_delete() -> None:
            with routes_api(fns) as ns:
                for p in prefixes[100:150]:
                    ns.route("del", dst=p, proto=186, priority=20)

        await asyncio.to_thread(kernel_delete)
        await until(
            lambda: counts(fib) == {"in_sync": n - 150, "extra": 100, "missing": 50},
            5,
            "the drift",
        )
        # only the 150 changed prefixes were compared, and no full pass ran
        assert fib.compared - compared == 150
        assert fib.full_passes == 2
        assert fib.kernel_counts == {(1, 254, 186): n - 50}
        assert dict(fib.tracker.events) == {(1, "extra"): 100, (1, "missing"): 50}
        view = diff_view(fib, limit=2)
        assert [(d["prefix"], d["state"], d["expected"], d["actual"]) for d in view["drift"]] == [
            ("10.80.0.0/32", "extra", [], ["10.9.0.2 dev veth0"]),
            ("10.80.0.1/32", "extra", [], ["10.9.0.2 dev veth0"]),
        ]
        [t] = [t for t in view["tables"] if t["afi"] == "ipv4"]
        assert (t["expected"], t["kernel"], t["missing"], t["extra"]) == (n - 100, n - 50, 50, 100)
        missing = diff_view(fib, state="missing")["drift"]
        assert len(missing) == 50
        assert missing[0]["prefix"] == "10.80.0.100/32"
        assert missing[0]["expected"] == ["10.9.0.2"]
        assert missing[0]["actual"] == []
        # the scrape reads counters: the same figures
        from prometheus_client import CollectorRegistry, generate_latest

        reg = CollectorRegistry()
        reg.register(FibCollector(fib))
        text = generate_latest(reg).decode()
        assert 'state="in_sync",table="main"} 9850.0' in text
        assert 'bmp_kernel_routes{afi="ipv4",proto="bgp",table="main"} 9950.0' in text
        # repair: everything back in sync; 150 recoveries
        feed(announce(A, prefixes[:100], [65001], "10.9.0.2"))
        await asyncio.to_thread(
            fns.batch,
            [f"route add {p} via 10.9.0.2 proto bgp metric 20" for p in prefixes[100:150]],
        )
        await until(lambda: counts(fib) == {"in_sync": n}, 5, "back in sync")
        assert fib.tracker.events[(1, "in_sync")] == 150
        assert fib.full_passes == 2

    run(fns, body, grace=0.3)


def full_truth(core: Core, fib: FibReconciler) -> tuple[dict[bytes, str], int]:
    router = core.routers["127.0.0.1"]
    want = expected_routes(router, 1, mode=fib.config.mode)
    kern = netlink.dump(fib.protocols, fib.table_ids)
    d = compare(want, kern.routes.get((1, 254), {}), kern.resolve, fib.config.mode)
    return d.drift, d.in_sync


def tracked(fib: FibReconciler) -> tuple[dict[bytes, str], int]:
    drifts = fib.tracker.tables.get((1, 254), {})
    return {p: d.state for p, d in drifts.items()}, fib.tracker.in_sync.get((1, 254), 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_churn_incremental_equals_a_full_comparison(fns: FibNs, seed: int) -> None:
    rng = random.Random(seed)
    n = 400
    pfx = [f"{addr(i)}/32" for i in range(n)]
    gws = ["10.9.0.2", "10.9.0.3", "10.9.0.4"]
    kernel: dict[str, str] = {}
    lines = []
    for p in rng.sample(pfx, 300):
        kernel[p] = rng.choice(gws)
        lines.append(f"route add {p} via {kernel[p]} proto bgp metric 20")
    fns.batch(lines)

    async def body(core: Core, fib: FibReconciler, feed: Feed) -> None:
        for peer, nh in ((A, "10.9.0.2"), (B, "10.9.0.3")):
            feed(announce(peer, rng.sample(pfx, 250), [int(peer["asn"])], nh))  # type: ignore[call-overload]
        for _round in range(8):
            for peer, nh in ((A, "10.9.0.2"), (B, "10.9.0.3")):
                asn = int(peer["asn"])  # type: ignore[call-overload]
                feed(withdraw(peer, rng.sample(pfx, rng.randrange(0, 40))))
                path = [asn] * rng.randint(1, 3)
                feed(announce(peer, rng.sample(pfx, rng.randrange(0, 60)), path, nh))
            batch = []
            for p in rng.sample(pfx, 40):
                if p in kernel and rng.random() < 0.5:
                    batch.append(f"route del {p} proto bgp metric 20")
                    del kernel[p]
                else:
                    kernel[p] = rng.choice(gws)
                    batch.append(f"route replace {p} via {kernel[p]} proto bgp metric 20")
            await asyncio.to_thread(fns.batch, batch)
            if rng.random() < 0.3:
                await asyncio.sleep(0.15)  # sometimes a pass in between
        await settle(fib)
        truth = await asyncio.to_thread(full_truth, core, fib)
        got = tracked(fib)
        assert got == truth
        states = set(got[0].values())
        assert states == {"missing", "extra", "nexthop_mismatch"}  # the churn produced all three
        full = fib.full_passes
        fib._full = "test"
        await settle(fib)
        assert fib.full_passes == full + 1
        assert tracked(fib) == truth

    run(fns, body, grace=0.0)
