"""Replay the golden captures (tests/data/captures) through BmpSession and the core.

Expected numbers come from the scenarios in tests/data/captures/README.md and
the lab notes (what each speaker sends), reasoned per table:

* basic, final state after ExaBGP's restart: peer A re-announces 20 + 10 - 5 =
  16 IPv4 + 9 IPv6 prefixes; post-policy drops the filtered 198.51.100.192/26
  and 2001:db8:9::/48 (15 + 8). FRR's pre-policy never shows the filtered
  prefix as an announcement (15 + 8); GoBGP's and BIRD's do (16 + 9). Peer B:
  5 + 5 in every view. 10.244.1.0/24 flaps 5 times in peer A's IPv4 tables.
* The per-view announce/withdraw totals equal the README's "RM prefixes
  announced/withdrawn" columns (counted there by an independent decoder).

The clock is constant, so every withdraw → re-announce is inside the window.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agent.core import Core, CoreSettings, Peer, Router
from agent.export import views
from agent.export.metrics import register
from parsers.bmp.session import BmpSession

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
A4 = ("10.0.1.2", 1)
A6 = ("10.0.1.2", 2)
B4 = ("fd00:1::2", 1)
B6 = ("fd00:1::2", 2)


def replay(name: str, chunk: int = 1500) -> Router:
    core = Core(CoreSettings(clock=lambda: 1000.0))
    session = BmpSession(fast=True)
    rs = core.open_session("10.0.9.1", 50000)
    data = (CAPTURES / f"{name}.bmp").read_bytes()
    for i in range(0, len(data), chunk):
        for event in session.feed(data[i : i + chunk]):
            rs.handle(event)
        rs.absorb_quirks(session.ctx.quirks)
    return rs.router


def peer(router: Router, address: str) -> Peer:
    (p,) = [p for p in router.peers.values() if p.address == address]
    return p


def routes(router: Router, view: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(peer address, afi) → (routes, prefixes) of unicast tables of ``view``."""
    return {
        (p.address, afi): (t.route_count, t.prefix_count)
        for p in router.peers.values()
        for (v, afi, _), t in p.tables.items()
        if v == view
    }


def totals(router: Router, view: str) -> tuple[int, int]:
    ts = [t for p in router.peers.values() for k, t in p.tables.items() if k[0] == view]
    return sum(t.announces for t in ts), sum(t.withdraws for t in ts)


def test_frr_basic() -> None:
    r = replay("frr-basic")
    assert dict(r.messages) == {
        "initiation": 1,
        "peer_up": 4,
        "route_monitoring": 238,
        "statistics_report": 26,
        "peer_down": 7,
    }
    assert routes(r, "adj_in_pre") == {A4: (15, 15), A6: (8, 8), B4: (5, 5), B6: (5, 5)}
    assert routes(r, "adj_in_post") == {A4: (15, 15), A6: (8, 8), B4: (5, 5), B6: (5, 5)}
    assert totals(r, "adj_in_pre") == (76, 43)
    assert totals(r, "adj_in_post") == (76, 43)
    a, b = peer(r, "10.0.1.2"), peer(r, "fd00:1::2")
    never = peer(r, "10.0.1.99")
    # two Peer Downs each at BMP start (still connecting), one at the reset
    assert dict(a.downs) == {"local_no_notification": 2, "remote_no_notification": 1}
    assert dict(b.downs) == {"local_no_notification": 2, "remote_no_notification": 1}
    assert dict(never.downs) == {"local_no_notification": 1}
    assert (a.state, b.state, never.state) == ("up", "up", "down")
    assert r.quirks["peer_down_without_peer_up"] == 5
    assert "route_monitoring_without_peer_up" not in r.quirks
    assert {k: t.flaps for k, t in a.tables.items()} == {
        ("adj_in_pre", 1, 1): 5,
        ("adj_in_post", 1, 1): 5,
        ("adj_in_pre", 2, 1): 0,
        ("adj_in_post", 2, 1): 0,
    }
    assert {name for name, _, _ in a.stats} == {
        "rejected_prefixes",
        "duplicate_withdraws",
        "cluster_list_loop_updates",
        "as_path_loop_updates",
        "originator_id_updates",
        "treat_as_withdraw_updates",
        "experimental_65531",
    }
    assert (r.sys_descr, r.termination_reason) == ("FRRouting 8.4.4", None)
    assert not r.decode_errors


def test_frr_basic_nosoftreconf_pre_policy_is_all_withdrawals() -> None:
    r = replay("frr-basic-nosoftreconf")
    assert routes(r, "adj_in_pre") == {A4: (0, 0), A6: (0, 0), B4: (0, 0), B6: (0, 0)}
    assert routes(r, "adj_in_post") == {A4: (15, 15), A6: (8, 8), B4: (5, 5), B6: (5, 5)}
    assert totals(r, "adj_in_pre") == (0, 119)
    assert totals(r, "adj_in_post") == (76, 43)
    pre_unknown = sum(
        t.unknown_withdraws
        for p in r.peers.values()
        for k, t in p.tables.items()
        if k[0] == "adj_in_pre"
    )
    assert pre_unknown == 119


def test_gobgp_basic() -> None:
    r = replay("gobgp-basic")
    assert routes(r, "adj_in_pre") == {A4: (16, 16), A6: (9, 9), B4: (5, 5), B6: (5, 5)}
    assert totals(r, "adj_in_pre") == (80, 10)
    assert totals(r, "adj_in_post") == (76, 72)
    assert totals(r, "loc_rib") == (96, 51)
    loc = peer(r, "0.0.0.0")
    assert (loc.peer_type_name, loc.state, loc.up) == ("loc_rib", "implicit", True)
    # every Loc-RIB RM (one prefix each) came without a Peer Up; counted once
    assert r.quirks["route_monitoring_without_peer_up"] == 96 + 51
    a = peer(r, "10.0.1.2")
    assert dict(a.downs) == {"remote_no_notification": 1}
    assert a.tables[("adj_in_pre", 1, 1)].flaps == 5
    # Loc-RIB: 10.244.1.0/24 flaps 5 times; at the reset both sessions go,
    # so every Loc-RIB route (A's 15 accepted IPv4 and 8 IPv6 prefixes; B's 5 + 5
    # are the same prefixes) is withdrawn and comes back after the restart.
    assert loc.tables[("loc_rib", 1, 1)].flaps == 5 + 15
    assert loc.tables[("loc_rib", 2, 1)].flaps == 8
    assert {name for name, _, _ in a.stats} == {
        "adj_rib_in_routes",
        "loc_rib_routes",
        "treat_as_withdraw_updates",
        "treat_as_withdraw_prefixes",
    }
    assert (r.sys_name, r.sys_descr) == ("GoBGP", "3.10.0")


def test_bird_basic() -> None:
    r = replay("bird-basic")
    assert routes(r, "adj_in_pre") == {A4: (16, 16), A6: (9, 9), B4: (5, 5), B6: (5, 5)}
    assert routes(r, "adj_in_post") == {A4: (15, 15), A6: (8, 8), B4: (5, 5), B6: (5, 5)}
    assert totals(r, "adj_in_pre") == (80, 45)
    assert totals(r, "adj_in_post") == (76, 43)
    a = peer(r, "10.0.1.2")
    # withdrawn: 4 IPv4 at t≈16 s, 5 flaps, then all 16 (pre) / 15 (post) before Peer Down
    assert a.tables[("adj_in_pre", 1, 1)].withdraws == 4 + 5 + 16
    assert a.tables[("adj_in_post", 1, 1)].withdraws == 4 + 5 + 15
    # BIRD sends EoR right after each Peer Up
    assert all(t.eor for p in r.peers.values() for t in p.tables.values())
    assert a.tables[("adj_in_pre", 1, 1)].flaps == 5
    assert dict(a.downs) == {"remote_no_notification": 1}
    assert r.termination_reason == "administratively_closed"
    assert not r.quirks and not r.decode_errors


def test_bird_addpath_live_path_ids() -> None:
    r = replay("bird-addpath")
    # IPv4 pre: 5 prefixes x 2 paths, + path 3 of 192.0.2.0/27, - path 1 of
    # 192.0.2.32/27, + path 3 of the filtered prefix = 11 paths on 5 prefixes;
    # post: the 4 accepted prefixes, 8 + 1 - 1 = 8 paths.
    assert routes(r, "adj_in_pre") == {A4: (11, 5), A6: (6, 3), B4: (0, 0), B6: (0, 0)}
    assert routes(r, "adj_in_post") == {A4: (8, 4), A6: (4, 2), B4: (0, 0), B6: (0, 0)}
    assert totals(r, "adj_in_pre") == (19, 1)
    assert totals(r, "adj_in_post") == (14, 1)
    core_routes = _routes_view(r, prefix="2001:db8:1::/48", view="adj_in_pre")
    assert len(core_routes) == 2
    assert all(x["path_id"] is not None for x in core_routes)
    meds = {x["attributes"]["next_hop"]: x["attributes"]["med"] for x in core_routes}
    assert meds["fd00:1::3"] == 99


def test_frr_addpath_no_path_ids() -> None:
    r = replay("frr-addpath")
    # one RM per prefix, no path IDs: the dump's 5 IPv4 pre-policy prefixes
    # (filtered one included) minus the filtered one, withdrawn live when it got
    # its path 3; the live path changes are replacements.
    assert routes(r, "adj_in_pre") == {A4: (4, 4), A6: (3, 3), B4: (0, 0), B6: (0, 0)}
    assert routes(r, "adj_in_post") == {A4: (4, 4), A6: (2, 2), B4: (0, 0), B6: (0, 0)}
    assert totals(r, "adj_in_pre") == (11, 1)
    assert totals(r, "adj_in_post") == (9, 1)
    assert all(t.eor for p in r.peers.values() for t in p.tables.values())
    assert r.quirks["add_path_absent"] == 4


def test_gobgp_addpath_pre_policy() -> None:
    r = replay("gobgp-addpath")
    # dump without path IDs (one plain key per prefix: 5 IPv4, 3 IPv6), live
    # with: + (3, 192.0.2.0/27), + (3, 198.51.100.192/26), - (1, 192.0.2.32/27)
    # is unknown (the dump had no path IDs), + (2, 2001:db8:1::/48) MED 99.
    assert routes(r, "adj_in_pre")[A4] == (7, 5)
    assert routes(r, "adj_in_pre")[A6] == (4, 3)
    assert totals(r, "adj_in_pre") == (19, 1)
    assert totals(r, "adj_in_post") == (14, 2)
    assert totals(r, "loc_rib") == (13, 6)
    assert r.quirks["withdraw_unknown_route"] == 1
    assert r.quirks["route_monitoring_without_peer_up"] == 13 + 6


def test_frr_mistakes() -> None:
    r = replay("frr-mistakes")
    assert routes(r, "adj_in_pre") == {A4: (201, 201), A6: (1, 1)}
    assert routes(r, "adj_in_post") == {A4: (201, 201), A6: (1, 1)}
    a = peer(r, "10.0.1.2")
    assert a.asn == 15169 and a.state == "up"
    assert peer(r, "fd00:1::2").state == "down"
    assert r.quirks["peer_down_without_peer_up"] == 5
    got = _routes_view(r, prefix="198.18.0.1", view="adj_in_post")
    assert [(x["prefix"], x["match"]) for x in got] == [("0.0.0.0/0", "longest")]
    got = _routes_view(r, prefix="192.0.2.77", view="adj_in_post")
    assert [(x["prefix"], x["match"]) for x in got] == [("192.0.2.77/32", "exact")]


def test_bird_latesink_has_no_peers() -> None:
    r = replay("bird-addpath-latesink")
    assert dict(r.messages) == {"initiation": 1, "termination": 1}
    assert r.peers == {}


@pytest.mark.parametrize("chunk", [1, 7, 65536])
def test_chunking_does_not_change_state(chunk: int) -> None:
    r = replay("frr-addpath", chunk)
    assert routes(r, "adj_in_pre") == {A4: (4, 4), A6: (3, 3), B4: (0, 0), B6: (0, 0)}
    assert r.messages["route_monitoring"] == 30


def test_metrics_on_capture_close_and_reconnect() -> None:
    core = Core(CoreSettings(clock=lambda: 1000.0))
    data = (CAPTURES / "frr-basic.bmp").read_bytes()
    for _ in range(2):
        session = BmpSession()
        rs = core.open_session("10.0.9.1", 50000)
        for event in session.feed(data):
            rs.handle(event)
        reg = CollectorRegistry()
        register(core, reg)
        text = generate_latest(reg).decode()
        line = (
            'bmp_rib_routes{afi="ipv4",peer="10.0.1.2",router="10.0.9.1",'
            'safi="unicast",view="adj_in_post"} 15.0'
        )
        assert line in text
        core.close_session(rs, "eof")
    text = generate_latest(reg).decode()
    assert line.replace("15.0", "0.0") in text
    assert 'bmp_messages_total{router="10.0.9.1",type="route_monitoring"} 476.0' in text
    assert 'bmp_router_connections_total{router="10.0.9.1"} 2.0' in text
    assert (
        'bmp_peer_downs_total{peer="10.0.1.2",reason="local_no_notification",router="10.0.9.1"} 4.0'
        in text
    )


def _routes_view(r: Router, **kw: str) -> list[dict[str, object]]:
    core = Core()
    core._routers[r.label] = r  # a one-router core around the replayed router
    out = views.routes(core, **kw)["routes"]
    assert isinstance(out, list)
    return out
