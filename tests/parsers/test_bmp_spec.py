"""parsers.bmp.decode: every BMP message type, every error path, the golden captures."""

from __future__ import annotations

import collections
import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.bmp import (
    add_path_cap,
    build_initiation,
    build_keepalive,
    build_message,
    build_mirroring,
    build_notification,
    build_open,
    build_peer_down,
    build_peer_up,
    build_per_peer_header,
    build_route_monitoring,
    build_stats,
    build_termination,
    build_tlv,
    build_update,
    four_octet_as_cap,
    ipv4_prefix,
    mp_cap,
)

from parsers.bgp.messages import Keepalive, Update
from parsers.bmp import decode as spec
from parsers.bmp.context import DecodeContext, PeerCaps
from parsers.bmp.messages import (
    FLAG_A,
    FLAG_F,
    FLAG_L,
    FLAG_O,
    FLAG_V,
    TLV_TRAILING_BYTES,
    BmpTlv,
    Initiation,
    MirrorTlv,
    PeerDown,
    PeerUp,
    RouteMirroring,
    RouteMonitoring,
    StatEntry,
    StatisticsReport,
    Termination,
    UnknownBmpMessage,
)
from parsers.bmp.reader import BmpReader
from parsers.bmp.stat_types import STAT_TYPES, stat_name
from parsers.errors import (
    Action,
    MalformedError,
    ParseError,
    TruncatedError,
    UnsupportedError,
)

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"


def decode(msg: bytes, ctx: DecodeContext | None = None):  # type: ignore[no-untyped-def]
    return spec.decode_bmp_message(msg, ctx if ctx is not None else DecodeContext())


# -- BGP pieces used below ------------------------------------------------------

# ORIGIN igp, AS_PATH sequence [65001, 4200000001] (4-byte), NEXT_HOP 192.0.2.1
ATTRS_4BYTE = (
    bytes([0x40, 1, 1, 0])
    + bytes([0x40, 2, 10, 2, 2])
    + (65001).to_bytes(4, "big")
    + (4200000001).to_bytes(4, "big")
    + bytes([0x40, 3, 4, 192, 0, 2, 1])
)
# Same path in 2-byte AS_PATH form: [65001, 23456]
ATTRS_2BYTE = (
    bytes([0x40, 1, 1, 0])
    + bytes([0x40, 2, 6, 2, 2])
    + (65001).to_bytes(2, "big")
    + (23456).to_bytes(2, "big")
    + bytes([0x40, 3, 4, 192, 0, 2, 1])
)
UPDATE_4BYTE = build_update(attributes=ATTRS_4BYTE, nlri=ipv4_prefix("198.51.100.0/24"))


# -- common header ---------------------------------------------------------------


def test_bmp_v4_initiation_decodes_like_v3() -> None:
    v3 = build_initiation()
    assert decode(b"\x04" + v3[1:]) == decode(v3)


def test_an_unknown_version_is_refused_by_name() -> None:
    msg = b"\x05" + build_initiation()[1:]
    with pytest.raises(UnsupportedError) as exc:
        decode(msg)
    assert exc.value.message == "unsupported BMP version 5, expected 3 or 4"
    assert exc.value.offset == 0
    assert exc.value.action is Action.DROP_SESSION


@pytest.mark.parametrize(("version", "text"), [(1, "version 1"), (2, "version 2"), (7, "7")])
def test_other_versions_are_rejected(version: int, text: str) -> None:
    with pytest.raises(UnsupportedError) as exc:
        decode(bytes([version]) + build_initiation()[1:])
    assert text in exc.value.message


def test_length_must_equal_data() -> None:
    msg = build_initiation()
    with pytest.raises(MalformedError) as exc:
        decode(msg + b"\x00")
    assert exc.value.offset == 1
    assert exc.value.action is Action.DROP_SESSION
    with pytest.raises(TruncatedError) as exc2:
        decode(msg[:5])
    assert exc2.value.offset == 0


def test_unknown_message_type_is_kept_and_counted() -> None:
    ctx = DecodeContext()
    msg = build_message(9, b"\x01\x02\x03")
    out = decode(msg, ctx)
    assert out == UnknownBmpMessage(9, b"\x01\x02\x03")
    assert decode(build_message(255, b""), ctx) == UnknownBmpMessage(255, b"")
    assert ctx.quirks["unknown_message_type"] == 2


# -- per-peer header --------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer_type", "flags", "address", "view", "expect"),
    [
        (0, 0, "10.0.1.2", "adj_in_pre", {"v": False, "l": False, "a": False, "o": False}),
        (0, FLAG_L, "10.0.1.2", "adj_in_post", {"l": True}),
        (0, FLAG_V, "fd00:1::2", "adj_in_pre", {"v": True}),
        (0, FLAG_V | FLAG_L, "fd00:1::2", "adj_in_post", {"v": True, "l": True}),
        (0, FLAG_A, "10.0.1.2", "adj_in_pre", {"a": True}),
        (0, FLAG_O, "10.0.1.2", "adj_out_pre", {"o": True}),
        (0, FLAG_O | FLAG_L, "10.0.1.2", "adj_out_post", {"o": True, "l": True}),
        (1, FLAG_L, "10.0.1.2", "adj_in_post", {"l": True}),
        (2, 0, "10.0.1.2", "adj_in_pre", {}),
        (3, 0, "0.0.0.0", "loc_rib", {"f": False}),
        (3, FLAG_F, "0.0.0.0", "loc_rib", {"f": True, "v": False}),
    ],
)
def test_per_peer_header_types_and_flags(
    peer_type: int, flags: int, address: str, view: str, expect: dict[str, bool]
) -> None:
    rd = bytes([0, 0, 0xFD, 0xE8, 0, 0, 0, 100]) if peer_type == 1 else bytes(8)
    msg = build_peer_down(
        4,
        peer_type=peer_type,
        flags=flags,
        distinguisher=rd,
        address=address,
        asn=4200000001,
        bgp_id="10.0.1.2",
        timestamp_sec=1767225600,
        timestamp_usec=687006,
    )
    ctx = DecodeContext()
    out = decode(msg, ctx)
    assert isinstance(out, PeerDown)
    p = out.peer
    assert p.peer_type == peer_type
    assert p.flags == flags
    assert p.address == address
    assert p.asn == 4200000001
    assert p.bgp_id == "10.0.1.2"
    assert p.timestamp_sec == 1767225600
    assert p.timestamp_usec == 687006
    assert p.view == view
    assert p.distinguisher == rd
    assert p.rd == ("65000:100" if peer_type == 1 else None)
    fd = p.flag_dict()
    for k, v in expect.items():
        assert fd[k] is v, k
    assert sum(fd.values()) == sum(expect.values())
    assert p.key == (peer_type, rd, address)
    assert not ctx.quirks


def test_loc_rib_f_flag_is_not_ipv6() -> None:
    # 0x80 is F on Loc-RIB; the address stays IPv4-rendered.
    out = decode(build_peer_down(4, peer_type=3, flags=FLAG_F, address="0.0.0.0"))
    assert out.peer.address == "0.0.0.0"
    assert out.peer.ipv6 is False
    assert out.peer.filtered is True


def test_unknown_peer_type_decodes_and_is_counted() -> None:
    ctx = DecodeContext()
    out = decode(build_peer_down(4, peer_type=9, address="10.0.0.9"), ctx)
    assert isinstance(out, PeerDown)
    assert out.peer.peer_type == 9
    assert out.peer.peer_type_name == "type_9"
    assert out.peer.address == "10.0.0.9"
    assert ctx.quirks["unknown_peer_type"] == 1


def test_per_peer_header_truncated() -> None:
    msg = build_message(2, build_per_peer_header()[:41])
    with pytest.raises(TruncatedError) as exc:
        decode(msg)
    assert exc.value.offset == 6
    assert exc.value.action is Action.SKIP_MESSAGE


# -- Initiation / Termination ---------------------------------------------------


def test_initiation_tlvs() -> None:
    msg = build_initiation(
        "FRRouting 8.4.4",
        "spk-frr",
        strings=("a", "b"),
        tlvs=[(3, "vrf-blue"), (4, "admin"), (200, b"\x00\x01")],
    )
    out = decode(msg)
    assert isinstance(out, Initiation)
    assert [(t.type, t.value) for t in out.information] == [
        (1, b"FRRouting 8.4.4"),
        (2, b"spk-frr"),
        (0, b"a"),
        (0, b"b"),
        (3, b"vrf-blue"),
        (4, b"admin"),
        (200, b"\x00\x01"),
    ]
    assert out.info() == {
        "sys_descr": "FRRouting 8.4.4",
        "sys_name": "spk-frr",
        "string": ["a", "b"],
        "vrf_table_name": "vrf-blue",
        "admin_label": "admin",
        "type_200": "\x00\x01",
    }


def test_initiation_empty_and_truncated_tlv() -> None:
    assert decode(build_message(4, b"")) == Initiation(())
    body = build_tlv(2, "rtr") + b"\x00\x01\x00\x09abc"
    with pytest.raises(TruncatedError) as exc:
        decode(build_message(4, body))
    assert exc.value.offset == 6 + 7
    assert exc.value.action is Action.SKIP_MESSAGE
    with pytest.raises(TruncatedError) as exc2:
        decode(build_message(4, b"\x00\x01\x00"))
    assert exc2.value.offset == 6


@pytest.mark.parametrize(
    ("reason", "name"),
    [
        (0, "administratively_closed"),
        (1, "unspecified"),
        (2, "out_of_resources"),
        (3, "redundant_connection"),
        (4, "permanently_administratively_closed"),
        (77, "reason_77"),
    ],
)
def test_termination_reason(reason: int, name: str) -> None:
    out = decode(build_termination(reason, strings=("bye",)))
    assert isinstance(out, Termination)
    assert out.reason == reason
    assert out.reason_name == name
    assert out.info() == {"string": "bye"}


def test_termination_without_reason_and_bad_reason() -> None:
    out = decode(build_termination(None, strings=("x",)))
    assert out == Termination(information=out.information, reason=None)
    assert out.reason_name is None
    with pytest.raises(MalformedError) as exc:
        decode(build_message(5, build_tlv(1, b"\x00")))
    assert exc.value.offset == 6


# -- Peer Up ----------------------------------------------------------------------


def test_peer_up_ipv4() -> None:
    sent = build_open(asn=65000, bgp_id="10.0.1.1")
    received = build_open(
        asn=4200000001,
        bgp_id="10.0.1.2",
        capabilities=[mp_cap(1, 1), four_octet_as_cap(4200000001), add_path_cap((1, 1, 3))],
    )
    msg = build_peer_up(
        local_address="10.0.1.1",
        local_port=179,
        remote_port=51234,
        sent_open=sent,
        received_open=received,
        information=[(0, "hello")],
        address="10.0.1.2",
        asn=4200000001,
        bgp_id="10.0.1.2",
    )
    out = decode(msg)
    assert isinstance(out, PeerUp)
    assert out.local_address == "10.0.1.1"
    assert (out.local_port, out.remote_port) == (179, 51234)
    assert out.sent_open.asn == 65000
    assert out.sent_open.bgp_id == "10.0.1.1"
    assert out.received_open.asn == 4200000001
    assert out.received_open.my_as == 23456
    assert out.received_open.add_path(1, 1) == 3
    assert out.info() == {"string": "hello"}
    caps = PeerCaps.from_opens(out.sent_open, out.received_open)
    assert caps.four_octet_as is True


def test_peer_up_ipv6_local_address() -> None:
    out = decode(build_peer_up(local_address="fd00:1::1", address="fd00:1::2"))
    assert isinstance(out, PeerUp)
    assert out.peer.flags & FLAG_V
    assert out.peer.address == "fd00:1::2"
    assert out.local_address == "fd00:1::1"
    assert out.information == ()


def test_loc_rib_peer_up_with_table_name() -> None:
    # RFC 9069 §5.2: local address and ports are zero, the VRF/table name TLV is there.
    msg = build_peer_up(
        local_address="0.0.0.0",
        local_port=0,
        remote_port=0,
        information=[(3, "default")],
        peer_type=3,
        address="0.0.0.0",
        asn=65000,
        bgp_id="10.0.1.1",
    )
    out = decode(msg)
    assert isinstance(out, PeerUp)
    assert out.peer.view == "loc_rib"
    assert out.local_address == "0.0.0.0"
    assert (out.local_port, out.remote_port) == (0, 0)
    assert out.info() == {"vrf_table_name": "default"}


def test_peer_up_truncated() -> None:
    full = build_peer_up()
    with pytest.raises(TruncatedError) as exc:
        decode(build_message(3, full[6:-1]))
    # The received OPEN's length runs past the end; the offset points at its length field.
    sent_len = len(build_open(asn=65000, bgp_id="192.0.2.254"))
    assert exc.value.offset == 6 + 42 + 20 + sent_len + 16
    assert exc.value.action is Action.SKIP_MESSAGE
    with pytest.raises(TruncatedError) as exc2:
        decode(build_message(3, build_per_peer_header() + bytes(19)))
    assert exc2.value.offset == 48


# -- Peer Down --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code", "subcode", "code_name", "subcode_name"),
    [
        (1, 6, 2, "cease", "administrative_shutdown"),
        (3, 4, 0, "hold_timer_expired", "unspecific"),
        (3, 6, 4, "cease", "administrative_reset"),
    ],
)
def test_peer_down_with_notification(
    reason: int, code: int, subcode: int, code_name: str, subcode_name: str
) -> None:
    out = decode(build_peer_down(reason, notification=build_notification(code, subcode)))
    assert isinstance(out, PeerDown)
    assert out.reason == reason
    assert out.reason_name == ("local_notification" if reason == 1 else "remote_notification")
    assert out.notification is not None
    assert (out.notification.code, out.notification.subcode) == (code, subcode)
    assert out.notification.code_name == code_name
    assert out.notification.subcode_name == subcode_name
    assert out.fsm_event is None
    assert out.data == b""


def test_peer_down_shutdown_communication() -> None:
    note = build_notification(6, 2, b"\x0bmaintenance")
    out = decode(build_peer_down(1, notification=note))
    assert out.notification.shutdown_message() == "maintenance"


@pytest.mark.parametrize(
    ("event", "name"), [(0, "none"), (10, "hold_timer_expires"), (99, "event_99")]
)
def test_peer_down_fsm_event(event: int, name: str) -> None:
    out = decode(build_peer_down(2, fsm_event=event))
    assert isinstance(out, PeerDown)
    assert out.reason_name == "local_no_notification"
    assert out.fsm_event == event
    assert out.fsm_event_name == name
    assert out.notification is None


@pytest.mark.parametrize(
    ("reason", "data", "name"),
    [
        (4, b"", "remote_no_notification"),
        (5, b"", "peer_deconfigured"),
        (6, build_tlv(3, "blue"), "local_system_closed"),
        (200, b"\xde\xad", "reason_200"),
    ],
)
def test_peer_down_other_reasons(reason: int, data: bytes, name: str) -> None:
    out = decode(build_peer_down(reason, data=data))
    assert isinstance(out, PeerDown)
    assert out.reason == reason
    assert out.reason_name == name
    assert out.data == data
    assert out.notification is None and out.fsm_event is None


def test_peer_down_errors() -> None:
    with pytest.raises(TruncatedError) as exc:
        decode(build_message(2, build_per_peer_header()))
    assert exc.value.offset == 48
    with pytest.raises(TruncatedError) as exc2:
        decode(build_peer_down(2, data=b"\x00"))
    assert exc2.value.offset == 49
    note = build_notification(6, 2)
    with pytest.raises(TruncatedError) as exc3:
        decode(build_peer_down(1, data=note[:-1]))
    assert exc3.value.offset == 49 + 16
    assert exc3.value.action is Action.SKIP_MESSAGE


# -- Statistics Report -------------------------------------------------------------

COUNTERS = {0, 1, 2, 3, 4, 5, 6, 11, 12, 13}
PER_AFI = {9, 10, 16, 17, 19, 21, 22, 23, 24, 25, 26, 27, 28, 30, 32, 34, 35, 36, 37, 38, 40}
PER_AFI |= {41, 42, 43}


def test_registry_is_complete() -> None:
    assert sorted(STAT_TYPES) == list(range(44))
    assert {c for c, t in STAT_TYPES.items() if t.size == 4} == COUNTERS
    assert {c for c, t in STAT_TYPES.items() if t.per_afi} == PER_AFI
    assert all(t.size == 8 for c, t in STAT_TYPES.items() if c not in COUNTERS)
    assert len({t.name for t in STAT_TYPES.values()}) == 44
    assert stat_name(0) == "rejected_prefixes"
    assert stat_name(7) == "adj_rib_in_routes"
    assert stat_name(8) == "loc_rib_routes"
    assert stat_name(9) == "adj_rib_in_routes_per_afi"
    assert stat_name(65531) == "experimental_65531"
    assert stat_name(44) == "type_44"
    assert [STAT_TYPES[c].reference for c in (13, 14, 17, 18, 43)] == [
        "RFC 7854",
        "RFC 8671",
        "RFC 8671",
        "RFC 9972",
        "RFC 9972",
    ]


@pytest.mark.parametrize("code", range(44))
def test_every_registered_stat_type(code: int) -> None:
    reg = STAT_TYPES[code]
    value = 4_000_000_000 + code if reg.size == 4 else 2**40 + code
    if reg.per_afi:
        entry = StatEntry(code, value, afi=2, safi=1)
        wire_len = 11
    else:
        entry = StatEntry(code, value)
        wire_len = reg.size
    msg = build_stats([entry], address="10.0.1.2")
    assert len(msg) == 6 + 42 + 4 + 4 + wire_len
    out = decode(msg)
    assert isinstance(out, StatisticsReport)
    assert out.peer.address == "10.0.1.2"
    assert out.stats == (entry,)
    assert out.stats[0].raw == b""


def test_unknown_and_misfit_stats_keep_raw() -> None:
    ctx = DecodeContext()
    entries = [
        StatEntry(100, None, raw=b"\x01\x02\x03"),  # unregistered
        StatEntry(7, None, raw=b"\x00\x00\x00\x05"),  # gauge sent as 4 bytes
        StatEntry(9, None, raw=bytes(8)),  # per-AFI without AFI/SAFI
        StatEntry(0, None, raw=b""),  # counter with no data
        StatEntry(65531, 42, raw=b"\x00\x00\x00\x2a"),  # FRR experimental, 4 bytes
        StatEntry(65534, 2**33, raw=(2**33).to_bytes(8, "big")),  # experimental, 8 bytes
        StatEntry(65532, None, raw=b"\x01\x02\x03"),  # experimental, odd length
    ]
    out = decode(build_stats(entries), ctx)
    assert out.stats == (
        StatEntry(100, None, raw=b"\x01\x02\x03"),
        StatEntry(7, None, raw=b"\x00\x00\x00\x05"),
        StatEntry(9, None, raw=bytes(8)),
        StatEntry(0, None, raw=b""),
        StatEntry(65531, 42),
        StatEntry(65534, 2**33),
        StatEntry(65532, None, raw=b"\x01\x02\x03"),
    )
    assert not ctx.quirks


def test_stats_count_mismatch_and_truncation() -> None:
    ctx = DecodeContext()
    out = decode(build_stats([StatEntry(0, 1), StatEntry(2, 3)], count=5), ctx)
    assert [s.value for s in out.stats] == [1, 3]
    assert ctx.quirks["stats_count_mismatch"] == 1
    assert decode(build_stats([], count=0)).stats == ()
    msg = build_stats([StatEntry(0, 1)])
    with pytest.raises(TruncatedError) as exc:
        decode(build_message(1, msg[6:-1]))
    assert exc.value.offset == 52
    with pytest.raises(TruncatedError) as exc2:
        decode(build_message(1, build_per_peer_header() + b"\x00\x00"))
    assert exc2.value.offset == 48


# -- Route Monitoring ---------------------------------------------------------------


def test_route_monitoring_four_byte_path() -> None:
    ctx = DecodeContext()
    out = decode(build_route_monitoring(UPDATE_4BYTE, address="10.0.1.2", flags=FLAG_L), ctx)
    assert isinstance(out, RouteMonitoring)
    assert out.peer.view == "adj_in_post"
    u = out.update
    assert u.announced_count() == 1
    assert u.announced[0].describe() == ["198.51.100.0/24"]
    assert u.attributes is not None
    assert [s.asns for s in u.attributes.as_path or ()] == [(65001, 4200000001)]
    assert u.attributes.next_hop == "192.0.2.1"
    assert ctx.quirks["route_monitoring_without_peer_up"] == 1


def test_route_monitoring_a_flag_means_two_byte_path() -> None:
    update = build_update(attributes=ATTRS_2BYTE, nlri=ipv4_prefix("198.51.100.0/24"))
    out = decode(build_route_monitoring(update, flags=FLAG_A))
    assert out.peer.legacy_as_path is True
    assert [s.asns for s in out.update.attributes.as_path] == [(65001, 23456)]


def test_route_monitoring_after_peer_up_is_not_a_quirk() -> None:
    ctx = DecodeContext()
    up = decode(build_peer_up(address="10.0.1.2"), ctx)
    ctx.peer_up(up.peer.key, PeerCaps.from_opens(up.sent_open, up.received_open))
    out = decode(build_route_monitoring(UPDATE_4BYTE, address="10.0.1.2"), ctx)
    assert out.update.announced_count() == 1
    assert "route_monitoring_without_peer_up" not in ctx.quirks


def test_route_monitoring_end_of_rib() -> None:
    out = decode(build_route_monitoring(build_update()))
    assert out.update.end_of_rib == (1, 1)
    assert out.update.announced == () and out.update.withdrawn == ()


def test_a_byte_after_the_update_keeps_the_route() -> None:
    ctx = DecodeContext()
    out = decode(build_route_monitoring(UPDATE_4BYTE + b"\x00"), ctx)
    assert isinstance(out, RouteMonitoring)
    assert len(out.update.announced[0].prefixes) == 1
    assert out.tlvs == (BmpTlv(TLV_TRAILING_BYTES, b"\x00"),) and out.trailing == b"\x00"
    assert ctx.quirks["trailing_bytes"] == 1


def test_route_monitoring_errors() -> None:
    with pytest.raises(TruncatedError) as exc2:
        decode(build_message(0, build_per_peer_header() + UPDATE_4BYTE[:-1]))
    assert exc2.value.offset == 48 + 16
    with pytest.raises(TruncatedError) as exc3:
        decode(build_message(0, build_per_peer_header() + UPDATE_4BYTE[:10]))
    assert exc3.value.offset == 48
    for err in (exc2, exc3):
        assert err.value.action is Action.SKIP_MESSAGE


def test_route_monitoring_treat_as_withdraw_is_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    from parsers.bgp import decode as bgp_spec

    partial = Update()

    def broken(data: bytes, **kw: object) -> Update:
        raise MalformedError(
            "bad origin", offset=23, action=Action.TREAT_AS_WITHDRAW, partial=partial
        )

    monkeypatch.setattr(bgp_spec, "decode_update", broken)
    with pytest.raises(MalformedError) as exc:
        decode(build_route_monitoring(UPDATE_4BYTE, address="10.0.1.2"))
    assert exc.value.action is Action.TREAT_AS_WITHDRAW
    assert exc.value.offset == 48 + 23
    assert isinstance(exc.value.partial, RouteMonitoring)
    assert exc.value.partial.update is partial
    assert exc.value.partial.peer.address == "10.0.1.2"


def test_route_monitoring_invalid_origin_treat_as_withdraw() -> None:
    # RFC 7606 §7.1: an undefined ORIGIN value -> treat-as-withdraw.
    attrs = bytes([0x40, 1, 1, 7]) + ATTRS_4BYTE[4:]
    update = build_update(attributes=attrs, nlri=ipv4_prefix("198.51.100.0/24"))
    with pytest.raises(ParseError) as exc:
        decode(build_route_monitoring(update, address="10.0.1.2"))
    assert exc.value.action is Action.TREAT_AS_WITHDRAW
    rm = exc.value.partial
    assert isinstance(rm, RouteMonitoring)
    assert rm.peer.address == "10.0.1.2"
    assert rm.update.announced_count() == 0
    assert rm.update.withdrawn_count() == 1


# -- Route Mirroring -------------------------------------------------------------


def test_route_mirroring_tlvs() -> None:
    keepalive = build_keepalive()
    garbage = b"\x00" * 19
    msg = build_mirroring(
        [
            MirrorTlv(0, raw=keepalive),
            MirrorTlv(0, raw=garbage),
            MirrorTlv(1, code=0),
            MirrorTlv(1, code=1),
            MirrorTlv(9, raw=b"xyz"),
        ],
        address="10.0.1.2",
    )
    out = decode(msg)
    assert isinstance(out, RouteMirroring)
    assert out.peer.address == "10.0.1.2"
    e = out.entries
    assert len(e) == 5
    assert e[0] == MirrorTlv(0, message=Keepalive(), raw=keepalive)
    assert e[1] == MirrorTlv(0, message=None, raw=garbage)
    assert (e[2].code, e[2].code_name) == (0, "errored_pdu")
    assert (e[3].code, e[3].code_name) == (1, "messages_lost")
    assert e[4] == MirrorTlv(9, raw=b"xyz")


def test_route_mirroring_errored_update_and_bad_code() -> None:
    update = build_update(attributes=ATTRS_4BYTE, nlri=ipv4_prefix("198.51.100.0/24"))
    out = decode(build_mirroring([MirrorTlv(0, raw=update)]))
    assert isinstance(out.entries[0].message, Update)
    assert out.entries[0].message.announced_count() == 1
    with pytest.raises(MalformedError) as exc:
        decode(build_message(6, build_per_peer_header() + build_tlv(1, b"\x00")))
    assert exc.value.offset == 48


# -- robustness --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(msg_type=st.integers(0, 8), body=st.binary(max_size=200))
def test_arbitrary_body_after_valid_header(msg_type: int, body: bytes) -> None:
    msg = build_message(msg_type, body)
    try:
        decode(msg)
    except ParseError as err:
        assert err.offset is not None
        assert 0 <= err.offset <= len(msg)


@settings(max_examples=300, deadline=None)
@given(msg_type=st.sampled_from([0, 1, 2, 3, 6]), body=st.binary(max_size=200))
def test_arbitrary_body_after_valid_per_peer_header(msg_type: int, body: bytes) -> None:
    msg = build_message(msg_type, build_per_peer_header() + body)
    try:
        decode(msg)
    except ParseError as err:
        assert err.offset is not None
        assert 0 <= err.offset <= len(msg)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_valid_messages(data: st.DataObject) -> None:
    msgs = [
        build_peer_up(),
        build_peer_down(1, notification=build_notification(6, 2)),
        build_stats([StatEntry(9, 5, afi=1, safi=1), StatEntry(0, 1)]),
        build_route_monitoring(UPDATE_4BYTE),
        build_mirroring([MirrorTlv(0, raw=UPDATE_4BYTE), MirrorTlv(1, code=1)]),
        build_termination(0, strings=("x",)),
    ]
    msg = bytearray(data.draw(st.sampled_from(msgs)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(6, len(msg) - 1))
        msg[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ParseError):
        decode(bytes(msg))


# -- golden captures ---------------------------------------------------------------

TYPE_NAMES = ["rm", "stats", "down", "up", "init", "term", "mirror"]
# From the captures README table: Init, PeerUp, RM, Stats, PeerDown, Term.
EXPECTED_COUNTS = {
    "bird-addpath-latesink": (1, 0, 0, 0, 0, 1),
    "bird-addpath": (1, 2, 43, 0, 0, 1),
    "bird-basic": (1, 4, 260, 0, 2, 1),
    "frr-addpath": (1, 2, 30, 10, 1, 0),
    "frr-basic-nosoftreconf": (1, 4, 238, 26, 7, 0),
    "frr-basic": (1, 4, 238, 26, 7, 0),
    "frr-mistakes": (1, 1, 404, 5, 5, 0),
    "gobgp-addpath": (1, 2, 61, 4, 0, 0),
    "gobgp-basic": (1, 4, 374, 6, 2, 0),
}


def decode_capture(name: str) -> tuple[list[object], DecodeContext, list[ParseError]]:
    reader = BmpReader()
    reader.feed((CAPTURES / f"{name}.bmp").read_bytes())
    ctx = DecodeContext()
    out: list[object] = []
    errors: list[ParseError] = []
    for _, msg in reader.messages():
        try:
            m = spec.decode_bmp_message(msg, ctx)
        except ParseError as err:
            errors.append(err)
            continue
        if isinstance(m, PeerUp):
            caps = PeerCaps.from_opens(m.sent_open, m.received_open, loc_rib=m.peer.is_loc_rib)
            ctx.peer_up(m.peer.key, caps)
        elif isinstance(m, PeerDown):
            ctx.peer_down(m.peer.key)
        out.append(m)
    assert reader.buffered == 0
    return out, ctx, errors


_CACHE: dict[str, tuple[list[object], DecodeContext, list[ParseError]]] = {}


def capture(name: str) -> tuple[list[object], DecodeContext, list[ParseError]]:
    if name not in _CACHE:
        _CACHE[name] = decode_capture(name)
    return _CACHE[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_capture_decodes_with_exact_counts(name: str) -> None:
    msgs, _, errors = capture(name)
    assert errors == []
    kinds = collections.Counter(type(m).__name__ for m in msgs)
    got = (
        kinds["Initiation"],
        kinds["PeerUp"],
        kinds["RouteMonitoring"],
        kinds["StatisticsReport"],
        kinds["PeerDown"],
        kinds["Termination"],
    )
    assert got == EXPECTED_COUNTS[name]
    assert sum(kinds.values()) == sum(EXPECTED_COUNTS[name])


@pytest.mark.parametrize(
    ("name", "descr", "sys_name"),
    [
        ("frr-basic", "FRRouting 8.4.4", "spk-frr"),
        ("gobgp-basic", "3.10.0", "GoBGP"),
        ("bird-basic", "Not defined", "Not defined"),
    ],
)
def test_capture_initiation(name: str, descr: str, sys_name: str) -> None:
    msgs, _, _ = capture(name)
    init = msgs[0]
    assert isinstance(init, Initiation)
    assert init.info() == {"sys_descr": descr, "sys_name": sys_name}


def test_gobgp_initiation_sends_sys_name_first() -> None:
    init = capture("gobgp-basic")[0][0]
    assert [t.type for t in init.information] == [2, 1]


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("frr-basic", {0, 2, 3, 4, 5, 11, 65531}),
        ("frr-addpath", {0, 2, 3, 4, 5, 11, 65531}),
        ("gobgp-basic", {7, 8, 11, 12}),
        ("gobgp-addpath", {7, 8, 11, 12}),
    ],
)
def test_capture_stats_types(name: str, types: set[int]) -> None:
    msgs, _, _ = capture(name)
    reports = [m for m in msgs if isinstance(m, StatisticsReport)]
    assert reports
    for r in reports:
        assert {s.type for s in r.stats} == types
        # Every value decodes: FRR's 65531 is 4 bytes, GoBGP's 7/8 are 8-byte gauges.
        assert all(s.value is not None and s.raw == b"" for s in r.stats)


def test_frr_rejected_prefixes_counts_the_import_policy() -> None:
    msgs, _, _ = capture("frr-basic")
    series: dict[str, list[int | None]] = collections.defaultdict(list)
    for m in msgs:
        if isinstance(m, StatisticsReport):
            values = {stat_name(s.type): s.value for s in m.stats}
            if (
                not series[m.peer.address]
                or series[m.peer.address][-1] != values["rejected_prefixes"]
            ):
                series[m.peer.address].append(values["rejected_prefixes"])
    # Peer A sends the two filtered prefixes (one per family), and again after
    # its restart: FRR's counter is cumulative. Peer B sends none.
    assert series == {"10.0.1.2": [0, 2, 4], "fd00:1::2": [0]}


def test_frr_peer_down_for_never_up_peer() -> None:
    msgs, _, _ = capture("frr-basic")
    downs = [m for m in msgs if isinstance(m, PeerDown) and m.peer.address == "10.0.1.99"]
    assert len(downs) == 1
    d = downs[0]
    assert d.reason == 2
    assert d.fsm_event == 0
    assert d.fsm_event_name == "none"
    assert d.peer.bgp_id == "0.0.0.0"
    assert d.peer.asn == 65099
    reasons = collections.Counter((m.reason, m.fsm_event) for m in msgs if isinstance(m, PeerDown))
    assert reasons == {(2, 0): 5, (4, None): 2}


def test_bird_termination_reason() -> None:
    msgs, _, _ = capture("bird-basic")
    term = msgs[-1]
    assert isinstance(term, Termination)
    assert term.reason == 0
    assert term.reason_name == "administratively_closed"


def test_gobgp_loc_rib_without_peer_up() -> None:
    msgs, ctx, _ = capture("gobgp-basic")
    loc = [m for m in msgs if isinstance(m, RouteMonitoring) and m.peer.is_loc_rib]
    assert len(loc) == 147
    assert {m.peer.address for m in loc} == {"0.0.0.0"}
    assert all(not m.peer.filtered for m in loc)
    assert not any(isinstance(m, PeerUp) and m.peer.is_loc_rib for m in msgs)
    assert ctx.quirks["route_monitoring_without_peer_up"] == 147


def test_gobgp_post_policy_eor_has_a_flag() -> None:
    msgs, _, _ = capture("gobgp-addpath")
    eors = [
        (m.peer.address, m.peer.view, m.peer.legacy_as_path, m.update.end_of_rib)
        for m in msgs
        if isinstance(m, RouteMonitoring) and m.update.end_of_rib is not None
    ]
    assert eors == [
        ("fd00:1::2", "adj_in_pre", False, (1, 1)),
        ("fd00:1::2", "adj_in_pre", False, (2, 1)),
        ("10.0.1.2", "adj_in_pre", False, (1, 1)),
        ("10.0.1.2", "adj_in_pre", False, (2, 1)),
        ("10.0.1.2", "adj_in_post", True, (1, 1)),
        ("10.0.1.2", "adj_in_post", True, (2, 1)),
    ]


def test_peer_up_opens_in_captures() -> None:
    msgs, _, _ = capture("frr-basic")
    ups = [m for m in msgs if isinstance(m, PeerUp)]
    assert sorted({u.peer.address for u in ups}) == ["10.0.1.2", "fd00:1::2"]
    for u in ups:
        assert u.sent_open.asn == 65000
        assert u.sent_open.bgp_id == "10.0.1.1"
        assert u.received_open.asn == (65001 if u.peer.address == "10.0.1.2" else 65002)
        assert u.remote_port == 179 or u.local_port == 179
        assert u.information == ()


def _path_id_summary(name: str) -> dict[tuple[object, ...], int]:
    msgs, _, _ = capture(name)
    out: collections.Counter[tuple[object, ...]] = collections.Counter()
    for m in msgs:
        if isinstance(m, RouteMonitoring):
            for s in m.update.announced + m.update.withdrawn:
                out[(m.peer.view, s.path_ids is not None)] += len(s.prefixes)
                for pid in s.path_ids or ():
                    out[("id", pid)] += 1
    return dict(out)


def test_add_path_resolver_follows_what_speakers_send() -> None:
    # NOTES "Observed speaker behaviour": BIRD sends its own path IDs 5, 6, 7;
    # GoBGP only in live pre-policy (ExaBGP's 1, 2, 3); FRR 8.4 never.
    assert _path_id_summary("bird-addpath") == {
        ("adj_in_pre", True): 20,
        ("adj_in_post", True): 15,
        ("id", 5): 16,
        ("id", 6): 16,
        ("id", 7): 3,
    }
    assert _path_id_summary("gobgp-addpath") == {
        ("adj_in_pre", False): 16,
        ("adj_in_pre", True): 4,
        ("adj_in_post", False): 16,
        ("loc_rib", False): 19,
        ("id", 1): 1,
        ("id", 2): 1,
        ("id", 3): 2,
    }
    assert _path_id_summary("frr-addpath") == {
        ("adj_in_pre", False): 12,
        ("adj_in_post", False): 10,
    }
    assert capture("frr-addpath")[1].quirks == {"add_path_absent": 4}
    assert capture("gobgp-addpath")[1].quirks == {
        "route_monitoring_without_peer_up": 19,
        "add_path_absent": 4,
        "add_path_present": 2,
    }
