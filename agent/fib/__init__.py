"""Kernel FIB reconciliation: is BGP's choice really in the kernel?

``netlink`` reads the kernel's routes (dump + notifications, a lean
decoder); ``expected`` rebuilds the local router's selection from BMP (Loc-RIB,
or the RFC 4271 decision process over post-policy Adj-RIB-In); ``diff``
compares them with a grace period; ``reconciler`` runs it as a daemon
component; ``component`` adds ``/api/v1/fib/diff`` and the ``bmp_fib_*``
metrics. ``bmp-agent fib-diff`` (``agent.fib_cmd``) prints the drift.
"""

from __future__ import annotations

from .component import FibCollector, attach, diff_view
from .diff import DRIFT_STATES, STATES, DriftTracker, compare, matches
from .expected import MODES, decide, expected_routes, select
from .reconciler import FibReconciler, is_local_address

__all__ = [
    "DRIFT_STATES",
    "MODES",
    "STATES",
    "DriftTracker",
    "FibCollector",
    "FibReconciler",
    "attach",
    "compare",
    "decide",
    "diff_view",
    "expected_routes",
    "is_local_address",
    "matches",
    "select",
]
