"""Fuzz everything that takes bytes from a router, for N minutes.

    python3 fuzz/run.py --minutes 15          # or: make fuzz MINUTES=15

Runs the atheris (libFuzzer) harness on ``fuzz/target.py``, seeded from the
golden captures (``fuzz/seeds.py``). The growing corpus lives in
``fuzz/corpus/`` (not committed). When libFuzzer finds a crash it stops; this
driver copies the input to ``tests/data/crashers/crash-<sha1>`` (a regression
input replayed by ``tests/reliability/test_crashers.py``), prints the error,
and starts libFuzzer again until the time is up. At the end it prints the
total number of executions and the crashers found.

``--child`` is the libFuzzer process itself (internal).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CRASHERS = ROOT / "tests" / "data" / "crashers"
CORPUS = HERE / "corpus"


def child(argv: list[str]) -> None:
    import atheris

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["parsers", "agent", "target"]):
        import target

    def one_input(data: bytes) -> None:
        target.check(data)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="total fuzzing time (default 10)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="working corpus directory")
    ap.add_argument("--max-len", type=int, default=16384, help="largest input in bytes")
    ap.add_argument(
        "--crashers", type=Path, default=CRASHERS, help="where crashing inputs are stored"
    )
    ap.add_argument(
        "--max-seeds", type=int, default=None, help="use only this many seeds (smoke runs)"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        child([sys.argv[0], *rest])
        return 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    import seeds

    args.corpus.mkdir(parents=True, exist_ok=True)
    args.crashers.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.minutes * 60
    executions = 0
    found: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="bmp-fuzz-") as tmp:
        seed_dir = Path(tmp) / "seeds"
        n = seeds.write_seeds(seed_dir, args.max_seeds)
        print(f"fuzz: {n} seeds from {seeds.CAPTURES}, corpus {args.corpus}", flush=True)
        artifacts = Path(tmp) / "artifacts"
        artifacts.mkdir()
        while (left := int(deadline - time.monotonic())) > 5:
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                f"-max_total_time={left}",
                f"-max_len={args.max_len}",
                "-timeout=20",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
                f"-artifact_prefix={artifacts}/",
                str(args.corpus),
                str(seed_dir),
            ]
            proc = subprocess.run(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
            )
            log = proc.stderr
            runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
            if runs:
                executions += int(runs[-1])
            else:
                done = re.findall(r"^#(\d+)\s", log, re.M)
                executions += int(done[-1]) if done else 0
            new = sorted(artifacts.iterdir())
            for art in new:
                data = art.read_bytes()
                dest = args.crashers / f"crash-{hashlib.sha1(data).hexdigest()}"
                shutil.copyfile(art, dest)
                art.unlink()
                found.append(dest)
                tail = "\n".join(log.splitlines()[-40:])
                print(f"fuzz: crasher {dest.name}\n{tail}", flush=True)
            if not new and proc.returncode != 0:
                print(f"fuzz: libFuzzer exited {proc.returncode}\n{log[-4000:]}", file=sys.stderr)
                return 1
            if not new:
                break
    print(
        f"fuzz: {executions} executions in {args.minutes:g} min, "
        f"{len(found)} crasher(s){': ' if found else ''}{', '.join(p.name for p in found)}",
        flush=True,
    )
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
