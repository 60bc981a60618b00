"""Big route dicts of cleared tables, freed a slice at a time.

Clearing a table (Peer Down, a router's session closing) used to drop its
dict at once: freeing a full table's million entries is one deallocation
that held the event loop for 160-300 ms. A cleared dict of more than
``BIG`` entries is handed here instead (the table starts a new, empty one
at once, so every count and reader sees the clear immediately) and the IO
shell frees it ``SLICE`` entries per event-loop callback (``reap``). Its
keys are reported to the key pool (``KEYS.released``) once the dict is gone,
so the pool's refcount sweep sees them unreferenced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .interner import KEYS

#: Dicts of more entries than this are freed in slices; smaller ones at once.
BIG = 65536
#: Entries freed per ``reap`` call (~3-6 ms).
SLICE = 65536

#: (dict, its size when buried), freed from the last
_graves: list[tuple[dict[Any, Any], int]] = []
#: Called when a dict is buried (the daemon sets it to wake its reaping task).
notify: Callable[[], None] | None = None


def bury(routes: dict[Any, Any]) -> bool:
    """Take a cleared table's dict (the caller drops its reference); whether it
    is held here. With no reaping task (``notify`` unset: tools, tests of the
    core) or at most ``BIG`` entries, it is not: the caller's reference frees
    it at once."""
    if notify is None or len(routes) <= BIG:
        return False
    _graves.append((routes, len(routes)))
    notify()
    return True


def pending() -> int:
    """Entries still to free."""
    return sum(len(d) for d, _ in _graves)


def reap(limit: int | None = None) -> bool:
    """Free up to ``limit`` (default ``SLICE``) entries; whether any remain."""
    if limit is None:
        limit = SLICE
    while _graves and limit > 0:
        d, size = _graves[-1]
        n = min(limit, len(d))
        pop = d.popitem
        for _ in range(n):
            pop()
        limit -= n
        if not d:
            _graves.pop()
            del d, pop
            KEYS.released(size)
    return bool(_graves)
