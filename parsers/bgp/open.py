"""OPEN messages (RFC 4271 §4.2) and their capabilities (RFC 5492)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


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
        return CAPABILITY_NAMES.get(self.code, f"capability_{self.code}")


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


@dataclass(frozen=True, slots=True)
class AddPathCapability(Capability):
    #: (afi, safi, send/receive) per address family.
    families: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class LlgrCapability(Capability):
    #: (afi, safi, flags, stale time) per address family.
    families: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class FqdnCapability(Capability):
    hostname: str = ""
    domain: str = ""


@dataclass(frozen=True, slots=True)
class RoleCapability(Capability):
    role: int = 0


ROLE_NAMES = {0: "provider", 1: "rs", 2: "rs_client", 3: "customer", 4: "peer"}


@dataclass(frozen=True, slots=True)
class OpenMessage:
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
