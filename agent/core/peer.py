"""A monitored BGP peer of one router: identity, state, RIB tables, counters.

The state transitions live here and nowhere else: ``go_up`` (a BGP session
started), ``go_down`` (it ended; a reason counts a Peer Down) and
``mark_implicit`` (routes arrived without a Peer Up). BMP sessions
(``agent.core.router.RouterSession``) and the BIRD poller
(``agent.sources.bird``) both call them.
"""

from __future__ import annotations

from collections import Counter

from parsers.afi import format_rd
from parsers.bgp.messages import OpenMessage
from parsers.bmp.context import PeerKey
from parsers.bmp.messages import PEER_TYPE_NAMES, PerPeerHeader

from .rib import RibTable

#: Peer states. ``implicit``: routes arrived without a Peer Up (GoBGP's
#: Loc-RIB, or a collector that joined late); treated as up.
UP = "up"
DOWN = "down"
IMPLICIT = "implicit"

#: RFC 9069 peer type of a Loc-RIB instance peer.
LOC_RIB_PEER_TYPE = 3

TableKey = tuple[str, int, int]


def peer_label(address: str, rd: str | None) -> str:
    """The ``peer`` label: the address, plus ``%<rd>`` when the distinguisher is set
    (RD peers in different VRFs may share an address)."""
    return address if rd is None else f"{address}%{rd}"


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
        "table_name",
        "tables",
        "up_since",
    )

    def __init__(
        self,
        peer_type: int,
        distinguisher: bytes,
        address: str,
        *,
        asn: int = 0,
        bgp_id: str = "0.0.0.0",
    ) -> None:
        #: Identity: (peer type, distinguisher, address), as ``PerPeerHeader.key``.
        self.key: PeerKey = (peer_type, distinguisher, address)
        self.peer_type = peer_type
        self.distinguisher = distinguisher
        self.address = address
        self.rd = format_rd(distinguisher) if any(distinguisher) else None
        self.label = peer_label(address, self.rd)
        self.asn = asn
        self.bgp_id = bgp_id
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
        #: Loc-RIB peers: the VRF/Table Name TLV of the last Peer Up (RFC 9069 §5.3).
        self.table_name: str | None = None
        #: Last Statistics Report value per (stat name, afi, safi); afi/safi
        #: are None for stats that are not per AFI/SAFI.
        self.stats: dict[tuple[str, int | None, int | None], int] = {}

    @classmethod
    def from_header(cls, header: PerPeerHeader) -> Peer:
        return cls(
            header.peer_type,
            header.distinguisher,
            header.address,
            asn=header.asn,
            bgp_id=header.bgp_id,
        )

    @property
    def up(self) -> bool:
        return self.state != DOWN

    @property
    def peer_type_name(self) -> str:
        return PEER_TYPE_NAMES.get(self.peer_type, f"type_{self.peer_type}")

    # -- transitions ------------------------------------------------------------

    def go_up(self, now: float) -> None:
        """A BGP session started (a Peer Up, a BIRD protocol Established): the peer
        is up from ``now``. Routes are not touched (``clear_routes`` first for a
        new session whose old routes are stale)."""
        self.state = UP
        self.ever_up = True
        self.last_change = now
        self.up_since = now

    def go_down(self, now: float, reason: str | None = None) -> None:
        """The session ended: every route goes and the peer is down. ``reason``
        counts a Peer Down under that name; None (the router's session closed)
        counts nothing."""
        if reason is not None:
            self.downs[reason] += 1
            self.last_down_reason = reason
        self.clear_routes()
        if self.state != DOWN:
            self.state = DOWN
            self.last_change = now
            self.up_since = None

    def mark_implicit(self, now: float) -> bool:
        """Routes arrived: a down peer becomes ``implicit``. Returns True when the
        peer was not up (no Peer Up seen: the ``route_monitoring_without_peer_up``
        quirk), False when it was."""
        if self.state == UP:
            return False
        if self.state == DOWN:
            self.state = IMPLICIT
            self.last_change = now
            self.up_since = now
        return True

    # -- tables -------------------------------------------------------------------

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
