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
from .fast import decode_route_monitoring
from .messages import MAX_MESSAGE_SIZE, BmpMessage, PeerDown, PeerUp, RouteMonitoring
from .reader import BmpReader


@dataclass(frozen=True, slots=True)
class Decoded:
    offset: int
    message: BmpMessage
    #: Size of the whole BMP message in bytes.
    size: int


@dataclass(frozen=True, slots=True)
class DecodeFailed:
    """A message that framed correctly but did not decode.

    ``error.action`` says what to do: SKIP_MESSAGE loses
    only this message; TREAT_AS_WITHDRAW comes with ``error.partial``, a
    ``RouteMonitoring`` whose announcements were turned into withdrawals;
    DROP_SESSION means the session should be closed.
    """

    offset: int
    error: ParseError
    msg_type: int | None
    size: int


Event = Decoded | DecodeFailed


_ROUTE_MONITORING = RouteMonitoring.TYPE


def decode_message(data: bytes, ctx: DecodeContext, *, fast: bool = True) -> BmpMessage:
    """Decode one whole BMP message (common header included): Route
    Monitoring through the fast path when ``fast``, all else through the spec."""
    if fast and len(data) > 5 and data[5] == _ROUTE_MONITORING:
        return decode_route_monitoring(data, ctx)
    return decode_bmp_message(data, ctx)


class BmpSession:
    __slots__ = ("ctx", "fast", "reader")

    def __init__(self, *, fast: bool = True, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.reader = BmpReader(max_message_size)
        self.ctx = DecodeContext()
        self.fast = fast

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

    def decode(self, offset: int, msg: bytes) -> Event:
        try:
            decoded = decode_message(msg, self.ctx, fast=self.fast)
        except ParseError as err:
            err.with_base(offset)
            return DecodeFailed(offset, err, msg[5] if len(msg) > 5 else None, len(msg))
        if isinstance(decoded, PeerUp):
            self.ctx.peer_up(
                decoded.peer.key,
                PeerCaps.from_opens(
                    decoded.sent_open, decoded.received_open, loc_rib=decoded.peer.is_loc_rib
                ),
            )
        elif isinstance(decoded, PeerDown):
            self.ctx.peer_down(decoded.peer.key)
        return Decoded(offset, decoded, len(msg))
