"""NLRI: the routes an UPDATE announces or withdraws.

Routes are kept in their *wire key* form, a ``bytes`` slice of the message,
because that is what a RIB keys on and slicing is the cheapest thing Python
can do per prefix. ``describe`` turns a key into text on demand.

Key formats, per SAFI (path IDs are never part of the key; they travel in
``NlriSet.path_ids``):

* unicast, multicast: ``<length in bits><prefix octets>`` exactly as on the wire.
* labeled unicast (SAFI 4, RFC 8277): ``<prefix length in bits><prefix octets>``,
  the label stack removed (withdrawals may carry any label); labels travel in
  ``NlriSet.labels``.
* VPN (SAFI 128, RFC 4364): ``<length in bits of RD + prefix><RD><prefix octets>``,
  labels removed likewise.
* EVPN (SAFI 70, RFC 7432): ``<route type><length><route>`` as on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..afi import Safi, afi_name, format_address, format_prefix, format_rd, safi_name


@dataclass(frozen=True, slots=True)
class NlriSet:
    """The routes of one AFI/SAFI announced or withdrawn by one UPDATE."""

    afi: int
    safi: int
    prefixes: tuple[bytes, ...]
    #: One path ID per prefix when the NLRI carried ADD-PATH identifiers.
    path_ids: tuple[int, ...] | None = None
    #: One label stack per prefix for labeled SAFIs (4, 128); EVPN keeps its
    #: labels inside the key.
    labels: tuple[tuple[int, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.prefixes)

    @property
    def afi_name(self) -> str:
        return afi_name(self.afi)

    @property
    def safi_name(self) -> str:
        return safi_name(self.safi)

    def describe(self) -> list[str]:
        return [describe(self.afi, self.safi, key) for key in self.prefixes]


def describe(afi: int, safi: int, key: bytes) -> str:
    """A route key as readable text, e.g. ``192.0.2.0/24`` or ``65000:1 10.0.0.0/8``."""
    if safi == Safi.VPN and len(key) >= 9:
        return f"{format_rd(key[1:9])} {format_prefix(afi, key[0] - 64, key[9:])}"
    if safi == Safi.EVPN:
        return describe_evpn(key)
    return format_prefix(afi, key[0], key[1:])


EVPN_ROUTE_TYPES = {
    1: "ethernet_auto_discovery",
    2: "mac_ip_advertisement",
    3: "inclusive_multicast",
    4: "ethernet_segment",
    5: "ip_prefix",
}


def describe_evpn(key: bytes) -> str:
    """EVPN route as text: type, RD and, for types 2 and 5, the MAC/IP or prefix."""
    if len(key) < 10:
        return f"evpn:{key.hex()}"
    kind = key[0]
    body = key[2:]
    rd = format_rd(body[0:8])
    name = EVPN_ROUTE_TYPES.get(kind, f"type_{kind}")
    text = f"evpn:{name}:{rd}"
    if kind == 2 and len(body) >= 8 + 10 + 4 + 1 + 6 + 1:
        # RD(8) ESI(10) EthTag(4) MAC len(1) MAC(6) IP len(1) IP(0/4/16) labels
        mac = body[23:29]
        text += ":" + ":".join(f"{b:02x}" for b in mac)
        iplen = body[29]
        if iplen in (32, 128) and len(body) >= 30 + iplen // 8:
            text += ":" + format_address(body[30 : 30 + iplen // 8])
    elif kind == 5 and len(body) >= 8 + 10 + 4 + 1:
        # RD(8) ESI(10) EthTag(4) IP prefix len(1) prefix(4/16) gw(4/16) label(3)
        plen = body[22]
        rest = len(body) - 23 - 3
        size = 4 if rest == 8 else 16
        text += ":" + format_prefix(1 if size == 4 else 2, plen, body[23 : 23 + size])
    return text
