"""The FIB reconciler end to end without speakers: a real kernel (private
namespace), a core fed with hand-built BMP bytes from a router on 127.0.0.1,
the reconciler's event loop running inside the namespace.

Two post-policy peers (eBGP, AS 65001 via 10.9.0.2 and AS 65002 via
10.9.0.3) announce 192.0.2.0/24 (A's path is shorter: A wins), 198.51.100.0/24
(A only) and 2001:db8::/48 (B only, IPv6 next hop fd09::2). The kernel gets
the matching routes, then the test breaks them one at a time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest
from fibns import FibNs, bgp, bmp, run_async_in_ns, until
from prometheus_client import CollectorRegistry, generate_latest

from agent.config import FibConfig
from agent.core import Core
from agent.fib.component import FibCollector, diff_view
from agent.fib.reconciler import FibReconciler
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

GRACE = 0.5
POST = 0x40  # L flag: post-policy


def peer(address: str, asn: int) -> dict[str, object]:
    return {"address": address, "asn": asn, "bgp_id": address, "flags": POST}


def bmp_stream() -> bytes:
    a = peer("10.9.0.2", 65001)
    b = peer("10.9.0.3", 65002)
    out = bmp.build_initiation()
    for p in (a, b):
        out += bmp.build_peer_up(local_address="10.9.0.1", **p)
    out += bmp.build_route_monitoring(
        bgp.build_update(
            attributes=[bgp.origin(0), bgp.as_path([65001]), bgp.next_hop("10.9.0.2")],
            nlri=bgp.nlri(["192.0.2.0/24", "198.51.100.0/24"]),
        ),
        **a,
    )
    out += bmp.build_route_monitoring(
        bgp.build_update(
            attributes=[bgp.origin(0), bgp.as_path([65002, 65002]), bgp.next_hop("10.9.0.3")],
            nlri=bgp.nlri(["192.0.2.0/24"]),
        ),
        **b,
    )
    out += bmp.build_route_monitoring(
        bgp.build_update(
            attributes=[
                bgp.origin(0),
                bgp.as_path([65002]),
                bgp.mp_reach(2, 1, ["fd09::2"], bgp.nlri(["2001:db8::/48"])),
            ]
        ),
        **b,
    )
    return out


KERNEL_OK = [
    "route add 192.0.2.0/24 via 10.9.0.2 proto bgp metric 20",
    "route add 198.51.100.0/24 via 10.9.0.2 proto bgp metric 20",
    "route add 2001:db8::/48 via fd09::2 proto bgp metric 20",
]


def feed(core: Core) -> None:
    rs = core.open_session("127.0.0.1", 40000)
    for ev in BmpSession().feed(bmp_stream()):
        rs.handle(ev)


def counts(fib: FibReconciler, afi: int = 1) -> dict[str, int]:
    return {k: v for k, v in fib.tracker.counts().get((afi, 254), {}).items() if v}


async def replace_next_hop(fns: FibNs, gateway: str) -> None:
    """``ip route replace 192.0.2.0/24 via GATEWAY proto bgp metric 20``."""
    await asyncio.to_thread(
        fns.ip, "route", "replace", "192.0.2.0/24", "via", gateway, "proto", "bgp", "metric", "20"
    )


def run(
    fns: FibNs, body: Callable[[FibReconciler], Awaitable[None]], **cfg: object
) -> FibReconciler:
    core = Core()
    fib = FibReconciler(FibConfig(grace=GRACE, interval=0.1, **cfg), core)  # type: ignore[arg-type]

    async def main() -> None:
        feed(core)
        await fib.start()
        try:
            await fib.wait_synced()
            await body(fib)
        finally:
            await fib.stop()

    run_async_in_ns(fns.ns.name, main)
    return fib


@pytest.fixture
def fns(fns: FibNs) -> FibNs:
    fns.batch(KERNEL_OK)
    return fns


def test_in_sync_then_missing_extra_mismatch_and_back(fns: FibNs) -> None:
    async def body(fib: FibReconciler) -> None:
        await until(
            lambda: counts(fib) == {"in_sync": 2} and counts(fib, 2) == {"in_sync": 1}, 5, "in sync"
        )
        assert fib.router_label == "127.0.0.1"
        assert fib.view == "adj_in_post"
        assert fib.kernel_counts == {(1, 254, 186): 2, (2, 254, 186): 1}
        # missing
        await asyncio.to_thread(fns.ip, "route", "del", "198.51.100.0/24")
        await until(lambda: counts(fib).get("pending") == 1, 3, "pending")
        await until(lambda: counts(fib) == {"in_sync": 1, "missing": 1}, GRACE + 2, "missing")
        view = diff_view(fib)
        assert [(d["prefix"], d["state"], d["expected"], d["actual"]) for d in view["drift"]] == [
            ("198.51.100.0/24", "missing", ["10.9.0.2"], [])
        ]
        # extra (a bgp route nobody selected)
        await asyncio.to_thread(
            fns.ip, "route", "add", "203.0.113.0/24", "via", "10.9.0.4", "proto", "bgp"
        )
        await until(lambda: counts(fib).get("extra") == 1, GRACE + 2, "extra")
        # nexthop mismatch: B's next hop instead of A's
        await replace_next_hop(fns, "10.9.0.3")
        await until(lambda: counts(fib).get("nexthop_mismatch") == 1, GRACE + 2, "mismatch")
        assert counts(fib) == {"missing": 1, "extra": 1, "nexthop_mismatch": 1}
        view = diff_view(fib, state="nexthop_mismatch")
        assert [(d["prefix"], d["expected"], d["actual"], d["proto"]) for d in view["drift"]] == [
            ("192.0.2.0/24", ["10.9.0.2"], ["10.9.0.3 dev veth0"], "bgp")
        ]
        # repair everything
        await asyncio.to_thread(
            fns.batch,
            [
                "route replace 192.0.2.0/24 via 10.9.0.2 proto bgp metric 20",
                "route add 198.51.100.0/24 via 10.9.0.2 proto bgp metric 20",
                "route del 203.0.113.0/24",
            ],
        )
        await until(lambda: counts(fib) == {"in_sync": 2}, 3, "back in sync")
        assert dict(fib.tracker.events) == {
            (1, "missing"): 1,
            (1, "extra"): 1,
            (1, "nexthop_mismatch"): 1,
            (1, "in_sync"): 3,
        }
        reg = CollectorRegistry()
        reg.register(FibCollector(fib))
        text = generate_latest(reg).decode()
        assert (
            'bmp_fib_routes{afi="ipv4",router="127.0.0.1",state="in_sync",table="main"} 2.0' in text
        )
        assert (
            'bmp_fib_routes{afi="ipv6",router="127.0.0.1",state="in_sync",table="main"} 1.0' in text
        )
        assert (
            'bmp_fib_drift_events_total{afi="ipv4",router="127.0.0.1",state="missing"} 1.0' in text
        )
        assert 'bmp_kernel_routes{afi="ipv4",proto="bgp",table="main"} 2.0' in text
        assert "bmp_fib_last_sync_timestamp_seconds " in text
        assert 'bmp_fib_resyncs_total{reason="initial"} 1.0' in text

    run(fns, body)


def test_any_mode_accepts_a_candidate_next_hop(fns: FibNs) -> None:
    async def body(fib: FibReconciler) -> None:
        await until(lambda: counts(fib) == {"in_sync": 2}, 5, "in sync")
        await replace_next_hop(fns, "10.9.0.3")
        # B's path is a candidate: still in sync; a next hop of no candidate is not
        await asyncio.sleep(GRACE + 0.5)
        assert counts(fib) == {"in_sync": 2}
        await replace_next_hop(fns, "10.9.0.5")
        await until(lambda: counts(fib).get("nexthop_mismatch") == 1, GRACE + 2, "mismatch")

    run(fns, body, mode="any")


def test_event_storm_overflows_the_socket_and_resyncs_exactly(fns: FibNs) -> None:
    n = 3000

    async def body(fib: FibReconciler) -> None:
        await until(lambda: counts(fib) == {"in_sync": 2}, 5, "in sync")
        lines = [f"route add 10.80.{i >> 8}.{i & 255}/32 via 10.9.0.2 proto bgp" for i in range(n)]
        lines += [f"route del 10.80.{i >> 8}.{i & 255}/32" for i in range(0, n, 2)]
        # the loop is busy (blocked) while the storm happens: nothing reads the socket
        fns.batch(lines)
        await until(lambda: fib.resyncs.get("enobufs", 0) >= 1, 10, "a resync")
        await until(lambda: counts(fib) == {"in_sync": 2, "extra": n // 2}, 10, "extra routes")
        assert fib.kernel_counts == {(1, 254, 186): 2 + n // 2, (2, 254, 186): 1}
        await asyncio.to_thread(
            fns.batch, [f"route del 10.80.{i >> 8}.{i & 255}/32" for i in range(1, n, 2)]
        )
        await until(lambda: counts(fib) == {"in_sync": 2}, 10, "back in sync")
        assert fib.kernel_counts == {(1, 254, 186): 2, (2, 254, 186): 1}

    run(fns, body, rcvbuf=4096)
