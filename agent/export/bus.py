"""Message-bus exporters: the parsed RIB changes as gobmp messages, on NATS (Kafka fits too).

``BusFeed`` is the bus-independent part; a ``Producer`` is the client of one
bus (``agent.export.nats.NatsProducer``; an aiokafka producer implements the
same four calls: ``connect``, ``publish(subject, key, payload)`` where the
subject is the topic and the key the message key, ``flush``, ``close``).

Never blocking ingest
    ``BusFeed`` is a ``RouteObserver`` and a ``PeerObserver`` of the core: on
    the ingest path it only appends one tuple per UPDATE NLRI set (or peer
    event) to a bounded queue, counted in routes (``export.nats_queue``). A
    sender task encodes (gobmp JSON, ``agent.export.gobmp``) and publishes,
    yielding to the event loop between batches. When the bus is down or the
    queue is full, the queue and the events that follow are dropped and
    counted (``bmp_export_dropped_total{exporter}``), withdrawals among them
    remembered, and the feed is marked for **resync**, which starts once
    ingest has been quiet for a second (at most 30 s after the drops began)
    so that it never competes with a burst.

Resync
    On every (re)connect and after drops, the sender republishes the current
    state from the core: a Peer ``add`` per up peer, an ``add`` per route of
    every unicast table, a ``del`` for each route withdrawn while events were
    dropped and not announced again, and a Peer ``down`` for each peer
    published up that is no longer up; then the live events queued since the
    state was copied (the copy is taken at one instant, so they apply on
    top). A consumer that missed events converges to the agent's RIB.

Metrics (``exporter`` = ``nats``): ``bmp_export_up``, ``bmp_export_messages_total``,
``bmp_export_dropped_total`` (events not delivered; the relay's too),
``bmp_export_queue_routes``, ``bmp_export_resyncs_total{exporter,reason}``
(``connect``, ``dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ..backoff import backoff_delay
from ..core import Core
from ..core.peer import Peer
from ..core.rib import RibTable, RouteKey
from ..core.router import Router
from ..log import get_logger
from . import gobmp
from .metrics import FamiliesCollector, Family

if TYPE_CHECKING:
    from ..host import Host

#: Messages published between two yields to the event loop.
BATCH = 512
#: A resync waits for this many seconds without a drop (ingest quiet) ...
QUIET = 1.0
#: ... but not longer than this since the drops began.
QUIET_MAX = 30.0
#: Seconds the bus client gets to close on shutdown (the daemon has 4 in all).
STOP_TIMEOUT = 1.5
#: Attribute sets whose ``base_attrs`` JSON is cached (cleared past this).
ATTR_CACHE = 65536
UNICAST = 1
AFIS = (1, 2)


class Producer(Protocol):
    """The client of one message bus."""

    async def connect(self) -> None:
        """Connect (and create the stream/topics if absent); raise ``Exception`` on failure."""

    async def publish(self, subject: str, key: str, payload: bytes) -> None:
        """Queue one message (``key``: gobmp's ``Hash`` header, Kafka's message key);
        raise when the connection is gone."""

    async def flush(self) -> None:
        """Wait until what was published reached the bus; raise when it cannot."""

    async def close(self) -> None: ...

    @property
    def connected(self) -> bool: ...


class ExportCollector(FamiliesCollector):
    """``bmp_export_dropped_total{exporter}`` and the bus feeds' families, for every
    exporter of one daemon (the relay adds its dropped count here too)."""

    def __init__(self) -> None:
        self.dropped: dict[str, Callable[[], int]] = {}
        self.feeds: list[BusFeed] = []

    FAMILIES = (
        (CounterMetricFamily, "bmp_export_dropped", "Events an exporter could not deliver (the "
         "relay: router chunks; a bus: routes and peer events).", ("exporter",)),
        (GaugeMetricFamily, "bmp_export_up", "1 while the exporter is connected to its bus.",
         ("exporter",)),
        (CounterMetricFamily, "bmp_export_messages", "Messages published to the bus.",
         ("exporter",)),
        (GaugeMetricFamily, "bmp_export_queue_routes", "Routes (and peer events) waiting to be "
         "published.", ("exporter",)),
        (CounterMetricFamily, "bmp_export_resyncs", "Republications of the whole RIB, by why "
         "(connect, dropped).", ("exporter", "reason")),
    )  # fmt: skip

    def fill(self, families: list[Family]) -> list[Family]:
        dropped, up, sent, queue, resyncs = families
        counts = {name: fn() for name, fn in self.dropped.items()}
        for f in self.feeds:
            counts[f.name] = f.dropped
        for name, n in sorted(counts.items()):
            dropped.add_metric([name], float(n))
        if not self.feeds:
            return [dropped]  # no bus feed: only the relay's count
        for f in self.feeds:
            up.add_metric([f.name], 1.0 if f.producer.connected else 0.0)
            sent.add_metric([f.name], float(f.messages))
            queue.add_metric([f.name], float(f.queued))
            for reason in ("connect", "dropped"):
                resyncs.add_metric([f.name, reason], float(f.resyncs.get(reason, 0)))
        return families


_collectors: weakref.WeakKeyDictionary[Any, ExportCollector] = weakref.WeakKeyDictionary()


def export_collector(host: Host) -> ExportCollector:
    """The daemon's one ``ExportCollector``, registered on first use."""
    c = _collectors.get(host)
    if c is None:
        c = _collectors[host] = ExportCollector()
        host.register_collector(c)
    return c


TableKey = tuple[str, tuple[int, bytes, str], str, int]


class BusFeed:
    """gobmp's parsed feed of one core onto one bus (an ``agent.host.Component``)."""

    def __init__(
        self,
        name: str,
        core: Core,
        producer: Producer,
        *,
        queue_limit: int,
        subject_prefix: str = "",
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        clock: Callable[[], float] = time.time,
        reload_check: Callable[[Any], list[str]] | None = None,
    ) -> None:
        self.name = name
        self.reload_check = reload_check
        self.core = core
        self.producer = producer
        self.queue_limit = queue_limit
        self.prefix = f"{subject_prefix}." if subject_prefix else ""
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.clock = clock
        self.queue: deque[tuple[Any, ...]] = deque()
        self.queued = 0
        #: Events go to the queue only while live (connected, no resync owed).
        self.live = False
        self.resync_reason: str | None = "connect"
        self.dropped = 0
        #: ``time.monotonic()`` of the last drop and of the first since live.
        self.last_drop = 0.0
        self.first_drop = 0.0
        self.messages = 0
        self.resyncs: dict[str, int] = {}
        #: Withdrawals dropped since the last resync: table -> (router, peer, keys).
        self.missed: dict[TableKey, tuple[Router, Peer, str, int, set[RouteKey]]] = {}
        #: Peers published up: (router label, peer key) -> (router, peer).
        self.published_up: dict[tuple[str, tuple[int, bytes, str]], tuple[Router, Peer]] = {}
        self.idents: dict[str, gobmp.RouterIdentity] = {}
        self._attrs: dict[int, tuple[PathAttributes, str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.log = get_logger(component="export", exporter=name)

    # -- Component ----------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self.core.observers.append(self)
        self.core.peer_observers.append(self)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"export-{self.name}")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.core.observers.remove(self)
        with contextlib.suppress(ValueError):
            self.core.peer_observers.remove(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.close(), STOP_TIMEOUT)

    def reload(self, config: Any) -> list[str]:
        """The feed's settings need a restart: their keys when they changed."""
        return self.reload_check(config) if self.reload_check is not None else []

    # -- the ingest path (RouteObserver, PeerObserver) -----------------------------

    def _put(self, item: tuple[Any, ...], size: int) -> bool:
        if self.live and self.queued + size <= self.queue_limit and self.producer.connected:
            self.queue.append(item)
            self.queued += size
            self._wake.set()
            return True
        self.dropped += size
        now = time.monotonic()
        self.last_drop = now
        if self.live:
            self.live = False
            self.first_drop = now
            # What waits in the queue is covered by the resync too: drop it now
            # rather than spend the CPU ingest needs (its withdrawals remembered).
            for q in self.queue:
                if q[0] == "w":
                    self._remember(*q[1:6])
            self.dropped += self.queued
            self.queue.clear()
            self.queued = 0
            if self.producer.connected:
                self.resync_reason = "dropped"
                self.log.warning(
                    "export queue full, dropping until the RIB is republished",
                    queue_routes=self.queued,
                )
            else:
                self.resync_reason = "connect"
                self.log.warning("export disconnected, dropping until reconnected and resynced")
        return False

    def announce(self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
        if table.safi != UNICAST or table.afi not in AFIS:
            return
        router = self._router_of(peer, table)
        self._put(("a", router, peer, table.view, table.afi, nset, attrs), len(nset))

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None:
        if table.safi != UNICAST or table.afi not in AFIS:
            return
        router = self._router_of(peer, table)
        if not self._put(("w", router, peer, table.view, table.afi, nset), len(nset)):
            self._remember(router, peer, table.view, table.afi, nset)

    def _router_of(self, peer: Peer, table: RibTable) -> Router:
        """The router holding ``peer`` (cached in the table's ``ext``)."""
        ext = table.ext
        if ext is None:
            ext = table.ext = {}
        router = ext.get("export")
        if not isinstance(router, Router):
            router = next(r for r in self.core.routers.values() if r.peers.get(peer.key) is peer)
            ext["export"] = router
        return router

    def peer_up(self, router: Router, peer: Peer) -> None:
        self._put(("u", router, peer, self.clock()), 1)

    def peer_down(self, router: Router, peer: Peer) -> None:
        self._put(("d", router, peer, self.clock()), 1)

    def _remember(self, router: Router, peer: Peer, view: str, afi: int, nset: NlriSet) -> None:
        key: TableKey = (router.label, peer.key, view, afi)
        entry = self.missed.get(key)
        if entry is None:
            entry = self.missed[key] = (router, peer, view, afi, set())
        keys = entry[4]
        if nset.path_ids is None:
            keys.update(nset.prefixes)
        else:
            keys.update(zip(nset.path_ids, nset.prefixes, strict=True))

    # -- the sender -----------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self.producer.connected:
                self.live = False
                try:
                    await self.producer.connect()
                except Exception as exc:  # the bus client's errors are many
                    delay = backoff_delay(failures, self.reconnect_min, self.reconnect_max)
                    failures += 1
                    self.log.info(
                        "export connect failed",
                        error=str(exc) or type(exc).__name__,
                        retry_in=round(delay, 2),
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self.resync_reason = self.resync_reason or "connect"
                self.log.info("export connected")
            try:
                if self.resync_reason is not None:
                    await self._quiet()
                    await self._resync(self.resync_reason)
                await self._drain()
                if not self.queue and self.resync_reason is None:
                    await self.producer.flush()
                    self._wake.clear()
                    if not self.queue:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(1.0):
                                await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.live = False
                self.resync_reason = "connect"
                self.log.warning("export connection lost", error=str(exc) or type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self.producer.close()

    async def _quiet(self) -> None:
        """Wait until ingest has dropped nothing for ``QUIET`` seconds (at most
        ``QUIET_MAX`` since the drops began): a resync during a burst would
        take the CPU the burst needs, and the burst's end is in the copy anyway."""
        while True:
            now = time.monotonic()
            if now - self.last_drop >= QUIET or now - self.first_drop >= QUIET_MAX:
                return
            await asyncio.sleep(QUIET / 4)

    async def _send(self, subject: str, key: str, payload: bytes) -> None:
        await self.producer.publish(self.prefix + subject, key, payload)
        self.messages += 1
        if self.messages % BATCH == 0:
            await asyncio.sleep(0)

    async def _drain(self) -> None:
        while self.queue:
            item = self.queue.popleft()
            kind = item[0]
            self.queued -= len(item[5]) if kind in ("a", "w") else 1
            for subject, key, payload in self._encode(item):
                await self._send(subject, key, payload)

    def _ident(self, router: Router) -> gobmp.RouterIdentity:
        ident = self.idents.get(router.label)
        if ident is None:
            ident = self.idents[router.label] = gobmp.router_identity(router)
        return ident

    def _base(self, attrs: PathAttributes) -> str:
        hit = self._attrs.get(id(attrs))
        if hit is not None and hit[0] is attrs:
            return hit[1]
        if len(self._attrs) >= ATTR_CACHE:
            self._attrs.clear()
        text = json.dumps(gobmp.base_attrs(attrs), separators=(",", ":"))
        self._attrs[id(attrs)] = (attrs, text)
        return text

    def _routes(
        self,
        router: Router,
        peer: Peer,
        view: str,
        afi: int,
        keys: Iterator[tuple[bytes, int | None]],
        attrs: PathAttributes | None,
        action: str,
        now: float,
    ) -> Iterator[tuple[str, str, bytes]]:
        ident = self._ident(router)
        subject = gobmp.SUBJECT_UNICAST_V4 if afi == 1 else gobmp.SUBJECT_UNICAST_V6
        base = self._base(attrs) if attrs is not None else None
        tpl = gobmp.UnicastTemplate(
            ident, peer, gobmp.peer_hash(peer), view, afi, action, now, attrs, base
        )
        key = ident.hash
        for prefix, path_id in keys:
            yield subject, key, tpl.render(prefix, path_id)

    def _encode(self, item: tuple[Any, ...]) -> Iterator[tuple[str, str, bytes]]:
        kind = item[0]
        if kind in ("a", "w"):
            router, peer, view, afi, nset = item[1:6]
            attrs = item[6] if kind == "a" else None
            ids = nset.path_ids or (None,) * len(nset.prefixes)
            yield from self._routes(
                router,
                peer,
                view,
                afi,
                iter(zip(nset.prefixes, ids, strict=True)),
                attrs,
                "add" if kind == "a" else "del",
                self.clock(),
            )
        else:
            router, peer, now = item[1:4]
            yield self._peer(router, peer, "add" if kind == "u" else "down", now)

    def _peer(self, router: Router, peer: Peer, action: str, now: float) -> tuple[str, str, bytes]:
        ident = self._ident(router)
        pk = (router.label, peer.key)
        if action == "add":
            self.published_up[pk] = (router, peer)
        else:
            self.published_up.pop(pk, None)
        doc = gobmp.peer_state(ident, peer, action, now)
        return gobmp.SUBJECT_PEER, ident.hash, json.dumps(doc, separators=(",", ":")).encode()

    async def _resync(self, reason: str) -> None:
        """Republish the current state (see the module doc), then go live."""
        self.resyncs[reason] = self.resyncs.get(reason, 0) + 1
        # What was queued is covered by the copy below, but its withdrawals
        # must still reach the consumer when the route is gone.
        for item in self.queue:
            if item[0] == "w":
                self._remember(*item[1:6])
        self.queue.clear()
        self.queued = 0
        missed, self.missed = self.missed, {}
        now = self.clock()
        peers: list[tuple[Router, Peer]] = []
        #: Per table, its routes grouped by attribute set: only references to
        #: the RIB's own keys and interned attributes (about 8 bytes a route).
        tables: list[
            tuple[Router, Peer, str, int, list[tuple[PathAttributes, list[RouteKey]]]]
        ] = []
        routes = 0
        up_now: set[tuple[str, tuple[int, bytes, str]]] = set()
        for router in list(self.core.routers.values()):
            for peer in list(router.peers.values()):
                if not peer.up:
                    continue
                up_now.add((router.label, peer.key))
                peers.append((router, peer))
                for (view, afi, safi), table in list(peer.tables.items()):
                    if safi == UNICAST and afi in AFIS and table.routes:
                        groups: dict[int, tuple[PathAttributes, list[RouteKey]]] = {}
                        for k, attrs in table.routes.items():
                            g = groups.get(id(attrs))
                            if g is None:
                                g = groups[id(attrs)] = (attrs, [])
                            g[1].append(k)
                        routes += len(table.routes)
                        tables.append((router, peer, view, afi, list(groups.values())))
        gone: list[tuple[Router, Peer, str, int, list[RouteKey]]] = []
        for router, peer, view, afi, keys in missed.values():
            current = peer.tables.get((view, afi, UNICAST))
            held = current.routes if current is not None and peer.up else {}
            lost = [k for k in keys if k not in held]
            if lost:
                gone.append((router, peer, view, afi, lost))
        down = [rp for pk, rp in self.published_up.items() if pk not in up_now]
        # From here on, live events queue behind the copy.
        self.resync_reason = None
        self.live = True
        self.log.info(
            "export resync",
            reason=reason,
            peers=len(peers),
            routes=routes,
            withdrawn=sum(len(g[4]) for g in gone),
            peers_down=len(down),
        )
        for router, peer in down:
            await self._send(*self._peer(router, peer, "down", now))
        for router, peer in peers:
            await self._send(*self._peer(router, peer, "add", now))
        for router, peer, view, afi, lost in gone:
            dels = ((k[1], k[0]) if isinstance(k, tuple) else (k, None) for k in lost)
            for msg in self._routes(router, peer, view, afi, dels, None, "del", now):
                await self._send(*msg)
        for router, peer, view, afi, groups_of in tables:
            for attrs, rkeys in groups_of:
                adds = ((k[1], k[0]) if isinstance(k, tuple) else (k, None) for k in rkeys)
                for msg in self._routes(router, peer, view, afi, adds, attrs, "add", now):
                    await self._send(*msg)
        await self.producer.flush()
        self.log.info("export resync done", messages=self.messages)
