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
