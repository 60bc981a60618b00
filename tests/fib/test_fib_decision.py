"""Expected routes (RFC 4271 §9.1.2 decision process, multipath, any) and the diff."""

from __future__ import annotations

import socket

import pytest

from agent.core.interner import KEYS
from agent.fib.diff import (
    BMP_INCONSISTENT,
    EXTRA,
    IN_SYNC,
    MISSING,
    NEXTHOP_MISMATCH,
    PENDING,
    DriftTracker,
    compare,
    matches,
)
from agent.fib.expected import PathSource, WantBuilder, decide, hop_of, select
from parsers.bgp.attributes import AsPathSegment, PathAttributes


def ip(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def attrs(nh: str = "10.0.0.1", path: tuple[int, ...] = (65001,), **kw: object) -> PathAttributes:
    segs = (AsPathSegment(2, path),) if path else ()
    return PathAttributes(next_hop=nh, as_path=segs, origin=kw.pop("origin", 0), **kw)  # type: ignore[arg-type]


def src(
    asn: int = 65001, ebgp: bool = True, bgp_id: str = "10.0.0.1", addr: str = "10.0.0.1"
) -> PathSource:
    return PathSource(
        asn, ebgp, int.from_bytes(ip(bgp_id), "big"), (4, int.from_bytes(ip(addr), "big"))
    )


def nhs(chosen: list[tuple[PathSource, PathAttributes]]) -> list[str | None]:
    return [a.next_hop for _, a in chosen]


A, B, C = (
    src(65001, addr="10.0.0.1", bgp_id="10.0.0.1"),
    src(65002, addr="10.0.0.2", bgp_id="10.0.0.2"),
    src(65003, addr="10.0.0.3", bgp_id="10.0.0.3"),
)


def test_local_pref_beats_path_length() -> None:
    c = [(A, attrs("10.0.0.1", (65001,))), (B, attrs("10.0.0.2", (65002, 1, 2), local_pref=200))]
    assert nhs(decide(c, "best")) == ["10.0.0.2"]


def test_missing_local_pref_counts_as_100() -> None:
    c = [(A, attrs("10.0.0.1", (65001,), local_pref=99)), (B, attrs("10.0.0.2", (65002, 1)))]
    assert nhs(decide(c, "best")) == ["10.0.0.2"]


def test_shorter_as_path_wins_and_as_set_counts_one() -> None:
    long = attrs("10.0.0.1", (65001, 1, 2))
    with_set = PathAttributes(
        next_hop="10.0.0.2",
        origin=0,
        as_path=(AsPathSegment(2, (65002,)), AsPathSegment(1, (7, 8, 9, 10))),
    )
    assert nhs(decide([(A, long), (B, with_set)], "best")) == ["10.0.0.2"]


def test_lower_origin_wins() -> None:
    c = [(A, attrs("10.0.0.1", origin=2)), (B, attrs("10.0.0.2", (65002,), origin=0))]
    assert nhs(decide(c, "best")) == ["10.0.0.2"]


def test_med_compared_only_within_the_same_neighbour_as() -> None:
    # same neighbour AS 65001: lower MED wins
    a1 = (A, attrs("10.0.0.1", (65001,), med=50))
    a2 = (B, attrs("10.0.0.2", (65001,), med=10))
    assert nhs(decide([a1, a2], "best")) == ["10.0.0.2"]
    # different neighbour AS: MED ignored, falls to BGP ID (A is lower)
    b1 = (A, attrs("10.0.0.1", (65001,), med=50))
    b2 = (B, attrs("10.0.0.2", (65002,), med=10))
    assert nhs(decide([b1, b2], "best")) == ["10.0.0.1"]
    # missing MED is 0 (best)
    c1 = (A, attrs("10.0.0.1", (65001,), med=5))
    c2 = (B, attrs("10.0.0.2", (65001,)))
    assert nhs(decide([c1, c2], "best")) == ["10.0.0.2"]


def test_ebgp_over_ibgp_then_bgp_id_then_peer_address() -> None:
    ibgp = src(65000, ebgp=False, bgp_id="1.1.1.1", addr="10.0.0.9")
    c = [(ibgp, attrs("10.0.0.9", (65005,))), (C, attrs("10.0.0.3", (65003,)))]
    assert nhs(decide(c, "best")) == ["10.0.0.3"]
    # same BGP ID: lowest peer address
    p1 = src(65001, bgp_id="9.9.9.9", addr="10.0.0.7")
    p2 = src(65002, bgp_id="9.9.9.9", addr="10.0.0.6")
    assert nhs(decide([(p1, attrs("10.0.0.7")), (p2, attrs("10.0.0.6", (65002,)))], "best")) == [
        "10.0.0.6"
    ]
    # ORIGINATOR_ID replaces the BGP ID
    r1 = (A, attrs("10.0.0.1", (65001,), originator_id="10.255.0.9"))
    r2 = (B, attrs("10.0.0.2", (65002,), originator_id="10.255.0.1"))
    assert nhs(decide([r1, r2], "best")) == ["10.0.0.2"]


def test_multipath_relax_keeps_equal_length_paths_from_different_ases() -> None:
    c = [
        (A, attrs("10.0.0.1", (65001, 1))),
        (B, attrs("10.0.0.2", (65002, 2))),
        (C, attrs("10.0.0.3", (65003, 3, 4))),
    ]
    assert sorted(nhs(decide(c, "multipath"))) == ["10.0.0.1", "10.0.0.2"]
    assert nhs(decide(c, "best")) == ["10.0.0.1"]
    assert len(decide(c, "any")) == 3


def test_hop_accepts_global_and_link_local() -> None:
    a = PathAttributes(mp_next_hop=("fd00:1::2", "fe80::2"))
    assert hop_of(a) == frozenset({ip("fd00:1::2"), ip("fe80::2")})
    assert hop_of(PathAttributes(next_hop="10.0.0.1")) == frozenset({ip("10.0.0.1")})


def test_select_over_peers_and_add_path_keys() -> None:
    p = b"\x18\xc0\x00\x02"
    q = b"\x18\xc6\x33\x64"
    builder = WantBuilder()
    a_routes = {p: attrs("10.0.0.1", (65001, 9)), q: attrs("10.0.0.1", (65001,))}
    b_routes = {p: attrs("10.0.0.2", (65002,))}
    out = select([(A, a_routes), (B, b_routes)], "best", builder)  # type: ignore[list-item]
    assert out == {p: (frozenset({ip("10.0.0.2")}),), q: (frozenset({ip("10.0.0.1")}),)}
    # one peer with two ADD-PATH paths for p
    ap = {(1, p): attrs("10.0.0.1", (65001, 9)), (2, p): attrs("10.0.0.3", (65001,))}
    out = select([(A, ap)], "best", builder)  # type: ignore[list-item]
    assert out == {p: (frozenset({ip("10.0.0.3")}),)}
    # "any": both candidates for q have the same next hop, so its Want is p's (interned)
    c_routes = {q: attrs("10.0.0.1", (65003,))}
    out = select([(A, a_routes), (C, c_routes)], "any", builder)  # type: ignore[list-item]
    assert out[q] is out[p]
    assert out[p] == (frozenset({ip("10.0.0.1")}),)


def g(text: str, ifindex: int = 3) -> tuple[bytes, int]:
    return (ip(text), ifindex)


@pytest.mark.parametrize(
    ("want", "hops", "mode", "ok"),
    [
        ((frozenset({ip("10.0.0.1")}),), (g("10.0.0.1"),), "best", True),
        ((frozenset({ip("10.0.0.1")}),), (g("10.0.0.2"),), "best", False),
        ((frozenset({ip("10.0.0.1")}),), (), "best", False),
        ((frozenset({ip("fd00::2"), ip("fe80::2")}),), (g("fe80::2"),), "best", True),
        ((frozenset({ip("10.0.0.1")}),), (g("10.0.0.1"), g("10.0.0.2")), "best", False),
        (
            (frozenset({ip("10.0.0.1")}), frozenset({ip("10.0.0.2")})),
            (g("10.0.0.2"), g("10.0.0.1")),
            "multipath",
            True,
        ),
        (
            (frozenset({ip("10.0.0.1")}), frozenset({ip("10.0.0.2")})),
            (g("10.0.0.1"),),
            "multipath",
            False,
        ),
        ((frozenset({ip("10.0.0.1")}), frozenset({ip("10.0.0.2")})), (g("10.0.0.2"),), "any", True),
        ((frozenset({ip("10.0.0.1")}),), (g("10.0.0.3"),), "any", False),
    ],
)
def test_matches(
    want: tuple[frozenset[bytes], ...], hops: tuple[tuple[bytes, int], ...], mode: str, ok: bool
) -> None:
    assert matches(want, hops, mode) is ok


def states(
    in_sync: int, missing: int, extra: int, mismatch: int, inconsistent: int, pending: int
) -> dict[str, int]:
    """A table's counts per drift state, in ``DriftTracker.counts()``'s form."""
    return {
        IN_SYNC: in_sync,
        MISSING: missing,
        EXTRA: extra,
        NEXTHOP_MISMATCH: mismatch,
        BMP_INCONSISTENT: inconsistent,
        PENDING: pending,
    }


def test_compare_and_grace() -> None:
    w1 = (frozenset({ip("10.0.0.1")}),)
    e1 = (186, 20, (g("10.0.0.1"),), 0)
    e2 = (186, 20, (g("10.0.0.2"),), 0)
    expected = {b"\x18\x01\x01\x01": w1, b"\x18\x02\x02\x02": w1, b"\x18\x03\x03\x03": w1}
    kernel = {b"\x18\x01\x01\x01": e1, b"\x18\x02\x02\x02": e2, b"\x18\x09\x09\x09": e1}
    d = compare(expected, kernel, lambda e: e[2], "best")
    assert d.in_sync == 1
    assert d.drift == {
        b"\x18\x02\x02\x02": NEXTHOP_MISMATCH,
        b"\x18\x03\x03\x03": MISSING,
        b"\x18\x09\x09\x09": EXTRA,
    }
    tr = DriftTracker()
    tr.update(1, 254, d, now=100.0, grace=5.0)
    assert tr.counts()[(1, 254)] == states(1, 0, 0, 0, 0, 3)
    assert tr.next_deadline(5.0) == 105.0
    assert tr.promote(104.9, 5.0) == 3
    assert tr.promote(105.0, 5.0) == 0
    assert tr.counts()[(1, 254)] == states(1, 1, 1, 1, 0, 0)
    assert dict(tr.events) == {(1, MISSING): 1, (1, EXTRA): 1, (1, NEXTHOP_MISMATCH): 1}
    # the same differences later: no new events; the mismatch is fixed → one recovery
    kernel[b"\x18\x02\x02\x02"] = e1
    d2 = compare(expected, kernel, lambda e: e[2], "best")
    tr.update(1, 254, d2, now=110.0, grace=5.0)
    assert tr.counts()[(1, 254)] == states(2, 1, 1, 0, 0, 0)
    assert dict(tr.events) == {
        (1, MISSING): 1,
        (1, EXTRA): 1,
        (1, NEXTHOP_MISMATCH): 1,
        (1, IN_SYNC): 1,
    }
    # a difference shorter than the grace period never counts
    del kernel[b"\x18\x01\x01\x01"]
    tr.update(1, 254, compare(expected, kernel, lambda e: e[2], "best"), now=111.0, grace=5.0)
    assert tr.counts()[(1, 254)][PENDING] == 1
    kernel[b"\x18\x01\x01\x01"] = e1
    tr.update(1, 254, compare(expected, kernel, lambda e: e[2], "best"), now=112.0, grace=5.0)
    tr.promote(200.0, 5.0)
    assert tr.counts()[(1, 254)] == states(2, 1, 1, 0, 0, 0)
    assert tr.events[(1, MISSING)] == 1


def test_move_keeps_groups_and_counts_across_loads() -> None:
    """``DriftTracker.move`` as a table load drives it: prefixes drifting for the
    first time, the same prefixes again (another peer's copy: their group and
    start time stay), then a mix of held, other-state and new prefixes."""
    tr = DriftTracker()
    key = (1, 254)
    a = {bytes([24, 10, 0, i]) for i in range(6)}
    tr.move(key, a, MISSING, 100.0)
    g = tr.tables[key][next(iter(a))]
    assert g.n == 6 and g.since == 100.0
    assert {id(d) for d in tr.tables[key].values()} == {id(g)}
    tr.move(key, set(a), MISSING, 101.0)  # all already missing: nothing moves
    assert tr.tables[key][next(iter(a))] is g and g.n == 6
    assert tr.drifting(key, MISSING) == 6
    two = set(sorted(a)[:2])
    tr.move(key, two, EXTRA, 102.0)  # all in one group of another state
    assert g.n == 4 and tr.drifting(key, MISSING) == 4 and tr.drifting(key, EXTRA) == 2
    new = {bytes([24, 10, 1, 0])}
    mixed = set(sorted(a)[1:3]) | new  # one extra, one missing, one new
    tr.move(key, mixed, MISSING, 103.0)
    assert tr.drifting(key, MISSING) == 6 and tr.drifting(key, EXTRA) == 1
    assert tr.tables[key][sorted(a)[2]] is g  # kept its group and start
    assert tr.tables[key][sorted(a)[1]].since == 103.0
    assert tr.promote(104.0, 5.0) == 7
    assert tr.promote(105.0, 5.0) == 3  # g's 4 reported; 2 + 1 from 102/103
    assert tr.counts()[key][MISSING] == 4 and tr.counts()[key][PENDING] == 3
    tr.move(key, a | new, None, 106.0)
    assert tr.tables[key] == {} and tr.counts()[key][PENDING] == 0
    assert tr.counts()[key][MISSING] == 0


def test_drift_entries_hold_the_rib_key_objects() -> None:
    """A drifting prefix is keyed by the RIB's shared prefix object, not by the
    decoded message's copy that the dirty list carried (which would stay
    alive, ~40 B per drifting prefix, as long as it drifts)."""
    canon = bytes([24, 10, 9, 1])
    copy = bytes(bytearray(canon))
    assert copy == canon and copy is not canon
    other = bytes([24, 10, 9, 2])  # not in the RIB (a kernel-only route)
    # The pool is the process's: an earlier test's table may have left either key.
    saved = {p: KEYS.keys.pop(p) for p in (canon, other) if p in KEYS.keys}
    KEYS.keys[canon] = canon
    try:
        tr = DriftTracker()
        tr.move((1, 254), {copy}, MISSING, 1.0)
        (k,) = tr.tables[(1, 254)]
        assert k is canon
        tr.move((1, 254), {other}, EXTRA, 1.0)
        assert any(k is other for k in tr.tables[(1, 254)])
    finally:
        del KEYS.keys[canon]
        KEYS.keys.update(saved)
