"""Fuzz the decoders, one atheris (libFuzzer) target at a time.

    python3 fuzz/run.py --minutes 30            # or: make fuzz MINUTES=30
    python3 fuzz/run.py --seconds 15            # 15 s per target (the CI smoke)
    python3 fuzz/run.py --targets netlink,config --seconds 60

The targets are ``fuzz/targets.py`` (``TARGETS``): BMP framing, each BMP
message type, BGP UPDATE and attributes, the fast path against the spec, the
BIRD output parser, the netlink parser, the config loader, and the combined
session target (``fuzz/target.py``). ``--minutes`` is shared evenly among the
chosen targets; ``--seconds`` gives each target that long instead.

Each target starts from its seeds (cut from the golden captures and recorded
BIRD output) and its stored crashers (``tests/data/crashers/<target>/``);
its growing corpus lives in ``fuzz/corpus/<target>/`` (not committed). When
libFuzzer finds a crash, the input is copied to
``tests/data/crashers/<target>/crash-<sha1>`` (replayed by
``tests/reliability/test_crashers.py``), the error is printed, and the
target runs again until its time is up. Per target it prints the executions,
executions per second (of wall time, and per CPU second of the
libFuzzer process: the rate it would have on a core of its own), coverage (libFuzzer's ``cov``/``ft``: instrumented
edges and features) and corpus size; at the end the totals.

``--child NAME`` is the libFuzzer process itself (internal).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CRASHERS = ROOT / "tests" / "data" / "crashers"
CORPUS = HERE / "corpus"


#: ``BMP_FUZZ_WIDE=1``: instrument every module of the targets' top-level
#: packages, as atheris' ``include`` does by itself (the old behaviour, to
#: measure a corpus' reach on the same edges before and after a change).
WIDE = "BMP_FUZZ_WIDE"


def not_instrumented(instrument: tuple[str, ...]) -> list[str]:
    """The modules of ``instrument``'s top-level packages that are not in it.

    atheris' ``include`` works by top-level package: ``parsers.bmp.reader``
    instruments every ``parsers`` module imported meanwhile (the construct
    spec decoders, rendering, ...), which the target then pays for on every
    input. These go to ``exclude`` so only the modules named (and their
    submodules) are instrumented."""
    out = []
    for top in sorted({m.split(".")[0] for m in instrument}):
        path = ROOT / top
        if not (path / "__init__.py").exists():
            continue  # a single module (fuzz/target.py)
        # from the file tree: walk_packages would import the packages, and a
        # module imported before the hook is never instrumented
        names = [
            ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for f in sorted(path.rglob("*.py"))
        ]
        out += [n for n in names if not any(n == m or n.startswith(m + ".") for m in instrument)]
    return out


def child(name: str, argv: list[str]) -> None:
    # The hot modules run as source: a compiled (mypyc) build cannot be
    # instrumented. parsers.hotpath's finder of their sources goes first, so
    # that atheris' finder, inserted in front of it, instruments them: a hot
    # module found by hotpath after atheris' hook is never instrumented, and
    # its targets fuzz blind (framing: 6 edges).
    os.environ["BMP_HOTPATH"] = "pure"
    sys.path.insert(0, str(ROOT))
    import parsers.hotpath

    assert parsers.hotpath.FORCED_PURE
    import atheris

    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    import targets

    target = targets.TARGETS[name]
    exclude = [] if os.environ.get(WIDE) else not_instrumented(target.instrument)
    with atheris.instrument_imports(include=list(target.instrument), exclude=exclude):
        for module in target.instrument:
            importlib.import_module(module)
    if target.setup is not None:
        target.setup()
    check = target.check

    def one_input(data: bytes) -> None:
        check(data)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


@dataclass
class Result:
    name: str
    executions: int = 0
    seconds: float = 0.0
    #: CPU seconds of the libFuzzer processes (user + system).
    cpu: float = 0.0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    seeds: int = 0
    crashers: int = 0

    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        """Executions per CPU second: the rate on a core of its own."""
        return self.executions / self.cpu if self.cpu else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_log(log: str, result: Result) -> None:
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    if runs:
        result.executions += int(runs[-1])
    else:
        done = re.findall(r"^#(\d+)\s", log, re.M)
        result.executions += int(done[-1]) if done else 0
    cov = re.findall(r"cov: (\d+) ft: (\d+)(?: corp: (\d+))?", log)
    if cov:
        c, f, corp = cov[-1]
        result.cov = max(result.cov, int(c))
        result.ft = max(result.ft, int(f))
        if corp:
            result.corpus = int(corp)


def run_target(
    name: str, seconds: float, args: argparse.Namespace, tmp: Path, found: list[Path]
) -> Result | None:
    import targets

    target = targets.TARGETS[name]
    result = Result(name)
    seed_dir = tmp / "seeds" / name
    seed_dir.mkdir(parents=True)
    seeds = list(target.seeds())
    if args.max_seeds is not None and len(seeds) > args.max_seeds:
        seeds = seeds[:: -(-len(seeds) // args.max_seeds)]
    names = set()
    for seed in seeds:
        seed = seed[: target.max_len]
        sha = hashlib.sha1(seed).hexdigest()
        if sha not in names:
            names.add(sha)
            (seed_dir / sha).write_bytes(seed)
    crash_dir = args.crashers / name
    stored = [CRASHERS / name, crash_dir] + ([CRASHERS] if name == "session" else [])
    for directory in stored:  # the regression inputs seed the corpus too
        if directory.is_dir():
            for path in directory.glob("crash-*"):
                shutil.copyfile(path, seed_dir / path.name)
    result.seeds = len(list(seed_dir.iterdir()))
    corpus = args.corpus / name
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = tmp / "artifacts" / name
    artifacts.mkdir(parents=True)
    start = time.monotonic()
    deadline = start + seconds
    while (left := int(deadline - time.monotonic())) >= 1:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            name,
            f"-max_total_time={left}",
            f"-max_len={target.max_len}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
            str(seed_dir),
        ]
        cpu0 = _children_cpu()
        proc = subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        result.cpu += _children_cpu() - cpu0
        log = proc.stderr
        parse_log(log, result)
        new = sorted(artifacts.iterdir())
        for art in new:
            data = art.read_bytes()
            crash_dir.mkdir(parents=True, exist_ok=True)
            dest = crash_dir / f"crash-{hashlib.sha1(data).hexdigest()}"
            shutil.copyfile(art, dest)
            art.unlink()
            found.append(dest)
            result.crashers += 1
            tail = "\n".join(log.splitlines()[-40:])
            print(f"fuzz: {name}: crasher {_show(dest)}\n{tail}", flush=True)
        if not new and proc.returncode != 0:
            print(
                f"fuzz: {name}: libFuzzer exited {proc.returncode}\n{log[-4000:]}", file=sys.stderr
            )
            return None
        if not new:
            break
    result.seconds = time.monotonic() - start
    result.corpus = result.corpus or len(list(corpus.iterdir()))
    print(
        f"fuzz: {name}: {result.executions} executions in {result.seconds:.0f} s "
        f"({result.rate:.0f}/s; {result.cpu:.0f} CPU s, {result.cpu_rate:.0f}/CPU s),"
        f" cov {result.cov} ft {result.ft}, corpus {result.corpus}, "
        f"{result.seeds} seeds, {result.crashers} crasher(s)",
        flush=True,
    )
    return result


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--minutes", type=float, default=10.0, help="total time, shared by the targets (10)"
    )
    ap.add_argument("--seconds", type=float, help="time per target (instead of --minutes)")
    ap.add_argument("--targets", help="comma-separated target names (default: all)")
    ap.add_argument("--list", action="store_true", help="list the targets and exit")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="working corpus directory")
    ap.add_argument(
        "--crashers", type=Path, default=CRASHERS, help="where crashing inputs are stored"
    )
    ap.add_argument("--max-seeds", type=int, default=None, help="at most this many seeds each")
    ap.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        child(args.child, [sys.argv[0], *rest])
        return 0
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    import targets

    if args.list:
        for name in targets.TARGETS:
            print(name)
        return 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 2
    names = list(targets.TARGETS) if not args.targets else args.targets.split(",")
    unknown = [n for n in names if n not in targets.TARGETS]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    per_target = args.seconds if args.seconds is not None else args.minutes * 60 / len(names)
    total_minutes = per_target * len(names) / 60
    print(
        f"fuzz: {len(names)} target(s), {per_target:.0f} s each, corpus {args.corpus}",
        flush=True,
    )
    args.corpus.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bmp-fuzz-") as tmp:
        for name in names:
            res = run_target(name, per_target, args, Path(tmp), found)
            if res is None:
                return 1
            results.append(res)
    executions = sum(r.executions for r in results)
    seeds = sum(r.seeds for r in results)
    print(f"fuzz: {seeds} seeds", flush=True)
    print(
        f"fuzz: {executions} executions in {total_minutes:g} min, "
        f"{len(found)} crasher(s){': ' if found else ''}"
        f"{', '.join(_show(p) for p in found)}",
        flush=True,
    )
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
