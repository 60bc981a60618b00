"""The state core: routers, peers, RIB tables, flaps; the only code that writes that state.

Imports only ``parsers``, ``agent.log`` and itself; sources write it, exporters read it (``agent.core.core``: the model).
"""

from parsers.bmp.stat_types import stat_name

from .core import ClearObserver, Core, CoreSettings, PeerObserver, RouteObserver, TopFlap
from .peer import DOWN, IMPLICIT, UP, Peer
from .rib import AttributeInterner, RibTable, RouteKey
from .router import Router, RouterSession
from .settings import RouteChangeObserver

__all__ = [
    "DOWN",
    "IMPLICIT",
    "UP",
    "AttributeInterner",
    "ClearObserver",
    "Core",
    "CoreSettings",
    "Peer",
    "PeerObserver",
    "RibTable",
    "RouteChangeObserver",
    "RouteKey",
    "RouteObserver",
    "Router",
    "RouterSession",
    "TopFlap",
    "stat_name",
]
