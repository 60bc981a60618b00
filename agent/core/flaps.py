"""Bounded per-prefix flap counts for the top-N of flapping prefixes.

A prefix flap is a withdraw followed by a re-announce of the same route
(same peer, view, family and key) within ``CoreSettings.flap_window``
seconds; ``RibTable`` detects it from its dict of recent withdrawals. This
module only ranks: it keeps a count per flapped (peer, view, afi, safi,
prefix) — path IDs folded into the prefix — bounded to ``capacity`` entries.
When full, the half with the lowest counts is evicted (so a prefix that
flaps a lot keeps its place; one-off flaps come and go).
"""

from __future__ import annotations

import heapq

from parsers.bmp.context import PeerKey

FlapKey = tuple[PeerKey, str, int, int, bytes]


class FlapCounts:
    __slots__ = ("capacity", "counts")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(16, capacity)
        self.counts: dict[FlapKey, int] = {}

    def add(self, key: FlapKey, n: int = 1) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + n
        if len(counts) > self.capacity:
            keep = heapq.nlargest(self.capacity // 2, counts.items(), key=lambda kv: kv[1])
            self.counts = dict(keep)

    def top(self, n: int) -> list[tuple[FlapKey, int]]:
        """The ``n`` highest counts, highest first (ties: earliest flapped first)."""
        return heapq.nlargest(n, self.counts.items(), key=lambda kv: kv[1])

    def forget_peer(self, peer: PeerKey) -> None:
        self.counts = {k: v for k, v in self.counts.items() if k[0] != peer}
