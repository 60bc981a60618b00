"""structlog set-up.

Logs go to stdout, one event per line: JSON when stdout is not a TTY (or
``log.format: json``), coloured key=value when it is (or ``log.format:
console``). The level can be changed at run time (``set_level``, used by
SIGHUP reload) without re-creating the loggers that connections have bound.
Never log per route: per-connection loggers bind ``router``, and
``peer``/``msg_type`` per event.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

_state = {"level": LEVELS["info"]}


def _filter_level(_logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    if LEVELS.get(method, 20) < _state["level"]:
        raise structlog.DropEvent
    return event


def set_level(level: str) -> None:
    _state["level"] = LEVELS[level.lower()]
    logging.getLogger().setLevel(max(LEVELS[level.lower()], logging.WARNING))


def get_level() -> str:
    for name, value in LEVELS.items():
        if value == _state["level"]:
            return name
    return "info"


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog (and route stdlib ``logging`` warnings through it)."""
    out = stream if stream is not None else sys.stdout
    isatty = getattr(out, "isatty", None)
    tty = bool(isatty is not None and isatty())
    if fmt == "auto":
        fmt = "console" if tty else "json"
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=tty)
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            _filter_level,
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # asyncio/aiohttp complaints (stdlib logging) end up in the same stream.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bmp_agent", False):
            root.removeHandler(old)
    handler._bmp_agent = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorFilter) for f in server.filters):
        server.addFilter(ClientErrorFilter())
    set_level(level)


#: HTTP requests the server could not parse (malformed, oversized), by
#: exception name: ``bmp_http_client_errors_total{error}``.
HTTP_CLIENT_ERRORS: Counter[str] = Counter()


class ClientErrorFilter(logging.Filter):
    """aiohttp logs every request it cannot parse as an error with a
    traceback (~400 bytes each: a flood of bad requests floods the log). They
    are the client's fault: counted in ``HTTP_CLIENT_ERRORS`` and logged at
    debug level only (one line, no traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not str(record.msg).startswith("Error handling request"):
            return True
        from aiohttp.http_exceptions import HttpProcessingError

        if not isinstance(exc, HttpProcessingError):
            return True  # a handler's bug: keep it loud
        HTTP_CLIENT_ERRORS[type(exc).__name__] += 1
        if _state["level"] > LEVELS["debug"]:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args = None
        record.exc_info = None
        return True


def get_logger(**bind: Any) -> Any:
    """A structlog logger with ``bind`` values."""
    return structlog.get_logger("bmp-agent").bind(**bind)


def flush() -> None:
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            s.flush()


def os_reason(exc: OSError) -> str:
    """``Address already in use`` rather than asyncio's long wrapped text."""
    if exc.errno:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


class RateLimit:
    """At most ``per_window`` log lines per kind per ``window`` seconds.

    ``allow(kind)`` says whether to log this one; what is held back is
    counted and handed out once (with the next line ``allow`` lets through) when the kind's window
    has passed, or at the end (``drain``), for one summary line
    ("N more suppressed"). Cost: one dict lookup per call.
    """

    __slots__ = ("_clock", "_state", "per_window", "window")

    def __init__(
        self, per_window: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_window = per_window
        self.window = window
        self._clock = clock
        #: kind -> [window start, logged in window, suppressed since last summary]
        self._state: dict[str, list[float]] = {}

    def allow(self, kind: str) -> tuple[bool, int]:
        """(log this one?, lines suppressed before it to report now)."""
        now = self._clock()
        st = self._state.get(kind)
        if st is None:
            if len(self._state) >= 1024:  # bounded: kinds come from a fixed set
                self._state.clear()
            self._state[kind] = [now, 1.0, 0.0]
            return True, 0
        if now - st[0] >= self.window:
            held = int(st[2])
            st[0], st[1], st[2] = now, 1.0, 0.0
            return True, held
        if st[1] < self.per_window:
            st[1] += 1
            return True, 0
        st[2] += 1
        return False, 0

    def drain(self) -> dict[str, int]:
        """Kinds with lines suppressed since their last summary, and how many."""
        out = {k: int(st[2]) for k, st in self._state.items() if st[2]}
        for k in out:
            self._state[k][2] = 0.0
        return out
