"""The construct specification of BGP messages (parsers/bgp/decode.py).

Bytes are hand-written hex where the layout itself is under test, and built
with ``support.bgp`` (the same construct structures) elsewhere; expected
values are always written out in full.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import opens, update_cases
from support import bgp as b

from parsers.bgp import decode as spec
from parsers.bgp import wire as bgp_wire
from parsers.bgp.attributes import Aggregator, AsPathSegment, PathAttributes, RawAttribute
from parsers.bgp.messages import (
    AddPathCapability,
    Capability,
    ExtendedNextHopCapability,
    FourOctetAsCapability,
    FqdnCapability,
    GracefulRestartCapability,
    Keepalive,
    LlgrCapability,
    MultiprotocolCapability,
    Notification,
    OpenMessage,
    RoleCapability,
    RouteRefresh,
    UnknownBgpMessage,
    Update,
)
from parsers.bgp.nlri import NlriSet
from parsers.errors import Action, MalformedError, ParseError, TruncatedError, UnsupportedError

MARKER = b"\xff" * 16
TAW = Action.TREAT_AS_WITHDRAW
SKIP = Action.SKIP_MESSAGE
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def msg(mtype: int, body: bytes) -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def v4(*keys: bytes, ids: tuple[int, ...] | None = None) -> NlriSet:
    return NlriSet(1, 1, keys, ids)


BASE_ATTRS = [b.origin(0), b.as_path([65001]), b.next_hop("192.0.2.1")]
BASE = PathAttributes(origin=0, as_path=(AsPathSegment(2, (65001,)),), next_hop="192.0.2.1")
K24 = bytes.fromhex("18c00002")  # 192.0.2.0/24
K8 = bytes.fromhex("080a")  # 10.0.0.0/8


def raises(
    data: bytes, kind: type[ParseError], action: Action, offset: int, **kw: object
) -> ParseError:
    with pytest.raises(kind) as info:
        spec.decode_bgp_message(data, **kw)  # type: ignore[arg-type]
    err = info.value
    assert type(err) is kind
    assert (err.action, err.offset) == (action, offset)
    return err


# ---------------------------------------------------------------- header, small messages


def test_keepalive() -> None:
    assert spec.decode_bgp_message(bytes.fromhex("ff" * 16 + "001304")) == Keepalive()


def test_keepalive_with_body_is_malformed() -> None:
    raises(msg(4, b"\x00"), MalformedError, SKIP, 16)


def test_bad_marker() -> None:
    raises(b"\xfe" + MARKER[1:] + bytes.fromhex("001304"), MalformedError, SKIP, 0)


def test_short_and_truncated() -> None:
    raises(MARKER + b"\x00", TruncatedError, SKIP, 17)
    raises(msg(2, bytes(4))[:-1], TruncatedError, SKIP, 22)


def test_trailing_bytes() -> None:
    raises(msg(4, b"") + b"\x00", MalformedError, SKIP, 19)


def test_length_out_of_range() -> None:
    raises(MARKER + bytes.fromhex("001204"), MalformedError, SKIP, 16)
    big = msg(99, bytes(5000))
    assert spec.decode_bgp_message(big) == UnknownBgpMessage(99, bytes(5000))
    raises(big, MalformedError, SKIP, 16, extended_message=False)


def test_minimum_lengths() -> None:
    raises(msg(1, bytes(9)), MalformedError, SKIP, 16)  # OPEN < 29
    raises(msg(2, bytes(3)), MalformedError, SKIP, 16)  # UPDATE < 23
    raises(msg(3, b"\x06"), MalformedError, SKIP, 16)  # NOTIFICATION < 21
    raises(msg(5, bytes(3)), MalformedError, SKIP, 16)  # ROUTE-REFRESH < 23


def test_unknown_type() -> None:
    assert spec.decode_bgp_message(msg(7, b"abc")) == UnknownBgpMessage(7, b"abc")


def test_message_length() -> None:
    data = b.build_keepalive() + b"rest"
    assert spec.message_length(data) == 19
    with pytest.raises(TruncatedError):
        spec.message_length(MARKER)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("00010001", RouteRefresh(1, 1, 0)),
        ("00020101", RouteRefresh(2, 1, 1)),  # BoRR
        ("00020201", RouteRefresh(2, 1, 2)),  # EoRR
        ("000100010140000700000000", RouteRefresh(1, 1, 0)),  # ORF entries ignored
    ],
)
def test_route_refresh(body: str, expected: RouteRefresh) -> None:
    assert spec.decode_bgp_message(msg(5, bytes.fromhex(body))) == expected
    assert (
        b.build_route_refresh(expected.afi, expected.safi, expected.subtype).hex()[38:] == body[:8]
    )


@pytest.mark.parametrize(
    ("code", "subcode", "code_name", "subcode_name"),
    [
        (1, 2, "message_header_error", "bad_message_length"),
        (2, 7, "open_message_error", "unsupported_capability"),
        (2, 11, "open_message_error", "role_mismatch"),
        (3, 1, "update_message_error", "malformed_attribute_list"),
        (3, 11, "update_message_error", "malformed_as_path"),
        (4, 0, "hold_timer_expired", "unspecific"),
        (5, 3, "fsm_error", "receive_unexpected_message_in_established_state"),
        (6, 2, "cease", "administrative_shutdown"),
        (6, 4, "cease", "administrative_reset"),
        (6, 9, "cease", "hard_reset"),
        (7, 1, "route_refresh_message_error", "invalid_message_length"),
        (8, 0, "send_hold_timer_expired", "unspecific"),
        (42, 9, "code_42", "subcode_9"),
    ],
)
def test_notification_names(code: int, subcode: int, code_name: str, subcode_name: str) -> None:
    note = spec.decode_notification(msg(3, bytes([code, subcode])))
    assert note == Notification(code, subcode, b"")
    assert (note.code_name, note.subcode_name) == (code_name, subcode_name)


def test_notification_with_shutdown_message() -> None:
    data = bytes.fromhex("ff" * 16 + "001a03" + "0602" + "046279652e")
    note = spec.decode_bgp_message(data)
    assert note == Notification(6, 2, b"\x04bye.")
    assert isinstance(note, Notification)
    assert note.shutdown_message() == "bye."
    assert b.build_notification(6, 2, b"\x04bye.") == data


def test_decode_notification_rejects_other_types() -> None:
    with pytest.raises(MalformedError) as info:
        spec.decode_notification(b.build_keepalive())
    assert info.value.offset == 18


# ---------------------------------------------------------------- OPEN

FRR_LIKE_OPEN = (
    "ffffffffffffffffffffffffffffffff"
    "0048"
    "01"
    "04fde800b40a000101"  # v4, AS 65000, hold 180, 10.0.1.1
    "2b"  # 43 bytes of optional parameters
    "0229"  # one parameter: capabilities, 41 bytes
    "010400010001"  # MP ipv4/unicast
    "0200"  # route refresh
    "41040000fde8"  # 4-octet AS 65000
    "450400010103"  # ADD-PATH ipv4/unicast send+receive
    "4006407800010180"  # GR: R bit, 120 s; ipv4/unicast forwarding preserved
    "490b026831076578616d706c65"  # FQDN h1 / example
)


def test_open_hand_written() -> None:
    got = spec.decode_open(bytes.fromhex(FRR_LIKE_OPEN))
    assert got == OpenMessage(
        version=4,
        my_as=65000,
        hold_time=180,
        bgp_id="10.0.1.1",
        capabilities=(
            MultiprotocolCapability(1, bytes.fromhex("00010001"), afi=1, safi=1),
            Capability(2, b""),
            FourOctetAsCapability(65, bytes.fromhex("0000fde8"), asn=65000),
            AddPathCapability(69, bytes.fromhex("00010103"), families=((1, 1, 3),)),
            GracefulRestartCapability(
                64,
                bytes.fromhex("407800010180"),
                restart_flags=4,
                restart_time=120,
                families=((1, 1, 0x80),),
            ),
            FqdnCapability(
                73, bytes.fromhex("026831076578616d706c65"), hostname="h1", domain="example"
            ),
        ),
    )
    assert got.asn == 65000 and got.four_octet_as and got.add_path(1, 1) == 3


def test_every_capability() -> None:
    data = b.build_open(
        my_as=23456,
        bgp_id="192.0.2.9",
        capabilities=[
            b.cap_mp(2, 1),
            b.cap_route_refresh(),
            b.cap_extended_next_hop([(1, 1, 2), (1, 128, 2)]),
            b.cap_extended_message(),
            b.cap_role(3),
            b.cap_graceful_restart(8, 300, [(1, 1, 0x80), (2, 1, 0)]),
            b.cap_four_octet_as(4200000001),
            b.cap_add_path([(1, 1, 1), (2, 1, 2)]),
            b.cap_enhanced_route_refresh(),
            b.cap_llgr([(1, 1, 0x80, 86400)]),
            b.cap_fqdn("rtr", "dc1.example"),
            b.capability(131, b"\x01\x02"),
        ],
    )
    got = spec.decode_open(data)
    assert got.capabilities == (
        MultiprotocolCapability(1, bytes.fromhex("00020001"), afi=2, safi=1),
        Capability(2, b""),
        ExtendedNextHopCapability(
            5, bytes.fromhex("000100010002000100800002"), entries=((1, 1, 2), (1, 128, 2))
        ),
        Capability(6, b""),
        RoleCapability(9, b"\x03", role=3),
        GracefulRestartCapability(
            64,
            bytes.fromhex("812c0001018000020100"),
            restart_flags=8,
            restart_time=300,
            families=((1, 1, 0x80), (2, 1, 0)),
        ),
        FourOctetAsCapability(65, bytes.fromhex("fa56ea01"), asn=4200000001),
        AddPathCapability(69, bytes.fromhex("0001010100020102"), families=((1, 1, 1), (2, 1, 2))),
        Capability(70, b""),
        LlgrCapability(71, bytes.fromhex("00010180015180"), families=((1, 1, 0x80, 86400),)),
        FqdnCapability(73, b"\x03rtr\x0bdc1.example", hostname="rtr", domain="dc1.example"),
        Capability(131, b"\x01\x02"),
    )
    assert (got.version, got.my_as, got.hold_time, got.bgp_id) == (4, 23456, 180, "192.0.2.9")
    assert got.asn == 4200000001
    assert [c.name for c in got.capabilities][:3] == [
        "multiprotocol",
        "route_refresh",
        "extended_next_hop",
    ]
    assert Capability(8).name == "multiple_labels"
    assert Capability(7).name == "bgpsec"


def test_open_rfc9072_extended_parameters() -> None:
    data = bytes.fromhex(
        "ff" * 16
        + "002901"
        + "04fde800b4c0000201"
        + "ff"
        + "ff"
        + "0009"
        + "020006"
        + "010400010001"
    )
    assert spec.decode_open(data) == OpenMessage(
        4,
        65000,
        180,
        "192.0.2.1",
        (MultiprotocolCapability(1, bytes.fromhex("00010001"), afi=1, safi=1),),
    )
    built = b.build_open(capabilities=[b.cap_mp(1, 1)], other_parameters=[(9, b"x")], extended=True)
    assert built[28:32] == bytes.fromhex("ffff000d")
    assert spec.decode_open(built).other_parameters == ((9, b"x"),)


def test_open_parameters_one_per_capability_and_others() -> None:
    data = b.build_open(
        capabilities=[b.cap_mp(1, 1), b.cap_four_octet_as(65000)],
        other_parameters=[(1, b"\x00\x01")],
        one_parameter=False,
    )
    got = spec.decode_open(data)
    assert [c.code for c in got.capabilities] == [1, 65]
    assert got.other_parameters == ((1, b"\x00\x01"),)


def test_malformed_known_capability_is_plain() -> None:
    data = b.build_open(capabilities=[b.capability(1, b"\x00\x01\x00"), b.capability(65, b"\x00")])
    assert spec.decode_open(data).capabilities == (
        Capability(1, b"\x00\x01\x00"),
        Capability(65, b"\x00"),
    )


def test_fqdn_invalid_utf8_replaced() -> None:
    data = b.build_open(capabilities=[b.capability(73, b"\x02\xff\x41\x00")])
    assert spec.decode_open(data).capabilities == (
        FqdnCapability(73, b"\x02\xff\x41\x00", hostname="\ufffdA", domain=""),
    )


def test_open_errors() -> None:
    good = bytes.fromhex(FRR_LIKE_OPEN)
    # optional parameters length one too long
    bad = bytearray(good)
    bad[28] = 0x2C
    raises(bytes(bad), MalformedError, SKIP, 28)
    # capability length running past its parameter
    bad = bytearray(good)
    bad[30] = 0x2A  # the parameter's length: one more than the message holds
    raises(bytes(bad), MalformedError, SKIP, 29)
    bad = bytearray(good)
    bad[71 - 11] = 0x0C  # FQDN capability length 12 runs past its parameter
    raises(bytes(bad), MalformedError, SKIP, 59)
    # decode_open on an UPDATE
    with pytest.raises(MalformedError):
        spec.decode_open(b.build_eor())


# ---------------------------------------------------------------- UPDATE basics


def test_update_hand_written() -> None:
    data = bytes.fromhex(
        "ff" * 16 + "0046"
        "02"
        "0003"
        "10c0a8"  # withdrawn 192.168.0.0/16
        "0023"
        "40010100"  # ORIGIN igp
        "40020e"
        "0203"
        "0000fde9"
        "fa56ea01"
        "0000fc00"  # AS_PATH 65001 4200000001 64512
        "400304c0000201"  # NEXT_HOP 192.0.2.1
        "80040400000064"  # MED 100
        "18c00002"
        "200a000001"  # 192.0.2.0/24 10.0.0.1/32
    )
    assert spec.decode_update(data) == Update(
        withdrawn=(v4(bytes.fromhex("10c0a8")),),
        announced=(v4(K24, bytes.fromhex("200a000001")),),
        attributes=PathAttributes(
            origin=0,
            as_path=(AsPathSegment(2, (65001, 4200000001, 64512)),),
            next_hop="192.0.2.1",
            med=100,
        ),
    )


def test_every_attribute() -> None:
    data = b.build_update(
        attributes=[
            b.origin(2),
            b.as_path([(2, [65001, 65002]), (1, [1, 2, 3]), (3, [64512]), (4, [64513])]),
            b.next_hop("10.0.0.1"),
            b.med(0),
            b.local_pref(200),
            b.atomic_aggregate(),
            b.aggregator(4200000001, "10.0.0.2"),
            b.communities(["65001:100", 0xFFFFFF01]),
            b.originator_id("10.0.0.3"),
            b.cluster_list(["10.0.0.4", "10.0.0.5"]),
            b.extended_communities([b.route_target(65001, 7), bytes.fromhex("0103c00002010001")]),
            b.as4_path([4200000001]),
            b.as4_aggregator(4200000002, "10.0.0.6"),
            b.large_communities([(4200000001, 1, 2), (1, 0, 0)]),
            b.otc(65003),
            b.attribute(26, bytes.fromhex("0100000b00000000000003e8"), flags=0x80),  # AIGP
        ],
        nlri=K8,
    )
    attrs = PathAttributes(
        origin=2,
        as_path=(
            AsPathSegment(2, (65001, 65002)),
            AsPathSegment(1, (1, 2, 3)),
            AsPathSegment(3, (64512,)),
            AsPathSegment(4, (64513,)),
        ),
        next_hop="10.0.0.1",
        med=0,
        local_pref=200,
        atomic_aggregate=True,
        aggregator=Aggregator(4200000001, "10.0.0.2"),
        communities=(0xFDE90064, 0xFFFFFF01),
        originator_id="10.0.0.3",
        cluster_list=("10.0.0.4", "10.0.0.5"),
        extended_communities=(bytes.fromhex("0002fde900000007"), bytes.fromhex("0103c00002010001")),
        as4_path=(AsPathSegment(2, (4200000001,)),),
        as4_aggregator=Aggregator(4200000002, "10.0.0.6"),
        large_communities=((4200000001, 1, 2), (1, 0, 0)),
        otc=65003,
        unknown=(RawAttribute(0x80, 26, bytes.fromhex("0100000b00000000000003e8")),),
    )
    assert spec.decode_update(data) == Update(announced=(v4(K8),), attributes=attrs)


def test_two_byte_as_path_and_as4_merge() -> None:
    data = b.build_update(
        attributes=[
            b.origin(0),
            b.as_path([65001, 23456, 23456, 65002], four_octet_as=False),
            b.next_hop("10.0.0.1"),
            b.aggregator(23456, "10.0.0.9", four_octet_as=False),
            b.as4_path([4200000001, 4200000002, 65002]),
            b.as4_aggregator(4200000003, "10.0.0.9"),
        ],
        nlri=K8,
    )
    assert data[23 + 4 + 3 : 23 + 4 + 3 + 10].hex() == "0204fde95ba05ba0fdea"
    got = spec.decode_update(data, four_octet_as=False)
    assert got.attributes is not None
    assert got.attributes.as_path == (AsPathSegment(2, (65001, 23456, 23456, 65002)),)
    assert got.attributes.aggregator == Aggregator(23456, "10.0.0.9")
    assert got.attributes.as4_aggregator == Aggregator(4200000003, "10.0.0.9")
    assert got.attributes.effective_as_path == (
        AsPathSegment(2, (65001,)),
        AsPathSegment(2, (4200000001, 4200000002, 65002)),
    )
    # the same bytes read as 4-byte AS_PATH: 4 ASNs of 2 bytes do not parse
    with pytest.raises(MalformedError) as info:
        spec.decode_update(data, four_octet_as=True)
    assert (info.value.action, info.value.offset) == (TAW, 27)


def test_extended_length_attributes() -> None:
    comms = list(range(100))  # 400 bytes
    data = b.build_update(
        attributes=[b.communities(comms), b.attribute(1, b"\x01", extended=True)], nlri=K8
    )
    assert data[23:27] == bytes.fromhex("d0080190")
    assert data[23 + 4 + 400 : 23 + 4 + 400 + 5] == bytes.fromhex("5001000101")
    got = spec.decode_update(data)
    assert got.attributes == PathAttributes(origin=1, communities=tuple(comms))


def test_attributes_none_for_pure_withdrawal() -> None:
    data = b.build_update(withdrawn=K24 + K8)
    assert spec.decode_update(data) == Update(withdrawn=(v4(K24, K8),))


def test_decode_attributes_shape() -> None:
    raw = b"".join(
        [
            b.origin(0),
            b.mp_reach(2, 1, ["2001:db8::1"], b.nlri(["2001:db8::/32"])),
            b.mp_unreach(2, 1, b.nlri(["2001:db8:1::/48"])),
        ]
    )
    attrs, reach, unreach = spec.decode_attributes(raw)
    assert attrs == PathAttributes(origin=0, mp_next_hop=("2001:db8::1",))
    assert reach == [
        (2, 1, bytes.fromhex("20010db8000000000000000000000001"), bytes.fromhex("2020010db8"))
    ]
    assert unreach == [(2, 1, bytes.fromhex("3020010db80001"))]
    with pytest.raises(MalformedError) as info:
        spec.decode_attributes(b.med(1) + b.attribute(1, b"\x07"))
    assert (info.value.action, info.value.offset, info.value.partial) == (TAW, 7, None)


# ---------------------------------------------------------------- End-of-RIB


def test_eor_ipv4() -> None:
    assert spec.decode_update(bytes.fromhex("ff" * 16 + "00170200000000")) == Update(
        end_of_rib=(1, 1)
    )


@pytest.mark.parametrize(("afi", "safi"), [(2, 1), (1, 4), (1, 128), (25, 70), (1, 133)])
def test_eor_mp(afi: int, safi: int) -> None:
    data = b.build_eor(afi, safi)
    calls: list[object] = []
    got = spec.decode_update(data, add_path=lambda *a: bool(calls.append(a)))
    assert got == Update(end_of_rib=(afi, safi))
    assert calls == []


def test_mp_unreach_with_another_attribute_is_not_eor() -> None:
    data = b.build_update(attributes=[b.mp_unreach(2, 1), b.origin(0)])
    assert spec.decode_update(data) == Update(attributes=PathAttributes(origin=0))


# ---------------------------------------------------------------- NLRI per SAFI


def test_ipv6_unicast_and_multicast() -> None:
    for safi in (1, 2):
        blob = b.nlri(["2001:db8::/32", "::/0", "2001:db8:1:2::1/128"])
        data = b.build_update(attributes=[*BASE_ATTRS, b.mp_reach(2, safi, ["2001:db8::1"], blob)])
        keys = (
            bytes.fromhex("2020010db8"),
            b"\x00",
            bytes.fromhex("8020010db8000100020000000000000001"),
        )
        assert spec.decode_update(data) == Update(
            announced=(NlriSet(2, safi, keys),),
            attributes=PathAttributes(
                origin=0,
                as_path=(AsPathSegment(2, (65001,)),),
                next_hop="192.0.2.1",
                mp_next_hop=("2001:db8::1",),
            ),
        )


def test_add_path_ipv4_and_ipv6() -> None:
    data = b.build_update(
        withdrawn=b.nlri(["10.0.0.0/8"], [7]),
        attributes=[
            *BASE_ATTRS,
            b.mp_reach(2, 1, ["2001:db8::1", "fe80::1"], b.nlri(["2001:db8::/32"], [1])),
        ],
        nlri=b.nlri(["192.0.2.0/24", "192.0.2.0/24"], [1, 2]),
    )
    calls: list[tuple[int, int, tuple[bytes, ...]]] = []

    def resolver(afi: int, safi: int, blobs: tuple[bytes, ...]) -> bool:
        calls.append((afi, safi, blobs))
        return True

    got = spec.decode_update(data, add_path=resolver)
    assert got.withdrawn == (v4(K8, ids=(7,)),)
    assert got.announced == (
        v4(K24, K24, ids=(1, 2)),
        NlriSet(2, 1, (bytes.fromhex("2020010db8"),), (1,)),
    )
    assert got.attributes is not None and got.attributes.mp_next_hop == ("2001:db8::1", "fe80::1")
    assert calls == [
        (1, 1, (bytes.fromhex("00000007080a"), bytes.fromhex("0000000118c000020000000218c00002"))),
        (2, 1, (bytes.fromhex("000000012020010db8"),)),
    ]


def test_labeled_unicast() -> None:
    blob = b.labeled_nlri([("10.1.0.0/16", [100]), ("10.2.0.0/16", [16, 17])])
    assert blob.hex() == "280006410a01400001000001110a02"
    data = b.build_update(
        attributes=[*BASE_ATTRS, b.mp_reach(1, 4, ["10.0.0.1"], blob)],
    )
    got = spec.decode_update(data)
    assert got.announced == (
        NlriSet(
            1, 4, (bytes.fromhex("100a01"), bytes.fromhex("100a02")), labels=((100,), (16, 17))
        ),
    )
    # withdrawals: 0x800000 (RFC 8277) and 0x000000 both end the stack
    w = bytes.fromhex("288000000a03280000000a04")
    got = spec.decode_update(b.build_update(attributes=[b.mp_unreach(1, 4, w)]))
    assert got.withdrawn == (
        NlriSet(
            1, 4, (bytes.fromhex("100a03"), bytes.fromhex("100a04")), labels=((0x80000,), (0,))
        ),
    )


def test_labeled_unicast_add_path_ipv6() -> None:
    blob = b.labeled_nlri([("2001:db8::/32", [3])], afi=2, path_ids=[9])
    assert spec.decode_nlri(blob, 2, 4, True) == NlriSet(
        2, 4, (bytes.fromhex("2020010db8"),), (9,), ((3,),)
    )


def test_vpn() -> None:
    rd = b.rd_type0(65000, 1)
    blob = b.vpn_nlri([(rd, "10.1.0.0/16", [300])])
    assert blob.hex() == "680012c10000fde8000000010a01"
    data = b.build_update(attributes=[*BASE_ATTRS, b.mp_reach(1, 128, ["192.0.2.7"], blob)])
    nh = bytes.fromhex("0000000000000000c0000207")
    assert data.find(bytes([12]) + nh) > 0
    got = spec.decode_update(data)
    key = bytes([80]) + rd + bytes.fromhex("0a01")
    assert got.announced == (NlriSet(1, 128, (key,), labels=((300,),)),)
    assert got.attributes is not None and got.attributes.mp_next_hop == ("192.0.2.7",)
    assert got.announced[0].describe() == ["65000:1 10.1.0.0/16"]


def test_vpn_ipv6_next_hops() -> None:
    rd = b.rd_type0(1, 2)
    blob = b.vpn_nlri([(rd, "2001:db8::/32", [5])], afi=2)
    for hops in (["2001:db8::1"], ["2001:db8::1", "fe80::2"]):
        data = b.build_update(attributes=[b.mp_reach(2, 128, hops, blob)])
        got = spec.decode_update(data)
        assert got.attributes == PathAttributes(mp_next_hop=tuple(hops))
        assert got.announced == (
            NlriSet(2, 128, (bytes([96]) + rd + bytes.fromhex("20010db8"),), labels=((5,),)),
        )


def test_evpn() -> None:
    route2 = (
        bytes(8)
        + bytes(10)
        + bytes(4)
        + b"\x30"
        + bytes.fromhex("aabbccddeeff")
        + b"\x00"
        + b"\x00\x00\x11"
    )
    route3 = b.rd_type0(65000, 3) + bytes(4) + b"\x20" + bytes.fromhex("c0000201")
    blob = b.evpn_nlri([(2, route2), (3, route3)])
    data = b.build_update(attributes=[b.mp_reach(25, 70, ["192.0.2.1"], blob)])
    got = spec.decode_update(data)
    assert got.announced == (
        NlriSet(25, 70, (bytes([2, len(route2)]) + route2, bytes([3, len(route3)]) + route3)),
    )
    assert got.announced[0].describe()[0] == "evpn:mac_ip_advertisement:0:0:aa:bb:cc:dd:ee:ff"


def test_rfc8950_ipv4_over_ipv6_next_hop() -> None:
    for hops in (["2001:db8::1"], ["2001:db8::1", "fe80::1"]):
        data = b.build_update(attributes=[*BASE_ATTRS, b.mp_reach(1, 1, hops, K24)])
        got = spec.decode_update(data)
        assert got.announced == (v4(K24),)
        assert got.attributes is not None
        assert got.attributes.mp_next_hop == tuple(hops)
        assert got.attributes.effective_next_hop == hops[0]


def test_unsupported_family() -> None:
    data = b.build_update(attributes=[b.mp_reach(1, 133, ["192.0.2.1"], b"\x05abcde")])
    err = raises(data, UnsupportedError, SKIP, 23 + 3 + 9)
    assert err.partial is None
    with pytest.raises(UnsupportedError):
        spec.decode_nlri(b"\x01", 3, 1, False)
    assert spec.decode_nlri(b"", 3, 1, False) == NlriSet(3, 1, ())


# ---------------------------------------------------------------- nlri_score


@pytest.mark.parametrize(
    ("blob", "afi", "safi", "add_path", "score"),
    [
        ("", 1, 1, False, 2),
        ("18c00002", 1, 1, False, 2),
        ("17c00003", 1, 1, False, 0),  # host bit set after /23
        ("19c0000240", 1, 1, False, 0),  # host bit set after /25
        ("21c0000201ff", 1, 1, False, 0),  # /33
        ("18c000", 1, 1, False, 0),  # overrun
        ("0000000118c00002", 1, 1, True, 2),
        ("0100000018c00002", 1, 1, True, 1),  # path ID 2**24
        ("19c0000200", 1, 1, False, 2),  # 192.0.2.0/25
        ("19c0000200", 1, 1, True, 1),  # path ID 432013314, 0.0.0.0/0
        ("8120010db8" + "00" * 12, 2, 1, False, 0),  # /129
        ("280006410a01", 1, 4, False, 2),
        ("270006410a03", 1, 4, False, 0),  # /15 with a host bit
        ("380006410a01", 1, 4, False, 0),  # overrun
        ("10000641", 1, 4, False, 0),  # length shorter than the label
        ("680012c10000fde8000000010a01", 1, 128, False, 2),
        ("680012c10000fde8000000010a01ff", 1, 128, False, 0),
        ("0203aabbcc", 25, 70, False, 2),
        ("0205aabbcc", 25, 70, False, 0),
        ("01", 1, 133, False, 0),
    ],
)
def test_nlri_score(blob: str, afi: int, safi: int, add_path: bool, score: int) -> None:
    assert spec.nlri_score(bytes.fromhex(blob), afi, safi, add_path) == score


def test_ambiguous_blob_both_readings() -> None:
    blob = bytes.fromhex("19c0000200")
    assert spec.decode_nlri(blob, 1, 1, False) == v4(blob)
    assert spec.decode_nlri(blob, 1, 1, True) == v4(b"\x00", ids=(432013314,))
    assert v4(blob).describe() == ["192.0.2.0/25"]


def test_host_bits_are_kept_in_the_key() -> None:
    assert spec.decode_nlri(bytes.fromhex("18c00003"), 1, 1, False) == v4(bytes.fromhex("18c00003"))


def test_decode_nlri_offsets() -> None:
    with pytest.raises(MalformedError) as info:
        spec.decode_nlri(bytes.fromhex("18c0000221c0000201ff"), 1, 1, False)
    assert info.value.offset == 4
    with pytest.raises(MalformedError) as info:
        spec.decode_nlri(bytes.fromhex("18c0000218c000"), 1, 1, False)
    assert info.value.offset == 4


# ---------------------------------------------------------------- a 65535-byte UPDATE


def test_largest_update() -> None:
    attrs = b"".join(BASE_ATTRS)
    room = 65535 - 23 - len(attrs)
    n5, rest = divmod(room, 5)  # /32 entries are 5 bytes; the rest as /24 entries (4 bytes)
    n5 -= 4 - rest if rest else 0
    n4 = (room - 5 * n5) // 4
    keys = [b"\x20" + i.to_bytes(4, "big") for i in range(n5)]
    keys += [b"\x18" + (i << 8).to_bytes(4, "big")[:3] for i in range(n4)]
    data = b.build_update(attributes=attrs, nlri=b"".join(keys))
    assert len(data) == 65535
    got = spec.decode_bgp_message(data)
    assert got == Update(announced=(v4(*keys),), attributes=BASE)
    assert isinstance(got, Update) and got.announced_count() == n5 + n4 == 13099 and n4 == 3
    raises(data, MalformedError, SKIP, 16, extended_message=False)


# ---------------------------------------------------------------- RFC 7606

ATTR_AT = 23  # first attribute of an UPDATE without withdrawn routes


def _update_with(bad: bytes, before: list[bytes] | None = None) -> bytes:
    return b.build_update(withdrawn=K8, attributes=[*(before or []), bad, b.med(1)], nlri=K24)


@pytest.mark.parametrize(
    ("bad"),
    [
        b.attribute(1, b"\x03"),  # ORIGIN undefined value
        b.attribute(1, b"\x00\x00"),  # ORIGIN length
        b.attribute(2, bytes.fromhex("050100000001")),  # AS_PATH segment type 5
        b.attribute(2, bytes.fromhex("0200")),  # AS_PATH segment count 0
        b.attribute(2, bytes.fromhex("020200000001")),  # AS_PATH overrun
        b.attribute(2, bytes.fromhex("02010000000100")),  # AS_PATH underrun
        b.attribute(3, bytes.fromhex("0a000001ff")),  # NEXT_HOP length
        b.attribute(4, b"\x00\x00\x01"),  # MED length
        b.attribute(5, bytes(5)),  # LOCAL_PREF length
        b.attribute(8, b""),  # COMMUNITIES empty
        b.attribute(8, bytes(6)),  # COMMUNITIES not a multiple of 4
        b.attribute(9, bytes(3)),  # ORIGINATOR_ID length
        b.attribute(10, bytes(6)),  # CLUSTER_LIST
        b.attribute(16, bytes(7)),  # EXTENDED_COMMUNITIES
        b.attribute(32, bytes(13)),  # LARGE_COMMUNITY
        b.attribute(35, bytes(3)),  # OTC
        b.attribute(14, bytes.fromhex("00010105c00002010000")),  # MP_REACH next hop length 5
    ],
)
def test_treat_as_withdraw(bad: bytes) -> None:
    data = _update_with(bad, before=[b.origin(0)] if bad[1] != 1 else None)
    offset = 19 + 2 + 2 + 2 + (4 if bad[1] != 1 else 0)
    err = raises(data, MalformedError, TAW, offset)
    assert err.partial == Update(withdrawn=(v4(K8), v4(K24)))


def test_treat_as_withdraw_keeps_mp_routes() -> None:
    data = b.build_update(
        attributes=[
            b.mp_unreach(2, 1, b.nlri(["2001:db8:1::/48"])),
            b.attribute(1, b"\x09"),
            b.mp_reach(2, 1, ["2001:db8::1"], b.nlri(["2001:db8::/32"])),
        ],
        nlri=K24,
    )
    err = raises(data, MalformedError, TAW, 23 + 13)
    assert err.partial == Update(
        withdrawn=(
            NlriSet(2, 1, (bytes.fromhex("3020010db80001"),)),
            v4(K24),
            NlriSet(2, 1, (bytes.fromhex("2020010db8"),)),
        )
    )


@pytest.mark.parametrize(
    ("bad", "note"),
    [
        (b.attribute(6, b"\x00"), "atomic_aggregate: malformed"),
        (b.attribute(7, bytes(7)), "aggregator: malformed"),
        (b.attribute(17, bytes.fromhex("02010001")), "as4_path: malformed"),
        (b.attribute(17, bytes.fromhex("0700")), "as4_path: malformed"),
        (b.attribute(18, bytes(6)), "as4_aggregator: malformed"),
    ],
)
def test_discard_attribute(bad: bytes, note: str) -> None:
    data = b.build_update(attributes=[*BASE_ATTRS, bad, b.med(5)], nlri=K24)
    assert spec.decode_update(data) == Update(
        announced=(v4(K24),),
        attributes=PathAttributes(
            origin=0,
            as_path=(AsPathSegment(2, (65001,)),),
            next_hop="192.0.2.1",
            med=5,
            discarded=(note,),
        ),
    )


def test_aggregator_width_follows_session() -> None:
    agg6 = b.aggregator(65001, "10.0.0.1", four_octet_as=False)
    got = spec.decode_update(b.build_update(attributes=[agg6], nlri=K24))
    assert got.attributes == PathAttributes(discarded=("aggregator: malformed",))
    got = spec.decode_update(b.build_update(attributes=[agg6], nlri=K24), four_octet_as=False)
    assert got.attributes == PathAttributes(aggregator=Aggregator(65001, "10.0.0.1"))


def test_duplicate_attribute_keeps_first() -> None:
    data = b.build_update(
        attributes=[
            b.med(1),
            b.communities([5]),
            b.med(2),
            b.attribute(99, b"a"),
            b.attribute(99, b"b"),
        ],
        nlri=K24,
    )
    assert spec.decode_update(data).attributes == PathAttributes(
        med=1,
        communities=(5,),
        unknown=(RawAttribute(0xC0, 99, b"a"),),
        discarded=("med: duplicate", "attr_99: duplicate"),
    )


def test_duplicate_mp_reach_skips() -> None:
    reach = b.mp_reach(2, 1, ["2001:db8::1"], b.nlri(["2001:db8::/32"]))
    data = b.build_update(attributes=[reach, reach])
    raises(data, MalformedError, SKIP, 23 + len(reach))
    unreach = b.mp_unreach(2, 1, b.nlri(["2001:db8::/32"]))
    raises(b.build_update(attributes=[unreach, unreach]), MalformedError, SKIP, 23 + len(unreach))


def test_attribute_list_overrun() -> None:
    body = bytes.fromhex("00000008400101004002ff0018c00002")
    err = raises(msg(2, body), MalformedError, TAW, 27)
    assert err.partial == Update(withdrawn=(v4(K24),))
    # a header cut short
    body = bytes.fromhex("0000000640010100400218c00002")
    err = raises(msg(2, body), MalformedError, TAW, 27)
    assert err.partial == Update(withdrawn=(v4(K24),))


def test_field_lengths_past_the_message() -> None:
    raises(msg(2, bytes.fromhex("000500000000")), MalformedError, SKIP, 19)
    raises(msg(2, bytes.fromhex("00000009400101")), MalformedError, SKIP, 21)


def test_bad_classic_nlri_treat_as_withdraw() -> None:
    data = b.build_update(
        withdrawn=K8, attributes=BASE_ATTRS, nlri=K24 + bytes.fromhex("21c0000201")
    )
    nlri_at = 19 + 2 + 2 + 2 + len(b"".join(BASE_ATTRS))
    err = raises(data, MalformedError, TAW, nlri_at + 4)
    assert err.partial == Update(withdrawn=(v4(K8),))


def test_bad_withdrawn_skips() -> None:
    data = b.build_update(withdrawn=bytes.fromhex("18c000"), attributes=BASE_ATTRS, nlri=K24)
    err = raises(data, MalformedError, SKIP, 21)
    assert err.partial is None


def test_bad_mp_reach_nlri_treat_as_withdraw() -> None:
    reach = b.mp_reach(2, 1, ["2001:db8::1"], bytes.fromhex("8120010db8"))
    data = b.build_update(withdrawn=K8, attributes=[reach])
    err = raises(data, MalformedError, TAW, 25 + 3 + 4 + 16 + 1)
    assert err.partial == Update(withdrawn=(v4(K8),))


def test_mp_reach_too_short_treat_as_withdraw() -> None:
    data = b.build_update(withdrawn=K8, attributes=[b.attribute(14, bytes.fromhex("00020110"))])
    err = raises(data, MalformedError, TAW, 25)
    assert err.partial == Update(withdrawn=(v4(K8),))


def test_bad_mp_unreach_nlri_skips() -> None:
    data = b.build_update(attributes=[b.mp_unreach(2, 1, bytes.fromhex("4020010db8"))], nlri=K24)
    raises(data, MalformedError, SKIP, 23 + 3 + 3)
    raises(b.build_update(attributes=[b.attribute(15, b"\x00\x02")]), MalformedError, SKIP, 23)


def test_skip_beats_treat_as_withdraw() -> None:
    data = b.build_update(
        withdrawn=bytes.fromhex("18c000"), attributes=[b.attribute(1, b"\x05")], nlri=K24
    )
    raises(data, MalformedError, SKIP, 21)


# ---------------------------------------------------------------- construct round trips


def test_structures_build_what_they_parse() -> None:
    whole = bytes.fromhex(FRR_LIKE_OPEN)
    frame = bgp_wire.Message.parse(whole)
    assert bgp_wire.Message.build({"type": frame.type, "body": frame.body}) == whole
    body = bgp_wire.OpenBody.parse(frame.body)
    assert body.extended == 0x2B02
    assert bgp_wire.OpenBody.build(body) == frame.body
    ext = b.build_open(capabilities=[b.cap_mp(1, 1)], extended=True)
    parsed = bgp_wire.OpenBody.parse(ext[19:])
    assert parsed.extended == 0xFFFF and len(parsed.parameters) == 1
    attrs = b"".join(BASE_ATTRS) + b.communities(list(range(70)))
    assert bgp_wire.AttributeBlock.build(bgp_wire.AttributeBlock.parse(attrs)) == attrs
    blob = b.vpn_nlri([(b.rd_type0(1, 1), "10.0.0.0/8", [1, 2, 3])])
    lst = bgp_wire.nlri_list(1, 128, False)
    assert lst.build(lst.parse(blob)) == blob


# ---------------------------------------------------------------- properties


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases())
def test_generated_updates_decode_to_their_model(case: object) -> None:
    data, expected, add_path, four = case  # type: ignore[misc]
    resolver = (lambda *_: True) if add_path else None
    assert spec.decode_update(data, four_octet_as=four, add_path=resolver) == expected
    assert spec.decode_bgp_message(data, four_octet_as=four, add_path=resolver) == expected


@settings(max_examples=150, derandomize=True)
@given(opens())
def test_generated_opens_decode_to_their_model(case: tuple[bytes, OpenMessage]) -> None:
    data, expected = case
    assert spec.decode_open(data) == expected


def _no_other_exception(data: bytes, **kw: object) -> None:
    try:
        spec.decode_bgp_message(data, **kw)  # type: ignore[arg-type]
    except ParseError as exc:
        assert "internal" not in exc.message
        assert exc.offset is None or 0 <= exc.offset <= len(data)


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=80), st.integers(1, 6), st.booleans(), st.booleans())
def test_arbitrary_bodies(body: bytes, mtype: int, four: bool, add_path: bool) -> None:
    resolver = (lambda *_: True) if add_path else None
    _no_other_exception(msg(mtype, body), four_octet_as=four, add_path=resolver)
    _no_other_exception(MARKER + body)
    for score_args in ((1, 1), (2, 1), (1, 4), (2, 128), (25, 70), (9, 9)):
        assert spec.nlri_score(body, *score_args, add_path) in (0, 1, 2)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update_cases(), st.data())
def test_mutated_updates(case: object, data: st.DataObject) -> None:
    raw, _, add_path, four = case  # type: ignore[misc]
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(19, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(19, len(buf)))
    mutated = bytes(buf[:cut])
    mutated = mutated[:16] + len(mutated).to_bytes(2, "big") + mutated[18:]
    _no_other_exception(mutated, four_octet_as=four, add_path=(lambda *_: add_path))


# ---------------------------------------------------------------- real speakers


def _bmp_messages(path: Path) -> list[tuple[int, bytes]]:
    data = path.read_bytes()
    out = []
    i = 0
    while i < len(data):
        _, length, mtype = struct.unpack_from("!BIB", data, i)
        out.append((mtype, data[i + 6 : i + length]))
        i += length
    return out


@pytest.mark.parametrize(
    ("name", "announced", "withdrawn", "eor"),
    [
        ("frr-basic.bmp", 152, 86, 0),
        ("gobgp-basic.bmp", 252, 133, 0),
        ("bird-basic.bmp", 156, 88, 16),
    ],
)
def test_golden_captures(name: str, announced: int, withdrawn: int, eor: int) -> None:
    """Every UPDATE and OPEN the speakers sent in ``basic`` decodes; prefix
    counts match captures/README.md (pre + post + Loc-RIB)."""
    counts = [0, 0, 0]
    opens_seen = 0
    for mtype, body in _bmp_messages(CAPTURES / name):
        if mtype == 0:
            update = spec.decode_update(body[42:])
            counts[0] += update.announced_count()
            counts[1] += update.withdrawn_count()
            counts[2] += update.end_of_rib is not None
        elif mtype == 3:
            rest = body[42 + 20 :]
            for _ in range(2):
                n = spec.message_length(rest)
                open_msg = spec.decode_open(rest[:n])
                assert open_msg.version == 4 and open_msg.four_octet_as
                assert (1, 1) in open_msg.families and (2, 1) in open_msg.families
                opens_seen += 1
                rest = rest[n:]
    assert counts == [announced, withdrawn, eor]
    assert opens_seen == 8


@pytest.mark.parametrize(
    ("name", "announced", "withdrawn", "eor"),
    [
        ("frr-addpath.bmp", 20, 2, 8),
        ("gobgp-addpath.bmp", 46, 9, 6),
        ("bird-addpath.bmp", 33, 2, 8),
    ],
)
def test_golden_add_path_captures(name: str, announced: int, withdrawn: int, eor: int) -> None:
    """ADD-PATH captures, with the resolver bound to a DecodeContext fed by the
    Peer Up OPENs (decoded here): prefix counts match captures/README.md."""
    from parsers.bmp.context import DecodeContext, PeerCaps

    ctx = DecodeContext()
    counts = [0, 0, 0]
    for mtype, body in _bmp_messages(CAPTURES / name):
        ptype, flags = body[0], body[1]
        key = (ptype, body[2:10], body[10:26].hex())
        if mtype == 3:
            rest = body[42 + 20 :]
            n = spec.message_length(rest)
            sent, received = spec.decode_open(rest[:n]), spec.decode_open(rest[n:])
            ctx.peer_up(key, PeerCaps.from_opens(sent, received))
        elif mtype == 0:
            view = "loc_rib" if ptype == 3 else ("adj_in_post" if flags & 0x40 else "adj_in_pre")

            def resolver(afi: int, safi: int, blobs: tuple[bytes, ...]) -> bool:
                return ctx.resolve_add_path(key, view, afi, safi, blobs, spec.nlri_score)  # noqa: B023

            update = spec.decode_update(body[42:], add_path=resolver)
            counts[0] += update.announced_count()
            counts[1] += update.withdrawn_count()
            counts[2] += update.end_of_rib is not None
    assert counts == [announced, withdrawn, eor]
