"""The overview dashboard shows a BIRD-socket node beside a BMP router.

A real Prometheus 2.42 scrapes an agent that has two sources at once: a BMP
router (``bmp-agent replay`` of frr-basic) and a BIRD 2.0 control socket
(the recorded replies of tests/data/bird served by ``tests/bird/fake_bird``
in a subprocess). The "Routers" panel's query, evaluated through
Prometheus, must list both, told apart by ``source``; the per-peer prefix
panel must show both routers' peers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import REPO, free_port
from test_dashboards_live import (
    Stack,
    _bin,
    _expand,
    _load,
    _panels,
    _resolve,
    _spawn,
    _wait,
    start_prometheus,
    stop_all,
)

FAKE_BIRD = """
import asyncio, sys
sys.path.insert(0, {bird_tests!r})
from pathlib import Path
from fake_bird import FakeBird, greeting, recorded

async def main():
    await FakeBird(Path({path!r}), recorded("2.0"), greeting("2.0")).start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("bird-live")
    sock = tmp / "bird.ctl"
    bmp, http, pport = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    agent = _bin("bmp-agent")
    script = FAKE_BIRD.format(bird_tests=str(REPO / "tests" / "bird"), path=str(sock))
    try:
        _spawn([sys.executable, "-c", script], tmp / "fake-bird.log", procs)
        _wait("fake BIRD socket", sock.exists)
        (tmp / "agent.yaml").write_text(
            f"bmp:\n  listen: ['127.0.0.1:{bmp}']\n"
            f"http:\n  listen: '127.0.0.1:{http}'\n"
            "fib:\n  enabled: false\n"
            f"sources:\n  - {{type: bird, socket: '{sock}', interval: 1s}}\n"
        )
        _spawn(
            [*agent, "run", "--config", str(tmp / "agent.yaml"), "--log-format", "json"],
            tmp / "agent.log",
            procs,
        )
        st = start_prometheus(tmp, http, pport, procs)
        capture = REPO / "tests" / "data" / "captures" / "frr-basic.bmp"
        _spawn(
            [*agent, "replay", str(capture), "--to", f"127.0.0.1:{bmp}", "--hold"],
            tmp / "replay.log",
            procs,
        )
        _wait(
            "both routers scraped",
            lambda: len(st.query("bmp_router_info")["data"]["result"]) == 2,
        )
        yield st
    finally:
        stop_all(procs)


def _series(stack: Stack, dashboard: str, title: str) -> list[dict[str, str]]:
    d = _load(dashboard)
    values = _resolve(stack, d, {})
    (panel,) = [p for p in _panels(d) if p["title"] == title]
    res = stack.query(_expand(panel["targets"][0]["expr"], values))
    assert res["status"] == "success", res
    return [r["metric"] for r in res["data"]["result"]]


def test_routers_panel_shows_bird_and_bmp_side_by_side(stack: Stack) -> None:
    routers = {(m["router"], m["source"]) for m in _series(stack, "bgp-overview.json", "Routers")}
    assert routers == {("127.0.0.1", "bmp"), ("bird.ctl", "bird")}


def test_prefix_panel_shows_both_routers_peers(stack: Stack) -> None:
    d = _load("bgp-overview.json")
    titles = [p["title"] for p in _panels(d)]
    (title,) = [t for t in titles if t.lower().startswith("prefixes")]
    routers = {m.get("router") for m in _series(stack, "bgp-overview.json", title)}
    assert routers == {"127.0.0.1", "bird.ctl"}


def test_logs_are_clean(stack: Stack) -> None:
    log = Path(stack.tmp / "agent.log").read_text()
    assert '"bird socket poll failed"' not in log
