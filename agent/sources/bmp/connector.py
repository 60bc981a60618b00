"""Active mode: dial routers that listen for BMP stations (FRR ``bmp listener``).

One ``Connector`` per ``bmp.connect`` target. After a failed attempt or a
session that ends, it waits with exponential backoff and full jitter,
``uniform(reconnect_min, min(reconnect_max, reconnect_min * 2**n))``; the
backoff resets after a *good* session (one that completed at least one BMP
message). The delay is ``agent.backoff.backoff_delay``.
"""

from __future__ import annotations

import asyncio
import contextlib

from ...backoff import backoff_delay
from ...config import Endpoint
from ...log import get_logger
from .listener import BmpProtocol, Routers


class Connector:
    def __init__(self, routers: Routers, target: Endpoint) -> None:
        self.routers = routers
        self.target = target
        self.log = get_logger(component="bmp", connect=str(target))
        self.attempts = 0
        self.sessions = 0
        self._task: asyncio.Task[None] | None = None
        self._protocol: BmpProtocol | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bmp-connect-{self.target}"
        )

    async def stop(self) -> None:
        self._stopping = True
        if self._protocol is not None:
            self._protocol.close("shutdown")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            settings = self.routers.settings
            self.attempts += 1
            good = False
            try:
                _, proto = await loop.create_connection(
                    lambda: self.routers.protocol("active"), self.target.host, self.target.port
                )
            except OSError as exc:
                self.log.info("bmp connect failed", error=exc.strerror or str(exc))
            else:
                self._protocol = proto
                self.sessions += 1
                try:
                    await asyncio.shield(proto.closed)
                finally:
                    self._protocol = None
                good = proto.messages > 0
            if self.stopping:
                break
            failures = 0 if good else failures + 1
            delay = backoff_delay(failures, settings.reconnect_min, settings.reconnect_max)
            self.log.debug("bmp reconnect scheduled", delay=round(delay, 3))
            await asyncio.sleep(delay)
