"""A monitored router (one BMP speaker connection slot) and the session that feeds it.

``Router`` owns the writes to its peers' RIB tables (``announce``,
``withdraw``: observers, flap counting, quirks) and creates its peers
(``peer_for``, ``ensure_peer``); peers own their state transitions
(``agent.core.peer``). ``RouterSession`` turns one BMP stream's events into
those calls; the BIRD poller (``agent.sources.bird``) makes the same ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
from parsers.bmp.session import Decoded, DecodeFailed, Event, RouteBatch
from parsers.bmp.stat_types import stat_name
from parsers.errors import Action, ParseError

from ..log import get_logger
from . import path_status
from .flaps import FlapCounts
from .path_status import MarkedAttributes
from .peer import NO_LIMIT, UP, Peer
from .rib import RibTable
from .settings import Shared

#: The route limits, as config keys (``Peer.blocked``, logs, health check).
LIMIT_PEER = "rib.max_routes_per_peer"
LIMIT_ROUTER = "rib.max_routes_per_router"
LIMIT_GLOBAL = "rib.max_routes"
#: Storing resumes once routes fall below this share of the limit reached.
RESUME_BELOW = 0.9


def _log() -> Any:
    """The core's logger, made when needed (logging is configured after import)."""
    return get_logger(component="core")


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


#: Longest label value taken from the wire (sysName, sysDescr, ...), in characters.
MAX_LABEL = 128
#: Longest Initiation information string kept (the API's ``info``), and how
#: many strings per type and types.
MAX_INFO = 1024
MAX_INFO_ITEMS = 16
MAX_INFO_KEYS = 32


def label_text(value: str, limit: int = MAX_LABEL) -> str:
    """A wire string fit for a label: control and non-printing characters
    become spaces (runs collapsed), cut to ``limit`` characters (with "…")."""
    if value.isprintable() and len(value) <= limit:
        return value
    out = "".join(c if c.isprintable() else " " for c in value[: limit * 4])
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _clean_info(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        return [label_text(v, MAX_INFO) for v in value[:MAX_INFO_ITEMS]]
    return label_text(value, MAX_INFO)


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
        "blocked",
        "cap",
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
        "peers_refused",
        "port",
        "quirks",
        "routes",
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
        #: Routes of every peer (``CoreSettings.max_routes_per_router``).
        self.routes = 0
        #: The router limit was reached; storing resumes below 90 %.
        self.blocked = False
        #: ``max_routes_per_router`` while storing, 0 while ``blocked``.
        self.cap = shared.settings.max_routes_per_router or NO_LIMIT
        #: Peers not created because ``max_peers_per_router`` was reached.
        self.peers_refused = 0

    def drop_rib(self, now: float) -> None:
        """Session closed: every route goes, every peer is marked down (no Peer Down counted)."""
        for peer in self.peers.values():
            peer.go_down(now)

    # -- peers ------------------------------------------------------------------

    def peer_for(self, header: PerPeerHeader) -> Peer | None:
        """The peer of a BMP per-peer header, created (down) on first sight;
        None (counted in ``peers_refused``) beyond ``max_peers_per_router``."""
        peer = self.peers.get(header.key)
        if peer is None:
            limit = self.shared.settings.max_peers_per_router
            if limit and len(self.peers) >= limit:
                if not self.peers_refused:
                    _log().warning(
                        "peer limit reached: messages of new peers are ignored",
                        router=self.label,
                        peers=len(self.peers),
                        limit_key="bmp.max_peers_per_router",
                        limit=limit,
                    )
                self.peers_refused += 1
                return None
            peer = self.peers[header.key] = Peer.from_header(header)
            self._adopt(peer)
        return peer

    def _adopt(self, peer: Peer) -> None:
        peer.router = self
        limit = self.shared.settings.max_routes_per_peer
        peer.cap = limit or NO_LIMIT

    def ensure_peer(
        self, peer_type: int, distinguisher: bytes, address: str, *, asn: int, bgp_id: str
    ) -> Peer:
        """The peer with this identity, created (down) on first sight (other sources)."""
        key = (peer_type, distinguisher, address)
        peer = self.peers.get(key)
        if peer is None:
            peer = self.peers[key] = Peer(peer_type, distinguisher, address, asn=asn, bgp_id=bgp_id)
            self._adopt(peer)
        return peer

    # -- routes -----------------------------------------------------------------

    def intern(self, attrs: PathAttributes | None) -> PathAttributes:
        """The shared value equal to ``attrs`` (what ``announce`` expects)."""
        return self.shared.interner.intern(attrs)

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet, now: float) -> None:
        """Withdraw ``nset`` from ``table``: observers first, then the table; routes
        not in the table count the ``withdraw_unknown_route`` quirk."""
        shared = self.shared
        for obs in shared.observers:
            obs.withdraw(peer, table, nset)
        if table.ext:
            path_status.account_withdraw(table, nset)
        routes = table.routes
        before = len(routes)
        unknown = table.withdraw(nset.prefixes, nset.path_ids, now, shared.settings.flap_window)
        if unknown:
            self.quirks[Q_WITHDRAW_UNKNOWN] += unknown
        gone = before - len(routes)
        if gone:
            peer.count -= gone
            self.routes -= gone
            shared.routes -= gone
            if peer.blocked is not None or self.blocked or shared.blocked:
                self._relax(peer)

    def announce(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes, now: float
    ) -> None:
        """Announce ``nset`` with ``attrs`` (interned: ``intern``): observers first,
        then the table; re-announces within the flap window count a prefix flap.

        Route limits: while the peer, this router and all routers together
        hold fewer routes than their limits minus the batch, nothing else is
        done (one comparison each); otherwise ``_admit`` keeps the routes that
        replace one already stored and only as many new ones as fit."""
        shared = self.shared
        n = len(nset.prefixes)
        if (
            peer.count + n > peer.cap
            or self.routes + n > self.cap
            or shared.routes + n > shared.cap
        ):
            admitted = self._admit(peer, table, nset)
            if admitted is None:
                return
            nset = admitted
        for obs in shared.observers:
            obs.announce(peer, table, nset, attrs)
        if table.ext or type(attrs) is MarkedAttributes:
            path_status.account_announce(table, nset, attrs)
        flapped: list[bytes] = []
        routes = table.routes
        before = len(routes)
        table.announce(
            nset.prefixes, nset.path_ids, attrs, now, shared.settings.flap_window, flapped
        )
        added = len(routes) - before
        if added:
            peer.count += added
            self.routes += added
            shared.routes += added
        if flapped:
            counts = self.flap_counts
            view, afi, safi = table.view, table.afi, table.safi
            for p in flapped:
                counts.add((peer.key, view, afi, safi, p))

    # -- route limits ---------------------------------------------------------

    def _admit(self, peer: Peer, table: RibTable, nset: NlriSet) -> NlriSet | None:
        """The part of ``nset`` that the limits let in: replacements, then new
        routes while they fit. Counts and logs what is dropped; None when
        nothing is left."""
        shared = self.shared
        s = shared.settings
        # The limits themselves: the caps are 0 while a limit holds.
        rooms = (
            (LIMIT_PEER, s.max_routes_per_peer, peer.count, peer.cap),
            (LIMIT_ROUTER, s.max_routes_per_router, self.routes, self.cap),
            (LIMIT_GLOBAL, s.max_routes, shared.routes, shared.cap),
        )
        room = min(cap - held for _, _, held, cap in rooms)
        routes = table.routes
        prefixes, path_ids = nset.prefixes, nset.path_ids
        keys: tuple[object, ...] | list[tuple[int, bytes]]
        keys = prefixes if path_ids is None else list(zip(path_ids, prefixes, strict=False))
        keep: list[int] = []
        new: set[object] = set()
        for i, k in enumerate(keys):
            if k in routes or k in new:
                keep.append(i)
            elif len(new) < room:
                new.add(k)
                keep.append(i)
        dropped = len(keys) - len(keep)
        if not dropped:
            return nset
        peer.dropped[table.view] += dropped
        wanted = len(new) + dropped
        first: tuple[str, int] | None = None
        for key, limit, held, cap in rooms:
            if not limit or held + wanted <= cap:
                continue
            # This limit is reached: hold it until the routes fall below 90 %.
            if key == LIMIT_PEER:
                peer.cap = 0
            elif key == LIMIT_ROUTER:
                self.blocked, self.cap = True, 0
            else:
                shared.blocked, shared.cap = True, 0
            if first is None:
                first = (key, limit)
        if first is not None and self.blocked_by(peer) is None:
            key, limit = first
            peer.blocked = key
            _log().warning(
                "route limit reached: new routes from this peer are dropped",
                router=self.label,
                peer=peer.label,
                limit_key=key,
                limit=limit,
                peer_routes=peer.count,
                router_routes=self.routes,
                total_routes=shared.routes,
                dropped=dropped,
                on_limit=s.on_limit,
            )
            if s.on_limit == "close" and self.session is not None:
                self.session.limit_closed = True
                close = self.session.on_limit
                if close is not None:
                    close(key)
        if not keep:
            return None
        return NlriSet(
            nset.afi,
            nset.safi,
            tuple(prefixes[i] for i in keep),
            None if path_ids is None else tuple(path_ids[i] for i in keep),
            None if nset.labels is None else tuple(nset.labels[i] for i in keep),
        )

    def blocked_by(self, peer: Peer) -> str | None:
        """The limit (config key) that keeps this peer's new routes out, or None."""
        key = peer.blocked
        if key is None:
            return None
        if key == LIMIT_PEER:
            held = peer.cap == 0
        elif key == LIMIT_ROUTER:
            held = self.blocked
        else:
            held = self.shared.blocked
        if not held:
            peer.blocked = None
            return None
        return key

    def routes_cleared(self, peer: Peer, n: int) -> None:
        """``Peer.clear_routes`` dropped ``n`` routes (Peer Down, Peer Up, close)."""
        self.routes -= n
        self.shared.routes -= n
        self._relax(peer)

    def _relax(self, peer: Peer) -> None:
        """Routes went: lift the limits that are back below 90 %."""
        shared = self.shared
        s = shared.settings
        lim = s.max_routes_per_peer
        if peer.cap == 0 and (not lim or peer.count < RESUME_BELOW * lim):
            peer.cap = s.max_routes_per_peer or NO_LIMIT
            self._resumed(peer, LIMIT_PEER, peer.count)
        lim = s.max_routes_per_router
        if self.blocked and (not lim or self.routes < RESUME_BELOW * lim):
            self.blocked, self.cap = False, s.max_routes_per_router or NO_LIMIT
            self._resumed(peer, LIMIT_ROUTER, self.routes)
        lim = s.max_routes
        if shared.blocked and (not lim or shared.routes < RESUME_BELOW * lim):
            shared.blocked, shared.cap = False, s.max_routes or NO_LIMIT
            self._resumed(peer, LIMIT_GLOBAL, shared.routes)
        self.blocked_by(peer)

    def _resumed(self, peer: Peer, key: str, held: int) -> None:
        _log().info(
            "route limit cleared: storing new routes again",
            router=self.label,
            peer=peer.label if key == LIMIT_PEER else None,
            limit_key=key,
            routes=held,
        )

    def apply_limits(self) -> None:
        """The settings changed (reload): new caps for this router and its peers."""
        s = self.shared.settings
        if not self.blocked:
            self.cap = s.max_routes_per_router or NO_LIMIT
        for peer in self.peers.values():
            if peer.cap != 0:
                peer.cap = s.max_routes_per_peer or NO_LIMIT
            self._relax(peer)


@dataclass(slots=True, eq=False)
class RouterSession:
    """Applies the events of one BMP connection to its ``Router``, in stream order.

    Quirks found by the decoders live in the session's ``DecodeContext``; the
    IO shell hands them over with ``absorb_quirks(bmp_session.ctx.quirks)``
    (after each ``feed`` or at least before close). It is delta-based, so
    calling it repeatedly with the same cumulative counter is safe. Quirks
    the core counts itself (``CORE_QUIRKS``) are skipped.
    """

    router: Router
    remote_address: str
    remote_port: int
    active: bool = field(default=True, init=False)
    _absorbed: Counter[str] = field(default_factory=Counter, init=False)
    #: Set by the IO shell: closes the connection when a route limit is
    #: reached and ``on_limit`` is "close" (argument: the limit's key).
    on_limit: Callable[[str], None] | None = field(default=None, init=False)
    #: A route limit closed the session (``rib.on_limit: close``): the rest
    #: of a batch is not applied, as the messages after a close never are.
    limit_closed: bool = field(default=False, init=False)

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
                router.info = {k: _clean_info(v) for k, v in list(info.items())[:MAX_INFO_KEYS]}
                router.sys_name = label_text(_text(info.get("sys_name")))
                router.sys_descr = label_text(_text(info.get("sys_descr")))
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

    def handle_batch(self, batch: RouteBatch) -> None:
        """Apply a ``RouteBatch``: the same as ``handle`` on each of its
        messages' ``Decoded`` events, without the per-message objects.

        While no route limit is set or held, consecutive messages of one
        peer and table with the same attributes (the same decoded object:
        one per distinct attribute bytes) or all withdrawals are applied as
        one ``NlriSet`` (one ``announce``/``withdraw``, one call per observer)
        as long as their prefixes are distinct: a table dump of one prefix
        per message (FRR) sends the prefixes of a set one after the other."""
        router = self.router
        shared = router.shared
        now = shared.settings.clock()
        router.last_message = now
        routes = batch.routes
        applied = 0
        intern = shared.interner.intern
        last_header: PerPeerHeader | None = None
        peer: Peer | None = None
        table: RibTable | None = None
        last_view, last_afi, last_safi = "", -1, -1
        # The run being merged: its table, attributes (None: withdrawals),
        # the attributes' decoded object, and its prefixes.
        run_table: RibTable | None = None
        run_peer: Peer | None = None
        run_attrs: PathAttributes | None = None
        run_raw: object = None
        run_keys: list[bytes] = []
        run_seen: set[bytes] = set()
        for header, view, nset, attrs in routes:
            if self.limit_closed:
                break
            applied += 1
            if header is not last_header:
                peer = router.peer_for(header)
                last_header = header
                table = None
            if peer is None:
                continue  # beyond bmp.max_peers_per_router: ignored, counted
            if peer.state != UP and peer.mark_implicit(now):
                router.quirks[Q_RM_WITHOUT_PEER_UP] += 1
            afi, safi = nset.afi, nset.safi
            if table is None or view != last_view or afi != last_afi or safi != last_safi:
                table = peer.table(view, afi, safi)
                last_view, last_afi, last_safi = view, afi, safi
            prefixes = nset.prefixes
            if (
                nset.path_ids is None
                and nset.labels is None
                and peer.cap == NO_LIMIT
                and router.cap == NO_LIMIT
                and shared.cap == NO_LIMIT
            ):
                if (
                    table is run_table
                    and attrs is run_raw
                    and not any(p in run_seen for p in prefixes)
                ):
                    run_keys.extend(prefixes)
                    run_seen.update(prefixes)
                    continue
                if run_table is not None:
                    self._apply_run(run_peer, run_table, run_attrs, run_keys, now)  # type: ignore[arg-type]
                run_peer, run_table, run_raw = peer, table, attrs
                run_attrs = None if attrs is None else intern(attrs)
                run_keys = list(prefixes)
                run_seen = set(prefixes)
                continue
            if run_table is not None:
                self._apply_run(run_peer, run_table, run_attrs, run_keys, now)  # type: ignore[arg-type]
                run_table = None
            if attrs is None:
                router.withdraw(peer, table, nset, now)
            else:
                router.announce(peer, table, nset, intern(attrs), now)
        if run_table is not None:
            self._apply_run(run_peer, run_table, run_attrs, run_keys, now)  # type: ignore[arg-type]
        router.messages["route_monitoring"] += applied

    def _apply_run(
        self,
        peer: Peer,
        table: RibTable,
        attrs: PathAttributes | None,
        keys: list[bytes],
        now: float,
    ) -> None:
        """One merged run of ``handle_batch``: announced with ``attrs``
        (interned), or withdrawn when None."""
        nset = NlriSet(table.afi, table.safi, tuple(keys))
        if attrs is None:
            self.router.withdraw(peer, table, nset, now)
        else:
            self.router.announce(peer, table, nset, attrs, now)

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
        if peer is None:
            return
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
        for obs in self.router.shared.peer_observers:
            obs.peer_up(self.router, peer)

    def _peer_down(self, msg: PeerDown, now: float) -> None:
        peer = self.router.peer_for(msg.peer)
        if peer is None:
            return
        if not peer.ever_up and not peer.up:
            self.router.quirks[Q_PEER_DOWN_NEVER_UP] += 1
        peer.header = msg.peer
        peer.go_down(now, msg.reason_name)
        for obs in self.router.shared.peer_observers:
            obs.peer_down(self.router, peer)

    def _stats(self, msg: StatisticsReport) -> None:
        peer = self.router.peer_for(msg.peer)
        if peer is None:
            return
        stats = peer.stats
        for entry in msg.stats:
            if entry.value is None:
                self.router.quirks[Q_STATS_UNDECODED] += 1
                continue
            stats[(stat_name(entry.type), entry.afi, entry.safi)] = entry.value

    def _route_monitoring(self, msg: RouteMonitoring, now: float) -> None:
        header = msg.peer
        router = self.router
        peer = router.peer_for(header)
        if peer is None:
            return
        peer.header = header
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
