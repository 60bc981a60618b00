"""The BMP wire format (RFC 7854, RFC 8671, RFC 9069): construct structures
for every message, and the helpers both decoders share.

Each structure parses (``decode.py``) and builds (``tests/support/bmp.py``).
``per_peer_header`` turns the per-peer header's fields into a
``PerPeerHeader`` for the construct decoder and the fast path alike;
``version_error`` is the one wording of a bad version, for the framing
(``reader.py``) and the decoder.
"""

from __future__ import annotations

from typing import Any

from construct import (
    Bytes,
    If,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Rebuild,
    Struct,
    len_,
    this,
)

from ..afi import format_address
from ..bgp import wire as bgp_wire
from ..bgp.messages import HEADER_SIZE
from ..errors import Action, UnsupportedError
from .messages import (
    COMMON_HEADER_SIZE,
    INFO_NAMES,
    RM_TLV_NAMES,
    PerPeerHeader,
)

# --------------------------------------------------------------------------
# construct structures
# --------------------------------------------------------------------------

#: RFC 7854 §4.1. ``length`` covers the whole message, header included.
COMMON_HEADER = Struct(
    "version" / Int8ub,
    "length" / Int32ub,
    "type" / Int8ub,
)

#: A whole BMP message: the common header with its length rebuilt from the body.
BMP_MESSAGE = Struct(
    "version" / Int8ub,
    "length" / Rebuild(Int32ub, len_(this.body) + COMMON_HEADER_SIZE),
    "type" / Int8ub,
    "body" / Bytes(this.length - COMMON_HEADER_SIZE),
)

#: RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4.1: 42 bytes.
PER_PEER_HEADER = Struct(
    "peer_type" / Int8ub,
    "flags" / Int8ub,
    "distinguisher" / Bytes(8),
    #: IPv6, or IPv4 in the last 4 bytes when the V flag is clear.
    "address" / Bytes(16),
    "asn" / Int32ub,
    "bgp_id" / Bytes(4),
    "timestamp_sec" / Int32ub,
    "timestamp_usec" / Int32ub,
)

#: Information TLVs (RFC 7854 §4.4), Termination TLVs (§4.5), Route
#: Mirroring TLVs (§4.7), Peer Up TLVs (RFC 9069 §5.3) and Stats TLVs (§4.8):
#: type (2), length (2), value.
TLV = Struct(
    "type" / Int16ub,
    "length" / Rebuild(Int16ub, len_(this.value)),
    "value" / Bytes(this.length),
)
TLV_HEADER = Struct("type" / Int16ub, "length" / Int16ub)
TLV_HEADER_SIZE: int = TLV_HEADER.sizeof()

#: draft-ietf-grow-bmp-tlv: a TLV with the E bit (0x8000) in its type carries
#: a 4-byte Private Enterprise Number, counted in its length.
TLV_PEN = Int32ub
TLV_PEN_SIZE: int = TLV_PEN.sizeof()

#: draft-ietf-grow-bmp-tlv §Route Monitoring: type, length (of the value, the
#: PEN included), [PEN,] a 2-byte index (G bit + NLRI or group index), value.
INDEXED_TLV = Struct(
    "type" / Int16ub,
    "length"
    / Rebuild(Int16ub, lambda ctx: len(ctx.value) + (TLV_PEN_SIZE if ctx.type & 0x8000 else 0)),
    "pen" / If(this.type & 0x8000, Int32ub),
    "index" / Int16ub,
    "value" / Bytes(lambda ctx: ctx.length - (TLV_PEN_SIZE if ctx.type & 0x8000 else 0)),
)
TLV_INDEX = Int16ub
TLV_INDEX_SIZE: int = TLV_INDEX.sizeof()

#: draft-ietf-grow-bmp-path-marking-tlv: the Path Status TLV's value: 4 bytes
#: of status bits, then (optionally) a 2-byte reason code.
PATH_MARKING = Struct("status" / Int32ub, "reason" / Int16ub)
PATH_MARKING_STATUS = Int32ub
PATH_MARKING_SIZES = (4, 6)
#: The Group TLV's value: 2-byte NLRI indexes.
GROUP_MEMBER = Int16ub

#: RFC 7854 §4.10: what follows the per-peer header of a Peer Up, before the OPENs.
PEER_UP_FIXED = Struct(
    "local_address" / Bytes(16),
    "local_port" / Int16ub,
    "remote_port" / Int16ub,
)
PEER_UP_FIXED_SIZE: int = PEER_UP_FIXED.sizeof()

#: RFC 7854 §4.9: the reason byte, then reason-specific data.
PEER_DOWN_REASON = Int8ub
#: Reason 2: the FSM event code (RFC 4271 §8.1).
FSM_EVENT = Int16ub

#: RFC 7854 §4.8: Stats Count, then that many Stats TLVs.
STATS_COUNT = Int32ub
STAT_COUNTER = Int32ub
STAT_GAUGE = Int64ub
#: RFC 7854 §4.8 types 9 and 10 and their successors: AFI, SAFI, 64-bit gauge.
STAT_AFI_SAFI_GAUGE = Struct(
    "afi" / Int16ub,
    "safi" / Int8ub,
    "value" / Int64ub,
)

#: Termination reason (TLV type 1) and Route Mirroring information code (TLV type 1).
TERMINATION_REASON_CODE = Int16ub
MIRROR_INFORMATION_CODE = Int16ub

#: RFC 4271 §4.1: the BGP header, enough to find where a BGP message ends.
BGP_HEADER = bgp_wire.Header
BGP_HEADER_SIZE: int = HEADER_SIZE


def compiled(subcon: Any) -> Any:
    """The compiled form of ``subcon`` for parsing (4x faster), or itself."""
    try:
        return subcon.compile()
    except Exception:  # pragma: no cover - construct could not compile it
        return subcon


COMMON_HEADER_P = compiled(COMMON_HEADER)
PER_PEER_HEADER_P = compiled(PER_PEER_HEADER)
TLV_HEADER_P = compiled(TLV_HEADER)
PEER_UP_FIXED_P = compiled(PEER_UP_FIXED)
BGP_HEADER_P = compiled(BGP_HEADER)
STAT_AFI_SAFI_GAUGE_P = compiled(STAT_AFI_SAFI_GAUGE)


#: TLV types ``BmpTlv.known`` knows, as sets (the fast path's check).
RM_NAMES_KNOWN = frozenset(RM_TLV_NAMES)
INFO_NAMES_KNOWN = frozenset(INFO_NAMES)

# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------


def peer_address(raw16: bytes, ipv6: bool) -> str:
    """A 16-byte BMP address field: IPv6, or IPv4 in the last 4 bytes."""
    return format_address(raw16 if ipv6 else raw16[12:16])


def per_peer_header(
    peer_type: int,
    flags: int,
    distinguisher: bytes,
    address: bytes,
    asn: int,
    bgp_id: bytes,
    timestamp_sec: int,
    timestamp_usec: int,
) -> PerPeerHeader:
    """The per-peer header from its wire fields. Loc-RIB (RFC 9069 §4.1) has
    no V flag (bit 0 is F) and a zero address, kept in IPv4 form."""
    ipv6 = peer_type != 3 and bool(flags & 0x80)
    return PerPeerHeader(
        peer_type,
        flags,
        distinguisher,
        peer_address(address, ipv6),
        asn,
        format_address(bgp_id),
        timestamp_sec,
        timestamp_usec,
    )


def version_error(version: int, offset: int) -> UnsupportedError:
    """The error for a BMP version other than 3 and 4 (action DROP_SESSION:
    that session only)."""
    if version in (1, 2):
        text = f"BMP version {version} (pre-RFC 7854 drafts) is not supported"
    else:
        text = f"unsupported BMP version {version}, expected 3 or 4"
    return UnsupportedError(text, offset=offset, action=Action.DROP_SESSION)
