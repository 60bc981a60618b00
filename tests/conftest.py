"""Shared pytest fixtures. Keep this file small: one documented fixture per
concern; helpers belong in their own modules (``lab/``, ``oracle/``).

``tests/`` is on ``sys.path`` (pytest's rootdir-less conftest), so test modules
import the lab harness as ``from lab import ...``.

Fixtures
--------
lab_env
    Session-wide: deletes leftover lab namespaces of dead test runs once.
    Needs root; skips (or fails when ``CI=true``) otherwise.
lab_topo
    A fresh standard lab (``lab.LabTopology``): namespaces ``inj`` (ExaBGP),
    ``spk`` (speaker), ``col`` (collector) with the golden captures'
    addresses, deleted with every process in them after the test. Tests add
    their own ``lab.require("frr", "exabgp", ...)`` for the speakers they use.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis_profiles  # noqa: F401  (registers and loads the gate/hunt profiles)
import lab as lab_harness
import pytest


@pytest.fixture(scope="session")
def lab_env() -> None:
    lab_harness.require()
    lab_harness.cleanup_stale()


@pytest.fixture
def lab_topo(lab_env: None) -> Iterator[lab_harness.LabTopology]:
    with lab_harness.lab_topology() as topo:
        yield topo
