"""FIB reconciliation with real speakers: FRR 8.4 (zebra installs, proto bgp,
nexthop objects) and BIRD 3 (``protocol kernel``, proto bird), each in the
lab's speaker namespace with ExaBGP injecting and the agent running *in the
same namespace* (``ip netns exec``) without any capability (and as user
nobody where the Python environment allows it).

The speaker sends BMP to the agent on 127.0.0.1, so the agent finds it as
the local router. Peer A (AS 65001, next hop 10.0.1.2 / fd00:1::2) announces
4 IPv4 and 2 IPv6 prefixes; both announce 2001:db8:5::/48, B with a
shorter AS path, so B's next hop is selected for it. Then, step by step: all in sync; ``ip route del`` → missing 1 within
grace + 2 s; ``ip route add ... proto bgp`` → extra 1; ``ip route replace``
with another next hop → nexthop_mismatch 1; withdrawals at the injector →
the speaker removes the routes → all in sync; an event storm while the agent
is stopped (SIGSTOP) overflows its 4 KiB netlink buffer → a resync (ENOBUFS)
and the exact final state.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fib_scale_support import wait_counts
from lab import BMP_PORT, LabError, LabTopology, Namespace, require
from lab.agent import HTTP_PORT, REPO, LabAgent, http_get, start_local_speaker
from lab.netns import INJ_A2_V4, INJ_A_V4, INJ_B2_V6, INJ_B_V6

pytestmark = pytest.mark.lab

GRACE = 1.0

A4 = ["192.0.2.0/26", "192.0.2.64/26", "198.51.100.0/25", "10.244.1.0/24"]
A6 = ["2001:db8:1::/48", "2001:db8:2::/48"]
#: announced by A (next hop fd00:1::3) and by B with a shorter AS path: B's
#: next hop wins. (FRR 8.4 sends no post-policy Route Monitoring for an IPv4
#: route whose next hop is not the sending peer's own address, e.g. 10.0.1.3
#: from peer B, so B's IPv4 next hops stay the lab default.)
SHARED = "2001:db8:5::/48"


def unprivileged_python_works(ns: Namespace) -> bool:
    code = "import aiohttp, construct, prometheus_client, structlog, yaml"
    proc = subprocess.run(
        [*ns.argv(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]),
         sys.executable, "-c", code],
        capture_output=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    return proc.returncode == 0


class Agent(LabAgent):
    """``bmp-agent run`` in the speaker's namespace with no capabilities, started."""

    def __init__(self, ns: Namespace, workdir: Path) -> None:
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
        self.as_nobody = unprivileged_python_works(ns)
        if self.as_nobody:
            drop += ["--reuid", "65534", "--regid", "65534", "--clear-groups"]
        env = {
            "BMP_AGENT_FIB_GRACE": str(GRACE),
            "BMP_AGENT_FIB_INTERVAL": "0.2",
            "BMP_AGENT_FIB_RCVBUF": "4096",
            **getattr(self, "_env", {}),
        }
        argv = [
            "--bmp-listen", f"127.0.0.1:{BMP_PORT}",
            "--http-listen", f"127.0.0.1:{HTTP_PORT}",
            "--log-format", "json",
        ]  # fmt: skip
        super().__init__(ns, workdir / "agent.log", argv, env, prefix=drop)
        self.start()

    def capabilities(self) -> tuple[int, int]:
        """(effective uid, effective capability mask) of the agent process."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["Uid"].split()[1]), int(fields["CapEff"].strip(), 16)


def wait_summary(agent: Agent, want: dict[str, dict[str, int]], timeout: float, what: str) -> float:
    def routes() -> str:
        try:
            return f"routes of {SHARED}: {http_get(agent.ns, f'/api/v1/routes?prefix={SHARED}')}"
        except LabError as exc:
            return str(exc)

    took, _ = wait_counts(agent, want, timeout, what, describe=routes)
    return took


def kernel_route(ns: Namespace, prefix: str) -> dict[str, Any]:
    fam = "-6" if ":" in prefix else "-4"
    out = json.loads(ns.run(["ip", "-j", fam, "route", "show", prefix]).stdout or "[]")
    assert len(out) == 1, out
    route = out[0]
    assert isinstance(route, dict)
    return route


@pytest.fixture
def agent(lab_topo: LabTopology) -> Iterator[Agent]:
    a = Agent(lab_topo.spk, lab_topo.workdir)
    try:
        yield a
    finally:
        a.stop()


@pytest.mark.parametrize("kind", ["frr", "bird"])
def test_fib_reconciliation(kind: str, lab_topo: LabTopology, agent: Agent) -> None:
    require(kind, "exabgp")
    lab = lab_topo
    spk = lab.spk
    uid, caps = agent.capabilities()
    assert caps == 0
    if agent.as_nobody:
        assert uid == 65534
    proto = "bgp" if kind == "frr" else "bird"
    n4, n6 = len(A4), len(A6) + 1
    speaker, injector = start_local_speaker(lab, kind)
    paused: list[subprocess.Popen[bytes]] = []
    try:
        speaker.wait_established([INJ_A_V4, INJ_B_V6], timeout=40)
        injector.announce_many("A", A4 + A6, as_path=[65001, 4200000001])
        # A's path to SHARED (third-party next hop fd00:1::3) is longer than B's
        injector.announce("A", SHARED, next_hop=INJ_B2_V6, as_path=[65001, 4200000001])
        injector.announce("B", SHARED, as_path=[65002])

        # 1. everything the speaker selected is installed, and in sync
        wait_summary(
            agent,
            {
                "ipv4": {"expected": n4, "kernel": n4, "in_sync": n4},
                "ipv6": {"expected": n6, "kernel": n6, "in_sync": n6},
            },
            timeout=40,
            what="all routes installed and in sync",
        )
        d = agent.diff()
        assert d["router"] == "127.0.0.1"
        assert d["view"] == "adj_in_post"
        assert d["drift"] == []
        shared = kernel_route(spk, SHARED)
        assert shared["gateway"] == INJ_B_V6  # B's shorter path won
        assert shared["protocol"] == proto
        if kind == "frr":
            assert "nhid" in shared  # FRR 8.4 installs through nexthop objects

        # The speaker's FIB writer (zebra, bird) repairs its own routes on the
        # next netlink notification (zebra at once): right, but it would hide
        # the drift. It is paused while the test breaks the kernel table.
        writer = speaker.procs[0]
        writer.send_signal(signal.SIGSTOP)
        paused.append(writer)

        # 2. ip route del → missing 1 within grace + 2 s
        spk.run(["ip", "route", "del", A4[0]])
        took = wait_summary(
            agent,
            {
                "ipv4": {"expected": n4, "kernel": n4 - 1, "in_sync": n4 - 1, "missing": 1},
                "ipv6": {"expected": n6, "kernel": n6, "in_sync": n6},
            },
            timeout=GRACE + 2,
            what="missing = 1",
        )
        assert took <= GRACE + 2
        (m,) = agent.diff()["drift"]
        assert (m["prefix"], m["state"], m["expected"], m["actual"]) == (
            A4[0],
            "missing",
            [INJ_A_V4],
            [],
        )

        # 3. a bgp-protocol route BGP does not have → extra 1
        spk.run(["ip", "route", "add", "203.0.113.0/24", "via", INJ_A_V4, "proto", "bgp"])
        wait_summary(
            agent,
            {
                "ipv4": {"expected": n4, "kernel": n4, "in_sync": n4 - 1, "missing": 1, "extra": 1},
                "ipv6": {"expected": n6, "kernel": n6, "in_sync": n6},
            },
            timeout=GRACE + 2,
            what="extra = 1",
        )

        # 4. replace an installed route's next hop → nexthop_mismatch 1
        r = kernel_route(spk, A4[1])
        spk.run(
            ["ip", "route", "replace", A4[1], "via", INJ_A2_V4, "proto", proto,
             "metric", str(r.get("metric", 0))]
        )  # fmt: skip
        wait_summary(
            agent,
            {
                "ipv4": {
                    "expected": n4, "kernel": n4, "in_sync": n4 - 2,
                    "missing": 1, "extra": 1, "nexthop_mismatch": 1,
                },
                "ipv6": {"expected": n6, "kernel": n6, "in_sync": n6},
            },
            timeout=GRACE + 2,
            what="nexthop_mismatch = 1",
        )  # fmt: skip
        mm = [x for x in agent.diff()["drift"] if x["state"] == "nexthop_mismatch"]
        assert [(x["prefix"], x["expected"], x["actual"][0].split()[0]) for x in mm] == [
            (A4[1], [INJ_A_V4], INJ_A2_V4)
        ]

        writer.send_signal(signal.SIGCONT)
        paused.clear()

        # 5. withdraw at the injector → the speaker removes them → in sync again
        injector.withdraw_many("A", [A4[0], A4[1], A6[1]])
        spk.run(["ip", "route", "del", "203.0.113.0/24"])
        synced = {
            "ipv4": {"expected": n4 - 2, "kernel": n4 - 2, "in_sync": n4 - 2},
            "ipv6": {"expected": n6 - 1, "kernel": n6 - 1, "in_sync": n6 - 1},
        }
        wait_summary(agent, synced, timeout=20, what="back in sync after the withdrawals")

        # 6. event storm while the agent is stopped: its 4 KiB buffer overflows.
        # Routes of a watched protocol the speaker does not own (zebra would
        # treat proto bgp routes as its own).
        storm_proto = "bird" if kind == "frr" else "bgp"
        before = agent.diff()["resyncs"].get("enobufs", 0)
        storm = 3000
        batch = lab.workdir / "storm.batch"
        lines = [
            f"route add 100.64.{i >> 8}.{i & 255}/32 via {INJ_A_V4} proto {storm_proto}"
            for i in range(storm)
        ]
        lines += [f"route del 100.64.{i >> 8}.{i & 255}/32" for i in range(0, storm, 3)]
        batch.write_text("\n".join(lines) + "\n")
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            spk.run(["ip", "-batch", str(batch)], timeout=60)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        left = storm - len(range(0, storm, 3))
        wait_summary(
            agent,
            {
                "ipv4": {
                    "expected": n4 - 2,
                    "kernel": n4 - 2 + left,
                    "in_sync": n4 - 2,
                    "extra": left,
                },
                "ipv6": synced["ipv6"],
            },
            timeout=20,
            what=f"extra = {left} after the storm",
        )
        assert agent.diff()["resyncs"].get("enobufs", 0) > before
        batch.write_text(
            "\n".join(f"route del 100.64.{i >> 8}.{i & 255}/32" for i in range(storm) if i % 3)
            + "\n"
        )
        spk.run(["ip", "-batch", str(batch)], timeout=60)
        wait_summary(agent, synced, timeout=20, what="back in sync after the storm")
        metrics = http_get(spk, "/metrics")
        assert (
            'bmp_fib_drift_events_total{afi="ipv4",router="127.0.0.1",state="missing"} 1.0'
            in metrics
        )
        assert (
            'bmp_fib_drift_events_total{afi="ipv4",router="127.0.0.1",state="nexthop_mismatch"} 1.0'
            in metrics
        )
        assert (
            f'bmp_kernel_routes{{afi="ipv4",proto="{proto}",table="main"}} {float(n4 - 2)}'
            in metrics
        )
    finally:
        for p in paused:
            p.send_signal(signal.SIGCONT)
        injector.stop()
        speaker.stop()
