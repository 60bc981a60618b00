"""Reconnect backoff shared by everything that dials out (BMP active mode, the relay, NATS).

Exponential with full jitter: attempt ``n`` (0-based) waits
``uniform(low, min(high, low * 2**n))``.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int, low: float, high: float, rand: Callable[[float, float], float] = random.uniform
) -> float:
    """Delay before reconnect ``attempt`` (0-based): jittered, capped at ``high``."""
    cap = min(high, low * (2 ** min(attempt, 32)))
    return rand(low, max(low, cap))
