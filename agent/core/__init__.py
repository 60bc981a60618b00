"""The agent's state core: routers, peers, RIB views, flaps and stats.

See ``agent.core.core`` for the model (router identity, lifecycle, quirks).
"""

from .core import Core, CoreSettings, TopFlap
from .peer import DOWN, IMPLICIT, UP, Peer
from .rib import AttributeInterner, RibTable, RouteKey
from .router import Router, RouterSession, stat_name

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
    "Router",
    "RouterSession",
    "TopFlap",
    "stat_name",
]
