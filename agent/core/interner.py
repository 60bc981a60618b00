"""The attribute interner: one shared ``PathAttributes`` per distinct value.

Not part of the compiled hot path (``parsers.hotpath``): ``sweep`` counts
references with ``sys.getrefcount``, whose exact value depends on the
interpreter's reference handling.
"""

from __future__ import annotations

import sys

from parsers.bgp.attributes import PathAttributes

#: Shared value for routes announced without attributes (only possible for
#: malformed input the decoders let through).
EMPTY_ATTRIBUTES = PathAttributes()


class AttributeInterner:
    """One shared ``PathAttributes`` object per distinct value.

    Entries no route uses any more are swept when the table has doubled since
    the last sweep (a refcount check, amortised O(1) per insert).
    """

    __slots__ = ("_last_in", "_last_out", "_sweep_at", "_table")

    def __init__(self) -> None:
        self._table: dict[PathAttributes, PathAttributes] = {}
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
            table[attrs] = got = attrs
        self._last_in = attrs
        self._last_out = got
        return got

    def sweep(self) -> int:
        """Drop values referenced only by this table; returns how many."""
        self._last_in = None
        self._last_out = EMPTY_ATTRIBUTES
        table = self._table
        # References held while checking: dict key, dict value, the loop
        # variable and getrefcount's argument.
        dead = [a for a in table if sys.getrefcount(a) <= 4]
        for a in dead:
            del table[a]
        self._sweep_at = max(4096, 2 * len(table))
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
        keys = self.keys
        # References while checking: dict key and value (one object), the
        # comprehension variable and getrefcount's argument.
        dead = [k for k in keys if sys.getrefcount(k) <= 4]
        for k in dead:
            del keys[k]
        return len(dead)


#: The process's pool (``RibTable``).
KEYS = KeyPool()
