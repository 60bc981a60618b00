"""The hand-written fast path equals the construct specification.

``parsers.bmp.fast`` decodes Route Monitoring by hand and falls back to the spec
for anything unusual; these tests hold it to the spec on every message of
every golden capture, on Hypothesis-generated UPDATEs (valid and mutated),
and on the ADD-PATH validator the two paths use.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import update_cases
from support import bgp as b
from support.bmp import (
    build_indexed_tlv,
    build_per_peer_header,
    build_route_monitoring,
    build_route_monitoring_v4,
    group_tlv,
    path_marking_tlv,
)

from parsers.bgp import fast as bgp_fast
from parsers.bgp.decode import nlri_score
from parsers.bmp import decode as spec
from parsers.bmp import fast
from parsers.bmp.context import DecodeContext, PeerCaps
from parsers.bmp.messages import FLAG_A, FLAG_L
from parsers.bmp.session import BmpSession, Decoded, DecodeFailed, Event
from parsers.errors import ParseError

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
SMALL = sorted(CAPTURES.glob("*.bmp"))
SCALE = sorted(CAPTURES.glob("*.bmp.gz"))


def _same(a: Event, b_: Event) -> None:
    assert type(a) is type(b_)
    if isinstance(a, Decoded):
        assert a == b_
    else:
        assert isinstance(b_, DecodeFailed)
        assert (type(a.error), a.error.action, a.error.offset, a.error.message) == (
            type(b_.error),
            b_.error.action,
            b_.error.offset,
            b_.error.message,
        )
        assert a.error.partial == b_.error.partial


def _compare_stream(data: bytes, limit: int | None = None) -> int:
    fast_session, spec_session = BmpSession(fast=True), BmpSession(fast=False)
    fast_events = fast_session.feed(data)
    spec_events = spec_session.feed(data)
    assert len(fast_events) == len(spec_events)
    for a, b_ in zip(fast_events[:limit], spec_events[:limit], strict=True):
        _same(a, b_)
    assert fast_session.ctx.quirks == spec_session.ctx.quirks
    assert fast_session.ctx.add_path_mode == spec_session.ctx.add_path_mode
    return len(fast_events)


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.name)
def test_fast_equals_spec_on_capture(path: Path) -> None:
    count = _compare_stream(path.read_bytes())
    assert (
        count
        == {
            "bird-addpath-latesink.bmp": 2,
            "bird-addpath.bmp": 47,
            "bird-basic.bmp": 268,
            "frr-addpath.bmp": 44,
            "frr-basic-nosoftreconf.bmp": 276,
            "frr-basic.bmp": 276,
            "frr-mistakes.bmp": 416,
            "gobgp-addpath.bmp": 68,
            "gobgp-basic.bmp": 387,
        }[path.name]
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", SCALE, ids=lambda p: p.name)
def test_fast_equals_spec_on_scale_capture_head(path: Path) -> None:
    # The spec path takes ~200 us a message: compare the first 2 MB
    # (about 17,000 messages, the Peer Up and the start of the dump).
    with gzip.open(path) as f:
        head = f.read(2_000_000)
    assert _compare_stream(head) > 10_000


def _rm_context(add_path: bool) -> tuple[DecodeContext, DecodeContext]:
    caps = PeerCaps(
        add_path_in=frozenset({(1, 1), (2, 1)}) if add_path else frozenset(),
    )
    out = []
    for _ in range(2):
        ctx = DecodeContext()
        ctx.peer_up((0, bytes(8), "192.0.2.1"), caps)
        out.append(ctx)
    return out[0], out[1]


def _decode_both(
    data: bytes, add_path: bool
) -> tuple[object, object, DecodeContext, DecodeContext]:
    fctx, sctx = _rm_context(add_path)
    results = []
    for decode, ctx in ((fast.decode_route_monitoring, fctx), (spec.decode_bmp_message, sctx)):
        try:
            results.append(decode(data, ctx))
        except ParseError as err:
            results.append((type(err), err.action, err.offset, err.message, err.partial))
    return results[0], results[1], fctx, sctx


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.booleans())
def test_fast_equals_spec_on_generated_updates(case, post: bool) -> None:  # type: ignore[no-untyped-def]
    flags = (FLAG_L if post else 0) | (0 if case.four_octet_as else FLAG_A)
    rm = build_route_monitoring(case.data, peer=build_per_peer_header(flags=flags))
    got_fast, got_spec, fctx, sctx = _decode_both(rm, case.add_path)
    assert got_fast == got_spec
    assert got_fast.update == case.expected  # type: ignore[attr-defined]
    assert fctx.quirks == sctx.quirks


@settings(max_examples=600, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.data())
def test_fast_equals_spec_on_mutated_updates(case, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    flags = 0 if case.four_octet_as else FLAG_A
    rm = bytearray(build_route_monitoring(case.data, peer=build_per_peer_header(flags=flags)))
    # Corrupt the UPDATE (after the BGP marker), keep the BMP framing intact.
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(48 + 16, len(rm) - 1))
        rm[pos] = data.draw(st.integers(0, 255))
    got_fast, got_spec, fctx, sctx = _decode_both(bytes(rm), case.add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks


@settings(max_examples=1000, derandomize=True)
@given(
    st.binary(max_size=40),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2]),
    st.booleans(),
)
def test_prefix_score_equals_spec_score(blob: bytes, afi: int, safi: int, add_path: bool) -> None:
    assert bgp_fast.prefix_score(blob, afi, safi, add_path) == nlri_score(blob, afi, safi, add_path)


@pytest.mark.parametrize(
    ("blob", "add_path", "score"),
    [
        (bytes.fromhex("19c0000200"), False, 2),  # 192.0.2.0/25
        (bytes.fromhex("19c0000200"), True, 1),  # path ID 432013314, 0.0.0.0/0: implausible
        (bytes.fromhex("00000001 18c00002"), True, 2),
        (bytes.fromhex("00000001 18c00002"), False, 0),  # /0 /0 /0 /1 with host bits, then overrun
        (bytes.fromhex("21c0000200"), False, 0),  # /33 for IPv4
        (bytes.fromhex("19c0000240"), False, 0),  # host bit set past /25
    ],
)
def test_prefix_score_examples(blob: bytes, add_path: bool, score: int) -> None:
    assert bgp_fast.prefix_score(blob, 1, 1, add_path) == score
    assert nlri_score(blob, 1, 1, add_path) == score


def test_ambiguous_nlri_is_not_read_as_a_default_route() -> None:
    """`19 c0 00 02 00` with ADD-PATH negotiated: the plain reading wins."""
    update = b.build_update(
        attributes=[b.origin(0), b.as_path([(2, [65001])]), b.next_hop("192.0.2.1")],
        nlri=bytes.fromhex("19c0000200"),
    )
    rm = build_route_monitoring(update, peer=build_per_peer_header())
    for decode in (fast.decode_route_monitoring, spec.decode_bmp_message):
        ctx = DecodeContext()
        ctx.peer_up((0, bytes(8), "192.0.2.1"), PeerCaps(add_path_in=frozenset({(1, 1)})))
        msg = decode(rm, ctx)
        (nset,) = msg.update.announced  # type: ignore[union-attr]
        assert nset.describe() == ["192.0.2.0/25"]
        assert nset.path_ids is None
        assert ctx.quirks == {"add_path_absent": 1}


@settings(max_examples=1500, derandomize=True)
@given(st.binary(min_size=0, max_size=120), st.booleans(), st.integers(0, 4))
def test_fast_equals_spec_on_arbitrary_update_bytes(
    body: bytes, add_path: bool, peer_type: int
) -> None:
    """Any bytes behind a BGP marker: equal results, or the same ParseError."""
    bgp = b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body
    rm = build_route_monitoring(bgp, peer=build_per_peer_header(peer_type=peer_type))
    got_fast, got_spec, fctx, sctx = _decode_both(rm, add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks


# -- bytes after the UPDATE (v3 with draft-ietf-grow-bmp-tlv TLVs) ----------------

_TRAILING_TLV = st.one_of(
    # indexed (type, length, [PEN,] index, value): path marking, group, VRF, unknown
    st.builds(
        lambda status, reason, index: path_marking_tlv(status, reason, index=index),
        st.integers(0, 0xFFF),
        st.none() | st.integers(0, 11),
        st.integers(0, 4) | st.integers(0x8001, 0x8002),
    ),
    st.builds(
        lambda g, members: group_tlv(g, members),
        st.integers(1, 2),
        st.lists(st.integers(0, 5), max_size=4),
    ),
    st.builds(
        lambda t, v, i, pen: build_indexed_tlv(t, v, index=i, pen=pen),
        st.integers(0, 0x7FFF),
        st.binary(max_size=8),
        st.integers(0, 0xFFFF),
        st.none() | st.integers(0, 2**32 - 1),
    ),
)


def _no_fallback(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Make the fast path's fallback to the spec visible: the list of messages
    handed over."""
    handed: list[bytes] = []
    real = spec.decode_bmp_message

    def spy(data: bytes, ctx: DecodeContext):  # type: ignore[no-untyped-def]
        handed.append(data)
        return real(data, ctx)

    monkeypatch.setattr(fast.spec, "decode_bmp_message", spy)
    return handed


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.lists(_TRAILING_TLV, min_size=1, max_size=4) | st.binary(max_size=12))
def test_fast_equals_spec_with_bytes_after_the_update(case, tail) -> None:  # type: ignore[no-untyped-def]
    trailing = tail if isinstance(tail, bytes) else b"".join(tail)
    flags = 0 if case.four_octet_as else FLAG_A
    rm = build_route_monitoring(
        case.data, trailing=trailing, peer=build_per_peer_header(flags=flags)
    )
    got_fast, got_spec, fctx, sctx = _decode_both(rm, case.add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks
    if trailing and not isinstance(got_spec, tuple):
        assert got_spec.update == case.expected  # type: ignore[attr-defined]
        assert sctx.quirks["trailing_tlv"] + sctx.quirks["trailing_bytes"] == 1


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.lists(_TRAILING_TLV, min_size=1, max_size=3), st.data())
def test_fast_equals_spec_with_mutated_tlvs(case, tlvs, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    flags = 0 if case.four_octet_as else FLAG_A
    update_end = 48 + len(case.data)
    rm = bytearray(
        build_route_monitoring(
            case.data, trailing=b"".join(tlvs), peer=build_per_peer_header(flags=flags)
        )
    )
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(update_end, len(rm) - 1))
        rm[pos] = data.draw(st.integers(0, 255))
    got_fast, got_spec, fctx, sctx = _decode_both(bytes(rm), case.add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks


def test_trailing_tlvs_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 Route Monitoring messages with 8 bytes of TLV after the UPDATE (the
    vendor shape of issue 17): none is handed to the construct decoder."""
    handed = _no_fallback(monkeypatch)
    attrs = [b.origin(0), b.as_path([(2, [65001, 65002])]), b.next_hop("192.0.2.1")]
    tails = [
        build_indexed_tlv(0x20, b"\x00\x01"),  # 8 bytes, indexed form
        b"\x00\x21\x00\x04\xde\xad\xbe\xef",  # 8 bytes, plain form
        path_marking_tlv(2, index=0),
        path_marking_tlv(4, 3, index=1) + path_marking_tlv(2, index=2),
    ]
    ctx = DecodeContext()
    ctx.peer_up((0, bytes(8), "192.0.2.1"), PeerCaps())
    routes = 0
    for i in range(200):
        update = b.build_update(attributes=attrs, nlri=b.nlri([f"10.{i}.0.0/24", f"10.{i}.1.0/24"]))
        msg = fast.decode_route_monitoring(
            build_route_monitoring(update, trailing=tails[i % 4]), ctx
        )
        routes += sum(len(n.prefixes) for n in msg.update.announced)
        assert msg.tlvs
    assert handed == []
    assert routes == 400
    assert ctx.quirks == {"trailing_tlv": 200, "unknown_tlv": 100}


# -- BMP v4 Route Monitoring (the BGP PDU in a TLV) -------------------------------


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    update_cases(),
    st.lists(_TRAILING_TLV, max_size=3),
    st.lists(_TRAILING_TLV, max_size=3),
)
def test_fast_equals_spec_on_v4(case, before, after) -> None:  # type: ignore[no-untyped-def]
    flags = 0 if case.four_octet_as else FLAG_A
    rm = build_route_monitoring_v4(
        case.data, before=before, after=after, peer=build_per_peer_header(flags=flags)
    )
    got_fast, got_spec, fctx, sctx = _decode_both(rm, case.add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks
    assert got_spec.update == case.expected  # type: ignore[attr-defined]


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.lists(_TRAILING_TLV, max_size=2), st.data())
def test_fast_equals_spec_on_mutated_v4(case, tlvs, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    flags = 0 if case.four_octet_as else FLAG_A
    rm = bytearray(
        build_route_monitoring_v4(case.data, after=tlvs, peer=build_per_peer_header(flags=flags))
    )
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(48, len(rm) - 1))
        rm[pos] = data.draw(st.integers(0, 255))
    got_fast, got_spec, fctx, sctx = _decode_both(bytes(rm), case.add_path)
    assert got_fast == got_spec
    assert fctx.quirks == sctx.quirks


def test_v4_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    handed = _no_fallback(monkeypatch)
    attrs = [b.origin(0), b.as_path([(2, [65001])]), b.next_hop("192.0.2.1")]
    ctx = DecodeContext()
    ctx.peer_up((0, bytes(8), "192.0.2.1"), PeerCaps())
    marked = 0
    for i in range(100):
        update = b.build_update(attributes=attrs, nlri=b.nlri([f"10.{i}.0.0/24", f"10.{i}.1.0/24"]))
        tlvs = [path_marking_tlv(2, index=1 + i % 2)] if i % 2 else []
        msg = fast.decode_route_monitoring(build_route_monitoring_v4(update, after=tlvs), ctx)
        marked += sum(1 for s in msg.path_status if s is not None)
    assert handed == []
    assert marked == 50
    assert dict(ctx.quirks) == {}
