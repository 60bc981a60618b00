"""The TLV / BMP v4 streams of ``tests/data/bmp-tlv`` (fuzz seeds): they are
what ``support.tlv_streams`` builds, both decoders agree on them, the fuzz
target's contracts hold, and ``fuzz/seeds.py`` seeds them."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from support import tlv_streams

from parsers.bmp.messages import TLV_TRAILING_BYTES, PeerDown, RouteMonitoring
from parsers.bmp.session import BmpSession, Decoded

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "bmp-tlv"
sys.path.insert(0, str(ROOT / "fuzz"))

import seeds as fuzz_seeds  # noqa: E402
import target as fuzz_target  # noqa: E402

#: name -> (messages, announced routes, routes with a path status, TLVs, quirks)
EXPECTED = {
    "v3-trailing-tlv.bmp": (
        7,
        9,
        3,
        4,
        {"trailing_tlv": 4, "trailing_bytes": 1, "unknown_tlv": 2},
    ),
    "v4-path-marking.bmp": (5, 7, 7, 8, {}),
    # ADD-PATH found in the NLRI without a Peer Up to negotiate it.
    "v4-stateless-add-path.bmp": (4, 8, 0, 4, {"add_path_present": 1}),
    "v4-vpnv4.bmp": (4, 6, 6, 4, {}),
}


@pytest.mark.parametrize("name", sorted(tlv_streams.STREAMS))
def test_stream_file_is_what_the_builder_makes(name: str) -> None:
    assert (DATA / name).read_bytes() == tlv_streams.STREAMS[name]()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_both_decoders_agree_with_exact_counts(name: str) -> None:
    data = (DATA / name).read_bytes()
    fast, spec = BmpSession(fast=True), BmpSession(fast=False)
    got_fast, got_spec = fast.feed(data), spec.feed(data)
    assert got_fast == got_spec
    assert fast.ctx.quirks == spec.ctx.quirks
    msgs = [e.message for e in got_fast if isinstance(e, Decoded)]
    rms = [m for m in msgs if isinstance(m, RouteMonitoring)]
    routes = sum(len(n.prefixes) for m in rms for n in m.update.announced)
    marked = sum(1 for m in rms for s in m.path_status if s is not None)
    tlvs = sum(
        1
        for m in msgs
        if isinstance(m, RouteMonitoring | PeerDown)
        for t in m.tlvs
        if t.type != TLV_TRAILING_BYTES
    )
    quirks = Counter(fast.ctx.quirks)
    del quirks["route_monitoring_without_peer_up"]
    assert (len(msgs), routes, marked, tlvs, dict(quirks)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fuzz_target_contracts_hold(name: str) -> None:
    data = (DATA / name).read_bytes()
    for control in (0, 7, 63):
        fuzz_target.check(bytes([control]) + data)


def test_fuzz_seeds_include_tlv_and_v4_streams() -> None:
    every = set(fuzz_seeds.seeds())
    for name in EXPECTED:
        data = (DATA / name).read_bytes()
        assert b"\x07" + data in every
    v4_messages = [s for s in every if len(s) > 7 and s[1] == 4]
    assert len(v4_messages) >= 10


def test_v4_pdu_under_another_type_code_keeps_its_routes() -> None:
    """draft-ietf-grow-bmp-tlv-20 lists other provisional code points (BGP
    PDU = 7): the one TLV holding a whole UPDATE is taken as the PDU."""
    from support import bgp as b
    from support import bmp

    u = b.build_update(attributes=tlv_streams.ATTRS, nlri=b.nlri(["10.7.0.0/24", "10.7.1.0/24"]))
    body = bmp.build_per_peer_header(address="10.0.1.2") + bmp.build_indexed_tlv(7, u)
    msg = bmp.build_message(0, body, version=4)
    for fast in (True, False):
        session = BmpSession(fast=fast)
        (event,) = session.feed(msg)
        assert isinstance(event, Decoded)
        assert isinstance(event.message, RouteMonitoring)
        assert len(event.message.update.announced[0].prefixes) == 2
        assert event.message.tlvs == ()
        assert session.ctx.quirks["bgp_pdu_tlv_type"] == 1
