"""The hand-written fast path for Route Monitoring.

Route Monitoring is nearly all of a BMP stream, so it gets a decoder built
from ``struct`` and ``bytes`` slices. It handles the common case only:
IPv4/IPv6 unicast and multicast NLRI, with or without path IDs, and the
attributes real tables carry. Everything else (other SAFIs, unknown or odd
attributes, any error) falls back to the construct specification in
``parsers.bgp.decode`` / ``parsers.bmp.decode``, so the two paths give equal
results on every input (``tests/parsers/test_fast_equivalence.py``).

Decoded attribute sets are interned by their raw bytes: a full table has a
few hundred thousand distinct sets among a million routes, and each decodes
once.
"""

from __future__ import annotations

from struct import Struct, unpack, unpack_from

from ..afi import format_address
from ..bgp.attributes import Aggregator, AsPathSegment, PathAttributes
from ..bgp.messages import Update
from ..bgp.nlri import NlriSet
from . import decode as spec
from .context import DecodeContext, PeerKey
from .messages import PerPeerHeader, RouteMonitoring

_PEER = Struct("!BB8s16sI4sII")
_U16 = Struct("!H")
_TIMESTAMP = Struct("!II")
_U32 = Struct("!I")
_MARKER = b"\xff" * 16
_V4_MAPPED_PAD = bytes(12)


class _Fallback(Exception):
    """The fast path cannot decode this message; the spec path will."""


# ---------------------------------------------------------------- per-peer header

#: Per-peer header bytes -> (header, peer key, view, 4-byte AS paths?).
_HeaderEntry = tuple[PerPeerHeader, PeerKey, str, bool]
_HEADER_CACHE: dict[bytes, _HeaderEntry] = {}
#: The same without the timestamp (the last 8 bytes): FRR and GoBGP stamp each
#: route with its own age, so whole headers rarely repeat in a table dump.
_PEER_CACHE: dict[bytes, _HeaderEntry] = {}
_HEADER_CACHE_MAX = 4096


def _peer_header(raw: bytes) -> _HeaderEntry:
    entry = _HEADER_CACHE.get(raw)
    if entry is not None:
        return entry
    stem = raw[:34]
    base = _PEER_CACHE.get(stem)
    if base is None:
        ptype, flags, rd, addr, asn, bgp_id, sec, usec = _PEER.unpack(raw)
        if ptype > 3:
            raise _Fallback  # unknown peer type: the spec path counts the quirk
        # IPv4 peers (V clear) and Loc-RIB (RFC 9069: zero) sit in the last 4 bytes
        address = format_address(addr) if ptype != 3 and flags & 0x80 else format_address(addr[12:])
        hdr = PerPeerHeader(ptype, flags, rd, address, asn, format_address(bgp_id), sec, usec)
        base = (hdr, hdr.key, hdr.view, not hdr.legacy_as_path)
        if len(_PEER_CACHE) >= _HEADER_CACHE_MAX:
            _PEER_CACHE.clear()
        _PEER_CACHE[stem] = base
    else:
        old = base[0]
        sec, usec = _TIMESTAMP.unpack_from(raw, 34)
        hdr = PerPeerHeader(
            old.peer_type, old.flags, old.distinguisher, old.address, old.asn, old.bgp_id, sec, usec
        )
        base = (hdr, base[1], base[2], base[3])
    if len(_HEADER_CACHE) >= _HEADER_CACHE_MAX:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[raw] = base
    return base


# ---------------------------------------------------------------- NLRI

_MAX_BITS = {1: 32, 2: 128}
_TOO_LONG = 1 << 30


def _sizes(maxbits: int) -> tuple[int, ...]:
    """Per length octet: the size of length octet + prefix, or an overrun for
    lengths past the family's maximum (so one bounds check catches both)."""
    return tuple(1 + ((b + 7) >> 3) if b <= maxbits else _TOO_LONG for b in range(256))


_SIZES = {1: _sizes(32), 2: _sizes(128)}
#: Per length octet: the mask of the host bits in the last prefix octet.
_HOST_MASK = tuple((0xFF >> (b & 7)) if b & 7 else 0 for b in range(256))


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
    host = _HOST_MASK
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
    if afi not in _MAX_BITS or safi not in (1, 2):
        raise _Fallback
    return parse_prefixes(blob, afi, add_path)[2]


# ---------------------------------------------------------------- attributes

#: Flags the fast path accepts per attribute type (without the extended-length
#: bit 0x10, which is always allowed). Anything else goes to the spec path.
_FLAGS = {
    1: 0x40,  # ORIGIN: well-known transitive
    2: 0x40,  # AS_PATH
    3: 0x40,  # NEXT_HOP
    4: 0x80,  # MED: optional non-transitive
    5: 0x40,  # LOCAL_PREF
    6: 0x40,  # ATOMIC_AGGREGATE
    7: 0xC0,  # AGGREGATOR: optional transitive
    8: 0xC0,  # COMMUNITIES
    9: 0x80,  # ORIGINATOR_ID
    10: 0x80,  # CLUSTER_LIST
    14: 0x80,  # MP_REACH_NLRI
    15: 0x80,  # MP_UNREACH_NLRI
    16: 0xC0,  # EXTENDED_COMMUNITIES
    32: 0xC0,  # LARGE_COMMUNITY
}

#: The same as a 256-entry table (-1: not handled here), for the walk.
_FLAG_TABLE = tuple(_FLAGS.get(t, -1) for t in range(256))

_AttrCache = dict[bytes, PathAttributes]
#: Blocks without MP attributes, by their raw bytes; per AS width.
_ATTR_CACHE: tuple[_AttrCache, _AttrCache] = ({}, {})
#: Blocks with MP attributes: the other attributes' bytes + the MP next hop.
#: A separate dict, so a raw block can never alias such a key.
_MpAttrCache = dict[tuple[bytes, bytes | None], PathAttributes]
_MP_ATTR_CACHE: tuple[_MpAttrCache, _MpAttrCache] = ({}, {})
_ATTR_CACHE_MAX = 1 << 20


def _as_path(value: bytes, four: bool) -> tuple[AsPathSegment, ...]:
    width = 4 if four else 2
    segs = []
    i = 0
    n = len(value)
    while i < n:
        if i + 2 > n:
            raise _Fallback
        stype = value[i]
        count = value[i + 1]
        j = i + 2 + count * width
        if stype not in (1, 2, 3, 4) or count == 0 or j > n:
            raise _Fallback
        fmt = f"!{count}I" if four else f"!{count}H"
        segs.append(AsPathSegment(stype, unpack_from(fmt, value, i + 2)))
        i = j
    return tuple(segs)


def _decode_attributes(
    parts: list[tuple[int, bytes]], nexthop: bytes | None, four: bool
) -> PathAttributes:
    """Decode the common attributes; anything unusual raises _Fallback."""
    origin = as_path = next_hop = med = local_pref = aggregator = originator = None
    atomic = False
    communities: tuple[int, ...] = ()
    cluster: tuple[str, ...] = ()
    ext: tuple[bytes, ...] = ()
    large: tuple[tuple[int, int, int], ...] = ()
    for atype, value in parts:
        n = len(value)
        if atype == 1:
            if n != 1 or value[0] > 2:
                raise _Fallback
            origin = value[0]
        elif atype == 2:
            as_path = _as_path(value, four)
        elif atype == 3:
            if n != 4:
                raise _Fallback
            next_hop = format_address(value)
        elif atype == 4:
            if n != 4:
                raise _Fallback
            med = _U32.unpack(value)[0]
        elif atype == 5:
            if n != 4:
                raise _Fallback
            local_pref = _U32.unpack(value)[0]
        elif atype == 6:
            if n:
                raise _Fallback
            atomic = True
        elif atype == 7:
            if n != (8 if four else 6):
                raise _Fallback
            aggregator = Aggregator(int.from_bytes(value[:-4], "big"), format_address(value[-4:]))
        elif atype == 8:
            if n % 4 or not n:
                raise _Fallback
            communities = unpack(f"!{n // 4}I", value)
        elif atype == 9:
            if n != 4:
                raise _Fallback
            originator = format_address(value)
        elif atype == 10:
            if n % 4 or not n:
                raise _Fallback
            cluster = tuple(format_address(value[k : k + 4]) for k in range(0, n, 4))
        elif atype == 16:
            if n % 8 or not n:
                raise _Fallback
            ext = tuple(value[k : k + 8] for k in range(0, n, 8))
        elif atype == 32:
            if n % 12 or not n:
                raise _Fallback
            flat = unpack(f"!{n // 4}I", value)
            large = tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))
        else:
            raise _Fallback
    mp_next_hop: tuple[str, ...] = ()
    if nexthop is not None:
        if len(nexthop) == 4 or len(nexthop) == 16:
            mp_next_hop = (format_address(nexthop),)
        elif len(nexthop) == 32:
            mp_next_hop = (format_address(nexthop[:16]), format_address(nexthop[16:]))
        else:
            raise _Fallback
    return PathAttributes(
        origin,
        as_path,
        next_hop,
        med,
        local_pref,
        atomic,
        aggregator,
        communities,
        originator,
        cluster,
        ext,
        None,
        None,
        large,
        None,
        mp_next_hop,
    )


# ---------------------------------------------------------------- UPDATE


def decode_update_body(
    data: bytes, start: int, four: bool, ctx: DecodeContext, peer_key: PeerKey, view: str
) -> Update:
    """Decode the UPDATE whose 19-byte header starts at ``start`` and whose
    body runs to the end of ``data``."""
    end = len(data)
    p = start + 19
    if p + 4 > end:
        raise _Fallback
    wlen = (data[p] << 8) | data[p + 1]
    p += 2
    withdrawn_blob = data[p : p + wlen]
    p += wlen
    if p + 2 > end:
        raise _Fallback
    alen = (data[p] << 8) | data[p + 1]
    p += 2
    attr_end = p + alen
    if attr_end > end:
        raise _Fallback
    nlri_blob = data[attr_end:end]
    block = data[p:attr_end]

    # A block seen before without MP attributes needs no walk at all.
    attributes: PathAttributes | None = _ATTR_CACHE[four].get(block)
    reach: tuple[int, int, bytes, bytes] | None = None
    unreach: tuple[int, int, bytes] | None = None
    parts: list[tuple[int, bytes]] = []
    seen = 0
    plain_start = p
    plain_chunks: list[bytes] = []
    if attributes is not None:
        p = attr_end
    # Walk the attributes: find MP_REACH/MP_UNREACH, collect the rest.
    flag_table = _FLAG_TABLE
    while p < attr_end:
        if p + 3 > attr_end:
            raise _Fallback
        flags = data[p]
        atype = data[p + 1]
        if flags & 0x10:
            if p + 4 > attr_end:
                raise _Fallback
            alen1 = (data[p + 2] << 8) | data[p + 3]
            vstart = p + 4
        else:
            alen1 = data[p + 2]
            vstart = p + 3
        vend = vstart + alen1
        if vend > attr_end or flags & 0xEF != flag_table[atype] or seen >> atype & 1:
            raise _Fallback
        seen |= 1 << atype
        if atype == 14:
            if alen1 < 5:
                raise _Fallback
            afi = (data[vstart] << 8) | data[vstart + 1]
            safi = data[vstart + 2]
            nhlen = data[vstart + 3]
            nh_end = vstart + 4 + nhlen
            if nh_end + 1 > vend or data[nh_end] != 0:
                raise _Fallback
            reach = (afi, safi, data[vstart + 4 : nh_end], data[nh_end + 1 : vend])
            plain_chunks.append(data[plain_start:p])
            plain_start = vend
        elif atype == 15:
            if alen1 < 3:
                raise _Fallback
            afi = (data[vstart] << 8) | data[vstart + 1]
            unreach = (afi, data[vstart + 2], data[vstart + 3 : vend])
            plain_chunks.append(data[plain_start:p])
            plain_start = vend
        else:
            parts.append((atype, data[vstart:vend]))
        p = vend
    eor = unreach is not None and seen == 1 << 15 and not unreach[2]
    if eor and unreach is not None and not withdrawn_blob and not nlri_blob:
        # End-of-RIB for a multiprotocol family (RFC 4724 §2)
        return Update(end_of_rib=(unreach[0], unreach[1]))
    if not alen and not withdrawn_blob and not nlri_blob:
        return Update(end_of_rib=(1, 1))

    # Attribute set, interned by its raw bytes (MP NLRI cut out).
    if attributes is None and (parts or reach is not None):
        cache, key = _ATTR_CACHE[four], block
        if reach is not None or unreach is not None:
            plain_chunks.append(data[plain_start:attr_end])
            mp_cache = _MP_ATTR_CACHE[four]
            mp_key = (b"".join(plain_chunks), reach[2] if reach is not None else None)
            attributes = mp_cache.get(mp_key)
            if attributes is None:
                attributes = _decode_attributes(parts, mp_key[1], four)
                if len(mp_cache) >= _ATTR_CACHE_MAX:
                    mp_cache.clear()
                mp_cache[mp_key] = attributes
        if attributes is None:
            attributes = _decode_attributes(parts, None, four)
            if len(cache) >= _ATTR_CACHE_MAX:
                cache.clear()
            cache[key] = attributes

    # NLRI: the ADD-PATH decision is taken once per family, over all its blobs.
    if reach is not None and (reach[0] not in _MAX_BITS or reach[1] not in (1, 2)):
        raise _Fallback
    if unreach is not None and (unreach[0] not in _MAX_BITS or unreach[1] not in (1, 2)):
        raise _Fallback
    # (afi, safi, blob, announced?) in output order: classic first, then MP.
    items: list[tuple[int, int, bytes, bool]] = []
    if withdrawn_blob:
        items.append((1, 1, withdrawn_blob, False))
    if unreach is not None and unreach[2]:
        items.append((unreach[0], unreach[1], unreach[2], False))
    if nlri_blob:
        items.append((1, 1, nlri_blob, True))
    if reach is not None and reach[3]:
        items.append((reach[0], reach[1], reach[3], True))
    parsed = _parse_items(items, ctx, peer_key, view)

    withdrawn: list[NlriSet] = []
    announced: list[NlriSet] = []
    for (afi, safi, _, is_announce), (keys, pids, _) in zip(items, parsed, strict=True):
        if not keys:
            raise _Fallback  # malformed: the spec path raises the right error
        (announced if is_announce else withdrawn).append(NlriSet(afi, safi, keys, pids))
    return Update(tuple(withdrawn), tuple(announced), attributes, None)


_Parsed = tuple[tuple[bytes, ...], tuple[int, ...] | None, int]


def _parse_items(
    items: list[tuple[int, int, bytes, bool]], ctx: DecodeContext, peer_key: PeerKey, view: str
) -> list[_Parsed]:
    """Parse every NLRI blob, taking the ADD-PATH decision once per family
    over all of its blobs, exactly as ``DecodeContext.resolve_add_path`` does."""
    epoch = ctx.epochs.get(peer_key, 0)
    if len(items) == 1:
        # The common case: one family, a confirmed segment, a clean blob.
        afi, safi, blob, _ = items[0]
        seg = (peer_key, epoch, view, afi, safi)
        mode = ctx.add_path_mode.get(seg)
        if mode is not None and seg in ctx.confirmed:
            result = parse_prefixes(blob, afi, mode)
            if result[2] == 2:
                return [result]
    out: list[_Parsed | None] = [None] * len(items)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault((item[0], item[1]), []).append(index)
    for (afi, safi), indexes in groups.items():
        seg = (peer_key, epoch, view, afi, safi)
        mode = ctx.add_path_mode.get(seg)
        if mode is not None and seg in ctx.confirmed:
            # The common case: a confirmed segment and clean blobs; parse once.
            results = [parse_prefixes(items[i][2], afi, mode) for i in indexes]
            if all(r[2] == 2 for r in results):
                for i, r in zip(indexes, results, strict=True):
                    out[i] = r
                continue
        blobs = tuple(items[i][2] for i in indexes)
        mode = ctx.resolve_add_path(peer_key, view, afi, safi, blobs, prefix_score)
        for i in indexes:
            out[i] = parse_prefixes(items[i][2], afi, mode)
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------- Route Monitoring


def decode_route_monitoring(data: bytes, ctx: DecodeContext) -> RouteMonitoring:
    """Decode one whole Route Monitoring message (common header included)."""
    try:
        return _decode(data, ctx)
    except _Fallback:
        pass
    msg = spec.decode_bmp_message(data, ctx)
    assert isinstance(msg, RouteMonitoring)
    return msg


def _decode(data: bytes, ctx: DecodeContext) -> RouteMonitoring:
    n = len(data)
    if n < 48 + 23 or data[0] != 3 or int.from_bytes(data[1:5], "big") != n:
        raise _Fallback
    peer, key, view, four = _peer_header(data[6:48])
    if data[48:64] != _MARKER or data[66] != 2 or (data[64] << 8 | data[65]) != n - 48:
        raise _Fallback
    known = key in ctx.caps
    if not (data[67] or data[68]):
        # The hottest case, inlined: IPv4 announcements only, an attribute
        # set seen before, a confirmed ADD-PATH segment and a clean NLRI blob.
        attr_end = 71 + (data[69] << 8 | data[70])
        if attr_end < n:
            attributes = _ATTR_CACHE[four].get(data[71:attr_end])
            if attributes is not None:
                seg = (key, ctx.epochs.get(key, 0), view, 1, 1)
                if seg in ctx.confirmed:
                    keys, pids, score = parse_prefixes(data[attr_end:], 1, ctx.add_path_mode[seg])
                    if score == 2:
                        if not known:
                            ctx.quirks["route_monitoring_without_peer_up"] += 1
                        nlri = NlriSet(1, 1, keys, pids)
                        return RouteMonitoring(peer, Update((), (nlri,), attributes, None))
    update = decode_update_body(data, 48, four, ctx, key, view)
    if not known:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    return RouteMonitoring(peer, update)
