"""Shared helpers of the deployment tests (tests/deploy): tools, paths, helm.

The tools come from the CI install (scripts/install-test-deps.sh: prometheus
with promtool, systemd; scripts/get-helm.sh: helm in .venv/bin). A missing
tool fails the test with the command that installs it: these checks are the
point of the tests, so they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "bmp-agent"
RULES = REPO / "deploy" / "prometheus" / "bmp-agent.rules.yaml"
RULES_TEST = REPO / "deploy" / "prometheus" / "bmp-agent.rules.test.yaml"
#: Three nodes of one rack behind one Prometheus (same router and ToR labels).
RULES_FLEET_TEST = REPO / "deploy" / "prometheus" / "bmp-agent.rules.fleet.test.yaml"
RULES_TESTS = (RULES_TEST, RULES_FLEET_TEST)
#: The chart's prometheusRule.runbookUrl default; the rules file holds it rendered.
RUNBOOK_URL = "https://github.com/bmp-agent/bmp-agent/blob/main/charts/bmp-agent/README.md#{anchor}"
DASHBOARDS = CHART / "dashboards"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))

ALERTS = (
    "BMPAgentDown",
    "BMPAgentAbsent",
    "BMPAgentNoRouter",
    "BMPRouterDisconnected",
    "BGPPeerDown",
    "BGPPeerNoRoutes",
    "BGPPeerFlapping",
    "BGPPrefixCountDrop",
    "BGPFIBDrift",
    "BMPDecodeErrors",
    "BGPHealthCheck",
    "BGPMetalLBPodRoutes",
    "BGPCIDROverlap",
    "BGPDCIUnsummarized",
    "BGPLocalOnlyLeak",
)

_INSTALL_HINT = {
    "helm": "bash scripts/get-helm.sh .venv/bin/helm",
    "promtool": "apt-get install prometheus (scripts/install-test-deps.sh)",
    "prometheus": "apt-get install prometheus (scripts/install-test-deps.sh)",
    "systemd-analyze": "apt-get install systemd (scripts/install-test-deps.sh)",
}


def tool(name: str) -> str:
    """Path of a tool: PATH first, then the repository's .venv/bin."""
    found = shutil.which(name)
    if found:
        return found
    local = REPO / ".venv" / "bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    pytest.fail(f"{name} not found; install it with: {_INSTALL_HINT.get(name, name)}")


def run(
    cmd: list[str], *, timeout: float = 120, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def helm_env(home: Path) -> dict[str, str]:
    """helm with private cache/config/data dirs (no state outside the test)."""
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    return env


def helm_template(
    home: Path, values: Path | None = None, *extra: str, release: str = "bmp-agent"
) -> list[dict[str, Any]]:
    cmd = [tool("helm"), "template", release, str(CHART), "--namespace", "monitoring"]
    if values is not None:
        cmd += ["--values", str(values)]
    cmd += list(extra)
    out = run(cmd, env=helm_env(home)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Objects by kind; the dashboards ConfigMap as ``DashboardsConfigMap``, the
    collector mode's BMP Service as ``CollectorService``."""
    out: dict[str, dict[str, Any]] = {}
    for d in docs:
        kind = d["kind"]
        if kind == "ConfigMap" and d["metadata"]["name"].endswith("-dashboards"):
            kind = "DashboardsConfigMap"
        if kind == "Service" and d["metadata"]["name"].endswith("-collector"):
            kind = "CollectorService"
        assert kind not in out, f"two {kind} objects"
        out[kind] = d
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())
