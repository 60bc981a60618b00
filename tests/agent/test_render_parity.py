"""One renderer for path attributes: the HTTP API and ``bmp-agent decode`` agree.

The same capture goes through ``bmp-agent decode`` (JSON Lines on stdout) and
into a running agent's core (``/api/v1/routes``); for every route the API
holds, the attributes of the last decoded announcement of that prefix by that
peer in that view must be the very same JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.cli.main import main
from agent.daemon import Daemon
from parsers.bmp.session import BmpSession

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
#: Captures with AS4 paths, communities, large communities, MP next hops, ADD-PATH.
FILES = ("frr-basic.bmp", "gobgp-basic.bmp", "bird-basic.bmp", "frr-addpath.bmp")


def decoded_attributes(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> dict[tuple[str, str, str, Any], Any]:
    """(peer label, view, prefix, path id) -> attributes of the last announcement."""
    assert main(["decode", str(path)]) == 0
    out: dict[tuple[str, str, str, Any], Any] = {}
    for line in capsys.readouterr().out.splitlines():
        msg = json.loads(line)
        if msg["type"] != "route_monitoring" or "error" in msg:
            continue
        peer = msg["peer"]
        label = peer["address"] if peer["rd"] is None else f"{peer['address']}%{peer['rd']}"
        update = msg["update"]
        for route in update["withdrawn"]:
            out.pop((label, msg["view"], route["prefix"], route["path_id"]), None)
        for route in update["announced"]:
            out[(label, msg["view"], route["prefix"], route["path_id"])] = update["attributes"]
    return out


@pytest.mark.parametrize("name", FILES)
async def test_api_and_decode_render_the_same_attributes(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = CAPTURES / name
    expected = decoded_attributes(path, capsys)
    rs = daemon.core.open_session("192.0.2.10", 50000)
    for event in BmpSession().feed(path.read_bytes()):
        rs.handle(event)
    async with (
        aiohttp.ClientSession(base_url=f"http://{daemon.http_addresses[0]}") as client,
        client.get("/api/v1/routes", params={"limit": "10000"}) as resp,
    ):
        assert resp.status == 200
        body = await resp.text()
    routes = json.loads(body)["routes"]
    got = {(r["peer"], r["view"], r["prefix"], r["path_id"]): r["attributes"] for r in routes}
    assert len(got) == len(expected) > 0
    assert got == expected
    # the attributes exercise the parts the two renderings used to disagree on
    shapes = {json.dumps(a, sort_keys=True) for a in got.values()}
    assert any('"as_path": [{"asns"' in s for s in shapes)
