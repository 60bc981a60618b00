"""``bmp-agent``: the command line.

Subcommands: ``run`` (the daemon), ``peers`` and ``routes`` (read the JSON
API of a running agent), ``replay`` (``agent.cli.replay``), ``decode``
(``agent.cli.decode``). A subcommand living in its own module provides
``add_parser(subparsers)`` and ``run(args) -> int`` (the ``func`` unless it sets another);
list the module in ``SUBCOMMAND_MODULES`` to add it. Modules are imported
when the parser is built; one that cannot be imported is an error (exit 1
naming it), not a subcommand silently missing. Every subcommand with
``--api`` also takes the TLS and basic-auth options of ``agent.cli.apiclient``;
the API client they share is ``agent.cli.api``.

Exit status: 0 ok, 1 runtime failure (cannot bind, API unreachable), 2 usage
or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from parsers.bmp.messages import VIEWS

from .. import __version__
from . import apiclient
from .api import ApiError, add_api_command, get_json, query, table

#: Modules providing ``add_parser(subparsers)`` / ``run(args)``, in help order.
#: Imported when the parser is built (they import ``agent.cli.api``, never this
#: module); one that is missing or broken is an error, not a lost command.
SUBCOMMAND_MODULES = (
    "agent.cli.decode",
    "agent.cli.replay",
    "agent.health.cmd",
    "agent.fib.cmd",
    "agent.export.cmd",
    "agent.history.cmd",
)

VIEW_SHORT = {
    "adj_in_pre": "pre",
    "adj_in_post": "post",
    "adj_out_pre": "out-pre",
    "adj_out_post": "out-post",
    "loc_rib": "loc-rib",
}


# ----------------------------------------------------------------------------- run


#: The repeatable flags of ``run`` (each use adds one item): flag, metavar, help.
REPEATABLE_FLAGS = (
    (
        "--bmp-listen",
        "HOST:PORT",
        "accept BMP from routers here (repeatable; default 127.0.0.1:11019)",
    ),
    ("--connect", "HOST:PORT", "connect to a router's BMP listener (active mode; repeatable)"),
    (
        "--allow",
        "CIDR",
        "accept BMP connections only from these networks (repeatable; default any)",
    ),
    (
        "--relay",
        "HOST:PORT",
        "relay every router's BMP stream to this collector, with resync (repeatable)",
    ),
)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config file")
    for flag, metavar, helptext in REPEATABLE_FLAGS:
        parser.add_argument(flag, action="append", metavar=metavar, help=helptext)
    parser.add_argument(
        "--http-listen", metavar="HOST:PORT", help="HTTP address (default 127.0.0.1:9324)"
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth for HTTP (exporter-toolkit web config file)",
    )
    parser.add_argument(
        "--log-level", metavar="LEVEL", help="debug, info, warning or error (default info)"
    )
    parser.add_argument(
        "--log-format", metavar="FORMAT", help="auto, json or console (default auto)"
    )


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    from ..config import FLAG_KEYS

    return {k: getattr(args, k, None) for k in FLAG_KEYS}


def _warn(message: str) -> None:
    print(f"bmp-agent: warning: {message}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from .. import config as cfgmod
    from .. import log

    def loader() -> cfgmod.Config:
        return cfgmod.load(path=args.config, flags=_flags(args), on_warning=_warn)

    try:
        config = loader()
    except cfgmod.ConfigError as exc:
        print(f"bmp-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    log.configure(config.log.level, config.log.format)
    from ..app import serve
    from ..daemon import StartupError

    try:
        return asyncio.run(serve(config, loader=loader))
    except StartupError as exc:
        log.flush()
        print(f"bmp-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# ----------------------------------------------------------------------------- API tables


def human_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d{h}h"
    if h:
        return f"{h}h{m}m"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def _uptime(since: Any, now: float) -> str:
    if not isinstance(since, (int, float)):
        return "-"
    return human_duration(now - since)


def _list(data: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = data.get(key, [])
    if not isinstance(data, list):
        raise ApiError(f"unexpected API answer for {key}")
    return [d for d in data if isinstance(d, dict)]


def _prefix_counts(peer: dict[str, Any]) -> dict[str, int]:
    """Prefix counts keyed "view/afi" from a peer's ``tables``."""
    out: dict[str, int] = {}
    for t in peer.get("tables", []) or []:
        if not isinstance(t, dict):
            continue
        view = VIEW_SHORT.get(str(t.get("view")), str(t.get("view")))
        afi = str(t.get("afi"))
        if t.get("safi") not in (None, "unicast"):
            afi = f"{afi}-{t.get('safi')}"
        n = t.get("prefixes", t.get("routes", 0))
        out[f"{view}/{afi}"] = out.get(f"{view}/{afi}", 0) + (n if isinstance(n, int) else 0)
    return out


def render_peers(routers: list[dict[str, Any]], peers: list[dict[str, Any]], now: float) -> str:
    lines: list[str] = []
    rrows = [
        [
            r.get("router"),
            r.get("state"),
            _uptime(r.get("connected_since"), now) if r.get("state") == "up" else "-",
            r.get("sys_name"),
            r.get("sys_descr"),
            r.get("peers_up", "-"),
        ]
        for r in routers
    ]
    lines.append(table(["ROUTER", "STATE", "UPTIME", "SYS NAME", "SYS DESCR", "PEERS UP"], rrows))
    columns: list[str] = []
    counts = [_prefix_counts(p) for p in peers]
    seen = {c for pc in counts for c in pc}
    for view in VIEWS:
        for afi in ("ipv4", "ipv6"):
            col = f"{VIEW_SHORT[view]}/{afi}"
            if col in seen:
                columns.append(col)
    columns += sorted(seen - set(columns))
    prows = []
    for p, pc in zip(peers, counts, strict=True):
        up = p.get("state") in ("up", "implicit")
        prows.append(
            [
                p.get("router"),
                p.get("peer"),
                p.get("asn"),
                p.get("state"),
                _uptime(p.get("up_since"), now) if up else "-",
                *[pc.get(c, 0) for c in columns],
            ]
        )
    lines.append("")
    lines.append(table(["ROUTER", "PEER", "AS", "STATE", "UPTIME", *columns], prows))
    return "\n".join(lines)


def cmd_peers(args: argparse.Namespace) -> int:
    try:
        routers = _list(get_json(args.api, "/api/v1/routers"), "routers")
        peers = _list(get_json(args.api, "/api/v1/peers"), "peers")
    except ApiError as exc:
        print(f"bmp-agent peers: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"routers": routers, "peers": peers}, indent=2))
        return 0
    print(render_peers(routers, peers, time.time()))
    return 0


def _attr_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "-"
    return str(value)


#: How ``as_path`` segment types print (sequence: bare numbers).
SEGMENT_BRACKETS = {
    "set": ("{", "}", ","),
    "confed_sequence": ("(", ")", " "),
    "confed_set": ("[", "]", ","),
}


def as_path_text(segments: Any) -> str:
    """``65001 64512 {1,2} (65010)`` from the API's segment list (decode schema)."""
    if not isinstance(segments, list):
        return _attr_text(segments)
    parts: list[str] = []
    for seg in segments:
        if not isinstance(seg, dict):
            continue
        asns = [str(a) for a in seg.get("asns", [])]
        brackets = SEGMENT_BRACKETS.get(str(seg.get("type")))
        if brackets is None:
            parts.extend(asns)
        else:
            left, right, sep = brackets
            parts.append(left + sep.join(asns) + right)
    return " ".join(parts) or "-"


def render_routes(routes: list[dict[str, Any]]) -> str:
    rows = []
    for r in routes:
        attrs = r.get("attributes") if isinstance(r.get("attributes"), dict) else r
        assert isinstance(attrs, dict)
        rows.append(
            [
                r.get("router"),
                r.get("peer"),
                VIEW_SHORT.get(str(r.get("view")), r.get("view")),
                r.get("prefix"),
                r.get("path_id"),
                _attr_text(attrs.get("next_hop")),
                as_path_text(attrs.get("as_path")),
                _attr_text(attrs.get("med")),
                _attr_text(attrs.get("communities")),
            ]
        )
    return table(
        [
            "ROUTER",
            "PEER",
            "VIEW",
            "PREFIX",
            "PATH ID",
            "NEXT HOP",
            "AS PATH",
            "MED",
            "COMMUNITIES",
        ],
        rows,
    )


def cmd_routes(args: argparse.Namespace) -> int:
    params = query(args, "router", "peer", "view", "prefix", "limit")
    try:
        data = get_json(args.api, "/api/v1/routes", params)
        routes = _list(data, "routes")
    except ApiError as exc:
        print(f"bmp-agent routes: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(render_routes(routes))
    more = " (truncated)" if isinstance(data, dict) and data.get("truncated") else ""
    print(f"{len(routes)} routes{more}")
    return 0


# ----------------------------------------------------------------------------- parser


class _VersionAction(argparse.Action):
    """``--version``: the version and the hot path's build, e.g.
    ``bmp-agent 0.1.0 (hot path: compiled (mypyc))`` (looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from .. import build

        print(f"bmp-agent {__version__} ({build.describe()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmp-agent", description="BGP telemetry agent: BMP collector, RIB views, metrics"
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the version and which build of the hot path runs",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the agent (BMP collector, HTTP API, metrics)")
    add_config_flags(p)
    p.set_defaults(func=cmd_run)

    for name, fn, helptext in (
        ("peers", cmd_peers, "routers and BGP peers of a running agent"),
        ("routes", cmd_routes, "RIB of a running agent as a table"),
    ):
        p = add_api_command(sub, name, helptext)
        if name == "routes":
            p.add_argument("--router", help="router label (its address)")
            p.add_argument("--peer", help="peer address")
            p.add_argument("--view", choices=VIEWS, help="RIB view")
            p.add_argument("--prefix", help="prefix or address (exact, else longest match)")
            p.add_argument("--limit", type=int, help="at most this many routes")
        p.set_defaults(func=fn)

    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SubcommandError(
                f"cannot load the subcommand module {module_name}: {exc}"
            ) from exc
        sp = module.add_parser(sub)
        if sp.get_default("func") is None:
            sp.set_defaults(func=module.run)
    for sp in sub.choices.values():
        if "--api" in sp._option_string_actions:
            apiclient.add_flags(sp)
    return parser


class SubcommandError(RuntimeError):
    """A module of ``SUBCOMMAND_MODULES`` cannot be imported (a broken install)."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except SubcommandError as exc:
        print(f"bmp-agent: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        apiclient.configure(args)
    except apiclient.ClientConfigError as exc:
        print(f"bmp-agent: {exc}", file=sys.stderr)
        return 2
    result = func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
