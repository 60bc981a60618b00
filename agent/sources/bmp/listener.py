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
checked every ``SLICE_MESSAGES`` messages): when a read buffer takes longer,
reading pauses, the rest is decoded in later callbacks (``call_soon``) and
reading resumes once the buffer is drained, so ``/metrics``, ``/healthz`` and
the API answer while a full table streams in.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

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

from ...config import BmpConfig, Endpoint
from ...log import get_logger, os_reason
from ...netaddr import listen_socket, unmap

Mode = Literal["passive", "active"]

#: Longest a router's ingest may hold the event loop in one callback.
SLICE_SECONDS = 0.01
#: Messages decoded between two clock checks.
SLICE_MESSAGES = 128


class RouterSessionLike(Protocol):
    """What the listener needs from ``agent.core.RouterSession``."""

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
        self.connections: set[BmpProtocol] = set()
        self.log = get_logger(component="bmp")

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
        self.log: Any = routers.log
        self.remote: tuple[str, int] = ("", 0)
        self.messages = 0
        self.closing_reason: str | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_message = on_message
        self._idle_handle: asyncio.TimerHandle | None = None
        self._last_progress = 0.0
        #: Reading is paused while buffered messages wait for a later slice.
        self._paused = False
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
        settings = self.routers.settings
        if self.mode == "passive" and not settings.allowed(host):
            self.log.warning("router rejected: address not in bmp.allow", remote_address=host)
            self._refuse("not_allowed")
            return
        if len(self.routers.connections) >= settings.max_routers:
            self.log.warning(
                "router refused: bmp.max_routers reached",
                remote_address=host,
                max_routers=settings.max_routers,
            )
            self._refuse("max_routers")
            return
        _keepalive(transport)
        self.session = BmpSession(fast=True, max_message_size=settings.max_message_size, batch=True)
        self.rs = self.routers.core.open_session(host, port, mode=self.mode)
        self.routers.connections.add(self)
        self.log.info("router connected")
        loop = asyncio.get_running_loop()
        self._last_progress = loop.time()
        if settings.idle_timeout > 0:
            self._idle_handle = loop.call_later(settings.idle_timeout, self._check_idle)

    def _refuse(self, reason: str) -> None:
        self.closing_reason = reason
        if self.transport is not None:
            self.transport.abort()

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
            try:
                events = session.feed_batched(data, SLICE_MESSAGES)
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
            if not events:
                break
            count = self._apply(session, rs, events)
            if count < 0:
                return  # the session was dropped
            if count < SLICE_MESSAGES:
                break  # every complete message is applied
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

    def _apply(self, session: BmpSession, rs: RouterSessionLike, events: list[BatchEvent]) -> int:
        """Apply decoded events in order; returns how many messages they held,
        or -1 when one of them closed the session."""
        self._last_progress = asyncio.get_running_loop().time()
        count = 0
        drop = False
        for event in events:
            if isinstance(event, RouteBatch):
                count += len(event.routes)
                try:
                    rs.handle_batch(event)
                except Exception:
                    self.log.exception("core failed to apply messages", offset=event.offset)
                continue
            count += 1
            try:
                rs.handle(event)
            except Exception:
                # A bug in the core must not take the collector down; the
                # stream itself is still framed, so keep the session.
                self.log.exception("core failed to apply a message", offset=event.offset)
            if isinstance(event, DecodeFailed):
                self._log_decode_failed(event)
                if event.error.action is Action.DROP_SESSION:
                    drop = True
                    break
            else:
                self._log_decoded(event)
        self.messages += count
        if self._on_message is not None:
            self._on_message()
        rs.absorb_quirks(session.ctx.quirks)
        if drop:
            self.close("decode_error")
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
        getattr(self.log, level)(
            "bmp message decode error",
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
                sys_name=info.get("sys_name"),
                sys_descr=info.get("sys_descr"),
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
        idle = loop.time() - self._last_progress
        buffered = self.session.reader.buffered if self.session is not None else 0
        if not buffered and self.messages:
            # Silent between whole messages is healthy (BIRD sends nothing
            # while nothing changes); only a message left half-sent, or a
            # connection that never sent one, counts. Dead peers are found
            # by TCP keepalive.
            self._last_progress = loop.time()
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
        if self.transport is not None and not self.transport.is_closing():
            if reason in ("framing_error", "decode_error", "idle_timeout"):
                self.transport.abort()
            else:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._resume_handle is not None:
            # Messages still buffered were received whole: apply them first.
            self._resume_handle.cancel()
            self._ingest_rest()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
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
