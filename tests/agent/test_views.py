"""JSON views for the API and the CLI."""

from __future__ import annotations

import json

from test_core_support import (
    POST,
    eor,
    feed,
    hdr,
    initiation,
    make_core,
    peer_down,
    peer_up,
    rm,
    stats,
)

from agent.core import Core
from agent.export import views
from parsers.bgp.attributes import (
    AS_SEQUENCE,
    AS_SET,
    Aggregator,
    AsPathSegment,
    PathAttributes,
    RawAttribute,
)
from parsers.bmp.messages import StatEntry

A = hdr("10.0.1.2", 65001)
A_POST = hdr("10.0.1.2", 65001, POST)
B = hdr("fd00:1::2", 65002)
NEVER = hdr("10.0.1.99", 65099, bgp_id="0.0.0.0")

RICH = PathAttributes(
    origin=2,
    as_path=(AsPathSegment(AS_SEQUENCE, (65001, 23456)), AsPathSegment(AS_SET, (1, 2))),
    as4_path=(AsPathSegment(AS_SEQUENCE, (4200000001,)), AsPathSegment(AS_SET, (1, 2))),
    next_hop="10.0.1.2",
    med=30,
    local_pref=200,
    communities=(65001 << 16 | 100, 65001 << 16 | 3),
    large_communities=((4200000001, 1, 3),),
    extended_communities=(bytes([0, 2, 0xFD, 0xE9, 0, 0, 0, 7]), bytes(range(8))),
    aggregator=Aggregator(65001, "10.0.1.2"),
    unknown=(RawAttribute(0xC0, 99, b"\x01\x02"),),
)


def scenario() -> Core:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 40000)
    feed(s, initiation("spk1", "FRRouting 8.4.4"), peer_down(NEVER, 2))
    feed(s, peer_up(A), peer_up(B, local="fd00:1::1"))
    feed(s, rm(A, ["10.0.0.0/8", "10.244.0.0/16", "10.244.1.0/24"]))
    feed(s, rm(A, ["192.0.2.0/27"], a=RICH), eor(A))
    feed(s, rm(A_POST, ["10.0.0.0/8"]))
    feed(s, rm(B, ["2001:db8::/32", "2001:db8:1::/48"]))
    feed(s, rm(B, ["2001:db8:1::/48"], ids=[1]), rm(B, ["2001:db8:1::/48"], ids=[2]))
    feed(s, stats(A, [StatEntry(0, 2), StatEntry(9, 4, 1, 1)]))
    clock.t += 1
    feed(s, rm(A, None, ["10.244.1.0/24"]))
    clock.t += 1
    feed(s, rm(A, ["10.244.1.0/24"]))
    clock.t += 100
    return core


def test_routers_view() -> None:
    core = scenario()
    out = views.routers(core)
    json.dumps(out)
    (r,) = out["routers"]
    assert r["router"] == "10.0.9.1" and r["state"] == "up" and r["up"] is True
    assert (r["sys_name"], r["sys_descr"]) == ("spk1", "FRRouting 8.4.4")
    assert r["connected_since"] == 1_000_000.0 and r["uptime"] == 102.0
    assert (r["peers_up"], r["peers_total"], r["routes"]) == (2, 3, 9)
    assert r["messages"] == {
        "initiation": 1,
        "peer_down": 1,
        "peer_up": 2,
        "route_monitoring": 9,
        "statistics_report": 1,
    }
    assert r["quirks"] == {"peer_down_without_peer_up": 1}


def test_peers_view_counts_per_view_and_family() -> None:
    out = views.peers(scenario())
    json.dumps(out)
    by = {p["peer"]: p for p in out["peers"]}
    assert sorted(by) == ["10.0.1.2", "10.0.1.99", "fd00:1::2"]
    a = by["10.0.1.2"]
    assert (a["state"], a["asn"], a["local_asn"], a["uptime"]) == ("up", 65001, 65000, 102.0)
    assert a["prefixes"] == {"adj_in_pre": {"ipv4_unicast": 4}, "adj_in_post": {"ipv4_unicast": 1}}
    assert [(t["view"], t["afi"], t["routes"], t["eor"], t["flaps"]) for t in a["tables"]] == [
        ("adj_in_pre", "ipv4", 4, True, 1),
        ("adj_in_post", "ipv4", 1, False, 0),
    ]
    assert a["stats"] == [
        {"stat": "adj_rib_in_routes_per_afi", "afi": "ipv4", "safi": "unicast", "value": 4},
        {"stat": "rejected_prefixes", "afi": None, "safi": None, "value": 2},
    ]
    b = by["fd00:1::2"]
    assert b["tables"][0]["routes"] == 4 and b["tables"][0]["prefixes"] == 2
    n = by["10.0.1.99"]
    assert (n["state"], n["up"], n["uptime"], n["routes"]) == ("down", False, None, 0)
    assert n["downs"] == {"local_no_notification": 1}
    assert views.peers(scenario(), router="nope") == {"peers": []}


def test_routes_exact_and_longest_prefix_match() -> None:
    core = scenario()
    got = views.routes(core, view="adj_in_pre", prefix="10.244.1.0/24")
    assert [(r["peer"], r["prefix"], r["match"]) for r in got["routes"]] == [
        ("10.0.1.2", "10.244.1.0/24", "exact")
    ]
    got = views.routes(core, prefix="10.244.1.7")
    assert [(r["view"], r["prefix"], r["match"]) for r in got["routes"]] == [
        ("adj_in_pre", "10.244.1.0/24", "longest"),
        ("adj_in_post", "10.0.0.0/8", "longest"),
    ]
    got = views.routes(core, prefix="10.244.2.0/24")
    assert [(r["view"], r["prefix"]) for r in got["routes"]] == [
        ("adj_in_pre", "10.244.0.0/16"),
        ("adj_in_post", "10.0.0.0/8"),
    ]
    assert views.routes(core, prefix="172.16.0.0/12")["routes"] == []
    # IPv6 with ADD-PATH keys next to a plain key of the same prefix
    got = views.routes(core, peer="fd00:1::2", prefix="2001:db8:1:2::/64")
    assert [(r["prefix"], r["path_id"], r["match"]) for r in got["routes"]] == [
        ("2001:db8:1::/48", None, "longest"),
        ("2001:db8:1::/48", 1, "longest"),
        ("2001:db8:1::/48", 2, "longest"),
    ]
    got = views.routes(core, peer="fd00:1::2", prefix="2001:db8:2::/48")
    assert [(r["prefix"], r["path_id"]) for r in got["routes"]] == [("2001:db8::/32", None)]


def test_routes_listing_filters_and_limit() -> None:
    core = scenario()
    assert views.routes(core)["count"] == 9
    assert views.routes(core, view="adj_in_post")["count"] == 1
    assert views.routes(core, router="10.0.9.1", peer="10.0.1.2")["count"] == 5
    assert views.routes(core, router="other")["count"] == 0
    got = views.routes(core, limit=3)
    assert (got["count"], got["truncated"]) == (3, True)
    assert views.routes(core, limit=9)["truncated"] is False


def test_route_attributes_rendering() -> None:
    core = scenario()
    (r,) = views.routes(core, view="adj_in_pre", prefix="192.0.2.0/27")["routes"]
    json.dumps(r)
    assert r["path_id"] is None and r["afi"] == "ipv4" and r["safi"] == "unicast"
    # the decode schema (docs/decode-schema.md): absent attributes are left out
    assert r["attributes"] == {
        "origin": "incomplete",
        # AS_PATH merged with AS4_PATH (RFC 6793 §4.2.3): parsers' effective_as_path
        "as_path": [
            {"type": "sequence", "asns": [65001]},
            {"type": "sequence", "asns": [4200000001]},
            {"type": "set", "asns": [1, 2]},
        ],
        "as4_path": [
            {"type": "sequence", "asns": [4200000001]},
            {"type": "set", "asns": [1, 2]},
        ],
        "next_hop": "10.0.1.2",
        "med": 30,
        "local_pref": 200,
        "aggregator": {"asn": 65001, "address": "10.0.1.2"},
        "communities": ["65001:100", "65001:3"],
        "large_communities": ["4200000001:1:3"],
        "extended_communities": ["rt:65001:7", "0001020304050607"],
        "unknown": [{"type": 99, "flags": 192, "hex": "0102"}],
    }


def test_flaps_view() -> None:
    core = scenario()
    feed(core.routers["10.0.9.1"].session, peer_down(A, 3))  # type: ignore[arg-type]
    out = views.flaps(core)
    json.dumps(out)
    assert out["window"] == 60.0
    assert out["top"] == [
        {
            "router": "10.0.9.1",
            "peer": "10.0.1.2",
            "view": "adj_in_pre",
            "afi": "ipv4",
            "safi": "unicast",
            "prefix": "10.244.1.0/24",
            "flaps": 1,
        }
    ]
    assert out["tables"] == [
        {
            "router": "10.0.9.1",
            "peer": "10.0.1.2",
            "view": "adj_in_pre",
            "afi": "ipv4",
            "safi": "unicast",
            "flaps": 1,
        }
    ]
    assert out["sessions"] == [
        {"router": "10.0.9.1", "peer": "10.0.1.99", "downs": {"local_no_notification": 1}},
        {"router": "10.0.9.1", "peer": "10.0.1.2", "downs": {"remote_notification": 1}},
    ]


def test_views_after_close() -> None:
    core = scenario()
    s = core.routers["10.0.9.1"].session
    assert s is not None
    core.close_session(s, "eof")
    (r,) = views.routers(core)["routers"]
    assert (r["state"], r["peers_up"], r["routes"], r["uptime"]) == ("down", 0, 0, None)
    assert r["close_reason"] == "eof"
    assert views.routes(core)["count"] == 0
