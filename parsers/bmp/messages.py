"""BMP common header (RFC 7854 §4.1) and per-peer header (§4.2, RFC 8671, RFC 9069)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..afi import format_rd

VERSION = 3
COMMON_HEADER_SIZE = 6
PER_PEER_HEADER_SIZE = 42
#: Largest BMP message we accept. A Route Monitoring carries one BGP message
#: of at most 65535 bytes (RFC 8654) plus headers; Peer Up carries two OPENs
#: and TLVs. Anything larger is a broken or hostile stream.
MAX_MESSAGE_SIZE = 6 + 42 + 65535 + 4096 + 65535


class MessageType(IntEnum):
    ROUTE_MONITORING = 0
    STATISTICS_REPORT = 1
    PEER_DOWN = 2
    PEER_UP = 3
    INITIATION = 4
    TERMINATION = 5
    ROUTE_MIRRORING = 6


#: Type code -> name ("route_monitoring", ...): the ``MessageType`` names.
MESSAGE_TYPE_NAMES: dict[int, str] = {t.value: t.name.lower() for t in MessageType}


class PeerType(IntEnum):
    GLOBAL = 0
    RD = 1
    LOCAL = 2
    LOC_RIB = 3


#: Peer type -> name ("global", "rd", "local", "loc_rib"): the ``PeerType`` names.
PEER_TYPE_NAMES: dict[int, str] = {t.value: t.name.lower() for t in PeerType}

# Per-peer header flags (RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4.2)
FLAG_V = 0x80  # IPv6 peer address
FLAG_L = 0x40  # post-policy
FLAG_A = 0x20  # legacy 2-byte AS_PATH
FLAG_O = 0x10  # Adj-RIB-Out
FLAG_F = 0x80  # Loc-RIB only: the table is filtered

VIEWS = ("adj_in_pre", "adj_in_post", "adj_out_pre", "adj_out_post", "loc_rib")


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
        return PEER_TYPE_NAMES.get(self.peer_type, f"type_{self.peer_type}")

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
