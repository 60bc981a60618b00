"""Per-table state of the health observers, kept in ``RibTable.ext`` under a key
of each observer's own (dropped with the routes on Peer Down / Peer Up / close)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from ..core import Core, Peer, RibTable

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


def reset_tables(core: Core, key: str) -> Iterator[tuple[Peer, RibTable]]:
    """Every table of every peer of ``core`` (over a copy of each level), with
    its state under ``key`` dropped first: the walk of an observer's ``rebuild``."""
    for router in list(core.routers.values()):
        for peer in list(router.peers.values()):
            for table in list(peer.tables.values()):
                if table.ext is not None:
                    table.ext.pop(key, None)
                yield peer, table
