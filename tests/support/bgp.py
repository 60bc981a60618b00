"""Build BGP messages for tests, with the construct structures of
``parsers.bgp.decode`` (what is built here is what the decoder parses).

Typical use::

    from support.bgp import build_update, origin, as_path, next_hop, nlri

    msg = build_update(
        attributes=[origin(0), as_path([65001, 4200000001]), next_hop("192.0.2.1")],
        nlri=nlri(["10.0.0.0/8", "192.0.2.0/24"]),
    )

Every builder returns ``bytes``. ``build_update`` takes the withdrawn and
NLRI fields as ready bytes (use ``nlri(...)`` / ``labeled_nlri`` /
``vpn_nlri`` / ``evpn_nlri``) and the attributes as a list of attribute
byte strings (use the attribute helpers, or ``attribute(flags, type, value)``
for anything else). ``build_open`` takes capability TLVs built by the
``cap_*`` helpers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from parsers.bgp import wire as bgp_wire
from parsers.bgp.attributes import AttrType
from parsers.bgp.messages import CapabilityCode, MessageType

# ---------------------------------------------------------------- messages


def build_message(msg_type: int, body: bytes) -> bytes:
    """A whole BGP message: marker, length (computed), type, body."""
    return bytes(bgp_wire.Message.build({"type": msg_type, "body": body}))


def build_keepalive() -> bytes:
    return build_message(MessageType.KEEPALIVE, b"")


def build_notification(code: int, subcode: int, data: bytes = b"") -> bytes:
    body = bgp_wire.NotificationBody.build({"code": code, "subcode": subcode, "data": data})
    return build_message(MessageType.NOTIFICATION, bytes(body))


def build_route_refresh(afi: int, safi: int, subtype: int = 0, orf: bytes = b"") -> bytes:
    body = bgp_wire.RouteRefreshBody.build(
        {"afi": afi, "subtype": subtype, "safi": safi, "orf": orf}
    )
    return build_message(MessageType.ROUTE_REFRESH, bytes(body))


# ---------------------------------------------------------------- OPEN


def capability(code: int, value: bytes = b"") -> bytes:
    """One capability TLV (code, length, value)."""
    return bytes(bgp_wire.CapabilityTlv.build({"code": code, "value": value}))


def cap_mp(afi: int, safi: int) -> bytes:
    return capability(
        CapabilityCode.MULTIPROTOCOL,
        bgp_wire.MultiprotocolValue.build({"afi": afi, "reserved": 0, "safi": safi}),
    )


def cap_route_refresh() -> bytes:
    return capability(CapabilityCode.ROUTE_REFRESH)


def cap_enhanced_route_refresh() -> bytes:
    return capability(CapabilityCode.ENHANCED_ROUTE_REFRESH)


def cap_extended_message() -> bytes:
    return capability(CapabilityCode.EXTENDED_MESSAGE)


def cap_extended_next_hop(entries: Iterable[tuple[int, int, int]]) -> bytes:
    value = bgp_wire.ExtendedNextHopValue.build(
        [{"afi": a, "safi": s, "next_hop_afi": n} for a, s, n in entries]
    )
    return capability(CapabilityCode.EXTENDED_NEXT_HOP, value)


def cap_role(role: int) -> bytes:
    return capability(CapabilityCode.ROLE, bgp_wire.RoleValue.build(role))


def cap_graceful_restart(
    flags: int = 0, time: int = 120, families: Iterable[tuple[int, int, int]] = ()
) -> bytes:
    value = bgp_wire.GracefulRestartValue.build(
        {
            "header": {"flags": flags, "time": time},
            "families": [{"afi": a, "safi": s, "flags": f} for a, s, f in families],
        }
    )
    return capability(CapabilityCode.GRACEFUL_RESTART, value)


def cap_four_octet_as(asn: int) -> bytes:
    return capability(CapabilityCode.FOUR_OCTET_AS, bgp_wire.FourOctetAsValue.build(asn))


def cap_add_path(families: Iterable[tuple[int, int, int]]) -> bytes:
    value = bgp_wire.AddPathValue.build(
        [{"afi": a, "safi": s, "send_receive": m} for a, s, m in families]
    )
    return capability(CapabilityCode.ADD_PATH, value)


def cap_llgr(families: Iterable[tuple[int, int, int, int]]) -> bytes:
    value = bgp_wire.LlgrValue.build(
        [{"afi": a, "safi": s, "flags": f, "stale_time": t} for a, s, f, t in families]
    )
    return capability(CapabilityCode.LLGR, value)


def cap_fqdn(hostname: str, domain: str = "") -> bytes:
    value = bgp_wire.FqdnValue.build({"hostname": hostname.encode(), "domain": domain.encode()})
    return capability(CapabilityCode.FQDN, value)


def build_open(
    *,
    my_as: int = 65000,
    hold_time: int = 180,
    bgp_id: str = "192.0.2.1",
    capabilities: Sequence[bytes] = (),
    version: int = 4,
    other_parameters: Sequence[tuple[int, bytes]] = (),
    extended: bool = False,
    one_parameter: bool = True,
) -> bytes:
    """An OPEN. Capabilities go into one optional parameter of type 2
    (``one_parameter``) or one parameter each; ``other_parameters`` follow.
    ``extended`` uses the RFC 9072 encoding (2-byte lengths)."""
    params: list[dict[str, object]] = []
    if capabilities:
        if one_parameter:
            params.append({"type": 2, "value": b"".join(capabilities)})
        else:
            params.extend({"type": 2, "value": c} for c in capabilities)
    params.extend({"type": t, "value": v} for t, v in other_parameters)
    body = bgp_wire.OpenBody.build(
        {
            "version": version,
            "my_as": my_as,
            "hold_time": hold_time,
            "bgp_id": ipaddress.IPv4Address(bgp_id).packed,
            "extended": 0xFFFF if extended else 0,
            "parameters": params,
        }
    )
    return build_message(MessageType.OPEN, bytes(body))


# ---------------------------------------------------------------- NLRI


def prefix_key(text: str) -> bytes:
    """``"192.0.2.0/24"`` -> the wire form ``b"\\x18\\xc0\\x00\\x02"`` (an NLRI key)."""
    net = ipaddress.ip_network(text, strict=False)
    n = net.prefixlen
    return bytes([n]) + net.network_address.packed[: (n + 7) // 8]


def _key(p: str | bytes) -> bytes:
    return p if isinstance(p, bytes) else prefix_key(p)


def nlri(prefixes: Iterable[str | bytes], path_ids: Sequence[int] | None = None) -> bytes:
    """Unicast/multicast NLRI (IPv4 or IPv6), with path IDs if given."""
    keys = [_key(p) for p in prefixes]
    if path_ids is None:
        entries = [{"length": k[0], "prefix": k[1:]} for k in keys]
        return bytes(bgp_wire.nlri_list(1, 1, False).build(entries))
    entries = [
        {"path_id": pid, "length": k[0], "prefix": k[1:]}
        for k, pid in zip(keys, path_ids, strict=True)
    ]
    return bytes(bgp_wire.nlri_list(1, 1, True).build(entries))


def label_entries(labels: Sequence[int], withdraw: bool = False) -> list[int]:
    """20-bit labels -> 3-byte label stack entries, bottom-of-stack on the last.
    ``withdraw`` gives the single RFC 8277 withdraw entry 0x800000."""
    if withdraw:
        return [bgp_wire.LABEL_WITHDRAW]
    return [(lab << 4) | (1 if i == len(labels) - 1 else 0) for i, lab in enumerate(labels)]


def labeled_nlri(
    entries: Iterable[tuple[str | bytes, Sequence[int]]],
    afi: int = 1,
    path_ids: Sequence[int] | None = None,
) -> bytes:
    """SAFI 4 NLRI from (prefix, labels); an empty label list means withdraw label."""
    items = []
    for i, (p, labels) in enumerate(entries):
        k = _key(p)
        stack = label_entries(labels, withdraw=not labels)
        item: dict[str, object] = {
            "length": k[0] + 24 * len(stack),
            "labels": stack,
            "prefix": k[1:],
        }
        if path_ids is not None:
            item["path_id"] = path_ids[i]
        items.append(item)
    return bytes(bgp_wire.nlri_list(afi, 4, path_ids is not None).build(items))


def rd_type0(asn: int, value: int) -> bytes:
    """Route distinguisher type 0 (2-byte ASN : 4-byte value)."""
    return b"\x00\x00" + asn.to_bytes(2, "big") + value.to_bytes(4, "big")


def vpn_nlri(
    entries: Iterable[tuple[bytes, str | bytes, Sequence[int]]],
    afi: int = 1,
    path_ids: Sequence[int] | None = None,
) -> bytes:
    """SAFI 128 NLRI from (rd, prefix, labels)."""
    items = []
    for i, (rd, p, labels) in enumerate(entries):
        k = _key(p)
        stack = label_entries(labels, withdraw=not labels)
        item: dict[str, object] = {
            "length": k[0] + 64 + 24 * len(stack),
            "labels": stack,
            "rd": rd,
            "prefix": k[1:],
        }
        if path_ids is not None:
            item["path_id"] = path_ids[i]
        items.append(item)
    return bytes(bgp_wire.nlri_list(afi, 128, path_ids is not None).build(items))


def evpn_nlri(routes: Iterable[tuple[int, bytes]]) -> bytes:
    """SAFI 70 NLRI from (route type, route value)."""
    items = [{"type": t, "length": len(v), "value": v} for t, v in routes]
    return bytes(bgp_wire.nlri_list(25, 70, False).build(items))


# ---------------------------------------------------------------- attributes

#: Usual flags per attribute type (optional 0x80, transitive 0x40).
DEFAULT_FLAGS = {
    AttrType.ORIGIN: 0x40,
    AttrType.AS_PATH: 0x40,
    AttrType.NEXT_HOP: 0x40,
    AttrType.MED: 0x80,
    AttrType.LOCAL_PREF: 0x40,
    AttrType.ATOMIC_AGGREGATE: 0x40,
    AttrType.AGGREGATOR: 0xC0,
    AttrType.COMMUNITIES: 0xC0,
    AttrType.ORIGINATOR_ID: 0x80,
    AttrType.CLUSTER_LIST: 0x80,
    AttrType.MP_REACH_NLRI: 0x80,
    AttrType.MP_UNREACH_NLRI: 0x80,
    AttrType.EXTENDED_COMMUNITIES: 0xC0,
    AttrType.AS4_PATH: 0xC0,
    AttrType.AS4_AGGREGATOR: 0xC0,
    AttrType.LARGE_COMMUNITY: 0xC0,
    AttrType.OTC: 0xC0,
}


def attribute(
    attr_type: int, value: bytes, flags: int | None = None, extended: bool | None = None
) -> bytes:
    """One path attribute. ``flags`` defaults per type (0xC0 for unknown
    types); the extended-length bit is set when the value exceeds 255 bytes
    or ``extended`` is True (``extended=False`` clears it)."""
    f = DEFAULT_FLAGS.get(attr_type, 0xC0) if flags is None else flags
    if extended or (extended is None and len(value) > 255):
        f |= bgp_wire.EXTENDED_LENGTH
    elif extended is False:
        f &= ~bgp_wire.EXTENDED_LENGTH
    return bytes(bgp_wire.PathAttribute.build({"flags": f, "type": attr_type, "value": value}))


def _ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def origin(value: int) -> bytes:
    return attribute(AttrType.ORIGIN, bgp_wire.OriginValue.build(value))


Segments = Sequence[int] | Sequence[tuple[int, Sequence[int]]]


def _segments(segments: Segments) -> list[dict[str, object]]:
    if segments and isinstance(segments[0], int):
        return [{"type": 2, "asns": list(segments)}]
    return [{"type": t, "asns": list(a)} for t, a in segments]  # type: ignore[misc]


def as_path_value(segments: Segments, four_octet_as: bool = True) -> bytes:
    """AS_PATH value: a list of ASNs (one AS_SEQUENCE) or (type, asns) segments."""
    spec_ = bgp_wire.AsPath4 if four_octet_as else bgp_wire.AsPath2
    return bytes(spec_.build(_segments(segments)))


def as_path(segments: Segments, four_octet_as: bool = True) -> bytes:
    return attribute(AttrType.AS_PATH, as_path_value(segments, four_octet_as))


def as4_path(segments: Segments) -> bytes:
    return attribute(AttrType.AS4_PATH, as_path_value(segments, True))


def next_hop(address: str) -> bytes:
    return attribute(AttrType.NEXT_HOP, bgp_wire.Ipv4Value.build(_ip4(address)))


def med(value: int) -> bytes:
    return attribute(AttrType.MED, bgp_wire.Uint32Value.build(value))


def local_pref(value: int) -> bytes:
    return attribute(AttrType.LOCAL_PREF, bgp_wire.Uint32Value.build(value))


def atomic_aggregate() -> bytes:
    return attribute(AttrType.ATOMIC_AGGREGATE, b"")


def aggregator(asn: int, address: str, four_octet_as: bool = True) -> bytes:
    spec_ = bgp_wire.Aggregator4Value if four_octet_as else bgp_wire.Aggregator2Value
    value = spec_.build({"asn": asn, "address": _ip4(address)})
    return attribute(AttrType.AGGREGATOR, value)


def as4_aggregator(asn: int, address: str) -> bytes:
    value = bgp_wire.Aggregator4Value.build({"asn": asn, "address": _ip4(address)})
    return attribute(AttrType.AS4_AGGREGATOR, value)


def community(text: str) -> int:
    """``"65001:100"`` -> 0xFDE90064."""
    high, low = text.split(":")
    return (int(high) << 16) | int(low)


def communities(values: Iterable[int | str]) -> bytes:
    ints = [v if isinstance(v, int) else community(v) for v in values]
    return attribute(AttrType.COMMUNITIES, bgp_wire.CommunitiesValue.build(ints))


def originator_id(address: str) -> bytes:
    return attribute(AttrType.ORIGINATOR_ID, bgp_wire.Ipv4Value.build(_ip4(address)))


def cluster_list(addresses: Iterable[str]) -> bytes:
    value = bgp_wire.ClusterListValue.build([_ip4(a) for a in addresses])
    return attribute(AttrType.CLUSTER_LIST, value)


def extended_communities(values: Iterable[bytes]) -> bytes:
    value = bgp_wire.ExtendedCommunitiesValue.build(list(values))
    return attribute(AttrType.EXTENDED_COMMUNITIES, value)


def route_target(asn: int, value: int) -> bytes:
    """Two-octet-AS route target extended community (8 bytes)."""
    return b"\x00\x02" + asn.to_bytes(2, "big") + value.to_bytes(4, "big")


def large_communities(values: Iterable[tuple[int, int, int]]) -> bytes:
    value = bgp_wire.LargeCommunitiesValue.build(
        [{"global_admin": g, "local1": a, "local2": b} for g, a, b in values]
    )
    return attribute(AttrType.LARGE_COMMUNITY, value)


def otc(asn: int) -> bytes:
    return attribute(AttrType.OTC, bgp_wire.Uint32Value.build(asn))


def next_hop_bytes(next_hops: Sequence[str], rd: bool = False) -> bytes:
    """MP_REACH next hop field: the packed addresses, each after an 8-byte zero RD if ``rd``."""
    out = b""
    for text in next_hops:
        out += (bytes(8) if rd else b"") + ipaddress.ip_address(text).packed
    return out


def mp_reach(afi: int, safi: int, next_hops: Sequence[str] | bytes, blob: bytes) -> bytes:
    """MP_REACH_NLRI; ``next_hops`` as text (RD added for SAFI 128) or raw bytes."""
    nh = next_hops if isinstance(next_hops, bytes) else next_hop_bytes(next_hops, rd=safi == 128)
    value = bgp_wire.MpReachValue.build(
        {"afi": afi, "safi": safi, "next_hop": nh, "reserved": 0, "nlri": blob}
    )
    return attribute(AttrType.MP_REACH_NLRI, value)


def mp_unreach(afi: int, safi: int, blob: bytes = b"") -> bytes:
    value = bgp_wire.MpUnreachValue.build({"afi": afi, "safi": safi, "nlri": blob})
    return attribute(AttrType.MP_UNREACH_NLRI, value)


# ---------------------------------------------------------------- UPDATE


def update_body(
    *, withdrawn: bytes = b"", attributes: Iterable[bytes] | bytes = (), nlri: bytes = b""
) -> bytes:
    block = attributes if isinstance(attributes, bytes) else b"".join(attributes)
    return bytes(
        bgp_wire.UpdateBody.build({"withdrawn": withdrawn, "attributes": block, "nlri": nlri})
    )


def build_update(
    *, withdrawn: bytes = b"", attributes: Iterable[bytes] | bytes = (), nlri: bytes = b""
) -> bytes:
    """A whole UPDATE message from its three fields (already encoded)."""
    body = update_body(withdrawn=withdrawn, attributes=attributes, nlri=nlri)
    return build_message(MessageType.UPDATE, body)


def build_eor(afi: int = 1, safi: int = 1) -> bytes:
    """End-of-RIB marker: empty UPDATE for IPv4 unicast, else an empty MP_UNREACH."""
    if (afi, safi) == (1, 1):
        return build_update()
    return build_update(attributes=[mp_unreach(afi, safi)])
