"""The ``bird`` source: BIRD's control socket (birdc protocol) polled into the core.

For nodes whose BGP speaker has no BMP (calico-node's BIRD 1.6 fork, BIRD
2.0): ``sources: [{type: bird, socket: /var/run/calico/bird.ctl}]``. See
``agent.sources.bird.source`` for how BIRD's state maps onto routers, peers and views,
``agent.sources.bird.protocol`` for the wire protocol and the read-only allow-list.
"""

from __future__ import annotations

from ...host import Host
from .source import BirdPoller, BirdSource, make_component, router_label


def build(host: Host, *, metrics: bool = True) -> BirdSource | None:
    """The BIRD source component when the config has ``type: bird`` sources."""
    return make_component(host.config)


__all__ = ["BirdPoller", "BirdSource", "build", "make_component", "router_label"]
