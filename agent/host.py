"""What a daemon component sees of the daemon: the narrow ``Host`` interface.

Components (``agent.fib``, ``agent.health``, ``agent.sources.bird``) are built
by the composition root (``agent.app``) from a ``Host``: they read
``config`` and ``core``, add HTTP endpoints and metric collectors, and never
import ``agent.daemon`` or ``agent.app``. ``agent.daemon.Daemon`` implements it
(a subclass: the JSON endpoint wrapper lives here once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .httpjson import Handler, json_handler

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client.registry import Collector

    from parsers.bmp.session import BatchEvent

    from .config import Config
    from .core import Core


class Tee(Protocol):
    """Sees the raw bytes of one BMP router session, in order."""

    def feed(self, data: bytes, events: list[BatchEvent], pending: int) -> None:
        """``data`` as received (empty when a later ingest slice applies
        messages already buffered), after the core applied ``events``;
        ``pending``: bytes at the end of the stream so far that the core has
        not applied yet (whole messages of a later slice and a partial one)."""

    def close(self) -> None:
        """The router session ended."""


#: Makes the ``Tee`` of one router session, given the core's
#: ``agent.core.RouterSession`` (typed loosely: sources see the core through
#: their own narrow protocols).
TeeFactory = Callable[[Any], Tee]


class Host(Protocol):
    """What a component may use of the daemon. An implementation subclasses it
    and provides ``add_get``; ``add_json_get`` is built on it here."""

    #: Read by components, never set by them.
    config: Config
    core: Core

    def add_get(self, path: str, handler: Handler) -> None:
        """A GET endpoint (before ``start``)."""

    def add_json_get(
        self,
        path: str,
        fn: Callable[[web.Request], Any],
        *,
        params: tuple[str, ...] | None = (),
    ) -> None:
        """A GET endpoint answering ``fn(request)`` as JSON; ``params``: the allowed
        query parameters (None: ``fn`` checks them); ``ValueError`` → 400."""
        self.add_get(path, json_handler(fn, params=params))

    def register_collector(self, collector: Collector) -> None:
        """A Prometheus collector on ``/metrics``."""

    def add_metrics_text(self, fn: Callable[[], str]) -> None:
        """Exposition text appended to ``/metrics`` (families written directly)."""

    def add_bmp_tee(self, factory: TeeFactory) -> None:
        """Every BMP router session from now on also feeds ``factory(session)``."""


class Component(Protocol):
    """A part of the daemon with a life cycle: started after the listeners are
    bound, stopped before them; ``reload`` returns the keys it could not apply."""

    name: str

    async def start(self, host: Host) -> None: ...

    async def stop(self) -> None: ...

    def reload(self, config: Config) -> list[str]: ...
