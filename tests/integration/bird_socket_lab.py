"""BIRD 1.6.8 and 2.0.12 (no BMP) in the standard lab, for the BIRD socket source.

BIRD runs in the ``spk`` namespace with its control socket in the lab's work
directory (a unix socket is a file: the agent, in the root namespace, reaches
it there). ExaBGP in ``inj`` is the injector:

- peer ``A``  10.0.1.2 AS 65001 -> 10.0.1.1 (IPv4 unicast), ``import all``;
- peer ``A2`` 10.0.1.3 AS 65003 -> 10.0.1.1 (IPv4 unicast), import filter
  rejects 203.0.113.0/24 and longer; BIRD 2.0: ``import table on`` (the
  pre-policy view); BIRD 1.6 has no import table: ``import keep filtered on``;
- peer ``B``  fd00:1::2 AS 65002 -> fd00:1::1 (IPv6 unicast), ``import all``;
- ``Z``, a BGP protocol towards 10.0.1.9 that never comes up.

BIRD 1.6 has one daemon per family: ``bird`` (IPv4: A, A2, Z) and ``bird6``
(IPv6: B), each with its own socket, as in calico-node (``bird.ctl`` and
``bird6.ctl``). BIRD 2.0 runs one daemon with both channels.

The kernel protocol exports the primary BGP routes into the ``spk``
namespace's main table (``proto bird``), for the FIB check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import (
    INJ_A2_V4,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_V4,
    SPEAKER_V6,
    ExaPeer,
    LabError,
    Namespace,
    wait_until,
)

BIRD2_DIR = Path(os.environ.get("BMPT_BIRD2_DIR", "/opt/bmp-agent-test/bird2"))
LOCAL_AS = 65000
PEER_Z_V4 = "10.0.1.9"
#: IPv4 prefixes at or under this one are rejected by A2's import filter.
A2_REJECT = "203.0.113.0/24"


def binaries(version: str) -> dict[str, Path]:
    """``bird``/``birdc`` (and ``bird6``/``birdc6`` for 1.6) of a BIRD version."""
    if version == "1.6":
        return {
            "bird": Path("/usr/sbin/bird"),
            "birdc": Path("/usr/sbin/birdc"),
            "bird6": Path("/usr/sbin/bird6"),
            "birdc6": Path("/usr/sbin/birdc6"),
        }
    if version == "2.0":
        return {"bird": BIRD2_DIR / "bird", "birdc": BIRD2_DIR / "birdc"}
    raise ValueError(version)


def missing(version: str) -> list[str]:
    why = [
        f"BIRD {version}: {p} not found (scripts/install-test-deps.sh)"
        for p in binaries(version).values()
        if not p.exists()
    ]
    if shutil.which("exabgp") is None:
        why.append("exabgp not found")
    return why


def exa_peers() -> tuple[ExaPeer, ...]:
    return (
        ExaPeer("A", SPEAKER_V4, INJ_A_V4, 65001, router_id="10.0.1.2",
                families=("ipv4 unicast",)),
        ExaPeer("A2", SPEAKER_V4, INJ_A2_V4, 65003, router_id="10.0.1.3",
                families=("ipv4 unicast",)),
        ExaPeer("B", SPEAKER_V6, INJ_B_V6, 65002, router_id="10.0.1.4",
                families=("ipv6 unicast",)),
    )  # fmt: skip


#: Both versions' filter of A2: rejects A2_REJECT and longer.
A2_FILTER = [
    "filter a2_in {",
    f"  if net ~ [ {A2_REJECT}+ ] then reject;",
    "  accept;",
    "}",
]


def _head(log: Path) -> list[str]:
    """The lines both versions' configs start with."""
    return [
        f'log "{log}" all;',
        "router id 10.0.1.1;",
        "timeformat protocol iso long;",
        "timeformat route iso long;",
        "protocol device { scan time 10; }",
    ]


def config_16(family: int, log: Path) -> str:
    """bird.conf (``family`` 4) or bird6.conf (6) for BIRD 1.6."""
    head = [
        *_head(log),
        "protocol kernel { persist off; scan time 10; import none; export all; }",
    ]
    if family == 4:
        body = [
            "protocol static st4 { route 198.51.100.0/24 blackhole; }",
            *A2_FILTER,
            "protocol bgp A {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {INJ_A_V4} as 65001;",
            "  import all; export none;",
            "}",
            "protocol bgp A2 {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {INJ_A2_V4} as 65003;",
            "  import keep filtered on;  # 1.6 has no import table",
            "  import filter a2_in; export none;",
            "}",
            "protocol bgp Z {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {PEER_Z_V4} as 65009;",
            "  connect retry time 5;",
            "  import all; export none;",
            "}",
        ]
    else:
        body = [
            "protocol bgp B {",
            f"  local {SPEAKER_V6} as {LOCAL_AS};",
            f"  neighbor {INJ_B_V6} as 65002;",
            "  import all; export none;",
            "}",
        ]
    return "\n".join([*head, *body, ""])


def config_20(log: Path) -> str:
    return "\n".join(
        [
            *_head(log),
            "protocol kernel k4 { scan time 10; ipv4 { import none; export all; }; }",
            "protocol kernel k6 { scan time 10; ipv6 { import none; export all; }; }",
            "protocol static st4 { ipv4; route 198.51.100.0/24 blackhole; }",
            *A2_FILTER,
            "protocol bgp A {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {INJ_A_V4} as 65001;",
            "  ipv4 { import all; export none; };",
            "}",
            "protocol bgp A2 {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {INJ_A2_V4} as 65003;",
            "  ipv4 { import table on; import filter a2_in; export none; };",
            "}",
            "protocol bgp Z {",
            f"  local {SPEAKER_V4} as {LOCAL_AS};",
            f"  neighbor {PEER_Z_V4} as 65009;",
            "  connect retry time 5;",
            "  ipv4 { import all; export none; };",
            "}",
            "protocol bgp B {",
            f"  local {SPEAKER_V6} as {LOCAL_AS};",
            f"  neighbor {INJ_B_V6} as 65002;",
            "  ipv6 { import all; export none; };",
            "}",
            "",
        ]
    )


def birdc_raw(path: Path, command: str, timeout: float = 20.0) -> bytes:
    """The raw reply bytes of one command on a BIRD control socket (greeting dropped)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise LabError(f"{path}: closed before the greeting")
            buf += chunk
        s.sendall(command.encode() + b"\n")
        out = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise LabError(f"{path}: closed during {command!r}")
            out += chunk
            # the reply ends with a line "DDDD text\n" (code then a space)
            end = out.rfind(b"\n", 0, len(out) - 1) + 1
            last = bytes(out[end:])
            if out.endswith(b"\n") and len(last) >= 5 and last[:4].isdigit() and last[4:5] == b" ":
                return bytes(out)


@dataclass
class BirdDaemon:
    """One BIRD process (``bird`` or ``bird6``) in a namespace."""

    ns: Namespace
    rundir: Path
    binary: Path
    name: str  # bird / bird6
    config: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ctl(self) -> Path:
        return self.rundir / f"{self.name}.ctl"

    @property
    def log(self) -> Path:
        return self.rundir / f"{self.name}.log"

    def start(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        conf = self.rundir / f"{self.name}.conf"
        conf.write_text(self.config)
        argv = [str(self.binary), "-f", "-c", str(conf), "-s", str(self.ctl)]
        argv += ["-P", str(self.rundir / f"{self.name}.pid")]
        self.proc = self.ns.popen(argv, log=self.rundir / f"{self.name}.out")

        def up() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise LabError(f"{self.name} exited\n{self.describe()}")
            if not self.ctl.exists():
                return False
            try:
                return b"Daemon is up" in birdc_raw(self.ctl, "show status", 5)
            except OSError:
                return False

        wait_until(up, timeout=15, what=f"{self.name} control socket", describe=self.describe)

    def describe(self) -> str:
        parts = []
        for p in (self.rundir / f"{self.name}.out", self.log):
            with contextlib.suppress(OSError):
                parts.append(f"--- {p}\n" + "\n".join(p.read_text().splitlines()[-30:]))
        return "\n".join(parts)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cmd(self, command: str) -> str:
        return birdc_raw(self.ctl, command).decode()

    def established(self, *protocols: str) -> bool:
        text = self.cmd("show protocols")
        states = {}
        for line in text.splitlines():
            cols = line[5:].split() if line[:4].isdigit() else line.split()
            if len(cols) >= 4:
                states[cols[0]] = line
        return all(p in states and "Established" in states[p] for p in protocols)

    def since(self, protocol: str) -> str:
        """The since-time text of ``protocol`` in ``show protocols``."""
        from agent.sources.bird.parse import split_protocol_row

        for line in self.cmd("show protocols").splitlines():
            text = line[5:] if line[:4].isdigit() else line
            cols = text.split()
            if cols and cols[0] == protocol:
                return split_protocol_row(text)[4]
        raise LabError(f"{self.name}: no protocol {protocol}")

    def wait_established(self, *protocols: str, timeout: float = 30) -> None:
        wait_until(
            lambda: self.established(*protocols),
            timeout=timeout,
            what=f"{self.name}: {', '.join(protocols)} Established",
            describe=lambda: self.cmd("show protocols") + self.describe(),
        )


def bird_nodes(version: str, ns: Namespace, workdir: Path) -> list[BirdDaemon]:
    """The daemons of a BIRD version (1.6: bird + bird6; 2.0: one), not started."""
    b = binaries(version)
    rundir = workdir / f"bird{version}"
    if version == "1.6":
        return [
            BirdDaemon(ns, rundir, b["bird"], "bird", config_16(4, rundir / "bird.log")),
            BirdDaemon(ns, rundir, b["bird6"], "bird6", config_16(6, rundir / "bird6.log")),
        ]
    return [BirdDaemon(ns, rundir, b["bird"], "bird", config_20(rundir / "bird.log"))]
