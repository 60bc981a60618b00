"""A monitored router (one BMP speaker connection slot) and the session that feeds it.

``Router`` owns the writes to its peers' RIB tables (``announce``,
``withdraw``: observers, flap counting, quirks) and creates its peers
(``peer_for``, ``ensure_peer``); peers own their state transitions
(``agent.core.peer``). ``RouterSession`` turns one BMP stream's events into
those calls; the BIRD poller (``agent.sources.bird``) makes the same ones.
"""

from __future__ import annotations

from collections import Counter

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet
from parsers.bmp.context import PeerKey
from parsers.bmp.messages import (
    INFO_VRF_TABLE_NAME,
    MESSAGE_TYPE_NAMES,
    Initiation,
    PathStatus,
    PeerDown,
    PeerUp,
    PerPeerHeader,
    RouteMonitoring,
    StatisticsReport,
    Termination,
)
from parsers.bmp.session import Decoded, DecodeFailed, Event
from parsers.bmp.stat_types import stat_name
from parsers.errors import Action, ParseError

from . import path_status
from .flaps import FlapCounts
from .path_status import MarkedAttributes
from .peer import UP, Peer
from .rib import RibTable
from .settings import Shared

# Quirk names counted by the core (the decoders add their own through
# ``RouterSession.absorb_quirks``).
Q_RM_WITHOUT_PEER_UP = "route_monitoring_without_peer_up"
Q_WITHDRAW_UNKNOWN = "withdraw_unknown_route"
Q_PEER_DOWN_NEVER_UP = "peer_down_without_peer_up"
Q_PEER_UP_WHILE_UP = "peer_up_while_up"
Q_STATS_UNDECODED = "stats_value_undecoded"
#: Quirks the decoders count too (per message, same meaning): the core's own
#: count is authoritative and ``absorb_quirks`` skips them, so nothing is
#: counted twice.
CORE_QUIRKS = frozenset({Q_RM_WITHOUT_PEER_UP})


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(value)
    return value


class Router:
    """One router entry: keyed by its label (source address, ``addr#2`` ...).

    Counters persist for the life of the process across reconnects; RIB state
    lives only while a session is connected.
    """

    __slots__ = (
        "address",
        "close_reason",
        "connected_since",
        "connections",
        "decode_errors",
        "flap_counts",
        "info",
        "label",
        "last_close",
        "last_message",
        "messages",
        "mode",
        "peers",
        "port",
        "quirks",
        "session",
        "shared",
        "source",
        "sys_descr",
        "sys_name",
        "termination_reason",
        "up",
    )

    def __init__(self, label: str, address: str, flap_capacity: int, shared: Shared) -> None:
        self.label = label
        #: Settings, observers and interner of the ``Core`` this router belongs to.
        self.shared = shared
        self.address = address
        self.port = 0
        self.mode = "passive"
        #: Where the router's state comes from: "bmp", or "bird" (``agent.sources.bird``).
        self.source = "bmp"
        self.up = False
        self.session: RouterSession | None = None
        self.sys_name = ""
        self.sys_descr = ""
        self.info: dict[str, str | list[str]] = {}
        self.connections = 0
        self.messages: Counter[str] = Counter()
        self.decode_errors: Counter[str] = Counter()
        self.quirks: Counter[str] = Counter()
        self.peers: dict[PeerKey, Peer] = {}
        self.flap_counts = FlapCounts(flap_capacity)
        self.last_message: float | None = None
        self.connected_since: float | None = None
        self.last_close: float | None = None
        self.close_reason: str | None = None
        self.termination_reason: str | None = None

    def drop_rib(self, now: float) -> None:
        """Session closed: every route goes, every peer is marked down (no Peer Down counted)."""
        for peer in self.peers.values():
            peer.go_down(now)

    # -- peers ------------------------------------------------------------------

    def peer_for(self, header: PerPeerHeader) -> Peer:
        """The peer of a BMP per-peer header, created (down) on first sight."""
        peer = self.peers.get(header.key)
        if peer is None:
            peer = self.peers[header.key] = Peer.from_header(header)
        return peer

    def ensure_peer(
        self, peer_type: int, distinguisher: bytes, address: str, *, asn: int, bgp_id: str
    ) -> Peer:
        """The peer with this identity, created (down) on first sight (other sources)."""
        key = (peer_type, distinguisher, address)
        peer = self.peers.get(key)
        if peer is None:
            peer = self.peers[key] = Peer(peer_type, distinguisher, address, asn=asn, bgp_id=bgp_id)
        return peer

    # -- routes -----------------------------------------------------------------

    def intern(self, attrs: PathAttributes | None) -> PathAttributes:
        """The shared value equal to ``attrs`` (what ``announce`` expects)."""
        return self.shared.interner.intern(attrs)

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet, now: float) -> None:
        """Withdraw ``nset`` from ``table``: observers first, then the table; routes
        not in the table count the ``withdraw_unknown_route`` quirk."""
        for obs in self.shared.observers:
            obs.withdraw(peer, table, nset)
        if table.ext:
            path_status.account_withdraw(table, nset)
        unknown = table.withdraw(
            nset.prefixes, nset.path_ids, now, self.shared.settings.flap_window
        )
        if unknown:
            self.quirks[Q_WITHDRAW_UNKNOWN] += unknown

    def announce(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes, now: float
    ) -> None:
        """Announce ``nset`` with ``attrs`` (interned: ``intern``): observers first,
        then the table; re-announces within the flap window count a prefix flap."""
        for obs in self.shared.observers:
            obs.announce(peer, table, nset, attrs)
        if table.ext or type(attrs) is MarkedAttributes:
            path_status.account_announce(table, nset, attrs)
        flapped: list[bytes] = []
        table.announce(
            nset.prefixes, nset.path_ids, attrs, now, self.shared.settings.flap_window, flapped
        )
        if flapped:
            counts = self.flap_counts
            view, afi, safi = table.view, table.afi, table.safi
            for p in flapped:
                counts.add((peer.key, view, afi, safi, p))


class RouterSession:
    """Applies the events of one BMP connection to its ``Router``, in stream order.

    Quirks found by the decoders live in the session's ``DecodeContext``; the
    IO shell hands them over with ``absorb_quirks(bmp_session.ctx.quirks)``
    (after each ``feed`` or at least before close). It is delta-based, so
    calling it repeatedly with the same cumulative counter is safe. Quirks
    the core counts itself (``CORE_QUIRKS``) are skipped.
    """

    __slots__ = ("_absorbed", "active", "remote_address", "remote_port", "router")

    def __init__(self, router: Router, remote_address: str, remote_port: int) -> None:
        self.router = router
        self.remote_address = remote_address
        self.remote_port = remote_port
        self.active = True
        self._absorbed: Counter[str] = Counter()

    # -- entry points -------------------------------------------------------

    def handle(self, event: Event) -> None:
        router = self.router
        now = router.shared.settings.clock()
        router.last_message = now
        if isinstance(event, Decoded):
            msg = event.message
            if isinstance(msg, RouteMonitoring):
                router.messages["route_monitoring"] += 1
                self._route_monitoring(msg, now)
            elif isinstance(msg, StatisticsReport):
                router.messages["statistics_report"] += 1
                self._stats(msg)
            elif isinstance(msg, PeerUp):
                router.messages["peer_up"] += 1
                self._peer_up(msg, now)
            elif isinstance(msg, PeerDown):
                router.messages["peer_down"] += 1
                self._peer_down(msg, now)
            elif isinstance(msg, Initiation):
                router.messages["initiation"] += 1
                info = msg.info()
                router.info = info
                router.sys_name = _text(info.get("sys_name"))
                router.sys_descr = _text(info.get("sys_descr"))
            elif isinstance(msg, Termination):
                router.messages["termination"] += 1
                router.termination_reason = msg.reason_name or "unspecified"
            else:
                t = getattr(msg, "type", None)
                name = "route_mirroring" if t is None else MESSAGE_TYPE_NAMES.get(t, f"type_{t}")
                router.messages[name] += 1
            return
        # DecodeFailed
        self._failed(event, now)

    def framing_error(self, error: ParseError) -> None:
        """The stream lost its framing; counted. The IO shell closes the connection."""
        self.router.decode_errors[error.kind] += 1

    def absorb_quirks(self, quirks: Counter[str]) -> None:
        """Merge the decoder quirks of this session (a cumulative counter)."""
        seen = self._absorbed
        target = self.router.quirks
        for name, n in quirks.items():
            if name in CORE_QUIRKS:
                continue
            delta = n - seen[name]
            if delta > 0:
                target[name] += delta
                seen[name] = n

    # -- message handlers ---------------------------------------------------

    def _failed(self, event: DecodeFailed, now: float) -> None:
        router = self.router
        t = event.msg_type
        router.messages["unknown" if t is None else MESSAGE_TYPE_NAMES.get(t, f"type_{t}")] += 1
        err = event.error
        router.decode_errors[err.kind] += 1
        partial = err.partial
        if err.action is Action.TREAT_AS_WITHDRAW and isinstance(partial, RouteMonitoring):
            self._route_monitoring(partial, now)

    def _peer_up(self, msg: PeerUp, now: float) -> None:
        header = msg.peer
        peer = self.router.peer_for(header)
        if peer.state == UP:
            self.router.quirks[Q_PEER_UP_WHILE_UP] += 1
        # A Peer Up starts a new BGP session: whatever was held is stale.
        peer.clear_routes()
        peer.go_up(now)
        peer.asn = header.asn
        peer.bgp_id = header.bgp_id
        peer.local_asn = msg.sent_open.asn
        peer.sent_open = msg.sent_open
        peer.received_open = msg.received_open
        peer.local_address = msg.local_address
        peer.local_port = msg.local_port
        peer.remote_port = msg.remote_port
        if header.is_loc_rib:
            # RFC 9069 §5.3: the VRF/Table Name TLV names the Loc-RIB's table.
            names = [t.text for t in msg.information if t.type == INFO_VRF_TABLE_NAME]
            peer.table_name = names[0] if names else None

    def _peer_down(self, msg: PeerDown, now: float) -> None:
        peer = self.router.peer_for(msg.peer)
        if not peer.ever_up and not peer.up:
            self.router.quirks[Q_PEER_DOWN_NEVER_UP] += 1
        peer.go_down(now, msg.reason_name)

    def _stats(self, msg: StatisticsReport) -> None:
        stats = self.router.peer_for(msg.peer).stats
        for entry in msg.stats:
            if entry.value is None:
                self.router.quirks[Q_STATS_UNDECODED] += 1
                continue
            stats[(stat_name(entry.type), entry.afi, entry.safi)] = entry.value

    def _route_monitoring(self, msg: RouteMonitoring, now: float) -> None:
        header = msg.peer
        router = self.router
        peer = router.peer_for(header)
        if peer.mark_implicit(now):
            router.quirks[Q_RM_WITHOUT_PEER_UP] += 1
        update = msg.update
        view = header.view
        eor = update.end_of_rib
        if eor is not None:
            peer.table(view, eor[0], eor[1]).eor = True
            return
        for nset in update.withdrawn:
            router.withdraw(peer, peer.table(view, nset.afi, nset.safi), nset, now)
        if update.announced:
            attrs = router.intern(update.attributes)
            if msg.tlvs:
                marks = msg.path_status
                if marks:
                    self._marked(msg, peer, attrs, marks, now)
                    return
            for nset in update.announced:
                router.announce(peer, peer.table(view, nset.afi, nset.safi), nset, attrs, now)

    def _marked(
        self,
        msg: RouteMonitoring,
        peer: Peer,
        attrs: PathAttributes,
        marks: tuple[PathStatus | None, ...],
        now: float,
    ) -> None:
        """Announce routes with their path marking: one announce per run of
        routes with the same marking, each with its interned ``MarkedAttributes``."""
        router = self.router
        view = msg.peer.view
        values: dict[PathStatus, PathAttributes] = {}
        i = 0
        for nset in msg.update.announced:
            table = peer.table(view, nset.afi, nset.safi)
            n = len(nset.prefixes)
            start = 0
            while start < n:
                mark = marks[i + start] if i + start < len(marks) else None
                stop = start + 1
                while stop < n and (marks[i + stop] if i + stop < len(marks) else None) is mark:
                    stop += 1
                if mark is None:
                    value = attrs
                else:
                    got = values.get(mark)
                    if got is None:
                        got = values[mark] = router.intern(path_status.marked(attrs, mark))
                    value = got
                part = nset
                if start or stop != n:
                    pids = nset.path_ids
                    labels = nset.labels
                    part = NlriSet(
                        nset.afi,
                        nset.safi,
                        nset.prefixes[start:stop],
                        None if pids is None else pids[start:stop],
                        None if labels is None else labels[start:stop],
                    )
                router.announce(peer, table, part, value, now)
                start = stop
            i += n
