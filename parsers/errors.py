"""The ParseError hierarchy.

Every error names what was wrong and where (byte offset in the stream or the
message), and carries the action a receiver should take, after RFC 7606 for
BGP UPDATE errors and RFC 7854 for BMP framing errors. No input, however
malformed, makes a decoder in this package raise anything else.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Action(Enum):
    """What the receiver does with the message that failed to decode."""

    #: Ignore this one message; the stream and the session stay usable.
    SKIP_MESSAGE = "skip_message"
    #: RFC 7606 §2: the UPDATE's announced routes are handled as withdrawn.
    TREAT_AS_WITHDRAW = "treat_as_withdraw"
    #: The byte stream can no longer be trusted (framing lost): close it.
    DROP_SESSION = "drop_session"


class ParseError(Exception):
    """Base of every decoding error.

    ``offset`` is relative to the start of the buffer the failing decoder
    was given unless a caller rebased it (``with_base``); ``BmpReader``
    rebases to the stream offset.
    """

    default_action: Action = Action.SKIP_MESSAGE
    kind = "parse_error"

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        action: Action | None = None,
        partial: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.action = action if action is not None else self.default_action
        #: What could be decoded despite the error (for TREAT_AS_WITHDRAW: the
        #: message with its announcements moved to withdrawals).
        self.partial = partial

    def with_base(self, base: int) -> ParseError:
        """Shift the offset by ``base`` (the position of the inner buffer)."""
        self.offset = base + (self.offset or 0)
        return self

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.message}{where} (action: {self.action.value})"


class TruncatedError(ParseError):
    """The input ends before a length it declares."""

    kind = "truncated"


class MalformedError(ParseError):
    """A field holds a value the specification forbids."""

    kind = "malformed"


class UnsupportedError(ParseError):
    """Well-formed input that this decoder does not handle (e.g. BMP v4)."""

    kind = "unsupported"
