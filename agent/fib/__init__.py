"""Kernel FIB reconciliation: is BGP's choice really in the kernel?

``netlink`` reads the kernel's routes (dump + notifications, a lean
decoder; standard library only, so it runs anywhere, as any user);
``expected`` rebuilds the local router's selection from BMP (Loc-RIB, or the
RFC 4271 decision process over post-policy Adj-RIB-In); ``diff`` compares
them with a grace period; ``consistency`` tells a kernel that is wrong from a
router's BMP feed that contradicts itself (``bmp_inconsistent``);
``reconciler`` runs it as a daemon component;
``component`` builds it with ``/api/v1/fib/diff`` and the ``bmp_fib_*``
metrics from an ``agent.host.Host``; ``cmd`` is ``bmp-agent fib-diff``.

Submodules are imported on use: ``from agent.fib import netlink`` pulls in
neither aiohttp nor prometheus_client.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("netlink", "expected", "diff", "consistency", "reconciler", "component", "cmd"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(name)
