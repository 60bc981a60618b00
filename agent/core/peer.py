"""A monitored BGP peer of one router: identity, state, RIB tables, counters."""

from __future__ import annotations

from collections import Counter

from parsers.bgp.messages import OpenMessage
from parsers.bmp.context import PeerKey
from parsers.bmp.messages import PEER_TYPE_NAMES, PerPeerHeader

from .rib import RibTable

#: Peer states. ``implicit``: routes arrived without a Peer Up (GoBGP's
#: Loc-RIB, or a collector that joined late); treated as up.
UP = "up"
DOWN = "down"
IMPLICIT = "implicit"

TableKey = tuple[str, int, int]


def peer_label(header: PerPeerHeader) -> str:
    """The ``peer`` label: the address, plus ``%<rd>`` when the distinguisher is set
    (RD peers in different VRFs may share an address)."""
    rd = header.rd
    return header.address if rd is None else f"{header.address}%{rd}"


class Peer:
    __slots__ = (
        "address",
        "asn",
        "bgp_id",
        "distinguisher",
        "downs",
        "ever_up",
        "key",
        "label",
        "last_change",
        "last_down_reason",
        "local_address",
        "local_asn",
        "local_port",
        "peer_type",
        "rd",
        "received_open",
        "remote_port",
        "sent_open",
        "state",
        "stats",
        "tables",
        "up_since",
    )

    def __init__(self, header: PerPeerHeader) -> None:
        self.key: PeerKey = header.key
        self.label = peer_label(header)
        self.address = header.address
        self.peer_type = header.peer_type
        self.distinguisher = header.distinguisher
        self.rd = header.rd
        self.asn = header.asn
        self.bgp_id = header.bgp_id
        self.local_asn: int | None = None
        self.local_address: str | None = None
        self.local_port: int | None = None
        self.remote_port: int | None = None
        #: The OPENs of the last Peer Up (sent / received by the monitored router).
        self.sent_open: OpenMessage | None = None
        self.received_open: OpenMessage | None = None
        self.state = DOWN
        self.ever_up = False
        #: Wall-clock time (``CoreSettings.clock``) of the last state change.
        self.last_change: float | None = None
        self.up_since: float | None = None
        self.last_down_reason: str | None = None
        #: Peer Down count per reason name.
        self.downs: Counter[str] = Counter()
        self.tables: dict[TableKey, RibTable] = {}
        #: Last Statistics Report value per (stat name, afi, safi); afi/safi
        #: are None for stats that are not per AFI/SAFI.
        self.stats: dict[tuple[str, int | None, int | None], int] = {}

    @property
    def up(self) -> bool:
        return self.state != DOWN

    @property
    def peer_type_name(self) -> str:
        return PEER_TYPE_NAMES.get(self.peer_type, f"type_{self.peer_type}")

    def table(self, view: str, afi: int, safi: int) -> RibTable:
        key = (view, afi, safi)
        t = self.tables.get(key)
        if t is None:
            t = self.tables[key] = RibTable(view, afi, safi)
        return t

    def clear_routes(self) -> None:
        for t in self.tables.values():
            t.clear()

    @property
    def route_count(self) -> int:
        return sum(t.route_count for t in self.tables.values())
