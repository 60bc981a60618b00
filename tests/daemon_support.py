"""A real ``Daemon`` on loopback for the tests that go through its HTTP API (no
tests here). ``tests/`` is on ``sys.path``, so test modules import this by name.

``loopback_config(section={field: value, ...})``: the defaults with the BMP and
HTTP listeners on 127.0.0.1, port 0, then the given fields of each section.
``serving(d)``: starts ``d``, yields its HTTP base URL, stops it.
``api_client(cfg, feed)``: a daemon built from ``cfg`` (logs captured), ``feed(core)``
before it starts, serving: yields it, its base URL and a client session on it.
``run_cmd(cmd, *argv)``: a subcommand module (``add_parser``, ``run``) on ``argv``:
its exit code and stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import aiohttp
from structlog.testing import capture_logs

from agent.app import build_daemon
from agent.config import Config, Endpoint, load
from agent.core import Core
from agent.daemon import Daemon


def loopback_config(**sections: dict[str, Any]) -> Config:
    cfg = load(environ={})
    cfg = dataclasses.replace(
        cfg,
        bmp=dataclasses.replace(cfg.bmp, listen=(Endpoint("127.0.0.1", 0),)),
        http=dataclasses.replace(cfg.http, listen=Endpoint("127.0.0.1", 0)),
    )
    changes = {name: dataclasses.replace(getattr(cfg, name), **f) for name, f in sections.items()}
    return dataclasses.replace(cfg, **changes)


@contextlib.asynccontextmanager
async def serving(d: Daemon) -> AsyncIterator[str]:
    await d.start()
    try:
        yield f"http://{d.http_addresses[0]}"
    finally:
        await d.stop()


@contextlib.asynccontextmanager
async def api_client(
    cfg: Config, feed: Callable[[Core], None] | None = None
) -> AsyncIterator[tuple[Daemon, str, aiohttp.ClientSession]]:
    with capture_logs():
        d = build_daemon(cfg)
        if feed is not None:
            feed(d.core)
        async with serving(d) as base, aiohttp.ClientSession(base_url=base) as session:
            yield d, base, session


def run_cmd(cmd: ModuleType, *argv: str) -> tuple[int, str]:
    p = argparse.ArgumentParser()
    cmd.add_parser(p.add_subparsers())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code: int = cmd.run(p.parse_args(list(argv)))
    return code, out.getvalue()
