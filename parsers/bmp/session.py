"""One BMP session (one TCP connection from one router), sans-IO.

``BmpSession.feed(bytes)`` returns the decoded events in stream order. It owns
the framing (``BmpReader``) and the ``DecodeContext`` that Peer Up and Peer
Down update, so Route Monitoring is decoded with what the OPENs negotiated.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParseError
from .context import DecodeContext, PeerCaps
from .decode import decode_bmp_message
from .fast import FlatRoute, decode_flat, decode_route_monitoring
from .messages import MAX_MESSAGE_SIZE, BmpMessage, PeerDown, PeerUp, RouteMonitoring
from .reader import BmpReader


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Where an event's message is in the session's byte stream (what the
    listener logs and the relay copies out)."""

    offset: int
    #: Size of the whole BMP message in bytes.
    size: int


@dataclass(frozen=True, slots=True)
class Decoded(StreamEvent):
    message: BmpMessage


@dataclass(frozen=True, slots=True)
class DecodeFailed(StreamEvent):
    """A message that framed correctly but did not decode.

    ``error.action`` says what to do: SKIP_MESSAGE loses
    only this message; TREAT_AS_WITHDRAW comes with ``error.partial``, a
    ``RouteMonitoring`` whose announcements were turned into withdrawals;
    DROP_SESSION means the session should be closed.
    """

    error: ParseError
    msg_type: int | None


@dataclass(slots=True)
class RouteBatch:
    """Consecutive Route Monitoring messages that each change one NLRI set
    (``fast.FlatRoute``), decoded without per-message objects. Only a session
    made with ``batch=True`` returns them; applying ``routes`` in order equals
    applying each message's ``Decoded`` event. Filled while its run is
    decoded, so mutable and not a ``StreamEvent`` (frozen), with the same
    ``offset`` and ``size``."""

    #: Stream offset of the first message.
    offset: int
    routes: list[FlatRoute]
    #: Bytes of all its messages.
    size: int = 0


Event = Decoded | DecodeFailed
BatchEvent = Decoded | DecodeFailed | RouteBatch


_ROUTE_MONITORING = RouteMonitoring.TYPE


def decode_message(data: bytes, ctx: DecodeContext, *, fast: bool = True) -> BmpMessage:
    """Decode one whole BMP message (common header included): Route
    Monitoring through the fast path when ``fast``, all else through the spec."""
    if fast and len(data) > 5 and data[5] == _ROUTE_MONITORING:
        return decode_route_monitoring(data, ctx)
    return decode_bmp_message(data, ctx)


class BmpSession:
    __slots__ = ("batch", "ctx", "fast", "reader")

    def __init__(
        self, *, fast: bool = True, max_message_size: int = MAX_MESSAGE_SIZE, batch: bool = False
    ) -> None:
        self.reader = BmpReader(max_message_size)
        self.ctx = DecodeContext()
        self.fast = fast
        #: ``feed_batched`` may be used (the listener's ingest path).
        self.batch = batch

    def feed(self, data: bytes) -> list[Event]:
        """Decode every message completed by ``data``.

        Raises ``ParseError`` (action DROP_SESSION) when the framing is lost;
        its ``partial`` is the list of events decoded from the whole messages
        before the bad header (apply them, then close). Every other error is
        returned as a ``DecodeFailed`` event.
        """
        self.reader.feed(data)
        events: list[Event] = []
        try:
            for offset, msg in self.reader.messages():
                events.append(self.decode(offset, msg))
        except ParseError as err:
            err.partial = events
            raise
        return events

    def feed_batched(self, data: bytes, limit: int = 0) -> list[BatchEvent]:
        """Like ``feed``, but runs of Route Monitoring that each change one
        NLRI set come as one ``RouteBatch``. With ``limit`` > 0 at most about
        that many messages are decoded; the rest stay buffered for the next
        call (``feed_batched(b"")``), so the caller bounds its work per call."""
        reader = self.reader
        if data:
            reader.feed(data)
        events: list[BatchEvent] = []
        ctx = self.ctx
        batch: RouteBatch | None = None
        routes: list[FlatRoute] = []
        size = 0
        count = 0
        try:
            while True:
                msg = reader.take()
                if msg is None:
                    break
                offset = reader.last_offset
                count += 1
                if len(msg) > 5 and msg[5] == _ROUTE_MONITORING:
                    try:
                        flat = decode_flat(msg, ctx)
                    except ParseError as err:
                        err.with_base(offset)
                        batch = None
                        events.append(DecodeFailed(offset, len(msg), err, _ROUTE_MONITORING))
                        if count == limit:
                            break
                        continue
                    if isinstance(flat, tuple):
                        if batch is None:
                            routes = []
                            size = 0
                            batch = RouteBatch(offset, routes)
                            events.append(batch)
                        routes.append(flat)
                        size += len(msg)
                        batch.size = size
                    else:
                        batch = None
                        events.append(Decoded(offset, len(msg), flat))
                else:
                    batch = None
                    events.append(self.decode(offset, msg))
                if count == limit:
                    break
        except ParseError as err:
            err.partial = events
            raise
        finally:
            reader.compact()
        return events

    def decode(self, offset: int, msg: bytes) -> Event:
        try:
            decoded = decode_message(msg, self.ctx, fast=self.fast)
        except ParseError as err:
            err.with_base(offset)
            return DecodeFailed(offset, len(msg), err, msg[5] if len(msg) > 5 else None)
        if isinstance(decoded, PeerUp):
            self.ctx.peer_up(
                decoded.peer.key,
                PeerCaps.from_opens(
                    decoded.sent_open, decoded.received_open, loc_rib=decoded.peer.is_loc_rib
                ),
            )
        elif isinstance(decoded, PeerDown):
            self.ctx.peer_down(decoded.peer.key)
        return Decoded(offset, len(msg), decoded)
