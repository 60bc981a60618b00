"""The synthesized state (``agent.export.resync``) read back by the agent's own
decoder gives exactly the RIB it was built from, for every capture; and the
UPDATE encoder packs to the limit and round-trips attributes."""

from __future__ import annotations

import pytest
from export_support import CAPTURES, SMALL, capture

from agent.core import Core
from agent.core.router import Router
from agent.export.resync import Snapshot
from parsers.bgp import decode as spec
from parsers.bgp.attributes import AsPathSegment, PathAttributes
from parsers.bgp.encode import MAX_SIZE, end_of_rib, pack_updates
from parsers.bmp.messages import PeerUp
from parsers.bmp.session import BmpSession, Decoded

ALL = [*SMALL, "frr-scale.bmp.gz", "gobgp-scale.bmp.gz"]


def ingest(msgs: list[bytes]) -> tuple[Router, bytes | None, dict[object, bytes]]:
    core = Core()
    rs = core.open_session("192.0.2.1", 1)
    session = BmpSession()
    initiation: bytes | None = None
    peer_ups: dict[object, bytes] = {}
    for offset, msg in enumerate(msgs):
        ev = session.decode(offset, msg)
        rs.handle(ev)
        if isinstance(ev, Decoded):
            if isinstance(ev.message, PeerUp):
                peer_ups[ev.message.peer.key] = msg
            elif msg[5] == 4:
                initiation = msg
    return rs.router, initiation, peer_ups


def rib(router: Router) -> dict[tuple[object, ...], object]:
    out: dict[tuple[object, ...], object] = {}
    for key, peer in router.peers.items():
        if not peer.up:
            continue
        for tkey, table in peer.tables.items():
            for rkey, attrs in table.routes.items():
                out[(key, *tkey, rkey)] = attrs
    return out


@pytest.mark.parametrize("name", ALL)
def test_snapshot_reads_back_as_the_same_rib(name: str) -> None:
    router, initiation, peer_ups = ingest(capture(name))
    snap = Snapshot.take(router, initiation, peer_ups, 1_700_000_000.0)  # type: ignore[arg-type]
    msgs = list(snap.messages())
    assert all(len(m) <= 6 + 42 + MAX_SIZE for m in msgs)
    again, _, _ = ingest(msgs)
    before, after = rib(router), rib(again)
    assert snap.routes == len(before)
    assert after == before
    # End-of-RIB comes back for exactly the tables that had it.
    eors = {(k, t) for k, p in router.peers.items() if p.up for t, tb in p.tables.items() if tb.eor}
    eors_again = {(k, t) for k, p in again.peers.items() for t, tb in p.tables.items() if tb.eor}
    assert eors_again == eors
    assert (CAPTURES / name).exists()


def test_pack_updates_fills_messages_to_4096_bytes() -> None:
    attrs = PathAttributes(
        origin=0,
        as_path=(AsPathSegment(2, (65001, 4200000001)),),
        next_hop="192.0.2.1",
        communities=(65001 << 16 | 100,),
    )
    keys = [bytes((24, 10, i >> 8, i & 255)) for i in range(5000)]
    msgs = list(pack_updates(1, 1, attrs, keys))
    # 19 header + 2 + 2 + attributes (origin 4, as path 13, next hop 7, communities 7)
    # = 54, then 1010 /24s of 4 bytes: 4094
    assert [len(m) for m in msgs[:-1]] == [54 + 4 * 1010] * 4
    assert len(msgs) == 5
    got: list[bytes] = []
    for m in msgs:
        upd = spec.decode_bgp_message(m)
        assert upd.attributes == attrs
        got.extend(upd.announced[0].prefixes)
    assert got == keys


def test_pack_updates_ipv6_add_path_in_mp_reach() -> None:
    attrs = PathAttributes(origin=2, as_path=(), mp_next_hop=("2001:db8::1", "fe80::1"))
    keys = [bytes((48, 0x20, 0x01, 0x0D, 0xB8, i >> 8, i & 255)) for i in range(1000)]
    pids = list(range(1, 1001))
    msgs = list(pack_updates(2, 1, attrs, keys, pids))
    assert all(len(m) <= 4096 for m in msgs)
    keys_back: list[bytes] = []
    pids_back: list[int] = []
    for m in msgs:
        upd = spec.decode_bgp_message(m, add_path=lambda afi, safi, blobs: True)
        assert upd.attributes == attrs
        (nset,) = upd.announced
        assert nset.path_ids is not None
        keys_back.extend(nset.prefixes)
        pids_back.extend(nset.path_ids)
    assert keys_back == keys and pids_back == pids
    # room: 4096 - 19 - 4 - 7 (origin, empty as path) - 4 - 37 (afi, safi, 32-byte
    # next hop) = 4025 bytes, 365 NLRI of 11 bytes: 1000 need 3 messages
    assert len(msgs) == 3


def test_end_of_rib_markers() -> None:
    assert spec.decode_bgp_message(end_of_rib(1, 1)).end_of_rib == (1, 1)
    assert spec.decode_bgp_message(end_of_rib(2, 1)).end_of_rib == (2, 1)


def test_labeled_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="SAFI 4"):
        list(pack_updates(1, 4, PathAttributes(next_hop="192.0.2.1"), [b"\x18\x0a\x00\x00"]))
