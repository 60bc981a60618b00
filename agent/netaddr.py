"""Listening sockets as operators expect them: ``[::]`` is every address.

asyncio (and aiohttp on top of it) sets ``IPV6_V6ONLY`` on every IPv6
listening socket, so ``[::]:9324`` would take IPv6 clients only, unlike Go
exporters (and Linux's own default, ``net.ipv6.bindv6only=0``) where ``::``
means every address, IPv4 included. ``listen_socket`` binds the socket itself:
an IPv6 wildcard (``::``) is dual-stack unless ``ipv6_only`` is set; any
other IPv6 address keeps ``IPV6_V6ONLY`` on (it cannot take IPv4 anyway).
Addresses that are not literals (host names) return ``None``: the caller
leaves resolution to asyncio.

IPv4 clients of a dual-stack socket show up as IPv4-mapped IPv6 addresses
(``::ffff:192.0.2.1``); ``unmap`` turns them back into IPv4, so a router has
one label whichever socket it reached. ``parse_ip`` reads an address as the
rest of the agent compares it (scope id dropped, IPv4-mapped as IPv4) and
``in_networks`` tests it against allow lists and selectors.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def listen_socket(host: str, port: int, *, ipv6_only: bool = False) -> socket.socket | None:
    """A bound (not yet listening) TCP socket for a literal address, else None.

    Raises ``OSError`` when the address cannot be bound."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            v6only = ipv6_only or not ip.is_unspecified
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def unmap(address: str) -> str:
    """``::ffff:192.0.2.1`` → ``192.0.2.1``; any other address unchanged."""
    if address.startswith("::ffff:") or address.startswith("::FFFF:"):
        try:
            mapped = ipaddress.IPv6Address(address).ipv4_mapped
        except ValueError:
            return address
        if mapped is not None:
            return str(mapped)
    return address


def parse_ip(text: str | None) -> IPAddress | None:
    """An address as compared against networks: ``fe80::1%eth0`` without its
    scope, ``::ffff:192.0.2.1`` as ``192.0.2.1``; None for "" or a non-address."""
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def in_networks(address: str | None, networks: Iterable[IPNetwork]) -> bool:
    """Whether ``address`` (read as ``parse_ip`` reads it) is inside one of ``networks``."""
    ip = parse_ip(address)
    return ip is not None and any(ip.version == net.version and ip in net for net in networks)
