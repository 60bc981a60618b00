"""What every router of one core shares: settings, route observers, the attribute interner."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from .rib import AttributeInterner

if TYPE_CHECKING:
    from .peer import Peer
    from .rib import RibTable


class RouteObserver(Protocol):
    """Sees every route change just before it is applied to a ``RibTable``.

    Called once per ``NlriSet`` of a Route Monitoring (or of a BIRD poll's
    diff), in stream order, so ``table.routes`` still holds the state before
    the change. Per-table state belongs in ``table.ext`` (dropped with the
    routes by ``RibTable.clear``). Must be cheap: it runs on the ingest path.
    """

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None: ...

    def announce(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes
    ) -> None: ...


class RouteChangeObserver:
    """A ``RouteObserver`` for which an announcement and a withdrawal are one
    ``change`` of ``nset`` (``attrs`` None: a withdrawal)."""

    __slots__ = ()

    def announce(self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
        self.change(peer, table, nset, attrs)

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None:
        self.change(peer, table, nset, None)

    def change(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes | None
    ) -> None:
        raise NotImplementedError


class PeerObserver(Protocol):
    """Sees every BMP peer state change, just after it is applied: ``peer_up``
    after a Peer Up set the peer's session fields (routes of the old session
    already dropped), ``peer_down`` after a Peer Down. Runs on the ingest path.
    ``router`` is the peer's ``agent.core.router.Router`` (typed ``Any``: this
    module is below ``router``)."""

    def peer_up(self, router: Any, peer: Peer) -> None: ...

    def peer_down(self, router: Any, peer: Peer) -> None: ...


class ClearObserver(Protocol):
    """Sees a peer's routes just before they are all dropped at once.

    ``reason``: the Peer Down reason name, ``"session_closed"`` (the router's
    BMP session ended) or ``"peer_up"`` (a new BGP session makes the held
    routes stale). Called only when the peer holds routes; ``peer.tables``
    still holds them. Must not change them.
    """

    def routes_cleared(self, peer: Peer, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CoreSettings:
    #: Seconds: withdraw then re-announce of the same route within this window = 1 prefix flap.
    flap_window: float = 60.0
    #: Bounded top-N of flapping prefixes (API and metric).
    top_flaps: int = 10
    #: Route limits (0: none): new routes beyond them are dropped and counted
    #: (``agent.core.limits``); replacements and withdrawals still apply.
    max_routes_per_peer: int = 0
    max_routes_per_router: int = 0
    max_routes: int = 0
    #: What a limit does besides dropping: "drop" (only that), "close" (close
    #: the router's session as BGP max-prefix does).
    on_limit: str = "drop"
    #: Peers per router (0: no limit); peers beyond it are refused and counted.
    max_peers_per_router: int = 0
    #: Injectable wall clock (tests).
    clock: Callable[[], float] = time.time


class Shared:
    """One per ``Core``, held by each of its ``Router``s: ``settings`` is replaced
    on reload (read on every use), ``observers`` and ``interner`` are shared."""

    __slots__ = (
        "blocked",
        "cap",
        "clear_observers",
        "interner",
        "observers",
        "peer_observers",
        "routes",
        "settings",
    )

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.interner = AttributeInterner()
        #: ``RouteObserver``s (e.g. ``agent.health``), called on every route change.
        self.observers: list[RouteObserver] = []
        #: Routes held by every router (``CoreSettings.max_routes``).
        self.routes = 0
        #: The global limit was reached and routes have not yet fallen below 90 %.
        self.blocked = False
        #: ``max_routes`` while storing, 0 while ``blocked`` (one comparison per batch).
        self.cap = settings.max_routes or sys.maxsize
        #: ``PeerObserver``s (e.g. ``agent.export.nats``), called on Peer Up / Down.
        self.peer_observers: list[PeerObserver] = []
        #: ``ClearObserver``s (e.g. ``agent.history``), called before a peer's routes go.
        self.clear_observers: list[ClearObserver] = []
