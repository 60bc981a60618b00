"""Every BGP message as a frozen dataclass (RFC 4271 §4 and extensions):
the header constants, OPEN and its capabilities (RFC 5492), UPDATE (RFC 4271
§4.3, RFC 4760, RFC 7911, RFC 7606), NOTIFICATION with named codes,
KEEPALIVE, ROUTE-REFRESH. Each message class carries its type code in
``TYPE``. The decoders are in ``decode.py`` (construct) and ``fast.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Generic, TypeVar

from ..codes import name_of
from .attributes import PathAttributes
from .nlri import NlriSet

MARKER = b"\xff" * 16
HEADER_SIZE = 19
#: RFC 4271 maximum; RFC 8654 extended messages go up to 65535.
MAX_SIZE = 4096
MAX_EXTENDED_SIZE = 65535


class MessageType(IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class BgpMessageBase:
    """Base of every BGP message dataclass: ``TYPE`` is its message type code."""

    __slots__ = ()
    TYPE: ClassVar[int]


# --- NOTIFICATION ----------------------------------------------------------

#: Error codes (IANA "BGP Error (Notification) Codes").
CODE_NAMES: dict[int, str] = {
    1: "message_header_error",
    2: "open_message_error",
    3: "update_message_error",
    4: "hold_timer_expired",
    5: "fsm_error",
    6: "cease",
    7: "route_refresh_message_error",
    8: "send_hold_timer_expired",
}

#: Subcodes per error code (IANA registries).
SUBCODE_NAMES: dict[int, dict[int, str]] = {
    1: {1: "connection_not_synchronized", 2: "bad_message_length", 3: "bad_message_type"},
    2: {
        1: "unsupported_version_number",
        2: "bad_peer_as",
        3: "bad_bgp_identifier",
        4: "unsupported_optional_parameter",
        5: "deprecated",
        6: "unacceptable_hold_time",
        7: "unsupported_capability",
        8: "deprecated",
        9: "deprecated",
        10: "deprecated",
        11: "role_mismatch",
    },
    3: {
        1: "malformed_attribute_list",
        2: "unrecognized_well_known_attribute",
        3: "missing_well_known_attribute",
        4: "attribute_flags_error",
        5: "attribute_length_error",
        6: "invalid_origin_attribute",
        7: "deprecated",
        8: "invalid_next_hop_attribute",
        9: "optional_attribute_error",
        10: "invalid_network_field",
        11: "malformed_as_path",
    },
    5: {
        0: "unspecified_error",
        1: "receive_unexpected_message_in_opensent_state",
        2: "receive_unexpected_message_in_openconfirm_state",
        3: "receive_unexpected_message_in_established_state",
    },
    6: {
        1: "maximum_number_of_prefixes_reached",
        2: "administrative_shutdown",
        3: "peer_deconfigured",
        4: "administrative_reset",
        5: "connection_rejected",
        6: "other_configuration_change",
        7: "connection_collision_resolution",
        8: "out_of_resources",
        9: "hard_reset",
        10: "bfd_down",
    },
    7: {1: "invalid_message_length"},
}


def code_name(code: int) -> str:
    return name_of(CODE_NAMES, code, "code")


def subcode_name(code: int, subcode: int) -> str:
    if subcode == 0 and code != 5:
        return "unspecific"
    return name_of(SUBCODE_NAMES.get(code, {}), subcode, "subcode")


@dataclass(frozen=True, slots=True)
class Notification(BgpMessageBase):
    TYPE: ClassVar[int] = MessageType.NOTIFICATION
    code: int
    subcode: int
    data: bytes = b""

    @property
    def code_name(self) -> str:
        return code_name(self.code)

    @property
    def subcode_name(self) -> str:
        return subcode_name(self.code, self.subcode)

    def shutdown_message(self) -> str | None:
        """RFC 9003 shutdown communication for Cease 2 and 4, if present."""
        if self.code == 6 and self.subcode in (2, 4) and self.data:
            n = self.data[0]
            if 0 < n <= len(self.data) - 1:
                return self.data[1 : 1 + n].decode("utf-8", "replace")
        return None


# --- OPEN ------------------------------------------------------------------


class CapabilityCode(IntEnum):
    MULTIPROTOCOL = 1
    ROUTE_REFRESH = 2
    EXTENDED_NEXT_HOP = 5
    EXTENDED_MESSAGE = 6
    ROLE = 9
    GRACEFUL_RESTART = 64
    FOUR_OCTET_AS = 65
    ADD_PATH = 69
    ENHANCED_ROUTE_REFRESH = 70
    LLGR = 71
    FQDN = 73


CAPABILITY_NAMES = {
    1: "multiprotocol",
    2: "route_refresh",
    3: "outbound_route_filtering",
    4: "multiple_routes",
    5: "extended_next_hop",
    6: "extended_message",
    7: "bgpsec",
    8: "multiple_labels",
    9: "role",
    64: "graceful_restart",
    65: "four_octet_as",
    69: "add_path",
    70: "enhanced_route_refresh",
    71: "long_lived_graceful_restart",
    73: "fqdn",
    128: "route_refresh_cisco",
}

#: ADD-PATH send/receive field (RFC 7911 §4).
ADD_PATH_RECEIVE = 1
ADD_PATH_SEND = 2
ADD_PATH_BOTH = 3


@dataclass(frozen=True, slots=True)
class Capability:
    """One capability. ``value`` holds its raw bytes; the typed fields of the
    subclasses below are decoded from them."""

    code: int
    value: bytes = b""

    @property
    def name(self) -> str:
        return name_of(CAPABILITY_NAMES, self.code, "capability")


@dataclass(frozen=True, slots=True)
class MultiprotocolCapability(Capability):
    afi: int = 0
    safi: int = 0


@dataclass(frozen=True, slots=True)
class ExtendedNextHopCapability(Capability):
    #: (nlri afi, nlri safi, next hop afi) triples (RFC 8950).
    entries: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class GracefulRestartCapability(Capability):
    restart_flags: int = 0
    restart_time: int = 0
    #: (afi, safi, flags) per address family.
    families: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class FourOctetAsCapability(Capability):
    asn: int = 0


_Entry = TypeVar("_Entry", bound=tuple[int, ...])


@dataclass(frozen=True, slots=True)
class PerFamilyCapability(Capability, Generic[_Entry]):
    """A capability that is a list of entries, one per address family, each
    ``(afi, safi, ...)``."""

    families: tuple[_Entry, ...] = ()

    @property
    def afi_safis(self) -> frozenset[tuple[int, int]]:
        return frozenset((e[0], e[1]) for e in self.families)


@dataclass(frozen=True, slots=True)
class AddPathCapability(PerFamilyCapability[tuple[int, int, int]]):
    """RFC 7911: (afi, safi, send/receive) per address family."""


@dataclass(frozen=True, slots=True)
class LlgrCapability(PerFamilyCapability[tuple[int, int, int, int]]):
    """RFC 9494: (afi, safi, flags, stale time) per address family."""


@dataclass(frozen=True, slots=True)
class FqdnCapability(Capability):
    hostname: str = ""
    domain: str = ""


@dataclass(frozen=True, slots=True)
class RoleCapability(Capability):
    role: int = 0


ROLE_NAMES = {0: "provider", 1: "rs", 2: "rs_client", 3: "customer", 4: "peer"}


@dataclass(frozen=True, slots=True)
class OpenMessage(BgpMessageBase):
    TYPE: ClassVar[int] = MessageType.OPEN
    version: int
    #: The 2-byte "My Autonomous System" field (AS_TRANS for 4-byte ASNs).
    my_as: int
    hold_time: int
    bgp_id: str
    capabilities: tuple[Capability, ...] = ()
    #: Optional parameters other than capabilities: (type, value).
    other_parameters: tuple[tuple[int, bytes], ...] = field(default=())

    @property
    def asn(self) -> int:
        """The speaker's AS: the 4-octet AS capability if present (RFC 6793)."""
        for cap in self.capabilities:
            if isinstance(cap, FourOctetAsCapability):
                return cap.asn
        return self.my_as

    @property
    def four_octet_as(self) -> bool:
        return any(isinstance(c, FourOctetAsCapability) for c in self.capabilities)

    @property
    def graceful_restart(self) -> GracefulRestartCapability | None:
        for cap in self.capabilities:
            if isinstance(cap, GracefulRestartCapability):
                return cap
        return None

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        return frozenset(
            (c.afi, c.safi) for c in self.capabilities if isinstance(c, MultiprotocolCapability)
        )

    def add_path(self, afi: int, safi: int) -> int:
        """The ADD-PATH send/receive bits this speaker advertised for afi/safi (0: none)."""
        mode = 0
        for cap in self.capabilities:
            if isinstance(cap, AddPathCapability):
                for f_afi, f_safi, f_mode in cap.families:
                    if f_afi == afi and f_safi == safi:
                        mode |= f_mode
        return mode

    def extended_next_hop(self) -> frozenset[tuple[int, int, int]]:
        out: set[tuple[int, int, int]] = set()
        for cap in self.capabilities:
            if isinstance(cap, ExtendedNextHopCapability):
                out.update(cap.entries)
        return frozenset(out)

    def has(self, code: int) -> bool:
        return any(c.code == code for c in self.capabilities)


# --- UPDATE ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Update(BgpMessageBase):
    TYPE: ClassVar[int] = MessageType.UPDATE
    #: Classic withdrawn routes (IPv4 unicast) first, then MP_UNREACH_NLRI.
    withdrawn: tuple[NlriSet, ...] = ()
    #: Classic NLRI (IPv4 unicast) first, then MP_REACH_NLRI.
    announced: tuple[NlriSet, ...] = ()
    #: None for an UPDATE without path attributes (a pure withdrawal).
    attributes: PathAttributes | None = None
    #: (afi, safi) when this UPDATE is an End-of-RIB marker (RFC 4724 §2).
    end_of_rib: tuple[int, int] | None = None

    def announced_count(self) -> int:
        return sum(len(s.prefixes) for s in self.announced)

    def withdrawn_count(self) -> int:
        return sum(len(s.prefixes) for s in self.withdrawn)

    def as_withdraw(self) -> Update:
        """RFC 7606 treat-as-withdraw: every announced route becomes a withdrawal."""
        return Update(withdrawn=self.withdrawn + self.announced, announced=(), attributes=None)


# --- KEEPALIVE, ROUTE-REFRESH, unknown types ------------------------------


@dataclass(frozen=True, slots=True)
class Keepalive(BgpMessageBase):
    TYPE: ClassVar[int] = MessageType.KEEPALIVE


@dataclass(frozen=True, slots=True)
class RouteRefresh(BgpMessageBase):
    TYPE: ClassVar[int] = MessageType.ROUTE_REFRESH
    afi: int
    safi: int
    #: RFC 7313: 0 normal, 1 BoRR, 2 EoRR.
    subtype: int = 0


@dataclass(frozen=True, slots=True)
class UnknownBgpMessage:
    type: int
    body: bytes


BgpMessage = OpenMessage | Update | Notification | Keepalive | RouteRefresh | UnknownBgpMessage
