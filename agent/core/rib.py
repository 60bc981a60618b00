"""Per-peer RIB tables and the attribute interner.

A ``RibTable`` holds the routes of one (peer, view, AFI, SAFI). Its key is the
wire prefix bytes (``NlriSet.prefixes`` element) for routes without a path ID
and ``(path_id, prefix bytes)`` for ADD-PATH routes; its value is the interned
``PathAttributes``. Nothing else is kept per route: the dict entry is the
route, and its key object is shared by every table holding the prefix
(``interner.KeyPool``: one 48-byte ``bytes`` per prefix, not one per peer
and view). Counters (routes, prefixes, updates, flaps) are maintained
incrementally so exporters never walk the table.

``routes`` = paths (dict entries); ``prefixes`` = distinct prefixes. While a
table has only plain keys both are ``len(routes)``; the first ADD-PATH key
switches the table to keep a prefix refcount dict (``refs``), built once from
the keys already present.
"""

from __future__ import annotations

from parsers.bgp.attributes import PathAttributes

RouteKey = bytes | tuple[int, bytes]


_MISSING = object()

# The interner lives in its own (never compiled) module: its sweep counts
# references, which only the interpreter's reference semantics make exact.
from .interner import EMPTY_ATTRIBUTES as EMPTY_ATTRIBUTES  # noqa: E402
from .interner import KEYS as KEYS  # noqa: E402
from .interner import AttributeInterner as AttributeInterner  # noqa: E402
from .reaper import bury  # noqa: E402


def key_prefix(key: RouteKey) -> bytes:
    """The prefix bytes of a route key."""
    return key[1] if isinstance(key, tuple) else key


def key_path_id(key: RouteKey) -> int | None:
    return key[0] if isinstance(key, tuple) else None


class RibTable:
    """Routes of one peer, view and AFI/SAFI, with incremental counters."""

    __slots__ = (
        "_prune_at",
        "afi",
        "announces",
        "eor",
        "ext",
        "flaps",
        "recent",
        "refs",
        "routes",
        "safi",
        "unknown_withdraws",
        "view",
        "withdraws",
    )

    def __init__(self, view: str, afi: int, safi: int) -> None:
        self.view = view
        self.afi = afi
        self.safi = safi
        self.routes: dict[RouteKey, PathAttributes] = {}
        #: Prefix refcount, only once an ADD-PATH key has been seen.
        self.refs: dict[bytes, int] | None = None
        #: Recently withdrawn keys with the withdraw time (for prefix flaps).
        self.recent: dict[RouteKey, float] = {}
        self._prune_at = 1024
        # Counters: persist across Peer Down and session close.
        self.announces = 0
        self.withdraws = 0
        self.unknown_withdraws = 0
        self.flaps = 0
        #: End-of-RIB received since the peer (session) came up.
        self.eor = False
        #: Per-table state of ``Core.observers`` (name -> state), dropped by
        #: ``clear`` together with the routes.
        self.ext: dict[str, object] | None = None

    @property
    def route_count(self) -> int:
        return len(self.routes)

    @property
    def prefix_count(self) -> int:
        refs = self.refs
        return len(self.routes) if refs is None else len(refs)

    def _build_refs(self) -> dict[bytes, int]:
        refs: dict[bytes, int] = {}
        for key in self.routes:
            p = key[1] if isinstance(key, tuple) else key
            refs[p] = refs.get(p, 0) + 1
        self.refs = refs
        return refs

    def announce(
        self,
        prefixes: tuple[bytes, ...],
        path_ids: tuple[int, ...] | None,
        attrs: PathAttributes,
        now: float,
        window: float,
        flapped: list[bytes],
    ) -> None:
        """Add or replace routes. Prefixes that flapped are appended to ``flapped``."""
        routes = self.routes
        recent = self.recent
        refs = self.refs
        pool = KEYS.keys
        self.announces += len(prefixes)
        if path_ids is None:
            if refs is None and not recent:
                for p in prefixes:
                    routes[pool.setdefault(p, p)] = attrs
                return
            for p in prefixes:
                p = pool.setdefault(p, p)
                if refs is not None and p not in routes:
                    refs[p] = refs.get(p, 0) + 1
                routes[p] = attrs
                if recent and self._came_back(p, now, window):
                    flapped.append(p)
            return
        if refs is None:
            refs = self._build_refs()
        for pid, p in zip(path_ids, prefixes, strict=False):
            p = pool.setdefault(p, p)
            k = (pid, p)
            if k not in routes:
                refs[p] = refs.get(p, 0) + 1
            routes[k] = attrs
            if recent and self._came_back(k, now, window):
                flapped.append(p)

    def _came_back(self, key: RouteKey, now: float, window: float) -> bool:
        """A route announced again: a prefix flap (counted) when it was
        withdrawn less than ``window`` seconds ago."""
        t = self.recent.pop(key, None)
        if t is None or now - t > window:
            return False
        self.flaps += 1
        return True

    def withdraw(
        self,
        prefixes: tuple[bytes, ...],
        path_ids: tuple[int, ...] | None,
        now: float,
        window: float,
    ) -> int:
        """Remove routes; returns how many were not in the table."""
        routes = self.routes
        recent = self.recent
        refs = self.refs
        self.withdraws += len(prefixes)
        unknown = 0
        before = len(routes)
        keys: tuple[RouteKey, ...] | zip[tuple[int, bytes]]
        keys = prefixes if path_ids is None else zip(path_ids, prefixes, strict=False)
        for k in keys:
            if routes.pop(k, _MISSING) is _MISSING:
                unknown += 1
                continue
            if refs is not None:
                p = k[1] if isinstance(k, tuple) else k
                n = refs[p] - 1
                if n:
                    refs[p] = n
                else:
                    del refs[p]
            recent[k] = now
        if len(recent) > self._prune_at:
            self.prune(now, window)
        self.unknown_withdraws += unknown
        if before != len(routes):
            KEYS.released(before - len(routes))
        return unknown

    def prune(self, now: float, window: float) -> None:
        """Forget withdrawals older than the flap window."""
        limit = now - window
        self.recent = {k: t for k, t in self.recent.items() if t >= limit}
        self._prune_at = max(1024, 2 * len(self.recent))

    def clear(self) -> None:
        """Drop every route (Peer Down, session close); counters stay."""
        if self.routes:
            n = len(self.routes)
            old, self.routes = self.routes, {}
            if not bury(old):
                del old  # freed now, so the pool's sweep sees its keys unused
                KEYS.released(n)
        self.routes = {}
        self.refs = None
        self.recent = {}
        self._prune_at = 1024
        self.eor = False
        self.ext = None
