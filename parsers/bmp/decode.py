"""Construct specification of every BMP message (RFC 7854, RFC 8671, RFC 9069,
and BMP v4 / message TLVs of draft-ietf-grow-bmp-tlv with the path marking of
draft-ietf-grow-bmp-path-marking-tlv).

The structures below are the declarative wire format: each one parses and
builds (the test builders use them to make messages). ``decode_bmp_message``
walks one whole BMP message with them and returns the dataclasses of this
package. Sequences (TLVs, the OPENs of a Peer Up) are walked in Python so
every error carries the exact offset of what failed, relative to the start of
the BMP message.

No input makes ``decode_bmp_message`` raise anything but a ``ParseError``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from construct import (
    ConstructError,
)

from ..bgp import decode as bgp_spec
from ..bgp.messages import MARKER, OpenMessage, Update
from ..errors import (
    Action,
    MalformedError,
    ParseError,
    TruncatedError,
)
from .context import DecodeContext
from .messages import (
    COMMON_HEADER_SIZE,
    MIRROR_BGP_MESSAGE,
    MIRROR_INFORMATION,
    PER_PEER_HEADER_SIZE,
    REASON_LOC_RIB_SESSION_CLOSED,
    REASON_LOCAL_NO_NOTIFICATION,
    REASON_LOCAL_NOTIFICATION,
    REASON_REMOTE_NOTIFICATION,
    RM_TLV_BGP_PDU,
    TERMINATION_REASON,
    TLV_E_BIT,
    TLV_TRAILING_BYTES,
    VERSION,
    VERSION_4,
    VERSIONS,
    BmpMessage,
    BmpTlv,
    InformationTlv,
    Initiation,
    MessageType,
    MirrorTlv,
    PeerDown,
    PeerUp,
    PerPeerHeader,
    RouteMirroring,
    RouteMonitoring,
    StatEntry,
    StatisticsReport,
    Termination,
    UnknownBmpMessage,
    bad_markings,
)
from .stat_types import COUNTER, EXPERIMENTAL_TYPES, GAUGE, STAT_TYPES
from .wire import (
    BGP_HEADER_P,
    BGP_HEADER_SIZE,
    COMMON_HEADER_P,
    FSM_EVENT,
    MIRROR_INFORMATION_CODE,
    PEER_DOWN_REASON,
    PEER_UP_FIXED_P,
    PEER_UP_FIXED_SIZE,
    PER_PEER_HEADER_P,
    STAT_AFI_SAFI_GAUGE,
    STAT_AFI_SAFI_GAUGE_P,
    STAT_COUNTER,
    STAT_GAUGE,
    STATS_COUNT,
    TERMINATION_REASON_CODE,
    TLV,
    TLV_HEADER_P,
    TLV_HEADER_SIZE,
    TLV_INDEX,
    TLV_INDEX_SIZE,
    TLV_PEN,
    TLV_PEN_SIZE,
    peer_address,
    per_peer_header,
    version_error,
)

#: Message types that carry a per-peer header.
_PER_PEER_TYPES = frozenset(
    {
        MessageType.ROUTE_MONITORING,
        MessageType.STATISTICS_REPORT,
        MessageType.PEER_DOWN,
        MessageType.PEER_UP,
        MessageType.ROUTE_MIRRORING,
    }
)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def decode_bmp_message(data: bytes, ctx: DecodeContext) -> BmpMessage:
    """Decode one whole BMP message (common header included).

    Offsets in errors are relative to the start of ``data``. A malformed body
    gives action SKIP_MESSAGE (the framing is intact); a bad version or a
    length that disagrees with ``len(data)`` gives DROP_SESSION.
    """
    try:
        return _decode(bytes(data), ctx)
    except (ParseError, ImportError):
        raise
    except ConstructError as exc:  # a length check missed above: still a ParseError
        raise MalformedError(f"BMP message does not decode: {exc}", offset=0) from exc
    except Exception as exc:  # never let anything else out (house rule)
        raise MalformedError(
            f"BMP message does not decode: {type(exc).__name__}: {exc}", offset=0
        ) from exc


def _decode(data: bytes, ctx: DecodeContext) -> BmpMessage:
    if len(data) < COMMON_HEADER_SIZE:
        raise TruncatedError(
            f"BMP message of {len(data)} bytes is shorter than the common header",
            offset=0,
            action=Action.DROP_SESSION,
        )
    hdr = COMMON_HEADER_P.parse(data[:COMMON_HEADER_SIZE])
    version = hdr.version
    if version not in VERSIONS:
        raise version_error(version, 0)
    if hdr.length != len(data):
        raise MalformedError(
            f"BMP message length {hdr.length} does not match the {len(data)} bytes given",
            offset=1,
            action=Action.DROP_SESSION,
        )
    msg_type = hdr.type
    if msg_type == MessageType.INITIATION:
        return Initiation(information=_information_tlvs(data, COMMON_HEADER_SIZE, len(data)))
    if msg_type == MessageType.TERMINATION:
        return _termination(data)
    if msg_type not in _PER_PEER_TYPES:
        ctx.quirks["unknown_message_type"] += 1
        return UnknownBmpMessage(msg_type, data[COMMON_HEADER_SIZE:])

    peer = decode_per_peer_header(data, COMMON_HEADER_SIZE, ctx)
    pos = COMMON_HEADER_SIZE + PER_PEER_HEADER_SIZE
    if msg_type == MessageType.ROUTE_MONITORING:
        if version == VERSION_4:
            return _route_monitoring_v4(data, pos, peer, ctx)
        return _route_monitoring(data, pos, peer, ctx)
    if msg_type == MessageType.STATISTICS_REPORT:
        return _statistics(data, pos, peer, ctx)
    if msg_type == MessageType.PEER_DOWN:
        return _peer_down(data, pos, peer, ctx, version)
    if msg_type == MessageType.PEER_UP:
        return _peer_up(data, pos, peer)
    return _route_mirroring(data, pos, peer, ctx)


def decode_per_peer_header(
    data: bytes, pos: int, ctx: DecodeContext | None = None
) -> PerPeerHeader:
    """The 42-byte per-peer header at ``data[pos:]``."""
    if len(data) - pos < PER_PEER_HEADER_SIZE:
        raise TruncatedError(
            f"per-peer header needs {PER_PEER_HEADER_SIZE} bytes, {max(len(data) - pos, 0)} left",
            offset=pos,
        )
    p = PER_PEER_HEADER_P.parse(data[pos : pos + PER_PEER_HEADER_SIZE])
    if p.peer_type > 3 and ctx is not None:
        ctx.quirks["unknown_peer_type"] += 1
    return per_peer_header(
        p.peer_type,
        p.flags,
        p.distinguisher,
        p.address,
        p.asn,
        p.bgp_id,
        p.timestamp_sec,
        p.timestamp_usec,
    )


def _tlvs(data: bytes, pos: int, end: int, what: str) -> list[tuple[int, int, bytes]]:
    """TLVs in ``data[pos:end]`` as (type, offset of the TLV, value)."""
    out: list[tuple[int, int, bytes]] = []
    while pos < end:
        if end - pos < TLV_HEADER_SIZE:
            raise TruncatedError(
                f"{what} TLV header needs {TLV_HEADER_SIZE} bytes, {end - pos} left", offset=pos
            )
        h = TLV_HEADER_P.parse(data[pos : pos + TLV_HEADER_SIZE])
        vstart = pos + TLV_HEADER_SIZE
        if vstart + h.length > end:
            raise TruncatedError(
                f"{what} TLV type {h.type} of length {h.length} runs past the end "
                f"({end - vstart} bytes left)",
                offset=pos,
            )
        out.append((h.type, pos, data[vstart : vstart + h.length]))
        pos = vstart + h.length
    return out


def message_tlvs(
    data: bytes, pos: int, end: int, *, indexed: bool, what: str
) -> tuple[BmpTlv, ...]:
    """draft-ietf-grow-bmp-tlv TLVs in ``data[pos:end]``: type (E bit: a PEN
    follows, counted in the length), length, [index,] value."""
    return tuple(t for _, t in _walk_tlvs(data, pos, end, indexed=indexed, what=what))


def _walk_tlvs(
    data: bytes, pos: int, end: int, *, indexed: bool, what: str
) -> list[tuple[int, BmpTlv]]:
    """``message_tlvs`` with the offset of each value."""
    out: list[tuple[int, BmpTlv]] = []
    while pos < end:
        if end - pos < TLV_HEADER_SIZE:
            raise TruncatedError(
                f"{what} TLV header needs {TLV_HEADER_SIZE} bytes, {end - pos} left", offset=pos
            )
        h = TLV_HEADER_P.parse(data[pos : pos + TLV_HEADER_SIZE])
        at = pos
        pos += TLV_HEADER_SIZE
        length = h.length
        tlv_type = h.type
        pen: int | None = None
        if tlv_type & TLV_E_BIT:
            tlv_type ^= TLV_E_BIT
            if length < TLV_PEN_SIZE or end - pos < TLV_PEN_SIZE:
                raise MalformedError(
                    f"{what} TLV type {tlv_type} has the E bit but no room for its "
                    f"enterprise number (length {length})",
                    offset=at,
                )
            pen = TLV_PEN.parse(data[pos : pos + TLV_PEN_SIZE])
            pos += TLV_PEN_SIZE
            length -= TLV_PEN_SIZE
        index: int | None = None
        if indexed:
            if end - pos < TLV_INDEX_SIZE:
                raise TruncatedError(
                    f"{what} TLV type {tlv_type} has no room for its index", offset=at
                )
            index = TLV_INDEX.parse(data[pos : pos + TLV_INDEX_SIZE])
            pos += TLV_INDEX_SIZE
        if pos + length > end:
            raise TruncatedError(
                f"{what} TLV type {tlv_type} of length {h.length} runs past the end "
                f"({end - pos} bytes left)",
                offset=at,
            )
        out.append((pos, BmpTlv(tlv_type, data[pos : pos + length], index, pen)))
        pos += length
    return out


def trailing_tlvs(data: bytes, pos: int, end: int, what: str) -> tuple[tuple[BmpTlv, ...], bytes]:
    """What follows a v3 message's BGP PDU: TLVs in the indexed form of
    draft-ietf-grow-bmp-tlv, else in the plain form, else raw bytes (returned
    second). Nothing here is an error: the PDU before it decoded."""
    for indexed in (True, False):
        try:
            return message_tlvs(data, pos, end, indexed=indexed, what=what), b""
        except ParseError:
            continue
    return (), data[pos:end]


def count_tlv_quirks(
    tlvs: tuple[BmpTlv, ...], trailing: bytes, quirks: Counter[str], *, v3: bool
) -> None:
    """``trailing_tlv`` once per v3 message with TLVs after its PDU,
    ``unknown_tlv`` per TLV of a type this decoder does not know,
    ``trailing_bytes`` per message whose extra bytes are no TLVs,
    ``bad_path_marking`` per Path Status TLV of a bad length."""
    if trailing:
        quirks["trailing_bytes"] += 1
    if tlvs:
        if v3:
            quirks["trailing_tlv"] += 1
        for t in tlvs:
            if not t.known:
                quirks["unknown_tlv"] += 1
        bad = bad_markings(tlvs)
        if bad:
            quirks["bad_path_marking"] += bad


def _information_tlvs(data: bytes, pos: int, end: int) -> tuple[InformationTlv, ...]:
    return tuple(InformationTlv(t, v) for t, _, v in _tlvs(data, pos, end, "information"))


def _termination(data: bytes) -> Termination:
    info: list[InformationTlv] = []
    reason: int | None = None
    for t, off, v in _tlvs(data, COMMON_HEADER_SIZE, len(data), "termination"):
        if t == TERMINATION_REASON:
            if len(v) != 2:
                raise MalformedError(
                    f"termination reason TLV has length {len(v)}, expected 2", offset=off
                )
            reason = TERMINATION_REASON_CODE.parse(v)
        else:
            info.append(InformationTlv(t, v))
    return Termination(information=tuple(info), reason=reason)


def _bgp_slice(data: bytes, pos: int, end: int, what: str) -> tuple[bytes, int]:
    """The whole BGP message at ``data[pos:end]``, by its header's length."""
    if end - pos < BGP_HEADER_SIZE:
        raise TruncatedError(
            f"{what}: BGP header needs {BGP_HEADER_SIZE} bytes, {max(end - pos, 0)} left",
            offset=pos,
        )
    h = BGP_HEADER_P.parse(data[pos : pos + BGP_HEADER_SIZE])
    if h.length < BGP_HEADER_SIZE:
        raise MalformedError(
            f"{what}: BGP message length {h.length} is shorter than its header", offset=pos + 16
        )
    if pos + h.length > end:
        raise TruncatedError(
            f"{what}: BGP message of length {h.length} runs past the end ({end - pos} bytes left)",
            offset=pos + 16,
        )
    return data[pos : pos + h.length], pos + h.length


def _rebased(err: ParseError, base: int, *, action: Action | None = None) -> ParseError:
    err.with_base(base)
    if action is not None:
        err.action = action
    elif err.action is Action.DROP_SESSION:
        # A BGP-level "reset the session" is one bad BMP message here.
        err.action = Action.SKIP_MESSAGE
    return err


def _decode_open(data: bytes, pos: int, end: int, what: str) -> tuple[OpenMessage, int]:
    raw, nxt = _bgp_slice(data, pos, end, what)
    try:
        return bgp_spec.decode_open(raw), nxt
    except ParseError as err:
        raise _rebased(err, pos, action=Action.SKIP_MESSAGE) from None


def _peer_up(data: bytes, pos: int, peer: PerPeerHeader) -> PeerUp:
    end = len(data)
    if end - pos < PEER_UP_FIXED_SIZE:
        raise TruncatedError(
            f"Peer Up needs {PEER_UP_FIXED_SIZE} bytes of addresses and ports, {end - pos} left",
            offset=pos,
        )
    fixed = PEER_UP_FIXED_P.parse(data[pos : pos + PEER_UP_FIXED_SIZE])
    pos += PEER_UP_FIXED_SIZE
    sent, pos = _decode_open(data, pos, end, "Peer Up sent OPEN")
    received, pos = _decode_open(data, pos, end, "Peer Up received OPEN")
    return PeerUp(
        peer=peer,
        local_address=peer_address(fixed.local_address, peer.ipv6),
        local_port=fixed.local_port,
        remote_port=fixed.remote_port,
        sent_open=sent,
        received_open=received,
        information=_information_tlvs(data, pos, end),
    )


def _peer_down(
    data: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext, version: int
) -> PeerDown:
    end = len(data)
    if pos >= end:
        raise TruncatedError("Peer Down has no reason code", offset=pos)
    reason = PEER_DOWN_REASON.parse(data[pos : pos + 1])
    pos += 1
    note = None
    event = None
    if reason in (REASON_LOCAL_NOTIFICATION, REASON_REMOTE_NOTIFICATION):
        raw, pos = _bgp_slice(data, pos, end, f"Peer Down reason {reason} NOTIFICATION")
        try:
            note = bgp_spec.decode_notification(raw)
        except ParseError as err:
            raise _rebased(err, pos - len(raw), action=Action.SKIP_MESSAGE) from None
    elif reason == REASON_LOCAL_NO_NOTIFICATION:
        if end - pos < 2:
            raise TruncatedError(
                f"Peer Down reason 2 needs a 2-byte FSM event code, {end - pos} bytes left",
                offset=pos,
            )
        event = FSM_EVENT.parse(data[pos : pos + 2])
        pos += 2
    # What is left: nothing for 4 and 5; TLVs for 6 (RFC 9069 §5.4) and in v4
    # (draft-ietf-grow-bmp-tlv); a vendor's TLVs or unknown data otherwise.
    # ``data`` keeps the bytes as they were.
    tlvs: tuple[BmpTlv, ...] = ()
    if pos < end:
        try:
            tlvs = message_tlvs(data, pos, end, indexed=False, what="Peer Down")
        except ParseError:
            ctx.quirks["trailing_bytes"] += 1
        else:
            count_tlv_quirks(
                tlvs,
                b"",
                ctx.quirks,
                v3=version == VERSION and reason != REASON_LOC_RIB_SESSION_CLOSED,
            )
    return PeerDown(
        peer=peer, reason=reason, notification=note, fsm_event=event, data=data[pos:end], tlvs=tlvs
    )


def decode_stat(stat_type: int, value: bytes) -> StatEntry:
    """One Stats TLV's data, by the registry in ``stat_types``."""
    reg = STAT_TYPES.get(stat_type)
    if reg is not None:
        if len(value) != reg.length:
            return StatEntry(stat_type, None, raw=value)
        if reg.per_afi:
            g = STAT_AFI_SAFI_GAUGE_P.parse(value)
            return StatEntry(stat_type, g.value, afi=g.afi, safi=g.safi)
        return StatEntry(stat_type, int.from_bytes(value, "big"))
    if stat_type in EXPERIMENTAL_TYPES and len(value) in (COUNTER, GAUGE):
        return StatEntry(stat_type, int.from_bytes(value, "big"))
    return StatEntry(stat_type, None, raw=value)


def encode_stat(entry: StatEntry) -> bytes:
    """The Stats TLV for ``entry`` (its ``raw`` bytes when it has no value)."""
    if entry.value is None:
        data = entry.raw
    else:
        reg = STAT_TYPES.get(entry.type)
        if reg is not None and reg.per_afi:
            data = STAT_AFI_SAFI_GAUGE.build(
                {"afi": entry.afi or 0, "safi": entry.safi or 0, "value": entry.value}
            )
        elif reg is not None:
            data = (STAT_COUNTER if reg.size == COUNTER else STAT_GAUGE).build(entry.value)
        elif entry.raw:
            data = entry.raw
        else:
            data = (STAT_COUNTER if entry.value < 2**32 else STAT_GAUGE).build(entry.value)
    return bytes(TLV.build({"type": entry.type, "value": data}))


def _statistics(data: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext) -> StatisticsReport:
    end = len(data)
    if end - pos < 4:
        raise TruncatedError(
            f"Statistics Report needs a 4-byte count, {end - pos} bytes left", offset=pos
        )
    count = STATS_COUNT.parse(data[pos : pos + 4])
    tlvs = _tlvs(data, pos + 4, end, "statistics")
    if len(tlvs) != count:
        ctx.quirks["stats_count_mismatch"] += 1
    return StatisticsReport(peer=peer, stats=tuple(decode_stat(t, v) for t, _, v in tlvs))


def _route_monitoring(
    data: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext
) -> RouteMonitoring:
    end = len(data)
    raw, nxt = _bgp_slice(data, pos, end, "Route Monitoring UPDATE")
    update = _rm_update(raw, pos, peer, ctx)
    if nxt == end:
        return RouteMonitoring(peer=peer, update=update)
    # Bytes after the UPDATE (draft-ietf-grow-bmp-tlv in v3, as some routers
    # send it): the routes stay; the rest is TLVs or kept as bytes.
    tlvs, trailing = trailing_tlvs(data, nxt, end, "Route Monitoring")
    count_tlv_quirks(tlvs, trailing, ctx.quirks, v3=True)
    return with_tlvs(peer, update, tlvs, trailing)


def with_tlvs(
    peer: PerPeerHeader, update: Update, tlvs: tuple[BmpTlv, ...], trailing: bytes
) -> RouteMonitoring:
    """The Route Monitoring with its TLVs; bytes after them kept as a trailing-bytes TLV."""
    if trailing:
        tlvs = (*tlvs, BmpTlv(TLV_TRAILING_BYTES, trailing))
    return RouteMonitoring(peer, update, tlvs)


def _route_monitoring_v4(
    data: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext
) -> RouteMonitoring:
    """draft-ietf-grow-bmp-tlv: the per-peer header, then indexed TLVs, one of
    them the BGP PDU. A v4 message laid out like v3 (the UPDATE first) is
    read as v3 with the ``v4_pdu_outside_tlv`` quirk."""
    end = len(data)
    if data[pos : pos + 16] == MARKER:
        ctx.quirks["v4_pdu_outside_tlv"] += 1
        raw, nxt = _bgp_slice(data, pos, end, "Route Monitoring UPDATE")
        update = _rm_update(raw, pos, peer, ctx)
        tlvs, trailing = trailing_tlvs(data, nxt, end, "Route Monitoring")
        count_tlv_quirks(tlvs, trailing, ctx.quirks, v3=False)
        return with_tlvs(peer, update, tlvs, trailing)
    every = _walk_tlvs(data, pos, end, indexed=True, what="Route Monitoring")
    pdus = [(o, t) for o, t in every if t.type == RM_TLV_BGP_PDU and t.pen is None]
    if not pdus:
        # Code points are still provisional: a router numbering the BGP PDU
        # TLV otherwise must not lose its routes. One TLV that holds exactly
        # one whole UPDATE is that PDU.
        pdus = [(o, t) for o, t in every if t.pen is None and _is_whole_update(t.value)]
        if len(pdus) == 1:
            ctx.quirks["bgp_pdu_tlv_type"] += 1
    if len(pdus) != 1:
        raise MalformedError(
            f"BMP v4 Route Monitoring carries {len(pdus)} BGP PDU TLVs (type "
            f"{RM_TLV_BGP_PDU}), expected 1",
            offset=pos,
        )
    base, pdu = pdus[0]
    tlvs = tuple(t for _, t in every if t is not pdu)
    raw, nxt = _bgp_slice(pdu.value, 0, len(pdu.value), "Route Monitoring BGP PDU TLV")
    if nxt != len(pdu.value):
        raise MalformedError(
            f"BMP v4 BGP PDU TLV has {len(pdu.value) - nxt} bytes after its UPDATE",
            offset=base + nxt,
        )
    update = _rm_update(raw, base, peer, ctx)
    count_tlv_quirks(tlvs, b"", ctx.quirks, v3=False)
    return with_tlvs(peer, update, tlvs, b"")


def _is_whole_update(value: bytes) -> bool:
    if len(value) < BGP_HEADER_SIZE or value[:16] != MARKER:
        return False
    h = BGP_HEADER_P.parse(value[:BGP_HEADER_SIZE])
    return bool(h.length == len(value) and h.type == 2)


def _rm_update(raw: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext) -> Update:
    """The UPDATE of a Route Monitoring, found at ``pos`` of the message."""
    key = peer.key
    if key not in ctx.caps:
        ctx.quirks["route_monitoring_without_peer_up"] += 1
    view = peer.view
    score = bgp_spec.nlri_score

    def resolver(afi: int, safi: int, blobs: tuple[bytes, ...]) -> bool:
        return ctx.resolve_add_path(key, view, afi, safi, blobs, score)

    try:
        update = bgp_spec.decode_update(
            raw, four_octet_as=not peer.legacy_as_path, add_path=resolver
        )
    except ParseError as err:
        _rebased(err, pos)
        if err.partial is not None and not isinstance(err.partial, RouteMonitoring):
            err.partial = RouteMonitoring(peer, err.partial)
        raise err from None
    return update


def _route_mirroring(
    data: bytes, pos: int, peer: PerPeerHeader, ctx: DecodeContext
) -> RouteMirroring:
    caps = ctx.caps_for(peer.key)

    def add_path(afi: int, safi: int, blobs: tuple[bytes, ...]) -> bool:
        # Mirrored PDUs are what the peer sent: the Adj-RIB-In direction.
        return caps.add_path("adj_in_pre", afi, safi)

    entries: list[MirrorTlv] = []
    for t, off, v in _tlvs(data, pos, len(data), "route mirroring"):
        if t == MIRROR_BGP_MESSAGE:
            message: Any = None
            try:
                message = bgp_spec.decode_bgp_message(
                    v, four_octet_as=caps.four_octet_as, add_path=add_path
                )
            except ParseError:
                message = None  # an errored PDU is what mirroring is for
            entries.append(MirrorTlv(t, message=message, raw=v))
        elif t == MIRROR_INFORMATION:
            if len(v) != 2:
                raise MalformedError(
                    f"route mirroring information TLV has length {len(v)}, expected 2",
                    offset=off,
                )
            entries.append(MirrorTlv(t, code=MIRROR_INFORMATION_CODE.parse(v)))
        else:
            entries.append(MirrorTlv(t, raw=v))
    return RouteMirroring(peer=peer, entries=tuple(entries))


__all__ = [
    "count_tlv_quirks",
    "decode_bmp_message",
    "decode_per_peer_header",
    "decode_stat",
    "encode_stat",
    "message_tlvs",
    "trailing_tlvs",
]
