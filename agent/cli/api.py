"""The HTTP API client of the read-only subcommands (``peers``, ``routes``, ``doctor``, ``fib-diff``, ``dump``)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
from collections.abc import Mapping, Sequence
from http.client import HTTPResponse
from typing import Any

from . import apiclient

DEFAULT_API = "http://127.0.0.1:9324"


def add_api_command(
    subparsers: Any, name: str, helptext: str, doc: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand reading a running agent's API: ``--api URL`` and ``--json``;
    its description the first paragraph of ``doc`` (the module's docstring)."""
    description = doc.split("\n\n")[0] if doc else None
    p: argparse.ArgumentParser = subparsers.add_parser(name, help=helptext, description=description)
    p.add_argument("--api", default=DEFAULT_API, help=f"agent API URL (default {DEFAULT_API})")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    return p


class ApiError(RuntimeError):
    pass


def get_json(api: str, path: str, params: Mapping[str, str | None] | None = None) -> Any:
    url = _url(api, path, params)
    with open_stream(api, path, params, timeout=10) as resp:
        try:
            return json.loads(resp.read().decode("utf-8"))
        except ValueError as exc:
            raise ApiError(f"{url}: bad JSON ({exc})") from None
        except OSError as exc:
            raise ApiError(f"cannot reach the agent API at {api}: {exc}") from None


def fetch(
    command: str,
    api: str,
    path: str,
    params: Mapping[str, str | None] | None = None,
    *,
    lists: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The JSON object ``GET path`` answers, with a list under each key of
    ``lists``; None after ``bmp-agent COMMAND: why`` on stderr (the agent cannot
    be reached, an HTTP error, any other answer)."""
    try:
        doc = get_json(api, path, params)
    except ApiError as exc:
        print(f"bmp-agent {command}: {exc}", file=sys.stderr)
        return None
    if not isinstance(doc, dict) or any(not isinstance(doc.get(k), list) for k in lists):
        print(f"bmp-agent {command}: unexpected API answer for {path}", file=sys.stderr)
        return None
    return doc


def query(args: argparse.Namespace, *names: str) -> dict[str, str | None]:
    """API query parameters from the flags ``names``: a flag not given (None, or
    a switch not set) is left out, a switch set is ``1``, any other value its text."""
    out: dict[str, str | None] = {}
    for name in names:
        value = getattr(args, name)
        out[name] = (
            None if value is None or value is False else "1" if value is True else str(value)
        )
    return out


def open_stream(
    api: str, path: str, params: Mapping[str, str | None] | None = None, *, timeout: float = 60
) -> HTTPResponse:
    """GET ``path`` for reading as a stream (a binary body too large to hold):
    the open response, or ``ApiError`` naming the URL and the agent's error."""
    url = _url(api, path, params)
    try:
        return apiclient.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read().decode("utf-8")).get("error", "")
        except (ValueError, AttributeError):
            detail = ""
        raise ApiError(f"{url}: HTTP {exc.code}{': ' + detail if detail else ''}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(f"cannot reach the agent API at {api}: {reason}") from None


def _url(api: str, path: str, params: Mapping[str, str | None] | None) -> str:
    url = api.rstrip("/") + path
    query = {k: v for k, v in (params or {}).items() if v is not None}
    if query:
        url += "?" + urllib.parse.urlencode(query)
    return url


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
