"""The multi-DC and MetalLB checks on hand-built core events: metallb_pod_routes,
cidr_overlap, dci_unsummarized, local_only_leak fire for the exact peer and
prefixes, clear when the cause goes, and only evaluate the peers they select."""

from __future__ import annotations

import ipaddress

import pytest
from health_support import POST, ROUTER, Lab, hdr, peer_down, peer_up, rm
from hypothesis import given
from hypothesis import strategies as st

from agent.config import Config, HealthConfig
from agent.health import Health
from agent.health.dc import DcObserver, dc_state, find_conflicts
from parsers.bgp.attributes import AS_SEQUENCE, AS_SET, AsPathSegment, PathAttributes
from parsers.bmp.messages import FLAG_O


def pa(
    path: tuple[int, ...] = (64601,),
    *,
    comms: tuple[str, ...] = (),
    large: tuple[tuple[int, int, int], ...] = (),
    ext: tuple[bytes, ...] = (),
    as_set: tuple[int, ...] = (),
    nh: str = "10.0.1.2",
) -> PathAttributes:
    segs = (AsPathSegment(AS_SEQUENCE, path),) if path else ()
    if as_set:
        segs += (AsPathSegment(AS_SET, as_set),)
    return PathAttributes(
        origin=0,
        as_path=segs,
        next_hop=nh,
        communities=tuple((int(a) << 16) | int(b) for a, b in (c.split(":") for c in comms)),
        large_communities=large,
        extended_communities=ext,
    )


def nets(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


NODE = hdr("10.0.1.2", 64601)
NODE2 = hdr("10.0.1.4", 64602)
MLB = hdr("10.0.2.5", 64700, bgp_id="10.0.2.5")
DCI = hdr("10.0.3.1", 64520)
DCI_POST = hdr("10.0.3.1", 64520, POST)
DCI_OUT_PRE = hdr("10.0.3.1", 64520, FLAG_O)
DCI_OUT_POST = hdr("10.0.3.1", 64520, FLAG_O | POST)


def findings(lab: Lab, check: str) -> list[tuple[str, dict[str, object]]]:
    return [(f.peer, f.details) for f in lab.report().results[check].findings]


# ----------------------------------------------------------------------------- MetalLB


METALLB_CFG = HealthConfig(
    metallb_peers=("AS64700",),
    pod_cidrs=nets("10.244.0.0/16", "fd00:244::/48"),
    lb_pools=nets("192.0.2.0/24", "2001:db8:5::/64"),
)


def test_metallb_pod_routes_fire_for_the_speaker_and_clear() -> None:
    lab = Lab(METALLB_CFG).feed(peer_up(MLB), peer_up(NODE))
    lab.feed(rm(MLB, ["192.0.2.10/32", "192.0.2.11/32"], a=pa((64700,))))
    # the node announcing its pod block is the CNI's job: not a MetalLB peer
    lab.feed(rm(NODE, ["10.244.1.0/24"], a=pa((64601,))))
    res = lab.report().results["metallb_pod_routes"]
    assert res.subjects == [(ROUTER, "10.0.2.5", False)]
    lab.feed(rm(MLB, ["10.244.7.0/24", "198.51.100.0/24", "10.244.8.0/26"], a=pa((64700,))))
    got = findings(lab, "metallb_pod_routes")
    assert got == [
        (
            "10.0.2.5",
            {
                "prefixes": ["10.244.7.0/24", "10.244.8.0/26", "198.51.100.0/24"],
                "per_view": {"adj_in_pre": 3},
                "in_pod_cidrs": ["10.244.7.0/24", "10.244.8.0/26"],
                "outside_lb_pools": ["198.51.100.0/24"],
                "peer_asn": 64700,
            },
        )
    ]
    f = lab.report().results["metallb_pod_routes"].findings[0]
    assert f.found == (
        "MetalLB speaker (AS 64700) announces 3 prefix(es) inside the pod CIDRs and outside "
        "the LoadBalancer pools: 10.244.7.0/24, 10.244.8.0/26, 198.51.100.0/24"
    )
    lab.feed(rm(MLB, withdraw=["10.244.7.0/24", "10.244.8.0/26"]))
    assert [d["prefixes"] for _, d in findings(lab, "metallb_pod_routes")] == [["198.51.100.0/24"]]
    lab.feed(rm(MLB, withdraw=["198.51.100.0/24"]))
    assert findings(lab, "metallb_pod_routes") == []
    # IPv6: inside the pod /48, then fine inside the pool
    mlb6 = hdr("fd00:2::5", 64700)
    lab.feed(peer_up(mlb6), rm(mlb6, ["fd00:244:0:1::/64", "2001:db8:5::10/128"], a=pa((64700,))))
    assert [(p, d["prefixes"]) for p, d in findings(lab, "metallb_pod_routes")] == [
        ("fd00:2::5", ["fd00:244:0:1::/64"])
    ]
    lab.feed(peer_down(mlb6))
    assert findings(lab, "metallb_pod_routes") == []


def test_metallb_selected_by_address_and_router_id_and_sysname() -> None:
    by_addr = HealthConfig(metallb_peers=("10.0.2.0/24",), pod_cidrs=nets("10.244.0.0/16"))
    lab = Lab(by_addr).feed(peer_up(MLB), rm(MLB, ["10.244.0.0/16"], a=pa((64700,))))
    assert [p for p, _ in findings(lab, "metallb_pod_routes")] == ["10.0.2.5"]
    # the BGP identifier (MetalLB's default router ID is the node address)
    by_id = HealthConfig(metallb_peers=("id:172.16.0.0/12",), pod_cidrs=nets("10.244.0.0/16"))
    spk = hdr("10.0.2.6", 64701, bgp_id="172.18.0.6")
    lab = Lab(by_id).feed(peer_up(spk), peer_up(MLB))
    lab.feed(rm(spk, ["10.244.3.0/24"], a=pa((64701,))), rm(MLB, ["10.244.4.0/24"], a=pa((64700,))))
    assert [p for p, _ in findings(lab, "metallb_pod_routes")] == ["10.0.2.6"]
    # sysname: the monitored router is the speaker; its Adj-RIB-Out is checked
    by_name = HealthConfig(metallb_peers=("sysname:frr-k8s-*",), lb_pools=nets("192.0.2.0/24"))
    tor = hdr("10.0.9.254", 64512)
    out = hdr("10.0.9.254", 64512, FLAG_O | POST)
    lab = Lab(by_name).feed(peer_up(tor), rm(out, ["10.244.9.0/24", "192.0.2.1/32"], a=pa(())))
    assert findings(lab, "metallb_pod_routes") == []  # sysName not set: not the speaker
    lab.core.routers[ROUTER].sys_name = "frr-k8s-worker-3"
    assert [(p, d["prefixes"], d["per_view"]) for p, d in findings(lab, "metallb_pod_routes")] == [
        ("10.0.9.254", ["10.244.9.0/24"], {"adj_out_post": 1})
    ]


# ----------------------------------------------------------------------------- DCI summaries


DCI_CFG = HealthConfig(dci_peers=("10.0.3.0/24",), dci_max_routes=3)


def test_dci_unsummarized_long_prefixes_fire_and_clear() -> None:
    lab = Lab(DCI_CFG).feed(peer_up(DCI), peer_up(NODE))
    lab.feed(rm(DCI, ["10.245.0.0/16", "10.97.0.0/20"], a=pa((64520,))))
    lab.feed(rm(NODE, ["10.244.1.0/26"], a=pa((64601,))))  # not a DCI peer: not checked
    res = lab.report().results["dci_unsummarized"]
    assert res.subjects == [(ROUTER, "10.0.3.1", False)]
    lab.feed(rm(DCI, ["10.245.3.0/24", "10.245.4.128/25"], a=pa((64520,))))
    got = findings(lab, "dci_unsummarized")
    assert got == [
        (
            "10.0.3.1",
            {
                "prefixes": ["10.245.3.0/24", "10.245.4.128/25"],
                "long_prefixes": {"adj_in_pre": 2},
                "routes_over_limit": {"adj_in_pre": 4},
                "max_length": {"ipv4": 20, "ipv6": 48},
                "max_routes": 3,
            },
        )
    ]
    lab.feed(rm(DCI, withdraw=["10.245.3.0/24"]))
    assert [
        (d["prefixes"], d["routes_over_limit"]) for _, d in findings(lab, "dci_unsummarized")
    ] == [(["10.245.4.128/25"], {})]
    lab.feed(rm(DCI, withdraw=["10.245.4.128/25"]))
    assert findings(lab, "dci_unsummarized") == []
    # IPv6: /48 is a summary, /64 is not
    dci6 = hdr("fd00:3::1", 64520)
    cfg6 = HealthConfig(dci_peers=("fd00:3::/64",), dci_max_length=("ipv6:56",))
    lab = Lab(cfg6).feed(
        peer_up(dci6), rm(dci6, ["2001:db8:1::/48", "2001:db8:2:100::/56"], a=pa())
    )
    assert findings(lab, "dci_unsummarized") == []
    lab.feed(rm(dci6, ["2001:db8:2:1::/64"], a=pa()))
    assert [(p, d["prefixes"], d["max_length"]) for p, d in findings(lab, "dci_unsummarized")] == [
        ("fd00:3::1", ["2001:db8:2:1::/64"], {"ipv4": 20, "ipv6": 56})
    ]


def test_dci_route_count_and_adj_rib_out() -> None:
    lab = Lab(DCI_CFG).feed(peer_up(DCI))
    lab.feed(rm(DCI, ["10.245.0.0/16", "10.246.0.0/16", "10.247.0.0/16"], a=pa((64520,))))
    assert findings(lab, "dci_unsummarized") == []  # 3 routes, not more than 3
    lab.feed(rm(DCI, ["10.248.0.0/16"], a=pa((64520,))))
    assert [d["routes_over_limit"] for _, d in findings(lab, "dci_unsummarized")] == [
        {"adj_in_pre": 4}
    ]
    lab.feed(rm(DCI, withdraw=["10.248.0.0/16"]))
    # what the router sends: pre-policy Adj-RIB-Out is before the export filter
    lab.feed(rm(DCI_OUT_PRE, ["10.244.1.0/24"], a=pa(())))
    assert findings(lab, "dci_unsummarized") == []
    lab.feed(rm(DCI_OUT_POST, ["10.244.1.0/24", "10.244.0.0/16"], a=pa(())))
    assert [(d["prefixes"], d["long_prefixes"]) for _, d in findings(lab, "dci_unsummarized")] == [
        (["10.244.1.0/24"], {"adj_out_post": 1})
    ]
    f = lab.report().results["dci_unsummarized"].findings[0]
    assert f.found == (
        "DCI peer AS 64520: 1 prefix(es) longer than /20 (IPv4) or /48 (IPv6) in adj_out_post: "
        "10.244.1.0/24"
    )
    lab.feed(peer_down(DCI))
    assert lab.report().results["dci_unsummarized"].subjects == []


# ----------------------------------------------------------------------------- local-only leak


LEAK_CFG = HealthConfig(dci_peers=("AS64520",), local_only_communities=("64510:100", "64510:1:100"))


def test_local_only_leak_in_and_out_fire_and_clear() -> None:
    lab = Lab(LEAK_CFG).feed(peer_up(DCI), peer_up(NODE))
    lab.feed(rm(NODE, ["10.244.1.0/24"], a=pa(comms=("64510:100",))))  # inside the DC: fine
    lab.feed(rm(DCI, ["10.245.0.0/16"], a=pa((64520,), comms=("64520:200",))))
    assert lab.report().results["local_only_leak"].subjects == [(ROUTER, "10.0.3.1", False)]
    # received from the other DC with its local-only tag
    lab.feed(rm(DCI, ["10.245.1.0/24", "10.245.2.0/24"], a=pa((64520,), comms=("64510:100",))))
    assert findings(lab, "local_only_leak") == [
        (
            "10.0.3.1",
            {
                "prefixes": ["10.245.1.0/24", "10.245.2.0/24"],
                "routes": {"adj_in_pre": 2},
                "communities": {"64510:100": 2},
            },
        )
    ]
    # re-announced with the global tag: the replaced routes no longer count
    lab.feed(rm(DCI, ["10.245.1.0/24"], a=pa((64520,), comms=("64510:200",))))
    assert [d["routes"] for _, d in findings(lab, "local_only_leak")] == [{"adj_in_pre": 1}]
    lab.feed(rm(DCI, withdraw=["10.245.2.0/24"]))
    assert findings(lab, "local_only_leak") == []
    # sent: pre-policy Adj-RIB-Out may still be filtered; post-policy is on the wire
    lab.feed(rm(DCI_OUT_PRE, ["10.244.1.0/24"], a=pa((), comms=("64510:100",))))
    assert findings(lab, "local_only_leak") == []
    lab.feed(rm(DCI_OUT_POST, ["10.244.1.0/24"], a=pa((), large=((64510, 1, 100),))))
    res = lab.report().results["local_only_leak"]
    assert [(f.peer, f.details["communities"]) for f in res.findings] == [
        ("10.0.3.1", {"64510:1:100": 1})
    ]
    assert res.findings[0].found == (
        "routes tagged local-only (64510:1:100) cross the DCI link with AS 64520: "
        "1 in adj_out_post (to the DCI peer): 10.244.1.0/24"
    )
    lab.feed(rm(DCI_OUT_POST, withdraw=["10.244.1.0/24"]))
    assert findings(lab, "local_only_leak") == []


# ----------------------------------------------------------------------------- overlap


def test_cidr_overlap_configured_cidrs() -> None:
    cfg = HealthConfig(pod_cidrs=nets("10.244.0.0/16"), service_cidrs=nets("10.96.0.0/12"))
    lab = Lab(cfg).feed(peer_up(NODE), peer_up(NODE2), peer_up(DCI))
    # two nodes of one DC (one AS per DC), disjoint blocks; a default route is not watched
    lab.feed(rm(NODE, ["10.244.1.0/24"], a=pa((64510,))))
    lab.feed(rm(NODE2, ["10.244.2.0/24", "10.96.0.0/12"], a=pa((64510,))))
    lab.feed(rm(DCI, ["0.0.0.0/0", "10.0.0.0/8"], a=pa((64520,))))
    assert findings(lab, "cidr_overlap") == []
    assert len(lab.report().results["cidr_overlap"].subjects) == 3
    # the other DC announces the same service CIDR and an overlapping pod range
    lab.feed(rm(DCI, ["10.96.0.0/12", "10.244.0.0/17"], a=pa((64520, 64530))))
    got = {p: d for p, d in findings(lab, "cidr_overlap")}
    assert sorted(got) == ["10.0.1.2", "10.0.1.4", "10.0.3.1"]
    assert got["10.0.1.2"] == {
        "conflicts": 1,
        "overlaps": [
            {
                "prefix": "10.244.1.0/24",
                "origin_as": 64510,
                "other_prefix": "10.244.0.0/17",
                "other_origin_as": 64530,
                "other_peers": ["10.0.3.1"],
            }
        ],
    }
    assert got["10.0.3.1"]["conflicts"] == 3
    assert [o["other_prefix"] for o in got["10.0.3.1"]["overlaps"]] == [  # type: ignore[index]
        "10.96.0.0/12",
        "10.244.1.0/24",
        "10.244.2.0/24",
    ]
    lab.feed(rm(DCI, withdraw=["10.244.0.0/17"]))
    assert sorted(p for p, _ in findings(lab, "cidr_overlap")) == ["10.0.1.4", "10.0.3.1"]
    lab.feed(peer_down(DCI))
    assert findings(lab, "cidr_overlap") == []


def test_cidr_overlap_learned_from_node_routes() -> None:
    cfg = HealthConfig(dci_peers=("10.0.3.1/32",))
    transit = hdr("10.0.5.1", 64900)
    lab = Lab(cfg).feed(peer_up(NODE), peer_up(DCI), peer_up(transit))
    lab.feed(rm(NODE, ["10.244.1.0/26"], a=pa((64601, 64601))))  # prepended: still the node's
    lab.feed(rm(NODE, ["192.0.2.7/32"], a=pa((64601,))))  # a service address: not watched
    lab.feed(rm(transit, ["10.244.0.0/16", "192.0.2.0/24"], a=pa((64900, 64530))))  # not a node
    lab.feed(rm(DCI, ["192.0.2.0/24"], a=pa((64520,))))
    assert findings(lab, "cidr_overlap") == []
    lab.feed(rm(DCI, ["10.244.0.0/16"], a=pa((64520,))))
    assert {p: d["overlaps"] for p, d in findings(lab, "cidr_overlap")} == {
        "10.0.1.2": [
            {
                "prefix": "10.244.1.0/26",
                "origin_as": 64601,
                "other_prefix": "10.244.0.0/16",
                "other_origin_as": 64520,
                "other_peers": ["10.0.3.1"],
            }
        ],
        "10.0.3.1": [
            {
                "prefix": "10.244.0.0/16",
                "origin_as": 64520,
                "other_prefix": "10.244.1.0/26",
                "other_origin_as": 64601,
                "other_peers": ["10.0.1.2"],
            }
        ],
    }
    f = lab.report().results["cidr_overlap"].findings[0]
    assert f.found == (
        "10.244.1.0/26 (origin AS 64601) overlaps 10.244.0.0/16 (origin AS 64520, from 10.0.3.1)"
    )
    # an aggregate (AS_SET) has no single origin: not watched
    lab.feed(rm(DCI, ["10.244.0.0/16"], a=pa((64520,), as_set=(64521, 64522))))
    assert findings(lab, "cidr_overlap") == []


def test_find_conflicts_same_prefix_and_nesting() -> None:
    def k(prefix: str) -> bytes:
        n = ipaddress.ip_network(prefix)
        return bytes([n.prefixlen]) + n.network_address.packed[: (n.prefixlen + 7) // 8]

    out = find_conflicts(
        [
            ("a", 1, {k("10.0.0.0/8"): {1: 1}, k("10.1.0.0/16"): {1: 1}}),
            ("b", 1, {k("10.1.0.0/16"): {2: 1}, k("11.0.0.0/8"): {2: 1}}),
            ("c", 1, {k("10.1.2.0/24"): {3: 2}}),
        ]
    )
    # a/16 vs b/16 (same prefix), a/8 vs b/16, a/8 vs c, a/16 vs c, b/16 vs c
    assert {p: c.count for p, c in out.items()} == {"a": 4, "b": 3, "c": 3}


# ----------------------------------------------------------------------------- component


def test_reload_rebuilds_dc_counters() -> None:
    lab = Lab(attach=False).feed(peer_up(DCI), rm(DCI, ["10.245.1.0/24"], a=pa((64520,))))
    health = Health(lab.core, HealthConfig())
    assert health.evaluate().results["dci_unsummarized"].subjects == []
    health.reload(Config(health=HealthConfig(dci_peers=("AS64520",))))
    res = health.evaluate().results["dci_unsummarized"]
    assert [(f.peer, f.details["prefixes"]) for f in res.findings] == [
        ("10.0.3.1", ["10.245.1.0/24"])
    ]
    health.reload(Config(health=HealthConfig(dci_peers=("AS64520",), dci_max_length=("ipv4:24",))))
    assert health.evaluate().results["dci_unsummarized"].findings == []
    health.reload(
        Config(health=HealthConfig(dci_peers=("AS64520",), disabled=("dci_unsummarized",)))
    )
    assert not health.evaluate().results["dci_unsummarized"].enabled
    st = dc_state(lab.core.routers[ROUTER].peers[DCI.key].tables[("adj_in_pre", 1, 1)])
    assert st is None or not st.long


@pytest.mark.parametrize("attach_late", [False, True])
def test_incremental_equals_rebuild(attach_late: bool) -> None:
    cfg = HealthConfig(
        dci_peers=("AS64520",),
        metallb_peers=("AS64700",),
        pod_cidrs=nets("10.244.0.0/16"),
        lb_pools=nets("192.0.2.0/24"),
        local_only_communities=("64510:100",),
    )
    lab = Lab(cfg, attach=not attach_late).feed(peer_up(DCI), peer_up(MLB), peer_up(NODE))
    events = [
        rm(DCI, ["10.244.1.0/24", "10.245.0.0/16"], a=pa((64520,), comms=("64510:100",))),
        rm(DCI, ["10.244.1.0/24"], a=pa((64520,))),
        rm(MLB, ["10.244.9.0/24", "192.0.2.1/32", "198.51.100.1/32"], a=pa((64700,))),
        rm(MLB, withdraw=["192.0.2.1/32", "10.244.9.0/24"]),
        rm(NODE, ["10.244.2.0/24"], a=pa((64601,))),
        # post-policy Adj-RIB-In is not in health.route_views (default adj_in_pre)
        rm(DCI_POST, ["10.244.3.0/24"], a=pa((64520,), comms=("64510:100",))),
        rm(DCI, withdraw=["10.245.0.0/16", "10.9.9.0/24"]),
    ]
    lab.feed(*events)

    def snapshot() -> dict[tuple[str, str], tuple[object, ...]]:
        out = {}
        for peer in lab.core.routers[ROUTER].peers.values():
            for (view, _afi, _), t in peer.tables.items():
                st = dc_state(t)
                if st is not None:
                    out[(peer.label, view)] = (
                        dict(st.metallb), dict(st.long), dict(st.leaks), dict(st.leak_comms),
                        {p: dict(o) for p, o in st.origins.items()},
                    )  # fmt: skip
        return {k: v for k, v in out.items() if any(v)}

    if attach_late:
        obs = DcObserver(cfg)
        obs.rebuild(lab.core)
        got = snapshot()
    else:
        got = snapshot()
        DcObserver(cfg).rebuild(lab.core)
        assert snapshot() == got
    assert {k: (len(v[0]), len(v[1]), sum(v[2].values())) for k, v in got.items()} == {  # type: ignore[arg-type]
        ("10.0.3.1", "adj_in_pre"): (0, 1, 0),  # 10.244.1.0/24 long; its tag replaced
        ("10.0.2.5", "adj_in_pre"): (1, 0, 0),  # 198.51.100.1/32 outside the pool
        ("10.0.1.2", "adj_in_pre"): (0, 0, 0),
    }


POOL = [
    pa((64520,), comms=("64510:100",)),
    pa((64520, 64530)),
    pa((64601,)),
    pa((64601, 64601), comms=("64510:100", "64510:200")),
    pa(()),
    pa((64520,), as_set=(1, 2)),
]
PREFIXES = [
    "10.244.0.0/16",
    "10.244.1.0/24",
    "10.244.1.0/26",
    "10.96.0.0/12",
    "192.0.2.1/32",
    "0.0.0.0/0",
]


def _snapshot(lab: Lab) -> dict[tuple[str, str], tuple[object, ...]]:
    out = {}
    for peer in lab.core.routers[ROUTER].peers.values():
        for (view, _afi, _), t in peer.tables.items():
            st = dc_state(t)
            if st is not None:
                v = (dict(st.metallb), dict(st.long), dict(st.leaks), dict(st.leak_comms),
                     {p: dict(o) for p, o in st.origins.items() if o})  # fmt: skip
                if any(v):
                    out[(peer.label, view)] = v
    return out


@pytest.mark.parametrize("learned", [False, True])
@given(
    events=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.lists(st.integers(0, 5), min_size=1, max_size=3), st.integers(0, 5), st.booleans()),
        max_size=25,
    )
)  # fmt: skip
def test_incremental_equals_rebuild_random(
    learned: bool, events: list[tuple[int, bool, list[int], int, bool]]
) -> None:
    cfg = HealthConfig(
        dci_peers=("AS64520",),
        metallb_peers=("AS64700",),
        pod_cidrs=() if learned else nets("10.244.0.0/16"),
        lb_pools=nets("192.0.2.0/24"),
        local_only_communities=("64510:100",),
        dci_max_length=("ipv4:16",),
    )
    peers = [DCI, MLB, NODE]
    lab = Lab(cfg).feed(*(peer_up(h) for h in peers))
    for who, announce, ids, a, down in events:
        h = peers[who]
        if down:
            lab.feed(peer_down(h), peer_up(h))
            continue
        prefixes = [PREFIXES[i] for i in ids]
        lab.feed(rm(h, prefixes, a=POOL[a]) if announce else rm(h, withdraw=prefixes))
    got = _snapshot(lab)
    DcObserver(cfg).rebuild(lab.core)
    assert _snapshot(lab) == got
