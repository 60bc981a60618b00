"""The agent's state core: routers, peers, RIB views, flaps and stats.

See ``agent.core.core`` for the model (router identity, lifecycle, quirks).
"""

from parsers.bmp.stat_types import stat_name

from .core import Core, CoreSettings, RouteObserver, TopFlap
from .peer import DOWN, IMPLICIT, UP, Peer
from .rib import AttributeInterner, RibTable, RouteKey
from .router import Router, RouterSession

__all__ = [
    "DOWN",
    "IMPLICIT",
    "UP",
    "AttributeInterner",
    "Core",
    "CoreSettings",
    "Peer",
    "RibTable",
    "RouteKey",
    "RouteObserver",
    "Router",
    "RouterSession",
    "TopFlap",
    "stat_name",
]
