"""``bmp.relay`` / ``bmp.relay_spool_bytes``: parsed and validated like every key."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, Endpoint, load


def test_relay_flag_and_env() -> None:
    cfg = load(flags={"relay": ["127.0.0.1:1790", "[::1]:5000"]}, environ={})
    assert cfg.bmp.relay == (Endpoint("127.0.0.1", 1790), Endpoint("::1", 5000))
    cfg = load(environ={"BMP_AGENT_BMP_RELAY_SPOOL_BYTES": "1048576"})
    assert cfg.bmp.relay_spool_bytes == 1048576
    assert load(environ={}).bmp.relay == ()


def test_bad_relay_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"bmp.relay\[0\]: .*port 0 is out of range"):
        load(flags={"relay": ["127.0.0.1:0"]}, environ={})
    with pytest.raises(ConfigError, match=r"bmp.relay_spool_bytes: 100 is out of range"):
        load(environ={"BMP_AGENT_BMP_RELAY_SPOOL_BYTES": "100"})
