"""The bounded event store of ``agent.history``: one global ring and a per-prefix index.

Sans-IO: tuples in, tuples out; no clock, no asyncio, no metrics.

An event is one flat tuple (``Event``; field positions ``T`` … ``NEW``)
whose strings (router, peer, view, kind) and prefix bytes are the objects the
RIB and the peers already hold, and whose ``OLD``/``NEW`` fields hold
references to interned ``PathAttributes`` (shared with the RIB) or a small
tuple, so an event costs its tuple, its receive-time float and one slot in
the index: 310 bytes (announce) to 420 bytes (best-path change, two small
tuples) when every event is of another prefix, the worst case (the index
entry and its list dominate), less when prefixes repeat
(``tests/history/test_history_core.py``, ``bench/ingest.py --history``).

* ``ring``: every event, oldest first, at most ``max_events``; adding one
  more evicts the oldest (``evicted`` counts them).
* ``index[(afi, safi)][prefix key]``: that prefix's events, oldest first (the
  same tuples), at most ``max_per_prefix`` per prefix; an event evicted from
  the ring leaves the index too, so the index never holds more than the ring.

The store never reorders: events are appended in the order the agent
applied them, which is the order of the BMP stream and netlink socket, so
"oldest first" is the agent's order even where router clocks disagree.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from typing import Any, Final

#: (time, bmp_time, kind, router, peer, view, afi, safi, prefix key, path_id, old, new)
Event = tuple[float, float | None, str, str, str, str, int, int, bytes, int | None, Any, Any]
T: Final = 0
BMP_TIME: Final = 1
KIND: Final = 2
ROUTER: Final = 3
PEER: Final = 4
VIEW: Final = 5
AFI: Final = 6
SAFI: Final = 7
PREFIX: Final = 8
PATH_ID: Final = 9
OLD: Final = 10
NEW: Final = 11

ANNOUNCE = "announce"
WITHDRAW = "withdraw"
IMPLICIT_WITHDRAW = "implicit_withdraw"
BEST_PATH_CHANGE = "best_path_change"
FIB_INSTALL = "fib_install"
FIB_REMOVE = "fib_remove"
FIB_NEXTHOP_CHANGE = "fib_nexthop_change"
DRIFT = "drift"
KINDS = (
    ANNOUNCE,
    WITHDRAW,
    IMPLICIT_WITHDRAW,
    BEST_PATH_CHANGE,
    FIB_INSTALL,
    FIB_REMOVE,
    FIB_NEXTHOP_CHANGE,
    DRIFT,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_key(net: Network, plen: int) -> bytes:
    """The wire key (``<length><octets>``) of ``net`` cut to ``plen`` bits."""
    n = net.supernet(new_prefix=plen) if plen < net.prefixlen else net
    return bytes([plen]) + n.network_address.packed[: (plen + 7) // 8]


class HistoryStore:
    """The ring and the index (see the module docstring)."""

    __slots__ = ("dropped_per_prefix", "evicted", "index", "max_events", "max_per_prefix", "ring")

    def __init__(self, max_events: int, max_per_prefix: int) -> None:
        if max_events < 1 or max_per_prefix < 1:
            raise ValueError("max_events and max_per_prefix must be at least 1")
        self.max_events = max_events
        self.max_per_prefix = max_per_prefix
        self.ring: deque[Event] = deque()
        self.index: dict[tuple[int, int], dict[bytes, list[Event]]] = {}
        #: events pushed out of the ring (oldest first)
        self.evicted = 0
        #: events dropped from a prefix's index list (more than ``max_per_prefix``)
        #: while still in the ring
        self.dropped_per_prefix = 0

    def __len__(self) -> int:
        return len(self.ring)

    @property
    def prefixes(self) -> int:
        """Prefix keys with at least one indexed event."""
        return sum(len(d) for d in self.index.values())

    def add(self, ev: Event) -> None:
        ring = self.ring
        if len(ring) >= self.max_events:
            self._evict()
        ring.append(ev)
        fam = (ev[AFI], ev[SAFI])
        idx = self.index.get(fam)
        if idx is None:
            idx = self.index[fam] = {}
        p = ev[PREFIX]
        lst = idx.get(p)
        if lst is None:
            idx[p] = [ev]
        else:
            lst.append(ev)
            if len(lst) > self.max_per_prefix:
                del lst[0]
                self.dropped_per_prefix += 1

    def extend(self, afi: int, safi: int, events: list[Event]) -> None:
        """``add`` for a batch of one family (the events of one NLRI set), in order."""
        n = len(events)
        if not n:
            return
        cap = self.max_events
        if n > cap:
            self.evicted += n - cap
            events = events[n - cap :]
            n = cap
        ring = self.ring
        over = len(ring) + n - cap
        if over > 0:
            evict = self._evict
            for _ in range(over):
                evict()
        ring.extend(events)
        fam = (afi, safi)
        idx = self.index.get(fam)
        if idx is None:
            idx = self.index[fam] = {}
        per = self.max_per_prefix
        get = idx.get
        for ev in events:
            p = ev[PREFIX]
            lst = get(p)
            if lst is None:
                idx[p] = [ev]
            else:
                lst.append(ev)
                if len(lst) > per:
                    del lst[0]
                    self.dropped_per_prefix += 1

    def _evict(self) -> None:
        old = self.ring.popleft()
        self.evicted += 1
        idx = self.index.get((old[AFI], old[SAFI]))
        if idx is None:
            return
        p = old[PREFIX]
        lst = idx.get(p)
        if lst is not None and lst[0] is old:
            if len(lst) == 1:
                del idx[p]
            else:
                del lst[0]

    def resize(self, max_events: int, max_per_prefix: int) -> None:
        """New bounds (reload): the oldest events beyond them go (counted as evicted)."""
        if max_events < 1 or max_per_prefix < 1:
            raise ValueError("max_events and max_per_prefix must be at least 1")
        self.max_events = max_events
        while len(self.ring) > max_events:
            self._evict()
        if max_per_prefix < self.max_per_prefix:
            for idx in self.index.values():
                for lst in idx.values():
                    if len(lst) > max_per_prefix:
                        self.dropped_per_prefix += len(lst) - max_per_prefix
                        del lst[: len(lst) - max_per_prefix]
        self.max_per_prefix = max_per_prefix

    def clear(self) -> None:
        self.ring.clear()
        self.index.clear()

    def counts(self) -> Counter[str]:
        """Events held per kind (a walk of the ring: for tests and tools)."""
        return Counter(ev[KIND] for ev in self.ring)

    def lookup(self, net: Network, *, longest: bool = True) -> tuple[bytes | None, list[Event]]:
        """The events of ``net`` (every AFI/SAFI of its address family, oldest first)
        and the key found: the exact prefix or, when it has no event and ``longest``,
        the longest covering prefix that has one."""
        afi = 1 if net.version == 4 else 2
        fams = [idx for (a, _s), idx in sorted(self.index.items()) if a == afi]
        low = 0 if longest else net.prefixlen
        for plen in range(net.prefixlen, low - 1, -1):
            key = network_key(net, plen)
            found: list[Event] = []
            for idx in fams:
                lst = idx.get(key)
                if lst:
                    found.extend(lst)
            if found:
                if len(fams) > 1:
                    # several families (unicast, multicast ...): back into time order
                    found.sort(key=lambda ev: ev[T])
                return key, found
        return None, []
