"""Network namespaces with veth links for lab tests (root only).

Every namespace name is ``bmpt-<run id>-<role>``; the run id is random per
``Topology``, so parallel test runs and leftovers of killed runs never collide.
A ``Topology`` is a context manager: on exit it kills every process still
inside its namespaces, deletes them and removes its work directory.

    with Topology() as topo:
        inj, spk = topo.add("inj"), topo.add("spk")
        topo.link(inj, spk, ["10.0.1.2/24"], ["10.0.1.1/24"])
        inj.run(["ping", "-c1", "10.0.1.1"])

``lab_topology()`` builds the standard three-namespace lab (see ``LabTopology``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .harness import Harness

PREFIX = "bmpt-"
NETNS_DIR = Path("/run/netns")
#: Where live topologies register their owner pid, so ``cleanup_stale`` can
#: delete namespaces whose test process died without cleaning up.
REGISTRY = Path("/run/bmp-agent-test")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class LabError(RuntimeError):
    """A lab step failed; the message says which and includes the output."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` in the root namespace."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def list_namespaces(prefix: str = PREFIX) -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def netns_pids(name: str) -> list[int]:
    out = ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace_processes(name: str, grace: float = 3.0) -> None:
    """SIGTERM every process in namespace ``name``, SIGKILL what is left after ``grace`` s."""
    pids = netns_pids(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = netns_pids(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while netns_pids(name) and time.monotonic() < deadline:
        time.sleep(0.05)


def delete_namespace(name: str) -> None:
    kill_namespace_processes(name)
    ip("netns", "del", name, check=False)


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Delete lab namespaces whose owning process is gone; return their names."""
    removed: list[str] = []
    for name in list_namespaces(prefix):
        run_id = name[len(prefix) :].split("-", 1)[0]
        owner = REGISTRY / f"{run_id}.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and Path(f"/proc/{pid}").exists():
            continue
        delete_namespace(name)
        removed.append(name)
    for entry in REGISTRY.glob("*.pid") if REGISTRY.is_dir() else []:
        try:
            alive = Path(f"/proc/{int(entry.read_text())}").exists()
        except (OSError, ValueError):
            alive = False
        if not alive:
            entry.unlink(missing_ok=True)
    return removed


@dataclass(frozen=True)
class Namespace:
    """One named network namespace; run programs in it."""

    name: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in this namespace and wait; output is captured as text.

        Raises ``LabError`` (with stdout/stderr) on a non-zero exit when ``check``.
        """
        try:
            proc = subprocess.run(
                self.argv(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                env=env,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"[{self.name}] {' '.join(argv)} timed out after {timeout}s") from exc
        if check and proc.returncode != 0:
            raise LabError(
                f"[{self.name}] {' '.join(argv)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout.strip()[-2000:]}\nstderr: {proc.stderr.strip()[-2000:]}"
            )
        return proc

    def popen(
        self,
        argv: Sequence[str],
        *,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in this namespace in its own process group.

        stdout and stderr go to ``log`` (appended) or are discarded.
        """
        out: Any = subprocess.DEVNULL
        if log is not None:
            out = open(log, "ab")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen(
                self.argv(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=stdin,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            if log is not None:
                out.close()

    def pids(self) -> list[int]:
        return netns_pids(self.name)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket created inside this namespace (usable from this process)."""
        return socket_in(self.name, family, type)

    def addresses(self) -> str:
        return self.run(["ip", "-br", "addr"]).stdout


def enter_ns(ns_name: str) -> None:
    """Move the calling thread into network namespace ``ns_name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / ns_name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_ns(ns_name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a short-lived thread inside namespace ``ns_name``; its result.

    ``setns`` changes only the calling thread's namespace; what ``fn`` creates
    there (sockets, threads it starts) stays in that namespace."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            enter_ns(ns_name)
            result.append(fn())
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=worker, name=f"setns-{ns_name}")
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]  # type: ignore[no-any-return]


def socket_in(
    ns_name: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
) -> socket.socket:
    """Create a socket in network namespace ``ns_name`` (usable from any thread
    of this process for its whole life)."""
    return call_in_ns(ns_name, lambda: socket.socket(family, type))


@dataclass
class Topology(Harness):
    """Named namespaces and veth links; cleans everything up on exit.

    ``keep=True`` (or env ``BMPT_KEEP=1``) keeps the work directory (configs, logs)
    after exit for debugging; namespaces are always deleted.
    """

    prefix: str = PREFIX
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    keep: bool = field(default_factory=lambda: os.environ.get("BMPT_KEEP") == "1")
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    workdir: Path = field(init=False)
    _links: int = field(default=0, init=False)
    _open: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # world-traversable: FRR's daemons run as user frr and need their run dirs
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{self.run_id}-"))
        self.workdir.chmod(0o755)

    def _running(self) -> bool:
        return self._open

    def start(self) -> None:
        """Register the run (``cleanup_stale`` removes what a killed run left)."""
        REGISTRY.mkdir(parents=True, exist_ok=True)
        (REGISTRY / f"{self.run_id}.pid").write_text(str(os.getpid()))
        self._open = True

    def _teardown(self, failed: bool) -> None:
        self.close()

    def close(self) -> None:
        for ns in list(self.namespaces.values()):
            kill_namespace_processes(ns.name)
        for ns in list(self.namespaces.values()):
            ip("netns", "del", ns.name, check=False)
        self.namespaces.clear()
        (REGISTRY / f"{self.run_id}.pid").unlink(missing_ok=True)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._open = False

    # -- building ----------------------------------------------------------
    def name_for(self, role: str) -> str:
        return f"{self.prefix}{self.run_id}-{role}"

    def add(self, role: str) -> Namespace:
        """Create namespace ``bmpt-<id>-<role>`` with ``lo`` up."""
        if role in self.namespaces:
            raise LabError(f"namespace role {role!r} exists")
        if not self._open:
            self.__enter__()
        ns = Namespace(self.name_for(role))
        ip("netns", "add", ns.name)
        self.namespaces[role] = ns
        ip("-n", ns.name, "link", "set", "lo", "up")
        # no duplicate address detection: link-local and global IPv6 addresses are
        # usable as soon as a link is up (FRR resets IPv6 sessions while the
        # interface has no usable link-local address)
        for key in ("all", "default"):
            ip("netns", "exec", ns.name, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0")
        return ns

    def __getitem__(self, role: str) -> Namespace:
        return self.namespaces[role]

    def link(
        self,
        a: Namespace,
        b: Namespace,
        addrs_a: Sequence[str] = (),
        addrs_b: Sequence[str] = (),
        *,
        name_a: str | None = None,
        name_b: str | None = None,
    ) -> tuple[str, str]:
        """A veth pair between ``a`` and ``b`` with the given CIDR addresses.

        IPv6 addresses get ``nodad`` so they are usable at once. Interface names
        default to ``v<n>-<role of the other side>`` (at most 15 characters).
        Returns the two interface names.
        """
        self._links += 1
        role_a = a.name.rsplit("-", 1)[-1]
        role_b = b.name.rsplit("-", 1)[-1]
        ifa = name_a or f"v{self._links}-{role_b}"[:15]
        ifb = name_b or f"v{self._links}-{role_a}"[:15]
        ip("-n", a.name, "link", "add", ifa, "type", "veth", "peer", "name", ifb, "netns", b.name)
        for ns, ifname, addrs in ((a, ifa, addrs_a), (b, ifb, addrs_b)):
            for addr in addrs:
                extra = ["nodad"] if ":" in addr else []
                ip("-n", ns.name, "addr", "add", addr, "dev", ifname, *extra)
            ip("-n", ns.name, "link", "set", ifname, "up")
        return ifa, ifb


@dataclass(frozen=True)
class LabTopology:
    """The standard lab (same addresses as the golden captures):

    ``inj`` (ExaBGP)   10.0.1.2/24 10.0.1.3/24 fd00:1::2/64 fd00:1::3/64
        ---- ``spk`` (speaker) 10.0.1.1/24 fd00:1::1/64
    ``spk``            10.0.9.1/24 fd00:9::1/64
        ---- ``col`` (collector) 10.0.9.2/24 fd00:9::2/64
    """

    topo: Topology
    inj: Namespace
    spk: Namespace
    col: Namespace

    @property
    def workdir(self) -> Path:
        return self.topo.workdir


SPEAKER_V4 = "10.0.1.1"
SPEAKER_V6 = "fd00:1::1"
SPEAKER_COL_V4 = "10.0.9.1"
SPEAKER_COL_V6 = "fd00:9::1"
INJ_A_V4 = "10.0.1.2"
INJ_A2_V4 = "10.0.1.3"
INJ_B_V6 = "fd00:1::2"
INJ_B2_V6 = "fd00:1::3"
COLLECTOR_V4 = "10.0.9.2"
COLLECTOR_V6 = "fd00:9::2"


def build_lab(topo: Topology) -> LabTopology:
    """Create the three standard namespaces and links in ``topo``."""
    inj, spk, col = topo.add("inj"), topo.add("spk"), topo.add("col")
    topo.link(
        inj,
        spk,
        [f"{INJ_A_V4}/24", f"{INJ_A2_V4}/24", f"{INJ_B_V6}/64", f"{INJ_B2_V6}/64"],
        [f"{SPEAKER_V4}/24", f"{SPEAKER_V6}/64"],
        name_a="inj0",
        name_b="spk-inj",
    )
    topo.link(
        col,
        spk,
        [f"{COLLECTOR_V4}/24", f"{COLLECTOR_V6}/64"],
        [f"{SPEAKER_COL_V4}/24", f"{SPEAKER_COL_V6}/64"],
        name_a="col0",
        name_b="spk-col",
    )
    return LabTopology(topo, inj, spk, col)


@contextlib.contextmanager
def lab_topology() -> Iterator[LabTopology]:
    """Context manager: the standard three-namespace lab, always cleaned up."""
    with Topology() as topo:
        yield build_lab(topo)


def poll(predicate: Any, *, timeout: float, interval: float = 0.2) -> Any:
    """Call ``predicate()`` every ``interval`` s until it returns something
    truthy, or until ``timeout`` s have passed after a falsy result; return
    that last result. Exceptions propagate. Every bounded wait of the lab and
    its helpers is this loop; the caller says what a timeout means."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_until(
    predicate: Any,
    *,
    timeout: float,
    what: str,
    describe: Any = None,
    interval: float = 0.2,
) -> Any:
    """Poll ``predicate()`` until it returns something truthy and return that.

    On timeout raise ``LabError("timed out after Ns waiting for WHAT")`` plus
    ``describe()`` (e.g. a log tail) when given. Exceptions of type
    ``LabError`` from the predicate count as "not yet" and are reported.
    """
    last_error = ""

    def attempt() -> Any:
        nonlocal last_error
        try:
            return predicate()
        except LabError as exc:
            last_error = str(exc)
            return None

    value = poll(attempt, timeout=timeout, interval=interval)
    if value:
        return value
    msg = f"timed out after {timeout}s waiting for {what}"
    if last_error:
        msg += f"\nlast error: {last_error}"
    if describe is not None:
        text = describe()
        if text not in last_error:
            msg += f"\n{text}"
    raise LabError(msg)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, headed by its name."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"--- {path}: {exc}"
    body = "\n".join(text.splitlines()[-lines:])
    return f"--- last {lines} lines of {path}:\n{body}"
