"""The ``bird`` source: poll a BIRD control socket into the core, like a BMP router.

How BIRD's state maps onto the core (``agent.core``):

- **router**: one per socket (``bird.ctl`` and ``bird6.ctl`` of BIRD 1.6 are
  two routers), labelled with the configured ``router`` or the socket's file
  name; ``source="bird"`` on ``bmp_router_info``. It is "up" (a session is
  open) while the socket answers; a failed poll closes the session like a
  closed BMP connection (RIB dropped, peers down, counters kept), the next
  successful one opens a new one. A BIRD restart between two polls (``show
  status`` "Last reboot" moved) counts as close + reopen too.
- **peers**: BGP protocols (``show protocols all``), by neighbour address,
  with AS, BGP ID, local AS/address. Up = ``Established``.
- **views**: ``adj_in_post`` = the protocol's routes in BIRD's tables (what
  passed the import filter; ``show route all``); ``loc_rib`` = the primary
  routes of every table, under one Loc-RIB peer (peer type 3, address
  ``0.0.0.0``, as RFC 9069's Loc-RIB peer); ``adj_in_pre`` = ``show route
  import table P.<channel> all`` for protocols with ``import table on``
  (BIRD 2.x only; 1.6 has no import table).
- **flaps**: a protocol seen up, then down, counts a Peer Down (reason
  ``bird_session_down``); up in both polls but its since-time moved counts
  one too (``bird_session_reset``), so a reset shorter than the interval is
  still counted. A protocol removed by reconfiguration counts
  ``bird_protocol_removed``. Each clears the peer's tables first, as a Peer Down and
  Peer Up would, so route counters stay consistent with BMP.

Why not synthesize BMP messages and feed ``RouterSession.handle``: BIRD gives
snapshots, not updates; a diff has to be computed anyway, there are no OPEN
messages for a Peer Up, and building wire-level dataclasses only to take them
apart again costs a lot at 100k routes. The diff goes through the same core
calls Route Monitoring uses (``Router.ensure_peer``, ``Peer.go_up``/``go_down``,
``Router.announce``/``withdraw``), so route, update and flap counters (and
``Core.observers``) behave identically; this module writes no state itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ... import log
from ...core import DOWN, UP, Core, Peer, RibTable
from ...core.peer import LOC_RIB_PEER_TYPE
from ...core.router import Router, RouterSession
from .attrs import AttrCache, prefix_key
from .client import BirdClient
from .parse import (
    Protocol,
    ProtocolParser,
    RouteCount,
    RouteParser,
    parse_count,
    parse_status,
    since_moved,
)
from .protocol import BirdCommandError

if TYPE_CHECKING:
    from ...config import Config, SourceConfig
    from ...host import Host

ZERO_RD = bytes(8)
LOC_RIB_ADDRESS = "0.0.0.0"
REASON_DOWN = "bird_session_down"
REASON_RESET = "bird_session_reset"
REASON_REMOVED = "bird_protocol_removed"
#: Route tables per (view, afi): route key -> attributes.
Tables = dict[tuple[str, int], dict[bytes, PathAttributes]]


def router_label(socket_path: str, configured: str = "") -> str:
    return configured or os.path.basename(socket_path.rstrip("/")) or socket_path


@dataclass
class Snapshot:
    """What one poll read."""

    status: dict[str, str]
    protocols: list[Protocol]
    #: BGP protocol name -> (view, afi) -> routes.
    peers: dict[str, Tables] = field(default_factory=dict)
    #: (view "loc_rib", afi) -> primary routes.
    loc_rib: Tables = field(default_factory=dict)
    count: RouteCount | None = None
    #: Routes read from ``show route all`` (all of them, primary or not).
    routes_read: int = 0


class BirdPoller:
    """Reads one socket and applies each snapshot to the core."""

    def __init__(self, core: Core, socket_path: str, label: str, timeout: float = 10.0) -> None:
        self.core = core
        self.path = socket_path
        self.label = label
        self.client = BirdClient(socket_path, timeout)
        self.session: RouterSession | None = None
        self.cache = AttrCache()
        self.polls = 0
        self.errors = 0
        self.last_error: str | None = None
        self._since: dict[str, str] = {}
        self._state: dict[str, bool] = {}
        self._peer_keys: dict[str, tuple[int, bytes, str]] = {}
        self._no_import_table: set[str] = set()
        self._last_reboot: str | None = None
        self.log = log.get_logger(component="bird", router=label)

    @property
    def router(self) -> Router | None:
        return self.core.routers.get(self.session.router.label) if self.session else None

    # -- reading -------------------------------------------------------------

    async def read(self) -> Snapshot:
        c = self.client
        if not c.connected:
            await c.connect()
        status = parse_status(await c.command("show status"))
        pp = ProtocolParser()
        async for line in c.stream("show protocols all"):
            pp.feed(line)
        snap = Snapshot(status, pp.result())
        bgp = {p.name: p for p in snap.protocols if p.is_bgp}
        for name in bgp:
            snap.peers[name] = {}
        rp = RouteParser()
        cache = self.cache
        loc = snap.loc_rib
        peers = snap.peers
        async for line in c.stream("show route all"):
            route = rp.feed(line)
            if route is None:
                continue
            pk = prefix_key(route.net)
            if pk is None:
                continue
            afi, key = pk
            attrs = cache.get(afi, route.via, route.attrs)
            tables = peers.get(route.proto)
            if tables is not None:
                t = tables.get(("adj_in_post", afi))
                if t is None:
                    t = tables[("adj_in_post", afi)] = {}
                t[key] = attrs
            if route.primary:
                t = loc.get(("loc_rib", afi))
                if t is None:
                    t = loc[("loc_rib", afi)] = {}
                t[key] = attrs
        last = rp.close()
        if last is not None:
            # the stream always ends with a 0000 line, which does not complete
            # a route: apply the final one here
            pk = prefix_key(last.net)
            if pk is not None:
                afi, key = pk
                attrs = cache.get(afi, last.via, last.attrs)
                tables = peers.get(last.proto)
                if tables is not None:
                    tables.setdefault(("adj_in_post", afi), {})[key] = attrs
                if last.primary:
                    loc.setdefault(("loc_rib", afi), {})[key] = attrs
        snap.routes_read = rp.routes
        if not c.version.startswith("1."):
            for p in bgp.values():
                if p.name in self._no_import_table or not p.established:
                    continue
                for ch in p.channels:
                    if ch.channel in ("ipv4", "ipv6"):
                        await self._read_import_table(p.name, ch.channel, snap)
        snap.count = parse_count(await c.command("show route count"))
        return snap

    async def _read_import_table(self, proto: str, channel: str, snap: Snapshot) -> None:
        rp = RouteParser()
        t: dict[bytes, PathAttributes] = {}
        afi = 1 if channel == "ipv4" else 2
        cache = self.cache

        def add(route: Any) -> None:
            pk = prefix_key(route.net)
            if pk is not None and pk[0] == afi:
                t[pk[1]] = cache.get(afi, route.via, route.attrs)

        try:
            async for line in self.client.stream(f"show route import table {proto}.{channel} all"):
                route = rp.feed(line)
                if route is not None:
                    add(route)
        except BirdCommandError as exc:
            # "No import table in channel" and the like: remember, do not ask again
            self.log.debug("no import table", protocol=proto, error=exc.text)
            self._no_import_table.add(proto)
            return
        last = rp.close()
        if last is not None:
            add(last)
        snap.peers[proto][("adj_in_pre", afi)] = t

    # -- applying ------------------------------------------------------------

    def _open(self) -> RouterSession:
        session = self.core.open_session(self.label, 0, mode="poll", source="bird")
        session.router.address = self.path
        self._since.clear()
        self._state.clear()
        return session

    def close(self, reason: str) -> None:
        if self.session is not None:
            self.core.close_session(self.session, reason)
            self.session = None
        self._no_import_table.clear()

    def apply(self, snap: Snapshot) -> None:
        now = self.core.settings.clock()
        reboot = snap.status.get("last_reboot")
        # printed like a since-time, with the same jitter: compare alike
        prev = self._last_reboot
        restarted = prev != reboot and (prev is None or reboot is None or since_moved(prev, reboot))
        if self.session is not None and restarted:
            self.close("bird_restarted")
        if restarted or prev is None:
            self._last_reboot = reboot
        if self.session is None:
            self.session = self._open()
        session = self.session
        router = session.router
        router.last_message = now
        router.messages["bird_poll"] += 1
        version = snap.status.get("version", self.client.version)
        router.sys_name = snap.status.get("hostname", "") or self.label
        router.sys_descr = f"BIRD {version}"
        router.info = {
            "bird_version": version,
            "router_id": snap.status.get("router_id", ""),
            "last_reboot": reboot or "",
            "last_reconfiguration": snap.status.get("last_reconfiguration", ""),
            "socket": self.path,
        }
        if snap.count is not None:
            router.info["route_count"] = str(snap.count.total)
        router_id = snap.status.get("router_id", "0.0.0.0")
        local_as: int | None = None
        names = set()
        for p in snap.protocols:
            if not p.is_bgp:
                continue
            names.add(p.name)
            if local_as is None and p.local_as is not None:
                local_as = p.local_as
            self._apply_peer(router, p, snap.peers.get(p.name, {}), now)
        for name in [n for n in self._peer_keys if n not in names]:
            # the protocol was removed from BIRD's config: its peer goes down
            gone = router.peers.get(self._peer_keys.pop(name))
            self._state.pop(name, None)
            self._since.pop(name, None)
            if gone is not None and gone.state != DOWN:
                gone.go_down(now, REASON_REMOVED)
        # Loc-RIB: one peer for the router's selected routes
        loc = router.ensure_peer(
            LOC_RIB_PEER_TYPE, ZERO_RD, LOC_RIB_ADDRESS, asn=local_as or 0, bgp_id=router_id
        )
        if loc.state != UP:
            loc.go_up(now)
        self._sync(router, loc, snap.loc_rib, now)

    def _apply_peer(self, router: Router, p: Protocol, tables: Tables, now: float) -> None:
        address = p.neighbor_address or p.name
        peer = router.ensure_peer(
            0, ZERO_RD, address, asn=p.neighbor_as or 0, bgp_id=p.neighbor_id or "0.0.0.0"
        )
        old_key = self._peer_keys.get(p.name)
        if old_key is not None and old_key != peer.key:
            # the protocol's neighbour changed (reconfiguration): the old peer goes down
            old = router.peers.get(old_key)
            if old is not None and old.state != DOWN:
                old.go_down(now, REASON_DOWN)
        self._peer_keys[p.name] = peer.key
        up = p.established
        was_up = self._state.get(p.name, False) and peer.state != DOWN
        prev = self._since.get(p.name)
        moved = prev is not None and since_moved(prev, p.since)
        self._state[p.name] = up
        if prev is None or moved or not up:
            self._since[p.name] = p.since
        if was_up and (not up or moved):
            peer.go_down(now, REASON_RESET if up else REASON_DOWN)
        if p.neighbor_as is not None:
            peer.asn = p.neighbor_as
        if p.neighbor_id:
            peer.bgp_id = p.neighbor_id
        peer.local_asn = p.local_as
        peer.local_address = p.source_address
        if not up:
            if peer.state != DOWN:
                peer.go_down(now, REASON_DOWN)
            return
        if peer.state != UP:
            peer.go_up(now)
        self._sync(router, peer, tables, now)

    def _sync(self, router: Router, peer: Peer, tables: Tables, now: float) -> None:
        """Make each of the peer's tables equal ``tables`` through withdraw/announce."""
        wanted = {(view, afi, 1): routes for (view, afi), routes in tables.items()}
        for tkey in list(peer.tables):
            if tkey not in wanted and peer.tables[tkey].routes:
                wanted[tkey] = {}
        for (view, afi, safi), routes in wanted.items():
            table = peer.table(view, afi, safi)
            self._sync_table(router, peer, table, routes, now)

    def _sync_table(
        self,
        router: Router,
        peer: Peer,
        table: RibTable,
        routes: dict[bytes, PathAttributes],
        now: float,
    ) -> None:
        old = table.routes
        gone = tuple(k for k in old if k not in routes)
        afi, safi = table.afi, table.safi
        if gone:
            router.withdraw(peer, table, NlriSet(afi, safi, gone), now)  # type: ignore[arg-type]
        # group changed routes by (interned) attributes: one announce per value
        groups: dict[int, tuple[PathAttributes, list[bytes]]] = {}
        for k, attrs in routes.items():
            cur = old.get(k)
            if cur is not None and (cur is attrs or cur == attrs):
                continue
            a = router.intern(attrs)
            g = groups.get(id(a))
            if g is None:
                groups[id(a)] = (a, [k])
            else:
                g[1].append(k)
        for a, keys in groups.values():
            router.announce(peer, table, NlriSet(afi, safi, tuple(keys)), a, now)
        table.eor = True

    async def poll(self) -> Snapshot | None:
        """One poll: read and apply; on failure close the session. Returns the snapshot."""
        self.polls += 1
        try:
            snap = await self.read()
        except (OSError, EOFError, TimeoutError, ValueError, ConnectionError) as exc:
            self.errors += 1
            text = f"{type(exc).__name__}: {exc}"
            if text != self.last_error:
                self.log.warning("bird socket poll failed", socket=self.path, error=text)
            self.last_error = text
            await self.client.close()
            if self.session is not None:
                self.session.router.decode_errors["bird_poll_failed"] += 1
            self.close("bird_socket_unavailable")
            return None
        if self.last_error is not None:
            self.log.info("bird socket answering", socket=self.path)
        self.last_error = None
        self.apply(snap)
        return snap


class BirdSource:
    """A daemon component: one ``BirdPoller`` task per ``sources: [{type: bird}]`` entry."""

    name = "bird"

    def __init__(self, configs: Iterable[SourceConfig]) -> None:
        self.configs = tuple(c for c in configs if c.type == "bird")
        self.pollers: list[BirdPoller] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def start(self, host: Host) -> None:
        for cfg in self.configs:
            poller = BirdPoller(
                host.core, cfg.socket, router_label(cfg.socket, cfg.router), cfg.timeout
            )
            self.pollers.append(poller)
            self._tasks.append(asyncio.create_task(self._run(poller, cfg.interval)))

    async def _run(self, poller: BirdPoller, interval: float) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await poller.poll()
            except Exception:
                poller.log.exception("bird poll crashed")
                await poller.client.close()
                poller.close("bird_poll_crashed")
            delay = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for p in self.pollers:
            await p.client.close()
            p.close("shutdown")

    def reload(self, config: Config) -> list[str]:
        new = tuple(c for c in config.sources if c.type == "bird")
        return [] if new == self.configs else ["sources"]


def make_component(config: Config) -> BirdSource | None:
    """The component for ``config.sources`` (None when no BIRD source is configured)."""
    source = BirdSource(config.sources)
    return source if source.configs else None
