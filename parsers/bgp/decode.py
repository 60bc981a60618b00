"""The construct specification of every BGP message, and its conversion into
the frozen dataclasses of ``parsers.bgp``.

This is the *specification* path: every wire structure is declared once with
construct (``Struct``, ``BitStruct``, ``Prefixed``, ``GreedyRange``,
``RepeatUntil``, ...) so that it can both parse and build (the test builders
in ``tests/support/bgp.py`` build with the same structures). The
hand-written fast path must return results EQUAL to the functions here, so
the exact semantics are spelled out below.

Public functions
================

``decode_bgp_message(data, *, four_octet_as=True, add_path=None, extended_message=True)``
    One whole BGP message (19-byte header included) -> ``BgpMessage``.
``decode_open(data)``, ``decode_notification(data)``, ``decode_update(data, ...)``
    The same for one message type (another type -> ``MalformedError``).
``decode_attributes(raw, *, four_octet_as=True)``
    An attribute block -> ``(PathAttributes, mp_reach, mp_unreach)`` where
    ``mp_reach`` is a list of ``(afi, safi, next_hop_bytes, nlri_blob)`` and
    ``mp_unreach`` a list of ``(afi, safi, nlri_blob)`` (at most one entry
    each; blobs are raw bytes, possibly empty). It raises the error
    ``decode_update`` would raise for the block (``partial`` is None).
``decode_nlri(blob, afi, safi, add_path)`` -> ``NlriSet`` (possibly empty).
``nlri_score(blob, afi, safi, add_path)`` -> 0, 1 or 2, see below.
``message_length(data)`` -> the length field of a valid header (framing help).

Header
======
16-byte marker of 0xff (else ``MalformedError`` at offset 0), length
19..65535 (19..4096 when ``extended_message`` is False; out of range ->
``MalformedError`` at offset 16). ``data`` must hold exactly one message:
``len(data) < 19`` or ``len(data) < length`` -> ``TruncatedError``;
``len(data) > length`` -> ``MalformedError`` (offset = length). All framing
errors have action SKIP_MESSAGE. Minimum lengths: OPEN 29, UPDATE 23,
NOTIFICATION 21, ROUTE-REFRESH 23, KEEPALIVE exactly 19 (else
``MalformedError`` at offset 16). Types 1-5 are decoded, any other type is
``UnknownBgpMessage(type, body)``.

OPEN
====
version, my_as, hold_time, bgp_id (dotted quad), optional parameters. RFC
9072: if the optional parameters length byte is 255 and the byte after it is
255, a 2-byte extended length follows and every parameter has a 2-byte
length. The parameters must fill the length exactly and the length must end
the message (else ``MalformedError``, SKIP_MESSAGE). Parameter type 2 holds
capability TLVs (code, 1-byte length, value), which must fill it exactly;
capabilities of all type-2 parameters are concatenated in wire order. Other
parameters go to ``other_parameters`` as ``(type, value)``.
Capabilities become the subclasses of ``parsers/bgp/messages.py`` (MP 1, extended
next hop 5, role 9, graceful restart 64, 4-octet AS 65, ADD-PATH 69, LLGR 71,
FQDN 73 (UTF-8, undecodable bytes replaced by U+FFFD)); every other code,
*and a known code whose value does not match its structure exactly*, is a
plain ``Capability(code, value)``. ``value`` always holds the raw bytes.
GR ``restart_flags`` is the 4-bit flags field (0..15), ``restart_time`` the
12-bit time.

NOTIFICATION: code, subcode, data (rest of the message).
ROUTE-REFRESH: AFI (2), subtype (1, RFC 7313), SAFI (1); bytes after these
four (RFC 5291 ORF entries) are ignored.

UPDATE
======
Body: withdrawn routes length + withdrawn (IPv4 unicast), total path
attribute length + attributes, NLRI (IPv4 unicast) to the end. A withdrawn or
attribute length that runs past the message -> ``MalformedError``
SKIP_MESSAGE (RFC 7606 §4 would reset the session; a monitoring collector
cannot, so it skips the message).

Attributes: flags, type, 1-byte length (2-byte with the extended length flag
0x10), value. Attribute flags are not checked otherwise. A header or value
that runs past the attribute block ("malformed attribute list") ->
TREAT_AS_WITHDRAW (attributes after the break are unknown; MP NLRI found
before it are used for the partial result).
Duplicates (RFC 7606 §3g): the first occurrence of a type code counts (even
if it is malformed), later ones are dropped with the note
``"<name>: duplicate"`` in ``PathAttributes.discarded``; a second
MP_REACH_NLRI or MP_UNREACH_NLRI -> SKIP_MESSAGE.
``<name>`` is ``AttrType(t).name.lower()`` for known types, ``attr_<t>`` else.

Value rules (malformed -> action), as ``wire.ATTRIBUTES`` holds them:

=====================  ==============================================  ==================
ORIGIN                 exactly 1 byte, 0..2                            TREAT_AS_WITHDRAW
AS_PATH                segments (type 1..4, count >= 1, count ASNs of  TREAT_AS_WITHDRAW
                       4 bytes, or 2 when ``four_octet_as`` is False),
                       filling the value exactly (empty value = ())
NEXT_HOP               exactly 4 bytes                                 TREAT_AS_WITHDRAW
MED, LOCAL_PREF        exactly 4 bytes                                 TREAT_AS_WITHDRAW
ATOMIC_AGGREGATE       exactly 0 bytes                                 ATTRIBUTE_DISCARD
AGGREGATOR             8 bytes (6 when ``four_octet_as`` is False)     ATTRIBUTE_DISCARD
COMMUNITIES            non-zero multiple of 4                          TREAT_AS_WITHDRAW
ORIGINATOR_ID          exactly 4 bytes                                 TREAT_AS_WITHDRAW
CLUSTER_LIST           non-zero multiple of 4                          TREAT_AS_WITHDRAW
EXTENDED_COMMUNITIES   non-zero multiple of 8                          TREAT_AS_WITHDRAW
AS4_PATH               as AS_PATH with 4-byte ASNs                     ATTRIBUTE_DISCARD
AS4_AGGREGATOR         exactly 8 bytes                                 ATTRIBUTE_DISCARD
LARGE_COMMUNITY        non-zero multiple of 12                         TREAT_AS_WITHDRAW
OTC                    exactly 4 bytes                                 TREAT_AS_WITHDRAW
MP_REACH_NLRI          AFI 2, SAFI 1, next hop length 1 + next hop,    see NLRI errors
                       reserved 1 (value ignored), NLRI; next hop
                       length per below
MP_UNREACH_NLRI        AFI 2, SAFI 1, NLRI                             see NLRI errors
other types            kept as ``RawAttribute(flags, type, value)``
=====================  ==============================================  ==================

ATTRIBUTE_DISCARD (RFC 7606 "attribute discard") never raises: the attribute is dropped and
``"<name>: malformed"`` is added to ``PathAttributes.discarded`` (notes in
wire order). Missing well-known attributes are not checked.

MP_REACH next hop: SAFI 128 (VPN): 12, 24 or 48 bytes = (RD + address) once
or twice, the 8-byte RDs are stripped whatever their value; other SAFIs: 4
(IPv4), 16 (IPv6) or 32 (IPv6 global + link-local) bytes, for any AFI (RFC
8950 IPv4 NLRI with an IPv6 next hop included). ``mp_next_hop`` holds the
addresses as text. Any other length -> TREAT_AS_WITHDRAW (``mp_next_hop``
stays ()). An MP_REACH shorter than its fixed fields (5 bytes + next hop) is
an unparsable reach field; an MP_UNREACH shorter than 3 bytes an
unparsable withdrawal field (see below).

NLRI (``decode_nlri``), per SAFI; with ADD-PATH every entry starts with a
4-byte path ID. Entries must fill the blob exactly.

* unicast (1) / multicast (2), AFI 1 or 2: ``<len><ceil(len/8) octets>``,
  len <= 32 / 128. Key = length byte + octets.
* labeled unicast (4), AFI 1 or 2 (RFC 8277): ``<len>``, 3-byte label entries
  up to and including the first with the bottom-of-stack bit or equal to
  0x800000 or 0x000000, then the prefix octets; len counts 24 bits per label
  plus the prefix bits (<= 32 / 128). Key = prefix bits byte + octets; labels
  (``entry >> 4``) in ``NlriSet.labels``.
* VPN (128), AFI 1 or 2: ``<len>``, labels as above, 8-byte RD, prefix; len
  counts labels + 64 + prefix bits. Key = (64 + prefix bits) byte + RD + octets.
* EVPN (70), AFI 25: ``<route type><len><value>``, key = those bytes.
* any other family: an empty blob is an empty set, a non-empty one raises
  ``UnsupportedError`` (SKIP_MESSAGE).

``NlriSet.path_ids`` is a tuple when ADD-PATH is in use, else None;
``labels`` is a tuple for SAFI 4 and 128, else None. Host bits set beyond the
prefix length are kept in the key as on the wire. ``decode_nlri`` raises
``MalformedError`` (offset = start of the failing entry within ``blob``).

``nlri_score``: 0 if ``decode_nlri`` fails or any prefix (SAFI 1, 2, 4, 128)
has host bits set beyond its length; else 1 if any path ID is >= 2**24;
else 2. An empty blob scores 2.

ADD-PATH resolution: ``add_path`` is called once per family that has at least
one non-empty NLRI field, in the order the families first appear, with the
non-empty blobs of that family in message order (classic withdrawn, MP
attributes in attribute order, classic NLRI). Classic fields are family
(1, 1). ``add_path=None`` means no path IDs anywhere.

NLRI errors in an UPDATE: a reach field (classic NLRI, MP_REACH) that cannot
be parsed -> TREAT_AS_WITHDRAW; a withdrawal field (classic withdrawn,
MP_UNREACH) that cannot be parsed -> SKIP_MESSAGE. A non-empty field of an
unsupported family -> ``UnsupportedError`` SKIP_MESSAGE.

Result. ``Update.announced``: classic NLRI set (if non-empty), then the
MP_REACH set; ``withdrawn``: classic withdrawn set, then the MP_UNREACH set;
empty sets never appear. ``attributes`` is None iff the attribute block
holds no attribute other than MP_UNREACH_NLRI (empty, or a pure MP
withdrawal), else a ``PathAttributes``. End-of-RIB: an UPDATE of 23 bytes is ``end_of_rib=(1, 1)``; one with
no withdrawn routes, no NLRI and exactly one attribute, an MP_UNREACH_NLRI
with an empty NLRI, is ``end_of_rib=(afi, safi)``; both have no sets and
``attributes=None``.

Errors in an UPDATE are collected; the one raised is the first by
(SKIP_MESSAGE before TREAT_AS_WITHDRAW, then lowest offset). A
TREAT_AS_WITHDRAW error carries ``partial=Update(withdrawn=W,
announced=A).as_withdraw()`` with W / A the withdrawal / reach sets that
parsed (in the order above). Errors are ``MalformedError`` unless stated;
offsets are relative to the start of ``data``: an attribute error points at
the attribute's flags byte, an NLRI error at the failing entry, a length
field error at the length field.

Any input gives a result or a ``ParseError``; construct's own exceptions
are converted.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from construct import Construct, ConstructError

from ..afi import format_address
from ..errors import Action, MalformedError, ParseError, TruncatedError, UnsupportedError
from .attributes import AttrType, PathAttributes, RawAttribute
from .messages import (
    HEADER_SIZE,
    MARKER,
    MAX_EXTENDED_SIZE,
    MAX_SIZE,
    AddPathCapability,
    BgpMessage,
    Capability,
    CapabilityCode,
    ExtendedNextHopCapability,
    FourOctetAsCapability,
    FqdnCapability,
    GracefulRestartCapability,
    Keepalive,
    LlgrCapability,
    MessageType,
    MultiprotocolCapability,
    Notification,
    OpenMessage,
    RoleCapability,
    RouteRefresh,
    UnknownBgpMessage,
    Update,
)
from .nlri import NlriSet
from .wire import (
    ATTRIBUTES,
    EXTENDED_LENGTH,
    MAX_PREFIX_BITS,
    NLRI_ENTRY,
    AddPathValue,
    CapabilityTlv,
    ExtendedNextHopValue,
    ExtendedOptionalParameter,
    FourOctetAsValue,
    FqdnValue,
    GracefulRestartValue,
    Header,
    LlgrValue,
    MultiprotocolValue,
    NotificationBody,
    OpenFixed,
    OptionalParameter,
    PathAttribute,
    RoleValue,
    RouteRefreshBody,
    UpdateBody,
    attr_name,
    end_of_rib,
    host_bits_set,
    labeled_prefix_bits,
    mp_next_hop,
    nlri_kind,
    vpn_prefix_bits,
)

#: Called once per family with that family's non-empty NLRI blobs: do they
#: carry ADD-PATH path IDs?
_AddPath = Callable[[int, int, tuple[bytes, ...]], bool]

__all__ = [
    "decode_attributes",
    "decode_bgp_message",
    "decode_nlri",
    "decode_notification",
    "decode_open",
    "decode_update",
    "message_length",
    "nlri_score",
]

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


class _Bad(Exception):
    """Internal: a structure did not parse; converted to a ParseError."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _describe(exc: ConstructError) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _parse(subcon: Construct, raw: bytes, offset: int, what: str, **params: Any) -> Any:
    try:
        return subcon.parse(raw, **params)
    except ConstructError as exc:
        raise _Bad(f"{what}: {_describe(exc)}", offset) from None


def _entries(
    subcon: Construct, raw: bytes, base: int, what: str, **params: Any
) -> Iterator[tuple[int, Any]]:
    """Parse consecutive ``subcon`` entries filling ``raw`` (the GreedyRange +
    Terminated of ``_list_of``, entry by entry so errors know their offset).
    Yields (absolute offset, container)."""
    stream = io.BytesIO(raw)
    end = len(raw)
    pos = 0
    while pos < end:
        try:
            obj = subcon.parse_stream(stream, **params)
        except ConstructError as exc:
            raise _Bad(f"{what}: {_describe(exc)}", base + pos) from None
        yield base + pos, obj
        pos = stream.tell()


def _guard(func: Callable[[], Any]) -> Any:
    """Last line of defence: nothing but a ParseError leaves a decoder."""
    try:
        return func()
    except ParseError:
        raise
    except _Bad as bad:
        raise MalformedError(bad.message, offset=bad.offset) from None
    except ConstructError as exc:  # pragma: no cover - every parse is wrapped
        raise MalformedError(f"internal decoder error: {_describe(exc)}") from None
    except Exception as exc:  # pragma: no cover - a bug, reported as data error
        raise MalformedError(f"internal decoder error: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------
# header
# ---------------------------------------------------------------------------

_MIN_LENGTH = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.ROUTE_REFRESH: 23,
}


def _frame(data: bytes, extended_message: bool = True) -> tuple[int, bytes]:
    if len(data) < HEADER_SIZE:
        raise TruncatedError(
            f"BGP header needs {HEADER_SIZE} bytes, have {len(data)}", offset=len(data)
        )
    header = Header.parse(data)
    if header.marker != MARKER:
        raise MalformedError("BGP marker is not all ones", offset=0)
    length = int(header.length)
    mtype = int(header.type)
    limit = MAX_EXTENDED_SIZE if extended_message else MAX_SIZE
    if not HEADER_SIZE <= length <= limit:
        raise MalformedError(f"BGP message length {length} out of range", offset=16)
    if len(data) < length:
        raise TruncatedError(
            f"BGP message declares {length} bytes, have {len(data)}", offset=len(data)
        )
    if len(data) > length:
        raise MalformedError(f"{len(data) - length} bytes after the BGP message", offset=length)
    if mtype == MessageType.KEEPALIVE and length != HEADER_SIZE:
        raise MalformedError(f"KEEPALIVE of length {length}", offset=16)
    minimum = _MIN_LENGTH.get(mtype)  # type: ignore[call-overload]
    if minimum is not None and length < minimum:
        raise MalformedError(f"message type {mtype} too short ({length} bytes)", offset=16)
    return mtype, data[HEADER_SIZE:]


def message_length(data: bytes) -> int:
    """The length of the BGP message at the start of ``data`` (which may hold
    more bytes after it); checks marker and length range (up to 65535)."""
    if len(data) < HEADER_SIZE:
        raise TruncatedError(
            f"BGP header needs {HEADER_SIZE} bytes, have {len(data)}", offset=len(data)
        )
    if data[:16] != MARKER:
        raise MalformedError("BGP marker is not all ones", offset=0)
    length = int.from_bytes(data[16:18], "big")
    if length < HEADER_SIZE:
        raise MalformedError(f"BGP message length {length} out of range", offset=16)
    return length


def _expect(data: bytes, mtype: int, name: str) -> bytes:
    got, body = _frame(data)
    if got != mtype:
        raise MalformedError(f"expected {name} (type {mtype}), got type {got}", offset=18)
    return body


# ---------------------------------------------------------------------------
# OPEN
# ---------------------------------------------------------------------------


def _capability(code: int, value: bytes) -> Capability:
    try:
        if code == CapabilityCode.MULTIPROTOCOL:
            mp = MultiprotocolValue.parse(value)
            return MultiprotocolCapability(code, value, afi=mp.afi, safi=mp.safi)
        if code == CapabilityCode.EXTENDED_NEXT_HOP:
            entries = ExtendedNextHopValue.parse(value)
            return ExtendedNextHopCapability(
                code, value, entries=tuple((e.afi, e.safi, e.next_hop_afi) for e in entries)
            )
        if code == CapabilityCode.ROLE:
            return RoleCapability(code, value, role=RoleValue.parse(value))
        if code == CapabilityCode.GRACEFUL_RESTART:
            gr = GracefulRestartValue.parse(value)
            return GracefulRestartCapability(
                code,
                value,
                restart_flags=gr.header.flags,
                restart_time=gr.header.time,
                families=tuple((f.afi, f.safi, f.flags) for f in gr.families),
            )
        if code == CapabilityCode.FOUR_OCTET_AS:
            return FourOctetAsCapability(code, value, asn=FourOctetAsValue.parse(value))
        if code == CapabilityCode.ADD_PATH:
            fams = AddPathValue.parse(value)
            return AddPathCapability(
                code, value, families=tuple((f.afi, f.safi, f.send_receive) for f in fams)
            )
        if code == CapabilityCode.LLGR:
            fams = LlgrValue.parse(value)
            return LlgrCapability(
                code,
                value,
                families=tuple((f.afi, f.safi, f.flags, f.stale_time) for f in fams),
            )
        if code == CapabilityCode.FQDN:
            fq = FqdnValue.parse(value)
            return FqdnCapability(
                code,
                value,
                hostname=bytes(fq.hostname).decode("utf-8", "replace"),
                domain=bytes(fq.domain).decode("utf-8", "replace"),
            )
    except ConstructError:
        pass
    return Capability(code, value)


def _decode_open_body(body: bytes) -> OpenMessage:
    base = HEADER_SIZE
    fixed = _parse(OpenFixed, body[:9], base, "OPEN")
    if len(body) < 10:
        raise MalformedError("OPEN has no optional parameters length", offset=base + 9)
    if body[9] == 255 and len(body) >= 11 and body[10] == 255:
        # RFC 9072: 255, 255, 2-byte length, parameters with 2-byte lengths
        if len(body) < 13:
            raise MalformedError("OPEN extended parameters length missing", offset=base + 11)
        plen = int.from_bytes(body[11:13], "big")
        start = 13
        param = ExtendedOptionalParameter
    else:
        plen = body[9]
        start = 10
        param = OptionalParameter
    if start + plen != len(body):
        raise MalformedError(
            f"OPEN optional parameters length {plen} does not match the message "
            f"({len(body) - start} bytes)",
            offset=base + start - (2 if start == 13 else 1),
        )
    caps: list[Capability] = []
    others: list[tuple[int, bytes]] = []
    for off, p in _entries(param, body[start:], base + start, "OPEN optional parameter"):
        value = bytes(p.value)
        if p.type != 2:
            others.append((int(p.type), value))
            continue
        vbase = off + (3 if param is ExtendedOptionalParameter else 2)
        for _, c in _entries(CapabilityTlv, value, vbase, "capability"):
            caps.append(_capability(int(c.code), bytes(c.value)))
    return OpenMessage(
        version=int(fixed.version),
        my_as=int(fixed.my_as),
        hold_time=int(fixed.hold_time),
        bgp_id=format_address(bytes(fixed.bgp_id)),
        capabilities=tuple(caps),
        other_parameters=tuple(others),
    )


def decode_open(data: bytes) -> OpenMessage:
    """One whole OPEN message (header included) -> ``OpenMessage``."""
    return _guard(lambda: _decode_open_body(_expect(data, MessageType.OPEN, "OPEN")))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------
# NOTIFICATION, ROUTE-REFRESH
# ---------------------------------------------------------------------------


def _notification(body: bytes) -> Notification:
    n = _parse(NotificationBody, body, HEADER_SIZE, "NOTIFICATION")
    return Notification(code=int(n.code), subcode=int(n.subcode), data=bytes(n.data))


def decode_notification(data: bytes) -> Notification:
    """One whole NOTIFICATION message (header included) -> ``Notification``."""
    return _guard(  # type: ignore[no-any-return]
        lambda: _notification(_expect(data, MessageType.NOTIFICATION, "NOTIFICATION"))
    )


def _route_refresh(body: bytes) -> RouteRefresh:
    r = _parse(RouteRefreshBody, body, HEADER_SIZE, "ROUTE-REFRESH")
    return RouteRefresh(afi=int(r.afi), safi=int(r.safi), subtype=int(r.subtype))


# ---------------------------------------------------------------------------
# NLRI
# ---------------------------------------------------------------------------


def _nlri(blob: bytes, afi: int, safi: int, add_path: bool, base: int) -> NlriSet:
    if not blob:
        return NlriSet(afi, safi, ())
    kind = nlri_kind(afi, safi)
    if kind is None:
        raise UnsupportedError(f"NLRI of unsupported family {afi}/{safi}", offset=base)
    entry = NLRI_ENTRY[kind, add_path]
    max_bits = MAX_PREFIX_BITS.get(afi, 0)
    keys: list[bytes] = []
    ids: list[int] = []
    labels: list[tuple[int, ...]] = []
    for off, e in _entries(entry, blob, base, f"NLRI {afi}/{safi}"):
        if add_path:
            ids.append(int(e.path_id))
        if kind == "evpn":
            keys.append(bytes((e.type, e.length)) + bytes(e.value))
            continue
        if kind == "prefix":
            bits = int(e.length)
        elif kind == "labeled":
            bits = labeled_prefix_bits(e)
        else:
            bits = vpn_prefix_bits(e)
        if bits > max_bits:
            raise _Bad(f"NLRI {afi}/{safi}: prefix length {bits} > {max_bits}", off)
        if kind == "prefix":
            keys.append(bytes((bits,)) + bytes(e.prefix))
        elif kind == "labeled":
            keys.append(bytes((bits,)) + bytes(e.prefix))
            labels.append(tuple(int(x) >> 4 for x in e.labels))
        else:
            keys.append(bytes((bits + 64,)) + bytes(e.rd) + bytes(e.prefix))
            labels.append(tuple(int(x) >> 4 for x in e.labels))
    return NlriSet(
        afi,
        safi,
        tuple(keys),
        path_ids=tuple(ids) if add_path else None,
        labels=tuple(labels) if kind in ("labeled", "vpn") else None,
    )


def decode_nlri(blob: bytes, afi: int, safi: int, add_path: bool) -> NlriSet:
    """An NLRI field of one family -> ``NlriSet`` (offsets relative to ``blob``)."""
    return _guard(lambda: _nlri(blob, afi, safi, add_path, 0))  # type: ignore[no-any-return]


def _host_bits_set(key: bytes, kind: str) -> bool:
    if kind == "vpn":
        return host_bits_set(key[0] - 64, key[9:])
    return host_bits_set(key[0], key[1:])


def nlri_score(blob: bytes, afi: int, safi: int, add_path: bool) -> int:
    """The ``Validator`` of ``parsers/bmp/context.py``: 0 = does not parse cleanly,
    1 = parses but a path ID is >= 2**24, 2 = clean."""
    try:
        nset = decode_nlri(blob, afi, safi, add_path)
    except ParseError:
        return 0
    kind = nlri_kind(afi, safi)
    if kind in ("prefix", "labeled", "vpn") and any(_host_bits_set(k, kind) for k in nset.prefixes):
        return 0
    if nset.path_ids and any(p >= 1 << 24 for p in nset.path_ids):
        return 1
    return 2


# ---------------------------------------------------------------------------
# path attributes
# ---------------------------------------------------------------------------

_TAW = Action.TREAT_AS_WITHDRAW
_SKIP = Action.SKIP_MESSAGE


@dataclass(slots=True)
class _Mp:
    afi: int
    safi: int
    next_hop: bytes
    blob: bytes
    #: Absolute offset of the NLRI blob.
    offset: int
    reach: bool


@dataclass(slots=True)
class _AttrResult:
    attributes: PathAttributes
    mp: list[_Mp] = field(default_factory=list)
    problems: list[ParseError] = field(default_factory=list)
    count: int = 0
    #: Attributes other than MP_UNREACH_NLRI in the block.
    others: int = 0


def _attributes(raw: bytes, base: int, four_octet_as: bool) -> _AttrResult:
    values: dict[str, Any] = {}
    unknown: list[RawAttribute] = []
    discarded: list[str] = []
    mp: list[_Mp] = []
    problems: list[ParseError] = []
    seen: set[int] = set()
    count = 0
    others = 0
    rules = ATTRIBUTES[four_octet_as]

    def taw(message: str, off: int) -> None:
        problems.append(MalformedError(message, offset=off, action=_TAW))

    try:
        for off, a in _entries(PathAttribute, raw, base, "malformed attribute list"):
            count += 1
            flags, code, value = int(a.flags), int(a.type), bytes(a.value)
            others += code != AttrType.MP_UNREACH_NLRI
            name = attr_name(code)
            if code in seen:
                if code in (AttrType.MP_REACH_NLRI, AttrType.MP_UNREACH_NLRI):
                    problems.append(MalformedError(f"duplicate {name}", offset=off, action=_SKIP))
                else:
                    discarded.append(f"{name}: duplicate")
                continue
            seen.add(code)
            rule = rules.get(code)
            if rule is None:
                unknown.append(RawAttribute(flags, code, value))
                continue
            vstart = off + 2 + (2 if flags & EXTENDED_LENGTH else 1)
            if code == AttrType.MP_REACH_NLRI:
                try:
                    r = rule.value.parse(value)
                except ConstructError:
                    taw("MP_REACH_NLRI: cannot locate the NLRI", off)
                    continue
                nh = bytes(r.next_hop)
                mp.append(
                    _Mp(int(r.afi), int(r.safi), nh, bytes(r.nlri), vstart + 5 + len(nh), True)
                )
                hops = mp_next_hop(nh, int(r.safi))
                if hops is None:
                    taw(f"MP_REACH_NLRI: next hop length {len(nh)}", off)
                else:
                    values["mp_next_hop"] = hops
                continue
            if code == AttrType.MP_UNREACH_NLRI:
                try:
                    u = rule.value.parse(value)
                except ConstructError:
                    problems.append(
                        MalformedError(
                            "MP_UNREACH_NLRI: cannot locate the NLRI", offset=off, action=_SKIP
                        )
                    )
                    continue
                mp.append(_Mp(int(u.afi), int(u.safi), b"", bytes(u.nlri), vstart + 3, False))
                continue
            try:
                values[rule.field] = rule.convert(rule.value.parse(value))
            except (ConstructError, ValueError) as exc:
                if rule.discard:
                    discarded.append(f"{name}: malformed")
                elif isinstance(exc, ConstructError):
                    taw(f"{name}: {_describe(exc)}", off)
                else:
                    taw(f"{name}: {exc}", off)
    except _Bad as bad:
        taw(bad.message, bad.offset)
    attrs = PathAttributes(**values, unknown=tuple(unknown), discarded=tuple(discarded))
    return _AttrResult(attrs, mp, problems, count, others)


def _first_problem(problems: list[ParseError]) -> ParseError | None:
    if not problems:
        return None
    rank = {Action.SKIP_MESSAGE: 0, Action.DROP_SESSION: 0, Action.TREAT_AS_WITHDRAW: 1}
    return min(problems, key=lambda p: (rank.get(p.action, 2), p.offset or 0))


def decode_attributes(
    raw: bytes, *, four_octet_as: bool = True
) -> tuple[PathAttributes, list[tuple[int, int, bytes, bytes]], list[tuple[int, int, bytes]]]:
    """An attribute block -> (PathAttributes, mp_reach, mp_unreach); see the
    module docstring. Offsets are relative to ``raw``."""

    def run() -> Any:
        res = _attributes(raw, 0, four_octet_as)
        first = _first_problem(res.problems)
        if first is not None:
            raise first
        reach = [(m.afi, m.safi, m.next_hop, m.blob) for m in res.mp if m.reach]
        unreach = [(m.afi, m.safi, m.blob) for m in res.mp if not m.reach]
        return res.attributes, reach, unreach

    return _guard(run)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------
# UPDATE
# ---------------------------------------------------------------------------


def _decode_update_body(body: bytes, four_octet_as: bool, add_path: _AddPath | None) -> Update:
    base = HEADER_SIZE
    wlen = int.from_bytes(body[0:2], "big")
    if 2 + wlen + 2 > len(body):
        raise MalformedError(
            f"withdrawn routes length {wlen} runs past the message", offset=base, action=_SKIP
        )
    alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
    if 4 + wlen + alen > len(body):
        raise MalformedError(
            f"total path attribute length {alen} runs past the message",
            offset=base + 2 + wlen,
            action=_SKIP,
        )
    parts = UpdateBody.parse(body)
    withdrawn_raw = bytes(parts.withdrawn)
    attrs_raw = bytes(parts.attributes)
    nlri_raw = bytes(parts.nlri)
    attr_base = base + 4 + wlen
    nlri_base = attr_base + alen

    res = _attributes(attrs_raw, attr_base, four_octet_as)
    mp = res.mp
    problems = list(res.problems)

    if not problems:
        sole = mp[0] if res.count == 1 and len(mp) == 1 and not mp[0].reach else None
        eor = end_of_rib(
            withdrawn_raw, nlri_raw, attrs_raw, (sole.afi, sole.safi, sole.blob) if sole else None
        )
        if eor is not None:
            return Update(end_of_rib=eor)

    # fields in message order: (afi, safi, blob, offset, reach)
    fields: list[tuple[int, int, bytes, int, bool]] = [(1, 1, withdrawn_raw, base + 2, False)]
    fields += [(m.afi, m.safi, m.blob, m.offset, m.reach) for m in mp]
    fields.append((1, 1, nlri_raw, nlri_base, True))

    modes: dict[tuple[int, int], bool] = {}
    if add_path is not None:
        for afi, safi, blob, _, _ in fields:
            if blob and (afi, safi) not in modes:
                blobs = tuple(f[2] for f in fields if f[2] and (f[0], f[1]) == (afi, safi))
                modes[afi, safi] = bool(add_path(afi, safi, blobs))

    parsed: list[NlriSet | None] = []
    for afi, safi, blob, off, reach in fields:
        try:
            parsed.append(_nlri(blob, afi, safi, modes.get((afi, safi), False), off))
        except _Bad as bad:
            action = _TAW if reach else _SKIP
            problems.append(MalformedError(bad.message, offset=bad.offset, action=action))
            parsed.append(None)
        except UnsupportedError as exc:
            problems.append(exc)
            parsed.append(None)

    def keep(indices: list[int]) -> tuple[NlriSet, ...]:
        out = []
        for i in indices:
            nset = parsed[i]
            if nset is not None and nset.prefixes:
                out.append(nset)
        return tuple(out)

    # classic field first, then MP (``fields`` has the classic withdrawn
    # first and the classic NLRI last)
    last = len(fields) - 1
    withdrawn = keep([i for i in range(last + 1) if not fields[i][4]])
    announced = keep([last] + [i for i in range(1, last) if fields[i][4]])

    first = _first_problem(problems)
    if first is not None:
        if first.action == _TAW:
            first.partial = Update(withdrawn=withdrawn, announced=announced).as_withdraw()
        raise first
    return Update(
        withdrawn=withdrawn,
        announced=announced,
        attributes=res.attributes if res.others else None,
    )


def decode_update(
    data: bytes, *, four_octet_as: bool = True, add_path: _AddPath | None = None
) -> Update:
    """One whole UPDATE message (header included) -> ``Update``."""
    return _guard(  # type: ignore[no-any-return]
        lambda: _decode_update_body(
            _expect(data, MessageType.UPDATE, "UPDATE"), four_octet_as, add_path
        )
    )


# ---------------------------------------------------------------------------
# any message
# ---------------------------------------------------------------------------


def decode_bgp_message(
    data: bytes,
    *,
    four_octet_as: bool = True,
    add_path: _AddPath | None = None,
    extended_message: bool = True,
) -> BgpMessage:
    """One whole BGP message (19-byte header included) -> its dataclass."""

    def run() -> BgpMessage:
        mtype, body = _frame(data, extended_message)
        if mtype == MessageType.OPEN:
            return _decode_open_body(body)
        if mtype == MessageType.UPDATE:
            return _decode_update_body(body, four_octet_as, add_path)
        if mtype == MessageType.NOTIFICATION:
            return _notification(body)
        if mtype == MessageType.KEEPALIVE:
            return Keepalive()
        if mtype == MessageType.ROUTE_REFRESH:
            return _route_refresh(body)
        return UnknownBgpMessage(mtype, body)

    return _guard(run)  # type: ignore[no-any-return]
