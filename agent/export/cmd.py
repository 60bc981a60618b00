"""``bmp-agent dump --mrt FILE``: an MRT snapshot of a running agent's RIB.

Streams ``GET /api/v1/mrt`` (RFC 6396 TABLE_DUMP_V2, see
``agent.export.mrt``) into FILE (``-``: standard output), never holding the
whole dump in memory; FILE appears only when complete (written to a
temporary name, then renamed). ``--router`` and ``--view`` narrow it to one
router (label or address) and one view. Read it with ``bgpdump -m FILE``.

Exit status: 0 written, 1 the agent cannot be reached or refused, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

from parsers.bmp.messages import VIEWS

from ..cli.api import DEFAULT_API, ApiError, open_stream

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
    p.add_argument("--api", default=DEFAULT_API, help=f"agent API URL (default {DEFAULT_API})")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        resp = open_stream(args.api, "/api/v1/mrt", {"router": args.router, "view": args.view})
    except ApiError as exc:
        print(f"bmp-agent dump: {exc}", file=sys.stderr)
        return 1
    routes = resp.headers.get("X-MRT-Routes", "?")
    out: IO[bytes]
    tmp = None
    if args.mrt == "-":
        out = sys.stdout.buffer
    else:
        tmp = f"{args.mrt}.tmp{os.getpid()}"
        try:
            out = open(tmp, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"bmp-agent dump: {tmp}: {exc.strerror or exc}", file=sys.stderr)
            resp.close()
            return 1
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
