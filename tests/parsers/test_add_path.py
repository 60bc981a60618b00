"""ADD-PATH: what the OPENs negotiate, per direction, and what real speakers send.

RFC 7911 §4: path IDs are on the wire for Adj-RIB-In of a family when the
monitored router advertised *receive* and the peer *send*; for Adj-RIB-Out
the reverse. Real speakers deviate (lab NOTES "Observed speaker behaviour"):
FRR 8.4 never puts path IDs in Route Monitoring; GoBGP 3.10 omits them in
its dump and post-policy but keeps them on live pre-policy updates; BIRD 3
follows the negotiation with its own locally assigned IDs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support import bgp as b
from support.bmp import build_per_peer_header, build_route_monitoring

from parsers.bgp.decode import decode_open
from parsers.bmp import decode as spec
from parsers.bmp import fast
from parsers.bmp.context import DecodeContext, PeerCaps
from parsers.bmp.messages import FLAG_L, FLAG_O, RouteMonitoring
from parsers.bmp.session import BmpSession, Decoded

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
RX, TX, BOTH = 1, 2, 3
V4, V6 = (1, 1), (2, 1)


def _open(*modes: tuple[int, int, int]) -> bytes:
    caps = [b.cap_mp(1, 1), b.cap_mp(2, 1), b.cap_four_octet_as(65000)]
    if modes:
        caps.append(b.cap_add_path(modes))
    return b.build_open(capabilities=caps)


@pytest.mark.parametrize(
    ("local", "peer", "adj_in", "adj_out"),
    [
        # both directions on both sides
        ([(1, 1, BOTH)], [(1, 1, BOTH)], {V4}, {V4}),
        # router receives, peer sends: only Adj-RIB-In carries path IDs
        ([(1, 1, RX)], [(1, 1, TX)], {V4}, set()),
        # router sends, peer receives: only Adj-RIB-Out
        ([(1, 1, TX)], [(1, 1, RX)], set(), {V4}),
        # both only receive, or both only send: nothing on the wire
        ([(1, 1, RX)], [(1, 1, RX)], set(), set()),
        ([(1, 1, TX)], [(1, 1, TX)], set(), set()),
        # one side silent
        ([(1, 1, BOTH)], [], set(), set()),
        # per family: IPv4 in, IPv6 out
        ([(1, 1, RX), (2, 1, TX)], [(1, 1, TX), (2, 1, RX)], {V4}, {V6}),
    ],
)
def test_negotiation_per_direction(
    local: list[tuple[int, int, int]],
    peer: list[tuple[int, int, int]],
    adj_in: set[tuple[int, int]],
    adj_out: set[tuple[int, int]],
) -> None:
    caps = PeerCaps.from_opens(decode_open(_open(*local)), decode_open(_open(*peer)))
    assert caps.add_path_in == adj_in
    assert caps.add_path_out == adj_out
    for view in ("adj_in_pre", "adj_in_post"):
        assert {f for f in (V4, V6) if caps.add_path(view, *f)} == adj_in
    for view in ("adj_out_pre", "adj_out_post"):
        assert {f for f in (V4, V6) if caps.add_path(view, *f)} == adj_out


def test_loc_rib_add_path_comes_from_its_own_open() -> None:
    loc_open = decode_open(_open((1, 1, TX)))
    caps = PeerCaps.from_opens(loc_open, loc_open, loc_rib=True)
    assert caps.add_path("loc_rib", *V4)
    assert not caps.add_path("loc_rib", *V6)


def _decode(flags: int, nlri: bytes, caps: PeerCaps) -> tuple[list[str], tuple[int, ...] | None]:
    update = b.build_update(
        attributes=[b.origin(0), b.as_path([(2, [65001])]), b.next_hop("192.0.2.1")], nlri=nlri
    )
    rm = build_route_monitoring(update, peer=build_per_peer_header(flags=flags))
    results = []
    for decode in (fast.decode_route_monitoring, spec.decode_bmp_message):
        ctx = DecodeContext()
        ctx.peer_up((0, bytes(8), "192.0.2.1"), caps)
        msg = decode(rm, ctx)
        assert isinstance(msg, RouteMonitoring)
        (nset,) = msg.update.announced
        results.append((nset.describe(), nset.path_ids))
    assert results[0] == results[1]
    return results[0]


def test_asymmetric_negotiation_decodes_each_view_its_own_way() -> None:
    caps = PeerCaps.from_opens(decode_open(_open((1, 1, RX))), decode_open(_open((1, 1, TX))))
    with_ids = b.nlri(["10.0.0.0/8", "10.1.0.0/16"], path_ids=[7, 9])
    without = b.nlri(["10.0.0.0/8", "10.1.0.0/16"])
    # Adj-RIB-In pre and post: path IDs expected and present
    assert _decode(0, with_ids, caps) == (["10.0.0.0/8", "10.1.0.0/16"], (7, 9))
    assert _decode(FLAG_L, with_ids, caps) == (["10.0.0.0/8", "10.1.0.0/16"], (7, 9))
    # Adj-RIB-Out: not negotiated in that direction, so none
    assert _decode(FLAG_O, without, caps) == (["10.0.0.0/8", "10.1.0.0/16"], None)
    assert _decode(FLAG_O | FLAG_L, without, caps) == (["10.0.0.0/8", "10.1.0.0/16"], None)


def test_sender_ignoring_negotiation_is_detected_both_ways() -> None:
    both = PeerCaps(add_path_in=frozenset({V4}), add_path_out=frozenset({V4}))
    none = PeerCaps()
    plain = b.nlri(["198.51.100.0/24", "203.0.113.0/25"])
    with_ids = b.nlri(["198.51.100.0/24"], path_ids=[1])
    # negotiated but absent (FRR): decoded without path IDs
    assert _decode(0, plain, both) == (["198.51.100.0/24", "203.0.113.0/25"], None)
    # not negotiated but present (GoBGP live updates after a plain dump)
    assert _decode(0, with_ids, none) == (["198.51.100.0/24"], (1,))


def _path_ids(name: str) -> tuple[Counter[tuple[str, str, int | None]], Counter[str]]:
    session = BmpSession()
    seen: Counter[tuple[str, str, int | None]] = Counter()
    for ev in session.feed((CAPTURES / name).read_bytes()):
        assert isinstance(ev, Decoded)
        msg = ev.message
        if isinstance(msg, RouteMonitoring):
            for nset in msg.update.announced + msg.update.withdrawn:
                for i in range(len(nset.prefixes)):
                    pid = nset.path_ids[i] if nset.path_ids else None
                    seen[(msg.peer.address, msg.peer.view, pid)] += 1
    return seen, session.ctx.quirks


def test_frr_negotiates_add_path_but_sends_no_path_ids() -> None:
    seen, quirks = _path_ids("frr-addpath.bmp")
    assert seen == {("10.0.1.2", "adj_in_pre", None): 12, ("10.0.1.2", "adj_in_post", None): 10}
    # one switch per (view, family) segment: pre/post x IPv4/IPv6
    assert quirks == {"add_path_absent": 4}


def test_gobgp_keeps_path_ids_only_on_live_pre_policy() -> None:
    seen, quirks = _path_ids("gobgp-addpath.bmp")
    assert seen == {
        ("10.0.1.2", "adj_in_pre", None): 16,  # the initial dump
        ("10.0.1.2", "adj_in_pre", 1): 1,  # live updates, ExaBGP's IDs
        ("10.0.1.2", "adj_in_pre", 2): 1,
        ("10.0.1.2", "adj_in_pre", 3): 2,
        ("10.0.1.2", "adj_in_post", None): 16,
        ("0.0.0.0", "loc_rib", None): 19,
    }
    assert quirks == {
        "add_path_absent": 4,  # dump and post-policy, per family
        "add_path_present": 2,  # back to path IDs on live pre-policy, per family
        "route_monitoring_without_peer_up": 19,  # the Loc-RIB (RFC 9069 wants a Peer Up)
    }


def test_bird_follows_negotiation_with_its_own_ids() -> None:
    seen, quirks = _path_ids("bird-addpath.bmp")
    assert seen == {
        ("10.0.1.2", "adj_in_pre", 5): 9,
        ("10.0.1.2", "adj_in_pre", 6): 9,
        ("10.0.1.2", "adj_in_pre", 7): 2,
        ("10.0.1.2", "adj_in_post", 5): 7,
        ("10.0.1.2", "adj_in_post", 6): 7,
        ("10.0.1.2", "adj_in_post", 7): 1,
    }
    assert quirks == {}
