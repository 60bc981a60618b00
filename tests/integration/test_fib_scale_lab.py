"""FIB truth at scale: real speakers write 120,000 routes into the kernel and
the agent, run with built-in defaults in the speaker's namespace, accounts for
every one of them (issue 22).

ExaBGP peer A (one IPv4 session, 10.0.1.2 → 10.0.1.1) announces 100,000
IPv4 /26 (next hop 10.0.1.2) and 20,000 IPv6 /56 (next hop fd00:1::2)
(``fib_scale_support``). Per speaker the settled ``/api/v1/fib/diff`` must
hold every kernel route in exactly one state:
``kernel = in_sync + extra + nexthop_mismatch + bmp_inconsistent``, with no
``extra``, ``missing`` or ``nexthop_mismatch`` on a healthy node.

* FRR 8.4 + zebra, BMP pre+post (``soft-reconfiguration inbound``), the
  agent up before the routes arrive (live feed). FRR sends, for the first
  IPv6 prefixes whose next hop zebra had not resolved yet, a post-policy
  withdrawal of a route it never announced there, and never announces them
  afterwards: those prefixes must be ``bmp_inconsistent``, exactly as many as
  the post-policy view lacks, and nothing else may differ. Then a real drift
  behind zebra's back (zebra stopped): 1,000 kernel routes deleted, 100 next
  hops changed → exactly 1,000 ``missing`` and 100 ``nexthop_mismatch``.
* FRR 8.4 without ``soft-reconfiguration inbound`` (pre-policy is all
  withdrawals), and the agent started only after FRR holds the table (the
  initial dump, with FRR's Peer Down for the never-up neighbor): still no
  false drift.
* BIRD 3 with ``protocol kernel`` (proto bird).
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from fib_scale_support import (
    CHUNK4,
    CHUNK6,
    N4,
    N6,
    Agent,
    announce_bulk,
    batch,
    counts,
    kernel_routes,
    metric_lines,
    v4_prefixes,
    v6_prefixes,
    wait_counts,
    wait_kernel,
    withdraw_bulk,
)
from lab import (
    INJ_A2_V4,
    INJ_A_V4,
    INJ_B2_V6,
    INJ_B_V6,
    BmpTarget,
    ExaBgp,
    LabTopology,
    Neighbor,
    SpeakerConfig,
    lab_peers,
    make_speaker,
    require,
)

pytestmark = pytest.mark.lab

ROUTER = "127.0.0.1"
PEER = INJ_A_V4
GRACE = 5.0  # fib.grace default
NEVER_UP = Neighbor("10.0.1.99", 65099, passive=True, name="never_up")


def scale_config(**kw: Any) -> SpeakerConfig:
    return SpeakerConfig(
        neighbors=(Neighbor(INJ_A_V4, 65001, name="peerA"), NEVER_UP),
        collectors=(BmpTarget("127.0.0.1", 11019),),
        kernel_export=True,
        **kw,
    )


def load_table(inj: ExaBgp) -> tuple[list[str], list[str]]:
    p4, p6 = v4_prefixes(), v6_prefixes()
    announce_bulk(inj, "A", p4, INJ_A_V4, CHUNK4)
    announce_bulk(inj, "A", p6, INJ_B_V6, CHUNK6)
    return p4, p6


def view_routes(agent: Agent, view: str, afi: str) -> int:
    """bmp_rib_routes of peer A in ``view`` (the agent's own count of the RIB)."""
    got = metric_lines(agent, "bmp_rib_routes")
    n = 0
    for labels, v in got.items():
        if f'peer="{PEER}"' in labels and f'view="{view}"' in labels and f'afi="{afi}"' in labels:
            n += int(v)
    return n


def assert_accounted(d: dict[str, Any]) -> None:
    """Every kernel route in exactly one state; every expected route too."""
    for t in d["tables"]:
        if t["table"] != "main":
            continue
        assert t["kernel"] == (
            t["in_sync"] + t["extra"] + t["nexthop_mismatch"] + t["bmp_inconsistent"]
        ), t
        assert t["expected"] == t["in_sync"] + t["missing"] + t["nexthop_mismatch"], t


def settle_healthy(agent: Agent, n6_post: int, timeout: float) -> dict[str, Any]:
    """Wait for the healthy settled state; ``n6_post`` IPv6 routes in post-policy."""
    inc = N6 - n6_post
    want = {
        "ipv4": {"expected": N4, "kernel": N4, "in_sync": N4},
        "ipv6": {"expected": n6_post, "kernel": N6, "in_sync": n6_post},
    }
    if inc:
        want["ipv6"]["bmp_inconsistent"] = inc
    _, d = wait_counts(agent, want, timeout=timeout, what="the settled FIB diff")
    assert_accounted(d)
    return d


def check_inconsistent(agent: Agent, inc: int, said: str) -> None:
    """The bmp_inconsistent prefixes with their evidence, their counter and the
    health check; ``said``: what FRR's pre-policy view shows for them."""
    rows = agent.diff("?state=bmp_inconsistent")["drift"]
    assert len(rows) == inc
    for r in rows:
        assert r["state"] == "bmp_inconsistent"
        assert r["afi"] == "ipv6"
        assert r["expected"] == []
        assert r["actual"][0].split()[0] == INJ_B_V6
        ev = r["evidence"]
        assert (ev["peer"], ev["view"], ev["said"]) == (
            PEER, "adj_in_post", "withdraw_never_announced"
        )  # fmt: skip
        assert isinstance(ev["at"], float)
        assert ev["other_views"] == [
            {"view": "adj_in_pre", "peer": PEER, "said": said},
            {"view": "kernel", "said": "holds"},
        ]
    got = metric_lines(agent, "bmp_view_inconsistencies_total")
    key = (
        f'{{kind="kernel_holds_withdrawn_route",peer="{PEER}",router="{ROUTER}",'
        'view="adj_in_post"}'
    )
    assert got.get(key, 0) == inc
    fired = _feed_check(agent)
    if inc:
        assert fired[(ROUTER, PEER)]["details"]["bmp_inconsistent"] == {"ipv6": inc}
    else:
        assert "bmp_inconsistent" not in fired.get((ROUTER, PEER), {"details": {}})["details"]


def drift_routes(
    agent: Agent, state: str, afi: str | None = None, limit: int = 2000
) -> list[dict[str, Any]]:
    q = f"?state={state}&limit={limit}" + (f"&afi={afi}" if afi else "")
    return list(agent.diff(q)["drift"])


@pytest.mark.parametrize("soft", [True, False], ids=["softreconf", "nosoftreconf"])
def test_frr_scale_live_feed(soft: bool, lab_topo: LabTopology) -> None:
    """FRR + zebra, agent first, the table arrives live. With soft-reconfiguration:
    then a real drift at scale. Without (pre-policy is all withdrawals): then a
    10,000-route withdrawal burst."""
    require("frr", "exabgp")
    lab = lab_topo
    spk = lab.spk
    agent = Agent(spk, lab.workdir)
    speaker = make_speaker("frr", spk, lab.workdir, scale_config(soft_reconfiguration=soft)).start()
    inj = ExaBgp(lab.inj, lab.workdir, lab_peers()[:1]).start()
    zebra = speaker.procs[0]
    try:
        speaker.wait_established([INJ_A_V4], timeout=40)
        t0 = time.monotonic()
        p4, p6 = load_table(inj)
        wait_kernel(spk, "bgp", N4, N6, timeout=240, describe=agent.tail)
        loaded = time.monotonic() - t0
        # the agent holds what FRR sent in post-policy: the IPv6 routes FRR
        # withdrew there without announcing them are what it lacks
        t1 = time.monotonic()
        n6_post = _settled_post_count(agent, "ipv6")
        assert view_routes(agent, "adj_in_post", "ipv4") == N4
        assert view_routes(agent, "adj_in_pre", "ipv4") == (N4 if soft else 0)
        assert view_routes(agent, "adj_in_pre", "ipv6") == (N6 if soft else 0)
        d = settle_healthy(agent, n6_post, timeout=60)
        settled = time.monotonic() - t1
        inc = N6 - n6_post
        assert d["router"] == ROUTER and d["view"] == "adj_in_post"
        said = "announces" if soft else "all_withdrawals"
        check_inconsistent(agent, inc, said)
        health = _feed_check(agent)
        if not soft:
            # the pre-policy feed only withdraws: named as such
            assert health[(ROUTER, PEER)]["details"]["all_withdrawals"] == ["adj_in_pre"]
        print(f"frr live (soft-reconfiguration {soft}): loaded {loaded:.1f}s, "
              f"settled {settled:.1f}s later, bmp_inconsistent {inc}")  # fmt: skip
        if soft:
            inject_drift(agent, lab, zebra, p4, p6, n6_post, inc)
        else:
            # 10,000 withdrawals at once: FRR removes them from the kernel; the
            # pre-policy withdrawals of never-announced routes change nothing
            withdraw_bulk(inj, "A", p4[:10000], INJ_A_V4, CHUNK4)
            wait_kernel(spk, "bgp", N4 - 10000, N6, timeout=120, describe=agent.tail)
            want = {
                "ipv4": {"expected": N4 - 10000, "kernel": N4 - 10000, "in_sync": N4 - 10000},
                "ipv6": {"expected": n6_post, "kernel": N6, "in_sync": n6_post},
            }
            if inc:
                want["ipv6"]["bmp_inconsistent"] = inc
            _, d = wait_counts(agent, want, timeout=60, what="in sync after the burst")
            assert_accounted(d)
            got = metric_lines(agent, "bmp_view_inconsistencies_total")
            key = (
                f'{{kind="withdraw_never_announced",peer="{PEER}",router="{ROUTER}",'
                'view="adj_in_pre"}'
            )
            assert got[key] >= N4 + N6 + 10000  # every pre-policy message withdraws
    finally:
        inj.stop()
        speaker.stop()
        agent.stop()


def inject_drift(
    agent: Agent, lab: LabTopology, zebra: Any, p4: list[str], p6: list[str], n6_post: int, inc: int
) -> None:
    """Zebra stopped (it would repair its routes at once): 900 IPv4 + 100 IPv6
    deleted, 50 + 50 next hops changed → exactly that, within the grace period."""
    spk = lab.spk
    gone4, gone6 = p4[-900:], p6[-100:]
    moved4, moved6 = p4[1000:1050], p6[10000:10050]
    zebra.send_signal(signal.SIGSTOP)
    try:
        lines = [f"route del {p} proto bgp" for p in gone4 + gone6]
        lines += [f"route replace {p} via {INJ_A2_V4} proto bgp metric 20" for p in moved4]
        lines += [f"route replace {p} via {INJ_B2_V6} proto bgp metric 20" for p in moved6]
        t1 = time.monotonic()
        batch(spk, lab.workdir, lines, "drift")
        want = {
            "ipv4": {"expected": N4, "kernel": N4 - 900, "in_sync": N4 - 950,
                     "missing": 900, "nexthop_mismatch": 50},
            "ipv6": {"expected": n6_post, "kernel": N6 - 100,
                     "in_sync": n6_post - 150, "missing": 100, "nexthop_mismatch": 50},
        }  # fmt: skip
        if inc:
            want["ipv6"]["bmp_inconsistent"] = inc
        _, d = wait_counts(agent, want, timeout=GRACE + 10, what="the injected drift")
        print(f"drift reported {time.monotonic() - t1:.1f}s after the change (grace {GRACE})")
        assert_accounted(d)
        missing = {r["prefix"] for r in drift_routes(agent, "missing")}
        assert missing == set(gone4) | set(gone6)
        mm = drift_routes(agent, "nexthop_mismatch")
        assert {r["prefix"] for r in mm} == set(moved4) | set(moved6)
        for r in mm:
            v6 = ":" in r["prefix"]
            want_nh, got_nh = (INJ_B_V6, INJ_B2_V6) if v6 else (INJ_A_V4, INJ_A2_V4)
            assert (r["expected"], r["actual"][0].split()[0]) == ([want_nh], got_nh)
        # the kernel as ``ip -j route show`` lists it, in the same state
        k4 = kernel_routes(spk, "-4", "bgp")
        k6 = kernel_routes(spk, "-6", "bgp")
        assert (len(k4), len(k6)) == (N4 - 900, N6 - 100)
        moved = {r["dst"]: r.get("gateway") for r in k4 + k6 if r["dst"] in set(moved4 + moved6)}
        assert set(moved.values()) == {INJ_A2_V4, INJ_B2_V6}
        metrics = metric_lines(agent, "bmp_fib_routes")
        assert metrics['{afi="ipv4",router="127.0.0.1",state="missing",table="main"}'] == 900
        if inc:
            assert (
                metrics['{afi="ipv6",router="127.0.0.1",state="bmp_inconsistent",table="main"}']
                == inc
            )
    finally:
        zebra.send_signal(signal.SIGCONT)


def test_bird_scale(lab_topo: LabTopology) -> None:
    """BIRD 3 with ``protocol kernel`` (proto bird): the agent first (BIRD sends
    nothing for sessions up before its BMP session), then BIRD, then ExaBGP."""
    require("bird", "exabgp")
    lab = lab_topo
    spk = lab.spk
    agent = Agent(spk, lab.workdir)
    speaker = make_speaker("bird", spk, lab.workdir, scale_config(stats_interval=0)).start()
    inj = ExaBgp(lab.inj, lab.workdir, lab_peers()[:1]).start()
    try:
        speaker.wait_established([INJ_A_V4], timeout=40)
        t0 = time.monotonic()
        load_table(inj)
        wait_kernel(spk, "bird", N4, N6, timeout=240, describe=agent.tail)
        loaded = time.monotonic() - t0
        t1 = time.monotonic()
        n6_post = _settled_post_count(agent, "ipv6")
        assert n6_post == N6
        d = settle_healthy(agent, n6_post, timeout=60)
        assert d["view"] == "adj_in_post"
        check_inconsistent(agent, 0, "announces")
        print(f"bird: loaded {loaded:.1f}s, settled {time.monotonic() - t1:.1f}s later")
    finally:
        inj.stop()
        speaker.stop()
        agent.stop()


def _feed_check(agent: Agent) -> dict[tuple[str, str], dict[str, Any]]:
    health = agent.get("/api/v1/health")
    (check,) = [c for c in health["checks"] if c["check"] == "bmp_feed_inconsistent"]
    return {(f["router"], f["peer"]): f for f in check["findings"]}


def _settled_post_count(agent: Agent, afi: str, quiet: float = 3.0) -> int:
    """The post-policy route count once it stopped changing for ``quiet`` s."""
    last = (-1, time.monotonic())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        n = view_routes(agent, "adj_in_post", afi)
        if n != last[0]:
            last = (n, time.monotonic())
        elif time.monotonic() - last[1] >= quiet:
            return n
        time.sleep(0.5)
    raise AssertionError(f"post-policy {afi} count did not settle: {last[0]}")


__all__ = ["counts"]
