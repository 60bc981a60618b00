"""``bmp-agent fib-diff``: the FIB drift of a running agent (``/api/v1/fib/diff``).

Prints one line per (afi, table) with the route count per state, then every
drifting prefix with the next hops BGP selected and the ones the kernel
holds. Exit status: 0 everything in sync, 3 drift found, 1 the agent cannot
be reached (or has no local router / netlink), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..cli.api import add_api_command, fetch, query, table
from .diff import BMP_INCONSISTENT, HELD_STATES

EXIT_DRIFT = 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    helptext = "show kernel FIB drift against BGP's selection (from a running agent)"
    p = add_api_command(subparsers, "fib-diff", helptext, __doc__)
    p.add_argument(
        "--state", choices=HELD_STATES, help="only this drift state (or bmp_inconsistent)"
    )
    p.add_argument("--afi", choices=("ipv4", "ipv6"), help="only this address family")
    p.add_argument("--limit", type=int, metavar="N", help="at most N prefixes")
    p.add_argument(
        "--pending", action="store_true", help="also list differences still within the grace period"
    )
    return p


def render(data: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = []
    router = data.get("router") or "(no local router)"
    last = data.get("last_sync")
    age = f"{now - last:.1f}s ago" if isinstance(last, (int, float)) else "never"
    lines.append(
        f"router {router}  view {data.get('view') or '-'}  mode {data.get('mode')}  "
        f"grace {data.get('grace')}s  last sync {age}"
    )
    if data.get("error"):
        lines.append(f"error: {data['error']}")
    rows = [
        [
            t.get("afi"),
            t.get("table"),
            t.get("expected"),
            t.get("kernel"),
            t.get("in_sync"),
            t.get("missing"),
            t.get("extra"),
            t.get("nexthop_mismatch"),
            t.get("bmp_inconsistent", 0),
            t.get("pending"),
        ]
        for t in data.get("tables", [])
    ]
    lines.append("")
    lines.append(
        table(
            [
                "AFI",
                "TABLE",
                "EXPECTED",
                "KERNEL",
                "IN SYNC",
                "MISSING",
                "EXTRA",
                "NH MISMATCH",
                "BMP INCONSISTENT",
                "PENDING",
            ],
            rows,
        )
    )
    drift = data.get("drift", [])
    if drift:
        lines.append("")
        lines.append(
            table(
                ["PREFIX", "TABLE", "STATE", "EXPECTED NEXT HOPS", "KERNEL NEXT HOPS", "PROTO"],
                [
                    [
                        d.get("prefix"),
                        d.get("table"),
                        d.get("state") + (" (pending)" if d.get("pending") else ""),
                        ", ".join(d.get("expected") or []) or "-",
                        ", ".join(d.get("actual") or []) or "-",
                        d.get("proto") or "-",
                    ]
                    for d in drift
                ],
            )
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    params = query(args, "state", "afi", "limit", "pending")
    data = fetch("fib-diff", args.api, "/api/v1/fib/diff", params)
    if data is None:
        return 1
    print(json.dumps(data, indent=2) if args.json else render(data))
    if data.get("error") or not data.get("router"):
        return 1
    # bmp_inconsistent rows are the router's BMP feed contradicting itself, not drift
    drift = [d for d in data.get("drift", []) if d.get("state") != BMP_INCONSISTENT]
    return EXIT_DRIFT if any(not d.get("pending") for d in drift) else 0
