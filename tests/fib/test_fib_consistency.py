"""``bmp_inconsistent``: the router's BMP feed contradicts itself (issue 22),
against a real kernel table in a private namespace.

Peer A (10.9.0.2, AS 65001) of the router on 127.0.0.1: pre-policy announces
192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24; post-policy announces
192.0.2.0/24 and *withdraws* 198.51.100.0/24 and 203.0.113.0/24 without
having announced them (FRR 8.4's unresolved-next-hop withdrawals). The
kernel holds 192.0.2.0/24, 198.51.100.0/24 and 10.99.0.0/24 (stale, nobody
announced it). 198.51.100.0/24 must be bmp_inconsistent, 10.99.0.0/24
extra, 203.0.113.0/24 nothing (the kernel lacks it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import aiohttp
import pytest
from daemon_support import loopback_config, run_cmd, serving
from fibns import FibNs, bgp, bmp, run_async_in_ns, until
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from agent.app import build_daemon
from agent.config import FibConfig, HealthConfig
from agent.core import Core
from agent.fib import cmd as fib_cmd
from agent.fib.component import FibCollector, diff_view
from agent.fib.reconciler import FibReconciler
from agent.health import evaluate
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

GRACE = 0.3
POST = 0x40
A = {"address": "10.9.0.2", "asn": 65001, "bgp_id": "10.9.0.2"}
ATTRS = [bgp.origin(0), bgp.as_path([65001]), bgp.next_hop("10.9.0.2")]
KERNEL = [
    "route add 192.0.2.0/24 via 10.9.0.2 proto bgp metric 20",
    "route add 198.51.100.0/24 via 10.9.0.2 proto bgp metric 20",
    "route add 10.99.0.0/24 via 10.9.0.2 proto bgp metric 20",
]


def rm(flags: int, *, nlri: list[str] = (), withdrawn: list[str] = ()) -> bytes:  # type: ignore[assignment]
    update = bgp.build_update(
        withdrawn=bgp.nlri(list(withdrawn)),
        attributes=ATTRS if nlri else [],
        nlri=bgp.nlri(list(nlri)),
    )
    return bmp.build_route_monitoring(update, flags=flags, **A)


def stream(pre_announces: bool = True) -> bytes:
    out = bmp.build_initiation() + bmp.build_peer_up(local_address="10.9.0.1", **A)
    pre = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
    if pre_announces:
        out += rm(0, nlri=pre)
    else:  # FRR without soft-reconfiguration inbound: pre-policy only withdraws
        out += rm(0, withdrawn=pre)
    out += rm(POST, nlri=["192.0.2.0/24"])
    out += rm(POST, withdrawn=["198.51.100.0/24", "203.0.113.0/24"])
    return out


def counts(fib: FibReconciler) -> dict[str, int]:
    return {k: v for k, v in fib.tracker.counts().get((1, 254), {}).items() if v}


def metric(fib: FibReconciler) -> list[str]:
    reg = CollectorRegistry()
    reg.register(FibCollector(fib))
    return [
        line
        for line in generate_latest(reg).decode().splitlines()
        if line.startswith("bmp_view_inconsistencies_total")
    ]


def run(fns: FibNs, pre_announces: bool, body: Callable[..., object], **cfg: object) -> None:
    core = Core()
    fib = FibReconciler(FibConfig(grace=GRACE, interval=0.05, **cfg), core)  # type: ignore[arg-type]
    session = core.open_session("127.0.0.1", 40000)
    bmp_session = BmpSession()

    def send(data: bytes) -> None:
        for ev in bmp_session.feed(data):
            session.handle(ev)

    async def main() -> None:
        await fib.start()
        # at once: before the reconciler's first pass knows the router and its view
        send(stream(pre_announces))
        try:
            await fib.wait_synced()
            await body(fib, core, send)  # type: ignore[misc]
        finally:
            await fib.stop()

    run_async_in_ns(fns.ns.name, main)


@pytest.fixture
def fns(fns: FibNs) -> FibNs:
    fns.batch(KERNEL)
    return fns


SETTLED = {"in_sync": 1, "extra": 1, "bmp_inconsistent": 1}


@pytest.mark.parametrize("pre_announces", [True, False], ids=["pre-announces", "pre-withdraws"])
def test_inconsistent_not_drift_then_consistent_again(fns: FibNs, pre_announces: bool) -> None:
    async def body(fib: FibReconciler, core: Core, send: Callable[[bytes], None]) -> None:
        await until(lambda: counts(fib) == SETTLED, 5, f"{SETTLED}, have {counts(fib)}")
        d = diff_view(fib)
        rows = {r["prefix"]: r for r in d["drift"]}
        assert {p: r["state"] for p, r in rows.items()} == {
            "198.51.100.0/24": "bmp_inconsistent",
            "10.99.0.0/24": "extra",
        }
        ev = rows["198.51.100.0/24"]["evidence"]
        assert (ev["peer"], ev["view"], ev["said"]) == (
            "10.9.0.2",
            "adj_in_post",
            "withdraw_never_announced",
        )
        said = "announces" if pre_announces else "all_withdrawals"
        assert ev["other_views"] == [
            {"view": "adj_in_pre", "peer": "10.9.0.2", "said": said},
            {"view": "kernel", "said": "holds"},
        ]
        assert "evidence" not in rows["10.99.0.0/24"]
        t = d["tables"][0]
        assert t["kernel"] == t["in_sync"] + t["extra"] + t["bmp_inconsistent"] == 3
        # not drift: no drift event for it
        assert dict(fib.tracker.events) == {(1, "extra"): 1}
        lines = metric(fib)
        pre_unknown = 0 if pre_announces else 3
        want = [
            'bmp_view_inconsistencies_total{kind="withdraw_never_announced",'
            'peer="10.9.0.2",router="127.0.0.1",view="adj_in_post"} 2.0',
            'bmp_view_inconsistencies_total{kind="kernel_holds_withdrawn_route",'
            'peer="10.9.0.2",router="127.0.0.1",view="adj_in_post"} 1.0',
        ]
        if pre_unknown:
            want.insert(
                0,
                'bmp_view_inconsistencies_total{kind="withdraw_never_announced",'
                'peer="10.9.0.2",router="127.0.0.1",view="adj_in_pre"} 3.0',
            )
        assert sorted(lines) == sorted(want)
        # the health check names it
        res = evaluate(core, HealthConfig(), evidence=fib).results["bmp_feed_inconsistent"]
        (f,) = res.findings
        assert (f.router, f.peer) == ("127.0.0.1", "10.9.0.2")
        assert f.details["bmp_inconsistent"] == {"ipv4": 1}
        if not pre_announces:
            assert f.details["all_withdrawals"] == ["adj_in_pre"]

        # post-policy announces it at last: consistent, in sync
        send(rm(POST, nlri=["198.51.100.0/24"]))
        want2 = {"in_sync": 2, "extra": 1}
        await until(lambda: counts(fib) == want2, 5, f"{want2}, have {counts(fib)}")
        assert fib.evidence.tables[(1, None)] == {} or all(
            p != bytes((24, 198, 51, 100)) for p in fib.evidence.tables[(1, None)]
        )
        res = evaluate(core, HealthConfig(), evidence=fib).results["bmp_feed_inconsistent"]
        assert [bool(f.details.get("bmp_inconsistent")) for f in res.findings] == (
            [] if pre_announces else [False]
        )

        # a post-policy withdrawal of the stale route nobody announced: no other
        # view shows it, so it stays extra; unless pre-policy only withdraws (it
        # cannot confirm anything then: the feed, not the kernel, is suspect)
        send(rm(POST, withdrawn=["10.99.0.0/24"]))
        await asyncio.sleep(GRACE + 0.3)
        assert counts(fib) == (want2 if pre_announces else {"in_sync": 2, "bmp_inconsistent": 1})

    run(fns, pre_announces, body)


def test_evidence_is_bounded_per_peer(fns: FibNs) -> None:
    async def body(fib: FibReconciler, core: Core, send: Callable[[bytes], None]) -> None:
        # room for one: 198.51.100.0/24 (first withdrawn) is kept, 203.0.113.0/24 counted
        await until(lambda: counts(fib) == SETTLED, 5, f"{SETTLED}, have {counts(fib)}")
        assert len(fib.evidence.tables[(1, None)]) == 1
        assert diff_view(fib)["evidence_dropped"] == {"10.9.0.2": 1}
        # a Peer Down clears the peer's tables: its evidence is stale
        send(bmp.build_peer_down(2, fsm_event=0, **A))
        assert [p.state for p in core.routers["127.0.0.1"].peers.values()] == ["down"]
        await until(lambda: counts(fib) == {"extra": 3}, 5, f"extra 3, have {counts(fib)}")
        assert fib.evidence.tables[(1, None)] == {}

    run(fns, True, body, evidence_max=1)


def fib_diff(api: str, *extra: str) -> tuple[int, str]:
    return run_cmd(fib_cmd, "fib-diff", "--api", api, *extra)


def test_daemon_hands_the_fib_evidence_to_the_health_check(fns: FibNs) -> None:
    """``agent.app`` wires the ``fib`` component into the ``health`` component
    (neither imports the other): ``/api/v1/health`` and ``bmp_health_check``
    of a real daemon name the bmp_inconsistent prefix; ``fib-diff`` lists it
    under its own state."""

    async def main() -> None:
        with capture_logs():
            d = build_daemon(loopback_config(fib={"grace": GRACE, "interval": 0.05}))
            fib = d.component("fib")
            assert isinstance(fib, FibReconciler)
            async with serving(d) as base:
                session = d.core.open_session("127.0.0.1", 40000)
                for ev in BmpSession().feed(stream(True)):
                    session.handle(ev)
                await until(lambda: counts(fib) == SETTLED, 5, f"{SETTLED}, have {counts(fib)}")
                async with aiohttp.ClientSession(base_url=base) as s:
                    async with s.get("/api/v1/health") as r:
                        doc = await r.json()
                    async with s.get("/metrics") as r:
                        text = await r.text()
                    async with s.get("/api/v1/fib/diff?state=bmp_inconsistent") as r:
                        diff = await r.json()
                (check,) = [c for c in doc["checks"] if c["check"] == "bmp_feed_inconsistent"]
                assert (check["status"], check["evaluated"], check["firing"]) == ("firing", 1, 1)
                (finding,) = check["findings"]
                assert finding["found"] == (
                    "1 routes the kernel holds were withdrawn in adj_in_post without ever "
                    "being announced there, while another view shows them"
                )
                assert finding["details"] == {"bmp_inconsistent": {"ipv4": 1}}
                assert (
                    'bmp_health_check{check="bmp_feed_inconsistent",peer="10.9.0.2",'
                    'router="127.0.0.1",severity="warning"} 1.0'
                ) in text.splitlines()
                assert [(x["prefix"], x["state"]) for x in diff["drift"]] == [
                    ("198.51.100.0/24", "bmp_inconsistent")
                ]
                # fib-diff: its own column; drift (10.99.0.0/24 extra) still exits 3
                code, out = await asyncio.to_thread(fib_diff, base)
                assert code == fib_cmd.EXIT_DRIFT
                lines = out.splitlines()
                head = next(x for x in lines if x.startswith("AFI"))
                assert "NH MISMATCH  BMP INCONSISTENT  PENDING" in head
                row = next(x for x in lines if x.startswith("ipv4"))
                assert row.split() == ["ipv4", "main", "1", "3", "1", "0", "1", "0", "1", "0"]
                rows = [x.split()[:3] for x in lines if x.startswith(("10.", "198."))]
                # prefix order (the paged API's stable order: length, then address)
                assert rows == [
                    ["10.99.0.0/24", "main", "extra"],
                    ["198.51.100.0/24", "main", "bmp_inconsistent"],
                ]
                # only the feed defect: not drift, exit 0
                code, out = await asyncio.to_thread(fib_diff, base, "--state", "bmp_inconsistent")
                assert code == 0, out

    run_async_in_ns(fns.ns.name, main)
