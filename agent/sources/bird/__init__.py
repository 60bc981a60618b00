"""The ``bird`` source: BIRD's control socket (birdc protocol) polled into the core.

For nodes whose BGP speaker has no BMP (calico-node's BIRD 1.6 fork, BIRD
2.0): ``sources: [{type: bird, socket: /var/run/calico/bird.ctl}]``. See
``agent.sources.bird.source`` for how BIRD's state maps onto routers, peers and views,
``agent.sources.bird.protocol`` for the wire protocol and the read-only allow-list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .source import BirdPoller, BirdSource, make_component, router_label

if TYPE_CHECKING:
    from ...daemon import Daemon


def attach(daemon: Daemon) -> BirdSource | None:
    """Add the BIRD source component when the config has ``type: bird`` sources."""
    component = make_component(daemon.config)
    if component is not None:
        daemon.add_component(component)
    return component


__all__ = ["BirdPoller", "BirdSource", "attach", "make_component", "router_label"]
