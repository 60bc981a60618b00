"""``bmp_inconsistent`` of kind ``post_holds_pre_withdrawn_route``: a
post-policy path that the same peer's live pre-policy view withdrew (GoBGP
3.10 withdraws a non-best path in pre-policy only), against a real kernel
table in a private namespace (issue 22).

Router 127.0.0.1 sends pre- and post-policy (no Loc-RIB), so the FIB check
selects from post-policy. Peer A (10.9.0.2) announces 192.0.2.0/24 and
198.51.100.0/24; peer B (10.9.0.3) announces them too with a longer AS path,
and 203.0.113.0/24. The kernel holds A's paths and B's 203.0.113.0/24. B then
withdraws 192.0.2.0/24 and 198.51.100.0/24 in pre-policy only; A withdraws
192.0.2.0/24 (pre and post) and the kernel drops it, as zebra would: B's
stale post-policy path must make it ``bmp_inconsistent``, not ``missing``.
With B's pre-policy an all-withdrawals feed (FRR without soft-reconfiguration
inbound) it proves nothing: the same prefix is ``missing``.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from fibns import FibNs, bgp, bmp, fib_netns, run_async_in_ns
from prometheus_client import CollectorRegistry, generate_latest
from test_fib_consistency import counts, until

from agent.config import FibConfig, HealthConfig
from agent.core import Core
from agent.fib.component import FibCollector, diff_view
from agent.fib.reconciler import FibReconciler
from agent.health import evaluate
from parsers.bmp.messages import StatEntry
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

GRACE = 0.3
POST = 0x40
A = {"address": "10.9.0.2", "asn": 65001, "bgp_id": "10.9.0.2"}
B = {"address": "10.9.0.3", "asn": 65002, "bgp_id": "10.9.0.3"}
P1, P2, P3 = "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"
KERNEL = [
    f"route add {P1} via 10.9.0.2 proto bgp metric 20",
    f"route add {P2} via 10.9.0.2 proto bgp metric 20",
    f"route add {P3} via 10.9.0.3 proto bgp metric 20",
]


def rm(
    peer: dict[str, object],
    flags: int,
    *,
    nlri: list[str] = (),
    withdrawn: list[str] = (),  # type: ignore[assignment]
) -> bytes:
    path = [int(str(peer["asn"]))] + ([65010] if peer is B else [])
    attrs = [bgp.origin(0), bgp.as_path(path), bgp.next_hop(str(peer["address"]))]
    update = bgp.build_update(
        withdrawn=bgp.nlri(list(withdrawn)),
        attributes=attrs if nlri else [],
        nlri=bgp.nlri(list(nlri)),
    )
    return bmp.build_route_monitoring(update, flags=flags, **peer)


def stream(b_pre_live: bool) -> bytes:
    out = bmp.build_initiation()
    for peer in (A, B):
        out += bmp.build_peer_up(local_address="10.9.0.1", **peer)
    out += rm(A, 0, nlri=[P1, P2]) + rm(A, POST, nlri=[P1, P2])
    if b_pre_live:
        out += rm(B, 0, nlri=[P1, P2, P3])
    else:  # FRR without soft-reconfiguration inbound: pre-policy only withdraws
        out += rm(B, 0, withdrawn=[P1, P2, P3])
    out += rm(B, POST, nlri=[P1, P2, P3])
    return out


def inconsistencies(fib: FibReconciler) -> list[str]:
    reg = CollectorRegistry()
    reg.register(FibCollector(fib))
    return sorted(
        line
        for line in generate_latest(reg).decode().splitlines()
        if line.startswith("bmp_view_inconsistencies_total")
    )


STALE = (
    'bmp_view_inconsistencies_total{kind="post_holds_pre_withdrawn_route",'
    'peer="10.9.0.3",router="127.0.0.1",view="adj_in_post"}'
)


@pytest.mark.parametrize("b_pre_live", [True, False], ids=["pre-live", "pre-all-withdrawals"])
def test_stale_post_policy_path_is_not_missing(b_pre_live: bool) -> None:
    with fib_netns() as fns:
        fns.batch(KERNEL)
        _run(fns, b_pre_live)


def _run(fns: FibNs, b_pre_live: bool) -> None:
    core = Core()
    fib = FibReconciler(FibConfig(grace=GRACE, interval=0.05), core)
    session = core.open_session("127.0.0.1", 40000)
    decoder = BmpSession()

    def send(data: bytes) -> None:
        for ev in decoder.feed(data):
            session.handle(ev)

    async def wait(want: dict[str, int]) -> None:
        try:
            await until(lambda: counts(fib) == want, 5, f"{want}")
        except AssertionError as err:
            raise AssertionError(f"{err}; last counts {counts(fib)}") from None

    async def main() -> None:
        await fib.start()
        send(stream(b_pre_live))
        try:
            await fib.wait_synced()
            await wait({"in_sync": 3})
            if b_pre_live:
                # GoBGP 3.10: B's non-best paths withdrawn in pre-policy only
                send(rm(B, 0, withdrawn=[P1, P2]))
                await asyncio.sleep(GRACE + 0.2)
                assert counts(fib) == {"in_sync": 3}
            # A withdraws P1 everywhere; the kernel drops it (as zebra would)
            send(rm(A, 0, withdrawn=[P1]) + rm(A, POST, withdrawn=[P1]))
            await asyncio.to_thread(fns.batch, [f"route del {P1} proto bgp"])
            if not b_pre_live:
                # B's post-policy path is all this feed has: it is missing
                await wait({"in_sync": 2, "missing": 1})
                assert [r["prefix"] for r in diff_view(fib)["drift"]] == [P1]
                assert not any("post_holds" in x for x in inconsistencies(fib))
                assert dict(fib.tracker.events) == {(1, "missing"): 1}
                return
            await wait({"in_sync": 2, "bmp_inconsistent": 1})
            d = diff_view(fib)
            (row,) = d["drift"]
            assert (row["prefix"], row["state"], row["actual"]) == (P1, "bmp_inconsistent", [])
            assert row["expected"] == ["10.9.0.3"]  # what the stale path would select
            ev = row["evidence"]
            assert (ev["peer"], ev["view"], ev["said"]) == (
                "10.9.0.3", "adj_in_post", "post_holds_pre_withdrawn_route"
            )  # fmt: skip
            assert isinstance(ev["at"], float)
            assert ev["other_views"] == [
                {"view": "adj_in_pre", "peer": "10.9.0.3", "said": "withdrawn"},
                {"view": "kernel", "said": "lacks"},
            ]
            t = d["tables"][0]
            assert (t["expected"], t["kernel"], t["in_sync"], t["missing"]) == (2, 2, 2, 0)
            assert dict(fib.tracker.events) == {}  # not drift
            assert STALE + " 1.0" in inconsistencies(fib)
            res = evaluate(core, HealthConfig(), evidence=fib).results["bmp_feed_inconsistent"]
            (f,) = res.findings
            assert (f.router, f.peer) == ("127.0.0.1", "10.9.0.3")
            assert f.details == {"post_holds_pre_withdrawn": {"ipv4": 1}}
            assert f.found == (
                "1 paths are still held in adj_in_post although the same peer's "
                "pre-policy view withdrew them"
            )
            # a real drift next to it: B's live P3 deleted behind its back is missing
            await asyncio.to_thread(fns.batch, [f"route del {P3} proto bgp"])
            await wait({"in_sync": 1, "bmp_inconsistent": 1, "missing": 1})
            # A announces P1 again, the kernel installs it: in sync, evidence gone,
            # the counter stays (a counter)
            send(rm(A, 0, nlri=[P1]) + rm(A, POST, nlri=[P1]))
            await asyncio.to_thread(fns.batch, [f"route add {P1} via 10.9.0.2 proto bgp metric 20"])
            await wait({"in_sync": 2, "missing": 1})
            assert fib.evidence.stale[(1, None)] == {}
            assert STALE + " 1.0" in inconsistencies(fib)
            res = evaluate(core, HealthConfig(), evidence=fib).results["bmp_feed_inconsistent"]
            assert res.findings == [] or all(
                "post_holds_pre_withdrawn" not in f.details for f in res.findings
            )
        finally:
            await fib.stop()

    run_async_in_ns(fns.ns.name, main)


@pytest.mark.parametrize("reported", [20000, 0], ids=["stats-count-routes", "stats-zero"])
def test_no_route_monitoring_is_not_extra(reported: int) -> None:
    """A router that sends Peer Up and Statistics Reports but no Route
    Monitoring (GoBGP 3.10 with ``route-monitoring-policy = "both"``): while a
    report counts Adj-RIB-In routes, the kernel's 3 routes are
    ``bmp_inconsistent`` (kind ``no_route_monitoring``), not ``extra``; a
    report of 0 routes leaves them ``extra`` (nothing explains them)."""
    with fib_netns() as fns:
        fns.batch(KERNEL)
        core = Core()
        fib = FibReconciler(FibConfig(grace=GRACE, interval=0.05), core)
        session = core.open_session("127.0.0.1", 40000)
        decoder = BmpSession()
        data = bmp.build_initiation() + bmp.build_peer_up(local_address="10.9.0.1", **A)
        stats = bmp.build_stats([StatEntry(7, reported)], **A)

        async def main() -> None:
            await fib.start()
            for ev in decoder.feed(data):
                session.handle(ev)
            try:
                await fib.wait_synced()
                # before any Statistics Report nothing explains the kernel routes
                await until(lambda: counts(fib) == {"extra": 3}, 5, "extra 3")
                # the first report (GoBGP: 15 s later) re-judges them
                for ev in decoder.feed(stats):
                    session.handle(ev)
                want = {"bmp_inconsistent": 3} if reported else {"extra": 3}
                await until(lambda: counts(fib) == want, 5, f"{want}")
                await asyncio.sleep(GRACE + 0.2)
                assert counts(fib) == want
                d = diff_view(fib)
                assert d["view"] is None
                assert {r["state"] for r in d["drift"]} == set(want)
                res = evaluate(core, HealthConfig(), evidence=fib).results["bmp_feed_inconsistent"]
                lines = inconsistencies(fib)
                if not reported:
                    assert dict(fib.tracker.events) == {(1, "extra"): 3}
                    assert res.findings == [] and lines == []
                    return
                assert dict(fib.tracker.events) == {(1, "extra"): 3}  # before the report
                for r in d["drift"]:
                    assert r["evidence"] == {
                        "peer": None,
                        "view": None,
                        "said": "no_route_monitoring",
                        "at": None,
                        "other_views": [
                            {"view": "statistics", "peer": "10.9.0.2",
                             "said": "adj_rib_in_routes 20000"},
                            {"view": "kernel", "said": "holds"},
                        ],
                    }  # fmt: skip
                assert lines == [
                    'bmp_view_inconsistencies_total{kind="no_route_monitoring",peer="",'
                    'router="127.0.0.1",view=""} 3.0'
                ]
                (f,) = res.findings
                assert f.details == {"no_route_monitoring": 20000}
            finally:
                await fib.stop()

        run_async_in_ns(fns.ns.name, main)
