"""Which router's choice is compared with this kernel."""

from __future__ import annotations

from agent.config import FibConfig
from agent.core import Core
from agent.fib.reconciler import FibReconciler


def test_local_router_is_a_local_bmp_address_or_a_bird_socket() -> None:
    core = Core()
    core.open_session("192.0.2.10", 40000)  # a remote router (TEST-NET-1)
    fib = FibReconciler(FibConfig(), core)
    assert fib.local_router() is None
    core.open_session("bird.ctl", 0, mode="poll", source="bird")
    chosen = fib.local_router()
    assert chosen is not None and chosen.label == "bird.ctl"
    core.open_session("127.0.0.1", 40001)
    chosen = fib.local_router()
    # several local candidates: the first up one by label, deterministically
    assert chosen is not None and chosen.label == "127.0.0.1"
    named = FibReconciler(FibConfig(router="192.0.2.10"), core).local_router()
    assert named is not None and named.label == "192.0.2.10"
