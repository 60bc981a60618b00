"""Run ``bmp-agent`` as it is installed: its own network and mount namespaces.

``Sandbox`` starts a command in a fresh network namespace (loopback up, plus
the node/pod addresses the test gives) and a private mount namespace in
which ``/etc``, ``/run`` and ``/opt`` are copy-on-write overlays, so files can
be placed at the paths a Pod spec or a systemd unit names
(``/etc/bmp-agent/config.yaml``, ``/opt/bmp-agent/bin/bmp-agent``) without
touching the machine. Nothing outside the namespaces changes; they vanish
with the process. ``probe`` sends an HTTP GET from inside the namespace, as a
kubelet on the node would.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

OVERLAID = ("/etc", "/run", "/opt")
#: The checkout whose venv and sources the sandboxed agent runs from.
REPO = Path(__file__).resolve().parents[2]

_PROBE = r"""
import ssl, sys, urllib.request
url, *headers = sys.argv[1:]
req = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # a kubelet does not verify probe certificates
try:
    with urllib.request.urlopen(req, timeout=3, context=ctx) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(f"error {e}")
"""


class Sandbox:
    def __init__(self, root: Path, addresses: Sequence[str] = ()) -> None:
        if os.geteuid() != 0:
            pytest.fail("the install-path tests need root (network and mount namespaces)")
        self.root = root
        self.addresses = list(addresses)
        self.mounts: list[tuple[Path, str]] = []
        self.proc: subprocess.Popen[str] | None = None
        self.log = root / "agent.log"

    def mount(self, source: Path, target: str) -> None:
        """Bind ``source`` (a file or directory) at ``target`` inside."""
        self.mounts.append((source, target))

    def script(self, argv: Sequence[str], env: Mapping[str, str]) -> str:
        lines = ["set -e", "ip link set lo up"]
        for addr in self.addresses:
            if ":" in addr:
                lines.append(f"ip -6 addr add {addr}/128 dev lo nodad")
            else:
                lines.append(f"ip addr add {addr}/32 dev lo")
        for i, top in enumerate(OVERLAID):
            if not Path(top).is_dir():
                continue
            up, work = self.root / f"ov{i}/upper", self.root / f"ov{i}/work"
            up.mkdir(parents=True)
            work.mkdir(parents=True)
            lines.append(
                f"mount -t overlay overlay -o lowerdir={top},upperdir={up},workdir={work} {top}"
            )

        # A mount over a directory holding the sources (an emptyDir at /tmp) goes last.
        def hides_sources(target: str) -> bool:
            return str(self.root).startswith(target.rstrip("/") + "/")

        # The checkout (sources and venv) stays visible when a mount covers it,
        # e.g. a clone under /tmp and the Pod's emptyDir at /tmp: it is bound
        # aside (in the /run overlay) first and back over the mount last.
        keep = [
            p
            for p in (REPO,)
            if any(str(p).startswith(t.rstrip("/") + "/") or str(p) == t for _, t in self.mounts)
        ]
        for i, path in enumerate(keep):
            lines.append(f"mkdir -p /run/sandbox-keep{i}")
            lines.append(f"mount --bind {shlex.quote(str(path))} /run/sandbox-keep{i}")
        for source, target in sorted(self.mounts, key=lambda m: hides_sources(m[1])):
            make = "mkdir -p" if source.is_dir() else "mkdir -p $(dirname {t}) && touch"
            lines.append(f"{make.format(t=shlex.quote(target))} {shlex.quote(target)}")
            lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        for i, path in enumerate(keep):
            lines.append(f"mkdir -p {shlex.quote(str(path))}")
            lines.append(f"mount --bind /run/sandbox-keep{i} {shlex.quote(str(path))}")
        envs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        lines.append(f"exec env -i {envs} {' '.join(shlex.quote(a) for a in argv)}")
        return "\n".join(lines)

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
        script = self.script(argv, env)
        (self.root / "start.sh").write_text(script)
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self.proc

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def probe(self, url: str, headers: Sequence[str] = ()) -> str:
        assert self.proc is not None
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", sys.executable, "-c", _PROBE,
             url, *headers],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        return done.stdout.strip() or done.stderr.strip()

    def wait_for(self, url: str, headers: Sequence[str] = (), timeout: float = 30) -> str:
        """Probe until 200; returns the last answer (``200``, ``503``, ``error ...``)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        answer = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited {self.proc.returncode}"
            answer = self.probe(url, headers)
            if answer == "200":
                return answer
            time.sleep(0.2)
        return answer

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
