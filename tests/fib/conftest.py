"""Fixtures of the FIB tests.

fns
    A fresh ``fibns.fib_netns()`` with no routes (needs root). A module whose
    kernel starts with routes overrides it: ``def fns(fns): fns.batch(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fibns import FibNs, fib_netns


@pytest.fixture
def fns() -> Iterator[FibNs]:
    with fib_netns() as f:
        yield f
