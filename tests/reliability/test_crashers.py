"""Every input a fuzz target ever crashed on, replayed through that target.

``tests/data/crashers/<target>/crash-*`` are written by ``fuzz/run.py``
(``fuzz/targets.py``: ``TARGETS``); the older ``tests/data/crashers/crash-*``
belong to the combined ``session`` target. Each must now pass its target's
contract checks. The findings kept here: netlink messages longer than the
buffer, u32 attributes of other sizes, duplicate attributes read differently
by the learned layout and the attribute walk (``agent.fib.netlink``); a
config file that is not UTF-8 (``agent.config``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from reliability_support import CRASHERS, REPO

sys.path.insert(0, str(REPO / "fuzz"))
import targets

CASES = sorted(
    [(p.parent.name, p) for p in CRASHERS.glob("*/crash-*")]
    + [("session", p) for p in CRASHERS.glob("crash-*")]
)


def test_crashers_belong_to_targets() -> None:
    assert {name for name, _ in CASES} <= set(targets.TARGETS)
    assert {name for name, _ in CASES} >= {"netlink", "config", "session"}


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name[:14]}" for t, p in CASES])
def test_crasher_replays_clean(target: str, path: Path) -> None:
    targets.TARGETS[target].check(path.read_bytes())


def test_netlink_crasher_is_a_clear_error() -> None:
    """A message that claims more bytes than were received is a NetlinkError
    naming the offset, not a struct.error."""
    from agent.fib import netlink

    msg = bytes.fromhex("40000000180000000000000000000000") + bytes(12)
    state = netlink.KernelState(protocols=frozenset({186}), tables=None)
    with pytest.raises(netlink.NetlinkError, match="at offset 0 is 64 bytes, only 28 received"):
        netlink.apply_routes(state, msg)


def test_config_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    from agent.config import ConfigError, load

    path = tmp_path / "agent.yaml"
    path.write_bytes(b"bmp:\n  max_routers: \xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 20\)"):
        load(path=path, environ={})
