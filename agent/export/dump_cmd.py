"""``bmp-agent dump --mrt FILE``: an MRT snapshot of a running agent's RIB.

Streams ``GET /api/v1/mrt`` (RFC 6396 TABLE_DUMP_V2, see
``agent.export.mrt``) into FILE (``-``: standard output), never holding the
whole dump in memory. ``--router`` and ``--view`` narrow it to one router
(label or address) and one view. Read it with ``bgpdump -m FILE``.

Exit status: 0 written, 1 the agent cannot be reached or refused, 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any

from ..cli import DEFAULT_API

VIEWS = ("adj_in_pre", "adj_in_post", "adj_out_pre", "adj_out_post", "loc_rib")
CHUNK = 1 << 16


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "dump",
        help="write an MRT (TABLE_DUMP_V2) snapshot of a running agent's RIB",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--mrt", required=True, metavar="FILE", help="output file ('-': stdout)")
    p.add_argument("--router", help="only this router (label or address)")
    p.add_argument("--view", choices=VIEWS, help="only this view")
    p.add_argument("--api", default=DEFAULT_API, help=f"agent HTTP address (default {DEFAULT_API})")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("router", args.router), ("view", args.view)) if v}
    url = args.api.rstrip("/") + "/api/v1/mrt"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        resp = urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(exc.read().decode()).get("error", "")
        print(f"bmp-agent dump: {url}: HTTP {exc.code} {detail}".rstrip(), file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"bmp-agent dump: cannot reach the agent API at {args.api}: {reason}", file=sys.stderr
        )
        return 1
    routes = resp.headers.get("X-MRT-Routes", "?")
    out: IO[bytes]
    tmp = None
    if args.mrt == "-":
        out = sys.stdout.buffer
    else:
        tmp = f"{args.mrt}.tmp{os.getpid()}"
        out = open(tmp, "wb")  # noqa: SIM115 - closed below
    total = 0
    try:
        with resp:
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                total += len(chunk)
    except OSError as exc:
        print(f"bmp-agent dump: {exc}", file=sys.stderr)
        if tmp is not None:
            out.close()
            os.unlink(tmp)
        return 1
    if tmp is not None:
        out.close()
        os.replace(tmp, args.mrt)
        print(f"wrote {args.mrt}: {total} bytes, {routes} routes", file=sys.stderr)
    return 0
