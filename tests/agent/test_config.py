"""Config: defaults → file → env → flags, and every error path with its exact message."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from agent.config import (
    Config,
    ConfigError,
    ConfigWarning,
    Endpoint,
    env_name,
    is_service_link,
    load,
    parse_endpoint,
    to_dict,
)
from parsers.bmp.messages import MAX_MESSAGE_SIZE


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.yaml"
    p.write_text(text)
    return p


def error(**kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(**kw)  # type: ignore[arg-type]
    return str(info.value)


def test_defaults() -> None:
    cfg = load(environ={})
    assert cfg == Config()
    # Sections added later (health, ...) are checked by their own tests.
    core_sections = ("bmp", "http", "log", "rib")
    assert {k: v for k, v in to_dict(cfg).items() if k in core_sections} == {
        "bmp": {
            "listen": ["127.0.0.1:11019"],
            "connect": [],
            "allow": ["0.0.0.0/0", "::/0"],
            "max_routers": 64,
            "idle_timeout": 90.0,
            "max_message_size": MAX_MESSAGE_SIZE,
            "reconnect_min": 1.0,
            "reconnect_max": 60.0,
            "ipv6_only": False,
            "max_sessions_per_address": 2,
            "silent_timeout": 300.0,
            "forget_after": 3600.0,
            "max_peers_per_router": 10000,
            "max_errors": 100,
            "relay": [],
            "relay_spool_bytes": 64 * 1024 * 1024,
        },
        "http": {
            "listen": "127.0.0.1:9324",
            "web_config": "",
            "ipv6_only": False,
            "max_concurrent_api": 4,
            "max_connections": 1024,
            "fd_reserve": 256,
            "keepalive_timeout": 15.0,
            "body_timeout": 10.0,
            "request_timeout": 120.0,
            "max_line_size": 8190,
            "max_field_size": 8190,
            "max_headers": 64,
            "max_limit": 10_000,
            "api_share": 0.25,
        },
        "log": {"level": "info", "format": "auto", "decode_warnings_per_minute": 10},
        "rib": {
            "flap_window": 60.0,
            "top_flaps": 10,
            "count_communities": [],
            "max_routes_per_peer": 0,
            "max_routes_per_router": 0,
            "max_routes": 0,
            "on_limit": "drop",
        },
    }


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
bmp:
  listen: ["10.0.0.1:1000", "[fd00::1]:1001"]
  connect: 192.0.2.1:5000
  max_routers: 5
  idle_timeout: 30
http:
  listen: 127.0.0.1:1
log:
  level: warning
rib:
  flap_window: 120
  top_flaps: 3
""",
    )
    # file only
    cfg = load(path=path, environ={})
    assert cfg.bmp.listen == (Endpoint("10.0.0.1", 1000), Endpoint("fd00::1", 1001))
    assert cfg.bmp.connect == (Endpoint("192.0.2.1", 5000),)
    assert cfg.bmp.max_routers == 5
    assert cfg.bmp.idle_timeout == 30.0
    assert cfg.http.listen == Endpoint("127.0.0.1", 1)
    assert cfg.log.level == "warning"
    assert (cfg.rib.flap_window, cfg.rib.top_flaps) == (120.0, 3)

    # env over file
    env = {
        "BMP_AGENT_BMP_LISTEN": "127.0.0.2:2000, [::1]:2001",
        "BMP_AGENT_HTTP_LISTEN": "127.0.0.1:2",
        "BMP_AGENT_LOG_LEVEL": "DEBUG",
        "BMP_AGENT_BMP_MAX_ROUTERS": "7",
    }
    cfg = load(path=path, environ=env)
    assert cfg.bmp.listen == (Endpoint("127.0.0.2", 2000), Endpoint("::1", 2001))
    assert cfg.http.listen == Endpoint("127.0.0.1", 2)
    assert cfg.log.level == "debug"
    assert cfg.bmp.max_routers == 7
    assert cfg.bmp.idle_timeout == 30.0  # still from the file

    # flags over env
    flags = {
        "bmp_listen": ["127.0.0.3:3000", "127.0.0.3:3001"],
        "http_listen": "127.0.0.1:3",
        "log_level": "error",
        "allow": ["10.0.0.0/8", "2001:db8::/32"],
        "connect": ["[2001:db8::1]:5000"],
    }
    cfg = load(path=path, environ=env, flags=flags)
    assert cfg.bmp.listen == (Endpoint("127.0.0.3", 3000), Endpoint("127.0.0.3", 3001))
    assert cfg.http.listen == Endpoint("127.0.0.1", 3)
    assert cfg.log.level == "error"
    assert cfg.bmp.allow == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert cfg.bmp.connect == (Endpoint("2001:db8::1", 5000),)
    assert cfg.bmp.max_routers == 7  # env, no flag for it


def test_config_file_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "rib:\n  top_flaps: 4\n")
    assert load(environ={"BMP_AGENT_CONFIG": str(path)}).rib.top_flaps == 4


def test_env_names_follow_the_rule() -> None:
    assert env_name("bmp.listen") == "BMP_AGENT_BMP_LISTEN"
    assert env_name("bmp.reconnect_min") == "BMP_AGENT_BMP_RECONNECT_MIN"
    assert env_name("rib.flap_window") == "BMP_AGENT_RIB_FLAP_WINDOW"


def test_empty_env_list_means_none() -> None:
    assert load(environ={"BMP_AGENT_BMP_CONNECT": ""}).bmp.connect == ()


def test_empty_file_and_empty_section(tmp_path: Path) -> None:
    assert load(path=write(tmp_path, ""), environ={}) == Config()
    assert load(path=write(tmp_path, "bmp:\n"), environ={}) == Config()


def test_allowed_addresses() -> None:
    cfg = load(environ={}, flags={"allow": ["10.0.0.0/8", "fd00::/8"]})
    assert cfg.bmp.allowed("10.1.2.3")
    assert cfg.bmp.allowed("::ffff:10.1.2.3")  # IPv4-mapped, from a dual-stack socket
    assert cfg.bmp.allowed("fd00::1")
    assert not cfg.bmp.allowed("127.0.0.1")
    assert not cfg.bmp.allowed("::1")
    assert not cfg.bmp.allowed("not-an-address")
    default = load(environ={})
    assert default.bmp.allowed("192.0.2.1") and default.bmp.allowed("2001:db8::1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:11019", Endpoint("127.0.0.1", 11019)),
        ("[::1]:11019", Endpoint("::1", 11019)),
        ("localhost:80", Endpoint("localhost", 80)),
        ("0.0.0.0:0", Endpoint("0.0.0.0", 0)),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected
    assert str(expected) == text


# ------------------------------------------------------------------ errors


def test_bad_listen_entry_names_index_and_source() -> None:
    assert error(environ={}, flags={"bmp_listen": ["127.0.0.1:1", "foo"]}) == (
        "bmp.listen[1]: 'foo' is not HOST:PORT (from flag --bmp-listen)"
    )
    assert error(environ={"BMP_AGENT_BMP_LISTEN": "127.0.0.1:1,foo"}) == (
        "bmp.listen[1]: 'foo' is not HOST:PORT (from environment variable BMP_AGENT_BMP_LISTEN)"
    )


def test_unbracketed_ipv6(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  listen: '::1:9324'\n")
    assert error(path=path, environ={}) == (
        f"http.listen: '::1:9324' is not HOST:PORT (write IPv6 as [ADDR]:PORT) "
        f"(from config file {path})"
    )


def test_bad_bracketed_ipv6() -> None:
    assert error(environ={}, flags={"http_listen": "[fe80::zz]:80"}) == (
        "http.listen: '[fe80::zz]:80': 'fe80::zz' is not an IPv6 address (from flag --http-listen)"
    )


def test_port_out_of_range() -> None:
    assert error(environ={}, flags={"bmp_listen": ["127.0.0.1:65536"]}) == (
        "bmp.listen[0]: '127.0.0.1:65536': port 65536 is out of range 0-65535 (from flag --bmp-listen)"
    )
    assert error(environ={}, flags={"connect": ["127.0.0.1:0"]}) == (
        "bmp.connect[0]: '127.0.0.1:0': port 0 is out of range 1-65535 (from flag --connect)"
    )


def test_bad_host() -> None:
    assert error(environ={}, flags={"bmp_listen": ["300.1.1.1:5"]}) == (
        "bmp.listen[0]: '300.1.1.1:5': '300.1.1.1' is not an address or host name "
        "(from flag --bmp-listen)"
    )


def test_bad_cidr() -> None:
    assert error(environ={}, flags={"allow": ["10.0.0.0/8", "10.0.0.1/8"]}) == (
        "bmp.allow[1]: '10.0.0.1/8' is not a CIDR (10.0.0.1/8 has host bits set) (from flag --allow)"
    )
    assert error(environ={"BMP_AGENT_BMP_ALLOW": "banana"}) == (
        "bmp.allow[0]: 'banana' is not a CIDR ('banana' does not appear to be an IPv4 or IPv6 "
        "network) (from environment variable BMP_AGENT_BMP_ALLOW)"
    )


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bmp:\n  listen_on: 127.0.0.1:1\n")
    assert error(path=path, environ={}) == f"bmp.listen_on: unknown key (from config file {path})"


def test_unknown_section_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bgp:\n  x: 1\n")
    assert error(path=path, environ={}) == f"bgp: unknown section (from config file {path})"


def test_unknown_env_var_is_a_warning_naming_it() -> None:
    heard: list[str] = []
    cfg = load(environ={"BMP_AGENT_BMP_LISTN": "x", "BMP_AGENT_LOG_LEVEL": "debug"},
               on_warning=heard.append)  # fmt: skip
    assert heard == ["BMP_AGENT_BMP_LISTN: unknown setting (from environment), ignored"]
    assert cfg.log.level == "debug" and cfg.bmp.listen == Config().bmp.listen
    # without a listener: a ConfigWarning
    with pytest.warns(ConfigWarning, match=r"^BMP_AGENT_FOO: unknown setting"):
        load(environ={"BMP_AGENT_FOO": "1"})


# What a kubelet injects for Services "bmp-agent" (ports http 9324, bmp 11019)
# and "bmp-agent-collector" in the namespace (enableServiceLinks).
SERVICE_LINKS = {
    "BMP_AGENT_SERVICE_HOST": "10.96.0.10",
    "BMP_AGENT_SERVICE_PORT": "9324",
    "BMP_AGENT_SERVICE_PORT_HTTP": "9324",
    "BMP_AGENT_PORT": "tcp://10.96.0.10:9324",
    "BMP_AGENT_PORT_9324_TCP": "tcp://10.96.0.10:9324",
    "BMP_AGENT_PORT_9324_TCP_PROTO": "tcp",
    "BMP_AGENT_PORT_9324_TCP_PORT": "9324",
    "BMP_AGENT_PORT_9324_TCP_ADDR": "10.96.0.10",
    "BMP_AGENT_PORT_11019_TCP": "tcp://10.96.0.10:11019",
    "BMP_AGENT_PORT_11019_TCP_PROTO": "tcp",
    "BMP_AGENT_PORT_11019_TCP_PORT": "11019",
    "BMP_AGENT_PORT_11019_TCP_ADDR": "10.96.0.10",
    "BMP_AGENT_COLLECTOR_SERVICE_HOST": "10.96.0.11",
    "BMP_AGENT_COLLECTOR_SERVICE_PORT": "11019",
    "BMP_AGENT_COLLECTOR_SERVICE_PORT_BMP": "11019",
    "BMP_AGENT_COLLECTOR_PORT": "tcp://10.96.0.11:11019",
    "BMP_AGENT_COLLECTOR_PORT_11019_TCP_ADDR": "10.96.0.11",
    "BMP_AGENT_PORT_53_UDP_PROTO": "udp",
}


def test_service_links_are_ignored_silently() -> None:
    heard: list[str] = []
    env = {**SERVICE_LINKS, "BMP_AGENT_BMP_MAX_ROUTERS": "3"}
    cfg = load(environ=env, on_warning=heard.append)
    assert heard == []
    assert cfg == Config(bmp=dataclasses.replace(Config().bmp, max_routers=3))
    assert all(is_service_link(name) for name in SERVICE_LINKS)
    # settings and near misses are not service links
    for name in (
        "BMP_AGENT_BMP_LISTEN",
        "BMP_AGENT_PORTS",
        "BMP_AGENT_PORT_9324",
        "BMP_AGENT_HOST",
    ):
        assert not is_service_link(name), name


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_numbers_are_rejected(text: str, tmp_path: Path) -> None:
    assert error(environ={"BMP_AGENT_RIB_FLAP_WINDOW": text}) == (
        f"rib.flap_window: {float(text)!r} is not a finite number "
        "(from environment variable BMP_AGENT_RIB_FLAP_WINDOW)"
    )
    path = write(tmp_path, f"bmp:\n  idle_timeout: .{text.lstrip('-').lower()}\n")
    value = float(text.lstrip("-"))
    assert error(path=path, environ={}) == (
        f"bmp.idle_timeout: {value!r} is not a finite number (from config file {path})"
    )


def test_text_booleans_and_ipv6_only() -> None:
    cfg = load(environ={"BMP_AGENT_BMP_IPV6_ONLY": "yes", "BMP_AGENT_HTTP_IPV6_ONLY": "0"})
    assert (cfg.bmp.ipv6_only, cfg.http.ipv6_only) == (True, False)
    assert error(environ={"BMP_AGENT_HEALTH_ENABLED": "maybe"}) == (
        "health.enabled: 'maybe' is not a boolean (from environment variable BMP_AGENT_HEALTH_ENABLED)"
    )


def test_sections_are_frozen_dataclasses() -> None:
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rib.flap_window = 1.0  # type: ignore[misc]
    assert dataclasses.replace(cfg.rib, top_flaps=3).top_flaps == 3
    with pytest.raises(ValueError, match="out of range"):
        dataclasses.replace(cfg.rib, top_flaps=-1)  # replace re-validates


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bmp:\n  max_routers: many\n", "bmp.max_routers: expected an integer, got str 'many'"),
        ("bmp:\n  max_routers: true\n", "bmp.max_routers: expected an integer, got bool True"),
        ("bmp:\n  listen: {a: 1}\n", "bmp.listen: expected a list, got dict {'a': 1}"),
        ("bmp:\n  listen: [5]\n", "bmp.listen[0]: expected a string, got int 5"),
        # a YAML string is no number
        ("rib:\n  flap_window: '60'\n", "rib.flap_window: expected a number, got str '60'"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    assert error(path=path, environ={}) == f"{message} (from config file {path})"


@pytest.mark.parametrize(
    ("environ", "flags", "message"),
    [
        (
            {"BMP_AGENT_BMP_IDLE_TIMEOUT": "soon"},
            None,
            "bmp.idle_timeout: 'soon' is not a number "
            "(from environment variable BMP_AGENT_BMP_IDLE_TIMEOUT)",
        ),
        # out of range and choices
        (
            {"BMP_AGENT_BMP_MAX_ROUTERS": "0"},
            None,
            "bmp.max_routers: 0 is out of range (must be between 1 and 100000) "
            "(from environment variable BMP_AGENT_BMP_MAX_ROUTERS)",
        ),
        (
            {},
            {"log_level": "loud"},
            "log.level: 'loud' is not one of debug, info, warning, error (from flag --log-level)",
        ),
        (
            {"BMP_AGENT_LOG_FORMAT": "xml"},
            None,
            "log.format: 'xml' is not one of auto, json, console "
            "(from environment variable BMP_AGENT_LOG_FORMAT)",
        ),
        # the reconnect bounds' cross-check
        (
            {"BMP_AGENT_BMP_RECONNECT_MIN": "100"},
            None,
            "bmp.reconnect_min: 100.0 is above bmp.reconnect_max (60.0) "
            "(from environment variable BMP_AGENT_BMP_RECONNECT_MIN)",
        ),
    ],
)
def test_bad_environment_and_flags(
    environ: dict[str, str], flags: dict[str, str] | None, message: str
) -> None:
    kw: dict[str, object] = {"environ": environ}
    if flags is not None:
        kw["flags"] = flags
    assert error(**kw) == message


def test_top_level_not_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert error(path=path, environ={}) == (
        f"top level must be a mapping of sections (config file {path})"
    )


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "bmp:\n  listen: [\n")
    assert error(path=path, environ={}) == f"invalid YAML at line 3, column 1 (config file {path})"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error(path=path, environ={}) == (
        f"cannot read: No such file or directory (config file {path})"
    )
