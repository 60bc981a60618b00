"""The test lab: real BGP speakers (FRR 8.4, GoBGP, BIRD 3) fed by ExaBGP, in
network namespaces, sending BMP to a sink or to the agent. See docs/lab.md.

Import as ``from lab import ...`` (``tests/`` is on ``sys.path`` through
``tests/conftest.py``, like ``oracle``). Needs root; ``require()`` skips a test
when a prerequisite is missing, and fails it instead when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import bmpwire
from .bmpwire import (
    INITIATION,
    PEER_DOWN,
    PEER_UP,
    ROUTE_MONITORING,
    STATISTICS_REPORT,
    TERMINATION,
    Summary,
    summarize,
)
from .exabgp import ExaBgp, ExaPeer, exabgp_config, lab_peers
from .netns import (
    COLLECTOR_V4,
    COLLECTOR_V6,
    INJ_A2_V4,
    INJ_A_V4,
    INJ_B2_V6,
    INJ_B_V6,
    SPEAKER_COL_V4,
    SPEAKER_COL_V6,
    SPEAKER_V4,
    SPEAKER_V6,
    LabError,
    LabTopology,
    Namespace,
    Topology,
    build_lab,
    call_in_ns,
    cleanup_stale,
    enter_ns,
    lab_topology,
    poll,
    socket_in,
    tail,
    wait_until,
)
from .sink import BmpSink
from .speakers import (
    BMP_PORT,
    Bird,
    BmpTarget,
    Frr,
    GoBgp,
    Neighbor,
    Speaker,
    SpeakerConfig,
    bird3_dir,
    bird_config,
    frr_bgpd_config,
    gobgp_config,
    lab_neighbors,
    make_speaker,
)

#: what each lab component needs on the machine
TOOLS: dict[str, tuple[str, ...]] = {
    "netns": ("ip",),
    "frr": ("/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "vtysh"),
    "gobgp": ("gobgpd", "gobgp"),
    "bird": (),  # checked through bird3_dir()
    "exabgp": ("exabgp", "/usr/bin/python3"),
}


def missing_prerequisites(*components: str) -> list[str]:
    """Why the lab cannot run ``components`` here (empty when it can)."""
    why = []
    if os.geteuid() != 0:
        why.append("needs root (network namespaces)")
    for comp in ("netns", *components):
        for tool in TOOLS[comp]:
            found = Path(tool).exists() if tool.startswith("/") else shutil.which(tool)
            if not found:
                why.append(f"{comp}: {tool} not found (scripts/install-test-deps.sh)")
        if comp == "bird" and not (bird3_dir() / "bird").exists():
            why.append(f"bird: BIRD 3 not in {bird3_dir()} (scripts/get-bird3.sh)")
    return why


def require(*components: str) -> None:
    """Skip the calling test when a prerequisite is missing; with ``CI=true`` fail it."""
    import pytest

    why = missing_prerequisites(*components)
    if not why:
        return
    reason = "lab prerequisites missing: " + "; ".join(why)
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(reason + " (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


__all__ = [
    "BMP_PORT",
    "COLLECTOR_V4",
    "COLLECTOR_V6",
    "INITIATION",
    "INJ_A2_V4",
    "INJ_A_V4",
    "INJ_B2_V6",
    "INJ_B_V6",
    "PEER_DOWN",
    "PEER_UP",
    "ROUTE_MONITORING",
    "SPEAKER_COL_V4",
    "SPEAKER_COL_V6",
    "SPEAKER_V4",
    "SPEAKER_V6",
    "STATISTICS_REPORT",
    "TERMINATION",
    "TOOLS",
    "Bird",
    "BmpSink",
    "BmpTarget",
    "ExaBgp",
    "ExaPeer",
    "Frr",
    "GoBgp",
    "LabError",
    "LabTopology",
    "Namespace",
    "Neighbor",
    "Speaker",
    "SpeakerConfig",
    "Summary",
    "Topology",
    "bird3_dir",
    "bird_config",
    "bmpwire",
    "build_lab",
    "call_in_ns",
    "cleanup_stale",
    "enter_ns",
    "exabgp_config",
    "frr_bgpd_config",
    "gobgp_config",
    "lab_neighbors",
    "lab_peers",
    "lab_topology",
    "make_speaker",
    "missing_prerequisites",
    "poll",
    "require",
    "socket_in",
    "summarize",
    "tail",
    "wait_until",
]
