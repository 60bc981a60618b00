"""Address families, subsequent address families and prefix formatting."""

from __future__ import annotations

import ipaddress
from socket import AF_INET, AF_INET6, inet_ntop

from .codes import CodeEnum, name_of


class Afi(CodeEnum):
    IPV4 = 1
    IPV6 = 2
    L2VPN = 25


class Safi(CodeEnum):
    UNICAST = 1
    MULTICAST = 2
    LABELED_UNICAST = 4
    EVPN = 70
    VPN = 128


#: Code -> name ("ipv4", "labeled_unicast"): the enum names, lower-case.
AFI_NAMES = Afi.names()
SAFI_NAMES = Safi.names()

#: Address length in bytes per AFI, for prefix NLRI.
ADDRESS_BYTES = {1: 4, 2: 16}


def afi_name(afi: int) -> str:
    return name_of(AFI_NAMES, afi, "afi")


def safi_name(safi: int) -> str:
    return name_of(SAFI_NAMES, safi, "safi")


def format_address(raw: bytes) -> str:
    """An IPv4 (4 bytes) or IPv6 (16 bytes) address as text (RFC 5952 for IPv6).

    ``inet_ntop`` is six times faster than ``ipaddress``; glibc writes the
    deprecated IPv4-compatible form (``::0.1.0.2``) for some addresses, which
    is left to ``ipaddress``. IPv4-mapped addresses keep the dotted form.
    """
    if len(raw) == 4:
        return inet_ntop(AF_INET, raw)
    if len(raw) == 16:
        text = inet_ntop(AF_INET6, raw)
        if "." in text and not text.startswith("::ffff:"):
            return str(ipaddress.IPv6Address(raw))
        return text
    return raw.hex()


def format_prefix(afi: int, length: int, octets: bytes) -> str:
    """``octets`` holds ceil(length/8) bytes of the prefix, as on the wire."""
    size = ADDRESS_BYTES.get(afi)
    if size is None:
        return f"{octets.hex()}/{length}"
    padded = octets + bytes(size - len(octets))
    return f"{format_address(padded)}/{length}"


def format_rd(rd: bytes) -> str:
    """A route distinguisher (RFC 4364 §4.2) as ``asn:value`` or ``ip:value``."""
    if len(rd) != 8:
        return rd.hex()
    kind = int.from_bytes(rd[0:2], "big")
    if kind == 0:
        return f"{int.from_bytes(rd[2:4], 'big')}:{int.from_bytes(rd[4:8], 'big')}"
    if kind == 1:
        return f"{format_address(rd[2:6])}:{int.from_bytes(rd[6:8], 'big')}"
    if kind == 2:
        return f"{int.from_bytes(rd[2:6], 'big')}:{int.from_bytes(rd[6:8], 'big')}"
    return rd.hex()
