"""MRT snapshots (``bmp-agent dump --mrt``) read by Debian's ``bgpdump``.

Every capture is replayed into one running agent as its own router; for each
router and each view (``GET /api/v1/mrt``), and for the router as a whole
(the CLI), ``bgpdump -m`` of the snapshot lists exactly the routes of ``/api/v1/routes``: the same (peer,
prefix, path ID, AS path, next hop, MED) entries, as many times each.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_support import SMALL, AgentProc, Router, all_routes, need, run_agent, wait_for

from agent.cli.main import as_path_text
from parsers.bmp.messages import VIEWS

SCALE = "frr-scale.bmp.gz"
CAPTURES = [*SMALL, SCALE]
Entry = tuple[str, str, int | None, str, str, str]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProc, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("mrt")
    with run_agent(tmp) as agent:
        routers: dict[str, Router] = {}
        for i, name in enumerate(CAPTURES):
            r = routers[name] = Router(f"127.0.0.{30 + i}", agent.bmp_port)
            r.send_capture(name)
        for name, r in routers.items():
            wait_for(lambda r=r: agent.messages(r.address) == r.messages, 120, name)
        try:
            yield agent, {name: r.address for name, r in routers.items()}
        finally:
            for r in routers.values():
                r.close()


def dump(agent: AgentProc, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "dump",
            "--mrt",
            str(path),
            "--api",
            f"http://127.0.0.1:{agent.http_port}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def bgpdump(path: Path) -> Counter[Entry]:
    out = subprocess.run(
        [need("bgpdump"), "-m", str(path)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    got: Counter[Entry] = Counter()
    for line in out.splitlines():
        f = line.split("|")
        if f[0] == "TABLE_DUMP2_AP":  # RFC 8050: the path ID after the prefix
            got[(f[3], f[5], int(f[6]), f[7], f[9], f[11])] += 1
        else:
            assert f[0] == "TABLE_DUMP2", line
            got[(f[3], f[5], None, f[6], f[8], f[10])] += 1
    return got


def expected(agent: AgentProc, router: str, view: str | None) -> Counter[Entry]:
    want: Counter[Entry] = Counter()
    for r in all_routes(agent, f"router={router}" + (f"&view={view}" if view else "")):
        if r["safi"] != "unicast":
            continue
        a = r["attributes"]
        # A Loc-RIB instance has no peer address: its router's stands in.
        peer = router if r["view"] == "loc_rib" else r["peer"].split("%")[0]
        med = str(a.get("med", 0))
        path = as_path_text(a["as_path"]) if a.get("as_path") else ""
        want[(peer, r["prefix"], r["path_id"], path, a["next_hop"], med)] += 1
    return want


@pytest.mark.parametrize("name", CAPTURES)
def test_bgpdump_reads_the_snapshot_of_every_view(
    loaded: tuple[AgentProc, dict[str, str]], tmp_path: Path, name: str
) -> None:
    agent, addresses = loaded
    router = addresses[name]
    total = 0
    for view in VIEWS:  # per view straight from the API
        path = tmp_path / f"{view}.mrt"
        path.write_bytes(agent.get(f"/api/v1/mrt?router={router}&view={view}"))
        want = expected(agent, router, view)
        assert bgpdump(path) == want, f"{name} {view}"
        total += sum(want.values())
    # the whole router through the CLI
    path = tmp_path / "all.mrt"
    res = dump(agent, path, "--router", router)
    assert res.returncode == 0, res.stderr
    want = expected(agent, router, None)
    assert f"{sum(want.values())} routes" in res.stderr
    assert bgpdump(path) == want, name
    assert total == sum(want.values())


def test_sizes(loaded: tuple[AgentProc, dict[str, str]]) -> None:
    """What the comparisons above covered, pinned: per capture, all views."""
    agent, addresses = loaded
    sizes = {n: sum(expected(agent, a, None).values()) for n, a in addresses.items()}
    assert sizes["frr-basic.bmp"] == 66
    assert sizes["bird-addpath.bmp"] == 29
    assert sizes[SCALE] == 240000


def test_dump_errors(loaded: tuple[AgentProc, dict[str, str]], tmp_path: Path) -> None:
    agent, _ = loaded
    res = dump(agent, tmp_path / "x.mrt", "--router", "192.0.2.99")
    assert res.returncode == 1
    assert "HTTP 404: no router '192.0.2.99'" in res.stderr
    assert not (tmp_path / "x.mrt").exists()
    with pytest.raises(urllib.error.HTTPError) as err:
        agent.get("/api/v1/mrt?view=best")
    assert err.value.code == 400
    res = dump(agent, tmp_path / "y.mrt", "--api", "http://127.0.0.1:1")
    assert res.returncode == 1 and "cannot reach the agent API" in res.stderr
