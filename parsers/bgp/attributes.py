"""Path attributes (RFC 4271 §5 and friends) as one frozen, hashable value.

A ``PathAttributes`` describes the attribute block of an UPDATE *without* its
MP_REACH/MP_UNREACH NLRI (those become ``NlriSet``s); the MP_REACH next hop is
kept in ``mp_next_hop``. Equal attribute blocks decode to equal values, and
the fast path interns them by their raw bytes, so a full table shares a few
thousand of these among a million routes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codes import CodeEnum, name_of


class AttrType(CodeEnum):
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MED = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8
    ORIGINATOR_ID = 9
    CLUSTER_LIST = 10
    MP_REACH_NLRI = 14
    MP_UNREACH_NLRI = 15
    EXTENDED_COMMUNITIES = 16
    AS4_PATH = 17
    AS4_AGGREGATOR = 18
    LARGE_COMMUNITY = 32
    OTC = 35


#: ``origin``, ``as_path``, ...: the ``AttrType`` names.
ATTR_NAMES = AttrType.names()

ORIGIN_NAMES = {0: "igp", 1: "egp", 2: "incomplete"}

# AS_PATH segment types (RFC 4271, RFC 5065)
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4
SEGMENT_NAMES = {1: "set", 2: "sequence", 3: "confed_sequence", 4: "confed_set"}

#: AS_TRANS (RFC 6793): a 2-byte stand-in for a 4-byte AS.
AS_TRANS = 23456


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    type: int
    asns: tuple[int, ...]

    @property
    def type_name(self) -> str:
        return name_of(SEGMENT_NAMES, self.type, "type")


@dataclass(frozen=True, slots=True)
class Aggregator:
    asn: int
    address: str


@dataclass(frozen=True, slots=True)
class RawAttribute:
    """An attribute this decoder does not interpret, kept with its flags."""

    flags: int
    type: int
    value: bytes


@dataclass(frozen=True, slots=True)
class PathAttributes:
    origin: int | None = None
    #: AS_PATH as on the wire, decoded with the session's AS width.
    as_path: tuple[AsPathSegment, ...] | None = None
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: Aggregator | None = None
    #: RFC 1997 communities as 32-bit integers.
    communities: tuple[int, ...] = ()
    originator_id: str | None = None
    cluster_list: tuple[str, ...] = ()
    #: RFC 4360 extended communities, 8 raw bytes each.
    extended_communities: tuple[bytes, ...] = ()
    as4_path: tuple[AsPathSegment, ...] | None = None
    as4_aggregator: Aggregator | None = None
    large_communities: tuple[tuple[int, int, int], ...] = ()
    otc: int | None = None
    #: Next hop(s) from MP_REACH_NLRI: global, then link-local when present.
    mp_next_hop: tuple[str, ...] = ()
    unknown: tuple[RawAttribute, ...] = ()
    #: RFC 7606 "attribute discard" notes: attributes dropped as malformed.
    discarded: tuple[str, ...] = ()

    @property
    def effective_as_path(self) -> tuple[AsPathSegment, ...] | None:
        """AS_PATH merged with AS4_PATH as RFC 6793 §4.2.3 says."""
        return merge_as4_path(self.as_path, self.as4_path)

    @property
    def effective_next_hop(self) -> str | None:
        if self.mp_next_hop:
            return self.mp_next_hop[0]
        return self.next_hop


def path_length(segments: tuple[AsPathSegment, ...] | None) -> int:
    """Path length for best-path selection: an AS_SET counts 1, confed segments 0."""
    if not segments:
        return 0
    total = 0
    for seg in segments:
        if seg.type == AS_SEQUENCE:
            total += len(seg.asns)
        elif seg.type == AS_SET:
            total += 1
    return total


def merge_as4_path(
    as_path: tuple[AsPathSegment, ...] | None, as4_path: tuple[AsPathSegment, ...] | None
) -> tuple[AsPathSegment, ...] | None:
    """RFC 6793 §4.2.3: keep the leading AS_PATH entries the AS4_PATH lacks.

    If AS_PATH is shorter than AS4_PATH, AS4_PATH is ignored. Confederation
    segments in AS4_PATH are ignored as the RFC says.
    """
    if as4_path is None or as_path is None:
        return as_path
    as4 = tuple(s for s in as4_path if s.type in (AS_SET, AS_SEQUENCE))
    n_as = path_length(as_path)
    n_as4 = path_length(as4)
    if n_as < n_as4:
        return as_path
    keep = n_as - n_as4
    head: list[AsPathSegment] = []
    for seg in as_path:
        if keep <= 0:
            break
        if seg.type == AS_SEQUENCE:
            take = seg.asns[:keep]
            head.append(AsPathSegment(AS_SEQUENCE, take))
            keep -= len(take)
        elif seg.type == AS_SET:
            head.append(seg)
            keep -= 1
        else:
            head.append(seg)
    return tuple(head) + as4


def format_community(value: int) -> str:
    return f"{value >> 16}:{value & 0xFFFF}"


EXT_COMMUNITY_SUBTYPES = {2: "rt", 3: "soo"}


def format_extended_community(raw: bytes) -> str:
    """RFC 4360 text form for the common kinds, hex otherwise."""
    if len(raw) != 8:
        return raw.hex()
    high, low = raw[0] & 0x3F, raw[1]
    name = EXT_COMMUNITY_SUBTYPES.get(low)
    if name is not None:
        if high == 0x00:  # two-octet AS specific
            return f"{name}:{int.from_bytes(raw[2:4], 'big')}:{int.from_bytes(raw[4:8], 'big')}"
        if high == 0x01:  # IPv4 address specific
            return f"{name}:{'.'.join(str(b) for b in raw[2:6])}:{int.from_bytes(raw[6:8], 'big')}"
        if high == 0x02:  # four-octet AS specific
            return f"{name}:{int.from_bytes(raw[2:6], 'big')}:{int.from_bytes(raw[6:8], 'big')}"
    return raw.hex()
