"""An asyncio client for BIRD's control socket (read-only, allow-listed commands).

One connection is kept open across polls; commands run one at a time (the
caller is sequential: a reply must be read to its end before the next
command; a reply abandoned half-way closes the connection).
``stream(cmd)`` yields ``Line``s as chunks arrive (64 KiB reads), so the
caller parses a large table without the whole text in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .protocol import (
    BirdCommandError,
    BirdProtocolError,
    Line,
    LineReader,
    check_command,
    parse_greeting,
)

CHUNK = 64 * 1024


class BirdClient:
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.version = ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self) -> str:
        """Connect and read the greeting; returns BIRD's version (``2.0.12``)."""
        await self.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path, limit=CHUNK * 2), self.timeout
        )
        self._reader, self._writer = reader, writer
        try:
            raw = await asyncio.wait_for(reader.readline(), self.timeout)
            if not raw.endswith(b"\n"):
                raise BirdProtocolError("connection closed before the greeting")
            lines = LineReader().feed(raw)
            self.version = parse_greeting(lines[0])
        except BaseException:
            await self.close()
            raise
        return self.version

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def stream(self, command: str) -> AsyncIterator[Line]:
        """Send an allow-listed command and yield its reply lines.

        An error reply (8xxx/9xxx) raises ``BirdCommandError`` after the lines
        before it were yielded. Any IO or protocol error closes the connection.
        """
        check_command(command)
        if self._reader is None or self._writer is None:
            raise ConnectionError("not connected")
        reader, writer = self._reader, self._writer
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            lines = LineReader()
            while not lines.done:
                data = await asyncio.wait_for(reader.read(CHUNK), self.timeout)
                if not data:
                    raise ConnectionError(f"BIRD closed the socket during {command!r}")
                for line in lines.feed(data):
                    if line.error:
                        raise BirdCommandError(command, line.code, line.text)
                    yield line
        except BirdCommandError:
            raise
        except GeneratorExit:
            # the consumer gave up mid-reply: the rest is unread, so the
            # connection cannot be reused (no awaiting while closing a generator)
            if self._writer is writer:
                self._writer = self._reader = None
                writer.close()
            raise
        except BaseException:
            if self._writer is writer:
                await self.close()
            raise

    async def command(self, command: str) -> list[Line]:
        """A short reply as a list (not for route tables: use ``stream``)."""
        return [line async for line in self.stream(command)]
