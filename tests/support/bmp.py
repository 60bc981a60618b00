"""Build BMP messages (and the few BGP messages they carry) for tests.

Every builder uses the construct structures of ``parsers.bmp.decode``, so what
is built is exactly what the decoder parses. Per-peer header fields are
keyword arguments shared by every per-peer builder::

    build_route_monitoring(update_bytes, address="10.0.0.2", asn=65001, flags=FLAG_L)

A peer address that is IPv6 sets the V flag automatically (except for
Loc-RIB, peer type 3, whose flags mean something else); pass ``peer=`` with
the 42 bytes of ``build_per_peer_header`` to control every bit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from parsers.bgp.attributes import AS_TRANS
from parsers.bmp import decode as spec
from parsers.bmp import wire as bmp_wire
from parsers.bmp.messages import (
    FLAG_V,
    RM_TLV_BGP_PDU,
    RM_TLV_GROUP,
    RM_TLV_PATH_MARKING,
    MessageType,
    MirrorTlv,
    StatEntry,
)

from . import bgp

__all__ = [
    "add_path_cap",
    "as_v4",
    "build_bgp_message",
    "build_indexed_tlv",
    "build_initiation",
    "build_keepalive",
    "build_message",
    "build_mirroring",
    "build_notification",
    "build_open",
    "build_peer_down",
    "build_peer_up",
    "build_per_peer_header",
    "build_route_monitoring",
    "build_route_monitoring_v4",
    "build_stats",
    "build_termination",
    "build_tlv",
    "build_update",
    "capability",
    "four_octet_as_cap",
    "group_tlv",
    "ipv4_prefix",
    "mp_cap",
    "path_marking_tlv",
]

Tlvs = Iterable[tuple[int, bytes | str]]


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def build_message(msg_type: int, body: bytes, *, version: int = 3) -> bytes:
    """A whole BMP message: common header (length computed) + ``body``."""
    return bytes(bmp_wire.BMP_MESSAGE.build({"version": version, "type": msg_type, "body": body}))


def build_tlv(tlv_type: int, value: bytes | str) -> bytes:
    return bytes(bmp_wire.TLV.build({"type": tlv_type, "value": _b(value)}))


def build_indexed_tlv(
    tlv_type: int, value: bytes | str, *, index: int = 0, pen: int | None = None
) -> bytes:
    """A draft-ietf-grow-bmp-tlv Route Monitoring TLV: type (E bit when
    ``pen`` is given), length, [PEN,] index, value."""
    t = tlv_type | (0x8000 if pen is not None else 0)
    return bytes(
        bmp_wire.INDEXED_TLV.build({"type": t, "pen": pen, "index": index, "value": _b(value)})
    )


def path_marking_tlv(status: int, reason: int | None = None, *, index: int = 0) -> bytes:
    """draft-ietf-grow-bmp-path-marking-tlv: status bits [+ reason code], indexed."""
    if reason is None:
        value = bmp_wire.PATH_MARKING_STATUS.build(status)
    else:
        value = bmp_wire.PATH_MARKING.build({"status": status, "reason": reason})
    return build_indexed_tlv(RM_TLV_PATH_MARKING, value, index=index)


def group_tlv(group: int, members: Sequence[int]) -> bytes:
    """A Group TLV: index ``group`` with the G bit, value the NLRI indexes."""
    value = b"".join(bmp_wire.GROUP_MEMBER.build(m) for m in members)
    return build_indexed_tlv(RM_TLV_GROUP, value, index=0x8000 | group)


def _tlvs(tlvs: Tlvs) -> bytes:
    return b"".join(build_tlv(t, v) for t, v in tlvs)


def address_field(address: str) -> bytes:
    """16-byte BMP address field: IPv6, or IPv4 in the last 4 bytes."""
    ip = ipaddress.ip_address(address)
    return ip.packed if ip.version == 6 else bytes(12) + ip.packed


def build_per_peer_header(
    *,
    peer_type: int = 0,
    flags: int = 0,
    distinguisher: bytes = bytes(8),
    address: str = "192.0.2.1",
    asn: int = 65001,
    bgp_id: str = "192.0.2.1",
    timestamp_sec: int = 0,
    timestamp_usec: int = 0,
) -> bytes:
    if ipaddress.ip_address(address).version == 6 and peer_type != 3:
        flags |= FLAG_V
    return bytes(
        bmp_wire.PER_PEER_HEADER.build(
            {
                "peer_type": peer_type,
                "flags": flags,
                "distinguisher": distinguisher,
                "address": address_field(address),
                "asn": asn,
                "bgp_id": ipaddress.IPv4Address(bgp_id).packed,
                "timestamp_sec": timestamp_sec,
                "timestamp_usec": timestamp_usec,
            }
        )
    )


def _peer(peer: bytes | None, fields: dict[str, object]) -> bytes:
    if peer is not None:
        return peer
    return build_per_peer_header(**fields)  # type: ignore[arg-type]


# -- BGP messages -----------------------------------------------------------


# The BGP messages a BMP message carries are built by ``support.bgp``; these
# names stay for the BMP tests that use them.
build_bgp_message = bgp.build_message
capability = bgp.capability
build_notification = bgp.build_notification
build_keepalive = bgp.build_keepalive
ipv4_prefix = bgp.prefix_key


def mp_cap(afi: int, safi: int) -> bytes:
    return bgp.cap_mp(afi, safi)


def four_octet_as_cap(asn: int) -> bytes:
    return bgp.cap_four_octet_as(asn)


def add_path_cap(*families: tuple[int, int, int]) -> bytes:
    """ADD-PATH capability: (afi, safi, send/receive) per family."""
    return bgp.cap_add_path(families)


def build_open(
    *,
    asn: int = 65001,
    hold_time: int = 90,
    bgp_id: str = "192.0.2.1",
    capabilities: Sequence[bytes] | None = None,
) -> bytes:
    """An OPEN with the capabilities in one optional parameter (type 2).

    By default: IPv4 and IPv6 unicast and the 4-octet AS capability.
    """
    if capabilities is None:
        capabilities = (mp_cap(1, 1), mp_cap(2, 1), four_octet_as_cap(asn))
    my_as = asn if asn < 65536 else AS_TRANS
    return bgp.build_open(
        my_as=my_as, hold_time=hold_time, bgp_id=bgp_id, capabilities=capabilities
    )


def build_update(*, withdrawn: bytes = b"", attributes: bytes = b"", nlri: bytes = b"") -> bytes:
    """An UPDATE from raw withdrawn-routes, path-attribute and NLRI bytes."""
    return bgp.build_update(withdrawn=withdrawn, attributes=attributes, nlri=nlri)


# -- BMP messages -----------------------------------------------------------


def build_initiation(
    sys_descr: str | None = "test router",
    sys_name: str | None = "rtr1",
    *,
    strings: Sequence[str] = (),
    tlvs: Tlvs = (),
) -> bytes:
    """Initiation: sysDescr (1), sysName (2), String TLVs (0), then ``tlvs``."""
    items: list[tuple[int, bytes | str]] = []
    if sys_descr is not None:
        items.append((1, sys_descr))
    if sys_name is not None:
        items.append((2, sys_name))
    items.extend((0, s) for s in strings)
    items.extend(tlvs)
    return build_message(MessageType.INITIATION, _tlvs(items))


def build_termination(
    reason: int | None = 0, *, strings: Sequence[str] = (), tlvs: Tlvs = ()
) -> bytes:
    """Termination: String TLVs (0), the reason TLV (1) unless None, then ``tlvs``."""
    items: list[tuple[int, bytes | str]] = [(0, s) for s in strings]
    if reason is not None:
        items.append((1, bmp_wire.TERMINATION_REASON_CODE.build(reason)))
    items.extend(tlvs)
    return build_message(MessageType.TERMINATION, _tlvs(items))


def build_peer_up(
    *,
    local_address: str = "192.0.2.254",
    local_port: int = 179,
    remote_port: int = 40000,
    sent_open: bytes | None = None,
    received_open: bytes | None = None,
    information: Tlvs = (),
    version: int = 3,
    peer: bytes | None = None,
    **peer_fields: object,
) -> bytes:
    """Peer Up; the OPENs default to ``build_open`` for AS 65000 (sent) and the peer's AS."""
    if sent_open is None:
        sent_open = build_open(asn=65000, bgp_id="192.0.2.254")
    if received_open is None:
        asn = peer_fields.get("asn", 65001)
        assert isinstance(asn, int)
        received_open = build_open(asn=asn)
    fixed = bmp_wire.PEER_UP_FIXED.build(
        {
            "local_address": address_field(local_address),
            "local_port": local_port,
            "remote_port": remote_port,
        }
    )
    body = _peer(peer, peer_fields) + fixed + sent_open + received_open + _tlvs(information)
    return build_message(MessageType.PEER_UP, body, version=version)


def build_peer_down(
    reason: int,
    *,
    notification: bytes | None = None,
    fsm_event: int | None = None,
    data: bytes = b"",
    tlvs: Tlvs = (),
    version: int = 3,
    peer: bytes | None = None,
    **peer_fields: object,
) -> bytes:
    """Peer Down: reason, then the NOTIFICATION (1, 3), FSM event (2), ``data``
    and ``tlvs`` (reason 6 of RFC 9069, or v4)."""
    body = _peer(peer, peer_fields) + bmp_wire.PEER_DOWN_REASON.build(reason)
    if notification is not None:
        body += notification
    if fsm_event is not None:
        body += bmp_wire.FSM_EVENT.build(fsm_event)
    return build_message(MessageType.PEER_DOWN, body + data + _tlvs(tlvs), version=version)


def build_route_monitoring(
    update: bytes, *, trailing: bytes = b"", peer: bytes | None = None, **peer_fields: object
) -> bytes:
    """Route Monitoring: per-peer header + one whole BGP UPDATE message, then
    ``trailing`` (the TLVs some routers append in v3: ``build_indexed_tlv``)."""
    return build_message(MessageType.ROUTE_MONITORING, _peer(peer, peer_fields) + update + trailing)


def build_route_monitoring_v4(
    update: bytes,
    *,
    before: Sequence[bytes] = (),
    after: Sequence[bytes] = (),
    pdu_index: int = 0,
    peer: bytes | None = None,
    **peer_fields: object,
) -> bytes:
    """BMP v4 Route Monitoring (draft-ietf-grow-bmp-tlv): per-peer header,
    then indexed TLVs: ``before``, the BGP PDU TLV carrying ``update``, ``after``."""
    pdu = build_indexed_tlv(RM_TLV_BGP_PDU, update, index=pdu_index)
    body = _peer(peer, peer_fields) + b"".join(before) + pdu + b"".join(after)
    return build_message(MessageType.ROUTE_MONITORING, body, version=4)


def as_v4(message: bytes) -> bytes:
    """The same message with common header version 4 (Peer Up, Initiation,
    Stats, Termination: their v4 layout is v3's)."""
    return b"\x04" + message[1:]


def build_stats(
    entries: Sequence[StatEntry],
    *,
    count: int | None = None,
    peer: bytes | None = None,
    **peer_fields: object,
) -> bytes:
    """Statistics Report; each entry encoded by the registry (``raw`` when value is None)."""
    n = len(entries) if count is None else count
    body = bmp_wire.STATS_COUNT.build(n) + b"".join(spec.encode_stat(e) for e in entries)
    return build_message(MessageType.STATISTICS_REPORT, _peer(peer, peer_fields) + body)


def build_mirroring(
    entries: Sequence[MirrorTlv], *, peer: bytes | None = None, **peer_fields: object
) -> bytes:
    """Route Mirroring: type 1 entries from ``code``, all others from ``raw``."""
    tlvs: list[tuple[int, bytes | str]] = []
    for e in entries:
        if e.type == 1 and e.code is not None:
            tlvs.append((1, bmp_wire.MIRROR_INFORMATION_CODE.build(e.code)))
        else:
            tlvs.append((e.type, e.raw))
    return build_message(MessageType.ROUTE_MIRRORING, _peer(peer, peer_fields) + _tlvs(tlvs))
