"""BMP relay: every router's stream, forwarded unchanged to upstream collectors.

``bmp.relay: ["HOST:PORT", ...]`` (flag ``--relay``). For every router
session the agent dials each upstream (active mode, one TCP connection per
router session and upstream, so the upstream sees one BMP session per router
as if the router had connected to it) and forwards the bytes the router sent.

First connection
    The bytes the router sends while the first connection of its session is
    being made are spooled (within ``bmp.relay_spool_bytes``), so that
    connection carries the router's stream unchanged from its first byte, with
    no synthesized state. If that spool fills, or the connect fails, the link
    falls back to a resync when it connects.

Resync
    On every other (re)connect the upstream first gets the router's *current state*
    (``agent.export.resync.Snapshot``: the original Initiation and Peer Up
    bytes, then the RIB as Route Monitoring, End-of-RIB per finished table),
    then the live stream from the exact message boundary at which the state
    was copied. An upstream that restarts is brought back to the full state
    without the router's BMP session to the agent ever being reset.

Never blocking ingest
    ``feed`` only appends to the upstream transport (or to the pending list
    while a state is being sent). The bytes buffered for one upstream, over
    all its router connections, are bounded by ``bmp.relay_spool_bytes``:
    when a chunk would exceed it, that connection is dropped (its buffered
    bytes discarded and counted) and reconnected, which resyncs it: reason
    ``spool_full``. The state is generated incrementally, paced by the
    upstream's TCP flow control, yielding to the event loop between batches.

Metrics: ``bmp_relay_up{upstream}`` (1 while no router connection to it is
down), ``bmp_relay_bytes_total{upstream}``,
``bmp_relay_resyncs_total{upstream,reason}`` (reason ``connect``: first
connection of a router session, ``reconnect``: after the upstream closed or
refused, ``spool_full``), ``bmp_relay_spool_bytes{upstream}``,
``bmp_relay_dropped_bytes_total{upstream}``, and
``bmp_export_dropped_total{exporter="relay"}`` (router chunks not delivered;
the family is ``agent.export.bus.ExportCollector``'s, shared by the exporters).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from parsers.bmp.context import PeerKey
from parsers.bmp.messages import Initiation, PeerDown, PeerUp, RouteMonitoring
from parsers.bmp.session import BatchEvent, Decoded

from ..backoff import backoff_delay
from ..config import Config, Endpoint
from ..log import get_logger
from .bus import export_collector
from .metrics import FamiliesCollector, Family
from .resync import Snapshot

if TYPE_CHECKING:
    from ..core.router import Router
    from ..host import Host

#: Bytes of synthesized state written before waiting for the upstream to drain.
WRITE_HIGH = 1 << 20
#: Messages encoded between two yields to the event loop while resyncing.
YIELD_EVERY = 2000

# Link states
DOWN = "down"  # not connected (connecting, or waiting to reconnect)
SYNCING = "syncing"  # connected, sending the synthesized state
LIVE = "live"  # connected, forwarding the router's stream
CLOSED = "closed"  # the router session ended


class Upstream:
    """One ``bmp.relay`` target: its counters and its router connections."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.label = str(endpoint)
        self.links: set[UpstreamLink] = set()
        self.bytes = 0
        self.dropped_bytes = 0
        self.dropped_chunks = 0
        self.resyncs: Counter[str] = Counter()

    @property
    def up(self) -> bool:
        return all(link.state != DOWN for link in self.links)

    def spooled(self) -> int:
        return sum(link.spooled() for link in self.links)


class Relay:
    """The relay of one daemon: an ``agent.host.Component`` and its ``TeeFactory``."""

    name = "relay"

    def __init__(
        self,
        upstreams: tuple[Endpoint, ...],
        spool_bytes: int,
        *,
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        clock: Any = time.time,
    ) -> None:
        self.upstreams = [Upstream(e) for e in upstreams]
        self.spool_bytes = spool_bytes
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.clock = clock
        self.tees: set[RouterTee] = set()
        self.log = get_logger(component="relay")

    def tee(self, rs: Any) -> RouterTee:
        """The ``agent.host.Tee`` of one router session (``agent.core.RouterSession``)."""
        tee = RouterTee(self, rs.router)
        self.tees.add(tee)
        return tee

    # -- Component ----------------------------------------------------------------

    async def start(self, host: Host) -> None:
        return None

    async def stop(self) -> None:
        for tee in list(self.tees):
            tee.close()

    def dropped_chunks(self) -> int:
        """Router chunks not delivered, over all upstreams."""
        return sum(u.dropped_chunks for u in self.upstreams)

    def reload(self, config: Config) -> list[str]:
        self.spool_bytes = config.bmp.relay_spool_bytes
        self.reconnect_min = config.bmp.reconnect_min
        self.reconnect_max = config.bmp.reconnect_max
        if tuple(u.endpoint for u in self.upstreams) != config.bmp.relay:
            return ["bmp.relay"]
        return []


class RouterTee:
    """The relay side of one router session: replay state and one link per upstream.

    ``feed(data, events, pending)`` is called by the listener after the core
    has applied ``events`` (the messages ``data`` completed); ``pending`` is
    how many bytes at the end of the stream belong to a message not yet
    complete (``BmpReader.buffered``)."""

    def __init__(self, relay: Relay, router: Router) -> None:
        self.relay = relay
        self.router = router
        self.initiation: bytes | None = None
        self.peer_ups: dict[PeerKey, bytes] = {}
        #: The bytes of the incomplete message at the end of the stream so far.
        self.carry = b""
        self.pos = 0
        self.closed = False
        self.links = [UpstreamLink(self, up) for up in relay.upstreams]
        for link in self.links:
            link.start()

    def feed(self, data: bytes, events: list[BatchEvent], pending: int) -> None:
        start = self.pos - len(self.carry)
        window: bytes | None = None
        for ev in events:
            if type(ev) is not Decoded:
                continue
            msg = ev.message
            t = type(msg)
            if t is RouteMonitoring:
                continue
            if t is PeerUp or t is Initiation:
                if window is None:
                    window = self.carry + data if self.carry else data
                raw = window[ev.offset - start : ev.offset - start + ev.size]
                if isinstance(msg, PeerUp):
                    self.peer_ups[msg.peer.key] = raw
                else:
                    self.initiation = raw
            elif isinstance(msg, PeerDown):
                self.peer_ups.pop(msg.peer.key, None)
        self.pos += len(data)
        if pending == 0:
            self.carry = b""
        elif pending <= len(data):
            self.carry = data[-pending:]
        else:
            self.carry = (self.carry + data)[-pending:]
        for link in self.links:
            link.send(data)

    def snapshot(self) -> tuple[Snapshot, bytes]:
        """The current state and the partial message that follows it."""
        snap = Snapshot.take(self.router, self.initiation, self.peer_ups, self.relay.clock())
        return snap, self.carry

    def close(self) -> None:
        """The router session ended: flush what is buffered, then close each link."""
        if self.closed:
            return
        self.closed = True
        self.relay.tees.discard(self)
        for link in self.links:
            link.finish()


class UpstreamLink(asyncio.Protocol):
    """One router session's TCP connection to one upstream."""

    def __init__(self, tee: RouterTee, upstream: Upstream) -> None:
        self.tee = tee
        self.upstream = upstream
        self.relay = tee.relay
        self.state = DOWN
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.reason = "connect"
        #: Every byte of the router's stream so far is in ``pending`` (the
        #: first connection is still being made and nothing was dropped): that
        #: connection needs no synthesized state.
        self.exact = True
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._sync: asyncio.Task[None] | None = None
        self._drained: asyncio.Event = asyncio.Event()
        self._drained.set()
        self._lost: asyncio.Future[None] | None = None
        self.log = self.relay.log.bind(upstream=upstream.label, router=tee.router.label)
        upstream.links.add(self)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"relay-{self.upstream.label}-{self.tee.router.label}"
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        ep = self.upstream.endpoint
        while self.state != CLOSED:
            try:
                await loop.create_connection(lambda: self, ep.host, ep.port)
            except OSError as exc:
                if self.state == CLOSED:
                    return
                self.log.info("relay connect failed", error=exc.strerror or str(exc))
                self.reason = "reconnect"
                self._inexact()
            else:
                assert self._lost is not None
                await asyncio.shield(self._lost)
            if self.state == CLOSED:
                return
            delay = backoff_delay(self.failures, self.relay.reconnect_min, self.relay.reconnect_max)
            self.failures += 1
            await asyncio.sleep(delay)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._lost = asyncio.get_running_loop().create_future()
        transport.set_write_buffer_limits(high=WRITE_HIGH)
        self.upstream.resyncs[self.reason] += 1
        sockname = transport.get_extra_info("sockname")
        connected = self.log.bind(reason=self.reason, local_port=sockname[1] if sockname else None)
        if self.exact:
            # The stream from its first byte is all in ``pending``: send it as is.
            self.exact = False
            connected.info(
                "relay connected, sending state", exact=True, buffered_bytes=self.pending_bytes
            )
            self._go_live(0)
            return
        snap, carry = self.tee.snapshot()
        connected.info(
            "relay connected, sending state",
            exact=False,
            routes=snap.routes,
            peers=len(snap.peer_ups),
            skipped_routes=snap.skipped_routes,
        )
        self.state = SYNCING
        self.pending = [carry] if carry else []
        self.pending_bytes = len(carry)
        self._sync = asyncio.get_running_loop().create_task(self._send_state(snap))

    async def _send_state(self, snap: Snapshot) -> None:
        n = 0
        batch: list[bytes] = []
        size = 0
        for msg in snap.messages():
            batch.append(msg)
            size += len(msg)
            n += 1
            if size >= 65536 or n % YIELD_EVERY == 0:
                if not self._write(b"".join(batch)):
                    return
                batch, size = [], 0
                await self._drained.wait()
                await asyncio.sleep(0)
                if self.state != SYNCING:
                    return
        if batch and not self._write(b"".join(batch)):
            return
        if self.state != SYNCING:
            return
        self._go_live(n)

    def _go_live(self, messages: int) -> None:
        """Write what was held back meanwhile and forward the stream from now on."""
        data = b"".join(self.pending)
        self.pending = []
        self.pending_bytes = 0
        self.state = LIVE
        self.failures = 0
        if data:
            self._write(data)
        self.log.info("relay live", messages=messages)

    def _write(self, data: bytes) -> bool:
        t = self.transport
        if t is None or t.is_closing():
            return False
        t.write(data)
        self.upstream.bytes += len(data)
        return True

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    def data_received(self, data: bytes) -> None:
        pass  # BMP is one-way; a collector has nothing to say

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.exact = False
        self._drained.set()
        if self._sync is not None:
            self._sync.cancel()
            self._sync = None
        if self.state == CLOSED:
            self.upstream.links.discard(self)
        else:
            self.log.info("relay connection lost", error=str(exc) if exc else None)
            self.state = DOWN
            if self.reason != "spool_full":
                self.reason = "reconnect"
        self.pending = []
        self.pending_bytes = 0
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # -- data -----------------------------------------------------------------------

    def spooled(self) -> int:
        """Live bytes held for the upstream: the pending list while the state
        is sent (the state itself is paced by flow control, not spooled),
        the transport's buffer once live."""
        t = self.transport
        if self.state == LIVE and t is not None:
            return t.get_write_buffer_size()
        return self.pending_bytes

    def send(self, data: bytes) -> None:
        state = self.state
        if state == DOWN and self.exact:
            # the first connection is being made: hold the stream for it
            if self.upstream.spooled() + len(data) > self.relay.spool_bytes:
                self._inexact()  # the resync on connect covers it instead
            else:
                self.pending.append(data)
                self.pending_bytes += len(data)
            return
        if state in (DOWN, CLOSED):
            return  # the resync on connect covers what is missed here
        t = self.transport
        if t is None:
            return
        up = self.upstream
        limit = self.relay.spool_bytes
        if up.spooled() + len(data) > limit:
            self._overflow(len(data))
            return
        if state == SYNCING:
            self.pending.append(data)
            self.pending_bytes += len(data)
        else:
            t.write(data)
            up.bytes += len(data)

    def _inexact(self) -> None:
        """Give up holding the stream for the first connection (it resyncs)."""
        self.exact = False
        if self.state == DOWN:
            self.pending = []
            self.pending_bytes = 0

    def _overflow(self, size: int) -> None:
        up = self.upstream
        lost = self.spooled() + size
        up.dropped_bytes += lost
        up.dropped_chunks += 1
        self.log.warning(
            "relay spool full, dropping the connection to resync",
            spool_bytes=self.relay.spool_bytes,
            dropped_bytes=lost,
        )
        self.reason = "spool_full"
        self.state = DOWN
        self.pending = []
        self.pending_bytes = 0
        if self.transport is not None:
            self.transport.abort()

    def finish(self) -> None:
        """The router session ended: what is buffered still goes, then close."""
        was = self.state
        self.state = CLOSED
        if self._task is not None:
            self._task.cancel()
        if self.transport is None:
            self.upstream.links.discard(self)
            return
        if was == SYNCING:
            self.transport.abort()  # a half-sent state is no use to anyone
        else:
            self.transport.close()


class RelayCollector(FamiliesCollector):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    FAMILIES = (
        (GaugeMetricFamily, "bmp_relay_up", "1 while every router session has its connection "
         "to the upstream (0: one is down).", ("upstream",)),
        (CounterMetricFamily, "bmp_relay_bytes", "Bytes written to the upstream (router streams "
         "and synthesized state).", ("upstream",)),
        (CounterMetricFamily, "bmp_relay_resyncs", "Synthesized states sent to the upstream, by "
         "why (connect, reconnect, spool_full).", ("upstream", "reason")),
        (GaugeMetricFamily, "bmp_relay_spool_bytes", "Bytes buffered for the upstream, over its "
         "router connections.", ("upstream",)),
        (CounterMetricFamily, "bmp_relay_dropped_bytes", "Bytes discarded when the upstream's "
         "spool was full (then resynced).", ("upstream",)),
    )  # fmt: skip

    def fill(self, families: list[Family]) -> list[Family]:
        up, sent, resyncs, spool, dropped_bytes = families
        for u in self.relay.upstreams:
            up.add_metric([u.label], 1.0 if u.up else 0.0)
            sent.add_metric([u.label], float(u.bytes))
            for reason in ("connect", "reconnect", "spool_full"):
                resyncs.add_metric([u.label, reason], float(u.resyncs[reason]))
            spool.add_metric([u.label], float(u.spooled()))
            dropped_bytes.add_metric([u.label], float(u.dropped_bytes))
        return families


def build(host: Host, *, metrics: bool = True) -> Relay | None:
    """The relay component when ``bmp.relay`` is set: its tee on every BMP
    router session (``Host.add_bmp_tee``) and its collector (before ``start``)."""
    cfg = host.config.bmp
    if not cfg.relay:
        return None
    relay = Relay(
        cfg.relay,
        cfg.relay_spool_bytes,
        reconnect_min=cfg.reconnect_min,
        reconnect_max=cfg.reconnect_max,
    )
    host.add_bmp_tee(relay.tee)
    if metrics:
        host.register_collector(RelayCollector(relay))
        # bmp_export_dropped_total{exporter="relay"}: one family for every exporter.
        export_collector(host).dropped["relay"] = relay.dropped_chunks
    return relay
