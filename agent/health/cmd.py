"""``bmp-agent doctor``: the BGP health checks of a running agent, with advice.

Reads ``/api/v1/health`` (``--api``, default http://127.0.0.1:9324) and prints
one block per check: its status (OK, FIRING, DISABLED), severity, what was
found per router and peer, and the advice when it fires. ``--router`` limits
the report to one router; ``--json`` prints the API document; ``--quiet``
prints only the firing checks.

Exit status: 0 no check fires, 1 the API cannot be read, 3 at least one check
fires (usable in scripts and readiness probes).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from ..cli.api import add_api_command, fetch, query

EXIT_FIRING = 3

STATUS_TEXT = {"ok": "OK", "firing": "FIRING", "disabled": "DISABLED"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    helptext = "BGP health checks of a running agent, with advice"
    parser = add_api_command(subparsers, "doctor", helptext, __doc__)
    parser.add_argument("--router", help="only this router (its label)")
    parser.add_argument("--quiet", action="store_true", help="print only the checks that fire")
    return parser


def _wrap(text: str, indent: str, more: str | None = None) -> list[str]:
    rest = indent if more is None else more
    return textwrap.wrap(text, width=96, initial_indent=indent, subsequent_indent=rest) or [indent]


def _where(finding: dict[str, Any]) -> str:
    router = str(finding.get("router", "?"))
    peer = finding.get("peer")
    return f"router {router} peer {peer}" if peer else f"router {router}"


def render(doc: dict[str, Any], *, quiet: bool = False) -> str:
    """The report as text (one block per check)."""
    lines: list[str] = []
    checks = [c for c in doc.get("checks", []) if isinstance(c, dict)]
    firing = [c for c in checks if c.get("status") == "firing"]
    for c in checks:
        status = str(c.get("status", "?"))
        if quiet and status != "firing":
            continue
        name = str(c.get("check", "?"))
        head = f"[{STATUS_TEXT.get(status, status.upper())}] {name} ({c.get('severity', '?')})"
        if status == "ok":
            head += f": {c.get('evaluated', 0)} checked, none found"
        elif status == "firing":
            head += f": {c.get('firing', 0)} of {c.get('evaluated', 0)}"
        lines.append(head)
        if status != "firing":
            continue
        lines.extend(_wrap(str(c.get("title", "")), "    "))
        for f in c.get("findings", []):
            if isinstance(f, dict):
                lines.extend(_wrap(f"{_where(f)}: {f.get('found', '')}", "  - ", "      "))
        lines.extend(_wrap("advice: " + str(c.get("advice", "")), "    "))
    if lines:
        lines.append("")
    if firing:
        total = sum(int(c.get("firing", 0)) for c in firing)
        names = ", ".join(str(c.get("check")) for c in firing)
        lines.append(f"{total} problem(s) in {len(firing)} check(s): {names}")
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    doc = fetch("doctor", args.api, "/api/v1/health", query(args, "router"), lists=("checks",))
    if doc is None:
        return 1
    print(json.dumps(doc, indent=2) if args.json else render(doc, quiet=args.quiet))
    return EXIT_FIRING if doc.get("firing") else 0
