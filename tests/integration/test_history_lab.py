"""Per-prefix history and convergence with real FRR 8.4 + zebra, fed by ExaBGP.

The agent runs in the speaker's namespace (as in ``test_fib_lab``), so FRR is
its local router and zebra's kernel routes are what the FIB reconciler reads.
Peer A (AS 65001) and peer B (AS 65002) announce the same IPv6 prefixes; A's
path is shorter, so FRR installs A's next hop (fd00:1::3). The test then
withdraws them from A: FRR moves to B (fd00:1::2) and zebra replaces the
kernel routes.

Asserted: the history of a prefix shows, in this order, A's withdraw, the
best-path change to B and the kernel next-hop change; every kernel change the
test sees on ``ip monitor route`` is in the history; ``bmp_convergence_seconds``
records one rib and one fib observation whose values lie between the
timestamps the test took itself (its clock before the withdraw, ``ip monitor``'s
timestamps of the kernel changes, its clock once the agent reported the
episode done).
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lab import INJ_A_V4, INJ_B2_V6, INJ_B_V6, LabTopology, Namespace, require, wait_until
from lab.agent import http_get, start_local_speaker
from test_fib_lab import Agent


class HistoryAgent(Agent):
    """``test_fib_lab``'s agent with the default netlink buffer (its 4 KiB one
    forces resyncs, which replace the kernel state without per-route events)
    and a short convergence settle time."""

    def __init__(self, ns: Namespace, workdir: Path) -> None:
        self._env = {
            "BMP_AGENT_FIB_RCVBUF": str(4 << 20),
            "BMP_AGENT_HISTORY_ENABLED": "true",
            "BMP_AGENT_HISTORY_SETTLE": "1.0",
        }
        super().__init__(ns, workdir)


pytestmark = pytest.mark.lab

PREFIXES = [f"2001:db8:{0x100 + i:x}::/48" for i in range(8)]
WARM_UP = "2001:db8:ff::/48"
#: ``ip -tshort monitor``: ``[2026-12-03T09:40:01.123456] 2001:db8:100::/48 ... via fd00:1::2 ...``
MONITOR_LINE = re.compile(
    r"^\[(?P<ts>[0-9T:.\-]+)\]\s+(?:Deleted\s+)?(?P<prefix>\S+)\s(?P<rest>.*)$"
)


def monitor_changes(log: Path) -> list[tuple[float, str, str]]:
    """(time, prefix, next hop) of every route line ``ip monitor`` printed."""
    out = []
    for line in log.read_text().splitlines():
        m = MONITOR_LINE.match(line.strip())
        if m is None or m["prefix"] not in PREFIXES:
            continue
        via = re.search(r"\bvia (?:inet6 )?(\S+)", m["rest"])
        ts = datetime.datetime.fromisoformat(m["ts"]).timestamp()  # local time, as ip prints it
        out.append((ts, m["prefix"], via.group(1) if via else ""))
    return out


def test_withdraw_history_and_convergence_to_the_kernel(lab_topo: LabTopology) -> None:
    require("frr", "exabgp")
    lab = lab_topo
    spk = lab.spk
    agent = HistoryAgent(spk, lab.workdir)
    speaker, injector = start_local_speaker(lab, "frr")
    monitor: subprocess.Popen[bytes] | None = None
    try:
        speaker.wait_established([INJ_A_V4, INJ_B_V6], timeout=40)
        # FRR 8.4 reports the first route with a new third-party next hop as a
        # post-policy withdrawal (the next hop is not resolved yet) and never
        # re-sends it: one warm-up route through fd00:1::3 first.
        injector.announce("A", WARM_UP, next_hop=INJ_B2_V6, as_path=[65001])
        wait_until(
            lambda: any(
                r.get("dst") == WARM_UP
                for r in json.loads(spk.run(["ip", "-j", "-6", "route", "show"]).stdout)
            ),
            timeout=40,
            what="the warm-up route installed",
        )
        injector.announce_many("A", PREFIXES, next_hop=INJ_B2_V6, as_path=[65001])
        injector.announce_many("B", PREFIXES, as_path=[65002, 65002, 65002])

        def installed_via(hop: str) -> bool:
            agent.alive()
            out = json.loads(spk.run(["ip", "-j", "-6", "route", "show", "proto", "bgp"]).stdout)
            gw = {r.get("dst"): r.get("gateway") for r in out}
            return all(gw.get(p) == hop for p in PREFIXES)

        wait_until(lambda: installed_via(INJ_B2_V6), timeout=40, what="A's next hop installed")

        def in_sync() -> bool:
            d = agent.diff()
            return (
                d["synced"]
                and not d["drift"]
                and any(t["afi"] == "ipv6" and t["in_sync"] >= len(PREFIXES) for t in d["tables"])
            )

        wait_until(
            in_sync,
            timeout=30,
            what="the agent in sync",
            describe=lambda: (
                str(agent.diff())
                + str(http_get(spk, "/api/v1/routes?prefix=2001:db8:100::/48"))
                + str(http_get(spk, "/api/v1/history?prefix=2001:db8:100::/48"))
            ),
        )

        mlog = lab.workdir / "ip-monitor.log"
        monitor = spk.popen(["ip", "-6", "-tshort", "monitor", "route"], log=mlog)
        time.sleep(0.5)  # ip monitor subscribed
        t_send = time.time()
        injector.withdraw_many("A", PREFIXES)
        wait_until(lambda: installed_via(INJ_B_V6), timeout=30, what="B's next hop installed")

        def episode_done() -> bool:
            last = http_get(spk, "/api/v1/convergence")["last"]
            return bool(last) and last["trigger"] == "withdraw" and last["done"]

        wait_until(
            episode_done, timeout=60, what="the convergence episode done", describe=agent.tail
        )
        t_done = time.time()
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(5)
        changes = [c for c in monitor_changes(mlog) if c[2] == INJ_B_V6]
        assert sorted({p for _t, p, _h in changes}) == sorted(PREFIXES)
        k_first = min(t for t, _p, _h in changes)

        last = http_get(spk, "/api/v1/convergence")["last"]
        assert (last["router"], last["peer"], last["trigger"]) == (
            "127.0.0.1",
            INJ_A_V4,
            "withdraw",
        )
        assert last["prefixes"] == len(PREFIXES)
        assert last["best_path_changes"] == len(PREFIXES)
        rib, fib = last["rib"], last["fib"]
        assert fib is not None and not fib["timed_out"]
        assert t_send <= last["start"] <= rib["end"] <= fib["end"] <= t_done
        # the kernel cannot have matched before zebra started changing it; the
        # agent and ip monitor read the same multicast notifications, in no
        # defined order between the two processes (50 ms for that)
        assert k_first - 0.05 <= fib["end"]
        assert 0 <= rib["seconds"] <= fib["seconds"] <= t_done - t_send
        assert fib["seconds"] == pytest.approx(fib["end"] - last["start"])
        assert sorted(p["prefix"] for p in fib["converged_last"]) == sorted(PREFIXES)

        kernel_times = []
        for prefix in PREFIXES:
            hist = http_get(spk, f"/api/v1/history?prefix={prefix}&since={t_send!r}")
            steps = [
                (e["event"], e["peer"], e["view"])
                for e in hist["events"]
                if e["event"] in ("withdraw", "best_path_change", "fib_nexthop_change")
            ]
            post = ("withdraw", INJ_A_V4, "adj_in_post")
            assert post in steps, steps
            i = steps.index(post)
            j = steps.index(("best_path_change", INJ_B_V6, "adj_in_post"))
            k = steps.index(("fib_nexthop_change", "", "kernel"))
            assert i < j < k, steps
            best = next(e for e in hist["events"] if e["event"] == "best_path_change")
            assert best["old"]["peer"] == INJ_A_V4 and best["new"]["peer"] == INJ_B_V6
            assert best["new"]["next_hop"] == INJ_B_V6
            kern = [e for e in hist["events"] if e["event"] == "fib_nexthop_change"]
            assert kern[-1]["next_hops"][0].startswith(INJ_B_V6 + " dev ")
            assert kern[-1]["old_next_hops"][0].startswith(INJ_B2_V6 + " dev ")
            assert t_send <= kern[-1]["time"] <= t_done
            kernel_times.append(kern[-1]["time"])
            # each kernel change ip monitor saw for the prefix is one history event
            seen = [c for c in monitor_changes(mlog) if c[1] == prefix]
            assert len(kern) <= len(seen)

        # the fib stage ends at the agent's own last kernel event of the prefixes
        assert fib["end"] == max(max(kernel_times), rib["end"])
        metrics = http_get(spk, "/metrics")
        assert 'bmp_convergence_seconds_count{router="127.0.0.1",stage="rib"} 1.0' in metrics
        assert 'bmp_convergence_seconds_count{router="127.0.0.1",stage="fib"} 1.0' in metrics
        m = re.search(
            r'bmp_convergence_seconds_sum\{router="127.0.0.1",stage="fib"\} (\S+)', metrics
        )
        assert m is not None and float(m.group(1)) == pytest.approx(fib["seconds"])
    finally:
        if monitor is not None and monitor.poll() is None:
            monitor.kill()
        injector.stop()
        speaker.stop()
        agent.stop()
