"""The seven health checks on hand-built core events: fire, clear, thresholds,
allow-lists, and which subjects are evaluated at all."""

from __future__ import annotations

import ipaddress

import pytest
from health_support import (
    POST,
    PRE,
    ROUTER,
    Lab,
    attrs,
    hdr,
    peer_down,
    peer_up,
    rm,
)

from agent.config import HealthConfig
from agent.health import CHECKS, is_private_asn
from agent.health.checks import table_state

A = hdr("10.0.1.2", 65001)
A_POST = hdr("10.0.1.2", 65001, POST)
B6 = hdr("fd00:1::2", 65002)


def hosts(n: int, base: str = "192.0.2.0") -> list[str]:
    start = int(ipaddress.IPv4Address(base))
    return [f"{ipaddress.IPv4Address(start + i)}/32" for i in range(1, n + 1)]


def test_check_names_and_severities() -> None:
    assert {n: c.severity for n, c in CHECKS.items()} == {
        "default_route_received": "critical",
        "public_asn": "warning",
        "no_graceful_restart": "warning",
        "host_route_flood": "warning",
        "ibgp_full_mesh_at_scale": "warning",
        "single_route_reflector": "warning",
        "expected_prefix_missing": "critical",
        "metallb_pod_routes": "critical",
        "cidr_overlap": "critical",
        "dci_unsummarized": "warning",
        "local_only_leak": "warning",
        "bmp_feed_inconsistent": "warning",
    }
    assert all(c.advice and c.title for c in CHECKS.values())


# ----------------------------------------------------------------------------- default route


def test_default_route_fires_and_clears() -> None:
    lab = Lab().feed(peer_up(A), peer_up(B6), rm(A, ["192.0.2.0/24"]))
    assert lab.subjects("default_route_received") == [
        (ROUTER, "10.0.1.2", False),
        (ROUTER, "fd00:1::2", False),
    ]
    lab.feed(rm(A, ["0.0.0.0/0"]), rm(B6, ["::/0"]))
    res = lab.report().results["default_route_received"]
    assert [(f.peer, f.details["routes"]) for f in res.findings] == [
        ("10.0.1.2", ["0.0.0.0/0 in adj_in_pre"]),
        ("fd00:1::2", ["::/0 in adj_in_pre"]),
    ]
    lab.feed(rm(A, withdraw=["0.0.0.0/0"]))
    assert lab.firing("default_route_received") == [(ROUTER, "fd00:1::2")]
    lab.feed(peer_down(B6))
    assert lab.firing("default_route_received") == []
    # a down peer is not evaluated any more
    assert lab.subjects("default_route_received") == [(ROUTER, "10.0.1.2", False)]


def test_default_route_views_and_allow_list() -> None:
    lab = Lab().feed(peer_up(A), rm(A_POST, ["0.0.0.0/0"]))
    assert lab.firing("default_route_received") == []  # post-policy only: not in route_views
    assert lab.firing("default_route_received", route_views=("adj_in_post",)) == [
        (ROUTER, "10.0.1.2")
    ]
    lab.feed(rm(A, ["0.0.0.0/0"]))
    assert lab.firing("default_route_received") == [(ROUTER, "10.0.1.2")]
    allow = (ipaddress.ip_network("10.0.1.0/24"),)
    assert lab.firing("default_route_received", default_route_allow=allow) == []
    other = (ipaddress.ip_network("10.0.2.0/24"),)
    assert lab.firing("default_route_received", default_route_allow=other) == [(ROUTER, "10.0.1.2")]


def test_default_route_with_add_path() -> None:
    lab = Lab().feed(peer_up(A), rm(A, ["0.0.0.0/0", "0.0.0.0/0"], ids=[1, 2]))
    assert lab.firing("default_route_received") == [(ROUTER, "10.0.1.2")]
    lab.feed(rm(A, withdraw=["0.0.0.0/0"], wids=[1]))
    assert lab.firing("default_route_received") == [(ROUTER, "10.0.1.2")]
    lab.feed(rm(A, withdraw=["0.0.0.0/0"], wids=[2]))
    assert lab.firing("default_route_received") == []


# ----------------------------------------------------------------------------- ASNs


@pytest.mark.parametrize(
    ("asn", "private"),
    [
        (64511, False),
        (64512, True),
        (65534, True),
        (65535, False),
        (15169, False),
        (4199999999, False),
        (4200000000, True),
        (4294967294, True),
        (4294967295, False),
    ],
)
def test_private_asn_ranges(asn: int, private: bool) -> None:
    assert is_private_asn(asn) is private


def test_public_asn_peer_and_local() -> None:
    g = hdr("10.0.1.2", 15169)
    lab = Lab().feed(peer_up(g), peer_up(B6))
    res = lab.report().results["public_asn"]
    assert [(f.peer, f.found, f.details) for f in res.findings] == [
        ("10.0.1.2", "peer AS 15169 is public", {"peer_asn": 15169})
    ]
    assert lab.firing("public_asn", asn_allow=(15169,)) == []
    # the same peer comes back with a private AS: clears
    lab.feed(peer_down(g), peer_up(hdr("10.0.1.2", 4200000001)))
    assert lab.firing("public_asn") == []
    # a public local AS flags every peer of the router
    lab.feed(peer_up(hdr("10.0.1.3", 65003), local_asn=13335))
    res = lab.report().results["public_asn"]
    assert [(f.peer, f.found) for f in res.findings] == [("10.0.1.3", "local AS 13335 is public")]


# ----------------------------------------------------------------------------- graceful restart


def test_graceful_restart_negotiation() -> None:
    lab = Lab().feed(
        peer_up(hdr("10.0.1.2", 65001)),
        peer_up(hdr("10.0.1.3", 65003), remote_gr=False),
        peer_up(hdr("10.0.1.4", 65004), local_gr=False),
        peer_up(hdr("10.0.1.5", 65005), local_gr=False, remote_gr=False),
    )
    res = lab.report().results["no_graceful_restart"]
    assert [(f.peer, f.details) for f in res.findings] == [
        ("10.0.1.3", {"router_advertises": True, "peer_advertises": False}),
        ("10.0.1.4", {"router_advertises": False, "peer_advertises": True}),
        ("10.0.1.5", {"router_advertises": False, "peer_advertises": False}),
    ]
    assert len(res.subjects) == 4
    # the session comes back with GR on both sides: clears
    lab.feed(peer_down(hdr("10.0.1.3", 65003)), peer_up(hdr("10.0.1.3", 65003)))
    assert [p for _, p in lab.firing("no_graceful_restart")] == ["10.0.1.4", "10.0.1.5"]


def test_never_up_loc_rib_and_implicit_peers_are_not_flagged() -> None:
    never = hdr("10.0.1.99", 15169)
    loc = hdr("0.0.0.0", 65000, peer_type=3)
    implicit = hdr("10.0.1.7", 15169)
    lab = Lab().feed(
        peer_down(never, reason=2),
        rm(loc, ["0.0.0.0/0", *hosts(150)]),
        rm(implicit, ["192.0.2.0/24"]),
    )
    report = lab.report()
    for name in ("public_asn", "no_graceful_restart"):
        assert report.results[name].subjects == [], name
    # implicit peers (routes without Peer Up) have routes, so the route checks see them
    assert report.results["default_route_received"].subjects == [(ROUTER, "10.0.1.7", False)]
    assert report.firing == 0


def test_closed_router_is_not_evaluated() -> None:
    lab = Lab().feed(peer_up(hdr("10.0.1.2", 15169)), rm(A, ["0.0.0.0/0"]))
    assert lab.report().firing == 2  # default route, public ASN
    lab.core.close_session(lab.session, "eof")
    report = lab.report()
    assert report.firing == 0
    assert all(not r.subjects for r in report.results.values())


# ----------------------------------------------------------------------------- host routes


def host_count(lab: Lab, peer: str = "10.0.1.2", view: str = "adj_in_pre", afi: int = 1) -> int:
    router = lab.core.routers[ROUTER]
    p = next(p for p in router.peers.values() if p.label == peer)
    st = table_state(p.tables[(view, afi, 1)])
    return 0 if st is None else len(st.hosts)


def test_host_route_flood_threshold_is_exact() -> None:
    lab = Lab().feed(peer_up(A), rm(A, hosts(100)))
    assert host_count(lab) == 100
    assert lab.firing("host_route_flood") == []  # 100 is not more than 100
    lab.feed(rm(A, ["192.0.2.101/32", "192.0.2.0/31", "192.0.2.0/24"]))
    assert host_count(lab) == 101
    res = lab.report().results["host_route_flood"]
    assert [(f.peer, f.details) for f in res.findings] == [
        (
            "10.0.1.2",
            {"host_routes": 101, "threshold": 100, "per_view": {"adj_in_pre": {"ipv4": 101}}},
        )
    ]
    assert lab.firing("host_route_flood", host_routes_max=101) == []
    lab.feed(rm(A, withdraw=["192.0.2.1/32"]))
    assert host_count(lab) == 100
    assert lab.firing("host_route_flood") == []


def test_host_routes_counted_once_per_prefix() -> None:
    lab = Lab().feed(peer_up(A))
    # re-announcing, duplicates inside one NLRI set, unknown withdrawals
    lab.feed(rm(A, ["192.0.2.1/32", "192.0.2.1/32", "192.0.2.2/32"]))
    lab.feed(rm(A, ["192.0.2.1/32"], a=attrs(med=5)))
    lab.feed(rm(A, withdraw=["192.0.2.9/32", "192.0.2.2/32", "192.0.2.2/32"]))
    assert host_count(lab) == 1
    # withdrawn and re-announced in one UPDATE
    lab.feed(rm(A, ["192.0.2.1/32"], withdraw=["192.0.2.1/32"]))
    assert host_count(lab) == 1
    # ADD-PATH: two paths of one /32 are one prefix
    lab.feed(rm(A, ["192.0.2.3/32", "192.0.2.3/32"], ids=[1, 2]))
    assert host_count(lab) == 2
    lab.feed(rm(A, withdraw=["192.0.2.3/32"], wids=[1]))
    assert host_count(lab) == 2
    lab.feed(rm(A, withdraw=["192.0.2.3/32"], wids=[2]))
    assert host_count(lab) == 1


def test_host_routes_ipv4_plus_ipv6_and_reset_by_peer_up() -> None:
    v6 = [f"2001:db8::{i:x}/128" for i in range(1, 61)]
    lab = Lab().feed(peer_up(A), rm(A, hosts(60)), rm(A, v6), rm(A, ["2001:db8::/127"]))
    assert host_count(lab, afi=2) == 60
    res = lab.report().results["host_route_flood"]
    assert [f.details["per_view"] for f in res.findings] == [
        {"adj_in_pre": {"ipv4": 60, "ipv6": 60}}
    ]
    # a new session starts with empty tables: nothing counted any more
    lab.feed(peer_up(A))
    assert host_count(lab) == 0
    assert lab.firing("host_route_flood") == []
    lab.feed(rm(A, hosts(101)), peer_down(A))
    assert lab.firing("host_route_flood") == []


# ----------------------------------------------------------------------------- iBGP


def ibgp(n: int) -> list:  # type: ignore[type-arg]
    return [hdr(f"10.0.1.{10 + i}", 65000) for i in range(n)]


def test_full_mesh_counts_up_ibgp_peers_only() -> None:
    peers = ibgp(4)
    lab = Lab().feed(*(peer_up(p) for p in peers), peer_up(A))
    assert lab.firing("ibgp_full_mesh_at_scale") == []  # default threshold 100
    res = lab.report(ibgp_peers_max=3).results["ibgp_full_mesh_at_scale"]
    assert [(f.router, f.peer, f.details) for f in res.findings] == [
        (ROUTER, "", {"ibgp_peers": 4, "threshold": 3})
    ]
    assert lab.firing("ibgp_full_mesh_at_scale", ibgp_peers_max=4) == []
    lab.feed(peer_down(peers[0]))
    assert lab.firing("ibgp_full_mesh_at_scale", ibgp_peers_max=3) == []


def test_reflection_clears_mesh_and_single_reflector_needs_two() -> None:
    peers = ibgp(4)
    lab = Lab(HealthConfig(ibgp_peers_max=3)).feed(*(peer_up(p) for p in peers))
    lab.feed(rm(peers[1], ["10.244.1.0/24"]))  # not reflected
    assert lab.firing("ibgp_full_mesh_at_scale") == [(ROUTER, "")]
    assert lab.firing("single_route_reflector") == []
    # one reflector: routes with ORIGINATOR_ID + CLUSTER_LIST from 10.0.1.10
    r1 = attrs(originator="10.0.1.77", clusters=("1.1.1.1",))
    lab.feed(rm(peers[0], ["10.244.2.0/24", "10.244.3.0/24"], a=r1))
    assert lab.firing("ibgp_full_mesh_at_scale") == []
    res = lab.report().results["single_route_reflector"]
    assert [(f.router, f.peer, f.details) for f in res.findings] == [
        (ROUTER, "", {"reflectors": ["10.0.1.10"], "cluster_ids": ["1.1.1.1"], "minimum": 2})
    ]
    # a second reflector (ORIGINATOR_ID only) clears it
    lab.feed(rm(peers[2], ["10.244.4.0/24"], a=attrs(originator="10.0.1.78")))
    assert lab.firing("single_route_reflector") == []
    assert lab.firing("single_route_reflector", reflectors_min=3) == [(ROUTER, "")]
    # the second reflector's route is replaced by a plain one: one reflector again
    lab.feed(rm(peers[2], ["10.244.4.0/24"]))
    assert lab.firing("single_route_reflector") == [(ROUTER, "")]
    # the first withdraws one of two routes: still a reflector; both: none left
    lab.feed(rm(peers[0], withdraw=["10.244.2.0/24"]))
    assert lab.firing("single_route_reflector") == [(ROUTER, "")]
    lab.feed(rm(peers[0], withdraw=["10.244.3.0/24", "10.244.3.0/24"]))
    assert lab.firing("single_route_reflector") == []
    assert lab.firing("ibgp_full_mesh_at_scale") == [(ROUTER, "")]


def test_reflection_attributes_from_ebgp_are_ignored() -> None:
    r1 = attrs(originator="10.0.1.77", clusters=("1.1.1.1",))
    lab = Lab().feed(peer_up(A), rm(A, ["10.244.2.0/24"], a=r1))
    assert lab.firing("single_route_reflector") == []


# ----------------------------------------------------------------------------- expected prefixes


def test_expected_prefix_missing_per_view() -> None:
    cfg = HealthConfig(expected_prefixes=("10.96.0.0/12", "2001:db8:96::/108@adj_in_pre"))
    lab = Lab(cfg).feed(peer_up(A), peer_up(B6))
    res = lab.report().results["expected_prefix_missing"]
    assert [(f.router, f.peer, f.details) for f in res.findings] == [
        (
            ROUTER,
            "",
            {
                "missing": ["10.96.0.0/12@adj_in_post", "2001:db8:96::/108@adj_in_pre"],
                "views_not_sent": ["adj_in_post", "adj_in_pre"],
            },
        )
    ]
    lab.feed(rm(A, ["10.96.0.0/12"]))  # pre-policy only: still missing from adj_in_post
    lab.feed(rm(B6, ["2001:db8:96::/108"]))
    res = lab.report().results["expected_prefix_missing"]
    assert [f.details["missing"] for f in res.findings] == [["10.96.0.0/12@adj_in_post"]]
    lab.feed(rm(A_POST, ["10.96.0.0/16"]))  # a more specific is not the prefix
    assert lab.firing("expected_prefix_missing") == [(ROUTER, "")]
    lab.feed(rm(A_POST, ["10.96.0.0/12"]))
    assert lab.firing("expected_prefix_missing") == []
    lab.feed(rm(A_POST, withdraw=["10.96.0.0/12"]))
    assert lab.firing("expected_prefix_missing") == [(ROUTER, "")]
    # nothing configured: not evaluated
    assert lab.report(expected_prefixes=()).results["expected_prefix_missing"].subjects == []


# ----------------------------------------------------------------------------- switches


def test_disabled_checks() -> None:
    lab = Lab().feed(peer_up(hdr("10.0.1.2", 15169), remote_gr=False), rm(A, ["0.0.0.0/0"]))
    assert lab.report().firing == 3
    report = lab.report(disabled=("public_asn",))
    assert report.firing == 2
    assert not report.results["public_asn"].enabled
    assert report.results["public_asn"].subjects == []
    assert lab.report(enabled=False).firing == 0


def test_pre_state_router_checks_ignore_host_routes_in_other_views() -> None:
    lab = Lab().feed(peer_up(A), rm(A_POST, hosts(150)), rm(A, hosts(10)))
    assert host_count(lab) == 10
    assert lab.firing("host_route_flood") == []
    assert PRE == 0


def test_frr_own_cluster_id_and_peer_originator_are_not_reflection() -> None:
    peers = ibgp(4)
    lab = Lab(HealthConfig(ibgp_peers_max=3)).feed(*(peer_up(p) for p in peers))
    # FRR 8.4 shows every iBGP route with CLUSTER_LIST [own router ID] and
    # ORIGINATOR_ID = the peer's BGP ID
    plain = attrs(originator="10.0.1.11", clusters=("10.0.1.1",))
    lab.feed(rm(peers[1], ["10.244.1.0/24"], a=plain))
    assert lab.firing("ibgp_full_mesh_at_scale") == [(ROUTER, "")]
    assert lab.firing("single_route_reflector") == []
    # reflected by cluster 1.1.1.1, as FRR shows it
    refl = attrs(originator="10.0.1.50", clusters=("10.0.1.1", "1.1.1.1"))
    lab.feed(rm(peers[0], ["10.244.2.0/24"], a=refl))
    assert lab.firing("ibgp_full_mesh_at_scale") == []
    res = lab.report().results["single_route_reflector"]
    assert [f.details["cluster_ids"] for f in res.findings] == [["1.1.1.1"]]
