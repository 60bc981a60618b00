"""The atheris harness: every target runs from its seeds and stored crashers
and reports its executions and coverage.

CI fuzz budget: ``SECONDS`` (9 s) per target x 15 targets = 135 s of fuzzing (under
3 minutes with start-up), seeds thinned to ``MAX_SEEDS`` per target so the
first pass over them fits. Longer campaigns: ``make fuzz MINUTES=30``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from reliability_support import REPO

sys.path.insert(0, str(REPO / "fuzz"))
import targets

SECONDS = 9
MAX_SEEDS = 100


def test_every_fuzz_target_runs_and_reports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "fuzz" / "run.py"), "--seconds", str(SECONDS),
         "--max-seeds", str(MAX_SEEDS), "--corpus", str(tmp_path / "corpus"),
         "--crashers", str(tmp_path / "crashers")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    rows = {
        m["name"]: m
        for m in re.finditer(
            r"fuzz: (?P<name>\w+): (?P<execs>\d+) executions in \d+ s "
            r"\(\d+/s; \d+ CPU s, \d+/CPU s\), "
            r"cov (?P<cov>\d+) ft \d+, corpus \d+, (?P<seeds>\d+) seeds, 0 crasher\(s\)",
            out,
        )
    }
    assert set(rows) == set(targets.TARGETS), out
    for name, m in rows.items():
        # every seed runs once before mutation starts; every target is instrumented
        assert int(m["execs"]) >= int(m["seeds"]) >= 1, (name, m.group(0))
        assert int(m["cov"]) > 0, (name, m.group(0))
    # The hot modules are instrumented even where a compiled build is
    # installed (``make test`` builds one): the uninstrumented reader gave 6.
    assert int(rows["bmp_framing"]["cov"]) >= 20, rows["bmp_framing"].group(0)
    total = re.search(r"fuzz: (\d+) executions in [\d.]+ min, 0 crasher\(s\)", out)
    assert total is not None and int(total.group(1)) == sum(
        int(m["execs"]) for m in rows.values()
    ), out
    assert list((tmp_path / "crashers").glob("*/crash-*")) == []
