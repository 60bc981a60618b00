"""Fixtures of the agent tests.

daemon
    A running ``Daemon`` with the default config, BMP and HTTP on loopback port 0,
    its log records captured (``d.captured_logs``) so stdout stays for CLI output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from daemon_support import loopback_config, serving
from structlog.testing import capture_logs

from agent.app import build_daemon
from agent.daemon import Daemon


@pytest.fixture
async def daemon() -> AsyncIterator[Daemon]:
    with capture_logs() as logs:
        d = build_daemon(loopback_config())
        d.captured_logs = logs  # type: ignore[attr-defined]
        async with serving(d):
            yield d
