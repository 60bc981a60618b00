"""The BIRD socket source against real BIRD 1.6.8 and 2.0.12 peering with ExaBGP.

Same scenarios as the BMP lab tests, read from BIRD's control socket: exact
route counts per peer and view, withdrawals, a session reset (flap counted,
even though the poll never saw it down), a BIRD restart (router session
closed and reopened), ``show route count`` agreement, and a kernel FIB check
(BIRD's ``proto bird`` routes in the speaker namespace against the Loc-RIB
read from the socket, through ``agent.fib``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import bird_socket_lab as bl
import lab
import pytest

from agent.core import DOWN, UP, Core, Peer
from agent.fib import diff as fib_diff
from agent.fib import expected as fib_expected
from agent.fib import netlink
from agent.sources.bird import BirdPoller
from agent.sources.bird.parse import since_moved

pytestmark = [pytest.mark.lab, pytest.mark.slow]

A = [f"10.40.{i}.0/24" for i in range(20)]
A2_OK = [f"10.50.{i}.0/24" for i in range(8)]
A2_REJECTED = ["203.0.113.0/26", "203.0.113.64/26"]
B = [f"2001:db8:40:{i:x}::/64" for i in range(15)]


def require_bird(version: str) -> None:
    why = bl.missing(version)
    if not why:
        return
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("; ".join(why) + " (CI=true: not skipping)", pytrace=False)
    pytest.skip("; ".join(why))


async def poll_until(
    poller: BirdPoller, pred: Callable[[], bool], what: str, timeout: float = 40
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await poller.poll()
        if pred():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {counts(poller)}")
        await asyncio.sleep(0.3)


def peer(poller: BirdPoller, label: str) -> Peer:
    router = poller.core.routers[poller.label]
    return next(p for p in router.peers.values() if p.label == label)


def counts(poller: BirdPoller) -> dict[tuple[str, str, int], int]:
    router = poller.core.routers.get(poller.label)
    if router is None:
        return {}
    return {
        (p.label, view, afi): t.route_count
        for p in router.peers.values()
        for (view, afi, _), t in p.tables.items()
        if t.route_count
    }


def kernel_routes(ns_name: str) -> netlink.KernelState:
    """``proto bird`` routes of the main table, dumped from inside the namespace."""
    out: list[Any] = []

    def worker() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
        try:
            assert libc.setns(fd, 0x40000000) == 0
        finally:
            os.close(fd)
        out.append(netlink.dump([netlink.proto_id("bird")], [254]))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize("version", ["1.6", "2.0"])
async def test_bird_socket_source(lab_topo: lab.LabTopology, version: str) -> None:
    lab.require("exabgp")
    require_bird(version)
    daemons = bl.bird_nodes(version, lab_topo.spk, lab_topo.workdir)
    for d in daemons:
        d.start()
    v4d, v6d = daemons[0], daemons[-1]
    core = Core()
    p4 = BirdPoller(core, str(v4d.ctl), f"bird{version}")
    p6 = p4 if v6d is v4d else BirdPoller(core, str(v6d.ctl), f"bird{version}-v6")
    exa = lab.ExaBgp(lab_topo.inj, lab_topo.workdir, bl.exa_peers())
    try:
        with exa:
            v4d.wait_established("A", "A2")
            v6d.wait_established("B")
            exa.announce_many("A", A, as_path=[65001, 64512], communities=["65001:1"])
            exa.announce_many("A2", A2_OK + A2_REJECTED, as_path=[65003])
            exa.announce_many("B", B, as_path=[65002])
            pre = {("10.0.1.3", "adj_in_pre", 1): 10} if version == "2.0" else {}
            want4 = {
                ("10.0.1.2", "adj_in_post", 1): 20,
                ("10.0.1.3", "adj_in_post", 1): 8,
                **pre,
                ("0.0.0.0", "loc_rib", 1): 29,  # 20 + 8 + the static route
            }
            want6 = {("fd00:1::2", "adj_in_post", 2): 15, ("0.0.0.0", "loc_rib", 2): 15}
            if p6 is p4:
                want4 |= want6
            await poll_until(p4, lambda: counts(p4) == want4, "IPv4 routes")
            want = (want6 | want4) if p6 is p4 else want6
            await poll_until(p6, lambda: counts(p6) == want, "IPv6 routes")
            # agrees with BIRD's own count, read in the same poll
            snap = await p4.poll()
            assert snap is not None and snap.count is not None
            assert snap.routes_read == snap.count.routes == 20 + 8 + 1 + (15 if p6 is p4 else 0)
            a = peer(p4, "10.0.1.2")
            assert (a.state, a.asn, a.bgp_id) == (UP, 65001, "10.0.1.2")
            assert peer(p4, "10.0.1.9").state == DOWN
            attrs = next(iter(a.tables[("adj_in_post", 1, 1)].routes.values()))
            assert attrs.communities == ((65001 << 16) | 1,)
            assert attrs.next_hop == "10.0.1.2"

            # kernel FIB: every Loc-RIB route is in the kernel with its next hop
            kern = kernel_routes(lab_topo.spk.name)
            router = core.routers[p4.label]
            fib_want = fib_expected.expected_routes(router, 1)
            d = fib_diff.compare(fib_want, kern.table(1, 254), kern.resolve, "best")
            assert (d.expected, d.kernel) == (29, 29)
            # the static blackhole has no next hop to compare
            assert d.in_sync == 28
            assert list(d.drift.values()) in ([], [fib_diff.NEXTHOP_MISMATCH])

            # withdrawals
            exa.withdraw_many("A", A[:5])
            await poll_until(
                p4, lambda: counts(p4)[("10.0.1.2", "adj_in_post", 1)] == 15, "5 withdrawals"
            )
            t = a.tables[("adj_in_post", 1, 1)]
            assert (t.route_count, t.announces, t.withdraws) == (15, 20, 5)
            assert counts(p4)[("0.0.0.0", "loc_rib", 1)] == 24

            # session reset between two polls: counted from the since-time
            # BIRD's since-time has 1 s resolution and jitters by 1 s: a reset
            # is seen when it moves by more (agent.sources.bird.parse.since_moved)
            since = v4d.since("A")
            time.sleep(3)
            birdc = str(bl.binaries(version)["birdc"])
            lab_topo.spk.run([birdc, "-s", str(v4d.ctl), "restart", "A"])
            lab.wait_until(
                lambda: v4d.established("A") and since_moved(since, v4d.since("A")),
                timeout=40, what="A re-established",
            )  # fmt: skip
            await poll_until(
                p4,
                lambda: a.state == UP and counts(p4).get(("10.0.1.2", "adj_in_post", 1)) == 15,
                "A back with its 15 routes",
            )
            assert sum(a.downs.values()) == 1
            assert set(a.downs) <= {"bird_session_reset", "bird_session_down"}
            assert peer(p4, "10.0.1.3").downs == {}

            # BIRD restart: the router session closes, then reopens
            router = core.routers[p4.label]
            v4d.stop()
            assert await p4.poll() is None
            assert not router.up and router.connections == 1
            assert all(p.route_count == 0 for p in router.peers.values())
            v4d.start()
            v4d.wait_established("A", "A2", timeout=60)
            await poll_until(
                p4,
                lambda: (
                    counts(p4).get(("10.0.1.2", "adj_in_post", 1)) == 15
                    and counts(p4).get(("10.0.1.3", "adj_in_post", 1)) == 8
                ),
                "routes after the restart",
            )
            assert router.up and router.connections == 2
            # a restart is not a peer flap (as a BMP session close is not)
            assert sum(a.downs.values()) == 1
    finally:
        for p in {id(p4): p4, id(p6): p6}.values():
            await p.client.close()
        for d in daemons:
            d.stop()


def test_socket_is_a_file_reachable_from_the_root_namespace(lab_topo: lab.LabTopology) -> None:
    """Sanity for the setup above: BIRD's socket in the speaker namespace is reachable here."""
    require_bird("2.0")
    (d,) = bl.bird_nodes("2.0", lab_topo.spk, lab_topo.workdir)
    d.start()
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(d.ctl))
            assert s.recv(100) == b"0001 BIRD 2.0.12 ready.\n"
    finally:
        d.stop()
