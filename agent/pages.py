"""Paged, streamed answers over live tables: sorted-key indexes and cursors.

The API walks tables that the event loop keeps changing (BMP ingest). A
handler must not iterate a live dict across an ``await`` (it may change size)
and must not copy a whole table to answer 10 routes. So a paged walk goes
through a ``SortedKeys`` index: a snapshot of a dict's keys, sorted, kept in
runs of ``RUN`` keys (each run sorted on its own, so building it yields to the
loop between runs; a query merges the runs lazily). A page is "the keys after
this one", found with one ``bisect`` per run; each key is then looked up in
the live dict (a key withdrawn since the snapshot is skipped).

The order is the keys' own order (a total order that does not depend on the
snapshot), so a cursor (the last key returned) stays valid across rebuilds:
a walk with ``next`` returns every key present throughout the walk exactly
once; keys added during it may be missed.

``IndexCache`` keeps indexes between requests (bounded by ``budget`` keys in
all, least recently used dropped). A fresh walk (no cursor) rebuilds an index
whose table changed since it was built; a continuation reuses it for up to
``max_age`` seconds, so paging through a table under ingest costs one build
per ``max_age``, not one per page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import heapq
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator
from itertools import islice
from typing import Any

#: Keys sorted at once (one slice of work between yields to the loop).
RUN = 16384
#: Tables up to this size are sorted on every use (no cache).
SMALL = 2048


class SortedKeys:
    """A sorted snapshot of keys, in independently sorted runs.

    Runs are tuples, not lists: the cyclic GC untracks a tuple of untracked
    objects (``bytes`` keys, ``(bytes, int)`` sort keys) the first time it
    sees it, so an index of millions of keys is traversed by one young
    collection instead of by every collection until it is promoted (a list
    stays tracked, and each such pass over a full table's index held the
    loop for tens of ms)."""

    __slots__ = ("built", "runs", "size", "version")

    def __init__(self, runs: list[tuple[Any, ...]], version: Hashable, built: float) -> None:
        self.runs = runs
        self.version = version
        self.built = built
        self.size = sum(len(r) for r in runs)

    def after(self, key: Any = None) -> Iterator[Any]:
        """Keys greater than ``key`` (all when None), in order."""
        if len(self.runs) == 1:
            run = self.runs[0]
            start = 0 if key is None else bisect.bisect_right(run, key)
            return islice(run, start, None)
        its = [
            islice(r, 0 if key is None else bisect.bisect_right(r, key), None) for r in self.runs
        ]
        return heapq.merge(*its)

    def between(self, lo: Any, hi: Any) -> Iterator[Any]:
        """Keys ``lo <= k < hi`` in order."""
        its = [islice(r, bisect.bisect_left(r, lo), bisect.bisect_left(r, hi)) for r in self.runs]
        return heapq.merge(*its) if len(its) > 1 else its[0] if its else iter(())


def build_sync(
    keys: Iterable[Any], version: Hashable, transform: Callable[[Any], Any] | None = None
) -> SortedKeys:
    items = sorted(keys) if transform is None else sorted(map(transform, keys))
    return SortedKeys([tuple(items)], version, time.monotonic())


async def build_async(
    keys: Iterable[Any], version: Hashable, transform: Callable[[Any], Any] | None = None
) -> SortedKeys:
    """Like ``build_sync``, one run of ``RUN`` keys per slice of loop time.

    ``keys`` is copied at once (``tuple(dict)`` is one C call: consistent even
    when the dict changes later)."""
    snapshot = tuple(keys)
    runs: list[tuple[Any, ...]] = []
    for i in range(0, len(snapshot), RUN):
        t = time.perf_counter()
        part = snapshot[i : i + RUN]
        runs.append(tuple(sorted(part if transform is None else map(transform, part))))
        await PACER.pace(time.perf_counter() - t)
    del snapshot
    if not runs:
        runs.append(())
    return SortedKeys(runs, version, time.monotonic())


def index_of(
    cache: IndexCache,
    owner: object,
    keys: dict[Any, Any],
    version: Hashable,
    *,
    fresh: bool,
    sync: bool,
    transform: Callable[[Any], Any] | None = None,
) -> Generator[Tick, None, SortedKeys]:
    """The sorted index of ``keys`` (the table of ``owner``), from ``cache``
    when it is current (``IndexCache.get``), else built and cached.

    A generator for a paged walk: ``index = yield from index_of(...)``. A
    table of at most ``SMALL`` keys is sorted at once, uncached. A larger one
    is built at once when ``sync`` (the CLI and tests' plain calls), else the
    generator yields a ``Tick`` whose ``build`` the streaming driver
    (``stream_json``) awaits, a run of keys per slice of loop time."""
    if len(keys) <= SMALL:
        return build_sync(keys, version, transform)
    got = cache.get(owner, version, fresh=fresh)
    if got is not None:
        return got
    if sync:
        got = build_sync(keys, version, transform)
    else:
        built: list[SortedKeys] = []

        async def build() -> None:
            built.append(await build_async(keys, version, transform))

        yield Tick(build)
        got = built[0]
    cache.put(owner, got)
    return got


class IndexCache:
    """Indexes by owner identity, bounded by ``budget`` keys (LRU)."""

    def __init__(self, budget: int = 12_000_000, max_age: float = 5.0) -> None:
        self.budget = budget
        self.max_age = max_age
        #: id(owner) -> (owner, index); the owner is held so its id is not reused.
        self._entries: OrderedDict[int, tuple[object, SortedKeys]] = OrderedDict()
        self._keys = 0
        self.builds = 0

    def get(self, owner: object, version: Hashable, *, fresh: bool) -> SortedKeys | None:
        """The cached index when it is current (or, ``fresh`` false, young enough)."""
        got = self._entries.get(id(owner))
        if got is None or got[0] is not owner:
            return None
        index = got[1]
        if index.version != version and (fresh or time.monotonic() - index.built > self.max_age):
            return None
        self._entries.move_to_end(id(owner))
        return index

    def put(self, owner: object, index: SortedKeys) -> None:
        old = self._entries.pop(id(owner), None)
        if old is not None:
            self._keys -= old[1].size
        self.builds += 1
        self._entries[id(owner)] = (owner, index)
        self._keys += index.size
        while self._keys > self.budget and len(self._entries) > 1:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._keys -= dropped.size

    def clear(self) -> None:
        self._entries.clear()
        self._keys = 0


# -- cursors ------------------------------------------------------------------


class CursorError(ValueError):
    pass


def encode_cursor(position: list[Any]) -> str:
    """An opaque, URL-safe cursor for a JSON-able position."""
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise CursorError(f"cursor {text[:40]!r} is not a cursor this agent gave out") from None
    if not isinstance(value, list):
        raise CursorError(f"cursor {text[:40]!r} is not a cursor this agent gave out")
    return value


# -- streaming ----------------------------------------------------------------


class Tick:
    """Yielded by a producer that worked a while without output (a chance to
    yield to the loop), or that needs ``build`` awaited first."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], Any] | None = None) -> None:
        self.build = build


TICK = Tick()
#: Bytes collected before one write (each write waits while the client's
#: socket and the transport buffer are full: memory per answer stays bounded).
SLICE_BYTES = 65536
#: Loop time one slice of an answer may take before it yields.
SLICE_SECONDS = 0.004
#: Share of the event loop's time all streamed answers together may use; the
#: rest is BMP ingest's and /metrics' (``Pacer``).
API_SHARE = 0.25  # default of http.api_share


class Pacer:
    """Keeps every streamed answer together under ``share`` of loop time.

    After a slice of ``d`` seconds of work the API as a whole waits
    ``d * (1 - share) / share`` before its next slice (answers queue behind
    one another), so a burst of big answers slows down instead of taking the
    loop from ingest and scrapes."""

    def __init__(self, share: float = API_SHARE) -> None:
        self.share = share
        self._next = 0.0

    async def pace(self, work: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next = max(self._next, now) + work * (1.0 - self.share) / self.share
        await asyncio.sleep(max(0.0, self._next - now))


PACER = Pacer()


async def stream_json(
    request: Any,
    head: dict[str, Any],
    key: str,
    items: Iterator[str | Tick],
    tail: Callable[[], dict[str, Any]],
) -> Any:
    """Write ``{**head, key: [items...], **tail()}`` as a chunked JSON answer.

    ``items`` yields JSON texts, or ``Tick`` (yield to the loop; await
    ``tick.build()`` first when set). The answer goes out in slices of about
    ``SLICE_BYTES``; ``StreamResponse.write`` waits for the transport to drain
    (its write-buffer limits), so a client that does not read holds at most a
    slice, the transport buffer and the kernel's socket buffers.
    """
    from aiohttp import web

    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await resp.prepare(request)
    opening = json.dumps(head, default=str)[:-1]
    buf: list[str] = [opening, "," if head else "", json.dumps(key), ":["]
    size = 0
    n = 0
    first = True
    clock = time.perf_counter
    started = clock()
    for item in items:
        if isinstance(item, Tick):
            if item.build is not None:
                await item.build()
                started = clock()
            elif clock() - started >= SLICE_SECONDS:
                await PACER.pace(clock() - started)
                started = clock()
            continue
        if not first:
            buf.append(",")
        first = False
        buf.append(item)
        size += len(item)
        n += 1
        if size >= SLICE_BYTES:
            await resp.write("".join(buf).encode())
            buf = []
            size = 0
        if n % 16 == 0 and clock() - started >= SLICE_SECONDS:
            await PACER.pace(clock() - started)
            started = clock()
    rest = tail()
    buf.append("]")
    if rest:
        buf.append("," + json.dumps(rest, default=str)[1:])
    else:
        buf.append("}")
    await resp.write("".join(buf).encode())
    await resp.write_eof()
    return resp
