"""The attribute interner: one shared ``PathAttributes`` per distinct value.

Not part of the compiled hot path (``parsers.hotpath``): ``sweep`` counts
references with ``sys.getrefcount``, whose exact value depends on the
interpreter's reference handling.
"""

from __future__ import annotations

import sys
from typing import Any

from parsers.bgp.attributes import PathAttributes

#: Shared value for routes announced without attributes (only possible for
#: malformed input the decoders let through).
EMPTY_ATTRIBUTES = PathAttributes()


#: Fields whose values ``AttributeInterner`` shares between distinct sets:
#: the pre- and post-policy copies of a set differ in one community and share
#: the rest, and the sets of one peer share their next hop, as for many sets
#: their AS_PATH. Each value is a tuple or str of hundreds of bytes (a
#: community or ASN above 256 is a 32-byte int object of its own).
SHARED_FIELDS = (
    "as_path",
    "as4_path",
    "next_hop",
    "mp_next_hop",
    "communities",
    "large_communities",
    "extended_communities",
    "cluster_list",
)
#: Fields of ints whose elements are shared too (one object per community value).
_INT_TUPLES = frozenset({"communities"})


class AttributeInterner:
    """One shared ``PathAttributes`` object per distinct value.

    A new distinct set has its sub-values (``SHARED_FIELDS``) replaced by
    equal objects already held by another set (``parts``): an attribute set
    is ~700 bytes of objects, mostly AS_PATH and community tuples that its
    pre/post-policy twin and the other peers' copies repeat. Equal
    replacement values leave the frozen object's hash and equality as they
    were. This runs once per distinct set, not per route.

    Entries no route uses any more are swept when the table has doubled since
    the last sweep (a refcount check, amortised O(1) per insert); shared
    sub-values no set uses any more go with them.
    """

    __slots__ = ("_ints", "_last_in", "_last_out", "_parts", "_sweep_at", "_table")

    def __init__(self) -> None:
        self._table: dict[PathAttributes, PathAttributes] = {}
        #: field name -> value -> the shared equal value
        self._parts: dict[str, dict[object, object]] = {f: {} for f in SHARED_FIELDS}
        self._ints: dict[int, int] = {}
        self._sweep_at = 4096
        # The last input and its result: the fast path hands out one object
        # per distinct attribute bytes, and consecutive UPDATEs often share
        # them (FRR sends one prefix per UPDATE), so an identity check saves
        # hashing the whole dataclass.
        self._last_in: PathAttributes | None = None
        self._last_out: PathAttributes = EMPTY_ATTRIBUTES

    def __len__(self) -> int:
        return len(self._table)

    def intern(self, attrs: PathAttributes | None) -> PathAttributes:
        if attrs is self._last_in:
            return self._last_out
        if attrs is None:
            return EMPTY_ATTRIBUTES
        table = self._table
        got = table.get(attrs)
        if got is None:
            if len(table) >= self._sweep_at:
                self.sweep()
            self._share(attrs)
            table[attrs] = got = attrs
        self._last_in = attrs
        self._last_out = got
        return got

    def _share(self, attrs: PathAttributes) -> None:
        """Replace ``attrs``' sub-values by the equal ones other sets hold."""
        parts = self._parts
        for name in SHARED_FIELDS:
            v = getattr(attrs, name)
            if not v:
                continue  # None, (): singletons already
            pool = parts[name]
            got = pool.get(v)
            if got is None:
                if name in _INT_TUPLES:
                    ints = self._ints
                    v = tuple([ints.setdefault(c, c) for c in v])
                    object.__setattr__(attrs, name, v)
                pool[v] = v
            elif got is not v:
                object.__setattr__(attrs, name, got)

    def sweep(self) -> int:
        """Drop values referenced only by this table; returns how many."""
        self._last_in = None
        self._last_out = EMPTY_ATTRIBUTES
        table = self._table
        n = _sweep(table)
        # Then the sub-values the dropped sets alone held (the sets are gone
        # once ``_sweep`` returned: it keeps no reference to any of them).
        for pool in self._parts.values():
            _sweep(pool)
        _sweep(self._ints)
        self._sweep_at = max(4096, 2 * len(table))
        return n


def _sweep(table: dict[Any, Any]) -> int:
    """Drop the entries whose key (the value too: one object) nothing else
    references; returns how many."""
    # References held while checking: dict key, dict value, the comprehension
    # variable and getrefcount's argument.
    dead = [a for a in table if sys.getrefcount(a) <= 4]
    for a in dead:
        del table[a]
    return len(dead)


class KeyPool:
    """One shared ``bytes`` object per distinct prefix key, for every table.

    A prefix arrives once per peer and view (pre- and post-policy, Adj-RIB-In
    and Loc-RIB), each time as its own slice of a message: 48 bytes of object
    per copy. ``RibTable`` keys its routes with the pooled object instead, so
    a prefix held by four tables costs one key object, not four.

    Entries only tables used can die only by a withdrawal or a table clear;
    those report how many routes went (``released``), and once that is more
    than half the pool a refcount sweep drops the keys nobody else holds. A
    table load (announcements only) never sweeps.
    """

    __slots__ = ("keys", "released_since")

    def __init__(self) -> None:
        self.keys: dict[bytes, bytes] = {}
        self.released_since = 0

    def __len__(self) -> int:
        return len(self.keys)

    def released(self, n: int) -> None:
        self.released_since += n
        if self.released_since > max(65536, len(self.keys) >> 1):
            self.sweep()

    def sweep(self) -> int:
        """Drop keys held by the pool only; returns how many."""
        self.released_since = 0
        return _sweep(self.keys)


#: The process's pool (``RibTable``).
KEYS = KeyPool()
