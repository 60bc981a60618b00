"""Selectors: which peers are MetalLB speakers or DCI peers, which routers a check run reads.

``health.metallb_peers`` and ``health.dci_peers`` entries, one of:

* a CIDR (``10.0.1.0/24``, ``fd00::/64``; a bare address is its /32 or /128):
  the peer's address (the ``%rd`` suffix ignored) is inside it;
* an ASN, ``AS65010`` (or the digits alone, quoted in YAML): the peer AS;
* ``id:CIDR``: the peer's BGP identifier is inside it (MetalLB and FRR-K8s
  use the node's address as router ID by default);
* ``sysname:GLOB``: every peer of a router whose BMP Initiation sysName matches
  the shell-style glob (``frr-k8s-*``): that router *is* the speaker, so its
  Adj-RIB-Out (what it announces) is what the checks look at.

Normalised text: ``10.0.1.0/24``, ``AS65010``, ``id:10.0.0.0/8``, ``sysname:frr-k8s-*``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable

from ..core import Core, Peer, Router
from ..netaddr import in_networks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _net(text: str, what: str, raw: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{raw!r}: {what} {text!r} is not a CIDR ({exc})") from None


def normalise_selector(value: str) -> str:
    """The config validator: a selector's normalised text, ``ValueError`` when bad."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a peer selector (CIDR, ASN, id:CIDR, sysname:GLOB)")
    t = value.strip()
    low = t.lower()
    if low.startswith("sysname:"):
        glob = t[len("sysname:") :].strip()
        if not glob:
            raise ValueError(f"{value!r}: empty sysName pattern")
        return f"sysname:{glob}"
    if low.startswith("id:"):
        return f"id:{_net(t[3:].strip(), 'BGP identifier', value)}"
    digits = low[2:] if low.startswith("as") else low
    if digits.isdigit():
        asn = int(digits)
        if asn > 0xFFFFFFFF:
            raise ValueError(f"{value!r}: AS {asn} is above 4294967295")
        return f"AS{asn}"
    return str(_net(t, "peer address", value))


class PeerSelector:
    """Compiled selectors; ``peer(peer)`` for address/ASN/id, ``router(sys_name)``."""

    __slots__ = ("addresses", "asns", "globs", "ids", "texts")

    def __init__(self, selectors: Iterable[str]) -> None:
        self.texts = tuple(normalise_selector(s) for s in selectors)
        self.addresses: list[Network] = []
        self.ids: list[Network] = []
        self.asns: set[int] = set()
        self.globs: list[str] = []
        for s in self.texts:
            if s.startswith("sysname:"):
                self.globs.append(s[len("sysname:") :])
            elif s.startswith("id:"):
                self.ids.append(ipaddress.ip_network(s[3:]))
            elif s.startswith("AS"):
                self.asns.add(int(s[2:]))
            else:
                self.addresses.append(ipaddress.ip_network(s))

    def __bool__(self) -> bool:
        return bool(self.texts)

    @property
    def peer_selectors(self) -> bool:
        """Whether any selector picks peers by themselves (not through the router)."""
        return bool(self.addresses or self.ids or self.asns)

    def peer(self, peer: Peer) -> bool:
        """Whether ``peer`` itself is selected (address, ASN or BGP identifier)."""
        if peer.asn in self.asns:
            return True
        if self.addresses and in_networks(peer.address, self.addresses):
            return True
        return bool(self.ids) and in_networks(peer.bgp_id, self.ids)

    def router(self, sys_name: str) -> bool:
        """Whether a router with this sysName is selected (``sysname:`` globs)."""
        return bool(sys_name) and any(fnmatch.fnmatchcase(sys_name, g) for g in self.globs)


__all__ = ["PeerSelector", "normalise_selector"]


def up_routers(core: Core, label: str | None = None) -> list[Router]:
    """The routers a check run looks at: those whose BMP session is up (only
    the one labelled ``label``, when given)."""
    return [r for r in list(core.routers.values()) if r.up and label in (None, r.label)]
