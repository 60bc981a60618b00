"""Configuration: one frozen, validated ``Config``.

Sources, lowest precedence first:

1. built-in defaults (the dataclass defaults below);
2. a YAML file (``--config FILE``, or ``BMP_AGENT_CONFIG=FILE``);
3. environment variables ``BMP_AGENT_<KEY>``: the dotted key upper-cased with
   dots turned into underscores (``bmp.listen`` → ``BMP_AGENT_BMP_LISTEN``),
   lists comma-separated (``BMP_AGENT_BMP_LISTEN=127.0.0.1:11019,[::1]:11019``);
4. command-line flags (``--bmp-listen``, ``--connect``, ``--allow`` repeatable).

A source replaces a key's value as a whole (lists are not merged). Any bad
value of a known key (wrong type, bad address, bad CIDR, port out of range,
NaN or infinity) and any unknown key in the file raises ``ConfigError``
naming the key and the source; the CLI turns it into exit status 2.

An environment variable with the prefix that is no setting is *not* an error
(a pod's environment is not the operator's alone): ``load`` reports it through
``on_warning`` naming it, and the agent starts. Variables of the shape a
kubelet injects for Services (``BMP_AGENT_SERVICE_HOST``,
``BMP_AGENT_SERVICE_PORT[_NAME]``, ``BMP_AGENT_PORT``,
``BMP_AGENT_PORT_9324_TCP[_PROTO|_PORT|_ADDR]``, also for Services named
``bmp-agent-*``) are ignored without a word.

The library: **pydantic** (v2). The sections are pydantic dataclasses: real
frozen, slotted stdlib dataclasses (``dataclasses.replace``, the attribute
API ``config.rib.flap_window`` and equality are unchanged for the rest of
the agent) whose fields are validated by pydantic from their annotations
(strict scalars: ``true`` is no integer, ``"7"`` in YAML is no number; no
NaN/inf), with the agent's own checks (addresses, CIDRs, ranges, choices)
attached as validators, and whose JSON Schema (``json_schema()``) feeds the
Helm chart's ``values.schema.json`` (``scripts/gen_config_schema.py``).
pydantic-settings was the other candidate; it merges every source into one
dict *before* validating, so an error could not say which source the bad
value came from, it reads lists from the environment as JSON only, and it
ignores unknown prefixed variables without a word: the three things this
module must do differently. What is left here is the thin part: reading the
file, the environment and the flags into layers that remember their source,
turning text into the field's scalar type, and wording pydantic's errors as
``KEY: PROBLEM (from SOURCE)``.

Defaults worth knowing:

- ``bmp.allow`` defaults to *any* address (``0.0.0.0/0`` and ``::/0``):
  ``bmp.listen`` defaults to loopback, so only local routers can reach it
  anyway. Set it when listening on a routable address.
- ``bmp.listen``/``http.listen`` on ``[::]`` take IPv4 and IPv6 clients
  (dual-stack, ``agent.netaddr``); ``bmp.ipv6_only``/``http.ipv6_only`` make
  them IPv6-only.
- ``bmp.idle_timeout`` (90 s) is how long a connection may hold an
  incomplete BMP message, or stay open without sending its first message,
  before it is closed (slowloris protection). A router that is silent between
  whole messages is healthy and stays connected (BIRD sends nothing while
  nothing changes); dead connections are found by TCP keepalive. 0 disables it.
- ``rib.max_routes`` 0 is derived from the memory available
  (``agent.membudget``); ``rib.max_routes_per_peer``/``_per_router`` 0 are
  no limit. At a limit new routes are dropped and counted, the session stays
  (``rib.on_limit: close`` closes it); storing resumes below 90 %.
- ``bmp.max_sessions_per_address`` (2) refuses a third session from one
  address; ``bmp.silent_timeout`` (300 s) makes a session silent since its
  Initiation, with no peer up, evictable (oldest first) when slots are short;
  ``bmp.forget_after`` (1 h) drops the state of gone routers and down peers.

New sections are added by declaring another pydantic dataclass and a field of
``Config`` with it; the loader, the environment names and the JSON Schema
follow the fields.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass
from pydantic_core import core_schema

from parsers.bmp.messages import MAX_MESSAGE_SIZE, VIEWS

from .netaddr import in_networks

ENV_PREFIX = "BMP_AGENT_"
#: Environment variable naming the config file (when ``--config`` is absent).
ENV_CONFIG_FILE = "BMP_AGENT_CONFIG"

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")
ON_LIMIT = ("drop", "close")

#: Every section: unknown keys are errors, no NaN or infinity, no coercion
#: beyond what the annotations say.
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class ConfigError(ValueError):
    """A bad configuration value: ``key`` (dotted, with list index), ``source``."""

    def __init__(self, key: str, problem: str, source: str) -> None:
        super().__init__(f"{key}: {problem} (from {source})" if key else f"{problem} ({source})")
        self.key = key
        self.problem = problem
        self.source = source


class ConfigWarning(UserWarning):
    """Something in the environment that is no setting (the agent still starts)."""


@dataclasses.dataclass(frozen=True, slots=True)
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
        # [IPv4]:PORT too, as Go's net.SplitHostPort: "[$(HOST_IP)]:9324"
        # then works for a node address of either family.
        try:
            host = str(ipaddress.ip_address(host)) if ":" not in host else host
            ipaddress.IPv6Address(host) if ":" in host else None
        except ValueError:
            if ":" not in host:
                raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
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
# Field types: pydantic validators with the agent's wording, and their schema


def _got(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _need_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_got(value)}")
    return value


def _listen(value: Any) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    return parse_endpoint(_need_str(value), allow_port_zero=True)


def _connect(value: Any) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    return parse_endpoint(_need_str(value), allow_port_zero=False)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _cidr(value: Any) -> Network:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    try:
        return ipaddress.ip_network(_need_str(value), strict=True)
    except ValueError as exc:
        if not isinstance(value, str):
            raise
        raise ValueError(f"{value!r} is not a CIDR ({exc})") from None


_ENDPOINT_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+):[0-9]{1,5}$"
#: CIDR: an IPv4 or IPv6 network (host bits are checked by the agent).
_CIDR_PATTERN = r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$"


def _choice_check(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        low = _need_str(value).lower()
        if low not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return low

    return check


def _range(low: float, high: float | None = None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value < low or (high is not None and value > high):
            upper = f" and {high}" if high is not None else ""
            where = f"between {low}{upper}" if high is not None else f">= {low}"
            raise ValueError(f"{value!r} is out of range (must be {where})")
        return value

    return check


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """Field metadata: validate with ``fn`` (raw value → value, ``ValueError``
    with the agent's wording), described by the JSON Schema ``schema``."""

    fn: Callable[[Any], Any]
    schema: Mapping[str, Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.fn)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return dict(self.schema)


@dataclasses.dataclass(frozen=True, slots=True)
class Bounds:
    """Field metadata after ``Strict()``: a number within ``[low, high]``."""

    low: float
    high: float | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _range(self.low, self.high), handler(source)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        out = dict(handler(schema))
        out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        return out


def OneOf(options: tuple[str, ...]) -> Check:
    """A string among ``options`` (case-insensitive, kept lower-case)."""
    return Check(_choice_check(options), {"type": "string", "enum": list(options)})


def Validated(fn: Callable[[str], str], schema: Mapping[str, Any]) -> Check:
    """A string checked (and normalised) by ``fn``."""
    return Check(lambda v: fn(_need_str(v)), schema)


_ENDPOINT = {
    "type": "string",
    "pattern": _ENDPOINT_PATTERN,
    "description": "HOST:PORT, [IPV6]:PORT",
}
ListenAddress = Annotated[Endpoint, Check(_listen, _ENDPOINT)]
ConnectAddress = Annotated[Endpoint, Check(_connect, _ENDPOINT)]
Cidr = Annotated[
    Network, Check(_cidr, {"type": "string", "pattern": _CIDR_PATTERN, "description": "CIDR"})
]


# --------------------------------------------------------------------------
# Sections


@dataclass(frozen=True, slots=True, config=_STRICT)
class BmpConfig:
    listen: tuple[ListenAddress, ...] = (Endpoint("127.0.0.1", 11019),)
    connect: tuple[ConnectAddress, ...] = ()
    allow: tuple[Cidr, ...] = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    max_routers: Annotated[int, Strict(), Bounds(1, 100000)] = 64
    idle_timeout: Annotated[float, Strict(), Bounds(0)] = 90.0
    max_message_size: Annotated[int, Strict(), Bounds(4096, 16 * 1024 * 1024)] = MAX_MESSAGE_SIZE
    reconnect_min: Annotated[float, Strict(), Bounds(0.01, 3600)] = 1.0
    reconnect_max: Annotated[float, Strict(), Bounds(0.01, 86400)] = 60.0
    #: ``[::]`` listeners take IPv6 clients only (default: IPv4 too).
    ipv6_only: Annotated[bool, Strict()] = False
    #: Sessions open at once from one source address (two BMP targets on one
    #: speaker need 2); more are refused (``bmp_router_refusals_total``).
    max_sessions_per_address: Annotated[int, Strict(), Bounds(1, 100000)] = 2
    #: Seconds a session may send nothing after its Initiation with no peer up
    #: before it may be closed to make room (oldest first) when slots are short.
    silent_timeout: Annotated[float, Strict(), Bounds(0.001, 86400 * 7)] = 300.0
    #: Seconds after which a disconnected router's state, and a down peer's,
    #: is dropped (their flap and Peer Down counts stay in aggregate).
    forget_after: Annotated[float, Strict(), Bounds(0.001, 86400 * 365)] = 3600.0
    #: Peers one router may have (0: no limit); messages of more are ignored, counted.
    max_peers_per_router: Annotated[int, Strict(), Bounds(0, 10_000_000)] = 10000
    #: Consecutive malformed messages after which the session is dropped (0: never).
    max_errors: Annotated[int, Strict(), Bounds(0, 10_000_000)] = 100
    #: Upstream collectors every router's BMP stream is relayed to, with
    #: resync from the RIB on (re)connect (``agent.export.relay``).
    relay: tuple[ConnectAddress, ...] = ()
    #: Bytes buffered per relay upstream before it is dropped and resynced.
    relay_spool_bytes: Annotated[int, Strict(), Bounds(65536, 1 << 36)] = 64 * 1024 * 1024

    def allowed(self, address: str) -> bool:
        """Whether a remote address is inside ``allow`` (IPv4-mapped IPv6 as IPv4)."""
        return in_networks(address, self.allow)


def _web_config(value: str) -> str:
    """A web config file (``agent.webconfig``): read and checked at load time."""
    if value:
        from .webconfig import load as load_web_config

        load_web_config(value)  # WebConfigError is a ValueError
    return value


@dataclass(frozen=True, slots=True, config=_STRICT)
class HttpConfig:
    listen: ListenAddress = Endpoint("127.0.0.1", 9324)
    #: TLS and basic auth (exporter-toolkit style file, ``agent.webconfig``); "" = plain HTTP.
    web_config: Annotated[
        str,
        Validated(
            _web_config, {"type": "string", "description": "web config file (TLS, basic auth)"}
        ),
    ] = ""
    #: A ``[::]`` listener takes IPv6 clients only (default: IPv4 too).
    ipv6_only: Annotated[bool, Strict()] = False
    #: Heavy API requests (routes, peers, flaps, fib/diff) answered at once;
    #: beyond it a 429 with ``Retry-After`` (``bmp_http_rejected_total{reason="busy"}``).
    max_concurrent_api: Annotated[int, Strict(), Bounds(1, 1024)] = 4
    #: Open HTTP connections; beyond it new ones get a 503 and are closed
    #: (``reason="connections"``). Also capped so that ``fd_reserve``
    #: descriptors stay free for BMP.
    max_connections: Annotated[int, Strict(), Bounds(1, 1_000_000)] = 1024
    #: File descriptors kept free for BMP sessions: HTTP accepts stop short of
    #: ``RLIMIT_NOFILE - fd_reserve`` open descriptors.
    fd_reserve: Annotated[int, Strict(), Bounds(16, 1_000_000)] = 256
    #: Seconds an idle connection (before its first request or between
    #: keep-alive requests, or with half-sent headers) stays open.
    keepalive_timeout: Annotated[float, Strict(), Bounds(0.1, 3600)] = 15.0
    #: Seconds a request body may take to arrive (aiohttp ``lingering_time``).
    body_timeout: Annotated[float, Strict(), Bounds(0.1, 3600)] = 10.0
    #: Seconds one request may take, answer included; a client that reads
    #: slower is cut off.
    request_timeout: Annotated[float, Strict(), Bounds(0.1, 86400)] = 120.0
    #: Longest request line (URL) and header line, in bytes; most headers.
    max_line_size: Annotated[int, Strict(), Bounds(256, 65536)] = 8190
    max_field_size: Annotated[int, Strict(), Bounds(256, 65536)] = 8190
    max_headers: Annotated[int, Strict(), Bounds(8, 1024)] = 64
    #: Largest ``limit`` of one API answer; more only by following ``next``
    #: (the cursor).
    max_limit: Annotated[int, Strict(), Bounds(1, 1_000_000)] = 10_000
    #: Share of the event loop's time all streamed API answers together may
    #: use (the rest stays with BMP ingest and /metrics).
    api_share: Annotated[float, Strict(), Bounds(0.05, 1.0)] = 0.25


@dataclass(frozen=True, slots=True, config=_STRICT)
class LogConfig:
    level: Annotated[str, OneOf(LOG_LEVELS)] = "info"
    format: Annotated[str, OneOf(LOG_FORMATS)] = "auto"
    #: Decode warnings logged per router and error kind per minute; the rest
    #: are counted and summarised in one line ("N more suppressed").
    decode_warnings_per_minute: Annotated[int, Strict(), Bounds(1, 100000)] = 10


def _community(value: str) -> str:
    """A BGP community as text (``agent.health.community``), normalised."""
    from .health.community import normalise

    return normalise(value)


#: Bound of ``rib.count_communities`` (series: peers x views x communities).
COUNT_COMMUNITIES_MAX = 64

_COMMUNITY = {
    "type": "string",
    "minLength": 1,
    "description": "BGP community: 64510:100, large 64510:1:2, extended rt:64510:100",
}


def _peer_selector(value: str) -> str:
    """A peer selector (``agent.health.selectors``): CIDR, ASN, id:CIDR or sysname:GLOB."""
    from .health.selectors import normalise_selector

    return normalise_selector(value)


_PEER_SELECTOR = {
    "type": "string",
    "minLength": 1,
    "description": "peer selector: CIDR, ASN (65010, AS65010), id:CIDR or sysname:GLOB",
}

_DCI_FAMILIES = {"ipv4": 32, "ipv6": 128}


def _max_length(value: str) -> str:
    """``ipv4:N`` or ``ipv6:N`` (also ``ipv4/N``), normalised to ``ipv4:N``."""
    fam, sep, n = value.strip().lower().replace("/", ":").partition(":")
    fam = fam.strip()
    top = _DCI_FAMILIES.get(fam)
    if not sep or top is None or not n.strip().isdigit() or int(n) > top:
        raise ValueError(f"{value!r} is not ipv4:0-32 or ipv6:0-128")
    return f"{fam}:{int(n)}"


@dataclasses.dataclass(frozen=True, slots=True)
class MaxItems:
    """Field metadata of a list: at most ``limit`` items of ``what`` (each one costs series)."""

    limit: int
    what: str
    why: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            if len(value) > self.limit:
                raise ValueError(f"{len(value)} {self.what}, at most {self.limit} ({self.why})")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        out = dict(handler(schema))
        out["maxItems"] = self.limit
        return out


CommunityText = Annotated[str, Validated(_community, _COMMUNITY)]
PeerSelector = Annotated[str, Validated(_peer_selector, _PEER_SELECTOR)]


@dataclass(frozen=True, slots=True, config=_STRICT)
class RibConfig:
    flap_window: Annotated[float, Strict(), Bounds(0.001)] = 60.0
    top_flaps: Annotated[int, Strict(), Bounds(0, 10000)] = 10
    #: Routes one peer may hold (0: no limit); new routes beyond are dropped
    #: and counted (``bmp_rib_routes_dropped_total``), as BGP max-prefix.
    max_routes_per_peer: Annotated[int, Strict(), Bounds(0, 1 << 40)] = 0
    #: Routes all peers of one router may hold (0: no limit).
    max_routes_per_router: Annotated[int, Strict(), Bounds(0, 1 << 40)] = 0
    #: Routes all routers may hold; 0 = derived from the memory available
    #: (``agent.membudget``: cgroup ``memory.max`` or 4 GiB, 200 B/route, 70 %).
    max_routes: Annotated[int, Strict(), Bounds(0, 1 << 40)] = 0
    #: At a limit: "drop" new routes (the session stays), or "close" the
    #: router's session as well (BGP max-prefix's teardown).
    on_limit: Annotated[str, OneOf(ON_LIMIT)] = "drop"
    #: Communities whose routes ``bmp_rib_community_routes`` counts per
    #: (router, peer, view): standard ``64510:100``, large ``64510:1:2``,
    #: extended ``rt:64510:100`` (at most ``COUNT_COMMUNITIES_MAX``).
    count_communities: Annotated[
        tuple[CommunityText, ...],
        MaxItems(COUNT_COMMUNITIES_MAX, "communities", "each one is a series per peer and view"),
    ] = ()


HEALTH_CHECKS = (
    "default_route_received",
    "public_asn",
    "no_graceful_restart",
    "host_route_flood",
    "ibgp_full_mesh_at_scale",
    "single_route_reflector",
    "expected_prefix_missing",
    "metallb_pod_routes",
    "cidr_overlap",
    "dci_unsummarized",
    "local_only_leak",
    "bmp_feed_inconsistent",
    "rib_limit_reached",
)
_VIEW_NAMES = VIEWS


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


@dataclass(frozen=True, slots=True, config=_STRICT)
class HealthConfig:
    """``health:``, the BGP health checks (``agent.health``); all applied on reload."""

    enabled: Annotated[bool, Strict()] = True
    #: Checks to turn off (names as in ``HEALTH_CHECKS``).
    disabled: tuple[Annotated[str, OneOf(HEALTH_CHECKS)], ...] = ()
    #: Views the per-peer route checks (default route, host routes) look at.
    route_views: tuple[Annotated[str, OneOf(_VIEW_NAMES)], ...] = ("adj_in_pre",)
    #: Peers (by address) allowed to send a default route.
    default_route_allow: tuple[Cidr, ...] = ()
    #: Public ASNs that are fine to use (public_asn does not fire for them).
    asn_allow: tuple[Annotated[int, Strict(), Bounds(0, 4294967295)], ...] = ()
    #: host_route_flood fires above this many /32 or /128 from one peer.
    host_routes_max: Annotated[int, Strict(), Bounds(0)] = 100
    #: ibgp_full_mesh_at_scale fires above this many iBGP peers without reflection.
    ibgp_peers_max: Annotated[int, Strict(), Bounds(0)] = 100
    #: single_route_reflector fires with at least one but fewer reflectors than this.
    reflectors_min: Annotated[int, Strict(), Bounds(2, 1000)] = 2
    #: ``PREFIX`` or ``PREFIX@VIEW`` that every router must have (in the view).
    expected_prefixes: tuple[
        Annotated[
            str,
            Validated(
                _expected_prefix,
                {"type": "string", "pattern": r"^[0-9A-Fa-f:.]+/[0-9]{1,3}(@[a-z_]+)?$"},
            ),
        ],
        ...,
    ] = ()
    #: View of the expected prefixes written without ``@VIEW``.
    expected_view: Annotated[str, OneOf(_VIEW_NAMES)] = "adj_in_post"
    #: MetalLB speakers (metallb_pod_routes): peer address CIDR, ASN (``65010`` or
    #: ``AS65010``), ``id:CIDR`` (BGP identifier) or ``sysname:GLOB`` (a router whose
    #: BMP sysName matches, e.g. an FRR-K8s node: its Adj-RIB-Out is checked).
    metallb_peers: tuple[PeerSelector, ...] = ()
    #: Pod CIDRs: MetalLB must not announce inside them; cidr_overlap watches them.
    pod_cidrs: tuple[Cidr, ...] = ()
    #: Service CIDRs (cidr_overlap watches them).
    service_cidrs: tuple[Cidr, ...] = ()
    #: MetalLB LoadBalancer pools: a MetalLB speaker announces nothing outside them
    #: (empty: not checked).
    lb_pools: tuple[Cidr, ...] = ()
    #: DCI peers (dci_unsummarized, local_only_leak), same forms as metallb_peers.
    dci_peers: tuple[PeerSelector, ...] = ()
    #: Longest prefix allowed over a DCI link per family (the last entry of a family wins).
    dci_max_length: tuple[
        Annotated[
            str,
            Validated(
                _max_length,
                {"type": "string", "pattern": r"^\s*[Ii][Pp][Vv][46]\s*[:/]\s*[0-9]{1,3}\s*$"},
            ),
        ],
        ...,
    ] = ("ipv4:20", "ipv6:48")
    #: dci_unsummarized also fires above this many routes in one view of a DCI peer.
    dci_max_routes: Annotated[int, Strict(), Bounds(0)] = 1000
    #: Communities that mark a route as local to its DC (local_only_leak).
    local_only_communities: tuple[CommunityText, ...] = ()

    def dci_max_len(self, afi: int) -> int:
        """The longest prefix length allowed over a DCI link for ``afi`` (1 or 2)."""
        fam = "ipv4" if afi == 1 else "ipv6"
        out = 20 if afi == 1 else 48
        for entry in self.dci_max_length:
            f, _, n = entry.partition(":")
            if f == fam:
                out = int(n)
        return out


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


@dataclass(frozen=True, slots=True, config=_STRICT)
class FibConfig:
    """``fib:``, kernel FIB reconciliation (``agent.fib``)."""

    enabled: Annotated[bool, Strict()] = True
    #: The router whose selection this kernel should hold: a router label or
    #: address; empty = the router whose BMP connection comes from this host.
    router: Annotated[str, Strict()] = ""
    #: Kernel route protocols compared (names from rt_protos or numbers).
    protocols: tuple[
        Annotated[str, Validated(_fib_protocol, {"type": "string", "minLength": 1})], ...
    ] = ("bgp", "bird", "zebra")
    #: Tables compared: ``main``, a number, or ``TABLE@RD`` for a VRF.
    tables: tuple[
        Annotated[str, Validated(_fib_table, {"type": "string", "minLength": 1})], ...
    ] = ("main",)
    #: Seconds a difference must last before it counts.
    grace: Annotated[float, Strict(), Bounds(0, 86400)] = 5.0
    #: best, multipath (ECMP, as-path multipath-relax) or any (any candidate next hop).
    mode: Annotated[str, OneOf(FIB_MODES)] = "best"
    #: Seconds between checks for changes (BMP or kernel).
    interval: Annotated[float, Strict(), Bounds(0.05, 3600)] = 1.0
    #: Netlink subscription receive buffer, bytes (0: the kernel default).
    rcvbuf: Annotated[int, Strict(), Bounds(0, 1 << 30)] = 4 * 1024 * 1024
    #: ``bmp_inconsistent``: per peer, the prefixes whose evidence (a withdrawal
    #: of a route the source view never announced) is kept; beyond, counted only.
    evidence_max: Annotated[int, Strict(), Bounds(0, 1 << 24)] = 10000


@dataclass(frozen=True, slots=True, config=_STRICT)
class HistoryConfig:
    """``history:``, per-prefix history and convergence (``agent.history``); all
    applied on reload (turning it off drops the events).

    Off by default: on a full table it roughly triples the ingest CPU
    (``bench/ingest.py --history``, bench/RESULTS.md); on a node agent with a
    few thousand routes its cost is noise, and it should be on there (it
    answers only for what happened while it was on)."""

    enabled: Annotated[bool, Strict()] = False
    #: Events held (one global ring, oldest evicted first): 131072 is ~64 MiB
    #: at the 310-420 B an event costs with its index entry (one event per
    #: prefix, the worst case; ``tests/history``, ``bench/ingest.py --history``).
    max_events: Annotated[int, Strict(), Bounds(1000, 100_000_000)] = 131072
    #: Events kept per prefix in the index (older ones stay in the ring only).
    max_per_prefix: Annotated[int, Strict(), Bounds(1, 1_000_000)] = 256
    #: Seconds without a best-path change that end a convergence episode's rib stage.
    settle: Annotated[float, Strict(), Bounds(0.01, 3600)] = 2.0
    #: Seconds after which an episode whose kernel never matched is closed (timed out).
    timeout: Annotated[float, Strict(), Bounds(1, 86400)] = 120.0
    #: Prefixes an episode follows (beyond: ``truncated``).
    convergence_prefixes: Annotated[int, Strict(), Bounds(1, 10_000_000)] = 65536


SOURCE_TYPES = ("bird",)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def _duration(value: Any) -> float:
    """Seconds: a number, or text like ``10s``, ``500ms``, ``2m``, ``1h``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return float(value)
    m = _DURATION.match(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a duration (e.g. 10s, 500ms, 2m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) * scale


def _duration_check(low: float, high: float) -> Check:
    """Seconds, as a number or ``10s``/``500ms``/``2m``/``1h``, in ``[low, high]``."""
    check = _range(low, high)
    return Check(
        lambda v: check(_duration(v)),
        {
            "anyOf": [
                {"type": "number", "minimum": low, "maximum": high},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ]
        },
    )


def _socket_path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a socket path")
    return value.strip()


def _stripped(value: Any) -> str:
    return _need_str(value).strip()


@dataclass(frozen=True, slots=True, config=_STRICT)
class SourceConfig:
    """One entry of ``sources:``. ``type: bird`` polls a BIRD control socket
    (``agent.sources.bird``): ``socket`` its path, ``interval`` between polls,
    ``router`` the router label (default: the socket's file name), ``timeout``
    per command."""

    type: Annotated[str, OneOf(SOURCE_TYPES)]
    socket: Annotated[str, Check(_socket_path, {"type": "string", "minLength": 1})]
    interval: Annotated[float, _duration_check(0.1, 86400.0)] = 10.0
    router: Annotated[str, Check(_stripped, {"type": "string"})] = ""
    timeout: Annotated[float, _duration_check(0.1, 3600.0)] = 10.0


def _nats_url(value: str) -> str:
    """``nats://HOST:PORT`` (``tls://`` too), several comma-separated for a cluster; "" = off."""
    text = value.strip()
    for url in filter(None, (u.strip() for u in text.split(","))):
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("nats", "tls") or not rest:
            raise ValueError(f"{url!r} is not a nats:// or tls:// URL")
        hostport = rest.rpartition("@")[2].rstrip("/")
        parse_endpoint(hostport, allow_port_zero=False)
    return text


def _subject_prefix(value: str) -> str:
    text = value.strip()
    if text and not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", text):
        raise ValueError(f"{value!r} is not a subject prefix (tokens of letters, digits, _ or -)")
    return text


def _file_or_empty(value: str) -> str:
    text = value.strip()
    if text and not Path(text).is_file():
        raise ValueError(f"{text!r}: no such file")
    return text


_FILE = {"type": "string", "description": "a file path, or empty"}


@dataclass(frozen=True, slots=True, config=_STRICT)
class ExportConfig:
    """``export:``, the message-bus feeds (``agent.export.nats``)."""

    #: NATS server(s) of the gobmp-compatible JetStream feed; "" = no feed.
    nats_url: Annotated[
        str,
        Validated(_nats_url, {"type": "string", "description": "nats://HOST:PORT[,...] or empty"}),
    ] = ""
    #: Prepended (with a dot) to every subject, e.g. the node name: NODE.gobmp.parsed.peer.
    nats_subject_prefix: Annotated[
        str, Validated(_subject_prefix, {"type": "string", "pattern": r"^[A-Za-z0-9_.-]*$"})
    ] = ""
    #: Routes waiting for the bus at most; past it events are dropped (counted)
    #: and the RIB is republished once the bus keeps up again.
    nats_queue: Annotated[int, Strict(), Bounds(1024, 1 << 26)] = 262144
    #: NATS credentials file (JWT and NKey seed), "" = none.
    nats_credentials: Annotated[str, Validated(_file_or_empty, _FILE)] = ""
    #: CA bundle (PEM) that signed the server's certificate (``tls://``), "" = system.
    nats_tls_ca: Annotated[str, Validated(_file_or_empty, _FILE)] = ""
    #: Client certificate and key (PEM) for servers that verify clients.
    nats_tls_cert: Annotated[str, Validated(_file_or_empty, _FILE)] = ""
    nats_tls_key: Annotated[str, Validated(_file_or_empty, _FILE)] = ""


@dataclass(frozen=True, slots=True, config=_STRICT)
class Config:
    bmp: BmpConfig = BmpConfig()
    http: HttpConfig = HttpConfig()
    log: LogConfig = LogConfig()
    rib: RibConfig = RibConfig()
    health: HealthConfig = HealthConfig()
    fib: FibConfig = FibConfig()
    export: ExportConfig = ExportConfig()
    history: HistoryConfig = HistoryConfig()
    #: ``sources:``, a list (not a section of keys): see ``SourceConfig``.
    sources: tuple[SourceConfig, ...] = ()


# --------------------------------------------------------------------------
# Schema: dotted key -> section, attribute, scalar kind (from the annotations)


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    name: str  # dotted
    section: str
    attr: str
    is_list: bool
    #: "int" | "float" | "bool" | "str": what text (env, flags) is turned into
    scalar: str


def _base(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _scalar_kind(tp: Any) -> str:
    base = _base(tp)
    return {int: "int", float: "float", bool: "bool"}.get(base, "str")


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {name: tp for name, tp in hints.items() if name != "sources"}


def _schema() -> dict[str, _Key]:
    keys: dict[str, _Key] = {}
    for sec_name, sec_type in _section_types().items():
        for attr, tp in typing.get_type_hints(sec_type, include_extras=True).items():
            base = _base(tp)
            is_list = typing.get_origin(base) is tuple
            item = typing.get_args(base)[0] if is_list else tp
            name = f"{sec_name}.{attr}"
            keys[name] = _Key(name, sec_name, attr, is_list, _scalar_kind(item))
    return keys


SCHEMA: dict[str, _Key] = _schema()
_SECTION_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(tp) for name, tp in _section_types().items()
}
_SOURCES_ADAPTER: TypeAdapter[tuple[SourceConfig, ...]] = TypeAdapter(tuple[SourceConfig, ...])


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "_")


#: What a kubelet injects for a Service named ``bmp-agent`` or ``bmp-agent-*``
#: (``enableServiceLinks``): ``{NAME}_SERVICE_HOST``, ``{NAME}_SERVICE_PORT``,
#: ``{NAME}_SERVICE_PORT_{PORTNAME}``, ``{NAME}_PORT`` and
#: ``{NAME}_PORT_{PORT}_{PROTO}`` with ``_PROTO``, ``_PORT``, ``_ADDR``.
_SERVICE_LINK = re.compile(
    r"^BMP_AGENT_(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
    r"|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$"
)


def is_service_link(name: str) -> bool:
    """Whether an environment variable has the shape of a Kubernetes service link."""
    return _SERVICE_LINK.match(name) is not None


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft-07, no ``$ref``) of the config file, defaults included."""
    raw = TypeAdapter(Config).json_schema(mode="validation")
    defs = raw.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].rsplit("/", 1)[1]]
                return inline({**target, **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: inline(v) for k, v in node.items() if k not in ("title", "default")}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    schema: dict[str, Any] = inline(raw)
    defaults = to_dict(Config())
    for sec_name, sec_schema in schema["properties"].items():
        if sec_name == "sources":
            continue
        sec_schema["description"] = f"{sec_name}: section of the agent's config file"
        for attr, prop in sec_schema["properties"].items():
            prop["default"] = defaults[sec_name][attr]
            if SCHEMA[f"{sec_name}.{attr}"].is_list:
                # A single value stands for a list of one (``connect: HOST:PORT``).
                sec_schema["properties"][attr] = {"anyOf": [prop, prop["items"]]}
                sec_schema["properties"][attr]["default"] = prop.pop("default")
    schema["properties"]["sources"]["description"] = "sources: BIRD control sockets to poll"
    schema.pop("required", None)
    return schema


# --------------------------------------------------------------------------
# Loading


@dataclasses.dataclass(frozen=True, slots=True)
class _Raw:
    value: Any
    source: str
    #: Whether strings need converting (env vars and flags are text).
    text: bool


_ARTICLE = {"int": "an integer", "float": "a number", "bool": "a boolean", "str": "a string"}
_TYPE_ERRORS = {
    "int_type": "int",
    "int_from_float": "int",
    "float_type": "float",
    "bool_type": "bool",
    "string_type": "str",
}


def _from_text(key: _Key, value: Any) -> Any:
    """Env/flag text → the field's scalar type (``ValueError`` worded for the key)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if key.scalar == "int":
            return int(text)
        if key.scalar == "float":
            return float(text)
        if key.scalar == "bool":
            low = text.lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError
            return low in ("1", "true", "yes", "on")
    except ValueError:
        raise ValueError(f"{value!r} is not {_ARTICLE[key.scalar]}") from None
    return text


def _prepare(key: _Key, raw: _Raw) -> Any:
    """The raw value shaped for validation: lists split (text) or wrapped (a single value)."""
    value = raw.value
    if key.is_list:
        if raw.text and isinstance(value, str):
            value = [] if not value.strip() else [v.strip() for v in value.split(",")]
        elif isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key.name, f"expected a list, got {_got(value)}", raw.source)
        if raw.text:
            out = []
            for i, item in enumerate(value):
                try:
                    out.append(_from_text(key, item))
                except ValueError as exc:
                    raise ConfigError(f"{key.name}[{i}]", str(exc), raw.source) from None
            return out
        return list(value)
    if raw.text:
        try:
            return _from_text(key, value)
        except ValueError as exc:
            raise ConfigError(key.name, str(exc), raw.source) from None
    return value


def _problem(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind in _TYPE_ERRORS:
        return f"expected {_ARTICLE[_TYPE_ERRORS[kind]]}, got {_got(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_got(value)}"
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type", "model_type"):
        return "expected a mapping"
    if kind == "finite_number":
        return f"{value!r} is not a finite number"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])


def _where(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"not UTF-8 text (byte {exc.start})", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError("", f"invalid YAML{where}", source) from None
    return _flatten_file(data, source)


#: Prefixed variables that are no setting but ours: the config file, the
#: CLI's API password (``agent.cli.apiclient``).
_NOT_SETTINGS = frozenset({ENV_CONFIG_FILE, "BMP_AGENT_API_PASSWORD"})


def read_env(
    environ: Mapping[str, str], on_warning: Callable[[str], None] | None = None
) -> dict[str, _Raw]:
    """The ``BMP_AGENT_*`` settings of ``environ``. A prefixed variable that
    is no setting goes to ``on_warning`` (service links: nowhere)."""
    by_env = {env_name(k): k for k in SCHEMA}
    out: dict[str, _Raw] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
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
        if key is not None:
            out[key] = _Raw(value, f"environment variable {name}", text=True)
        elif not is_service_link(name):
            _warn(f"{name}: unknown setting (from environment), ignored", on_warning)
    return out


def _warn(message: str, on_warning: Callable[[str], None] | None) -> None:
    if on_warning is None:
        warnings.warn(message, ConfigWarning, stacklevel=3)
    else:
        on_warning(message)


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
    given: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for name, raw in merged.items():
        key = SCHEMA[name]
        given.setdefault(key.section, {})[key.attr] = _prepare(key, raw)
        origin[name] = raw.source
    sections: dict[str, Any] = {}
    for sec_name, adapter in _SECTION_ADAPTERS.items():
        if sec_name not in given:
            continue
        try:
            sections[sec_name] = adapter.validate_python(given[sec_name])
        except ValidationError as exc:
            err = exc.errors()[0]
            attr = str(err["loc"][0])
            raise ConfigError(
                _where(sec_name, err["loc"]),
                _problem(err),
                origin.get(f"{sec_name}.{attr}", "defaults"),
            ) from None
    if raw_sources is not None:
        sections["sources"] = parse_sources(raw_sources.value, raw_sources.source)
    config = Config(**sections)
    bmp = config.bmp
    if bmp.reconnect_min > bmp.reconnect_max:
        raise ConfigError(
            "bmp.reconnect_min",
            f"{bmp.reconnect_min} is above bmp.reconnect_max ({bmp.reconnect_max})",
            origin.get("bmp.reconnect_min", origin.get("bmp.reconnect_max", "defaults")),
        )
    return config


def parse_sources(value: Any, source: str, key: str = "sources") -> tuple[SourceConfig, ...]:
    """``sources:`` (a list of mappings) -> ``SourceConfig``s; ``ConfigError`` when bad."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(key, f"expected a list, got {type(value).__name__}", source)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{key}[{i}]", "expected a mapping", source)
    try:
        return _SOURCES_ADAPTER.validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(_where(key, err["loc"]), _problem(err), source) from None


def load(
    *,
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Config:
    """defaults → YAML file → ``BMP_AGENT_*`` environment → flags.

    ``on_warning(message)`` hears of environment variables that are no
    setting (default: ``warnings.warn`` with ``ConfigWarning``)."""
    env = dict(os.environ if environ is None else environ)
    if path is None:
        path = env.get(ENV_CONFIG_FILE) or None
    layers: list[Mapping[str, _Raw]] = []
    if path is not None:
        layers.append(read_file(path))
    layers.append(read_env(env, on_warning))
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
            for f in dataclasses.fields(getattr(config, sec.name))
        }
        for sec in dataclasses.fields(Config)
        if sec.name != "sources"
    }
    out["sources"] = [dataclasses.asdict(s) for s in config.sources]
    return out
