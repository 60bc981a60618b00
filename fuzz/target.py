"""The fuzz target, shared by the atheris harness (``fuzz/run.py``) and the
crasher regression test (``tests/reliability/test_crashers.py``).

``check(data)`` runs one input through everything that takes bytes from a
router, and raises ``AssertionError`` (or the stray exception itself) when a
contract is broken:

1. ``BmpSession.feed`` with the fast path and with the reference decoder:
   any bytes give events or raise ``ParseError`` (nothing else), every
   ``ParseError`` carries an ``Action`` and an integer offset, and both
   sessions give the same events (``fast_vs_spec`` checks one synthetic Route
   Monitoring message; this is every message type, in the captures' contexts).
2. The same stream fed in chunks (sizes chosen by the first input byte) to
   the fast-path session gives the same events as one ``feed``, and the same
   framing error, if any. (The reference decoder's session is not fed in
   chunks again: framing and context are the same code in both, each message
   is decoded whole, and that second run of the construct decoder on every
   Peer Up and UPDATE cost a third of the target's time for no new edge.)
3. Every event (of the fast path; the reference's are equal) renders to JSON (``parsers.render``) and JSON-serialises.
4. Every event applies to the state core (``agent.core``) without raising,
   and closing the session leaves the router down with no routes.

The first byte of the input is a control byte (chunk size: 1-64 bytes, or
about 1/64 of a long stream); the rest is the BMP stream.
"""

from __future__ import annotations

import json
from typing import Any

from agent.core import Core, CoreSettings
from parsers.bmp.session import BmpSession, Decoded, DecodeFailed, Event
from parsers.errors import Action, ParseError
from parsers.render import render_event, render_failure


def event_key(event: Event) -> tuple[Any, ...]:
    """A comparable form of an event (``ParseError`` compares by identity)."""
    if isinstance(event, Decoded):
        return ("ok", event.offset, event.size, event.message)
    return ("failed", event.offset, event.size, event.msg_type, *error_key(event.error))


def error_key(err: ParseError) -> tuple[Any, ...]:
    partial = err.partial
    if isinstance(partial, list | tuple):
        partial = tuple(event_key(e) for e in partial)
    return (type(err).__name__, err.message, err.offset, err.action, partial)


def check_error(err: ParseError) -> None:
    assert isinstance(err.action, Action), f"action {err.action!r} is not an Action"
    assert isinstance(err.offset, int), f"offset {err.offset!r} is not an int"
    assert isinstance(err.message, str)


def run_session(
    stream: bytes, *, fast: bool, chunk: int | None = None
) -> tuple[list[Event], ParseError | None]:
    """All events of ``stream`` and the framing error that ended it, if any."""
    session = BmpSession(fast=fast)
    events: list[Event] = []
    pieces = (
        [stream] if chunk is None else [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    )
    for piece in pieces:
        try:
            events.extend(session.feed(piece))
        except ParseError as err:
            check_error(err)
            partial = err.partial
            if isinstance(partial, list | tuple):
                events.extend(partial)
            return events, err
    return events, None


def check(data: bytes) -> None:
    if not data:
        return
    stream = data[1:]
    chunk = data[0] % 64 + 1
    if len(stream) > 64 * chunk:
        # At most ~64 pieces: per-byte feeding of a 16 KiB input is slow and
        # finds nothing that small chunks of a short input do not.
        chunk = len(stream) // 64 + data[0]
    events, framing = run_session(stream, fast=True)
    spec, spec_framing = run_session(stream, fast=False)
    assert [event_key(e) for e in events] == [event_key(e) for e in spec], (
        "the fast path's session gives other events than the reference decoder's"
    )
    assert (framing is None) == (spec_framing is None)
    for event in events:  # (equal to the reference decoder's: rendered once)
        if isinstance(event, DecodeFailed):
            check_error(event.error)
            json.dumps(render_failure(event), default=str)
        json.dumps(render_event(event), default=str)
    chunked, chunk_framing = run_session(stream, fast=True, chunk=chunk)
    assert [event_key(e) for e in chunked] == [event_key(e) for e in events], (
        f"chunks of {chunk} bytes give other events"
    )
    assert (chunk_framing is None) == (framing is None), "framing error depends on chunking"
    if framing is not None and chunk_framing is not None:
        assert (framing.message, framing.offset) == (chunk_framing.message, chunk_framing.offset)
    apply_core(events)


def apply_core(events: list[Event]) -> None:
    core = Core(CoreSettings(clock=lambda: 1000.0))
    rs = core.open_session("192.0.2.1", 40000)
    for event in events:
        rs.handle(event)
    core.close_session(rs, "closed_by_router")
    router = core.routers["192.0.2.1"]
    assert not router.up
    for peer in router.peers.values():
        for table in peer.tables.values():
            assert not table.routes, "routes left after the session closed"
