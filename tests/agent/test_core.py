"""The state core: lifecycle, RIB tables, quirks, flaps, EoR, stats (dataclass events)."""

from __future__ import annotations

import dataclasses
from collections import Counter

from test_core_support import (
    POST,
    attrs,
    eor,
    feed,
    hdr,
    initiation,
    key,
    make_core,
    peer_down,
    peer_up,
    rm,
    stats,
    termination,
)

from agent.core import DOWN, IMPLICIT, UP, AttributeInterner, RibTable
from parsers.bgp.attributes import AsPathSegment, PathAttributes
from parsers.bgp.messages import Update
from parsers.bmp.messages import RouteMonitoring, StatEntry
from parsers.bmp.session import DecodeFailed
from parsers.errors import Action, MalformedError, TruncatedError

A = hdr("10.0.1.2", 65001)
A_POST = hdr("10.0.1.2", 65001, POST)
B = hdr("fd00:1::2", 65002)
PEER_A = A.key


def v4(n: int) -> list[str]:
    return [f"10.{i // 256}.{i % 256}.0/24" for i in range(n)]


def test_initiation_and_termination() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 40001)
    feed(s, initiation("spk1", "FRRouting 8.4.4"), termination(0))
    r = core.routers["10.0.9.1"]
    assert (r.sys_name, r.sys_descr) == ("spk1", "FRRouting 8.4.4")
    assert r.termination_reason == "administratively_closed"
    assert dict(r.messages) == {"initiation": 1, "termination": 1}
    assert r.up is True and r.connections == 1 and r.port == 40001


def test_announce_withdraw_replace_counts() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(20)), rm(A, ["2001:db8:1::/48", "2001:db8:2::/48"]))
    peer = core.routers["10.0.9.1"].peers[PEER_A]
    t4 = peer.tables[("adj_in_pre", 1, 1)]
    t6 = peer.tables[("adj_in_pre", 2, 1)]
    assert (t4.route_count, t4.prefix_count, t6.route_count) == (20, 20, 2)
    # replace: same prefixes, new attributes; counts unchanged, value replaced
    feed(s, rm(A, v4(3), a=attrs(med=77)))
    assert t4.route_count == 20
    assert t4.routes[key("10.0.0.0/24")].med == 77
    assert t4.routes[key("10.0.3.0/24")].med == 0
    feed(s, rm(A, None, v4(5)))
    assert (t4.route_count, t4.prefix_count) == (15, 15)
    assert (t4.announces, t4.withdraws) == (23, 5)
    assert core.routers["10.0.9.1"].quirks["withdraw_unknown_route"] == 0
    # mixed announce + withdraw in one UPDATE
    feed(s, rm(A, ["10.0.0.0/24"], ["10.0.6.0/24", "10.0.7.0/24"]))
    assert t4.route_count == 14
    assert t4.routes[key("10.0.0.0/24")].med == 0


def test_views_are_separate_tables() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(4)), rm(A_POST, v4(3)))
    out = hdr("10.0.1.2", 65001, 0x10)
    feed(s, rm(out, v4(2)))
    loc = hdr("0.0.0.0", 65000, 0, peer_type=3)
    feed(s, rm(loc, v4(1)))
    r = core.routers["10.0.9.1"]
    counts = {
        (str(p.label), k[0]): t.route_count for p in r.peers.values() for k, t in p.tables.items()
    }
    assert counts == {
        ("10.0.1.2", "adj_in_pre"): 4,
        ("10.0.1.2", "adj_in_post"): 3,
        ("10.0.1.2", "adj_out_pre"): 2,
        ("0.0.0.0", "loc_rib"): 1,
    }


def test_add_path_keys_and_prefix_refcount() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    pfx = ["192.0.2.0/27", "192.0.2.32/27"]
    feed(s, peer_up(A))
    feed(s, rm(A, pfx, ids=[1, 1]), rm(A, pfx, ids=[2, 2], a=attrs(nh="10.0.1.3")))
    t = core.routers["10.0.9.1"].peers[PEER_A].tables[("adj_in_pre", 1, 1)]
    assert (t.route_count, t.prefix_count) == (4, 2)
    assert set(t.routes) == {(1, key(p)) for p in pfx} | {(2, key(p)) for p in pfx}
    feed(s, rm(A, ["192.0.2.0/27"], ids=[3]))
    assert (t.route_count, t.prefix_count) == (5, 2)
    feed(s, rm(A, None, ["192.0.2.32/27"], wids=[1]))
    assert (t.route_count, t.prefix_count) == (4, 2)
    feed(s, rm(A, None, ["192.0.2.32/27"], wids=[2]))
    assert (t.route_count, t.prefix_count) == (3, 1)
    # a withdraw without path ID does not match add-path keys
    feed(s, rm(A, None, ["192.0.2.0/27"]))
    assert (t.route_count, t.prefix_count) == (3, 1)
    assert core.routers["10.0.9.1"].quirks["withdraw_unknown_route"] == 1
    # a plain key next to add-path keys for the same prefix: 2 prefixes
    feed(s, rm(A, ["192.0.2.0/27", "192.0.2.64/27"]))
    assert (t.route_count, t.prefix_count) == (5, 2)


def test_plain_table_switching_to_add_path_counts_prefixes() -> None:
    t = RibTable("adj_in_pre", 1, 1)
    flapped: list[bytes] = []
    t.announce((key("10.0.0.0/8"), key("11.0.0.0/8")), None, attrs(), 0.0, 60.0, flapped)
    t.announce((key("10.0.0.0/8"),), (7,), attrs(), 0.0, 60.0, flapped)
    assert (t.route_count, t.prefix_count) == (3, 2)
    assert t.withdraw((key("10.0.0.0/8"),), None, 0.0, 60.0) == 0
    assert (t.route_count, t.prefix_count) == (2, 2)
    assert t.withdraw((key("10.0.0.0/8"),), (7,), 0.0, 60.0) == 0
    assert (t.route_count, t.prefix_count) == (1, 1)
    assert t.withdraw((key("10.0.0.0/8"),), (7,), 0.0, 60.0) == 1
    assert t.unknown_withdraws == 1


def test_withdraw_unknown_route_quirk() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(2)), rm(A, None, v4(5)))
    r = core.routers["10.0.9.1"]
    assert r.quirks["withdraw_unknown_route"] == 3
    assert r.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 0


def test_route_monitoring_without_peer_up_applies_and_counts_per_message() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    loc = hdr("0.0.0.0", 65000, 0, bgp_id="10.0.1.1", peer_type=3)
    feed(s, rm(loc, v4(3)), rm(loc, v4(6)))
    r = core.routers["10.0.9.1"]
    peer = r.peers[loc.key]
    assert peer.state == IMPLICIT and peer.up is True
    assert peer.tables[("loc_rib", 1, 1)].route_count == 6
    assert r.quirks["route_monitoring_without_peer_up"] == 2
    # GoBGP's shutdown: AS 0 / BGP ID 0.0.0.0 in the header, same peer key
    odd = hdr("0.0.0.0", 0, 0, bgp_id="0.0.0.0", peer_type=3)
    feed(s, rm(odd, None, v4(2)))
    assert len(r.peers) == 1
    assert peer.tables[("loc_rib", 1, 1)].route_count == 4
    assert (peer.asn, peer.bgp_id) == (65000, "10.0.1.1")
    assert r.quirks["route_monitoring_without_peer_up"] == 3
    # the decoders count the same quirk per message: not counted twice
    s.absorb_quirks(Counter({"route_monitoring_without_peer_up": 3, "add_path_absent": 1}))
    assert dict(r.quirks) == {"route_monitoring_without_peer_up": 3, "add_path_absent": 1}
    # after a Peer Up the peer is up and no more quirks are counted
    feed(s, peer_up(loc), rm(loc, v4(1)))
    assert peer.state == UP and r.quirks["route_monitoring_without_peer_up"] == 3


def test_peer_down_clears_views_and_counts_reason() -> None:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), peer_up(B, local="fd00:1::1"))
    feed(s, rm(A, v4(25)), rm(A_POST, v4(24)), rm(B, ["2001:db8::/32"]), eor(A))
    clock.t += 10
    feed(s, peer_down(A, 4))
    r = core.routers["10.0.9.1"]
    pa = r.peers[PEER_A]
    assert pa.state == DOWN and pa.last_change == 1_000_010.0
    assert [t.route_count for t in pa.tables.values()] == [0, 0]
    assert pa.tables[("adj_in_pre", 1, 1)].eor is False
    assert pa.tables[("adj_in_pre", 1, 1)].announces == 25  # counters persist
    assert dict(pa.downs) == {"remote_no_notification": 1}
    assert r.peers[B.key].tables[("adj_in_pre", 2, 1)].route_count == 1
    clock.t += 3
    feed(s, peer_up(A), rm(A, v4(2)))
    assert pa.state == UP and pa.up_since == 1_000_013.0
    assert pa.tables[("adj_in_pre", 1, 1)].route_count == 2


def test_peer_down_for_never_up_peer() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    never = hdr("10.0.1.99", 65099, bgp_id="0.0.0.0")
    feed(s, peer_down(never, 2), peer_down(never, 2))
    r = core.routers["10.0.9.1"]
    p = r.peers[never.key]
    assert p.state == DOWN and p.up is False and p.ever_up is False
    assert dict(p.downs) == {"local_no_notification": 2}
    assert p.last_change is None
    assert r.quirks["peer_down_without_peer_up"] == 2
    # BGP ID 0.0.0.0 of a Peer Down never replaces the one from Peer Up
    feed(s, peer_up(A), peer_down(hdr("10.0.1.2", 65001, bgp_id="0.0.0.0"), 2))
    assert r.peers[PEER_A].bgp_id == "10.0.1.2"
    assert r.quirks["peer_down_without_peer_up"] == 2


def test_close_session_drops_rib_keeps_counters_and_reconnect_reuses_router() -> None:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, initiation(), peer_up(A), rm(A, v4(10)), rm(A, None, v4(12)))
    core.close_session(s, "eof")
    r = core.routers["10.0.9.1"]
    assert r.up is False and r.close_reason == "eof" and r.session is None
    pa = r.peers[PEER_A]
    assert pa.state == DOWN
    t = pa.tables[("adj_in_pre", 1, 1)]
    assert (t.route_count, t.announces, t.withdraws) == (0, 10, 12)
    assert r.quirks["withdraw_unknown_route"] == 2
    assert dict(pa.downs) == {}  # closing is not a Peer Down
    core.close_session(s, "again")  # idempotent
    assert r.close_reason == "eof"
    clock.t += 5
    s2 = core.open_session("10.0.9.1", 2)
    assert s2.router is r and r.connections == 2 and r.up is True
    feed(s2, peer_up(A), rm(A, v4(1)))
    assert r.messages["route_monitoring"] == 3 and r.messages["peer_up"] == 2
    assert t.route_count == 1 and t.announces == 11
    # events from the old session after close must not matter: it is inactive
    assert s.active is False


def test_two_concurrent_sessions_from_one_address() -> None:
    core, _ = make_core()
    s1 = core.open_session("10.0.9.1", 1000)
    s2 = core.open_session("10.0.9.1", 1001)
    s3 = core.open_session("10.0.9.1", 1002)
    assert [s1.router.label, s2.router.label, s3.router.label] == [
        "10.0.9.1",
        "10.0.9.1#2",
        "10.0.9.1#3",
    ]
    feed(s1, peer_up(A), rm(A, v4(5)))
    feed(s2, peer_up(A), rm(A, v4(7)))
    feed(s2, rm(A, None, v4(2)))
    assert s1.router.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 5
    assert s2.router.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 5
    core.close_session(s1, "eof")
    assert s2.router.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 5
    # a new connection takes the lowest free label
    s4 = core.open_session("10.0.9.1", 1003)
    assert s4.router.label == "10.0.9.1" and s4.router.connections == 2
    assert sorted(core.routers) == ["10.0.9.1", "10.0.9.1#2", "10.0.9.1#3"]


def test_prefix_flaps_with_injected_clock() -> None:
    core, clock = make_core(window=60.0)
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, ["10.244.1.0/24", "10.244.2.0/24"]))
    for _ in range(5):
        clock.t += 1
        feed(s, rm(A, None, ["10.244.1.0/24"]))
        clock.t += 1
        feed(s, rm(A, ["10.244.1.0/24"]))
    t = core.routers["10.0.9.1"].peers[PEER_A].tables[("adj_in_pre", 1, 1)]
    assert t.flaps == 5
    # re-announce after the window is not a flap
    feed(s, rm(A, None, ["10.244.2.0/24"]))
    clock.t += 60.5
    feed(s, rm(A, ["10.244.2.0/24"]))
    assert t.flaps == 5
    # exactly at the window edge it is
    feed(s, rm(A, None, ["10.244.2.0/24"]))
    clock.t += 60.0
    feed(s, rm(A, ["10.244.2.0/24"]))
    assert t.flaps == 6
    # replace without withdraw is not a flap
    feed(s, rm(A, ["10.244.2.0/24"], a=attrs(med=5)))
    assert t.flaps == 6
    top = core.top_flaps()
    assert [(f.peer, f.view, f.prefix, f.flaps) for f in top] == [
        ("10.0.1.2", "adj_in_pre", key("10.244.1.0/24"), 5),
        ("10.0.1.2", "adj_in_pre", key("10.244.2.0/24"), 1),
    ]


def test_flap_state_does_not_survive_peer_down() -> None:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(3)), rm(A, None, v4(3)), peer_down(A))
    clock.t += 3
    feed(s, peer_up(A), rm(A, v4(3)))
    t = core.routers["10.0.9.1"].peers[PEER_A].tables[("adj_in_pre", 1, 1)]
    assert t.flaps == 0 and t.route_count == 3


def test_add_path_flap_and_top_n_bound() -> None:
    core, clock = make_core(top=3)
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A))
    prefixes = v4(6)
    for i, p in enumerate(prefixes):
        for _ in range(i + 1):
            feed(s, rm(A, [p], ids=[9]), rm(A, None, [p], wids=[9]))
            clock.t += 1
    feed(s, rm(A, prefixes, ids=[9] * 6))
    t = core.routers["10.0.9.1"].peers[PEER_A].tables[("adj_in_pre", 1, 1)]
    assert t.flaps == 21  # prefix i: i flaps in the loop + 1 at the end
    assert [(f.prefix, f.flaps) for f in core.top_flaps()] == [
        (key(prefixes[5]), 6),
        (key(prefixes[4]), 5),
        (key(prefixes[3]), 4),
    ]


def test_end_of_rib_per_view_and_family() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), eor(A, 1, 1), eor(A_POST, 2, 1))
    p = core.routers["10.0.9.1"].peers[PEER_A]
    got = {k: t.eor for k, t in p.tables.items()}
    assert got == {("adj_in_pre", 1, 1): True, ("adj_in_post", 2, 1): True}
    assert p.tables[("adj_in_pre", 1, 1)].announces == 0


def test_stats_keep_last_value() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A))
    feed(s, stats(A, [StatEntry(0, 1), StatEntry(7, 20), StatEntry(9, 15, 1, 1)]))
    feed(s, stats(A, [StatEntry(7, 25), StatEntry(9, 10, 2, 1), StatEntry(65531, 3)]))
    feed(s, stats(A, [StatEntry(99, None, raw=b"\x01")]))
    r = core.routers["10.0.9.1"]
    assert r.peers[PEER_A].stats == {
        ("rejected_prefixes", None, None): 1,
        ("adj_rib_in_routes", None, None): 25,
        ("adj_rib_in_routes_per_afi", 1, 1): 15,
        ("adj_rib_in_routes_per_afi", 2, 1): 10,
        ("experimental_65531", None, None): 3,
    }
    assert r.messages["statistics_report"] == 3
    assert r.quirks["stats_value_undecoded"] == 1


def test_decode_failed_counts_and_treat_as_withdraw() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(4)))
    bad = rm(A, v4(3)).message
    assert isinstance(bad, RouteMonitoring)
    partial = RouteMonitoring(bad.peer, bad.update.as_withdraw())
    err = MalformedError("bad origin", offset=7, action=Action.TREAT_AS_WITHDRAW, partial=partial)
    s.handle(DecodeFailed(500, 90, err, 0))
    s.handle(DecodeFailed(600, 20, TruncatedError("short", offset=3), 3))
    s.handle(DecodeFailed(700, 5, TruncatedError("short"), None))
    r = core.routers["10.0.9.1"]
    assert dict(r.decode_errors) == {"malformed": 1, "truncated": 2}
    assert r.messages["route_monitoring"] == 2 and r.messages["peer_up"] == 2
    assert r.messages["unknown"] == 1
    assert r.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 1
    # SKIP_MESSAGE with a partial is not applied
    err2 = MalformedError("x", partial=partial)
    s.handle(DecodeFailed(800, 90, err2, 0))
    assert r.peers[PEER_A].tables[("adj_in_pre", 1, 1)].route_count == 1


def test_framing_error_and_absorb_quirks() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    s.framing_error(MalformedError("bad length", offset=0, action=Action.DROP_SESSION))
    q: Counter[str] = Counter({"add_path_absent": 2})
    s.absorb_quirks(q)
    s.absorb_quirks(q)
    q["add_path_absent"] += 1
    q["add_path_present"] = 4
    s.absorb_quirks(q)
    r = core.routers["10.0.9.1"]
    assert dict(r.decode_errors) == {"malformed": 1}
    assert dict(r.quirks) == {"add_path_absent": 3, "add_path_present": 4}
    s2 = core.open_session("10.0.9.1", 2)  # concurrent: separate router
    s2.absorb_quirks(Counter({"add_path_absent": 1}))
    assert r.quirks["add_path_absent"] == 3


def test_attributes_are_interned() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    feed(s, peer_up(A), rm(A, v4(3), a=attrs(med=5)), rm(A, v4(6)[3:], a=attrs(med=5)))
    t = core.routers["10.0.9.1"].peers[PEER_A].tables[("adj_in_pre", 1, 1)]
    values = list(t.routes.values())
    assert len(values) == 6
    assert all(v is values[0] for v in values)


def test_interner_sweep_drops_only_unused() -> None:
    it = AttributeInterner()
    held = [it.intern(attrs(med=i)) for i in range(10)]
    for i in range(10, 30):
        it.intern(attrs(med=i))
    assert len(it) == 30
    assert it.sweep() == 20
    assert len(it) == 10
    assert it.intern(attrs(med=3)) is held[3]
    assert it.intern(None) is it.intern(None)


def test_interner_shares_sub_values_between_sets() -> None:
    """Distinct sets (pre/post-policy twins differing in one community) hold
    one AS_PATH, next hop and community int object between them; sweeping
    the sets no route holds drops their sub-values too."""
    it = AttributeInterner()
    big = 4259905636  # 65001:100, an int object of its own
    pre = PathAttributes(
        as_path=(AsPathSegment(2, (65001, 4200000001)),),
        next_hop=".".join(["192.0.2", "1"]),  # not a constant: an object of its own
        communities=(int(str(big)), 70000),
    )
    post = PathAttributes(
        as_path=(AsPathSegment(2, (65001, 4200000001)),),
        next_hop="".join(["192.0.2", ".1"]),
        communities=(int(str(big)), 70000, 65000 << 16 | 1),
    )
    a, b = it.intern(pre), it.intern(post)
    assert a is pre and b is post and a != b
    assert b.as_path is a.as_path
    assert b.next_hop is a.next_hop
    assert b.communities[0] is a.communities[0]
    assert b.communities == (big, 70000, 65000 << 16 | 1)
    assert hash(b) == hash(dataclasses.replace(b))
    assert it.intern(dataclasses.replace(post)) is b
    del pre, a
    assert it.sweep() == 1  # the pre-policy set: no route (name) holds it
    assert len(it) == 1
    assert it._parts["as_path"] == {b.as_path: b.as_path}  # still b's
    del post, b
    assert it.sweep() == 1
    assert len(it) == 0
    assert {k: v for k, v in it._parts.items() if v} == {}


def test_update_without_nlri_and_not_eor_is_harmless() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 1)
    from parsers.bmp.session import Decoded

    s.handle(Decoded(0, 30, RouteMonitoring(A, Update())))
    r = core.routers["10.0.9.1"]
    assert r.messages["route_monitoring"] == 1
    assert r.peers[PEER_A].tables == {}


def test_many_withdrawals_prune_recent() -> None:
    t = RibTable("adj_in_pre", 1, 1)
    keys = tuple(key(p) for p in v4(3000))
    flapped: list[bytes] = []
    t.announce(keys, None, attrs(), 0.0, 60.0, flapped)
    t.withdraw(keys[:10], None, 0.0, 60.0)
    assert len(t.recent) == 10  # below the prune threshold: kept
    t.withdraw(keys[10:2010], None, 100.0, 60.0)
    # past the threshold: the withdrawals older than the window were pruned
    assert len(t.recent) == 2000
    t.announce(keys[:2010], None, attrs(), 130.0, 60.0, flapped)
    assert t.flaps == 2000 and len(flapped) == 2000
    assert (t.route_count, len(t.recent)) == (3000, 0)
