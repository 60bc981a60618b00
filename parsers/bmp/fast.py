"""The hand-written fast path for Route Monitoring.

Route Monitoring is nearly all of a BMP stream, so it gets a decoder built
from ``struct`` and ``bytes`` slices: the per-peer header (cached), then the
UPDATE through ``parsers.bgp.fast`` with the ADD-PATH decision of this
session's ``DecodeContext``. TLVs after a v3 UPDATE (``_with_trailing``) and
BMP v4 messages (``_decode_v4``: the UPDATE in a BGP PDU TLV) are handled
here too, with the TLV walk of ``_tlvs``. Whatever the fast path does not handle (other
SAFIs, unusual attributes, any error) raises ``Fallback`` and goes to the
construct decoder (``decode.py``), so both give equal results on every input
(``tests/parsers/test_fast_equivalence.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

from ..bgp.attributes import PathAttributes
from ..bgp.fast import (
    ATTR_CACHE,
    PREFIX_SAFIS,
    parse_prefixes,
    prefix_score,
    slot_setters,
    split_update,
)
from ..bgp.messages import Update
from ..bgp.nlri import NlriSet
from ..bgp.wire import MAX_PREFIX_BITS, Fallback
from . import decode as spec
from .context import DecodeContext, PeerKey
from .messages import (
    RM_TLV_BGP_PDU,
    TLV_E_BIT,
    BmpTlv,
    PerPeerHeader,
    RouteMonitoring,
    bad_markings,
)
from .wire import INFO_NAMES_KNOWN, RM_NAMES_KNOWN, per_peer_header

_PEER = Struct("!BB8s16sI4sII")
_TIMESTAMP = Struct("!II")
_TLV = Struct("!HH")
_U32 = Struct("!I")
_U16 = Struct("!H")
_MARKER = b"\xff" * 16

#: ``NlriSet``'s slot descriptors: one is made per message (see ``_nlri_set``).
_NLRI_AFI, _NLRI_SAFI, _NLRI_PREFIXES, _NLRI_PATH_IDS, _NLRI_LABELS = slot_setters(
    NlriSet, ("afi", "safi", "prefixes", "path_ids", "labels")
)
_new_object: Callable[[type], object] = object.__new__


def _nlri_set(
    afi: int, safi: int, keys: tuple[bytes, ...], pids: tuple[int, ...] | None
) -> NlriSet:
    """``NlriSet(afi, safi, keys, pids)`` (equal, same type) without the frozen
    dataclass's ``__init__``, which costs as much as the rest of a one-prefix
    message's decode: the slots are set directly."""
    obj = _new_object(NlriSet)
    _NLRI_AFI(obj, afi)
    _NLRI_SAFI(obj, safi)
    _NLRI_PREFIXES(obj, keys)
    _NLRI_PATH_IDS(obj, pids)
    _NLRI_LABELS(obj, None)
    return obj  # type: ignore[return-value]


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
        fields = _PEER.unpack(raw)
        if fields[0] > 3:
            raise Fallback  # unknown peer type: the spec path counts the quirk
        hdr = per_peer_header(*fields)
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


# ---------------------------------------------------------------- UPDATE


def decode_update_body(
    data: bytes, start: int, four: bool, ctx: DecodeContext, peer_key: PeerKey, view: str
) -> Update:
    """Decode the UPDATE whose 19-byte header starts at ``start`` and whose
    body runs to the end of ``data``."""
    withdrawn_blob, nlri_blob, attributes, reach, unreach, eor = split_update(data, start, four)
    if eor is not None:
        return Update(end_of_rib=eor)
    # NLRI: the ADD-PATH decision is taken once per family, over all its blobs.
    if reach is not None and (reach[0] not in MAX_PREFIX_BITS or reach[1] not in PREFIX_SAFIS):
        raise Fallback
    if unreach is not None and (
        unreach[0] not in MAX_PREFIX_BITS or unreach[1] not in PREFIX_SAFIS
    ):
        raise Fallback
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
            raise Fallback  # malformed: the spec path raises the right error
        (announced if is_announce else withdrawn).append(_nlri_set(afi, safi, keys, pids))
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
    except Fallback:
        pass
    msg = spec.decode_bmp_message(data, ctx)
    assert isinstance(msg, RouteMonitoring)
    return msg


def _hot_ipv4(
    data: bytes, n: int, ctx: DecodeContext, key: PeerKey, view: str, four: bool, known: bool
) -> tuple[NlriSet, PathAttributes] | None:
    """The hottest case of both decoders: IPv4 announcements only, an attribute
    set seen before, a confirmed ADD-PATH segment and a clean NLRI blob; None
    when the message is anything else."""
    if data[67] or data[68]:
        return None
    attr_end = 71 + (data[69] << 8 | data[70])
    if attr_end >= n:
        return None
    attributes = ATTR_CACHE[four].get(data[71:attr_end])
    if attributes is None:
        return None
    seg = (key, ctx.epochs.get(key, 0), view, 1, 1)
    if seg not in ctx.confirmed:
        return None
    keys, pids, score = parse_prefixes(data[attr_end:], 1, ctx.add_path_mode[seg])
    if score != 2:
        return None
    if not known:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    return _nlri_set(1, 1, keys, pids), attributes


def _decode(data: bytes, ctx: DecodeContext) -> RouteMonitoring:
    n = len(data)
    if n < 48 + 23 or data[0] != 3 or int.from_bytes(data[1:5], "big") != n:
        if n >= 48 + 29 and data[0] == 4 and int.from_bytes(data[1:5], "big") == n:
            return _decode_v4(data, ctx)
        raise Fallback
    peer, key, view, four = _peer_header(data[6:48])
    if data[48:64] != _MARKER or data[66] != 2:
        raise Fallback
    end = 48 + (data[64] << 8 | data[65])
    if end != n:
        if end > n or end < 48 + 23:
            raise Fallback
        return _with_trailing(data, end, ctx, peer, key, view, four)
    known = key in ctx.caps
    hot = _hot_ipv4(data, n, ctx, key, view, four, known)
    if hot is not None:
        return RouteMonitoring(peer, Update((), (hot[0],), hot[1], None))
    update = decode_update_body(data, 48, four, ctx, key, view)
    if not known:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    return RouteMonitoring(peer, update)


# ---------------------------------------------------------------- bytes after the UPDATE


def _with_trailing(
    data: bytes,
    end: int,
    ctx: DecodeContext,
    peer: PerPeerHeader,
    key: PeerKey,
    view: str,
    four: bool,
) -> RouteMonitoring:
    """A v3 Route Monitoring with bytes after its UPDATE (``data[end:]``):
    the UPDATE as usual, then the TLVs, as ``decode._route_monitoring``."""
    update = decode_update_body(data[:end], 48, four, ctx, key, view)
    if key not in ctx.caps:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    quirks = ctx.quirks
    tlvs = _tlvs(data, end, True)
    trailing = b""
    if tlvs is None:
        tlvs = _tlvs(data, end, False)
        if tlvs is None:
            tlvs = ()
            trailing = data[end:]
            quirks["trailing_bytes"] += 1
    if tlvs:
        quirks["trailing_tlv"] += 1
        _count_unknown(tlvs, ctx)
    return spec.with_tlvs(peer, update, tlvs, trailing)


def _count_unknown(tlvs: tuple[BmpTlv, ...], ctx: DecodeContext) -> None:
    """``decode.count_tlv_quirks``'s ``unknown_tlv`` and ``bad_path_marking``."""
    if not tlvs:
        return
    for t in tlvs:
        if t.pen is not None or t.type not in (
            RM_NAMES_KNOWN if t.index is not None else INFO_NAMES_KNOWN
        ):
            ctx.quirks["unknown_tlv"] += 1
    bad = bad_markings(tlvs)
    if bad:
        ctx.quirks["bad_path_marking"] += bad


def _decode_v4(data: bytes, ctx: DecodeContext) -> RouteMonitoring:
    """BMP v4 Route Monitoring (``decode._route_monitoring_v4``): indexed TLVs
    after the per-peer header, exactly one of them the BGP PDU."""
    if data[48:64] == _MARKER:
        raise Fallback  # the UPDATE outside a TLV: the spec counts the quirk
    peer, key, view, four = _peer_header(data[6:48])
    every = _tlvs(data, 48, True)
    if every is None:
        raise Fallback
    pdu: BmpTlv | None = None
    for t in every:
        if t.type == RM_TLV_BGP_PDU and t.pen is None:
            if pdu is not None:
                raise Fallback
            pdu = t
    if pdu is None:
        raise Fallback
    raw = pdu.value
    n = len(raw)
    if n < 23 or raw[:16] != _MARKER or raw[18] != 2 or (raw[16] << 8 | raw[17]) != n:
        raise Fallback
    update = decode_update_body(raw, 0, four, ctx, key, view)
    if key not in ctx.caps:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    tlvs = tuple(t for t in every if t is not pdu)
    _count_unknown(tlvs, ctx)
    return spec.with_tlvs(peer, update, tlvs, b"")


def _tlvs(data: bytes, pos: int, indexed: bool) -> tuple[BmpTlv, ...] | None:
    """The TLVs of ``data[pos:]`` (``decode.message_tlvs``), or None when
    they do not parse."""
    n = len(data)
    out: list[BmpTlv] = []
    while pos < n:
        if n - pos < 4:
            return None
        tlv_type, length = _TLV.unpack_from(data, pos)
        pos += 4
        pen: int | None = None
        if tlv_type & TLV_E_BIT:
            tlv_type ^= TLV_E_BIT
            if length < 4 or n - pos < 4:
                return None
            pen = _U32.unpack_from(data, pos)[0]
            pos += 4
            length -= 4
        index: int | None = None
        if indexed:
            if n - pos < 2:
                return None
            index = _U16.unpack_from(data, pos)[0]
            pos += 2
        if pos + length > n:
            return None
        out.append(BmpTlv(tlv_type, data[pos : pos + length], index, pen))
        pos += length
    return tuple(out)


# ---------------------------------------------------------------- flat (batched ingest)

#: A Route Monitoring that changes one NLRI set: (a per-peer header of its
#: peer, view, routes, attributes; None when the routes are withdrawn). The
#: header is the peer's cached one: its timestamp is that of the first message
#: seen from the peer, not of this one (the core never reads it).
FlatRoute = tuple[PerPeerHeader, str, NlriSet, PathAttributes | None]


def decode_flat(data: bytes, ctx: DecodeContext) -> FlatRoute | RouteMonitoring:
    """``decode_route_monitoring`` without the per-message objects: a
    ``FlatRoute`` when the message announces or withdraws one NLRI set (nearly
    every message of a table dump), else the ``RouteMonitoring`` itself.
    Equal in content to ``decode_route_monitoring`` (same quirks counted)."""
    try:
        return _decode_flat(data, ctx)
    except Fallback:
        pass
    # TLVs after the UPDATE, BMP v4, ...: the per-message fast path, which
    # falls back to the specification itself.
    return decode_route_monitoring(data, ctx)


def _decode_flat(data: bytes, ctx: DecodeContext) -> FlatRoute | RouteMonitoring:
    n = len(data)
    if n < 48 + 23 or data[0] != 3 or int.from_bytes(data[1:5], "big") != n:
        raise Fallback
    base = _PEER_CACHE.get(data[6:40])
    if base is None:
        base = _peer_header(data[6:48])
    peer, key, view, four = base
    if data[48:64] != _MARKER or data[66] != 2 or (data[64] << 8 | data[65]) != n - 48:
        raise Fallback
    known = key in ctx.caps
    hot = _hot_ipv4(data, n, ctx, key, view, four, known)
    if hot is not None:
        return peer, view, hot[0], hot[1]
    update = decode_update_body(data, 48, four, ctx, key, view)
    if not known:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    announced, withdrawn = update.announced, update.withdrawn
    if update.end_of_rib is None:
        if len(announced) == 1 and not withdrawn and update.attributes is not None:
            return peer, view, announced[0], update.attributes
        if len(withdrawn) == 1 and not announced:
            return peer, view, withdrawn[0], None
    return RouteMonitoring(_peer_header(data[6:48])[0], update)
