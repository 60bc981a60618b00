"""The atheris harness runs with one command and reports its executions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from reliability_support import REPO


def test_fuzz_harness_runs_and_reports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "fuzz" / "run.py"), "--minutes", "0.2", "--max-seeds", "150",
         "--corpus", str(tmp_path / "corpus"), "--crashers", str(tmp_path / "crashers")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seeds = re.search(r"fuzz: (\d+) seeds", done.stdout)
    summary = re.search(r"fuzz: (\d+) executions in 0.2 min, 0 crasher\(s\)", done.stdout)
    assert seeds is not None and 100 <= int(seeds.group(1)) <= 150, done.stdout
    # Every seed runs once before mutation starts.
    assert summary is not None and int(summary.group(1)) >= int(seeds.group(1)), done.stdout
    assert list((tmp_path / "crashers").iterdir()) == []
