"""Configuration: one frozen, validated ``Config``.

Sources, lowest precedence first:

1. built-in defaults (the dataclass defaults below);
2. a YAML file (``--config FILE``, or ``BMP_AGENT_CONFIG=FILE``);
3. environment variables ``BMP_AGENT_<KEY>``: the dotted key upper-cased with
   dots turned into underscores (``bmp.listen`` → ``BMP_AGENT_BMP_LISTEN``),
   lists comma-separated (``BMP_AGENT_BMP_LISTEN=127.0.0.1:11019,[::1]:11019``);
4. command-line flags (``--bmp-listen``, ``--connect``, ``--allow`` repeatable).

A source replaces a key's value as a whole (lists are not merged). Any bad
value (unknown key, wrong type, bad address, bad CIDR, port out of range)
raises ``ConfigError`` naming the key and the source; the CLI turns it into
exit status 2.

Defaults worth knowing:

- ``bmp.allow`` defaults to *any* address (``0.0.0.0/0`` and ``::/0``):
  ``bmp.listen`` defaults to loopback, so only local routers can reach it
  anyway. Set it when listening on a routable address.
- ``bmp.idle_timeout`` (90 s) is how long a connection may hold an
  incomplete BMP message, or stay open without sending its first message,
  before it is closed (slowloris protection). A router that is silent between
  whole messages is healthy and stays connected (BIRD sends nothing while
  nothing changes); dead connections are found by TCP keepalive. 0 disables it.

New sections (``sources:``, ``fib:``) are added by declaring another frozen
dataclass and a field of ``Config`` with it; the loader is driven by the
dataclass fields and their ``metadata["check"]`` validators.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parsers.bmp.header import MAX_MESSAGE_SIZE

ENV_PREFIX = "BMP_AGENT_"
#: Environment variable naming the config file (when ``--config`` is absent).
ENV_CONFIG_FILE = "BMP_AGENT_CONFIG"

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")


class ConfigError(ValueError):
    """A bad configuration value: ``key`` (dotted, with list index), ``source``."""

    def __init__(self, key: str, problem: str, source: str) -> None:
        super().__init__(f"{key}: {problem} (from {source})" if key else f"{problem} ({source})")
        self.key = key
        self.problem = problem
        self.source = source


@dataclass(frozen=True, slots=True)
class Endpoint:
    """HOST:PORT; IPv6 hosts are written ``[::1]:11019``."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$"
)


def parse_endpoint(text: str, *, allow_port_zero: bool = True) -> Endpoint:
    """Parse HOST:PORT. Raises ``ValueError`` with a short reason."""
    bad = f"{text!r} is not HOST:PORT"
    if not isinstance(text, str):
        raise ValueError(bad)
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(bad)
        host, port_text = text[1:end], text[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError(bad + (" (write IPv6 as [ADDR]:PORT)" if host.count(":") else ""))
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _HOSTNAME.match(host) or host.replace(".", "").isdigit():
                raise ValueError(f"{text!r}: {host!r} is not an address or host name") from None
    if not port_text.isdigit():
        raise ValueError(bad)
    port = int(port_text)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range {low}-65535")
    return Endpoint(host, port)


# --------------------------------------------------------------------------
# Validators: raw value (already type-checked) -> converted value, or ValueError


def _listen(value: str) -> Endpoint:
    return parse_endpoint(value, allow_port_zero=True)


def _connect(value: str) -> Endpoint:
    return parse_endpoint(value, allow_port_zero=False)


def _cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR ({exc})") from None


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        low = value.lower()
        if low not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return low

    return check


def _range(low: float, high: float | None = None) -> Callable[[float], float]:
    def check(value: float) -> float:
        if value < low or (high is not None and value > high):
            upper = f" and {high}" if high is not None else ""
            where = f"between {low}{upper}" if high is not None else f">= {low}"
            raise ValueError(f"{value!r} is out of range (must be {where})")
        return value

    return check


def _meta(check: Callable[[Any], Any] | None = None, *, help: str = "") -> dict[str, Any]:
    return {"check": check, "help": help}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class BmpConfig:
    listen: tuple[Endpoint, ...] = field(
        default=(Endpoint("127.0.0.1", 11019),), metadata=_meta(_listen)
    )
    connect: tuple[Endpoint, ...] = field(default=(), metadata=_meta(_connect))
    allow: tuple[Network, ...] = field(
        default=(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")),
        metadata=_meta(_cidr),
    )
    max_routers: int = field(default=64, metadata=_meta(_range(1, 100000)))
    idle_timeout: float = field(default=90.0, metadata=_meta(_range(0)))
    max_message_size: int = field(
        default=MAX_MESSAGE_SIZE, metadata=_meta(_range(4096, 16 * 1024 * 1024))
    )
    reconnect_min: float = field(default=1.0, metadata=_meta(_range(0.01, 3600)))
    reconnect_max: float = field(default=60.0, metadata=_meta(_range(0.01, 86400)))
    #: Upstream collectors each router's stream is relayed to (``agent.export.relay``).
    relay: tuple[Endpoint, ...] = field(default=(), metadata=_meta(_connect))
    #: Bytes buffered per relay upstream before it is dropped and resynced.
    relay_spool_bytes: int = field(default=64 * 1024 * 1024, metadata=_meta(_range(65536, 1 << 36)))

    def allowed(self, address: str) -> bool:
        """Whether a remote address is inside ``allow`` (IPv4-mapped IPv6 as IPv4)."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allow)


def _web_config(value: str) -> str:
    """A web config file (``agent.webconfig``): read and checked at load time."""
    if value:
        from .webconfig import load as load_web_config

        load_web_config(value)  # WebConfigError is a ValueError
    return value


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: Endpoint = field(default=Endpoint("127.0.0.1", 9324), metadata=_meta(_listen))
    #: TLS and basic auth (exporter-toolkit style file, ``agent.webconfig``); "" = plain HTTP.
    web_config: str = field(default="", metadata=_meta(_web_config))


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = field(default="info", metadata=_meta(_choice(LOG_LEVELS)))
    format: str = field(default="auto", metadata=_meta(_choice(LOG_FORMATS)))


@dataclass(frozen=True, slots=True)
class RibConfig:
    flap_window: float = field(default=60.0, metadata=_meta(_range(0.001)))
    top_flaps: int = field(default=10, metadata=_meta(_range(0, 10000)))


HEALTH_CHECKS = (
    "default_route_received",
    "public_asn",
    "no_graceful_restart",
    "host_route_flood",
    "ibgp_full_mesh_at_scale",
    "single_route_reflector",
    "expected_prefix_missing",
)
_VIEW_NAMES = ("adj_in_pre", "adj_in_post", "adj_out_pre", "adj_out_post", "loc_rib")


def _expected_prefix(value: str) -> str:
    """``PREFIX`` or ``PREFIX@VIEW``, normalised."""
    prefix, sep, view = value.strip().partition("@")
    try:
        net = ipaddress.ip_network(prefix.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r}: not a prefix ({exc})") from None
    if sep and view.strip() not in _VIEW_NAMES:
        raise ValueError(f"{value!r}: view {view.strip()!r} is not one of {', '.join(_VIEW_NAMES)}")
    return f"{net}@{view.strip()}" if sep else str(net)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """``health:``, the BGP health checks (``agent.health``); all applied on reload."""

    enabled: bool = field(default=True, metadata=_meta())
    #: Checks to turn off (names as in ``HEALTH_CHECKS``).
    disabled: tuple[str, ...] = field(default=(), metadata=_meta(_choice(HEALTH_CHECKS)))
    #: Views the per-peer route checks (default route, host routes) look at.
    route_views: tuple[str, ...] = field(
        default=("adj_in_pre",), metadata=_meta(_choice(_VIEW_NAMES))
    )
    #: Peers (by address) allowed to send a default route.
    default_route_allow: tuple[Network, ...] = field(default=(), metadata=_meta(_cidr))
    #: Public ASNs that are fine to use (public_asn does not fire for them).
    asn_allow: tuple[int, ...] = field(default=(), metadata=_meta(_range(0, 4294967295)))
    #: host_route_flood fires above this many /32 or /128 from one peer.
    host_routes_max: int = field(default=100, metadata=_meta(_range(0)))
    #: ibgp_full_mesh_at_scale fires above this many iBGP peers without reflection.
    ibgp_peers_max: int = field(default=100, metadata=_meta(_range(0)))
    #: single_route_reflector fires with at least one but fewer reflectors than this.
    reflectors_min: int = field(default=2, metadata=_meta(_range(2, 1000)))
    #: ``PREFIX`` or ``PREFIX@VIEW`` that every router must have (in the view).
    expected_prefixes: tuple[str, ...] = field(default=(), metadata=_meta(_expected_prefix))
    #: View of the expected prefixes written without ``@VIEW``.
    expected_view: str = field(default="adj_in_post", metadata=_meta(_choice(_VIEW_NAMES)))


def _fib_protocol(value: str) -> str:
    from .fib.netlink import proto_id

    proto_id(value)
    return value.strip().lower()


def _fib_table(value: str) -> str:
    """``TABLE`` or ``TABLE@RD`` (a VRF table compared with the peers of that distinguisher)."""
    from .fib.netlink import table_id

    table, sep, rd = value.strip().partition("@")
    table_id(table)
    if sep and not rd.strip():
        raise ValueError(f"{value!r}: empty route distinguisher after '@'")
    return f"{table.strip().lower()}@{rd.strip()}" if sep else table.strip().lower()


FIB_MODES = ("best", "multipath", "any")


@dataclass(frozen=True, slots=True)
class FibConfig:
    """``fib:``, kernel FIB reconciliation (``agent.fib``)."""

    enabled: bool = field(default=True, metadata=_meta())
    #: The router whose selection this kernel should hold: a router label or
    #: address; empty = the router whose BMP connection comes from this host.
    router: str = field(default="", metadata=_meta())
    #: Kernel route protocols compared (names from rt_protos or numbers).
    protocols: tuple[str, ...] = field(
        default=("bgp", "bird", "zebra"), metadata=_meta(_fib_protocol)
    )
    #: Tables compared: ``main``, a number, or ``TABLE@RD`` for a VRF.
    tables: tuple[str, ...] = field(default=("main",), metadata=_meta(_fib_table))
    #: Seconds a difference must last before it counts.
    grace: float = field(default=5.0, metadata=_meta(_range(0, 86400)))
    #: best, multipath (ECMP, as-path multipath-relax) or any (any candidate next hop).
    mode: str = field(default="best", metadata=_meta(_choice(FIB_MODES)))
    #: Seconds between checks for changes (BMP or kernel).
    interval: float = field(default=1.0, metadata=_meta(_range(0.05, 3600)))
    #: Netlink subscription receive buffer, bytes (0: the kernel default).
    rcvbuf: int = field(default=4 * 1024 * 1024, metadata=_meta(_range(0, 1 << 30)))


SOURCE_TYPES = ("bird",)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def _duration(value: Any) -> float:
    """Seconds: a number, or text like ``10s``, ``500ms``, ``2m``, ``1h``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a duration (e.g. 10s, 500ms, 2m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) * scale


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One entry of ``sources:``. ``type: bird`` polls a BIRD control socket
    (``agent.bird``): ``socket`` its path, ``interval`` between polls,
    ``router`` the router label (default: the socket's file name), ``timeout``
    per command."""

    type: str
    socket: str
    interval: float = 10.0
    router: str = ""
    timeout: float = 10.0


def parse_sources(value: Any, source: str, key: str = "sources") -> tuple[SourceConfig, ...]:
    """``sources:`` (a list of mappings) -> ``SourceConfig``s; ``ConfigError`` when bad."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(key, f"expected a list, got {type(value).__name__}", source)
    out: list[SourceConfig] = []
    names = {f.name for f in dataclasses.fields(SourceConfig)}
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(where, "expected a mapping", source)
        unknown = sorted(str(k) for k in item if k not in names)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key", source)
        kind = str(item.get("type", "")).lower()
        if kind not in SOURCE_TYPES:
            raise ConfigError(
                f"{where}.type",
                f"{item.get('type')!r} is not one of {', '.join(SOURCE_TYPES)}",
                source,
            )
        sock = item.get("socket")
        if not isinstance(sock, str) or not sock.strip():
            raise ConfigError(f"{where}.socket", "expected a socket path", source)
        kw: dict[str, Any] = {"type": kind, "socket": sock.strip()}
        for name, low, high in (("interval", 0.1, 86400.0), ("timeout", 0.1, 3600.0)):
            if name in item:
                try:
                    v = _range(low, high)(_duration(item[name]))
                except ValueError as exc:
                    raise ConfigError(f"{where}.{name}", str(exc), source) from None
                kw[name] = v
        if "router" in item:
            if not isinstance(item["router"], str):
                raise ConfigError(f"{where}.router", "expected a string", source)
            kw["router"] = item["router"].strip()
        out.append(SourceConfig(**kw))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Config:
    bmp: BmpConfig = BmpConfig()
    http: HttpConfig = HttpConfig()
    log: LogConfig = LogConfig()
    rib: RibConfig = RibConfig()
    health: HealthConfig = HealthConfig()
    fib: FibConfig = FibConfig()
    #: ``sources:``, a list (not a section of keys): see ``SourceConfig``.
    sources: tuple[SourceConfig, ...] = ()
    # Later sections (sources:, fib:) go here as further frozen dataclasses.


# --------------------------------------------------------------------------
# Schema: dotted key -> (section class, field)

_SCALAR_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


@dataclass(frozen=True, slots=True)
class _Key:
    name: str  # dotted
    section: str
    attr: str
    is_list: bool
    #: "int" | "float" | "bool" | "str" (Endpoint and networks come from str)
    scalar: str
    check: Callable[[Any], Any] | None


def _scalar_kind(type_text: str) -> str:
    for kind in ("int", "float", "bool"):
        if re.search(rf"\b{kind}\b", type_text):
            return kind
    return "str"


def _schema() -> dict[str, _Key]:
    keys: dict[str, _Key] = {}
    for sec in dataclasses.fields(Config):
        if sec.name == "sources":
            continue
        sec_type = type(getattr(Config(), sec.name))
        for f in dataclasses.fields(sec_type):
            type_text = str(f.type)
            is_list = type_text.startswith("tuple[")
            keys[f"{sec.name}.{f.name}"] = _Key(
                name=f"{sec.name}.{f.name}",
                section=sec.name,
                attr=f.name,
                is_list=is_list,
                scalar=_scalar_kind(type_text),
                check=f.metadata.get("check"),
            )
    return keys


SCHEMA: dict[str, _Key] = _schema()


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "_")


# --------------------------------------------------------------------------
# Loading


@dataclass(frozen=True, slots=True)
class _Raw:
    value: Any
    source: str
    #: Whether strings need converting (env vars and flags are text).
    text: bool


def _convert_scalar(key: _Key, label: str, value: Any, raw: _Raw) -> Any:
    kind = key.scalar
    typ = _SCALAR_TYPES[kind]
    if raw.text and isinstance(value, str):
        text = value.strip()
        try:
            if kind == "int":
                value = int(text)
            elif kind == "float":
                value = float(text)
            elif kind == "bool":
                low = text.lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value = low in ("1", "true", "yes", "on")
            else:
                value = text
        except ValueError:
            raise ConfigError(label, f"{value!r} is not {_article(kind)}", raw.source) from None
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
        raise ConfigError(
            label,
            f"expected {_article(kind)}, got {type(value).__name__} {value!r}",
            raw.source,
        )
    if key.check is not None:
        try:
            value = key.check(value)
        except ValueError as exc:
            raise ConfigError(label, str(exc), raw.source) from None
    return value


def _article(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "a boolean", "str": "a string"}[kind]


def _convert(key: _Key, raw: _Raw) -> Any:
    if not key.is_list:
        return _convert_scalar(key, key.name, raw.value, raw)
    value = raw.value
    if raw.text and isinstance(value, str):
        value = [] if not value.strip() else [v.strip() for v in value.split(",")]
    elif isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(
            key.name, f"expected a list, got {type(value).__name__} {value!r}", raw.source
        )
    return tuple(
        _convert_scalar(key, f"{key.name}[{i}]", item, raw) for i, item in enumerate(value)
    )


def _flatten_file(data: Any, source: str) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    if data is None:
        return out
    if not isinstance(data, dict):
        raise ConfigError("", "top level must be a mapping of sections", source)
    sections = {k.section for k in SCHEMA.values()}
    for sec_name, sec in data.items():
        if sec_name == "sources":
            out["sources"] = _Raw(sec, source, text=False)
            continue
        if sec_name not in sections:
            raise ConfigError(str(sec_name), "unknown section", source)
        if sec is None:
            continue
        if not isinstance(sec, dict):
            raise ConfigError(str(sec_name), "expected a mapping", source)
        for attr, value in sec.items():
            name = f"{sec_name}.{attr}"
            if name not in SCHEMA:
                raise ConfigError(name, "unknown key", source)
            out[name] = _Raw(value, source, text=False)
    return out


def read_file(path: str | Path) -> dict[str, _Raw]:
    source = f"config file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read: {exc.strerror or exc}", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError("", f"invalid YAML{where}", source) from None
    return _flatten_file(data, source)


def read_env(environ: Mapping[str, str]) -> dict[str, _Raw]:
    by_env = {env_name(k): k for k in SCHEMA}
    out: dict[str, _Raw] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        if name == env_name("sources"):
            # YAML/JSON text: BMP_AGENT_SOURCES='[{type: bird, socket: /run/bird/bird.ctl}]'
            where = f"environment variable {name}"
            try:
                out["sources"] = _Raw(yaml.safe_load(value), where, text=False)
            except yaml.YAMLError:
                raise ConfigError("sources", "invalid YAML", where) from None
            continue
        key = by_env.get(name)
        if key is None:
            raise ConfigError(name, "unknown setting", "environment")
        out[key] = _Raw(value, f"environment variable {name}", text=True)
    return out


#: Command-line flag → key. ``None`` values in ``flags`` mean "not given".
FLAG_KEYS: dict[str, str] = {
    "bmp_listen": "bmp.listen",
    "connect": "bmp.connect",
    "allow": "bmp.allow",
    "relay": "bmp.relay",
    "http_listen": "http.listen",
    "web_config_file": "http.web_config",
    "log_level": "log.level",
    "log_format": "log.format",
}

FLAG_NAMES: dict[str, str] = {
    "bmp_listen": "--bmp-listen",
    "connect": "--connect",
    "allow": "--allow",
    "relay": "--relay",
    "http_listen": "--http-listen",
    "web_config_file": "--web.config.file",
    "log_level": "--log-level",
    "log_format": "--log-format",
}


def read_flags(flags: Mapping[str, Any]) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    for dest, key in FLAG_KEYS.items():
        value = flags.get(dest)
        if value is None:
            continue
        source = f"flag {FLAG_NAMES[dest]}"
        if SCHEMA[key].is_list and isinstance(value, (list, tuple)):
            # Repeated flags; each may itself be comma-separated.
            items = [v.strip() for item in value for v in str(item).split(",") if v.strip()]
            out[key] = _Raw(items, source, text=True)
        else:
            out[key] = _Raw(value, source, text=True)
    return out


def build(layers: Iterable[Mapping[str, _Raw]]) -> Config:
    """Apply layers of raw values (later wins) over the defaults and validate."""
    merged: dict[str, _Raw] = {}
    for layer in layers:
        merged.update(layer)
    raw_sources = merged.pop("sources", None)
    values: dict[str, dict[str, Any]] = {}
    for name, raw in merged.items():
        key = SCHEMA[name]
        values.setdefault(key.section, {})[key.attr] = (_convert(key, raw), raw.source)
    sections: dict[str, Any] = {}
    default = Config()
    for sec in dataclasses.fields(Config):
        base = getattr(default, sec.name)
        given = values.get(sec.name, {})
        if given:
            base = dataclasses.replace(base, **{a: v for a, (v, _) in given.items()})
        sections[sec.name] = base
    if raw_sources is not None:
        sections["sources"] = parse_sources(raw_sources.value, raw_sources.source)
    config = Config(**sections)
    bmp = config.bmp
    if bmp.reconnect_min > bmp.reconnect_max:
        src = values.get("bmp", {}).get("reconnect_min", (None, "defaults"))[1]
        raise ConfigError(
            "bmp.reconnect_min",
            f"{bmp.reconnect_min} is above bmp.reconnect_max ({bmp.reconnect_max})",
            src,
        )
    return config


def load(
    *,
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """defaults → YAML file → ``BMP_AGENT_*`` environment → flags."""
    env = dict(os.environ if environ is None else environ)
    if path is None:
        path = env.get(ENV_CONFIG_FILE) or None
    layers: list[Mapping[str, _Raw]] = []
    if path is not None:
        layers.append(read_file(path))
    layers.append(read_env(env))
    layers.append(read_flags(flags or {}))
    return build(layers)


def to_dict(config: Config) -> dict[str, Any]:
    """JSON/YAML-ready view (addresses and networks as text)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, (Endpoint, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return str(v)
        return v

    out: dict[str, Any] = {
        sec.name: {
            f.name: plain(getattr(getattr(config, sec.name), f.name))
            for f in dataclasses.fields(type(getattr(config, sec.name)))
        }
        for sec in dataclasses.fields(Config)
        if sec.name != "sources"
    }
    out["sources"] = [dataclasses.asdict(s) for s in config.sources]
    return out
