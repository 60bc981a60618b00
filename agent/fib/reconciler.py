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

Every ``fib.interval`` seconds, if the kernel table or the router's RIB
changed (cheap counters, no walk), the live tables are copied on the loop
(C-speed dict copies) and the comparison runs in a worker thread, so the
loop never stalls on a full table. Differences become drift states after
``fib.grace`` seconds (``agent.fib.diff``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parsers.bgp.attributes import PathAttributes

from ..config import Config, FibConfig
from ..core.router import Router
from ..log import get_logger
from . import netlink
from .diff import DriftTracker, TableDiff, compare
from .expected import PathSource, WantBuilder, peer_source, select, source_view
from .netlink import KernelState, NetlinkError


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
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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


@dataclass(slots=True)
class PassInput:
    """A copy of everything one comparison needs (taken on the loop)."""

    mode: str
    #: (afi, rd) → [(peer facts, routes copy)]
    sources: dict[tuple[int, str | None], list[tuple[PathSource, dict[Any, PathAttributes]]]]
    #: (afi, table, rd)
    jobs: list[tuple[int, int, str | None]]
    kernel: KernelState


@dataclass(slots=True)
class PassResult:
    diffs: dict[tuple[int, int], TableDiff] = field(default_factory=dict)
    expected: dict[tuple[int, int], dict[bytes, Any]] = field(default_factory=dict)
    counts: dict[tuple[int, int, int], int] = field(default_factory=dict)
    seconds: float = 0.0


def run_pass(inp: PassInput) -> PassResult:
    """The comparison itself (worker thread; touches only its copies)."""
    t0 = time.perf_counter()
    builder = WantBuilder()
    res = PassResult()
    wants: dict[tuple[int, str | None], dict[bytes, Any]] = {}
    for afi, table, rd in inp.jobs:
        w = wants.get((afi, rd))
        if w is None:
            w = wants[(afi, rd)] = select(inp.sources.get((afi, rd), []), inp.mode, builder)
        kern = inp.kernel.routes.get((afi, table), {})
        res.diffs[(afi, table)] = compare(w, kern, inp.kernel.resolve, inp.mode)
        res.expected[(afi, table)] = w
    res.counts = inp.kernel.counts()
    res.seconds = time.perf_counter() - t0
    return res


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
        self.router: Router | None = None
        self.router_label = ""
        self.view: str | None = None
        #: copies of the last comparison's expected routes and kernel table (API)
        self.expected: dict[tuple[int, int], dict[bytes, Any]] = {}
        self.kernel_snapshot: KernelState | None = None
        self.kernel_counts: dict[tuple[int, int, int], int] = {}
        self.last_sync: float | None = None
        self.last_pass_seconds = 0.0
        self.passes = 0
        self.resyncs: Counter[str] = Counter()
        self.kernel_events = 0
        self.error: str | None = None
        self.synced = False
        self._sock: socket.socket | None = None
        self._buffering = False
        self._pending: list[bytes] = []
        self._need_resync = "initial"
        self._kernel_dirty = True
        self._generation: tuple[Any, ...] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
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
        if resync:
            self._apply_filters(self.config)
            self._need_resync = "reload"
        self._generation = None
        self._wake.set()
        return not_applied

    # -- kernel side ------------------------------------------------------------------

    def _apply_filters(self, cfg: FibConfig) -> None:
        self.protocols = frozenset(netlink.proto_id(p) for p in cfg.protocols)
        self.tables = parse_tables(cfg.tables)
        self.table_ids = frozenset(t for t, _ in self.tables)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            if self._buffering:
                self._pending.extend(netlink.drain(sock))
            else:
                if netlink.read_events(sock, self.kernel):
                    self._kernel_dirty = True
        except OSError as exc:
            reason = "enobufs" if exc.errno == errno.ENOBUFS else "read_error"
            if reason != "enobufs":
                self.log.warning("netlink read failed, resyncing", error=str(exc))
            else:
                self.log.info("netlink events lost (ENOBUFS), resyncing")
            self._need_resync = reason
            self._wake.set()

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
                    state = await asyncio.to_thread(netlink.dump, self.protocols, self.table_ids)
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
        self.kernel = state
        self.resyncs[reason] += 1
        self.error = None
        self._kernel_dirty = True
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

    def _generation_of(self, router: Router | None) -> tuple[Any, ...]:
        if router is None:
            return (None,)
        n = 0
        for peer in list(router.peers.values()):
            n += 1 if peer.up else 0
            for t in peer.tables.values():
                n += t.announces + t.withdraws + len(t.routes) * 3
        return (router.label, router.connections, router.up, n)

    def _snapshot(self, router: Router) -> PassInput:
        view = source_view(router)
        self.view = view
        sources: dict[tuple[int, str | None], list[tuple[PathSource, dict[Any, PathAttributes]]]]
        sources = {}
        rds = {rd for _, rd in self.tables}
        if view is not None:
            for peer in list(router.peers.values()):
                if not peer.up or peer.rd not in rds:
                    continue
                for afi in (1, 2):
                    t = peer.tables.get((view, afi, 1))
                    if t is not None and t.routes:
                        sources.setdefault((afi, peer.rd), []).append(
                            (peer_source(peer), dict(t.routes))
                        )
        kern = self.kernel
        copy = KernelState(kern.protocols, kern.tables)
        copy.routes = {k: dict(v) for k, v in kern.routes.items()}
        copy.shadow = dict(kern.shadow)
        copy.nh_objects = dict(kern.nh_objects)
        jobs = [(afi, table, rd) for table, rd in self.tables for afi in (1, 2)]
        return PassInput(self.config.mode, sources, jobs, copy)

    async def _pass(self) -> None:
        router = self.local_router()
        gen = self._generation_of(router)
        changed = self._kernel_dirty or gen != self._generation
        now = self.clock()
        if changed:
            self._kernel_dirty = False
            self._generation = gen
            if router is None:
                if self.router is not None:
                    self.log.info("local router gone", router=self.router_label)
                self.router = None
                self.router_label = ""
                self.tracker.clear()
                self.expected = {}
                self.kernel_snapshot = None
                self.kernel_counts = self.kernel.counts()
            else:
                if router is not self.router:
                    self.log.info("local router", router=router.label)
                    self.tracker.clear()
                self.router = router
                self.router_label = router.label
                inp = self._snapshot(router)
                res = await asyncio.to_thread(run_pass, inp)
                now = self.clock()
                for (afi, table), d in res.diffs.items():
                    self.tracker.update(afi, table, d, now, self.config.grace)
                self.expected = res.expected
                self.kernel_snapshot = inp.kernel
                self.last_pass_seconds = res.seconds
                self.kernel_counts = res.counts
                self.passes += 1
        self.tracker.promote(now, self.config.grace)
        self.last_sync = now
        self.synced = True

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    # -- tests and tools ----------------------------------------------------------------

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until the first comparison is done (tests)."""
        deadline = time.monotonic() + timeout
        while not self.synced:
            if time.monotonic() > deadline:
                raise TimeoutError("fib reconciler did not sync")
            await asyncio.sleep(0.02)


def _fields(cfg: FibConfig) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
