"""systemd's readiness protocol (sd_notify) without a dependency.

With ``Type=notify`` systemd starts the agent with ``NOTIFY_SOCKET`` set to
a datagram socket (a path, or ``@name`` for the abstract namespace) and waits
for ``READY=1`` before it counts the unit as started, so ``Before=frr.service``
means "FRR starts once the BMP listeners are bound". The agent sends
``READY=1`` when every listener is bound, ``RELOADING=1`` (with
``MONOTONIC_USEC``) and then ``READY=1`` around a SIGHUP reload, and
``STOPPING=1`` when it starts shutting down; ``STATUS=`` lines say what it
does. Without ``NOTIFY_SOCKET`` (no systemd, a container) every call is a
no-op. The protocol: one datagram of ``KEY=VALUE`` lines per notification
(sd_notify(3)).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

ENV = "NOTIFY_SOCKET"


def _address(value: str) -> str | bytes:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def notify(*lines: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``lines`` (``READY=1``, ``STATUS=...``) as one notification.

    Returns whether it was sent; a missing or unreachable socket is not an
    error (systemd only listens under ``Type=notify``)."""
    env = os.environ if environ is None else environ
    target = env.get(ENV, "")
    if not target or not (target.startswith("/") or target.startswith("@")):
        return False
    message = "\n".join(lines).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(target))
            sock.sendall(message)
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading the config")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=shutting down")
