"""Every BMP message as a frozen dataclass (RFC 7854, RFC 8671, RFC 9069):
the common and per-peer headers, the information TLVs, Initiation,
Termination, Peer Up, Peer Down, Statistics Report, Route Monitoring and
Route Mirroring, and the message TLVs and path markings of BMP v4
(``BmpTlv``, ``PathStatus``). Each message class carries its type code in ``TYPE``. The
decoders are in ``decode.py`` (construct) and ``fast.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..afi import format_rd
from ..bgp.messages import BgpMessage, Notification, OpenMessage, Update
from ..codes import CodeEnum, name_of

VERSION = 3
#: BMP version 4 (draft-ietf-grow-bmp-tlv): TLVs in every message type.
VERSION_4 = 4
#: Every version this decoder speaks.
VERSIONS = (VERSION, VERSION_4)
COMMON_HEADER_SIZE = 6
PER_PEER_HEADER_SIZE = 42
#: Largest BMP message we accept. A Route Monitoring carries one BGP message
#: of at most 65535 bytes (RFC 8654) plus headers; Peer Up carries two OPENs
#: and TLVs. Anything larger is a broken or hostile stream.
MAX_MESSAGE_SIZE = 6 + 42 + 65535 + 4096 + 65535


class MessageType(CodeEnum):
    ROUTE_MONITORING = 0
    STATISTICS_REPORT = 1
    PEER_DOWN = 2
    PEER_UP = 3
    INITIATION = 4
    TERMINATION = 5
    ROUTE_MIRRORING = 6


#: Type code -> name ("route_monitoring", ...): the ``MessageType`` names.
MESSAGE_TYPE_NAMES = MessageType.names()


class PeerType(CodeEnum):
    GLOBAL = 0
    RD = 1
    LOCAL = 2
    LOC_RIB = 3


#: Peer type -> name ("global", "rd", "local", "loc_rib"): the ``PeerType`` names.
PEER_TYPE_NAMES = PeerType.names()

# Per-peer header flags (RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4.2)
FLAG_V = 0x80  # IPv6 peer address
FLAG_L = 0x40  # post-policy
FLAG_A = 0x20  # legacy 2-byte AS_PATH
FLAG_O = 0x10  # Adj-RIB-Out
FLAG_F = 0x80  # Loc-RIB only: the table is filtered

VIEWS = ("adj_in_pre", "adj_in_post", "adj_out_pre", "adj_out_post", "loc_rib")


class BmpMessageBase:
    """Base of every BMP message dataclass: ``TYPE`` is its message type code."""

    __slots__ = ()
    TYPE: ClassVar[int]


@dataclass(frozen=True, slots=True)
class PerPeerHeader:
    peer_type: int
    flags: int
    distinguisher: bytes
    address: str
    asn: int
    bgp_id: str
    timestamp_sec: int
    timestamp_usec: int

    @property
    def is_loc_rib(self) -> bool:
        return self.peer_type == 3  # PeerType.LOC_RIB; enum lookups are slow on the hot path

    @property
    def ipv6(self) -> bool:
        return not self.is_loc_rib and bool(self.flags & FLAG_V)

    @property
    def post_policy(self) -> bool:
        return not self.is_loc_rib and bool(self.flags & FLAG_L)

    @property
    def legacy_as_path(self) -> bool:
        return not self.is_loc_rib and bool(self.flags & FLAG_A)

    @property
    def adj_rib_out(self) -> bool:
        return not self.is_loc_rib and bool(self.flags & FLAG_O)

    @property
    def filtered(self) -> bool:
        return self.is_loc_rib and bool(self.flags & FLAG_F)

    @property
    def view(self) -> str:
        """Which RIB this header's routes belong to: one of ``VIEWS``."""
        if self.is_loc_rib:
            return "loc_rib"
        if self.flags & FLAG_O:
            return "adj_out_post" if self.flags & FLAG_L else "adj_out_pre"
        return "adj_in_post" if self.flags & FLAG_L else "adj_in_pre"

    @property
    def peer_type_name(self) -> str:
        return name_of(PEER_TYPE_NAMES, self.peer_type, "type")

    @property
    def rd(self) -> str | None:
        """The distinguisher as text, or None when it is all zero."""
        if not any(self.distinguisher):
            return None
        return format_rd(self.distinguisher)

    @property
    def timestamp(self) -> float:
        return self.timestamp_sec + self.timestamp_usec / 1e6

    @property
    def key(self) -> tuple[int, bytes, str]:
        """Peer identity: type, distinguisher and address. The BGP ID is not
        part of it (FRR sends Peer Down with BGP ID 0.0.0.0 for never-up peers)."""
        return (self.peer_type, self.distinguisher, self.address)

    def flag_dict(self) -> dict[str, bool]:
        f = self.flags
        return {
            "v": bool(f & FLAG_V) and not self.is_loc_rib,
            "l": bool(f & FLAG_L) and not self.is_loc_rib,
            "a": bool(f & FLAG_A) and not self.is_loc_rib,
            "o": bool(f & FLAG_O) and not self.is_loc_rib,
            "f": bool(f & FLAG_F) and self.is_loc_rib,
        }


# --- Information TLVs (RFC 7854 §4.4, RFC 9069 §5.2) -------------------------

INFO_STRING = 0
INFO_SYS_DESCR = 1
INFO_SYS_NAME = 2
INFO_VRF_TABLE_NAME = 3
INFO_ADMIN_LABEL = 4

INFO_NAMES = {
    0: "string",
    1: "sys_descr",
    2: "sys_name",
    3: "vrf_table_name",
    4: "admin_label",
}

TERMINATION_STRING = 0
TERMINATION_REASON = 1
TERMINATION_REASONS = {
    0: "administratively_closed",
    1: "unspecified",
    2: "out_of_resources",
    3: "redundant_connection",
    4: "permanently_administratively_closed",
}


@dataclass(frozen=True, slots=True)
class InformationTlv:
    type: int
    value: bytes

    @property
    def name(self) -> str:
        return name_of(INFO_NAMES, self.type, "type")

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


def information_dict(tlvs: tuple[InformationTlv, ...]) -> dict[str, str | list[str]]:
    """TLVs by name; a name that repeats (several ``string`` TLVs) becomes a list."""
    out: dict[str, str | list[str]] = {}
    for tlv in tlvs:
        prev = out.get(tlv.name)
        if prev is None:
            out[tlv.name] = tlv.text
        elif isinstance(prev, list):
            prev.append(tlv.text)
        else:
            out[tlv.name] = [prev, tlv.text]
    return out


class HasInformation:
    """Mixin of the messages that carry information TLVs (Initiation,
    Termination, Peer Up): ``info()`` is them by name."""

    __slots__ = ()
    information: tuple[InformationTlv, ...]

    def info(self) -> dict[str, str | list[str]]:
        return information_dict(self.information)


# --- Message TLVs (draft-ietf-grow-bmp-tlv) ---------------------------------

#: Route Monitoring TLV types (draft-ietf-grow-bmp-tlv and
#: draft-ietf-grow-bmp-path-marking-tlv provisional code points, as pmacct
#: and the routers that send v4 today use them).
RM_TLV_STATELESS_PARSING = 1
RM_TLV_GROUP = 2
RM_TLV_VRF_TABLE_NAME = 3
RM_TLV_BGP_PDU = 4
RM_TLV_PATH_MARKING = 5

RM_TLV_NAMES = {
    1: "stateless_parsing",
    2: "group",
    3: "vrf_table_name",
    4: "bgp_pdu",
    5: "path_marking",
}

#: E bit of a TLV type (draft-ietf-grow-bmp-tlv-ebit): a 4-byte Private
#: Enterprise Number follows the length and is counted in it.
TLV_E_BIT = 0x8000
#: G bit of a TLV index: the index names a group (Group TLV), not one NLRI.
TLV_G_BIT = 0x8000
#: ``BmpTlv.type`` of the bytes after a v3 UPDATE that do not parse as TLVs
#: (kept, value = the bytes; never a wire type).
TLV_TRAILING_BYTES = -1


@dataclass(frozen=True, slots=True)
class BmpTlv:
    """One TLV carried by a Route Monitoring or Peer Down message: after the
    BGP PDU (v3, a vendor extension) or in the message body (v4).

    ``type`` is without the E bit; ``pen`` is the enterprise number when the
    E bit was set. ``index`` is the Route Monitoring TLV index (0: every NLRI
    of the UPDATE, n: its n-th NLRI, G bit set: a group) or None for TLVs
    without one (Peer Down, plain-form trailing TLVs).
    """

    type: int
    value: bytes
    index: int | None = None
    pen: int | None = None

    @property
    def name(self) -> str:
        if self.type == TLV_TRAILING_BYTES:
            return "trailing_bytes"
        if self.pen is not None:
            return f"enterprise_{self.pen}_{self.type}"
        return name_of(INFO_NAMES if self.index is None else RM_TLV_NAMES, self.type, "type")

    @property
    def known(self) -> bool:
        if self.pen is not None or self.type == TLV_TRAILING_BYTES:
            return False
        return (self.type in RM_TLV_NAMES) if self.index is not None else self.type in INFO_NAMES


#: Path status bits (draft-ietf-grow-bmp-path-marking-tlv §2.1), lowest first.
PATH_STATUS_NAMES = {
    0x0001: "invalid",
    0x0002: "best",
    0x0004: "non_selected",
    0x0008: "primary",
    0x0010: "backup",
    0x0020: "non_installed",
    0x0040: "best_external",
    0x0080: "add_path",
    0x0100: "filtered_inbound",
    0x0200: "filtered_outbound",
    0x0400: "stale",
    0x0800: "suppressed",
}

#: Reason codes (draft-ietf-grow-bmp-path-marking-tlv §2.2).
PATH_REASON_NAMES = {
    0x0000: "invalid_unknown",
    0x0001: "invalid_as_loop",
    0x0002: "invalid_unresolvable_nexthop",
    0x0003: "not_preferred_local_pref",
    0x0004: "not_preferred_as_path_length",
    0x0005: "not_preferred_origin",
    0x0006: "not_preferred_med",
    0x0007: "not_preferred_peer_type",
    0x0008: "not_preferred_igp_cost",
    0x0009: "not_preferred_router_id",
    0x000A: "not_preferred_peer_address",
    0x000B: "not_preferred_aigp",
}


@dataclass(frozen=True, slots=True)
class PathStatus:
    """The path marking of one route: the status bits and the optional
    reason code. Interned (``path_status``): one object per distinct marking."""

    status: int
    reason: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The status bits by name, lowest bit first; ``("unknown",)`` for 0."""
        s = self.status
        if not s:
            return ("unknown",)
        return tuple(PATH_STATUS_NAMES.get(1 << b, f"bit_{b}") for b in range(32) if s & (1 << b))

    @property
    def reason_name(self) -> str | None:
        return name_of(PATH_REASON_NAMES, self.reason, "reason")


_PATH_STATUS: dict[tuple[int, int | None], PathStatus] = {}
_PATH_STATUS_MAX = 4096


def path_status(status: int, reason: int | None) -> PathStatus:
    """The shared ``PathStatus`` of this marking (hostile input cannot grow
    the table past ``_PATH_STATUS_MAX``: then new markings are not shared)."""
    key = (status, reason)
    got = _PATH_STATUS.get(key)
    if got is None:
        got = PathStatus(status, reason)
        if len(_PATH_STATUS) < _PATH_STATUS_MAX:
            _PATH_STATUS[key] = got
    return got


def path_status_of(value: bytes) -> PathStatus | None:
    """The marking in a Path Status TLV's value, or None when its length is
    not 4 or 6 (the ``bad_path_marking`` quirk)."""
    n = len(value)
    if n == 6:
        return path_status(int.from_bytes(value[:4], "big"), int.from_bytes(value[4:6], "big"))
    if n == 4:
        return path_status(int.from_bytes(value, "big"), None)
    return None


def _is_marking(t: BmpTlv) -> bool:
    return t.type == RM_TLV_PATH_MARKING and t.pen is None and t.index is not None


def bad_markings(tlvs: tuple[BmpTlv, ...]) -> int:
    """Path Status TLVs whose value is not 4 or 6 bytes (each a quirk)."""
    return sum(1 for t in tlvs if _is_marking(t) and len(t.value) not in (4, 6))


def assign_path_status(tlvs: tuple[BmpTlv, ...], routes: int) -> tuple[PathStatus | None, ...]:
    """Each announced route's marking from the Path Status TLVs of one Route
    Monitoring (draft-ietf-grow-bmp-tlv indexes): index 0 marks every NLRI,
    n the n-th (1-based, in ``Update.announced`` order), G bit + n the NLRIs
    of Group TLV n. A more specific index wins. Empty without any marking."""
    marks = [t for t in tlvs if _is_marking(t)]
    if not marks:
        return ()
    groups: dict[int, list[int]] = {}
    for t in tlvs:
        if t.type == RM_TLV_GROUP and t.pen is None and t.index is not None:
            v = t.value
            groups[t.index] = [int.from_bytes(v[i : i + 2], "big") for i in range(0, len(v) - 1, 2)]
    out: list[PathStatus | None] = [None] * routes
    # Least specific first, so a per-NLRI marking overrides a group's or the message's.
    for rank in (0, 1, 2):
        for t in marks:
            index = t.index
            assert index is not None
            kind = 0 if index == 0 else (1 if index & TLV_G_BIT else 2)
            if kind != rank:
                continue
            status = path_status_of(t.value)
            if status is None:
                continue
            if kind == 0:
                out = [status] * routes
            elif kind == 1:
                for n in groups.get(index, ()):
                    if 1 <= n <= routes:
                        out[n - 1] = status
            elif 1 <= index <= routes:
                out[index - 1] = status
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PeerMessage(BmpMessageBase):
    """Base of the messages about one monitored peer (Peer Up, Peer Down,
    Statistics Report, Route Monitoring, Route Mirroring): ``peer`` is their
    per-peer header and their first field."""

    peer: PerPeerHeader


# --- Initiation (§4.3) and Termination (§4.5) --------------------------------


@dataclass(frozen=True, slots=True)
class Initiation(BmpMessageBase, HasInformation):
    TYPE: ClassVar[int] = MessageType.INITIATION
    information: tuple[InformationTlv, ...] = ()


@dataclass(frozen=True, slots=True)
class Termination(BmpMessageBase, HasInformation):
    TYPE: ClassVar[int] = MessageType.TERMINATION
    #: String TLVs (type 0) and any unknown ones; the reason TLV is in ``reason``.
    information: tuple[InformationTlv, ...] = ()
    reason: int | None = None

    @property
    def reason_name(self) -> str | None:
        return name_of(TERMINATION_REASONS, self.reason, "reason")


# --- Peer Up (§4.10, RFC 9069 §5.3) ------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerUp(PeerMessage, HasInformation):
    TYPE: ClassVar[int] = MessageType.PEER_UP
    local_address: str
    local_port: int
    remote_port: int
    #: The OPEN the monitored router sent to the peer.
    sent_open: OpenMessage
    #: The OPEN the monitored router received from the peer.
    received_open: OpenMessage
    information: tuple[InformationTlv, ...] = ()


# --- Peer Down (§4.9, RFC 9069 §5.4) -----------------------------------------

REASON_LOCAL_NOTIFICATION = 1
REASON_LOCAL_NO_NOTIFICATION = 2
REASON_REMOTE_NOTIFICATION = 3
REASON_REMOTE_NO_NOTIFICATION = 4
REASON_PEER_DECONFIGURED = 5
REASON_LOC_RIB_SESSION_CLOSED = 6

REASON_NAMES = {
    1: "local_notification",
    2: "local_no_notification",
    3: "remote_notification",
    4: "remote_no_notification",
    5: "peer_deconfigured",
    6: "local_system_closed",
}

#: BGP FSM event names (RFC 4271 §8.1), for reason 2's event code.
FSM_EVENT_NAMES = {
    0: "none",
    1: "manual_start",
    2: "manual_stop",
    3: "automatic_start",
    8: "automatic_stop",
    9: "connect_retry_timer_expires",
    10: "hold_timer_expires",
    11: "keepalive_timer_expires",
    18: "tcp_connection_fails",
    19: "bgp_open",
    24: "bgp_header_err",
    25: "bgp_open_msg_err",
    26: "open_collision_dump",
    27: "notif_msg_ver_err",
    28: "notif_msg",
    29: "keep_alive_msg",
    30: "update_msg",
    31: "update_msg_err",
}


@dataclass(frozen=True, slots=True)
class PeerDown(PeerMessage):
    TYPE: ClassVar[int] = MessageType.PEER_DOWN
    reason: int
    #: The NOTIFICATION sent (reason 1) or received (reason 3).
    notification: Notification | None = None
    #: The FSM event code for reason 2.
    fsm_event: int | None = None
    #: Raw data of reasons that carry none of the above (or TLVs for reason 6).
    data: bytes = b""
    #: TLVs: reason 6's (RFC 9069 §5.4), v4's after the reason data, or a v3
    #: message's after its NOTIFICATION / event code.
    tlvs: tuple[BmpTlv, ...] = ()

    @property
    def reason_name(self) -> str:
        return name_of(REASON_NAMES, self.reason, "reason")

    @property
    def fsm_event_name(self) -> str | None:
        return name_of(FSM_EVENT_NAMES, self.fsm_event, "event")


# --- Statistics Report (§4.8; the type registry is stat_types.py) ------------


@dataclass(frozen=True, slots=True)
class StatEntry:
    type: int
    #: Counter or gauge value; None when the type is unknown or its length is
    #: not the registered one (then ``raw`` holds the bytes).
    value: int | None
    afi: int | None = None
    safi: int | None = None
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class StatisticsReport(PeerMessage):
    TYPE: ClassVar[int] = MessageType.STATISTICS_REPORT
    stats: tuple[StatEntry, ...] = ()


# --- Route Monitoring (§4.6): a per-peer header and one UPDATE ---------------


@dataclass(frozen=True, slots=True)
class RouteMonitoring(PeerMessage):
    TYPE: ClassVar[int] = MessageType.ROUTE_MONITORING
    update: Update
    #: TLVs after the UPDATE (v3) or around it (v4), the BGP PDU TLV
    #: excluded; bytes after a v3 UPDATE that are no TLVs are one
    #: ``TLV_TRAILING_BYTES`` entry. One field only: this class is built per
    #: message on the hot path.
    tlvs: tuple[BmpTlv, ...] = ()

    @property
    def path_status(self) -> tuple[PathStatus | None, ...]:
        """One entry per announced route (``update.announced`` flattened, in
        order) when the message carries path marking, else empty (computed)."""
        if not self.tlvs:
            return ()
        return assign_path_status(self.tlvs, sum(len(n.prefixes) for n in self.update.announced))

    @property
    def trailing(self) -> bytes:
        """Bytes after a v3 UPDATE that do not parse as TLVs."""
        for t in self.tlvs:
            if t.type == TLV_TRAILING_BYTES:
                return t.value
        return b""


# --- Route Mirroring (§4.7) --------------------------------------------------

MIRROR_BGP_MESSAGE = 0
MIRROR_INFORMATION = 1
MIRROR_INFO_NAMES = {0: "errored_pdu", 1: "messages_lost"}


@dataclass(frozen=True, slots=True)
class MirrorTlv:
    type: int
    #: For type 0: the decoded BGP message, or None when it did not decode
    #: (an errored PDU is exactly what mirroring is for); ``raw`` keeps the bytes.
    message: BgpMessage | None = None
    #: For type 1: the information code.
    code: int | None = None
    raw: bytes = b""

    @property
    def code_name(self) -> str | None:
        return name_of(MIRROR_INFO_NAMES, self.code, "code")


@dataclass(frozen=True, slots=True)
class RouteMirroring(PeerMessage):
    TYPE: ClassVar[int] = MessageType.ROUTE_MIRRORING
    entries: tuple[MirrorTlv, ...] = ()


# --- any other type --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownBmpMessage(BmpMessageBase):
    """A message type this decoder does not know; skipped, never fatal."""

    type: int
    body: bytes


BmpMessage = (
    Initiation
    | Termination
    | PeerUp
    | PeerDown
    | StatisticsReport
    | RouteMonitoring
    | RouteMirroring
    | UnknownBmpMessage
)
