"""The hand-written fast path for Route Monitoring.

Route Monitoring is nearly all of a BMP stream, so it gets a decoder built
from ``struct`` and ``bytes`` slices: the per-peer header (cached), then the
UPDATE through ``parsers.bgp.fast`` with the ADD-PATH decision of this
session's ``DecodeContext``. Whatever the fast path does not handle (other
SAFIs, unusual attributes, any error) raises ``Fallback`` and goes to the
construct decoder (``decode.py``), so both give equal results on every input
(``tests/parsers/test_fast_equivalence.py``).
"""

from __future__ import annotations

from struct import Struct

from ..bgp.attributes import PathAttributes
from ..bgp.fast import ATTR_CACHE, PREFIX_SAFIS, parse_prefixes, prefix_score, split_update
from ..bgp.messages import Update
from ..bgp.nlri import NlriSet
from ..bgp.wire import MAX_PREFIX_BITS, Fallback
from . import decode as spec
from .context import DecodeContext, PeerKey
from .messages import PerPeerHeader, RouteMonitoring
from .wire import per_peer_header

_PEER = Struct("!BB8s16sI4sII")
_TIMESTAMP = Struct("!II")
_MARKER = b"\xff" * 16

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
    except Fallback:
        pass
    msg = spec.decode_bmp_message(data, ctx)
    assert isinstance(msg, RouteMonitoring)
    return msg


def _decode(data: bytes, ctx: DecodeContext) -> RouteMonitoring:
    n = len(data)
    if n < 48 + 23 or data[0] != 3 or int.from_bytes(data[1:5], "big") != n:
        raise Fallback
    peer, key, view, four = _peer_header(data[6:48])
    if data[48:64] != _MARKER or data[66] != 2 or (data[64] << 8 | data[65]) != n - 48:
        raise Fallback
    known = key in ctx.caps
    if not (data[67] or data[68]):
        # The hottest case, inlined: IPv4 announcements only, an attribute
        # set seen before, a confirmed ADD-PATH segment and a clean NLRI blob.
        attr_end = 71 + (data[69] << 8 | data[70])
        if attr_end < n:
            attributes = ATTR_CACHE[four].get(data[71:attr_end])
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
    msg = spec.decode_bmp_message(data, ctx)
    assert isinstance(msg, RouteMonitoring)
    return msg


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
    if not (data[67] or data[68]):
        # IPv4 announcements only, a known attribute set, a confirmed segment.
        attr_end = 71 + (data[69] << 8 | data[70])
        if attr_end < n:
            attributes = ATTR_CACHE[four].get(data[71:attr_end])
            if attributes is not None:
                seg = (key, ctx.epochs.get(key, 0), view, 1, 1)
                if seg in ctx.confirmed:
                    keys, pids, score = parse_prefixes(data[attr_end:], 1, ctx.add_path_mode[seg])
                    if score == 2:
                        if not known:
                            ctx.quirks["route_monitoring_without_peer_up"] += 1
                        return peer, view, NlriSet(1, 1, keys, pids), attributes
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
