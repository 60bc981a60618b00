"""BMP over TCP: one asyncio ``Protocol`` per router connection.

Passive mode (``bmp.listen``, the default) accepts connections from routers
(FRR ``bmp connect``, GoBGP ``bmp-servers``, BIRD ``station address``);
active mode (``agent.sources.bmp.connector``) dials routers that listen (FRR ``bmp
listener``). Both use ``BmpProtocol``.

Every chunk received goes through the sans-IO ``BmpSession.feed_batched``
and each decoded event (runs of Route Monitoring as one ``RouteBatch``) is
applied to the core in order, so one router's messages are applied strictly
in order and there is no queue to grow: TCP flow control is the
back-pressure. The work per event-loop callback is bounded (``SLICE_SECONDS``,
checked every few messages, a count that follows their cost): when a read
buffer takes longer, reading pauses, the rest is decoded in later callbacks
(``call_soon``) and reading resumes once the buffer is drained, so
``/metrics``, ``/healthz`` and
the API answer while a full table streams in.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from prometheus_client.core import CounterMetricFamily, Metric

from parsers.bgp.messages import Notification
from parsers.bmp.messages import (
    MESSAGE_TYPE_NAMES,
    Initiation,
    PeerDown,
    PeerUp,
    PerPeerHeader,
    Termination,
)
from parsers.bmp.session import BatchEvent, BmpSession, Decoded, DecodeFailed, RouteBatch
from parsers.errors import Action, ParseError

from ...config import BmpConfig, Endpoint, LogConfig
from ...core.router import label_text
from ...host import Tee, TeeFactory
from ...log import RateLimit, get_logger, os_reason
from ...netaddr import listen_socket, unmap
from ...slicing import next_batch

Mode = Literal["passive", "active"]

#: Longest a router's ingest may hold the event loop in one callback. A
#: request waits for every callback ready before it, a few loop iterations
#: per request, so this bounds what a scrape waits behind a router's dump.
SLICE_SECONDS = 0.005
#: Messages decoded between two clock checks, at first; the count then
#: follows what a message costs (``MIN_MESSAGES``..``MAX_MESSAGES``, aimed
#: at half a slice): 128 messages of 100 NLRI each took 15-25 ms.
SLICE_MESSAGES = 128
MIN_MESSAGES = 8
MAX_MESSAGES = 512


class RouterSessionLike(Protocol):
    """What the listener needs from ``agent.core.RouterSession``."""

    on_limit: Callable[[str], None] | None

    def handle(self, event: Decoded | DecodeFailed) -> Any: ...

    def handle_batch(self, batch: RouteBatch) -> Any: ...

    def framing_error(self, err: ParseError) -> Any: ...

    def absorb_quirks(self, quirks: Counter[str]) -> Any: ...


class CoreLike(Protocol):
    """What the listener needs from ``agent.core.Core``."""

    def open_session(
        self, remote_address: str, remote_port: int, *, mode: str = ...
    ) -> RouterSessionLike: ...

    def close_session(self, rs: Any, reason: str) -> Any: ...


def peer_fields(peer: PerPeerHeader) -> dict[str, Any]:
    out: dict[str, Any] = {
        "peer": peer.address,
        "peer_as": peer.asn,
        "peer_type": peer.peer_type_name,
    }
    if peer.rd is not None:
        out["peer_rd"] = peer.rd
    return out


class Routers:
    """The set of live router connections, shared by listeners and connectors.

    Holds the settings that SIGHUP may change (allow-list, limits); new
    connections see the new values, live ones keep going.
    """

    def __init__(self, core: CoreLike, settings: BmpConfig) -> None:
        self.core = core
        self.settings = settings
        self.log_settings = LogConfig()
        self.connections: set[BmpProtocol] = set()
        self.log = get_logger(component="bmp")
        #: Live sessions (not closing) per source address.
        self.by_address: Counter[str] = Counter()
        #: Connections refused, by reason (``bmp_router_refusals_total``).
        self.refusals: Counter[str] = Counter()
        #: Sessions closed to make room, by reason (``bmp_router_evictions_total``).
        self.evictions: Counter[str] = Counter()
        #: Refusal log lines (a flood of connections is one line a minute per reason).
        self.refusal_log = RateLimit(5)
        #: Each makes a ``Tee`` per router session (``agent.host.Host.add_bmp_tee``).
        self.tees: list[TeeFactory] = []

    @property
    def live(self) -> int:
        """Sessions holding a slot (connected and not closing)."""
        return self.by_address.total()

    def evict_silent(self, address: str | None = None) -> BmpProtocol | None:
        """Close the oldest session (of ``address``, or any) silent for
        ``bmp.silent_timeout`` with no peer up; it is returned, or None."""
        timeout = self.settings.silent_timeout
        now = asyncio.get_running_loop().time()
        best: BmpProtocol | None = None
        for conn in self.connections:
            if conn.closing_reason is not None or (
                address is not None and conn.remote[0] != address
            ):
                continue
            if now - conn.last_message_at < timeout or conn.has_peer_up():
                continue
            if best is None or conn.connected_at < best.connected_at:
                best = conn
        if best is not None:
            self.evictions["silent"] += 1
            best.log.warning(
                "router silent since its initiation with no peer up: closed to make room",
                silent_timeout=timeout,
                silent_seconds=round(now - best.last_message_at, 3),
            )
            best.close("silent_evicted")
        return best

    def protocol(self, mode: Mode = "passive", **kw: Any) -> BmpProtocol:
        return BmpProtocol(self, mode, **kw)

    def factory(self, mode: Mode = "passive") -> Callable[[], BmpProtocol]:
        return lambda: BmpProtocol(self, mode)

    def close_all(self, reason: str = "shutdown") -> None:
        for conn in list(self.connections):
            conn.close(reason)

    async def wait_closed(self) -> None:
        waits = [c.closed for c in self.connections]
        if waits:
            await asyncio.wait(waits)


#: Close reasons that reset the connection rather than close it politely.
ABORT_REASONS = frozenset(
    {"framing_error", "decode_error", "idle_timeout", "too_many_errors", "silent_evicted"}
)


class RefusalCollector:
    """``bmp_router_refusals_total{reason}`` and ``bmp_router_evictions_total{reason}``."""

    REASONS = ("not_allowed", "max_sessions_per_address", "max_routers")

    def __init__(self, routers: Routers) -> None:
        self.routers = routers

    def collect(self) -> list[Metric]:
        refused = CounterMetricFamily(
            "bmp_router_refusals",
            "BMP connections refused, by reason.",
            labels=["reason"],
        )
        for reason in (*self.REASONS, *sorted(set(self.routers.refusals) - set(self.REASONS))):
            refused.add_metric([reason], self.routers.refusals[reason])
        evicted = CounterMetricFamily(
            "bmp_router_evictions",
            "BMP sessions closed to make room (silent since Initiation, no peer up).",
            labels=["reason"],
        )
        evicted.add_metric(["silent"], self.routers.evictions["silent"])
        return [refused, evicted]


class BmpProtocol(asyncio.Protocol):
    """One BMP session over one TCP connection."""

    def __init__(
        self,
        routers: Routers,
        mode: Mode = "passive",
        *,
        on_message: Callable[[], None] | None = None,
    ) -> None:
        self.routers = routers
        self.mode: Mode = mode
        self.transport: asyncio.Transport | None = None
        self.session: BmpSession | None = None
        self.rs: RouterSessionLike | None = None
        self.tees: list[Tee] = []
        self.log: Any = routers.log
        self.remote: tuple[str, int] = ("", 0)
        self.messages = 0
        self.closing_reason: str | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_message = on_message
        self._idle_handle: asyncio.TimerHandle | None = None
        self.last_progress = 0.0
        #: Loop time of the last whole message (or of the connect): what
        #: ``bmp.silent_timeout`` measures (the idle check moves ``last_progress``).
        self.last_message_at = 0.0
        self.connected_at = 0.0
        #: Whether this session holds a slot in ``Routers.by_address``.
        self._slot = False
        #: Consecutive malformed messages (``bmp.max_errors``).
        self._errors = 0
        self._warn = RateLimit(routers.log_settings.decode_warnings_per_minute)
        #: Reading is paused while buffered messages wait for a later slice.
        self._paused = False
        #: Messages per decode batch (adapts: ``SLICE_MESSAGES``).
        self._batch = SLICE_MESSAGES
        self._resume_handle: asyncio.Handle | None = None

    # ------------------------------------------------------------------ setup

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        host, port = (str(peername[0]), int(peername[1])) if peername else ("unknown", 0)
        host = unmap(host)  # IPv4 routers on a dual-stack [::] socket
        self.remote = (host, port)
        router = str(Endpoint(host, port))
        self.log = self.routers.log.bind(router=router, mode=self.mode)
        routers = self.routers
        settings = routers.settings
        if self.mode == "passive" and not settings.allowed(host):
            self._refuse("not_allowed", "router rejected: address not in bmp.allow", host)
            return
        per_address = settings.max_sessions_per_address
        if routers.by_address[host] >= per_address and routers.evict_silent(host) is None:
            self._refuse(
                "max_sessions_per_address",
                "router refused: bmp.max_sessions_per_address reached",
                host,
                max_sessions_per_address=per_address,
            )
            return
        if routers.live >= settings.max_routers and routers.evict_silent() is None:
            self._refuse(
                "max_routers",
                "router refused: bmp.max_routers reached",
                host,
                max_routers=settings.max_routers,
            )
            return
        _keepalive(transport)
        self.session = BmpSession(fast=True, max_message_size=settings.max_message_size, batch=True)
        self.rs = routers.core.open_session(host, port, mode=self.mode)
        self.rs.on_limit = self._route_limit
        routers.connections.add(self)
        routers.by_address[host] += 1
        self._slot = True
        for make_tee in routers.tees:
            try:
                self.tees.append(make_tee(self.rs))
            except Exception:
                self.log.exception("tee failed to open for the session")
        self.log.info("router connected")
        loop = asyncio.get_running_loop()
        self.last_progress = self.connected_at = self.last_message_at = loop.time()
        if settings.idle_timeout > 0:
            self._idle_handle = loop.call_later(settings.idle_timeout, self._check_idle)

    def _refuse(self, reason: str, message: str, host: str, **fields: Any) -> None:
        routers = self.routers
        routers.refusals[reason] += 1
        ok, held = routers.refusal_log.allow(reason)
        if ok:
            if held:
                fields["suppressed"] = held
            self.log.warning(message, remote_address=host, reason=reason, **fields)
        self.closing_reason = reason
        if self.transport is not None:
            self.transport.abort()

    def _release(self) -> None:
        """Give the slot back (closing starts, or the connection is gone)."""
        if self._slot:
            self._slot = False
            by_address = self.routers.by_address
            host = self.remote[0]
            by_address[host] -= 1
            if by_address[host] <= 0:
                del by_address[host]

    def has_peer_up(self) -> bool:
        router = getattr(self.rs, "router", None)
        peers = getattr(router, "peers", None)
        if not peers:
            return False
        return any(p.up for p in list(peers.values()))

    def _route_limit(self, key: str) -> None:
        """``rib.on_limit: close``: a route limit was reached on this session."""
        self.log.warning("route limit reached, closing the session (rib.on_limit)", limit_key=key)
        self.close("route_limit")

    # ------------------------------------------------------------------ data

    def data_received(self, data: bytes) -> None:
        self._ingest(data)

    def _ingest(self, data: bytes = b"") -> None:
        """Decode and apply what ``data`` completes, for at most one slice;
        the rest continues in a later callback with reading paused."""
        self._resume_handle = None
        session, rs = self.session, self.rs
        if session is None or rs is None or self.closing_reason is not None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SLICE_SECONDS
        # No cyclic GC inside a slice: a slice's transient objects are freed by
        # reference counting, and young collections every 10k allocations
        # cost ~10-25 % of ingest; the collector runs between slices instead.
        collect = gc.isenabled()
        if collect:
            gc.disable()
        try:
            self._ingest_slice(session, rs, data, loop, deadline)
        finally:
            if collect:
                gc.enable()

    def _ingest_slice(
        self,
        session: BmpSession,
        rs: RouterSessionLike,
        data: bytes,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
    ) -> None:
        while True:
            framing: ParseError | None = None
            chunk = data
            batch = self._batch
            started = loop.time()
            try:
                events = session.feed_batched(data, batch)
            except ParseError as err:
                # The whole messages before the bad header still count.
                framing, events = err, list(err.partial or ())
            data = b""
            if framing is not None:
                if events and self._apply(session, rs, events) < 0:
                    return  # a message in them already dropped the session
                rs.framing_error(framing)
                self.log.error(
                    "bmp framing error, closing connection",
                    error=framing.message,
                    offset=framing.offset,
                    action=framing.action.value,
                    kind=framing.kind,
                )
                self.close("framing_error")
                return
            count = self._apply(session, rs, events) if events else 0
            if count < 0:
                return  # the session was dropped
            if self.tees and (chunk or events):
                # After the core applied the events: a resync copies exactly this
                # state, and the bytes still buffered (whole messages of a later
                # slice included) follow it.
                self._feed_tees(chunk, events, session.reader.buffered)
            if count < batch:
                break  # every complete message is applied
            took = loop.time() - started
            self._batch = next_batch(batch, took, SLICE_SECONDS, MIN_MESSAGES, MAX_MESSAGES)
            if loop.time() >= deadline:
                # More may be buffered: yield to the loop, continue soon.
                if not self._paused and self.transport is not None:
                    self._paused = True
                    self.transport.pause_reading()
                self._resume_handle = loop.call_soon(self._ingest)
                return
        if self._paused:
            self._paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def _feed_tees(self, data: bytes, events: list[BatchEvent], pending: int) -> None:
        for tee in list(self.tees):
            try:
                tee.feed(data, events, pending)
            except Exception:
                self.log.exception("tee failed to take the data; stopped for the session")
                self.tees.remove(tee)
                with contextlib.suppress(Exception):
                    tee.close()

    def _core_failed(self, message: str, offset: int) -> None:
        """Log (rate-limited) the exception the core raised applying a message:
        a bug in the core must not take the collector down, and the stream
        itself is still framed, so the session stays."""
        ok, held = self._warn.allow("core_exception")
        if ok:
            self.log.exception(message, offset=offset, suppressed=held)

    def _apply(self, session: BmpSession, rs: RouterSessionLike, events: list[BatchEvent]) -> int:
        """Apply decoded events in order; returns how many messages they held,
        or -1 when one of them closed the session."""
        self.last_progress = self.last_message_at = asyncio.get_running_loop().time()
        count = 0
        drop: str | None = None
        max_errors = self.routers.settings.max_errors
        for event in events:
            if isinstance(event, RouteBatch):
                count += len(event.routes)
                try:
                    rs.handle_batch(event)
                except Exception:
                    self._core_failed("core failed to apply messages", event.offset)
                self._errors = 0
                if self.closing_reason is not None:
                    drop = self.closing_reason  # e.g. rib.on_limit: close
                    break
                continue
            count += 1
            try:
                rs.handle(event)
            except Exception:
                self._core_failed("core failed to apply a message", event.offset)
            if isinstance(event, DecodeFailed):
                self._log_decode_failed(event)
                if event.error.action is Action.DROP_SESSION:
                    drop = "decode_error"
                    break
                self._errors += 1
                if max_errors and self._errors >= max_errors:
                    self.log.error(
                        "too many consecutive malformed messages, closing connection",
                        errors=self._errors,
                        max_errors=max_errors,
                    )
                    drop = "too_many_errors"
                    break
            else:
                self._errors = 0
                self._log_decoded(event)
            if self.closing_reason is not None:
                drop = self.closing_reason  # e.g. rib.on_limit: close
                break
        self.messages += count
        if self._on_message is not None:
            self._on_message()
        rs.absorb_quirks(session.ctx.quirks)
        if drop is not None:
            self.close(drop)
            return -1
        return count

    def _log_decode_failed(self, event: DecodeFailed) -> None:
        err = event.error
        msg_type = (
            MESSAGE_TYPE_NAMES.get(event.msg_type, f"type_{event.msg_type}")
            if event.msg_type is not None
            else None
        )
        level = "error" if err.action is Action.DROP_SESSION else "warning"
        ok, held = self._warn.allow(err.kind)
        if not ok:
            return
        extra: dict[str, Any] = {"suppressed": held} if held else {}
        getattr(self.log, level)(
            "bmp message decode error",
            **extra,
            msg_type=msg_type,
            error=err.message,
            kind=err.kind,
            offset=err.offset,
            msg_offset=event.offset,
            action=err.action.value,
            size=event.size,
        )

    def _log_decoded(self, event: Decoded) -> None:
        msg = event.message
        if isinstance(msg, PeerUp):
            self.log.info(
                "peer up",
                msg_type="peer_up",
                **peer_fields(msg.peer),
                local_address=msg.local_address,
                remote_port=msg.remote_port,
            )
        elif isinstance(msg, PeerDown):
            fields = peer_fields(msg.peer)
            if msg.fsm_event_name is not None:
                fields["fsm_event"] = msg.fsm_event_name
            if msg.notification is not None:
                fields["notification"] = _short(msg.notification)
            self.log.info("peer down", msg_type="peer_down", reason=msg.reason_name, **fields)
        elif isinstance(msg, Initiation):
            info = msg.info()
            self.log.info(
                "router initiation",
                msg_type="initiation",
                sys_name=_short_text(info.get("sys_name")),
                sys_descr=_short_text(info.get("sys_descr")),
            )
        elif isinstance(msg, Termination):
            self.log.info("router termination", msg_type="termination", reason=msg.reason_name)

    # ------------------------------------------------------------------ idle

    def _check_idle(self) -> None:
        self._idle_handle = None
        if self.transport is None or self.closing_reason is not None:
            return
        loop = asyncio.get_running_loop()
        timeout = self.routers.settings.idle_timeout
        if timeout <= 0:
            return
        idle = loop.time() - self.last_progress
        buffered = self.session.reader.buffered if self.session is not None else 0
        if not buffered and self.messages:
            # Silent between whole messages is healthy (BIRD sends nothing
            # while nothing changes); only a message left half-sent, or a
            # connection that never sent one, counts. Dead peers are found
            # by TCP keepalive.
            self.last_progress = loop.time()
            self._idle_handle = loop.call_later(timeout, self._check_idle)
            return
        if idle >= timeout:
            self.log.warning(
                "router idle: no complete bmp message, closing connection",
                idle_timeout=timeout,
                buffered_bytes=buffered,
            )
            self.close("idle_timeout")
            return
        self._idle_handle = loop.call_later(timeout - idle, self._check_idle)

    # ------------------------------------------------------------------ close

    def close(self, reason: str) -> None:
        if self.closing_reason is None:
            self.closing_reason = reason
        self._release()
        if self.transport is not None and not self.transport.is_closing():
            if reason in ABORT_REASONS:
                self.transport.abort()
            else:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._resume_handle is not None:
            # Messages still buffered were received whole: apply them first.
            self._resume_handle.cancel()
            self._ingest_rest()
        self._release()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        for kind, n in self._warn.drain().items():
            self.log.warning("bmp message decode errors suppressed", kind=kind, suppressed=n)
        tees, self.tees = self.tees, []
        for tee in tees:
            try:
                tee.close()
            except Exception:
                self.log.exception("tee failed to close")
        if self in self.routers.connections:
            self.routers.connections.discard(self)
            reason = self.closing_reason or ("error" if exc is not None else "closed_by_router")
            rs = self.rs
            if rs is not None:
                try:
                    self.routers.core.close_session(rs, reason)
                except Exception:
                    self.log.exception("core failed to close the session")
            fields: dict[str, Any] = {"reason": reason, "messages": self.messages}
            if exc is not None:
                fields["error"] = str(exc)
            self.log.info("router disconnected", **fields)
        if not self.closed.done():
            self.closed.set_result(None)

    def _ingest_rest(self) -> None:
        """Apply every complete message still buffered (the connection ended)."""
        self._paused = False
        session, rs = self.session, self.rs
        if session is None or rs is None or self.closing_reason is not None:
            return
        while True:
            try:
                events = session.feed_batched(b"")
            except ParseError as err:
                events = list(err.partial or ())
                if events:
                    self._apply(session, rs, events)
                rs.framing_error(err)
                return
            if not events or self._apply(session, rs, events) < 0:
                return


def _short_text(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    return label_text(value if isinstance(value, str) else "\n".join(value), 256)


def _short(n: Notification) -> str:
    text = f"{n.code_name}/{n.subcode_name}"
    shutdown = n.shutdown_message()
    return f"{text}: {shutdown}" if shutdown else text


async def start_listeners(
    routers: Routers, endpoints: tuple[Endpoint, ...]
) -> list[asyncio.base_events.Server]:
    """Bind every endpoint; on failure close the ones already bound and raise
    ``OSError`` whose message names the address."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.base_events.Server] = []
    try:
        for ep in endpoints:
            try:
                sock = listen_socket(ep.host, ep.port, ipv6_only=routers.settings.ipv6_only)
                if sock is not None:  # [::] is dual-stack (agent.netaddr)
                    server = await loop.create_server(routers.factory("passive"), sock=sock)
                else:
                    server = await loop.create_server(
                        routers.factory("passive"), ep.host, ep.port, reuse_address=True
                    )
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot listen for BMP on {ep}: {os_reason(exc)}"
                ) from exc
            servers.append(server)
    except BaseException:
        for s in servers:
            s.close()
        raise
    return servers


def bound_addresses(server: asyncio.base_events.Server) -> list[Endpoint]:
    return [Endpoint(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in server.sockets]


def _keepalive(transport: asyncio.Transport) -> None:
    """TCP keepalive finds routers that vanished without a FIN (power loss,
    a cut link), since a healthy BMP session may be silent for hours."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)
    except OSError:
        pass  # not a TCP socket (tests may use others)
