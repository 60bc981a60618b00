"""The systemd unit: ``systemd-analyze verify`` and ``systemd-analyze security``.

There is no systemd as PID 1 here (containers, CI), so both run offline:
``verify`` against a private root holding the unit, the distribution's units
and a stand-in for the ExecStart binary (it checks that the binary exists),
``security --offline=true`` on the unit file. The exposure score must be at
most 2.5; it is printed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from deploy_support import REPO, run, tool

from agent import config as agent_config
from agent.cli.main import build_parser

UNIT = REPO / "systemd" / "bmp-agent.service"
EXAMPLE = REPO / "systemd" / "config.yaml"
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


def test_verify(tmp_path: Path) -> None:
    if SYSTEM_UNITS is None:
        pytest.fail("no system unit directory: apt-get install systemd")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
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
    if SYSTEM_UNITS is None:
        pytest.fail("no system unit directory: apt-get install systemd")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
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
    assert score <= 2.5


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
    assert "network-online.target" in one["After"].split()
    assert "network-online.target" in one["Wants"].split()
    assert one["Type"] == "simple"  # no Type=notify: the agent does not speak sd_notify
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
