"""The systemd unit: ``systemd-analyze verify`` and ``systemd-analyze security``.

There is no systemd as PID 1 here (containers, CI), so both run offline:
``verify`` against a private root holding the unit, the distribution's units
and a stand-in for the ExecStart binary (it checks that the binary exists),
``security --offline=true`` on the unit file. The exposure score must be at
most 2.0; it is printed.

The unit's ``ExecStart`` line is then run as written (``/opt/bmp-agent/bin/
bmp-agent run --config /etc/bmp-agent/config.yaml``, the example config
installed at that path, the unit's ``Environment=``) in network and mount
namespaces of its own (``sandbox.Sandbox``), with ``NOTIFY_SOCKET`` on a
test datagram socket: systemd's side of ``Type=notify``. ``READY=1`` must
come once the listeners answer, ``RELOADING=1``/``READY=1`` around SIGHUP,
``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest
from deploy_support import REPO, run, tool
from sandbox import Sandbox

from agent import config as agent_config
from agent.cli.main import build_parser

UNIT = REPO / "systemd" / "bmp-agent.service"
EXAMPLE = REPO / "systemd" / "config.yaml"
DROPIN = REPO / "systemd" / "tls.conf"
SYSTEM_UNITS = next(
    (p for p in (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")) if p.is_dir()), None
)


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _exec_start() -> list[str]:
    [cmd] = _directives(UNIT.read_text())["ExecStart"]
    return shlex.split(cmd)


def _env() -> dict[str, str]:
    return dict(os.environ, SYSTEMD_LOG_LEVEL="notice", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")


def system_root(tmp_path: Path) -> Path:
    """A root for ``systemd-analyze --root``: the system's units plus ours in /etc."""
    if SYSTEM_UNITS is None:
        pytest.fail("no system unit directory: apt-get install systemd")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    return root


@pytest.mark.parametrize("dropin", [False, True], ids=["unit", "unit+tls.conf"])
def test_verify(tmp_path: Path, dropin: bool) -> None:
    root = system_root(tmp_path)
    if dropin:
        (root / "etc/systemd/system/bmp-agent.service.d").mkdir()
        shutil.copy(DROPIN, root / "etc/systemd/system/bmp-agent.service.d/tls.conf")
        for name in ("web-config.yml", "tls.crt", "tls.key"):
            (root / "etc/bmp-agent").mkdir(parents=True, exist_ok=True)
            (root / "etc/bmp-agent" / name).write_text("x\n")
    for cmd in (_exec_start()[0], "/bin/kill"):
        stub = root / cmd.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    proc = run(
        [tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", UNIT.name],
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # unknown keys and bad values are only warnings: none may appear
    assert proc.stderr.strip() == "", proc.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The same check fails on a unit whose binary is missing (so it is not vacuous)."""
    root = system_root(tmp_path)
    proc = run(
        [tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", UNIT.name],
        env=_env(),
        check=False,
    )
    assert proc.returncode != 0
    assert "is not executable" in proc.stderr


def test_security_score() -> None:
    proc = run(
        [tool("systemd-analyze"), "security", "--offline=true", "--no-pager", str(UNIT)],
        env=_env(),
        check=False,
    )
    m = re.search(r"Overall exposure level for bmp-agent\.service: (\d+\.\d+) (\w+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    score = float(m.group(1))
    print(f"\nsystemd-analyze security: bmp-agent.service exposure {score} {m.group(2)}")
    assert score <= 2.0


def test_unit_requirements() -> None:
    d = _directives(UNIT.read_text())
    one = {k: v[-1] for k, v in d.items()}
    assert one["DynamicUser"] == "yes"
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
    assert one["ProtectSystem"] == "strict"
    assert one["ProtectHome"] == "yes"
    assert one["PrivateTmp"] == "yes"
    assert one["NoNewPrivileges"] == "yes"
    assert one["RestrictAddressFamilies"] == "AF_UNIX AF_NETLINK AF_INET AF_INET6"
    assert d["SystemCallFilter"][0] == "@system-service"
    assert one["Restart"] == "on-failure"
    assert one["RestartPreventExitStatus"] == "2"  # a config error is not retried
    assert one["EnvironmentFile"] == "-/etc/default/bmp-agent"
    assert one["MemoryHigh"] == "768M" and one["MemoryMax"] == "1G"
    assert one["LimitNOFILE"] == "65536"  # agent.daemon.NOFILE_WANTED
    assert int(one["CPUWeight"]) < 100
    assert one["Documentation"] == "file:///usr/share/doc/bmp-agent/README.md"
    dropin = _directives(DROPIN.read_text())
    assert dropin["LoadCredential"] == [
        "web-config.yml:/etc/bmp-agent/web-config.yml",
        "tls.crt:/etc/bmp-agent/tls.crt",
        "tls.key:/etc/bmp-agent/tls.key",
    ]
    assert dropin["Environment"] == ["BMP_AGENT_HTTP_WEB_CONFIG=%d/web-config.yml"]
    assert "network-online.target" in one["After"].split()
    assert "network-online.target" in one["Wants"].split()
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"  # SIGHUP reloads the config


def test_exec_start_is_a_valid_command_line() -> None:
    argv = _exec_start()
    assert Path(argv[0]).name == "bmp-agent"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run"
    assert args.config == "/etc/bmp-agent/config.yaml"


def test_example_config_loads() -> None:
    cfg = agent_config.load(path=EXAMPLE, environ={}, flags={})
    assert [str(e) for e in cfg.bmp.listen] == ["127.0.0.1:11019"]
    assert str(cfg.http.listen) == "0.0.0.0:9324"
    assert [str(n) for n in cfg.bmp.allow] == ["127.0.0.0/8", "::1/128"]
    assert cfg.log.format == "json"


def _unit_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in _directives(UNIT.read_text()).get("Environment", []):
        for item in shlex.split(line):
            k, _, v = item.partition("=")
            env[k] = v
    return env


def _recv(sock: socket.socket, want: str, timeout: float = 30) -> list[str]:
    """Notifications until one has the line ``want``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append(data)
        if want in data.splitlines():
            return got
    pytest.fail(f"no {want} within {timeout}s; got {got}")


def test_exec_start_as_written_speaks_sd_notify(tmp_path: Path) -> None:
    """systemd's side of Type=notify: a datagram socket in NOTIFY_SOCKET."""
    argv = _exec_start()
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        box = Sandbox(tmp_path / "box")
        (tmp_path / "box").mkdir()
        box.mount(Path(tool("bmp-agent")), argv[0])  # /opt/bmp-agent/bin/bmp-agent
        box.mount(EXAMPLE, "/etc/bmp-agent/config.yaml")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **_unit_environment(),
            "NOTIFY_SOCKET": str(path),
        }
        box.start(argv, env)
        try:
            ready = _recv(sock, "READY=1")
            # READY=1 means the listeners are bound: they answer at once
            assert box.probe("http://127.0.0.1:9324/readyz") == "200", box.output()
            assert any(line.startswith("STATUS=bmp on 127.0.0.1:11019") for m in ready
                       for line in m.splitlines()), ready  # fmt: skip
            assert box.proc is not None
            box.proc.send_signal(signal.SIGHUP)
            reload = _recv(sock, "READY=1")
            assert "RELOADING=1" in reload[0].splitlines()
            assert re.search(r"^MONOTONIC_USEC=\d+$", reload[0], re.M)
            box.proc.send_signal(signal.SIGTERM)
            stopping = _recv(sock, "STOPPING=1")
            assert stopping
            assert box.proc.wait(15) == 0, box.output()
        finally:
            box.stop()


def test_config_error_exits_2_for_restart_prevent_exit_status(tmp_path: Path) -> None:
    """RestartPreventExitStatus=2 holds only if a bad config really exits 2."""
    argv = _exec_start()
    bad = tmp_path / "config.yaml"
    bad.write_text("bmp:\n  listen_on: 127.0.0.1:1\n")
    box = Sandbox(tmp_path / "box")
    (tmp_path / "box").mkdir()
    box.mount(Path(tool("bmp-agent")), argv[0])
    box.mount(bad, "/etc/bmp-agent/config.yaml")
    box.start(argv, {"PATH": "/usr/bin:/bin", **_unit_environment()})
    assert box.proc is not None and box.proc.wait(30) == 2
    assert "bmp.listen_on: unknown key" in box.output()
