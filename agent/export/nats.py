"""The gobmp-compatible NATS JetStream feed (``export.nats_url``), with nats-py.

Subjects, shapes and the ``Hash`` header are gobmp's (``agent.export.gobmp``,
docs/gobmp-feed.md); queueing, drops and the resync on reconnect are
``agent.export.bus.BusFeed``'s. On connect the stream ``goBMP`` is created
when absent, as gobmp creates it (subjects ``gobmp.parsed.*`` and
``gobmp.raw``, file storage, interest retention, 15 minutes max age); when
present, missing subjects are added to it. With ``export.nats_subject_prefix``
(e.g. the node name) every subject, the stream's too, starts with ``PREFIX.``.

The client reconnects itself (``BusFeed``, with the backoff of
``bmp.reconnect_min``/``_max``) rather than letting nats-py buffer while
disconnected: the resync makes a reconnect whole, a buffer would only delay it.
Publishing is core NATS publish to the stream's subjects (JetStream stores
them) with a flush per batch, not one acknowledged request per route.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
from typing import TYPE_CHECKING, Any

import nats
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from ..config import ExportConfig
from ..core import Core
from . import gobmp
from .bus import BusFeed, export_collector

if TYPE_CHECKING:
    from ..host import Host

#: Seconds to connect and to flush.
TIMEOUT = 5
#: gobmp's stream: 15 minutes of messages.
MAX_AGE = 15 * 60.0


class NatsProducer:
    """``agent.export.bus.Producer`` on NATS JetStream."""

    def __init__(self, cfg: ExportConfig) -> None:
        self.servers = [u.strip() for u in cfg.nats_url.split(",") if u.strip()]
        self.cfg = cfg
        prefix = cfg.nats_subject_prefix
        self.stream_subjects = [f"{prefix}.{s}" if prefix else s for s in gobmp.STREAM_SUBJECTS]
        self.nc: Client | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def _tls(self) -> ssl.SSLContext | None:
        cfg = self.cfg
        if not (
            cfg.nats_tls_ca or cfg.nats_tls_cert or any(s.startswith("tls:") for s in self.servers)
        ):
            return None
        ctx = ssl.create_default_context(cafile=cfg.nats_tls_ca or None)
        if cfg.nats_tls_cert:
            ctx.load_cert_chain(cfg.nats_tls_cert, cfg.nats_tls_key or None)
        return ctx

    async def connect(self) -> None:
        await self.close()
        options: dict[str, Any] = {
            "servers": self.servers,
            "name": "bmp-agent",
            "allow_reconnect": False,
            "connect_timeout": TIMEOUT,
            "max_reconnect_attempts": 0,
        }
        tls = self._tls()
        if tls is not None:
            options["tls"] = tls
        if self.cfg.nats_credentials:
            options["user_credentials"] = self.cfg.nats_credentials

        async def quiet(exc: Exception) -> None:
            return None  # BusFeed logs what matters: the publish or flush that fails

        options["error_cb"] = quiet
        nc = await nats.connect(**options)
        try:
            await self._ensure_stream(nc)
        except BaseException:
            await nc.close()
            raise
        self.nc = nc

    async def _ensure_stream(self, nc: Client) -> None:
        js = nc.jetstream(timeout=TIMEOUT)
        try:
            info = await js.stream_info(gobmp.STREAM)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=gobmp.STREAM,
                    subjects=self.stream_subjects,
                    storage=StorageType.FILE,
                    retention=RetentionPolicy.INTEREST,
                    max_age=MAX_AGE,
                    num_replicas=1,
                )
            )
            return
        have = list(info.config.subjects or [])
        missing = [s for s in self.stream_subjects if s not in have]
        if missing:
            info.config.subjects = have + missing
            await js.update_stream(info.config)

    async def publish(self, subject: str, key: str, payload: bytes) -> None:
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await nc.publish(subject, payload, headers={"Hash": key})

    async def flush(self) -> None:
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await nc.flush(timeout=TIMEOUT)

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            # A connection already broken has nothing left to close.
            with contextlib.suppress(Exception):
                await nc.close()


def build(host: Host, *, metrics: bool = True) -> BusFeed | None:
    """The NATS feed component when ``export.nats_url`` is set (over a real ``Core``)."""
    cfg = host.config.export
    core: object = host.core  # tests build daemons over stand-in cores
    if not cfg.nats_url or not isinstance(core, Core):
        return None
    feed = BusFeed(
        "nats",
        core,
        NatsProducer(cfg),
        queue_limit=cfg.nats_queue,
        subject_prefix=cfg.nats_subject_prefix,
        reconnect_min=host.config.bmp.reconnect_min,
        reconnect_max=host.config.bmp.reconnect_max,
        reload_check=lambda new: [
            f"export.{f.name}"
            for f in dataclasses.fields(cfg)
            if getattr(new.export, f.name) != getattr(cfg, f.name)
        ],
    )
    if metrics:
        export_collector(host).feeds.append(feed)
    return feed
