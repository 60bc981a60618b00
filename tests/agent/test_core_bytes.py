"""Hand-built BMP bytes through BmpSession into the core (ADD-PATH, RFC 7606)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from test_core_support import make_core

from parsers.bmp.session import BmpSession
from parsers.errors import ParseError

PEER = "10.0.1.2"


def common(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!BIB", 3, 6 + len(body), msg_type) + body


def per_peer(address: str = PEER, asn: int = 65001, flags: int = 0) -> bytes:
    addr = bytes(12) + ipaddress.IPv4Address(address).packed
    bgp_id = ipaddress.IPv4Address(address).packed
    return struct.pack("!BB8s16sI4sII", 0, flags, bytes(8), addr, asn, bgp_id, 0, 0)


def bgp(msg_type: int, body: bytes) -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), msg_type) + body


def open_msg(asn: int, bgp_id: str, add_path: bool) -> bytes:
    caps = bytes([65, 4]) + asn.to_bytes(4, "big") + bytes([1, 4, 0, 1, 0, 1])
    if add_path:
        caps += bytes([69, 4, 0, 1, 1, 3])  # IPv4 unicast, send+receive
    params = bytes([2, len(caps)]) + caps
    body = struct.pack("!BHH4sB", 4, 23456, 90, ipaddress.IPv4Address(bgp_id).packed, len(params))
    return bgp(1, body + params)


def initiation() -> bytes:
    return common(4, struct.pack("!HH", 2, 4) + b"spk1" + struct.pack("!HH", 1, 3) + b"FRR")


def peer_up(add_path: bool) -> bytes:
    local = bytes(12) + ipaddress.IPv4Address("10.0.1.1").packed
    body = per_peer() + local + struct.pack("!HH", 179, 40000)
    body += open_msg(65000, "10.0.1.1", add_path) + open_msg(65001, PEER, add_path)
    return common(3, body)


def prefix(text: str, path_id: int | None = None) -> bytes:
    net = ipaddress.IPv4Network(text)
    n = net.prefixlen
    raw = bytes([n]) + net.network_address.packed[: (n + 7) // 8]
    return raw if path_id is None else path_id.to_bytes(4, "big") + raw


def attrs(origin: int = 0, med: int = 10) -> bytes:
    as_path = bytes([2, 1]) + (65001).to_bytes(4, "big")
    return (
        bytes([0x40, 1, 1, origin])
        + bytes([0x40, 2, len(as_path)])
        + as_path
        + bytes([0x40, 3, 4])
        + ipaddress.IPv4Address(PEER).packed
        + bytes([0x80, 4, 4])
        + med.to_bytes(4, "big")
    )


def route_monitoring(nlri: bytes = b"", withdrawn: bytes = b"", attributes: bytes = b"") -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn
    body += struct.pack("!H", len(attributes)) + attributes + nlri
    return common(0, per_peer() + bgp(2, body))


def test_add_path_and_treat_as_withdraw_through_the_decoder() -> None:
    core, _ = make_core()
    rs = core.open_session("10.0.9.1", 1)
    session = BmpSession()
    stream = initiation() + peer_up(add_path=True)
    stream += route_monitoring(
        prefix("192.0.2.0/27", 1) + prefix("192.0.2.0/27", 2) + prefix("192.0.2.32/27", 1),
        attributes=attrs(),
    )
    stream += route_monitoring(withdrawn=prefix("192.0.2.0/27", 1))
    # ORIGIN 7 is invalid: RFC 7606 treat-as-withdraw for 192.0.2.32/27 (path 1)
    stream += route_monitoring(prefix("192.0.2.32/27", 1), attributes=attrs(origin=7))
    for event in session.feed(stream):
        rs.handle(event)
    rs.absorb_quirks(session.ctx.quirks)
    r = rs.router
    assert (r.sys_name, r.sys_descr) == ("spk1", "FRR")
    (peer,) = r.peers.values()
    t = peer.tables[("adj_in_pre", 1, 1)]
    assert set(t.routes) == {(2, prefix("192.0.2.0/27"))}
    assert (t.route_count, t.prefix_count, t.announces, t.withdraws) == (1, 1, 3, 2)
    assert dict(r.decode_errors) == {"malformed": 1}
    assert r.messages["route_monitoring"] == 3
    assert not r.quirks


def test_framing_error_is_counted() -> None:
    core, _ = make_core()
    rs = core.open_session("10.0.9.1", 1)
    session = BmpSession()
    with pytest.raises(ParseError) as info:
        session.feed(initiation() + b"\x05\x00\x00\x00\x10\x00")  # BMP version 5
    rs.framing_error(info.value)
    assert dict(rs.router.decode_errors) == {"unsupported": 1}
