"""BMP message *encoder* for synthesized state, sans-IO.

``per_peer_header`` builds the RFC 7854 §4.2 header (flags from the view:
RFC 8671 O flag for Adj-RIB-Out, L for post-policy, RFC 9069 peer type 3 for
Loc-RIB; never the A flag, since ``parsers.bgp.encode`` writes 4-byte AS
paths); ``route_monitoring`` wraps one BGP UPDATE into a Route Monitoring
message.
"""

from __future__ import annotations

import struct

from .messages import COMMON_HEADER_SIZE, FLAG_L, FLAG_O, FLAG_V, VERSION, MessageType

_PEER = struct.Struct("!BB8s16sI4sII")
_COMMON = struct.Struct("!BIB")

#: View name -> per-peer header flags (without V).
VIEW_FLAGS = {
    "adj_in_pre": 0,
    "adj_in_post": FLAG_L,
    "adj_out_pre": FLAG_O,
    "adj_out_post": FLAG_O | FLAG_L,
    "loc_rib": 0,
}


def _addr16(text: str) -> tuple[bytes, bool]:
    import ipaddress

    ip = ipaddress.ip_address(text)
    if ip.version == 6:
        return ip.packed, True
    return b"\x00" * 12 + ip.packed, False


def per_peer_header(
    peer_type: int,
    view: str,
    distinguisher: bytes,
    address: str,
    asn: int,
    bgp_id: str,
    timestamp: float,
) -> bytes:
    """The 42-byte per-peer header of a Route Monitoring for ``view``."""
    if view not in VIEW_FLAGS:
        raise ValueError(f"unknown view {view!r}")
    if peer_type == 3 or view == "loc_rib":
        # RFC 9069 §4.1: the peer address is zero for a Loc-RIB instance.
        addr, v6, flags = b"\x00" * 16, False, 0
        peer_type = 3
    else:
        addr, v6 = _addr16(address)
        flags = VIEW_FLAGS[view] | (FLAG_V if v6 else 0)
    bid = _addr16(bgp_id)[0][-4:] if bgp_id and ":" not in bgp_id else b"\x00" * 4
    sec = int(timestamp)
    usec = int((timestamp - sec) * 1_000_000)
    return _PEER.pack(peer_type, flags, distinguisher, addr, asn, bid, sec, usec)


def route_monitoring(header: bytes, update: bytes) -> bytes:
    """A whole Route Monitoring message: common header, per-peer header, UPDATE."""
    return (
        _COMMON.pack(VERSION, COMMON_HEADER_SIZE + len(header) + len(update), 0) + header + update
    )


__all__ = ["VIEW_FLAGS", "MessageType", "per_peer_header", "route_monitoring"]
