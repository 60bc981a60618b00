"""Dependencies: compatible ranges, floors above known advisories, pip-audit.

``pip-audit`` needs the network to reach a vulnerability database (OSV, or
the package index's JSON API with its vulnerability data). Where neither is
reachable (an offline CI runner, a mirror without vulnerability data), the
audit is informative: the test prints why and is skipped, it does not fail.
Online, any known vulnerability in an installed dependency fails it. The
offline floor check below still holds the pins above the advisories known
when they were set.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from reliability_support import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
TEST = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]

#: Lowest release without a published advisory, for dependencies that had one:
#: aiohttp (request smuggling, path traversal, decompression bombs up to 3.13.2),
#: PyYAML (arbitrary code execution in full_load before 5.4).
FLOORS = {"aiohttp": Version("3.13.3"), "pyyaml": Version("5.4")}

UNREACHABLE = re.compile(
    r"ConnectionError|NameResolution|Failed to resolve|Max retries exceeded|"
    r"Temporary failure in name resolution|timed out|Network is unreachable"
)


def _lower(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "~=", "==")]
    return max(lows) if lows else None


@pytest.mark.parametrize("req", RUNTIME + TEST, ids=lambda r: r.name)
def test_pinned_to_a_compatible_range(req: Requirement) -> None:
    ops = {s.operator for s in req.specifier}
    assert ops & {">=", "~=", "=="}, f"{req}: no lower bound"
    assert ops & {"<", "~=", "=="}, f"{req}: no upper bound"


def test_floors_exclude_known_vulnerable_releases() -> None:
    by_name = {canonicalize_name(r.name): r for r in RUNTIME + TEST}
    for name, floor in FLOORS.items():
        low = _lower(by_name[name])
        assert low is not None and low >= floor, f"{by_name[name]} admits releases below {floor}"


def _closure(reqs: list[Requirement]) -> dict[str, str]:
    """Installed name → version of ``reqs`` and their runtime dependencies."""
    out: dict[str, str] = {}
    todo = [r.name for r in reqs if r.marker is None or r.marker.evaluate()]
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = canonicalize_name(dist.metadata["Name"])
        if key in out:
            continue
        out[key] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub.name)
    return out


def test_installed_runtime_dependencies_satisfy_the_pins() -> None:
    installed = _closure(RUNTIME)
    for req in RUNTIME:
        version = installed[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), (
            f"installed {req.name} {version} is outside {req.specifier}"
        )


def test_pip_audit(tmp_path: Path) -> None:
    if shutil.which("pip-audit") is None and not _has_module("pip_audit"):
        pytest.fail("pip-audit is not installed (it is in the test extra)")
    pins = _closure(RUNTIME)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    reasons = []
    for service in ("osv", "pypi"):
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", "-r", str(reqs), "--no-deps", "--disable-pip",
             "--vulnerability-service", service, "--format", "json", "--progress-spinner", "off"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if UNREACHABLE.search(done.stderr):
            reasons.append(f"{service}: vulnerability database unreachable")
            continue
        try:
            report = json.loads(done.stdout)
        except ValueError:
            pytest.fail(f"pip-audit ({service}) gave no report: {done.stderr[-2000:]}")
        deps = report.get("dependencies", [])
        audited = [d for d in deps if "skip_reason" not in d]
        if not audited:
            reasons.append(f"{service}: no dependency could be looked up ({deps[:1]})")
            continue
        vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in audited if d["vulns"]}
        print(f"\npip-audit ({service}): {len(audited)} packages audited, vulnerable: {vulnerable}")
        assert vulnerable == {}
        return
    pytest.skip("informative, not run: " + "; ".join(reasons))


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# ----------------------------------------------------------------------------- the lock files

LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.M)


def _lock(name: str) -> dict[str, Version]:
    text = (REPO / "requirements" / name).read_text()
    pins = {canonicalize_name(n): Version(v) for n, v in LOCK_LINE.findall(text)}
    # Every pin carries at least one hash, so pip's --require-hashes accepts the file.
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text[text.index("\n\n") :].strip())
    assert len(blocks) == len(pins), f"{name}: a line is neither a pin nor its hashes"
    for block in blocks:
        assert "--hash=sha256:" in block, f"{name}: no hash for {block.splitlines()[0]}"
    return pins


@pytest.mark.parametrize(("name", "reqs"), [("runtime.txt", RUNTIME), ("test.txt", RUNTIME + TEST)])
def test_lock_files_pin_every_declared_dependency_within_its_range(
    name: str, reqs: list[Requirement]
) -> None:
    """requirements/*.txt (``make lock``) pin what pyproject.toml declares, inside
    its ranges: a dependency added or narrowed without renewing the lock fails."""
    pins = _lock(name)
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned is not None, f"{name}: {req.name} is not locked (run make lock)"
        assert req.specifier.contains(pinned, prereleases=True), (
            f"{name}: {req.name}=={pinned} is outside {req.specifier} (run make lock)"
        )


def test_installed_packages_are_the_locked_ones() -> None:
    """make test installs exactly requirements/test.txt (pip --require-hashes)."""
    pins = _lock("test.txt")
    wrong = {
        n: (str(v), metadata.version(n))
        for n, v in pins.items()
        if _has_distribution(n) and Version(metadata.version(n)) != v
    }
    assert wrong == {}


def _has_distribution(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True
