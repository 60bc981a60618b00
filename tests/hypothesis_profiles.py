"""Hypothesis profiles, registered from ``tests/conftest.py``.

``gate`` (the default, and what CI runs): fixed seed (``derandomize``), no
example database and no deadline, so a run is fast and gives the same
verdict on every machine. ``hunt``: random seeds, many more examples and the
example database, for bug hunting::

    HYPOTHESIS_PROFILE=hunt python3 -m pytest tests/reliability -k property

Tests that pin their own ``max_examples`` keep it under both profiles; the
parser properties in ``tests/reliability/test_parser_properties.py`` scale
with the profile through ``scaled(n)``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

GATE = "gate"
HUNT = "hunt"
#: Multiplier ``scaled`` applies under ``hunt``.
HUNT_FACTOR = 50

settings.register_profile(
    GATE,
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    HUNT,
    derandomize=False,
    deadline=None,
    max_examples=100 * HUNT_FACTOR,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", GATE)
settings.load_profile(PROFILE)


def scaled(n: int) -> int:
    """``n`` examples under ``gate``, ``HUNT_FACTOR`` times more under ``hunt``."""
    return n * HUNT_FACTOR if PROFILE == HUNT else n
