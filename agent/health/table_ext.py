"""Per-table state of the health observers, kept in ``RibTable.ext`` under a key
of each observer's own (dropped with the routes on Peer Down / Peer Up / close)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..core import RibTable

S = TypeVar("S")


def get_state(table: RibTable, key: str, kind: type[S]) -> S | None:
    """The ``kind`` state of ``table`` under ``key``, or None when it has none."""
    ext = table.ext
    if ext is None:
        return None
    st = ext.get(key)
    return st if isinstance(st, kind) else None


def new_state(table: RibTable, key: str, kind: type[S], make: Callable[[], S]) -> S:
    """The ``kind`` state of ``table`` under ``key``, made by ``make`` if absent."""
    ext = table.ext
    if ext is None:
        ext = table.ext = {}
    st = ext.get(key)
    if not isinstance(st, kind):
        st = ext[key] = make()
    return st
