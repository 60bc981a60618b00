"""The hand-written fast path for UPDATE: ``struct`` and ``bytes`` slices.

It handles the common case only: IPv4/IPv6 unicast and multicast NLRI, with
or without path IDs, and attributes that follow the rules of
``wire.ATTRIBUTES`` with exactly the rules' flags. It reads the same rule
table and helpers as the construct decoder (``decode.py``); anything else
raises ``wire.Fallback`` and the caller hands the message to ``decode.py``,
so both paths give equal results (``tests/parsers/test_fast_equivalence.py``).

Decoded attribute sets are interned by their raw bytes: a full table has a
few hundred thousand distinct sets among a million routes, and each decodes
once.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

from .attributes import AttrType, PathAttributes
from .wire import (
    ATTRIBUTES,
    FIELD_INDEX,
    HOST_MASK,
    MAX_PREFIX_BITS,
    Fallback,
    end_of_rib,
    mp_next_hop,
)

_U32 = Struct("!I")
_TOO_LONG = 1 << 30

# ---------------------------------------------------------------- NLRI


def _sizes(maxbits: int) -> tuple[int, ...]:
    """Per length octet: the size of length octet + prefix, or an overrun for
    lengths past the family's maximum (so one bounds check catches both)."""
    return tuple(1 + ((b + 7) >> 3) if b <= maxbits else _TOO_LONG for b in range(256))


_SIZES = {afi: _sizes(bits) for afi, bits in MAX_PREFIX_BITS.items()}
#: The SAFIs whose NLRI the fast path splits (unicast, multicast).
PREFIX_SAFIS = (1, 2)


def parse_prefixes(
    blob: bytes, afi: int, add_path: bool
) -> tuple[tuple[bytes, ...], tuple[int, ...] | None, int]:
    """Split an IPv4/IPv6 prefix list into wire keys.

    Returns (keys, path IDs or None, score) where score follows
    ``parsers.bmp.context.Validator``: 0 when the blob does not parse cleanly
    (overrun, prefix too long, host bits set), 1 when a path ID is >= 2**24,
    2 when clean. Keys are empty when the score is 0 for an overrun.
    """
    sizes = _SIZES[afi]
    host = HOST_MASK
    n = len(blob)
    i = 0
    score = 2
    keys: list[bytes] = []
    if not add_path:
        append = keys.append
        while i < n:
            bits = blob[i]
            j = i + sizes[bits]
            if j > n:
                return (), None, 0
            if host[bits] & blob[j - 1]:
                score = 0
            append(blob[i:j])
            i = j
        return tuple(keys), None, score
    pids: list[int] = []
    while i < n:
        if i + 5 > n:
            return (), None, 0
        pid = _U32.unpack_from(blob, i)[0]
        if pid >> 24 and score:
            score = 1
        bits = blob[i + 4]
        j = i + 4 + sizes[bits]
        if j > n:
            return (), None, 0
        if host[bits] & blob[j - 1]:
            score = 0
        keys.append(blob[i + 4 : j])
        pids.append(pid)
        i = j
    return tuple(keys), tuple(pids), score


def prefix_score(blob: bytes, afi: int, safi: int, add_path: bool) -> int:
    """``parsers.bmp.context.Validator`` for unicast/multicast NLRI."""
    if afi not in MAX_PREFIX_BITS or safi not in PREFIX_SAFIS:
        raise Fallback
    return parse_prefixes(blob, afi, add_path)[2]


# ---------------------------------------------------------------- attributes

_MP_REACH = int(AttrType.MP_REACH_NLRI)
_MP_UNREACH = int(AttrType.MP_UNREACH_NLRI)

#: Per type code: the flags the walk accepts (extended length aside; -1: not
#: handled here), from the rule table.
_FLAG_TABLE = tuple(
    r.flags if r is not None and (r.fast is not None or t in (_MP_REACH, _MP_UNREACH)) else -1
    for t, r in ((t, ATTRIBUTES[True].get(t)) for t in range(256))
)

#: Per AS width and type code: (field index, unit, repeated, decoder) of the
#: rule, or None when the fast path leaves the type to the construct decoder.
_FastRule = tuple[int, int, bool, Callable[[bytes], object]]


def _fast_rules(four: bool) -> tuple[_FastRule | None, ...]:
    out: list[_FastRule | None] = [None] * 256
    for code, rule in ATTRIBUTES[four].items():
        if rule.fast is not None:
            unit = -1 if rule.unit is None else rule.unit
            out[code] = (FIELD_INDEX[rule.field], unit, rule.repeated, rule.fast)
    return tuple(out)


_FAST_RULES = (_fast_rules(False), _fast_rules(True))
_EMPTY = [getattr(PathAttributes(), name) for name in FIELD_INDEX]
_MP_NEXT_HOP = FIELD_INDEX["mp_next_hop"]

_AttrCache = dict[bytes, PathAttributes]
#: Blocks without MP attributes, by their raw bytes; per AS width.
ATTR_CACHE: tuple[_AttrCache, _AttrCache] = ({}, {})
#: Blocks with MP attributes: the other attributes' bytes + the MP next hop.
#: A separate dict, so a raw block can never alias such a key.
_MpAttrCache = dict[tuple[bytes, bytes | None], PathAttributes]
MP_ATTR_CACHE: tuple[_MpAttrCache, _MpAttrCache] = ({}, {})
_ATTR_CACHE_MAX = 1 << 20

#: Decoded attribute values by the attribute's raw bytes (flags, type, length
#: and value: the type is part of the key); per AS width. A new attribute set
#: mostly repeats the values of sets seen before (the pre- and post-policy
#: copies of a set, the same path from another peer differ in one attribute),
#: so most of its attributes are a lookup; the values are immutable and
#: shared by the sets that hold them.
_ValueCache = dict[bytes, object]
VALUE_CACHE: tuple[_ValueCache, _ValueCache] = ({}, {})
_VALUE_CACHE_MAX = 1 << 16
#: MP_REACH next hops as text, by their bytes.
_NEXT_HOPS: dict[bytes, tuple[str, ...]] = {}

_Setter = Callable[[object, object], None]


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...]:
    """The ``__set__`` of each named slot of ``cls``: a frozen slotted
    dataclass's fields set without its ``__init__`` (whose frozen
    ``object.__setattr__`` per field costs more than the decode around it)."""
    return tuple(getattr(cls, name).__set__ for name in names)


#: One setter per ``PathAttributes`` field, in field order.
_SETTERS = slot_setters(PathAttributes, tuple(FIELD_INDEX))
_new_object: Callable[[type], object] = object.__new__


def build_attributes(values: list[object]) -> PathAttributes:
    """``PathAttributes(*values)`` (equal, same type) at about half the cost
    of the frozen dataclass's ``__init__``: its fields set straight through
    the slots (a new set is decoded for about every other message of a table
    dump)."""
    obj = _new_object(PathAttributes)
    for setter, value in zip(_SETTERS, values, strict=True):
        setter(obj, value)
    return obj  # type: ignore[return-value]


def clear_caches() -> None:
    """Forget every interned attribute set (benchmarks start cold with it)."""
    for cache in (*ATTR_CACHE, *MP_ATTR_CACHE, *VALUE_CACHE):
        cache.clear()
    _NEXT_HOPS.clear()


#: One attribute of a block: (type code, raw bytes from the flags on,
#: header size: 3, or 4 with the extended length bit).
AttrPart = tuple[int, bytes, int]


def attributes_from_parts(
    parts: list[AttrPart], nexthop: bytes | None, four: bool
) -> PathAttributes:
    """Decode attributes by the rule table; anything the table's fast
    decoders do not take raises ``Fallback``."""
    rules = _FAST_RULES[four]
    cache = VALUE_CACHE[four]
    values = _EMPTY.copy()
    for atype, raw, head in parts:
        rule = rules[atype]
        if rule is None:
            raise Fallback
        slot, unit, repeated, decode = rule
        got = cache.get(raw)
        if got is None:
            value = raw[head:]
            if unit >= 0:
                n = len(value)
                if (not n or n % unit) if repeated else n != unit:
                    raise Fallback
            got = decode(value)
            if len(cache) >= _VALUE_CACHE_MAX:
                cache.clear()
            cache[raw] = got
        values[slot] = got
    if nexthop is not None:
        hops = _NEXT_HOPS.get(nexthop)
        if hops is None:
            hops = mp_next_hop(nexthop, 1)
            if hops is None:
                raise Fallback
            if len(_NEXT_HOPS) >= _VALUE_CACHE_MAX:
                _NEXT_HOPS.clear()
            _NEXT_HOPS[nexthop] = hops
        values[_MP_NEXT_HOP] = hops
    return build_attributes(values)


#: What ``split_update`` returns: withdrawn blob, NLRI blob, attributes (None
#: when there are none), MP_REACH (afi, safi, next hop, NLRI) or None,
#: MP_UNREACH (afi, safi, NLRI) or None, End-of-RIB family or None.
UpdateParts = tuple[
    bytes,
    bytes,
    PathAttributes | None,
    tuple[int, int, bytes, bytes] | None,
    tuple[int, int, bytes] | None,
    tuple[int, int] | None,
]


def split_update(data: bytes, start: int, four: bool) -> UpdateParts:
    """Split the UPDATE whose 19-byte header starts at ``start`` and whose
    body runs to the end of ``data``; decode (or look up) its attributes."""
    end = len(data)
    p = start + 19
    if p + 4 > end:
        raise Fallback
    wlen = (data[p] << 8) | data[p + 1]
    p += 2
    withdrawn_blob = data[p : p + wlen]
    p += wlen
    if p + 2 > end:
        raise Fallback
    alen = (data[p] << 8) | data[p + 1]
    p += 2
    attr_end = p + alen
    if attr_end > end:
        raise Fallback
    nlri_blob = data[attr_end:end]
    block = data[p:attr_end]

    # A block seen before without MP attributes needs no walk at all.
    attributes: PathAttributes | None = ATTR_CACHE[four].get(block)
    reach: tuple[int, int, bytes, bytes] | None = None
    unreach: tuple[int, int, bytes] | None = None
    parts: list[AttrPart] = []
    seen = 0
    plain_start = p
    plain_chunks: list[bytes] = []
    if attributes is not None:
        p = attr_end
    # Walk the attributes: find MP_REACH/MP_UNREACH, collect the rest.
    flag_table = _FLAG_TABLE
    while p < attr_end:
        if p + 3 > attr_end:
            raise Fallback
        flags = data[p]
        atype = data[p + 1]
        if flags & 0x10:
            if p + 4 > attr_end:
                raise Fallback
            alen1 = (data[p + 2] << 8) | data[p + 3]
            vstart = p + 4
        else:
            alen1 = data[p + 2]
            vstart = p + 3
        vend = vstart + alen1
        if vend > attr_end or flags & 0xEF != flag_table[atype] or seen >> atype & 1:
            raise Fallback
        seen |= 1 << atype
        if atype == _MP_REACH:
            if alen1 < 5:
                raise Fallback
            afi = (data[vstart] << 8) | data[vstart + 1]
            safi = data[vstart + 2]
            nhlen = data[vstart + 3]
            nh_end = vstart + 4 + nhlen
            if nh_end + 1 > vend or data[nh_end] != 0:
                raise Fallback
            reach = (afi, safi, data[vstart + 4 : nh_end], data[nh_end + 1 : vend])
            plain_chunks.append(data[plain_start:p])
            plain_start = vend
        elif atype == _MP_UNREACH:
            if alen1 < 3:
                raise Fallback
            afi = (data[vstart] << 8) | data[vstart + 1]
            unreach = (afi, data[vstart + 2], data[vstart + 3 : vend])
            plain_chunks.append(data[plain_start:p])
            plain_start = vend
        else:
            parts.append((atype, data[p:vend], vstart - p))
        p = vend
    eor = end_of_rib(
        withdrawn_blob, nlri_blob, block, unreach if seen == 1 << _MP_UNREACH else None
    )
    if eor is not None:
        return withdrawn_blob, nlri_blob, None, None, unreach, eor

    # Attribute set, interned by its raw bytes (MP NLRI cut out).
    if attributes is None and (parts or reach is not None):
        cache, key = ATTR_CACHE[four], block
        if reach is not None or unreach is not None:
            plain_chunks.append(data[plain_start:attr_end])
            mp_cache = MP_ATTR_CACHE[four]
            mp_key = (b"".join(plain_chunks), reach[2] if reach is not None else None)
            attributes = mp_cache.get(mp_key)
            if attributes is None:
                attributes = attributes_from_parts(parts, mp_key[1], four)
                if len(mp_cache) >= _ATTR_CACHE_MAX:
                    mp_cache.clear()
                mp_cache[mp_key] = attributes
        if attributes is None:
            attributes = attributes_from_parts(parts, None, four)
            if len(cache) >= _ATTR_CACHE_MAX:
                cache.clear()
            cache[key] = attributes
    return withdrawn_blob, nlri_blob, attributes, reach, unreach, None
