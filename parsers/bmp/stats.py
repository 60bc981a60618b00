"""Statistics Reports (RFC 7854 §4.8, RFC 8671, RFC 9972): dataclasses.

The type registry (``STAT_TYPES``) lives in ``stat_types.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import PerPeerHeader


@dataclass(frozen=True, slots=True)
class StatEntry:
    type: int
    #: Counter or gauge value; None when the type is unknown or its length is
    #: not the registered one (then ``raw`` holds the bytes).
    value: int | None
    afi: int | None = None
    safi: int | None = None
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class StatisticsReport:
    peer: PerPeerHeader
    stats: tuple[StatEntry, ...] = ()
