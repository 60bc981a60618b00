"""The BGP wire format: construct structures for every message, and the one
table of path attribute rules that both decoders read.

Every structure is declared once with construct, so that it both parses
(``decode.py``) and builds (``tests/support/bgp.py``). ``ATTRIBUTES`` holds,
per attribute type, the flags a well-formed attribute carries, its length
rule, what RFC 7606 does with a malformed one and how its value becomes a
``PathAttributes`` field: the construct decoder (``decode.py``) parses the
value structure built from the length rule, the fast path (``fast.py``)
checks the same length rule and calls the rule's byte decoder. The helpers
at the end (MP_REACH next hop, End-of-RIB, host bits) are shared the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from struct import Struct as _Packed
from struct import unpack, unpack_from
from typing import Any

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Check,
    Const,
    Construct,
    FocusedSeq,
    GreedyBytes,
    GreedyRange,
    IfThenElse,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Peek,
    Prefixed,
    Rebuild,
    RepeatUntil,
    SizeofError,
    Struct,
    Terminated,
    len_,
    this,
)

from ..afi import format_address
from ..codes import name_of
from .attributes import (
    ATTR_NAMES,
    ORIGIN_NAMES,
    SEGMENT_NAMES,
    Aggregator,
    AsPathSegment,
    AttrType,
    PathAttributes,
)
from .messages import HEADER_SIZE, MARKER


class Fallback(Exception):
    """The fast path does not handle this input; the construct decoder will."""


# ---------------------------------------------------------------------------
# construct structures
# ---------------------------------------------------------------------------


def _exactly(subcon: Construct) -> Construct:
    """``subcon`` that must consume its whole (sub)stream."""
    return FocusedSeq("value", "value" / subcon, Terminated)


def _list_of(subcon: Construct) -> Construct:
    """Zero or more ``subcon`` filling the (sub)stream exactly."""
    return _exactly(GreedyRange(subcon))


def _nonempty_list_of(subcon: Construct) -> Construct:
    return FocusedSeq(
        "value", "value" / GreedyRange(subcon), Check(len_(this.value) > 0), Terminated
    )


EXTENDED_LENGTH = 0x10

#: The 19-byte header (RFC 4271 §4.1), the marker as sent: the BGP decoder
#: checks it (and says so), the BMP decoder only needs to know where a BGP
#: message ends.
Header = Struct(
    "marker" / Bytes(16),
    "length" / Int16ub,
    "type" / Int8ub,
)

#: A whole message; ``length`` is rebuilt from the body when building.
Message = Struct(
    "marker" / Const(MARKER),
    "length" / Rebuild(Int16ub, lambda ctx: HEADER_SIZE + len(ctx.body)),
    "type" / Int8ub,
    "body" / Bytes(lambda ctx: ctx.length - HEADER_SIZE),
)

# --- OPEN -----------------------------------------------------------------

CapabilityTlv = Struct("code" / Int8ub, "value" / Prefixed(Int8ub, GreedyBytes))
Capabilities = _list_of(CapabilityTlv)

OptionalParameter = Struct("type" / Int8ub, "value" / Prefixed(Int8ub, GreedyBytes))
#: RFC 9072 extended optional parameter (2-byte length).
ExtendedOptionalParameter = Struct("type" / Int8ub, "value" / Prefixed(Int16ub, GreedyBytes))

OpenFixed = Struct(
    "version" / Int8ub,
    "my_as" / Int16ub,
    "hold_time" / Int16ub,
    "bgp_id" / Bytes(4),
)

#: The OPEN body. ``extended`` peeks at the next two bytes: 0xFFFF announces
#: RFC 9072 extended optional parameters (when building, pass 0xFFFF or 0).
OpenBody = Struct(
    *OpenFixed.subcons,
    "extended" / Peek(Int16ub),
    "parameters"
    / IfThenElse(
        this.extended == 0xFFFF,
        FocusedSeq(
            "params",
            Const(b"\xff\xff"),
            "params" / Prefixed(Int16ub, _list_of(ExtendedOptionalParameter)),
        ),
        Prefixed(Int8ub, _list_of(OptionalParameter)),
    ),
    Terminated,
)

AfiSafiEntry = Struct("afi" / Int16ub, "reserved" / Int8ub, "safi" / Int8ub)
MultiprotocolValue = _exactly(AfiSafiEntry)
ExtendedNextHopValue = _list_of(Struct("afi" / Int16ub, "safi" / Int16ub, "next_hop_afi" / Int16ub))
GracefulRestartValue = _exactly(
    Struct(
        "header" / BitStruct("flags" / BitsInteger(4), "time" / BitsInteger(12)),
        "families" / GreedyRange(Struct("afi" / Int16ub, "safi" / Int8ub, "flags" / Int8ub)),
    )
)
FourOctetAsValue = _exactly(Int32ub)
AddPathValue = _list_of(Struct("afi" / Int16ub, "safi" / Int8ub, "send_receive" / Int8ub))
LlgrValue = _list_of(
    Struct("afi" / Int16ub, "safi" / Int8ub, "flags" / Int8ub, "stale_time" / Int24ub)
)
FqdnValue = _exactly(
    Struct(
        "hostname" / Prefixed(Int8ub, GreedyBytes),
        "domain" / Prefixed(Int8ub, GreedyBytes),
    )
)
RoleValue = _exactly(Int8ub)

# --- NOTIFICATION, ROUTE-REFRESH ------------------------------------------

NotificationBody = Struct("code" / Int8ub, "subcode" / Int8ub, "data" / GreedyBytes)
RouteRefreshBody = Struct("afi" / Int16ub, "subtype" / Int8ub, "safi" / Int8ub, "orf" / GreedyBytes)

# --- UPDATE ---------------------------------------------------------------

UpdateBody = Struct(
    "withdrawn" / Prefixed(Int16ub, GreedyBytes),
    "attributes" / Prefixed(Int16ub, GreedyBytes),
    "nlri" / GreedyBytes,
)

PathAttribute = Struct(
    "flags" / Int8ub,
    "type" / Int8ub,
    "value" / Prefixed(IfThenElse(this.flags & EXTENDED_LENGTH, Int16ub, Int8ub), GreedyBytes),
)
AttributeBlock = _list_of(PathAttribute)


def _as_path_segment(asn: Construct) -> Construct:
    return Struct(
        "type" / Int8ub,
        Check(lambda ctx: ctx.type in SEGMENT_NAMES),
        "count" / Rebuild(Int8ub, len_(this.asns)),
        Check(this.count > 0),
        "asns" / asn[this.count],
    )


AsPath2 = _list_of(_as_path_segment(Int16ub))
AsPath4 = _list_of(_as_path_segment(Int32ub))
MpReachValue = Struct(
    "afi" / Int16ub,
    "safi" / Int8ub,
    "next_hop" / Prefixed(Int8ub, GreedyBytes),
    "reserved" / Int8ub,
    "nlri" / GreedyBytes,
)
MpUnreachValue = Struct("afi" / Int16ub, "safi" / Int8ub, "nlri" / GreedyBytes)

# --- NLRI -----------------------------------------------------------------

LABEL_WITHDRAW = 0x800000
LABEL_ZERO_WITHDRAW = 0x000000


def _bottom_of_stack(entry: int, _lst: Any, _ctx: Any) -> bool:
    return bool(entry & 1) or entry in (LABEL_WITHDRAW, LABEL_ZERO_WITHDRAW)


def _octets(bits: Callable[[Any], int]) -> Callable[[Any], int]:
    return lambda ctx: (bits(ctx) + 7) // 8


def labeled_prefix_bits(ctx: Any) -> int:
    return int(ctx.length) - 24 * len(ctx.labels)


def vpn_prefix_bits(ctx: Any) -> int:
    return int(ctx.length) - 24 * len(ctx.labels) - 64


_PREFIX_FIELDS = (
    "length" / Int8ub,
    "prefix" / Bytes(_octets(lambda ctx: int(ctx.length))),
)
_LABELED_FIELDS = (
    "length" / Int8ub,
    "labels" / RepeatUntil(_bottom_of_stack, Int24ub),
    Check(lambda ctx: labeled_prefix_bits(ctx) >= 0),
    "prefix" / Bytes(_octets(labeled_prefix_bits)),
)
_VPN_FIELDS = (
    "length" / Int8ub,
    "labels" / RepeatUntil(_bottom_of_stack, Int24ub),
    Check(lambda ctx: vpn_prefix_bits(ctx) >= 0),
    "rd" / Bytes(8),
    "prefix" / Bytes(_octets(vpn_prefix_bits)),
)
_EVPN_FIELDS = (
    "type" / Int8ub,
    "length" / Int8ub,
    "value" / Bytes(this.length),
)
_PATH_ID = "path_id" / Int32ub

Prefix = Struct(*_PREFIX_FIELDS)
PathPrefix = Struct(_PATH_ID, *_PREFIX_FIELDS)
LabeledPrefix = Struct(*_LABELED_FIELDS)
PathLabeledPrefix = Struct(_PATH_ID, *_LABELED_FIELDS)
VpnPrefix = Struct(*_VPN_FIELDS)
PathVpnPrefix = Struct(_PATH_ID, *_VPN_FIELDS)
EvpnRoute = Struct(*_EVPN_FIELDS)
PathEvpnRoute = Struct(_PATH_ID, *_EVPN_FIELDS)

#: NLRI entry structure per (SAFI kind, ADD-PATH).
NLRI_ENTRY: dict[tuple[str, bool], Construct] = {
    ("prefix", False): Prefix,
    ("prefix", True): PathPrefix,
    ("labeled", False): LabeledPrefix,
    ("labeled", True): PathLabeledPrefix,
    ("vpn", False): VpnPrefix,
    ("vpn", True): PathVpnPrefix,
    ("evpn", False): EvpnRoute,
    ("evpn", True): PathEvpnRoute,
}

_SAFI_KIND = {1: "prefix", 2: "prefix", 4: "labeled", 128: "vpn"}
#: Longest prefix per AFI, in bits.
MAX_PREFIX_BITS = {1: 32, 2: 128}
#: Per prefix length octet: the mask of the host bits in the last prefix
#: octet (0 for lengths on a byte boundary).
HOST_MASK = tuple((0xFF >> (b & 7)) if b & 7 else 0 for b in range(256))


def nlri_kind(afi: int, safi: int) -> str | None:
    """``prefix``, ``labeled``, ``vpn``, ``evpn`` or None (unsupported family)."""
    if safi == 70:
        return "evpn" if afi == 25 else None
    kind = _SAFI_KIND.get(safi)
    if kind is None or afi not in MAX_PREFIX_BITS:
        return None
    return kind


def nlri_list(afi: int, safi: int, add_path: bool) -> Construct:
    """The whole NLRI field of a family as one construct (for building)."""
    kind = nlri_kind(afi, safi)
    if kind is None:
        raise ValueError(f"unsupported family {afi}/{safi}")
    return _list_of(NLRI_ENTRY[kind, add_path])


# ---------------------------------------------------------------------------
# path attribute rules
# ---------------------------------------------------------------------------


def attr_name(code: int) -> str:
    """``origin``, ``as_path``, ... for known types, ``attr_<code>`` else."""
    return name_of(ATTR_NAMES, code, "attr")


def _segments(container: Any) -> tuple[AsPathSegment, ...]:
    return tuple(AsPathSegment(int(s.type), tuple(int(a) for a in s.asns)) for s in container)


def _origin(value: int) -> int:
    if value not in ORIGIN_NAMES:
        raise ValueError(f"undefined value {value}")
    return int(value)


def _aggregator(container: Any) -> Aggregator:
    return Aggregator(int(container.asn), format_address(bytes(container.address)))


def _fast_origin(value: bytes) -> int:
    if value[0] not in ORIGIN_NAMES:
        raise Fallback
    return value[0]


def _fast_as_path(width: int) -> Callable[[bytes], tuple[AsPathSegment, ...]]:
    code = "I" if width == 4 else "H"

    def decode(value: bytes) -> tuple[AsPathSegment, ...]:
        segs = []
        i = 0
        n = len(value)
        while i < n:
            if i + 2 > n:
                raise Fallback
            stype = value[i]
            count = value[i + 1]
            j = i + 2 + count * width
            if stype not in SEGMENT_NAMES or count == 0 or j > n:
                raise Fallback
            segs.append(AsPathSegment(stype, unpack_from(f"!{count}{code}", value, i + 2)))
            i = j
        return tuple(segs)

    return decode


_U32 = _Packed("!I")


def _fast_u32(value: bytes) -> int:
    return int(_U32.unpack(value)[0])


def _fast_u32s(value: bytes) -> tuple[int, ...]:
    return unpack(f"!{len(value) // 4}I", value)


def _fast_aggregator(value: bytes) -> Aggregator:
    return Aggregator(int.from_bytes(value[:-4], "big"), format_address(value[-4:]))


def _fast_addresses(value: bytes) -> tuple[str, ...]:
    return tuple(format_address(value[k : k + 4]) for k in range(0, len(value), 4))


def _fast_octets8(value: bytes) -> tuple[bytes, ...]:
    return tuple(value[k : k + 8] for k in range(0, len(value), 8))


def _fast_large(value: bytes) -> tuple[tuple[int, int, int], ...]:
    flat = unpack(f"!{len(value) // 4}I", value)
    return tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))


@dataclass(frozen=True, slots=True)
class AttrRule:
    """How one path attribute type is checked and decoded (per AS width).

    Length rule: ``unit`` bytes exactly, or (``repeated``) a non-zero multiple
    of ``unit``; ``unit`` is None when the value's own structure decides
    (AS_PATH, MP_REACH_NLRI). ``value`` is the construct structure of the
    value, made from the same element, so the construct decoder applies the
    same rule. ``convert`` turns what ``value`` parses into the field value
    (ValueError: malformed); ``fast`` does the same from the value bytes once
    the length rule holds (``Fallback``: leave it to the construct decoder).
    """

    code: int
    #: The ``PathAttributes`` field this attribute fills ("" for MP_*: NLRI).
    field: str
    #: The flags a well-formed attribute carries, the extended-length bit
    #: aside. The construct decoder does not check them (RFC 7606 §3c);
    #: the fast path takes only attributes with exactly these flags.
    flags: int
    #: RFC 7606 for a malformed value: True "attribute discard" (dropped,
    #: noted in ``PathAttributes.discarded``), False "treat-as-withdraw".
    discard: bool
    unit: int | None
    repeated: bool
    value: Construct
    convert: Callable[[Any], Any]
    fast: Callable[[bytes], Any] | None


_WELL_KNOWN = 0x40  # well-known (transitive)
_OPTIONAL = 0x80  # optional non-transitive
_OPTIONAL_TRANSITIVE = 0xC0


def _rule(
    code: AttrType,
    field: str,
    flags: int,
    element: Construct,
    convert: Callable[[Any], Any],
    fast: Callable[[bytes], Any] | None,
    *,
    repeated: bool = False,
    discard: bool = False,
) -> AttrRule:
    """The rule of one attribute from the structure of its value.

    A fixed-size ``element`` makes the length rule: the value is exactly one
    (or, ``repeated``, a non-empty list of) ``element``. An element without a
    fixed size (AS_PATH, MP_REACH_NLRI) is the value's whole structure and
    decides the length itself (``unit`` None).
    """
    try:
        unit: int | None = element.sizeof()
    except SizeofError:
        unit = None
    if unit is None:
        value = element
    else:
        value = _nonempty_list_of(element) if repeated else _exactly(element)
    return AttrRule(int(code), field, flags, discard, unit, repeated, value, convert, fast)


_Asn2Aggregator = Struct("asn" / Int16ub, "address" / Bytes(4))
_Asn4Aggregator = Struct("asn" / Int32ub, "address" / Bytes(4))
_LargeCommunity = Struct("global_admin" / Int32ub, "local1" / Int32ub, "local2" / Int32ub)


def _ints(container: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in container)


def _addresses(container: Any) -> tuple[str, ...]:
    return tuple(format_address(bytes(x)) for x in container)


def _octet_strings(container: Any) -> tuple[bytes, ...]:
    return tuple(bytes(x) for x in container)


def _large_communities(container: Any) -> tuple[tuple[int, int, int], ...]:
    return tuple((int(x.global_admin), int(x.local1), int(x.local2)) for x in container)


def _present(_: Any) -> bool:
    return True


def _as_parsed(container: Any) -> Any:
    return container


def _rules(four_octet_as: bool) -> dict[int, AttrRule]:
    as_path_value, width = (AsPath4, 4) if four_octet_as else (AsPath2, 2)
    aggregator = _Asn4Aggregator if four_octet_as else _Asn2Aggregator
    T, WK, OPT, OPT_T = AttrType, _WELL_KNOWN, _OPTIONAL, _OPTIONAL_TRANSITIVE
    rules = (
        #     type                    field                   flags  value            convert             fast
        _rule(T.ORIGIN,               "origin",               WK,    Int8ub,          _origin,            _fast_origin),
        _rule(T.AS_PATH,              "as_path",              WK,    as_path_value,   _segments,          _fast_as_path(width)),
        _rule(T.NEXT_HOP,             "next_hop",             WK,    Bytes(4),        format_address,     format_address),
        _rule(T.MED,                  "med",                  OPT,   Int32ub,         int,                _fast_u32),
        _rule(T.LOCAL_PREF,           "local_pref",           WK,    Int32ub,         int,                _fast_u32),
        _rule(T.ATOMIC_AGGREGATE,     "atomic_aggregate",     WK,    Bytes(0),        _present,           _present, discard=True),
        _rule(T.AGGREGATOR,           "aggregator",           OPT_T, aggregator,      _aggregator,        _fast_aggregator, discard=True),
        _rule(T.COMMUNITIES,          "communities",          OPT_T, Int32ub,         _ints,              _fast_u32s, repeated=True),
        _rule(T.ORIGINATOR_ID,        "originator_id",        OPT,   Bytes(4),        format_address,     format_address),
        _rule(T.CLUSTER_LIST,         "cluster_list",         OPT,   Bytes(4),        _addresses,         _fast_addresses, repeated=True),
        _rule(T.MP_REACH_NLRI,        "",                     OPT,   MpReachValue,    _as_parsed,         None),
        _rule(T.MP_UNREACH_NLRI,      "",                     OPT,   MpUnreachValue,  _as_parsed,         None),
        _rule(T.EXTENDED_COMMUNITIES, "extended_communities", OPT_T, Bytes(8),        _octet_strings,     _fast_octets8, repeated=True),
        _rule(T.AS4_PATH,             "as4_path",             OPT_T, AsPath4,         _segments,          _fast_as_path(4), discard=True),
        _rule(T.AS4_AGGREGATOR,       "as4_aggregator",       OPT_T, _Asn4Aggregator, _aggregator,        _fast_aggregator, discard=True),
        _rule(T.LARGE_COMMUNITY,      "large_communities",    OPT_T, _LargeCommunity, _large_communities, _fast_large, repeated=True),
        _rule(T.OTC,                  "otc",                  OPT_T, Int32ub,         int,                _fast_u32),
    )  # fmt: skip
    return {r.code: r for r in rules}


#: The attribute rules by type code, for 2-byte (False) and 4-byte (True) AS
#: sessions (AS_PATH and AGGREGATOR differ). A type without a rule is kept
#: as ``RawAttribute``.
ATTRIBUTES: dict[bool, dict[int, AttrRule]] = {False: _rules(False), True: _rules(True)}

# The value structures under their own names (the test builders build with them).
_R2, _R4 = ATTRIBUTES[False], ATTRIBUTES[True]
OriginValue = _R4[AttrType.ORIGIN].value
Ipv4Value = _R4[AttrType.NEXT_HOP].value
Uint32Value = _R4[AttrType.MED].value
AtomicAggregateValue = _R4[AttrType.ATOMIC_AGGREGATE].value
Aggregator2Value = _R2[AttrType.AGGREGATOR].value
Aggregator4Value = _R4[AttrType.AGGREGATOR].value
CommunitiesValue = _R4[AttrType.COMMUNITIES].value
ClusterListValue = _R4[AttrType.CLUSTER_LIST].value
ExtendedCommunitiesValue = _R4[AttrType.EXTENDED_COMMUNITIES].value
LargeCommunitiesValue = _R4[AttrType.LARGE_COMMUNITY].value

#: Position of each ``PathAttributes`` field, for building one positionally.
FIELD_INDEX: dict[str, int] = {f.name: i for i, f in enumerate(fields(PathAttributes))}


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------


def mp_next_hop(nh: bytes, safi: int) -> tuple[str, ...] | None:
    """The MP_REACH_NLRI next hop as text: global, then link-local if present.

    SAFI 128 (VPN): 12, 24 or 48 bytes, (RD + address) once or twice, the
    RDs stripped; other SAFIs: 4, 16 or 32 bytes (IPv6 global + link-local),
    for any AFI (RFC 8950). None for any other length."""
    n = len(nh)
    if safi == 128:
        if n == 12:
            return (format_address(nh[8:12]),)
        if n == 24:
            return (format_address(nh[8:24]),)
        if n == 48:
            return (format_address(nh[8:24]), format_address(nh[32:48]))
        return None
    if n == 4 or n == 16:
        return (format_address(nh),)
    if n == 32:
        return (format_address(nh[:16]), format_address(nh[16:]))
    return None


def end_of_rib(
    withdrawn: bytes, nlri: bytes, attributes: bytes, sole_unreach: tuple[int, int, bytes] | None
) -> tuple[int, int] | None:
    """RFC 4724 §2: the family an UPDATE marks the End-of-RIB of, or None.

    An UPDATE without withdrawn routes, attributes and NLRI is IPv4 unicast's;
    one whose only attribute is an MP_UNREACH_NLRI (``sole_unreach``: its
    afi, safi and NLRI) with no NLRI is that family's."""
    if withdrawn or nlri:
        return None
    if not attributes:
        return (1, 1)
    if sole_unreach is not None and not sole_unreach[2]:
        return (sole_unreach[0], sole_unreach[1])
    return None


def host_bits_set(bits: int, octets: bytes) -> bool:
    """Whether a prefix of ``bits`` has bits set beyond its length."""
    return bool(octets) and bool(HOST_MASK[bits & 0xFF] & octets[-1])
