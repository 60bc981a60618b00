"""The birdc protocol on BIRD's control socket, sans-IO, and the command allow-list.

A reply is a sequence of lines. A line starting with four digits carries a
reply code; ``DDDD-text`` continues the reply, ``DDDD text`` (a space after
the code) ends it. A line starting with a space continues the previous code
(the space is not part of the text). Codes: ``0xxx`` end of a successful
reply (``0000`` OK, ``0001`` the greeting ``BIRD x.y ready.``, ``0013``
status, ``0014`` route count), ``1xxx`` table rows (``1002`` protocol,
``1006`` protocol details, ``1007`` route, ``1008`` route type, ``1012``
route attributes), ``2xxx`` table headings, ``8xxx`` run-time errors,
``9xxx`` syntax errors (both end the reply).

``LineReader`` turns received bytes into ``Line``s incrementally, so a
large reply is processed as it arrives and never held as a whole.

The socket is read-only for us: ``check_command`` admits only the few
``show`` commands below; anything else (``restart``, ``disable``,
``configure``, ``down``, ``eval``, ...) raises ``CommandRejected`` before a
byte is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest line accepted (BIRD's own CLI lines are far shorter).
MAX_LINE = 64 * 1024

_NAME = r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}"
#: The allow-list: every command the agent may send, as full-match patterns.
ALLOWED_COMMANDS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"show status",
        r"show protocols",
        r"show protocols all",
        rf"show protocols all {_NAME}",
        r"show route count",
        r"show route primary count",
        r"show route all",
        r"show route primary all",
        rf"show route protocol {_NAME} all",
        rf"show route protocol {_NAME} count",
        rf"show route import table {_NAME} all",
        rf"show route import table {_NAME} count",
    )
)


class BirdProtocolError(Exception):
    """The socket sent something that is not the birdc protocol."""


class CommandRejected(ValueError):
    """A command outside the read-only allow-list."""


class BirdCommandError(Exception):
    """BIRD answered a command with an error (code 8xxx or 9xxx)."""

    def __init__(self, command: str, code: int, text: str) -> None:
        super().__init__(f"{command!r}: BIRD error {code:04d}: {text}")
        self.command = command
        self.code = code
        self.text = text


def check_command(command: str) -> str:
    """Return ``command`` when it is on the allow-list, else raise ``CommandRejected``."""
    if "\n" in command or "\r" in command:
        raise CommandRejected(f"{command!r}: line breaks are not allowed")
    if not any(p.fullmatch(command) for p in ALLOWED_COMMANDS):
        raise CommandRejected(f"{command!r} is not a read-only command this agent sends")
    return command


@dataclass(frozen=True, slots=True)
class Line:
    code: int
    text: str
    #: The last line of the reply.
    last: bool

    @property
    def error(self) -> bool:
        return self.code >= 8000


def parse_line(raw: bytes, prev_code: int) -> Line:
    """One line without its newline. ``prev_code``: the code a continuation inherits."""
    if raw[:1] == b" ":
        return Line(prev_code, raw[1:].decode("utf-8", "replace"), False)
    if len(raw) >= 5 and raw[:4].isdigit() and raw[4:5] in (b"-", b" "):
        return Line(int(raw[:4]), raw[5:].decode("utf-8", "replace"), raw[4:5] == b" ")
    if len(raw) == 4 and raw.isdigit():
        return Line(int(raw), "", True)
    raise BirdProtocolError(f"not a birdc reply line: {raw[:80]!r}")


class LineReader:
    """Incremental splitter: ``feed(bytes) -> list[Line]``."""

    __slots__ = ("_buf", "_code", "done")

    def __init__(self) -> None:
        self._buf = b""
        self._code = 0
        #: The reply's last line has been read.
        self.done = False

    def feed(self, data: bytes) -> list[Line]:
        buf = self._buf + data if self._buf else data
        parts = buf.split(b"\n")
        self._buf = parts.pop()
        if len(self._buf) > MAX_LINE:
            raise BirdProtocolError(f"line longer than {MAX_LINE} bytes")
        out: list[Line] = []
        code = self._code
        for raw in parts:
            if self.done:
                raise BirdProtocolError(f"data after the end of the reply: {raw[:80]!r}")
            line = parse_line(raw, code)
            code = line.code
            out.append(line)
            if line.last:
                self.done = True
        self._code = code
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held."""
        return len(self._buf)


def parse_greeting(line: Line) -> str:
    """``0001 BIRD 2.0.12 ready.`` -> ``2.0.12``."""
    if line.code != 1:
        raise BirdProtocolError(f"unexpected greeting {line.code:04d} {line.text!r}")
    m = re.match(r"BIRD (\S+) ready\.", line.text)
    if m is None:
        raise BirdProtocolError(f"unexpected greeting text {line.text!r}")
    return m.group(1)
