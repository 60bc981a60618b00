"""Health checks with real speakers: FRR 8.4 is the monitored router, ExaBGP
makes the mistakes, the agent (``bmp-agent run`` in the collector namespace)
must flag each one and clear it once it is undone.

* eBGP: a session from public AS 15169 without graceful restart; ExaBGP
  announces and withdraws 0.0.0.0/0, 200 /32s and the service CIDR; then the
  peer moves to a private AS, then enables graceful restart.
* iBGP: four ExaBGP iBGP sessions (``health.ibgp_peers_max: 3``) without
  reflection, then routes carrying ORIGINATOR_ID/CLUSTER_LIST from one, then
  from a second reflector.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lab import (
    COLLECTOR_V4,
    INJ_A_V4,
    SPEAKER_V4,
    ExaBgp,
    ExaPeer,
    Frr,
    LabError,
    LabTopology,
    Namespace,
    Neighbor,
    SpeakerConfig,
    lab_neighbors,
    lab_peers,
    require,
    wait_until,
)
from lab.agent import HTTP_PORT, REPO, LabAgent

pytestmark = pytest.mark.lab

ROUTER = "10.0.9.1"  # FRR's address towards the collector
HOSTS = [f"192.0.2.{i}/32" for i in range(1, 201)]


class Agent(LabAgent):
    """``bmp-agent run`` inside ``ns``, BMP and HTTP on ``COLLECTOR_V4``."""

    def __init__(
        self,
        ns: Namespace,
        workdir: Path,
        health: dict[str, Any],
        rib: dict[str, Any] | None = None,
    ) -> None:
        self.dir = workdir / "agent"
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = {
            "bmp": {"listen": [f"{COLLECTOR_V4}:11019"]},
            "http": {"listen": f"{COLLECTOR_V4}:{HTTP_PORT}"},
            "log": {"format": "json"},
            "health": health,
            "rib": rib or {},
        }
        (self.dir / "config.yaml").write_text(json.dumps(cfg))
        super().__init__(
            ns,
            self.dir / "agent.log",
            ["--config", str(self.dir / "config.yaml")],
            {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            host=COLLECTOR_V4,
        )

    def start(self, timeout: float = 20) -> Agent:
        super().start(timeout)
        return self

    def health(self) -> dict[str, Any]:
        status, body = self.request("/api/v1/health")
        assert status == 200, body
        doc: dict[str, Any] = json.loads(body)
        return {c["check"]: c for c in doc["checks"]}

    def wait(self, check: str, firing: list[str]) -> dict[str, Any]:
        """Until ``check`` fires for exactly ``firing`` (peer labels, "" for the router),
        having evaluated at least one subject; returns the check's entry."""
        last: dict[str, Any] = {}

        def done() -> bool:
            nonlocal last
            last = self.health()[check]
            peers = sorted(f["peer"] for f in last["findings"])
            return peers == sorted(firing) and (firing or last["evaluated"] > 0)

        wait_until(
            done,
            timeout=30,
            what=f"{check} firing for {firing}",
            describe=lambda: json.dumps(last, indent=1) + "\n" + self.routes() + self.tail(),
        )
        return last

    def routes(self) -> str:
        try:
            status, body = self.request("/api/v1/routes?limit=20")
        except LabError as exc:
            return f"routes: {exc}\n"
        return f"routes ({status}): {body.decode(errors='replace')[:3000]}\n"

    def metric(self, check: str) -> dict[str, float]:
        """``bmp_health_check`` samples of ``check``: peer label -> value."""
        _, body = self.request("/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("bmp_health_check{") and f'check="{check}"' in line:
                peer = line.split('peer="', 1)[1].split('"', 1)[0]
                out[peer] = float(line.rsplit(" ", 1)[1])
        return out

    def community_routes(self) -> dict[tuple[str, str, str], float]:
        """``bmp_rib_community_routes``: (peer, view, community) -> value."""
        _, body = self.request("/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("bmp_rib_community_routes{"):
                labels = dict(
                    part.split("=", 1)
                    for part in line[line.index("{") + 1 : line.index("}")].split(",")
                )
                key = (
                    labels["peer"].strip('"'),
                    labels["view"].strip('"'),
                    labels["community"].strip('"'),
                )
                out[key] = float(line.rsplit(" ", 1)[1])
        return out

    def doctor(self) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            "-m",
            "agent.cli",
            "doctor",
            "--api",
            f"http://{COLLECTOR_V4}:{HTTP_PORT}",
        ]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)}
        return subprocess.run(
            self.ns.argv(argv), capture_output=True, text=True, timeout=30, env=env, cwd=REPO
        )


@contextmanager
def running(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for t in reversed(things):
            t.stop()


def frr_config(neighbors: tuple[Neighbor, ...]) -> SpeakerConfig:
    return SpeakerConfig(neighbors=neighbors, stats_interval=0)


def test_ebgp_mistakes_fire_and_clear(lab_topo: LabTopology) -> None:
    require("frr", "exabgp")
    lab = lab_topo
    agent = Agent(lab.col, lab.workdir, {"expected_prefixes": ["10.96.0.0/12"]}).start()
    frr = Frr(lab.spk, lab.workdir, frr_config(lab_neighbors(asn_a=15169)))
    exa = ExaBgp(lab.inj, lab.workdir, lab_peers(asn_a=15169)[:1])
    with running(agent, frr, exa):
        frr.start()
        exa.start()
        frr.wait_established([INJ_A_V4], timeout=40)

        # the session itself: public AS, no graceful restart (FRR offers it, ExaBGP not)
        pub = agent.wait("public_asn", [INJ_A_V4])
        assert pub["findings"][0]["details"] == {"peer_asn": 15169}
        assert pub["evaluated"] == 1  # the never-up 10.0.1.99 and fd00:1::2 are not checked
        gr = agent.wait("no_graceful_restart", [INJ_A_V4])
        assert gr["findings"][0]["details"] == {"router_advertises": True, "peer_advertises": False}
        agent.wait("expected_prefix_missing", [""])
        assert agent.health()["default_route_received"]["findings"] == []
        assert agent.metric("public_asn") == {INJ_A_V4: 1.0}

        # a default route from the node
        exa.announce("A", "0.0.0.0/0")
        found = agent.wait("default_route_received", [INJ_A_V4])
        assert found["findings"][0]["details"]["routes"] == ["0.0.0.0/0 in adj_in_pre"]
        exa.withdraw("A", "0.0.0.0/0")
        agent.wait("default_route_received", [])

        # 200 /32s
        exa.announce_many("A", HOSTS)
        flood = agent.wait("host_route_flood", [INJ_A_V4])
        assert flood["findings"][0]["details"]["host_routes"] == 200
        assert agent.metric("host_route_flood") == {INJ_A_V4: 1.0}
        exa.withdraw_many("A", HOSTS)
        agent.wait("host_route_flood", [])
        assert agent.metric("host_route_flood") == {INJ_A_V4: 0.0}

        # the service CIDR shows up
        exa.announce("A", "10.96.0.0/12")
        agent.wait("expected_prefix_missing", [])

        doctor = agent.doctor()
        assert doctor.returncode == 3, doctor.stderr
        assert "[FIRING] public_asn (warning): 1 of 1" in doctor.stdout
        assert "[FIRING] no_graceful_restart (warning): 1 of 1" in doctor.stdout
        assert "[OK] host_route_flood (warning): 1 checked, none found" in doctor.stdout

        # the peer moves to a private AS: public_asn clears, GR still missing
        exa.stop()
        frr.vtysh("configure terminal", "router bgp 65000", f"neighbor {INJ_A_V4} remote-as 65001")
        exa = ExaBgp(lab.inj, lab.workdir, lab_peers(asn_a=65001)[:1], name="exabgp-private")
        exa.start()
        frr.wait_established([INJ_A_V4], timeout=40)
        agent.wait("public_asn", [])
        agent.wait("no_graceful_restart", [INJ_A_V4])

        # and enables graceful restart: clears
        exa.stop()
        exa = ExaBgp(
            lab.inj, lab.workdir, lab_peers(asn_a=65001, graceful_restart=120)[:1], name="exabgp-gr"
        )
        exa.start()
        frr.wait_established([INJ_A_V4], timeout=40)
        agent.wait("no_graceful_restart", [])
        assert agent.metric("no_graceful_restart") == {INJ_A_V4: 0.0}
        assert agent.metric("public_asn") == {INJ_A_V4: 0.0}


IBGP = ["10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5"]


def ibgp_peers() -> tuple[ExaPeer, ...]:
    return tuple(
        ExaPeer(f"R{i}", SPEAKER_V4, addr, 65000, peer_as=65000, router_id=addr,
                families=("ipv4 unicast",), next_hop4=addr)
        for i, addr in enumerate(IBGP)
    )  # fmt: skip


def reflected(exa: ExaBgp, peer: str, prefix: str, originator: str, cluster: str) -> None:
    line = exa.announce_line(peer, prefix, as_path=[], local_pref=100)
    exa.send(f"{line} originator-id {originator} cluster-list [ {cluster} ]")


def test_ibgp_mesh_and_route_reflectors(lab_topo: LabTopology) -> None:
    require("frr", "exabgp")
    lab = lab_topo
    for addr in IBGP[2:]:
        lab.inj.run(["ip", "addr", "add", f"{addr}/24", "dev", "inj0"])
    agent = Agent(lab.col, lab.workdir, {"ibgp_peers_max": 3}).start()
    neighbors = tuple(
        Neighbor(a, 65000, name=f"ibgp{i}", families=("ipv4",)) for i, a in enumerate(IBGP)
    )
    frr = Frr(lab.spk, lab.workdir, frr_config(neighbors))
    exa = ExaBgp(lab.inj, lab.workdir, ibgp_peers())
    with running(agent, frr, exa):
        frr.start()
        exa.start()
        frr.wait_established(IBGP, timeout=40)

        # 4 iBGP peers > 3, no reflection
        mesh = agent.wait("ibgp_full_mesh_at_scale", [""])
        assert mesh["findings"][0]["details"] == {"ibgp_peers": 4, "threshold": 3}
        assert mesh["findings"][0]["router"] == ROUTER
        exa.announce("R3", "10.244.3.0/24", as_path=[], local_pref=100)
        assert agent.health()["single_route_reflector"]["findings"] == []

        # everything reflected comes through R0: reflection seen, but one reflector
        reflected(exa, "R0", "10.244.1.0/24", "10.0.1.50", "1.1.1.1")
        single = agent.wait("single_route_reflector", [""])
        assert single["findings"][0]["details"] == {
            "reflectors": [IBGP[0]],
            "cluster_ids": ["1.1.1.1"],
            "minimum": 2,
        }
        agent.wait("ibgp_full_mesh_at_scale", [])

        # a second reflector
        reflected(exa, "R1", "10.244.2.0/24", "10.0.1.51", "2.2.2.2")
        agent.wait("single_route_reflector", [])
        assert agent.metric("single_route_reflector") == {"": 0.0}

        # the second one withdraws: single again
        exa.withdraw("R1", "10.244.2.0/24")
        agent.wait("single_route_reflector", [""])
        assert agent.metric("single_route_reflector") == {"": 1.0}


# ----------------------------------------------------------------------------- multi-DC checks

MLB_V4, NODE_V4, DCI_V4 = "10.0.1.2", "10.0.1.3", "10.0.1.4"
DC_HEALTH = {
    "metallb_peers": ["AS64700"],
    "pod_cidrs": ["10.244.0.0/16"],
    "lb_pools": ["192.0.2.0/24"],
    "dci_peers": [f"{DCI_V4}/32"],
    "dci_max_routes": 5,
    "local_only_communities": ["64510:100"],
}
COUNTED = ["64510:100", "64510:200", "64510:1:2"]


def dc_peers() -> tuple[ExaPeer, ...]:
    return tuple(
        ExaPeer(name, SPEAKER_V4, addr, asn, router_id=addr, families=("ipv4 unicast",),
                next_hop4=addr)
        for name, addr, asn in (("M", MLB_V4, 64700), ("N", NODE_V4, 64601), ("D", DCI_V4, 64520))
    )  # fmt: skip


def test_multi_dc_checks_and_community_counts(lab_topo: LabTopology) -> None:
    """FRR 8.4 with a MetalLB speaker (M, AS 64700), a node (N, AS 64601) and a
    DCI peer (D, AS 64520), each an ExaBGP session: every new check fires for
    the exact peer and prefixes and clears when the route goes; the community
    counts match what ExaBGP announced, pre and post policy, after
    withdrawals and a Peer Down."""
    require("frr", "exabgp")
    lab = lab_topo
    lab.inj.run(["ip", "addr", "add", f"{DCI_V4}/24", "dev", "inj0"])
    agent = Agent(lab.col, lab.workdir, DC_HEALTH, {"count_communities": COUNTED}).start()
    neighbors = tuple(
        Neighbor(a, asn, name=n, families=("ipv4",))
        for n, a, asn in (("mlb", MLB_V4, 64700), ("node", NODE_V4, 64601), ("dci", DCI_V4, 64520))
    )
    frr = Frr(lab.spk, lab.workdir, frr_config(neighbors))
    exa = ExaBgp(lab.inj, lab.workdir, dc_peers())
    with running(agent, frr, exa):
        frr.start()
        exa.start()
        frr.wait_established([MLB_V4, NODE_V4, DCI_V4], timeout=40)

        # MetalLB: a pool address is fine; a pod block and a non-pool prefix are not
        exa.announce("M", "192.0.2.10/32")
        ok = agent.wait("metallb_pod_routes", [])
        assert ok["evaluated"] == 1  # only the MetalLB speaker
        exa.announce_many("M", ["10.244.5.0/24", "198.51.100.0/24"])
        mlb = agent.wait("metallb_pod_routes", [MLB_V4])
        d = mlb["findings"][0]["details"]
        assert (d["in_pod_cidrs"], d["outside_lb_pools"]) == (
            ["10.244.5.0/24"],
            ["198.51.100.0/24"],
        )
        assert agent.metric("metallb_pod_routes") == {MLB_V4: 1.0}
        exa.withdraw_many("M", ["10.244.5.0/24", "198.51.100.0/24"])
        agent.wait("metallb_pod_routes", [])
        assert agent.metric("metallb_pod_routes") == {MLB_V4: 0.0}

        # DCI: a /16 summary is fine, a /24 is not; then too many routes
        exa.announce("D", "10.245.0.0/16", as_path=[64520])
        assert agent.wait("dci_unsummarized", [])["evaluated"] == 1
        exa.announce("D", "10.245.1.0/24", as_path=[64520])
        dci = agent.wait("dci_unsummarized", [DCI_V4])
        assert dci["findings"][0]["details"]["prefixes"] == ["10.245.1.0/24"]
        assert dci["findings"][0]["details"]["long_prefixes"] == {"adj_in_pre": 1}
        exa.withdraw("D", "10.245.1.0/24")
        agent.wait("dci_unsummarized", [])
        many = [f"10.{i}.0.0/16" for i in range(200, 205)]
        exa.announce_many("D", many, as_path=[64520])
        dci = agent.wait("dci_unsummarized", [DCI_V4])
        assert dci["findings"][0]["details"]["routes_over_limit"] == {"adj_in_pre": 6}
        exa.withdraw_many("D", many)
        agent.wait("dci_unsummarized", [])

        # a local-only route from the other DC, then re-tagged global-export
        exa.announce("D", "10.246.0.0/16", as_path=[64520], communities=["64510:100"])
        leak = agent.wait("local_only_leak", [DCI_V4])
        assert leak["findings"][0]["details"] == {
            "prefixes": ["10.246.0.0/16"],
            "routes": {"adj_in_pre": 1},
            "communities": {"64510:100": 1},
        }
        exa.announce("D", "10.246.0.0/16", as_path=[64520], communities=["64510:200"])
        agent.wait("local_only_leak", [])

        # the other DC reuses this DC's pod CIDR
        exa.announce("N", "10.244.1.0/24")
        agent.wait("cidr_overlap", [])
        exa.announce("D", "10.244.0.0/16", as_path=[64520])
        overlap = agent.wait("cidr_overlap", [NODE_V4, DCI_V4])
        by_peer = {f["peer"]: f["details"]["overlaps"] for f in overlap["findings"]}
        assert by_peer[NODE_V4] == [
            {
                "prefix": "10.244.1.0/24",
                "origin_as": 64601,
                "other_prefix": "10.244.0.0/16",
                "other_origin_as": 64520,
                "other_peers": [DCI_V4],
            }
        ]
        exa.withdraw("D", "10.244.0.0/16")
        agent.wait("cidr_overlap", [])
        doctor = agent.doctor()
        assert "[OK] cidr_overlap (critical)" in doctor.stdout

        # community counts: what N announced, pre and post policy. FRR sends a
        # route its import policy rejects as a withdrawal, pre-policy too, so the
        # policy re-tags one prefix instead (set community replaces 64510:100).
        frr.vtysh(
            "configure terminal",
            "ip prefix-list RETAG seq 5 permit 10.244.3.0/24",
            "route-map IMPORT permit 50",
            "match ip address prefix-list RETAG",
            "set community 64510:200",
        )
        exa.announce_many("N", ["10.244.2.0/24", "10.244.3.0/24"], communities=["64510:100"])
        exa.announce(
            "N", "10.244.4.0/24", communities=["64510:200"], large_communities=["64510:1:2"]
        )

        def counts(view: str) -> dict[str, float]:
            got = agent.community_routes()
            return {c: got.get((NODE_V4, view, c), -1.0) for c in COUNTED}

        def expect(pre: dict[str, float], post: dict[str, float]) -> None:
            wait_until(
                lambda: counts("adj_in_pre") == pre and counts("adj_in_post") == post,
                timeout=30,
                what=f"community counts pre {pre} post {post}",
                describe=lambda: f"pre {counts('adj_in_pre')} post {counts('adj_in_post')}",
            )

        expect(
            {"64510:100": 2.0, "64510:200": 1.0, "64510:1:2": 1.0},
            {"64510:100": 1.0, "64510:200": 2.0, "64510:1:2": 1.0},
        )
        # the DCI peer's re-tagged route counts under its own peer
        assert agent.community_routes()[(DCI_V4, "adj_in_pre", "64510:200")] == 1.0
        exa.withdraw("N", "10.244.2.0/24")
        exa.announce("N", "10.244.4.0/24", communities=["64510:100"])  # re-tagged
        expect(
            {"64510:100": 2.0, "64510:200": 0.0, "64510:1:2": 0.0},
            {"64510:100": 1.0, "64510:200": 1.0, "64510:1:2": 0.0},
        )
        # Peer Down: the tables are cleared, the series stay at 0
        frr.vtysh("configure terminal", "router bgp 65000", f"neighbor {NODE_V4} shutdown")
        zero = dict.fromkeys(COUNTED, 0.0)
        expect(zero, zero)
