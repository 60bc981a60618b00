"""``bmp-agent history PREFIX``: what happened to a prefix, in order (``/api/v1/history``).

Prints one line per event, oldest first: the agent's receive time (UTC, ms),
the router's BMP timestamp offset when it sent one, router, peer, view, the
event and what it changed (attributes of an announce that differ from the
previous one, the old and new best path, the kernel next hops, the drift
state). ``PREFIX`` is a prefix or an address (longest match).
``--convergence`` prints the last convergence episode instead.
Exit status: 0 events found, 4 none, 1 the agent cannot be reached, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..cli.api import add_api_command, fetch, query, table

EXIT_NONE = 4


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    helptext = "what happened to a prefix, in order (from a running agent)"
    p = add_api_command(subparsers, "history", helptext, __doc__)
    p.add_argument("prefix", nargs="?", help="a prefix or an address (longest match)")
    p.add_argument("--router", help="only this router (its label)")
    p.add_argument("--peer", help="only this peer (label or address)")
    p.add_argument("--view", help="only this view (adj_in_pre, ..., kernel)")
    p.add_argument("--since", type=float, metavar="UNIX_TIME", help="only events from then on")
    p.add_argument("--limit", type=int, metavar="N", help="the last N events")
    p.add_argument("--convergence", action="store_true", help="print the last convergence episode")
    return p


def _clock(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"


def _as_path(segs: Any) -> str:
    if not isinstance(segs, list):
        return ""
    out = []
    for s in segs:
        asns = " ".join(str(a) for a in s.get("asns", []))
        out.append(asns if s.get("type") == "sequence" else "{" + asns + "}")
    return " ".join(out)


def _path(b: Any) -> str:
    if not isinstance(b, dict):
        return "none"
    return f"{b.get('peer')} via {b.get('next_hop')} [{_as_path(b.get('as_path'))}]"


def _value(v: Any) -> str:
    if isinstance(v, list) and v and isinstance(v[0], dict) and "asns" in v[0]:
        return _as_path(v)
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return "-" if v is None else str(v)


def detail(e: dict[str, Any]) -> str:
    kind = e.get("event")
    if kind == "announce":
        ch = e.get("changed") or {}
        if e.get("previous") is None:
            return "new: " + " ".join(f"{k}={_value(v)}" for k, v in ch.items())
        prev = e.get("previous") or {}
        if not ch:
            return "unchanged"
        return " ".join(f"{k}: {_value(prev.get(k))} -> {_value(v)}" for k, v in ch.items())
    if kind in ("withdraw", "implicit_withdraw"):
        a = e.get("attributes") or {}
        text = f"was via {a.get('next_hop', '?')}" if a else "unknown route"
        return f"{text} ({e['reason']})" if e.get("reason") else text
    if kind == "best_path_change":
        return f"{_path(e.get('old'))} -> {_path(e.get('new'))}"
    if kind in ("fib_install", "fib_remove", "fib_nexthop_change"):
        old = e.get("old_next_hops")
        new = e.get("next_hops")
        return (
            f"table {e.get('table')}: {', '.join(old) if old else 'none'} -> "
            f"{', '.join(new) if new else 'none'}"
        )
    if kind == "drift":
        return f"table {e.get('table')}: {e.get('state')}"
    return ""


def render(doc: dict[str, Any]) -> str:
    events = [e for e in doc.get("events", []) if isinstance(e, dict)]
    head = f"{doc.get('prefix')}"
    if doc.get("match") == "longest":
        head += f" (longest match {doc.get('matched_prefix')})"
    if not doc.get("enabled", True):
        head += "  [history is disabled on this agent]"
    lines = [head]
    rows = []
    for e in events:
        bmp = e.get("bmp_time")
        t = e.get("time")
        lag = (
            f"{(t - bmp) * 1000:+.0f}ms"
            if isinstance(bmp, (int, float)) and isinstance(t, (int, float))
            else "-"
        )
        rows.append(
            [
                _clock(t),
                lag,
                e.get("router") or "-",
                e.get("peer") or "-",
                e.get("view"),
                e.get("prefix") if e.get("prefix") != doc.get("matched_prefix") else "",
                e.get("event"),
                detail(e),
            ]
        )
    if rows:
        lines.append(
            table(["time (UTC)", "bmp lag", "router", "peer", "view", "prefix", "event", ""], rows)
        )
    else:
        lines.append("no events")
    if doc.get("truncated"):
        lines.append(f"(last {len(rows)} events shown)")
    return "\n".join(lines)


def render_convergence(doc: dict[str, Any]) -> str:
    last = doc.get("last")
    if not isinstance(last, dict):
        return "no convergence episode recorded"
    lines = [
        f"{last.get('trigger')} of {last.get('peer')} at router {last.get('router')}, "
        f"{_clock(last.get('start'))} UTC: {last.get('prefixes')} prefixes, "
        f"{last.get('best_path_changes')} best-path changes"
        + (" (truncated)" if last.get("truncated") else "")
    ]
    for stage in ("rib", "fib"):
        st = last.get(stage)
        if not isinstance(st, dict):
            continue
        secs = st.get("seconds")
        text = f"{secs:.3f}s" if isinstance(secs, (int, float)) else "not converged"
        if st.get("timed_out"):
            text += " (timed out)"
        lines.append(f"  {stage}: {text}")
        for p in st.get("converged_last", []):
            lines.append(f"    {p.get('prefix')}  {_clock(p.get('time'))}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.convergence:
        doc = fetch("history", args.api, "/api/v1/convergence", query(args, "router"))
    elif not args.prefix:
        print("bmp-agent history: a PREFIX is required", file=sys.stderr)
        return 2
    else:
        params = query(args, "prefix", "router", "peer", "view", "since", "limit")
        doc = fetch("history", args.api, "/api/v1/history", params)
    if doc is None:
        return 1
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.convergence:
        print(render_convergence(doc))
    else:
        print(render(doc))
    if args.convergence:
        return 0 if doc.get("last") else EXIT_NONE
    return 0 if doc.get("events") else EXIT_NONE
