"""Shared helpers of the benchmarks: run ``bmp-agent`` and ``pmbmpd`` as
subprocesses, read their RSS and CPU from /proc, poll the agent's API.

Nothing here asserts; the benchmarks print what they measure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.procs import AgentProcess, Child, agent_argv, free_port, stop  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = status_like("/proc/meminfo", "MemTotal")
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "ram": f"{mem / 1024 / 1024:.1f} GiB",
        "python": sys.version.split()[0],
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def status_like(path: str, field: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def print_machine() -> None:
    m = machine()
    print(
        f"# {m['date']}  nproc {m['nproc']}  {m['cpu']}  RAM {m['ram']}"
        f"  python {m['python']}  load {m['load']}"
    )


# -- bmp-agent -------------------------------------------------------------------


class Agent(AgentProcess):
    def routes(self) -> int:
        """RIB routes over every router (``/api/v1/routers``)."""
        return sum(r["routes"] for r in self.get_json("/api/v1/routers")["routers"])


@contextlib.contextmanager
def run_agent(*extra: str, env: dict[str, str] | None = None) -> Iterator[Agent]:
    """``bmp-agent run`` from this tree on free loopback ports (warning-level logs)."""
    bmp_port, http_port = free_port(), free_port()
    argv = agent_argv(bmp_port, http_port, "--log-level", "warning", *extra)
    path = str(ROOT)
    if os.environ.get("BMP_STALL_TRACE"):
        path = f"{ROOT / 'bench' / 'stalltrace'}:{path}"  # bench/stalltrace/sitecustomize.py
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL)
    agent = Agent(proc, bmp_port, http_port)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"bmp-agent exited with {proc.returncode}")
            try:
                agent.get("/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield agent
    finally:
        stop(proc)


# -- pmbmpd ----------------------------------------------------------------------


@dataclass
class Pmbmpd(Child):
    port: int
    workdir: Path

    def log(self) -> str:
        p = self.workdir / "pmbmpd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def dumped_entries(self) -> int | None:
        """ENTRIES of the last finished table dump (from its log), or None."""
        found = None
        for line in self.log().splitlines():
            if "Dumping BMP tables - END" in line and "ENTRIES:" in line:
                found = int(line.split("ENTRIES:")[1].split()[0])
        return found


def pmbmpd_path() -> str | None:
    return shutil.which("pmbmpd") or (
        "/usr/sbin/pmbmpd" if os.path.exists("/usr/sbin/pmbmpd") else None
    )


@contextlib.contextmanager
def run_pmbmpd(refresh: int = 60) -> Iterator[Pmbmpd]:
    """pmacct's ``pmbmpd`` with its RIB kept and dumped (``bmp_dump_file``)
    every ``refresh`` seconds (60 is its minimum), as users run it."""
    exe = pmbmpd_path()
    if exe is None:
        raise RuntimeError("pmbmpd not installed (Debian package pmacct)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-pmbmpd-"))
    port = free_port()
    conf = workdir / "pmbmpd.conf"
    conf.write_text(
        "daemonize: false\n"
        "bmp_daemon_ip: 127.0.0.1\n"
        f"bmp_daemon_port: {port}\n"
        f"bmp_dump_file: {workdir}/dump-$bmp_router.json\n"
        f"bmp_dump_refresh_time: {refresh}\n"
        f"logfile: {workdir}/pmbmpd.log\n"
    )
    proc = subprocess.Popen(
        [exe, "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pm = Pmbmpd(proc, port, workdir)
    try:
        deadline = time.monotonic() + 15
        while "waiting for BMP data" not in pm.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pmbmpd did not start:\n{pm.log()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.2)
        yield pm
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def connect(port: int, attempts: int = 50) -> socket.socket:
    """TCP connection to 127.0.0.1:port (retried: pmbmpd listens with backlog 1)."""
    for i in range(attempts):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except ConnectionRefusedError:
            if i == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def rx_queue(port: int) -> int | None:
    """Bytes waiting in the receive queue of the established IPv4 socket whose
    local port is ``port`` (the server side of a loopback connection)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return int(parts[4].split(":")[1], 16)
    return None


def wait_drained(port: int, interval: float = 0.002, limit: float = 600.0) -> float:
    """Block until the server socket on ``port`` has nothing left to read;
    returns the ``time.perf_counter()`` at which it was first seen empty."""
    start = time.perf_counter()
    while True:
        q = rx_queue(port)
        now = time.perf_counter()
        if not q or now - start > limit:
            return now
        time.sleep(interval)


def wait_cpu_idle(
    pid: int, *, quiet: float = 1.0, interval: float = 0.01, limit: float = 600.0
) -> float:
    """Block until ``pid`` used no CPU for ``quiet`` s; returns the
    ``time.perf_counter()`` of the last sample at which it was still busy."""
    last = cpu_seconds(pid)
    last_busy = time.perf_counter()
    start = last_busy
    while True:
        time.sleep(interval)
        now = time.perf_counter()
        c = cpu_seconds(pid)
        if c != last:
            last, last_busy = c, now
        elif now - last_busy >= quiet or now - start > limit:
            return last_busy


# -- py-spy ----------------------------------------------------------------------


def profile_summary(path: str, top: int = 15) -> str:
    """Own and total time per function of a ``py-spy record --format raw`` file."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    with open(path) as f:
        for line in f:
            stack, _, n_text = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(n_text)
            samples += n
            frames = [_short_frame(fr) for fr in stack.split(";")]
            own[frames[-1]] = own.get(frames[-1], 0) + n
            for fr in set(frames):
                total[fr] = total.get(fr, 0) + n
    lines = [f"{samples} samples; own time (leaf frame), then total time (frame on stack)"]
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  own   {100 * n / samples:5.1f}%  {name}")
    skip = ("<module>", "main", "run", "_run", "cmd_run", "Runner", "BaseEventLoop", "_run_code")
    shown = 0
    for name, n in sorted(total.items(), key=lambda kv: -kv[1]):
        if name.split(" ")[0].startswith(skip):
            continue
        lines.append(f"  total {100 * n / samples:5.1f}%  {name}")
        shown += 1
        if shown >= top:
            break
    return "\n".join(lines)


def _short_frame(frame: str) -> str:
    """``fn (path/to/file.py:123)`` -> ``fn (file.py)`` (merge lines of one function)."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    parts = file.split("/")
    return f"{name} ({'/'.join(parts[-2:])})"
