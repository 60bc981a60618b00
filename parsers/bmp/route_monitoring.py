"""Route Monitoring messages (RFC 7854 §4.6): a per-peer header and one UPDATE."""

from __future__ import annotations

from dataclasses import dataclass

from ..bgp.update import Update
from .messages import PerPeerHeader


@dataclass(frozen=True, slots=True)
class RouteMonitoring:
    peer: PerPeerHeader
    update: Update
