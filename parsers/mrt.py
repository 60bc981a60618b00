"""MRT TABLE_DUMP_V2 encoder (RFC 6396 §4.3, RFC 8050), sans-IO.

A snapshot is one ``peer_index_table`` record, then one RIB record per
prefix (``rib_record``) holding an entry per path. Subtypes:
RIB_IPV4_UNICAST (2) / RIB_IPV6_UNICAST (4), and their ADD-PATH variants
RIB_IPV4_UNICAST_ADDPATH (8) / RIB_IPV6_UNICAST_ADDPATH (10) for entries that
carry a path identifier (RFC 8050 §4); RIB_IPV4_MULTICAST (3) /
RIB_IPV6_MULTICAST (5) and their ADD-PATH variants for SAFI 2.

Attributes are encoded as RFC 6396 §4.3.4 says: 4-byte AS numbers, and for
MP_REACH_NLRI only the next-hop length and next hop (no AFI/SAFI, no NLRI).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from .bgp.attributes import AttrType, PathAttributes
from .bgp.encode import (
    OPTIONAL,
    attribute,
    encode_attributes,
    mp_next_hop_bytes,
    uses_mp_reach,
)

TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE = 1
#: (afi, safi, add_path) -> RIB subtype.
RIB_SUBTYPES = {
    (1, 1, False): 2,
    (1, 2, False): 3,
    (2, 1, False): 4,
    (2, 2, False): 5,
    (1, 1, True): 8,
    (1, 2, True): 9,
    (2, 1, True): 10,
    (2, 2, True): 11,
}

_HEADER = struct.Struct("!IHHI")
_ENTRY = struct.Struct("!HI")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class MrtPeer:
    bgp_id: str
    address: str
    asn: int


def record(timestamp: int, type_: int, subtype: int, body: bytes) -> bytes:
    """One MRT record: the common header (RFC 6396 §2) and ``body``."""
    return _HEADER.pack(timestamp & 0xFFFFFFFF, type_, subtype, len(body)) + body


def _v4(text: str) -> bytes:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return b"\x00" * 4
    return ip.packed if ip.version == 4 else b"\x00" * 4


def peer_index_table(
    timestamp: int, collector_id: str, view_name: str, peers: list[MrtPeer]
) -> bytes:
    """PEER_INDEX_TABLE (§4.3.1); every peer entry with a 4-byte AS (type bit 1)."""
    name = view_name.encode()
    if len(peers) > 0xFFFF:
        raise ValueError(f"{len(peers)} peers do not fit in one PEER_INDEX_TABLE")
    parts = [_v4(collector_id), _U16.pack(len(name)), name, _U16.pack(len(peers))]
    for p in peers:
        ip = ipaddress.ip_address(p.address)
        kind = 0x02 | (0x01 if ip.version == 6 else 0)
        parts.append(bytes((kind,)) + _v4(p.bgp_id) + ip.packed + _U32.pack(p.asn))
    return record(timestamp, TABLE_DUMP_V2, PEER_INDEX_TABLE, b"".join(parts))


def mrt_attributes(afi: int, safi: int, attrs: PathAttributes) -> bytes:
    """The attribute block of a RIB entry (§4.3.4)."""
    if not uses_mp_reach(afi, safi, attrs):
        return encode_attributes(attrs, next_hop=True)
    nh = mp_next_hop_bytes(attrs, afi)
    mp = attribute(OPTIONAL, AttrType.MP_REACH_NLRI, bytes((len(nh),)) + nh)
    block = encode_attributes(attrs, next_hop=False)
    # keep type-code order: MP_REACH (14) after the attributes below 14
    head, tail = _split_at(block, AttrType.MP_REACH_NLRI)
    return head + mp + tail


def _split_at(block: bytes, type_code: int) -> tuple[bytes, bytes]:
    i = 0
    n = len(block)
    while i < n:
        flags, t = block[i], block[i + 1]
        size = 4 + _U16.unpack_from(block, i + 2)[0] if flags & 0x10 else 3 + block[i + 2]
        if t > type_code:
            return block[:i], block[i:]
        i += size
    return block, b""


RibEntry = tuple[int, int, bytes, int | None]
"""(peer index, originated time, attribute block, path ID or None)."""


def rib_record(
    timestamp: int, sequence: int, afi: int, safi: int, key: bytes, entries: list[RibEntry]
) -> bytes:
    """One RIB_* record (§4.3.2) for the prefix ``key`` (length octet +
    prefix octets, as ``parsers.bgp.nlri`` keys it). All entries must agree
    on having a path ID (ADD-PATH subtype) or not."""
    add_path = entries[0][3] is not None
    subtype = RIB_SUBTYPES.get((afi, safi, add_path))
    if subtype is None:
        raise ValueError(f"no TABLE_DUMP_V2 RIB subtype for AFI {afi} SAFI {safi}")
    parts = [_U32.pack(sequence & 0xFFFFFFFF), key, _U16.pack(len(entries))]
    for peer_index, originated, attrs, pid in entries:
        parts.append(_ENTRY.pack(peer_index, originated & 0xFFFFFFFF))
        if add_path:
            parts.append(_U32.pack(pid or 0))
        parts.append(_U16.pack(len(attrs)))
        parts.append(attrs)
    return record(timestamp, TABLE_DUMP_V2, subtype, b"".join(parts))
