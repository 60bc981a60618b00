"""BGP UPDATE *encoder*: a RIB's routes back to wire bytes, sans-IO.

The inverse of the decoders for what a ``RibTable`` holds: routes keyed by
their wire NLRI (``parsers.bgp.nlri``), one interned ``PathAttributes`` per
attribute set. Used to synthesize state for a collector that joined late
(``agent.export.relay``) and for MRT snapshots (``parsers.mrt``).

* ``encode_attributes(attrs)``: the path attribute block (no NLRI, no
  MP_REACH/MP_UNREACH), attributes in type-code order, AS numbers always 4
  bytes (BMP Route Monitoring without the A flag, RFC 7854 §4.2; MRT,
  RFC 6396 §4.3.4). AS4_PATH / AS4_AGGREGATOR are kept as received.
* ``pack_updates(afi, safi, attrs, keys, path_ids)``: UPDATE messages
  announcing ``keys`` with ``attrs``, each at most ``max_size`` bytes (4096:
  RFC 4271), as many NLRI per message as fit. IPv4 unicast with a NEXT_HOP
  goes in the classic NLRI field, everything else in MP_REACH_NLRI
  (RFC 4760). ``path_ids`` (one per key) prefixes each NLRI with its RFC 7911
  path identifier.
* ``end_of_rib(afi, safi)``: the RFC 4724 End-of-RIB marker.

Only SAFIs whose RIB key is the complete wire NLRI can be rebuilt
(``ENCODABLE_SAFIS``): unicast, multicast and EVPN. Labeled unicast and VPN
keys have their label stack removed (``parsers.bgp.nlri``), so those routes
cannot be re-announced faithfully; ``pack_updates`` raises ``ValueError``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator, Sequence
from functools import lru_cache

from .attributes import AsPathSegment, AttrType, PathAttributes

MARKER = b"\xff" * 16
HEADER_SIZE = 19
UPDATE = 2
MAX_SIZE = 4096
#: SAFIs whose RIB keys are the whole wire NLRI: 1 unicast, 2 multicast, 70 EVPN.
ENCODABLE_SAFIS = frozenset({1, 2, 70})

# Attribute flags (RFC 4271 §4.3)
OPTIONAL = 0x80
TRANSITIVE = 0x40
EXTENDED = 0x10

#: ASNs per AS_PATH segment (the count is one octet).
MAX_SEGMENT = 255

_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")


@lru_cache(maxsize=4096)
def address_bytes(text: str) -> bytes:
    """An IPv4 or IPv6 address in network byte order."""
    return ipaddress.ip_address(text).packed


def attribute(flags: int, type_code: int, value: bytes) -> bytes:
    """One path attribute; the extended-length flag follows the value's size."""
    n = len(value)
    if n > 255:
        return bytes((flags | EXTENDED, type_code)) + _U16.pack(n) + value
    return bytes((flags & ~EXTENDED, type_code, n)) + value


def as_path_value(segments: tuple[AsPathSegment, ...]) -> bytes:
    """AS_PATH / AS4_PATH value with 4-byte ASNs; long segments are split at 255."""
    out = bytearray()
    for seg in segments:
        asns = seg.asns
        for i in range(0, max(len(asns), 1), MAX_SEGMENT):
            part = asns[i : i + MAX_SEGMENT]
            out += bytes((seg.type, len(part)))
            out += struct.pack(f"!{len(part)}I", *part)
    return bytes(out)


def encode_attributes(attrs: PathAttributes, *, next_hop: bool = True) -> bytes:
    """The attribute block of ``attrs`` without MP_REACH/MP_UNREACH.

    ``next_hop=False`` leaves NEXT_HOP out (routes that travel in MP_REACH
    carry their next hop there)."""
    return _encode_attributes(attrs, next_hop)


@lru_cache(maxsize=8192)
def _encode_attributes(attrs: PathAttributes, next_hop: bool) -> bytes:
    parts: list[tuple[int, bytes]] = []
    add = parts.append
    if attrs.origin is not None:
        add((AttrType.ORIGIN, attribute(TRANSITIVE, AttrType.ORIGIN, bytes((attrs.origin,)))))
    if attrs.as_path is not None:
        add(
            (
                AttrType.AS_PATH,
                attribute(TRANSITIVE, AttrType.AS_PATH, as_path_value(attrs.as_path)),
            )
        )
    if next_hop and attrs.next_hop is not None:
        add(
            (
                AttrType.NEXT_HOP,
                attribute(TRANSITIVE, AttrType.NEXT_HOP, address_bytes(attrs.next_hop)),
            )
        )
    if attrs.med is not None:
        add((AttrType.MED, attribute(OPTIONAL, AttrType.MED, _U32.pack(attrs.med))))
    if attrs.local_pref is not None:
        add(
            (
                AttrType.LOCAL_PREF,
                attribute(TRANSITIVE, AttrType.LOCAL_PREF, _U32.pack(attrs.local_pref)),
            )
        )
    if attrs.atomic_aggregate:
        add((AttrType.ATOMIC_AGGREGATE, attribute(TRANSITIVE, AttrType.ATOMIC_AGGREGATE, b"")))
    if attrs.aggregator is not None:
        agg = attrs.aggregator
        value = _U32.pack(agg.asn) + address_bytes(agg.address)
        add((AttrType.AGGREGATOR, attribute(OPTIONAL | TRANSITIVE, AttrType.AGGREGATOR, value)))
    if attrs.communities:
        value = struct.pack(f"!{len(attrs.communities)}I", *attrs.communities)
        add((AttrType.COMMUNITIES, attribute(OPTIONAL | TRANSITIVE, AttrType.COMMUNITIES, value)))
    if attrs.originator_id is not None:
        value = address_bytes(attrs.originator_id)
        add((AttrType.ORIGINATOR_ID, attribute(OPTIONAL, AttrType.ORIGINATOR_ID, value)))
    if attrs.cluster_list:
        value = b"".join(address_bytes(c) for c in attrs.cluster_list)
        add((AttrType.CLUSTER_LIST, attribute(OPTIONAL, AttrType.CLUSTER_LIST, value)))
    if attrs.extended_communities:
        value = b"".join(attrs.extended_communities)
        add(
            (
                AttrType.EXTENDED_COMMUNITIES,
                attribute(OPTIONAL | TRANSITIVE, AttrType.EXTENDED_COMMUNITIES, value),
            )
        )
    if attrs.as4_path is not None:
        value = as_path_value(attrs.as4_path)
        add((AttrType.AS4_PATH, attribute(OPTIONAL | TRANSITIVE, AttrType.AS4_PATH, value)))
    if attrs.as4_aggregator is not None:
        agg = attrs.as4_aggregator
        value = _U32.pack(agg.asn) + address_bytes(agg.address)
        add(
            (
                AttrType.AS4_AGGREGATOR,
                attribute(OPTIONAL | TRANSITIVE, AttrType.AS4_AGGREGATOR, value),
            )
        )
    if attrs.large_communities:
        value = b"".join(struct.pack("!III", *lc) for lc in attrs.large_communities)
        add(
            (
                AttrType.LARGE_COMMUNITY,
                attribute(OPTIONAL | TRANSITIVE, AttrType.LARGE_COMMUNITY, value),
            )
        )
    if attrs.otc is not None:
        add((AttrType.OTC, attribute(OPTIONAL | TRANSITIVE, AttrType.OTC, _U32.pack(attrs.otc))))
    for raw in attrs.unknown:
        add((raw.type, attribute(raw.flags, raw.type, raw.value)))
    parts.sort(key=lambda p: p[0])
    return b"".join(p[1] for p in parts)


def mp_next_hop_bytes(attrs: PathAttributes, afi: int) -> bytes:
    """The MP_REACH next hop field: ``mp_next_hop`` (global, link-local), or
    the classic NEXT_HOP for IPv4 routes that came without one."""
    hops = attrs.mp_next_hop
    if not hops and attrs.next_hop is not None:
        hops = (attrs.next_hop,)
    return b"".join(address_bytes(h) for h in hops)


def uses_mp_reach(afi: int, safi: int, attrs: PathAttributes) -> bool:
    return not (afi == 1 and safi == 1 and attrs.next_hop is not None)


def nlri_entries(keys: Sequence[bytes], path_ids: Sequence[int] | None) -> list[bytes]:
    """Wire NLRI per route: the key, after its 4-byte path ID when given."""
    if path_ids is None:
        return list(keys)
    pack = _U32.pack
    return [pack(pid) + k for pid, k in zip(path_ids, keys, strict=True)]


def _message(body: bytes) -> bytes:
    return MARKER + _U16.pack(HEADER_SIZE + len(body)) + bytes((UPDATE,)) + body


def pack_updates(
    afi: int,
    safi: int,
    attrs: PathAttributes,
    keys: Sequence[bytes],
    path_ids: Sequence[int] | None = None,
    *,
    max_size: int = MAX_SIZE,
) -> Iterator[bytes]:
    """UPDATE messages (19-byte header included) announcing ``keys`` with ``attrs``."""
    if safi not in ENCODABLE_SAFIS:
        raise ValueError(f"routes of SAFI {safi} cannot be re-encoded (labels are not kept)")
    entries = nlri_entries(keys, path_ids)
    mp = uses_mp_reach(afi, safi, attrs)
    block = encode_attributes(attrs, next_hop=not mp)
    if mp:
        nh = mp_next_hop_bytes(attrs, afi)
        mp_head = _U16.pack(afi) + bytes((safi, len(nh))) + nh + b"\x00"
        # header, withdrawn length, attribute length, block, MP_REACH flags+type+ext length
        fixed = HEADER_SIZE + 2 + 2 + len(block) + 4 + len(mp_head)
    else:
        fixed = HEADER_SIZE + 2 + 2 + len(block)
    room = max_size - fixed
    if room <= 0:
        raise ValueError(f"attributes of {len(block)} bytes leave no room for NLRI in {max_size}")
    i = 0
    n = len(entries)
    while i < n:
        size = 0
        j = i
        while j < n and size + len(entries[j]) <= room:
            size += len(entries[j])
            j += 1
        if j == i:
            raise ValueError(f"an NLRI of {len(entries[i])} bytes does not fit in {max_size}")
        nlri = b"".join(entries[i:j])
        if mp:
            mp_value = mp_head + nlri
            attrs_bytes = (
                block
                + bytes((OPTIONAL | EXTENDED, AttrType.MP_REACH_NLRI))
                + _U16.pack(len(mp_value))
                + mp_value
            )
            yield _message(b"\x00\x00" + _U16.pack(len(attrs_bytes)) + attrs_bytes)
        else:
            yield _message(b"\x00\x00" + _U16.pack(len(block)) + block + nlri)
        i = j


def end_of_rib(afi: int, safi: int) -> bytes:
    """RFC 4724 §2: an empty UPDATE for IPv4 unicast, else an empty MP_UNREACH."""
    if afi == 1 and safi == 1:
        return _message(b"\x00\x00\x00\x00")
    value = _U16.pack(afi) + bytes((safi,))
    attr = attribute(OPTIONAL, AttrType.MP_UNREACH_NLRI, value)
    return _message(b"\x00\x00" + _U16.pack(len(attr)) + attr)
