"""Processes on loopback, for the tests and ``bench/`` (stdlib only): a free
port, an HTTP GET, a ``bmp-agent run`` child, stopping a child politely then firmly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(port: int, path: str, timeout: float = 30.0) -> bytes:
    """The body of ``GET http://127.0.0.1:port/path``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        body: bytes = r.read()
        return body


def agent_argv(bmp_port: int, http_port: int, *extra: str) -> list[str]:
    """``bmp-agent run`` by this interpreter on loopback ports, JSON logs, then ``extra``."""
    return [
        sys.executable,
        "-m",
        "agent.cli",
        "run",
        "--bmp-listen",
        f"127.0.0.1:{bmp_port}",
        "--http-listen",
        f"127.0.0.1:{http_port}",
        "--log-format",
        "json",
        *extra,
    ]


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """``sig`` (SIGTERM), then SIGKILL after 10 s; reaps the child."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Child:
    """A process the caller started and stops."""

    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class AgentProcess(Child):
    """A ``bmp-agent run`` child listening on loopback: its BMP and HTTP ports."""

    bmp_port: int
    http_port: int

    def get(self, path: str, timeout: float = 30.0) -> bytes:
        return http_get(self.http_port, path, timeout)

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))
