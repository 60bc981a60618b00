"""BMP framing: split a byte stream into whole messages.

``BmpReader`` validates the version and the length of each common header
before it keeps any of the body, so a hostile length costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import Action, MalformedError
from .messages import COMMON_HEADER_SIZE, MAX_MESSAGE_SIZE, VERSION, VERSION_4
from .wire import version_error


class BmpReader:
    """Feed bytes with ``feed``; iterate ``messages()`` for ``(offset, bytes)``.

    ``offset`` is the message's position in the whole stream. After a framing
    error (bad version, bad length) the stream cannot be resynchronised: every
    later call raises the same error, whose action is ``DROP_SESSION``.
    """

    __slots__ = ("_buf", "_error", "_max", "_pos", "_stream_offset", "last_offset")

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of unread data in _buf
        self._stream_offset = 0  # stream offset of _buf[0]
        self._max = max_message_size
        self._error: Exception | None = None
        #: Stream offset of the message ``take`` returned last.
        self.last_offset = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buf) - self._pos

    @property
    def offset(self) -> int:
        """Stream offset of the next message."""
        return self._stream_offset + self._pos

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._stream_offset += self._pos
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def messages(self) -> Iterator[tuple[int, bytes]]:
        """Yield every complete message buffered so far."""
        try:
            while True:
                msg = self.take()
                if msg is None:
                    return
                yield self.last_offset, msg
        finally:
            self._compact()

    def take(self) -> bytes | None:
        """The next complete message (its stream offset in ``last_offset``), or
        None when none is buffered whole; call ``compact`` after a run of takes.
        The per-message loop of the batched decoder, without a generator."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < COMMON_HEADER_SIZE:
            return None
        version = buf[pos]
        length = buf[pos + 1] << 24 | buf[pos + 2] << 16 | buf[pos + 3] << 8 | buf[pos + 4]
        if version != VERSION and version != VERSION_4:
            self._fail(version, length, pos)
        if length < COMMON_HEADER_SIZE or length > self._max:
            self._fail(version, length, pos)
        end = pos + length
        if end > len(buf):
            return None
        self.last_offset = self._stream_offset + pos
        self._pos = end
        return bytes(buf[pos:end])

    def compact(self) -> None:
        """Drop the consumed bytes when they dominate the buffer."""
        self._compact()

    def _compact(self) -> None:
        # Drop consumed bytes once they dominate the buffer, so memory stays
        # bounded by one message plus one read.
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._stream_offset += self._pos
            self._pos = 0

    def _fail(self, version: int, length: int, pos: int) -> None:
        offset = self._stream_offset + pos
        err: Exception
        if version != VERSION and version != VERSION_4:
            err = version_error(version, offset)
        elif length < COMMON_HEADER_SIZE:
            err = MalformedError(
                f"BMP message length {length} is shorter than the common header",
                offset=offset,
                action=Action.DROP_SESSION,
            )
        else:
            err = MalformedError(
                f"BMP message length {length} exceeds the limit of {self._max} bytes",
                offset=offset,
                action=Action.DROP_SESSION,
            )
        self._error = err
        raise err
