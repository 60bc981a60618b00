"""The FIB reconciler: a daemon component comparing BGP's selection with the kernel.

Kernel side (``agent.fib.netlink``): a non-blocking subscription socket on
the IPv4/IPv6 route groups and nexthop objects, read by the event loop
(``loop.add_reader``); full dumps run in a worker thread
(``asyncio.to_thread``) on their own socket. While a dump runs, notifications
are only buffered; afterwards they are replayed onto the dump (each carries
the whole route, so replaying the tail of the log onto a snapshot taken
anywhere inside it gives the exact final state). ``ENOBUFS`` on the
subscription socket (the kernel dropped notifications), an interrupted dump
(``NLM_F_DUMP_INTR``) or any other read error → a new dump (a *resync*).

BGP side (``agent.fib.expected``): the routes the local router selected,
from its Loc-RIB or from its peers' post-policy Adj-RIB-In through the
decision process.

Cost follows the changes, not the table. ``FibObserver`` (a core
``RouteObserver``) appends the prefixes of every route change of the local
router's source view to a dirty list (one C-level ``list.extend`` per NLRI
set); kernel notifications add theirs. Every ``fib.interval`` seconds a pass
re-selects and compares only the dirty prefixes, on the event loop, in
slices that yield after ``SLICE_SECONDS``; set operations over the slice
(selected ∩ kernel, selected - kernel, kernel - selected) classify most
prefixes at C speed, and only the prefixes both sides hold go through the
decision process. A full comparison (every selected and every kernel
prefix, the same slices) runs only after a resync, when the local router
or its source view changes, and for routes of a changed nexthop object.
Differences become drift states after ``fib.grace`` seconds
(``agent.fib.diff``); counts are kept as prefixes move, and
``in_sync = kernel routes - nexthop_mismatch - extra - bmp_inconsistent``
(``agent.fib.consistency``: kernel routes the router's own BMP feed
contradicts itself about), so a scrape reads
counters only. Per selected route the FIB keeps nothing while it is in sync,
and one dict entry (key shared with the RIB, value a shared group) while it
drifts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, KeysView, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ..config import Config, FibConfig
from ..core.peer import Peer
from ..core.rib import RibTable
from ..core.router import Router
from ..log import get_logger
from ..netaddr import parse_ip
from ..slicing import next_batch
from . import netlink
from .consistency import Evidence, unmonitored_routes
from .diff import BMP_INCONSISTENT, EXTRA, MISSING, NEXTHOP_MISMATCH, DriftTracker, matches
from .expected import Candidate, PathSource, Want, WantBuilder, decide, peer_source, source_view
from .netlink import Entry, KernelState, NetlinkError


def parse_tables(specs: tuple[str, ...]) -> list[tuple[int, str | None]]:
    """``fib.tables`` → [(table id, RD or None)]."""
    out = []
    for spec in specs:
        table, sep, rd = spec.partition("@")
        out.append((netlink.table_id(table), rd if sep else None))
    return out


_LOCAL_CACHE: dict[str, bool] = {}


def is_local_address(address: str) -> bool:
    """Whether ``address`` belongs to this host (network namespace): loopback, or bindable."""
    got = _LOCAL_CACHE.get(address)
    if got is not None:
        return got
    ip = parse_ip(address)
    if ip is None:
        return False
    local = ip.is_loopback
    if not local:
        fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        try:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.bind((str(ip), 0))
            local = True
        except OSError:
            local = False
    if len(_LOCAL_CACHE) > 1024:
        _LOCAL_CACHE.clear()
    _LOCAL_CACHE[address] = local
    return local


#: A pass yields to the event loop after this many seconds of work.
SLICE_SECONDS = 0.005
#: Prefixes compared per step at most (a step is a few set operations over
#: them). The step adapts to what a prefix costs: a chunk where every prefix
#: goes through the decision process costs ~10-20 us a prefix, one the set
#: operations classify ~0.2 us, so a fixed step either held the loop for
#: 35-75 ms or yielded far too often.
STEP = 4096
#: Prefixes compared per step at least.
MIN_STEP = 64

_UNSET = object()
EXT_KEY = "fib"


class Mark:
    """What the FIB does with the changes of one RIB table (cached in ``table.ext``)."""

    __slots__ = ("afi", "dirty", "rd", "source")

    def __init__(self, dirty: list[bytes], afi: int, rd: str | None, source: bool) -> None:
        self.dirty = dirty
        self.afi = afi
        self.rd = rd
        #: a table of the source view (else: another Adj-RIB-In view of the
        #: local router, read only to confirm ``bmp_inconsistent`` evidence)
        self.source = source


class FibObserver:
    """The core ``RouteObserver``: marks the prefixes of the local router's
    source view dirty (``table.ext["fib"]`` caches the table's ``Mark``, or
    None for a table the FIB does not read), and records withdrawals of
    routes the source view never announced (``agent.fib.consistency``)."""

    __slots__ = ("fib",)

    def __init__(self, fib: FibReconciler) -> None:
        self.fib = fib

    def _mark(self, peer: Peer, table: RibTable) -> Mark | None:
        ext = table.ext
        if ext is not None:
            m = ext.get(EXT_KEY, _UNSET)
            if m is not _UNSET:
                return m  # type: ignore[return-value]
        return self.fib.marker(peer, table)

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None:
        m = self._mark(peer, table)
        if m is None:
            return
        fib = self.fib
        if m.source:
            m.dirty.extend(nset.prefixes)
            if nset.path_ids is None:
                fib.evidence.record(m.afi, m.rd, peer, table, nset.prefixes, fib.clock())
            return
        self._other_view(m, nset)

    def announce(self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
        m = self._mark(peer, table)
        if m is None:
            return
        if m.source:
            m.dirty.extend(nset.prefixes)
            if self.fib.evidence.tables:
                self.fib.evidence.announced(m.afi, m.rd, nset.prefixes)
            return
        self._other_view(m, nset)

    def _other_view(self, m: Mark, nset: NlriSet) -> None:
        # another view of a prefix with evidence changed: re-check it
        e = self.fib.evidence
        for ev in (e.tables.get((m.afi, m.rd)), e.stale.get((m.afi, m.rd))):
            if ev:
                m.dirty.extend(ev.keys() & set(nset.prefixes))


@dataclass(frozen=True, slots=True)
class KernelRouteChange:
    """A kernel route of a watched protocol and table changed. ``router`` is the
    local router's label ("" while none is known); ``old``/``new``: its next hops
    as ``"<gateway> dev <interface>"`` (None: no route)."""

    router: str
    afi: int
    table: str
    prefix: bytes
    old: tuple[str, ...] | None
    new: tuple[str, ...] | None
    now: float


@dataclass(frozen=True, slots=True)
class DriftChange:
    """``prefixes`` of one kernel table entered drift ``state`` (None: back in sync)."""

    router: str
    afi: int
    table: str
    prefixes: set[bytes]
    state: str | None
    now: float


class FibListener(Protocol):
    """Follows the reconciler (``FibReconciler.listeners``; ``agent.history``):
    kernel route changes as notifications arrive, drift state changes as passes
    find them, and the end of each pass."""

    def kernel_route(self, change: KernelRouteChange) -> None: ...

    def drift(self, change: DriftChange) -> None: ...

    def pass_done(self, now: float) -> None: ...


@dataclass(slots=True)
class Source:
    """One RIB table the selection reads, as the last pass saw it."""

    src: PathSource
    table: RibTable
    #: ``table.routes`` when last seen: a different object means the table was cleared
    routes: dict[Any, PathAttributes]
    up: bool
    rd: str | None


class ExpectedView(Mapping[bytes, Any]):
    """The expected routes of one (afi, table), computed on demand (API)."""

    def __init__(self, fib: FibReconciler, afi: int, table: int, rd: str | None) -> None:
        self.fib, self.afi, self.table, self.rd = fib, afi, table, rd

    def __len__(self) -> int:
        return self.fib.expected_count(self.afi, self.table)

    def __getitem__(self, key: bytes) -> Any:
        w = self.fib.want_of(self.afi, self.rd, key)
        if w is None:
            raise KeyError(key)
        return w

    def __iter__(self) -> Iterator[bytes]:
        seen: set[bytes] = set()
        for s in self.fib.sources.get((self.afi, self.rd), []):
            for k in list(s.table.routes):
                p = k[1] if isinstance(k, tuple) else k
                if p not in seen:
                    seen.add(p)
                    yield p


class FibReconciler:
    """Daemon component ``fib`` (see the module docstring)."""

    name = "fib"

    def __init__(
        self,
        config: FibConfig,
        core: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.core = core
        self.clock = clock
        self.log = get_logger(component="fib")
        self.kernel = KernelState(frozenset(), frozenset())
        self.tracker = DriftTracker()
        #: withdrawals of never-announced routes in the source view (bmp_inconsistent)
        self.evidence = Evidence(config.evidence_max)
        self.observer = FibObserver(self)
        self.router: Router | None = None
        self.router_label = ""
        self.view: str | None = None
        #: (afi, rd) → the tables the selection reads
        self.sources: dict[tuple[int, str | None], list[Source]] = {}
        self.last_sync: float | None = None
        self.last_pass_seconds = 0.0
        #: passes run; full passes among them; prefixes compared (all passes)
        self.passes = 0
        #: every pass attempt, with or without work (tests wait on it)
        self.rounds = 0
        self.full_passes = 0
        self.compared = 0
        self.resyncs: Counter[str] = Counter()
        self.kernel_events = 0
        self.error: str | None = None
        self.synced = False
        #: (afi, rd) → prefixes changed in the RIB since the last pass
        self._dirty_bgp: dict[tuple[int, str | None], list[bytes]] = {}
        #: (afi, table, prefix) changed in the kernel since the last pass
        self._dirty_kernel: list[tuple[int, int, bytes]] = []
        self._full = "initial"
        #: the last pass found a router without Route Monitoring whose reports count routes
        self._unmonitored = False
        self._sock: socket.socket | None = None
        self._buffering = False
        self._pending: list[bytes] = []
        self._need_resync = "initial"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: ``FibListener``s; none: kernel events and drift moves cost one test each
        self.listeners: list[FibListener] = []
        #: kernel routes removed in the current read (an install may follow)
        self._removed: dict[tuple[int, int, bytes], tuple[tuple[str, ...], float]] = {}
        self._apply_filters(config)

    # -- component interface ---------------------------------------------------------

    async def start(self, daemon: Any = None) -> None:
        cfg = self.config
        self._apply_filters(cfg)
        try:
            self._sock = netlink.subscribe(cfg.rcvbuf)
        except OSError as exc:
            self.error = f"netlink unavailable: {exc.strerror or exc}"
            self.log.error("fib reconciliation disabled", error=self.error)
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(self._sock.fileno(), self._on_readable)
        self.core.observers.append(self.observer)
        self._task = loop.create_task(self._run(), name="fib-reconciler")
        self.log.info(
            "fib reconciler started",
            protocols=list(cfg.protocols),
            tables=list(cfg.tables),
            mode=cfg.mode,
            grace=cfg.grace,
        )

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(ValueError):
            self.core.observers.remove(self.observer)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self._invalidate_markers()

    def reload(self, config: Config) -> list[str]:
        new = config.fib
        old = self.config
        not_applied = []
        if new.enabled != old.enabled:
            not_applied.append("fib.enabled")
        if new.rcvbuf != old.rcvbuf:
            not_applied.append("fib.rcvbuf")
        resync = new.protocols != old.protocols or new.tables != old.tables
        self.config = FibConfig(**{**_fields(new), "rcvbuf": old.rcvbuf, "enabled": old.enabled})
        self.evidence.limit = self.config.evidence_max
        if resync:
            self._apply_filters(self.config)
            self._need_resync = "reload"
        if new.mode != old.mode or resync:
            self._full = "reload"
        self._wake.set()
        return not_applied

    # -- kernel side ------------------------------------------------------------------

    def _apply_filters(self, cfg: FibConfig) -> None:
        self.protocols = frozenset(netlink.proto_id(p) for p in cfg.protocols)
        self.tables = parse_tables(cfg.tables)
        self.table_ids = frozenset(t for t, _ in self.tables)
        self.rds = frozenset(rd for _, rd in self.tables)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            if self._buffering:
                self._pending.extend(netlink.drain(sock))
            else:
                self.kernel.on_route = self._on_route if self.listeners else None
                try:
                    netlink.read_events(sock, self.kernel, changed=self._dirty_kernel)
                finally:
                    if self._removed:
                        self._flush_removed()
        except OSError as exc:
            reason = "enobufs" if exc.errno == errno.ENOBUFS else "read_error"
            if reason != "enobufs":
                self.log.warning("netlink read failed, resyncing", error=str(exc))
            else:
                self.log.info("netlink events lost (ENOBUFS), resyncing")
            self._need_resync = reason
            self._wake.set()

    def _hops(self, entry: Entry | None) -> tuple[str, ...] | None:
        if entry is None:
            return None
        return tuple(self.kernel.hop_texts(entry))

    def _on_route(
        self, afi: int, table: int, key: bytes, old: Entry | None, new: Entry | None
    ) -> None:
        """A notification changed a kernel route: tell the listeners. A removal
        followed by an install of the same prefix within one read (zebra replacing
        a route through nexthop objects) is one next-hop change."""
        if not self.listeners:
            return
        now = self.clock()
        a, b = self._hops(old), self._hops(new)
        k = (afi, table, key)
        if b is None:
            if a is not None:
                self._removed[k] = (a, now)
            return
        if a is None and self._removed:
            got = self._removed.pop(k, None)
            if got is not None:
                a = got[0]
        self._emit_route(afi, table, key, a, b, now)

    def _emit_route(
        self,
        afi: int,
        table: int,
        key: bytes,
        a: tuple[str, ...] | None,
        b: tuple[str, ...] | None,
        now: float,
    ) -> None:
        change = KernelRouteChange(
            self.router_label, afi, netlink.table_name(table), key, a, b, now
        )
        for listener in self.listeners:
            listener.kernel_route(change)

    def _flush_removed(self) -> None:
        """Removals no install followed within the read: real removals."""
        removed, self._removed = self._removed, {}
        for (afi, table, key), (a, t) in removed.items():
            self._emit_route(afi, table, key, a, None, t)

    def _on_drift(self, key: tuple[int, int], prefixes: set[bytes], state: str | None) -> None:
        change = DriftChange(
            self.router_label, key[0], netlink.table_name(key[1]), prefixes, state, self.clock()
        )
        for listener in self.listeners:
            listener.drift(change)

    def drifting(self, afi: int, rd: str | None, prefix: bytes) -> str | None:
        """The drift state of ``prefix`` in the watched tables of ``rd`` (None: in sync,
        as of the last pass that compared it)."""
        for table, trd in self.tables:
            if trd != rd:
                continue
            d = self.tracker.tables.get((afi, table), {}).get(prefix)
            if d is not None:
                return d.state
        return None

    async def _resync(self) -> None:
        reason = self._need_resync
        self._need_resync = ""
        self._buffering = True
        self._pending = []
        # Notifications already queued predate the dump (and, after ENOBUFS,
        # have gaps): the dump covers them. Only what arrives from now on is
        # replayed onto it.
        self._discard_queued()
        try:
            for attempt in range(5):
                try:
                    state = await asyncio.to_thread(_dump, self.protocols, self.table_ids)
                    break
                except NetlinkError as exc:
                    if exc.errno != errno.EINTR or attempt == 4:
                        raise
            if self._sock is not None:
                self._pending.extend(netlink.drain(self._sock, max_reads=1 << 30))
            for buf in self._pending:
                netlink.apply_routes(state, buf)
        except OSError as exc:
            self.error = f"netlink dump failed: {exc}"
            self.log.error("netlink dump failed", error=str(exc))
            self._need_resync = "retry"
            return
        except BaseException:
            self._need_resync = reason or "retry"
            raise
        finally:
            self._buffering = False
            self._pending = []
        state.nh_changed.clear()
        self.kernel = state
        self._dirty_kernel.clear()
        self.resyncs[reason] += 1
        self.error = None
        self._full = self._full or "resync"
        self.log.info("kernel routes read", routes=state.route_count(), reason=reason)

    def _discard_queued(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                if not netlink.drain(sock, max_reads=1 << 16):
                    return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    return

    @property
    def kernel_counts(self) -> dict[tuple[int, int, int], int]:
        """(afi, table, proto) → kernel routes (kept as events arrive; no walk)."""
        pc = self.kernel.proto_counts
        return dict(pc) if pc is not None else {}

    @property
    def kernel_snapshot(self) -> KernelState | None:
        """The live kernel state (the API reads it)."""
        return self.kernel if self.resyncs else None

    def link_name(self, index: int) -> str:
        """An interface's name (pyroute2 link dump, refreshed when unknown)."""
        links = self.kernel.links
        name = links.get(index)
        if name is None:
            with contextlib.suppress(Exception):
                links.update(netlink.link_names())
            name = links.get(index)
        return name if name is not None else str(index)

    # -- BGP side ---------------------------------------------------------------------

    def local_router(self) -> Router | None:
        want = self.config.router
        routers: list[Router] = sorted(
            self.core.routers.values(), key=lambda r: (not r.up, r.label)
        )
        for r in routers:
            if want:
                if r.label == want or r.address == want:
                    return r
            elif r.source == "bird" or is_local_address(r.address):
                # A BIRD control socket is a unix socket: always this host's.
                return r
        return None

    def marker(self, peer: Peer, table: RibTable) -> Mark | None:
        """The ``Mark`` for changes of ``table`` (None: not read by the FIB); cached
        in ``table.ext``."""
        m: Mark | None = None
        router = self.router
        if router is None or self.view is None:
            # not known yet (the first pass after a router connects): keep the
            # evidence of a local router's views; the pass that finds the
            # router and its view re-marks every table
            if (
                table.safi == 1
                and table.afi in (1, 2)
                and table.view in ("adj_in_post", "loc_rib", "adj_in_pre")
                and peer.rd in self.rds
                and any(
                    r.peers.get(peer.key) is peer and self._maybe_local(r)
                    for r in list(self.core.routers.values())
                )
            ):
                m = Mark([], table.afi, peer.rd, True)
        elif (
            router is not None
            and self.view is not None
            and table.safi == 1
            and table.afi in (1, 2)
            and peer.rd in self.rds
            and router.peers.get(peer.key) is peer
        ):
            dirty = self._dirty_bgp.setdefault((table.afi, peer.rd), [])
            if table.view == self.view:
                m = Mark(dirty, table.afi, peer.rd, True)
            elif table.view in ("adj_in_pre", "adj_in_post"):
                m = Mark(dirty, table.afi, peer.rd, False)
        ext = table.ext
        if ext is None:
            ext = table.ext = {}
        ext[EXT_KEY] = m
        return m

    def _maybe_local(self, r: Router) -> bool:
        want = self.config.router
        if want:
            return r.label == want or r.address == want
        return r.source == "bird" or is_local_address(r.address)

    def _invalidate_markers(self) -> None:
        for router in list(self.core.routers.values()):
            for peer in list(router.peers.values()):
                for t in peer.tables.values():
                    if t.ext is not None:
                        t.ext.pop(EXT_KEY, None)

    def _refresh_sources(
        self, router: Router | None, full: bool
    ) -> list[tuple[int, str | None, list[bytes]]]:
        """Re-read which tables the selection uses; returns prefixes to re-check
        for tables that were cleared, joined or left (not on a full pass)."""
        old = {id(s.table): s for ss in self.sources.values() for s in ss}
        new: dict[tuple[int, str | None], list[Source]] = {}
        view = self.view
        work: list[tuple[int, str | None, list[bytes]]] = []
        if router is not None and view is not None:
            for peer in list(router.peers.values()):
                if peer.rd not in self.rds:
                    continue
                for afi in (1, 2):
                    t = peer.tables.get((view, afi, 1))
                    if t is None:
                        continue
                    prev = old.pop(id(t), None)
                    up = peer.up
                    src = peer_source(peer) if prev is None or prev.up != up else prev.src
                    if not full and prev is not None:
                        if prev.routes is not t.routes:
                            work.append((afi, peer.rd, _prefixes(prev.routes)))
                        if prev.up != up or prev.src != src:
                            work.append((afi, peer.rd, _prefixes(t.routes)))
                        if prev.routes is not t.routes or prev.up != up:
                            ev = self.evidence.tables.get((afi, peer.rd))
                            if ev:
                                work.append((afi, peer.rd, list(ev)))
                    new.setdefault((afi, peer.rd), []).append(Source(src, t, t.routes, up, peer.rd))
        if not full:
            for s in old.values():
                work.append((s.table.afi, s.rd, _prefixes(s.routes)))
        self.sources = new
        return work

    def want_of(
        self, afi: int, rd: str | None, prefix: bytes, builder: WantBuilder | None = None
    ) -> Want | None:
        """What BGP selects for ``prefix`` now (None: nothing)."""
        cands = self._candidates(afi, rd, prefix)
        if not cands:
            return None
        b = builder or WantBuilder()
        if len(cands) == 1:
            return b.want((b.hop(cands[0][1]),))
        return b.want(b.hop(a) for _, a in decide(cands, self.config.mode))

    def _candidates(self, afi: int, rd: str | None, prefix: bytes) -> list[Candidate]:
        out: list[Candidate] = []
        for s in self.sources.get((afi, rd), ()):
            if not s.up:
                continue
            routes = s.table.routes
            if s.table.refs is None:
                a = routes.get(prefix)
                if a is not None:
                    out.append((s.src, a))
            elif prefix in s.table.refs:
                # ADD-PATH: every path of the prefix (a walk; rare for a local router)
                out.extend(
                    (s.src, a) for k, a in routes.items() if isinstance(k, tuple) and k[1] == prefix
                )
        return out

    def feed_inconsistencies(
        self, router: Router, peer: Peer
    ) -> tuple[dict[str, int], tuple[str, ...], int] | None:
        """``bmp_inconsistent`` prefixes of ``peer`` for the health check
        ``bmp_feed_inconsistent`` (``agent.health.feed.FeedEvidence``, handed to
        the health component by ``agent.app``; ``agent.fib.consistency``): by
        afi name, the views that withdrew them, the evidence not kept. None
        unless ``router`` is the local router and such prefixes are held."""
        if router is not self.router:
            return None
        by_afi, views = self.evidence.held_for(peer, self.tables, self.tracker)
        if not by_afi:
            return None
        return by_afi, views, self.evidence.dropped.get(peer.label, 0)

    def stale_paths(self, router: Router, peer: Peer) -> dict[str, int] | None:
        """``bmp_inconsistent`` stale post-policy paths of ``peer`` (its pre-policy
        view withdrew them) by afi name, for ``bmp_feed_inconsistent``; None: none."""
        if router is not self.router:
            return None
        return self.evidence.stale_for(peer, self.tables, self.tracker) or None

    def rd_of(self, table: int) -> str | None:
        """The distinguisher of a watched kernel table (``fib.tables``)."""
        for t, rd in self.tables:
            if t == table:
                return rd
        return None

    def expected_count(self, afi: int, table: int) -> int:
        t = self.tracker
        key = (afi, table)
        return t.in_sync.get(key, 0) + t.drifting(key, MISSING) + t.drifting(key, NEXTHOP_MISMATCH)

    @property
    def expected(self) -> dict[tuple[int, int], ExpectedView]:
        """(afi, table) → its expected routes (computed on demand)."""
        return {
            (afi, table): ExpectedView(self, afi, table, rd)
            for table, rd in self.tables
            for afi in (1, 2)
        }

    # -- the comparison ----------------------------------------------------------------

    def _compare(
        self,
        afi: int,
        table: int,
        rd: str | None,
        chunk: set[bytes],
        now: float,
        builder: WantBuilder,
        cache: dict[tuple[int, int], bool],
    ) -> None:
        """Classify the prefixes of ``chunk`` against the live RIB and kernel."""
        srcs = [s for s in self.sources.get((afi, rd), ()) if s.up]
        kern = self.kernel.routes.get((afi, table)) or {}
        if len(srcs) == 1:
            sel = _keys(srcs[0].table) & chunk
        else:
            # each table probes only the prefixes no earlier one selected
            sel = set()
            rest = chunk
            for s in srcs:
                hit = _keys(s.table) & rest
                if hit:
                    sel |= hit
                    rest = rest - hit
                    if not rest:
                        break
        tracker = self.tracker
        key = (afi, table)
        ker = kern.keys() & chunk if kern else None
        if not ker:
            # nothing of the chunk in the kernel (a table loading into an
            # empty FIB): the selected are missing (but for stale paths), the
            # rest in no drift
            tracker.move(key, self._not_stale(key, afi, rd, chunk, sel, now), MISSING, now)
            tracker.move(key, chunk - sel if sel else chunk, None, now)
            self.compared += len(chunk)
            return
        both = sel & ker
        mismatch: set[bytes] = set()
        if both:
            mode = self.config.mode
            resolve = self.kernel.resolve
            single: dict[int, Want] = {}
            for p in both:
                w: Want | None
                if len(srcs) == 1 and srcs[0].table.refs is None:
                    a = srcs[0].table.routes[p]
                    w = single.get(id(a))
                    if w is None:
                        w = single[id(a)] = builder.want((builder.hop(a),))
                else:
                    w = self.want_of(afi, rd, p, builder)
                    if w is None:
                        continue
                e: Entry = kern[p]
                k = (id(w), id(e))
                ok = cache.get(k)
                if ok is None:
                    ok = cache[k] = matches(w, resolve(e), mode)
                if not ok:
                    mismatch.add(p)
        extra = ker - sel
        router = self.router
        if extra and router is not None and self.view is None and unmonitored_routes(router):
            drifts = tracker.tables.get(key, {})
            self.evidence.unmonitored += sum(
                1 for p in extra if (d := drifts.get(p)) is None or d.state != BMP_INCONSISTENT
            )
            tracker.move(key, extra, BMP_INCONSISTENT, now)
            extra = set()
        if extra and router is not None and self.view is not None and self.evidence.tables:
            bad = self.evidence.classify(router, self.view, afi, rd, extra)
            if bad:
                extra -= bad
                self._inconsistent(key, afi, rd, bad, now)
        tracker.move(key, self._not_stale(key, afi, rd, chunk, sel - ker, now), MISSING, now)
        tracker.move(key, extra, EXTRA, now)
        tracker.move(key, mismatch, NEXTHOP_MISMATCH, now)
        tracker.move(key, (chunk - sel - ker) | (both - mismatch), None, now)
        self.compared += len(chunk)

    def _not_stale(
        self,
        key: tuple[int, int],
        afi: int,
        rd: str | None,
        chunk: set[bytes],
        missing: set[bytes],
        now: float,
    ) -> set[bytes]:
        """``missing`` less the stale post-policy paths (moved to ``bmp_inconsistent``)."""
        router = self.router
        if (missing or self.evidence.stale) and router is not None and self.view is not None:
            stale = self.evidence.classify_stale(
                router, self.view, afi, rd, chunk, missing, self.tracker.tables.get(key, {}), now
            )
            if stale:
                self.tracker.move(key, stale, BMP_INCONSISTENT, now)
                return missing - stale
        return missing

    def _inconsistent(
        self, key: tuple[int, int], afi: int, rd: str | None, bad: set[bytes], now: float
    ) -> None:
        drifts = self.tracker.tables.get(key, {})
        ev = self.evidence.tables.get((afi, rd), {})
        for p in bad:
            d = drifts.get(p)
            if d is None or d.state != BMP_INCONSISTENT:
                w = ev[p]
                self.evidence.inconsistent[(w.peer_label, w.view)] += 1
        self.tracker.move(key, bad, BMP_INCONSISTENT, now)

    def _nexthop_users(self, afi: int, table: int, ids: set[int]) -> list[bytes]:
        kern = self.kernel.routes.get((afi, table)) or {}
        return [p for p, e in kern.items() if e[3] in ids]

    async def _pass(self) -> None:
        t0 = time.perf_counter()
        router = self.local_router()
        view = source_view(router) if router is not None else None
        full = self._full
        if router is not self.router or view != self.view:
            if router is not self.router:
                if router is None:
                    self.log.info("local router gone", router=self.router_label)
                else:
                    self.log.info("local router", router=router.label)
            # drift against another router or view means nothing now
            self.tracker.clear()
            if self.router is not None and router is not self.router:
                self.evidence.clear()
            self.router = router
            self.router_label = router.label if router is not None else ""
            self.view = view
            full = full or "router"
        # Statistics Reports mark nothing dirty: re-judge every route when they
        # start or stop explaining a router without Route Monitoring
        unmon = view is None and router is not None and bool(unmonitored_routes(router))
        if unmon != self._unmonitored:
            self._unmonitored = unmon
            full = full or "unmonitored"
        if full:
            self._full = ""
            self._invalidate_markers()
            for lst in self._dirty_bgp.values():
                lst.clear()
            self._dirty_kernel.clear()
            self.kernel.nh_changed.clear()
            self.full_passes += 1
        extra = self._refresh_sources(router, bool(full))
        jobs = [(afi, table, rd) for table, rd in self.tables for afi in (1, 2)]
        # The pass's key lists are tuples (and the lists they were built from
        # are dropped before the first await): the GC untracks a tuple of
        # bytes the first time it sees it, where a list of 100k+ keys would
        # be traversed by every young collection during the pass.
        work: list[tuple[int, int, str | None, tuple[bytes, ...]]] = []
        if full:
            for afi, table, rd in jobs:
                keys: list[bytes] = list(self.tracker.tables.get((afi, table), {}))
                keys += self.kernel.routes.get((afi, table), {}).keys()
                for s in self.sources.get((afi, rd), ()):
                    keys += _prefixes(s.table.routes)
                work.append((afi, table, rd, tuple(keys)))
                del keys
        else:
            bgp: dict[tuple[int, str | None], list[bytes]] = {}
            for k, lst in self._dirty_bgp.items():
                if lst:
                    bgp[k] = lst[:]
                    lst.clear()
            for afi, rd, keys in extra:
                bgp.setdefault((afi, rd), []).extend(keys)
            kern: dict[tuple[int, int], list[bytes]] = {}
            if self._dirty_kernel:
                for afi, table, p in self._dirty_kernel:
                    kern.setdefault((afi, table), []).append(p)
                self._dirty_kernel.clear()
            nh = self.kernel.nh_changed
            if nh:
                ids = set(nh)
                nh.clear()
                for afi, table, _rd in jobs:
                    kern.setdefault((afi, table), []).extend(self._nexthop_users(afi, table, ids))
            for afi, table, rd in jobs:
                both = (*bgp.get((afi, rd), ()), *kern.get((afi, table), ()))
                if both:
                    work.append((afi, table, rd, both))
            del bgp, kern
        now = self.clock()
        self.tracker.on_move = self._on_drift if self.listeners else None
        builder = WantBuilder()
        cache: dict[tuple[int, int], bool] = {}
        t_slice = time.perf_counter()
        busy = 0.0
        step = 512
        for afi, table, rd, todo in work:
            i = 0
            while i < len(todo):
                t_step = time.perf_counter()
                self._compare(afi, table, rd, set(todo[i : i + step]), now, builder, cache)
                i += step
                took = time.perf_counter() - t_step
                step = next_batch(step, took, SLICE_SECONDS, MIN_STEP, STEP)
                if time.perf_counter() - t_slice > SLICE_SECONDS:
                    busy += time.perf_counter() - t_slice
                    await asyncio.sleep(0)
                    t_slice = time.perf_counter()
                    # a source table may have been cleared meanwhile: its keys
                    # are re-checked by the next pass (_refresh_sources)
        busy += time.perf_counter() - t_slice
        for afi, table, rd in jobs:
            key = (afi, table)
            held = self.kernel.routes.get(key) or {}
            tr = self.tracker
            tr.in_sync[key] = max(
                0,
                len(held)
                - tr.drifting(key, NEXTHOP_MISMATCH)
                - tr.drifting(key, EXTRA)
                - tr.drifting(key, BMP_INCONSISTENT)
                + self.evidence.stale_held(afi, rd, tr.tables.get(key, {}), held),
            )
        if work:
            self.passes += 1
            self.last_pass_seconds = busy
        now = self.clock()
        self.tracker.promote(now, self.config.grace)
        self.last_sync = now
        self.synced = True
        self.rounds += 1
        for listener in self.listeners:
            listener.pass_done(now)
        del t0

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self._need_resync:
                    await self._resync()
                if not self._need_resync:
                    await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error = str(exc)
                self.log.exception("fib reconciliation failed")
            self._wake.clear()
            timeout = self.config.interval
            if self._need_resync and self.error:
                timeout = max(timeout, 1.0)
            elif self._need_resync:
                continue
            deadline = self.tracker.next_deadline(self.config.grace)
            if deadline is not None:
                timeout = min(timeout, max(0.01, deadline - self.clock()))
            # asyncio.timeout, not wait_for: no task per wait (3.11's wait_for wraps one).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    # -- tests and tools ----------------------------------------------------------------

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until the first comparison is done (tests)."""
        deadline = time.monotonic() + timeout
        while not self.synced:
            if time.monotonic() > deadline:
                raise TimeoutError("fib reconciler did not sync")
            await asyncio.sleep(0.02)


def _keys(table: RibTable) -> KeysView[bytes]:
    """A table's prefixes as a set-like view (the refcount of an ADD-PATH table)."""
    if table.refs is not None:
        return table.refs.keys()
    return cast("KeysView[bytes]", table.routes.keys())


def _prefixes(routes: dict[Any, PathAttributes]) -> list[bytes]:
    """The prefixes of a routes dict (ADD-PATH keys reduced to their prefix)."""
    if tuple in set(map(type, routes)):
        return [k[1] if isinstance(k, tuple) else k for k in routes]
    return list(routes)


def _dump(protocols: frozenset[int], tables: frozenset[int]) -> KernelState:
    """A full dump with per-protocol counts and interface names (worker thread)."""
    state = netlink.dump(protocols, tables)
    state.track_counts()
    with contextlib.suppress(Exception):
        state.links = netlink.link_names()
    return state


def _fields(cfg: FibConfig) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
