"""The agent under test in a lab namespace: ``bmp-agent run`` (``python -m
agent.cli run`` from this checkout) beside a speaker or in the collector
namespace, and plain HTTP/1.0 GETs to it from inside that namespace.

    agent = LabAgent(lab.spk, lab.workdir / "agent.log").start()
    diff = agent.get("/api/v1/fib/diff")

``start_local_speaker`` starts a speaker in ``lab.spk`` sending BMP to the
agent beside it on 127.0.0.1, and ExaBGP in ``lab.inj``. The FIB, history and
health lab tests build on these (``fib_scale_support``, ``test_fib_lab``,
``test_health_lab``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exabgp import ExaBgp, ExaPeer, lab_peers
from .netns import LabError, LabTopology, Namespace, socket_in, tail, wait_until
from .speakers import BMP_PORT, BmpTarget, Speaker, SpeakerConfig, lab_neighbors, make_speaker

REPO = Path(__file__).resolve().parents[2]
#: the agent's default HTTP port (``http.listen`` 127.0.0.1:9324)
HTTP_PORT = 9324


def http_request(
    ns: Namespace, path: str, host: str = "127.0.0.1", port: int = HTTP_PORT, timeout: float = 30
) -> tuple[int, bytes]:
    """``GET path`` to host:port inside ``ns``: (status, body)."""
    with socket_in(ns.name) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError as exc:
            raise LabError(f"agent HTTP on {host}:{port} not reachable: {exc}") from exc
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: agent\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[1].isdigit():
        raise LabError(f"GET {path}: no HTTP status line in {head[:200]!r}")
    return int(status[1]), body


def http_get(
    ns: Namespace, path: str, host: str = "127.0.0.1", port: int = HTTP_PORT, timeout: float = 30
) -> Any:
    """``GET path``, which must answer 200: the JSON body for ``/api/...``, else the text."""
    status, body = http_request(ns, path, host, port, timeout)
    if status != 200:
        raise LabError(f"GET {path}: {status} {body[:300]!r}")
    return json.loads(body) if path.startswith("/api") else body.decode()


@dataclass
class LabAgent:
    """``bmp-agent run *argv`` in ``ns`` (after ``prefix``, e.g. ``setpriv ...``),
    logging to ``log``, with ``env`` over PATH and PYTHONPATH (this checkout);
    HTTP on host:port. ``start()`` waits for /readyz."""

    ns: Namespace
    log: Path
    argv: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    prefix: Sequence[str] = ()
    host: str = "127.0.0.1"
    port: int = HTTP_PORT
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def command(self) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) of the agent process."""
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
        argv = [*self.prefix, sys.executable, "-m", "agent.cli", "run", *self.argv]
        return argv, {**base, **(self.env or {})}

    def start(self, timeout: float = 30) -> LabAgent:
        argv, env = self.command()
        self.proc = self.ns.popen(argv, log=self.log, env=env, cwd=REPO)
        wait_until(
            lambda: self.alive() and self.request("/readyz")[0] == 200,
            timeout=timeout,
            what="the agent's /readyz",
            describe=self.tail,
        )
        return self

    def alive(self) -> bool:
        """True, or ``LabError`` with the log tail when the agent has exited."""
        code = "never started" if self.proc is None else self.proc.poll()
        if code is not None:
            raise LabError(f"agent not running ({code})\n{self.tail()}")
        return True

    def tail(self, n: int = 30) -> str:
        return tail(self.log, n)

    def request(self, path: str) -> tuple[int, bytes]:
        """(status, body) of ``GET path``; no answer from a running agent counts as 503."""
        try:
            return http_request(self.ns, path, self.host, self.port)
        except (LabError, OSError):
            if self.alive():
                return 503, b""
            raise

    def get(self, path: str) -> Any:
        return http_get(self.ns, path, self.host, self.port)

    def diff(self, query: str = "") -> dict[str, Any]:
        d = self.get("/api/v1/fib/diff" + query)
        assert isinstance(d, dict)
        return d

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case a test stopped it), SIGKILL after 15 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def local_config(**kw: Any) -> SpeakerConfig:
    """A speaker config for the agent beside it: BMP to 127.0.0.1:11019 (the
    agent's default), peers A and B, no Statistics Reports, kernel export on
    (BIRD; FRR installs through zebra anyway); ``kw`` overrides."""
    fields: dict[str, Any] = {
        "neighbors": lab_neighbors(never_up=False),
        "collectors": (BmpTarget("127.0.0.1", BMP_PORT),),
        "stats_interval": 0,
        "kernel_export": True,
    }
    return SpeakerConfig(**{**fields, **kw})


def start_local_speaker(
    lab: LabTopology,
    kind: str,
    config: SpeakerConfig | None = None,
    peers: Sequence[ExaPeer] | None = None,
) -> tuple[Speaker, ExaBgp]:
    """``kind`` ("frr", "gobgp", "bird") in ``lab.spk`` with ``config``
    (``local_config()``) and ExaBGP in ``lab.inj`` with ``peers`` (A and B),
    both started; the caller stops both."""
    speaker = make_speaker(kind, lab.spk, lab.workdir, config or local_config()).start()
    try:
        injector = ExaBgp(lab.inj, lab.workdir, peers or lab_peers()).start()
    except BaseException:
        speaker.stop(graceful=False)
        raise
    return speaker, injector


__all__ = [
    "HTTP_PORT",
    "REPO",
    "LabAgent",
    "http_get",
    "http_request",
    "local_config",
    "start_local_speaker",
]
