"""The compiled and the pure-Python hot path pass the same equivalence tests.

The suite itself runs on whatever build is installed (``make test`` runs it on
the compiled one and sets ``BMP_HOTPATH_EXPECT=compiled``, so a build that
silently fell back to pure Python fails here). The fast-vs-spec equivalence
tests (``test_fast_equivalence.py``, Hypothesis included, and the batched
ingest's ``tests/agent/test_batched_ingest.py``) are run once more in
a subprocess with ``BMP_HOTPATH=pure``, which loads the ``.py`` source of every
hot module (``parsers.hotpath``): both builds are held to the spec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent import build
from parsers import hotpath

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


def _run(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != hotpath.ENV_PURE} | env_extra
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


def _builds(env_extra: dict[str, str]) -> dict[str, str]:
    code = (
        "import agent.core.rib, parsers.bmp.session, parsers.bmp.fast, parsers.bgp.fast\n"
        "from parsers import hotpath\n"
        "for n in hotpath.HOT_MODULES: print(n, hotpath.module_build(n))\n"
    )
    out = _run(env_extra, "-c", code)
    assert out.returncode == 0, out.stderr
    return dict(line.split() for line in out.stdout.splitlines())


def test_the_suite_runs_on_the_compiled_build_when_asked() -> None:
    if os.environ.get("BMP_HOTPATH_EXPECT", "") != "compiled":
        pytest.skip("BMP_HOTPATH_EXPECT=compiled not set (make test sets it)")
    assert build.describe() == "hot path: compiled (mypyc)"
    assert build.compiled() is True
    assert {n: hotpath.module_build(n) for n in hotpath.HOT_MODULES} == dict.fromkeys(
        hotpath.HOT_MODULES, "compiled"
    )


def test_pure_env_loads_every_hot_module_from_its_source() -> None:
    assert _builds({hotpath.ENV_PURE: "pure"}) == dict.fromkeys(hotpath.HOT_MODULES, "pure")
    # Any other value: whatever is installed runs, as with no value at all
    # (not necessarily this process's build: the suite may run forced pure).
    installed = _builds({})
    assert len(set(installed.values())) == 1, installed  # all or nothing
    assert _builds({hotpath.ENV_PURE: "auto"}) == installed


def test_version_names_the_build() -> None:
    pure = _run({hotpath.ENV_PURE: "pure"}, "-m", "agent.cli.main", "--version")
    assert pure.returncode == 0, pure.stderr
    assert (
        pure.stdout == f"bmp-agent {build.__version__} (hot path: pure Python (BMP_HOTPATH=pure))\n"
    )
    # Without the variable: the build that such a process runs (this one's
    # when the suite is not itself forced pure).
    here = _run({}, "-m", "agent.cli.main", "--version")
    runs = _run({}, "-c", "from agent import build; print(build.describe())")
    assert runs.returncode == 0, runs.stderr
    assert here.stdout == f"bmp-agent {build.__version__} ({runs.stdout.strip()})\n"
    if not hotpath.FORCED_PURE:
        assert runs.stdout.strip() == build.describe()


def test_this_process_runs_the_build_the_env_asks_for() -> None:
    if os.environ.get(hotpath.ENV_PURE, "") != "pure":
        pytest.skip(f"{hotpath.ENV_PURE}=pure not set")
    assert hotpath.FORCED_PURE is True
    assert build.compiled() is False
    assert {n: hotpath.module_build(n) for n in hotpath.HOT_MODULES} == dict.fromkeys(
        hotpath.HOT_MODULES, "pure"
    )


@pytest.mark.slow
def test_equivalence_tests_pass_on_the_pure_build() -> None:
    out = _run(
        {hotpath.ENV_PURE: "pure"},
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(TESTS / "parsers" / "test_fast_equivalence.py"),
        str(TESTS / "parsers" / "test_add_path.py"),
        str(TESTS / "agent" / "test_ingest_path.py"),
        str(TESTS / "agent" / "test_batched_ingest.py"),
        f"{TESTS / 'parsers' / 'test_both_builds.py'}::test_this_process_runs_the_build_the_env_asks_for",
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout and "skipped" not in out.stdout
