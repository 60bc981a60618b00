"""frr-mistakes.bmp (FRR 8.4.4, one session from public AS 15169 without
graceful restart, announcing 0.0.0.0/0, ::/0 and 200 /32s) through the core
and through a running agent: exactly four checks fire, for exactly that peer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from health_support import Lab

from agent.app import build_daemon
from agent.cli import main as cli
from agent.config import load
from agent.daemon import Daemon
from agent.health import report_json
from agent.health.cmd import render
from parsers.bmp.session import BmpSession

CAPTURE = Path(__file__).parents[1] / "data" / "captures" / "frr-mistakes.bmp"
FIRING = ["default_route_received", "public_asn", "no_graceful_restart", "host_route_flood"]


def test_mistakes_capture_through_the_core() -> None:
    lab = Lab()
    for ev in BmpSession(fast=True).feed(CAPTURE.read_bytes()):
        lab.session.handle(ev)
    report = lab.report()
    found = {n: [(f.peer, f.found) for f in r.findings] for n, r in report.results.items()}
    assert found == {
        "default_route_received": [
            (
                "10.0.1.2",
                "peer AS 15169 sends a default route: 0.0.0.0/0 in adj_in_pre, ::/0 in adj_in_pre",
            )
        ],
        "public_asn": [("10.0.1.2", "peer AS 15169 is public")],
        "no_graceful_restart": [
            ("10.0.1.2", "the peer (AS 15169) does not advertise the graceful-restart capability")
        ],
        "host_route_flood": [
            ("10.0.1.2", "200 host routes (/32, /128) from peer AS 15169, more than 100")
        ],
        "ibgp_full_mesh_at_scale": [],
        "single_route_reflector": [],
        "expected_prefix_missing": [],
        # nothing configured: the MetalLB, DCI and overlap checks evaluate no peer
        "metallb_pod_routes": [],
        "cidr_overlap": [],
        "dci_unsummarized": [],
        "local_only_leak": [],
        "bmp_feed_inconsistent": [],
        "rib_limit_reached": [],
    }
    # the never-up 10.0.1.99 and fd00:1::2 (Peer Down only) are not evaluated
    assert report.results["public_asn"].subjects == [("10.0.9.1", "10.0.1.2", True)]
    text = render(report_json(report, lab.config))
    assert text.splitlines()[-1] == (
        "4 problem(s) in 4 check(s): default_route_received, public_asn, "
        "no_graceful_restart, host_route_flood"
    )
    assert "[OK] ibgp_full_mesh_at_scale (warning): 1 checked, none found" in text


@pytest.fixture
async def agent() -> AsyncIterator[Daemon]:
    env = {
        "BMP_AGENT_BMP_LISTEN": "127.0.0.1:0",
        "BMP_AGENT_HTTP_LISTEN": "127.0.0.1:0",
        "BMP_AGENT_HEALTH_EXPECTED_PREFIXES": "10.96.0.0/12,0.0.0.0/0@adj_in_pre",
    }
    d = build_daemon(load(environ=env))
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def get(d: Daemon, path: str) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection(
        d.http_addresses[0].host, d.http_addresses[0].port
    )
    writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    ctype = head.lower()
    return status, json.loads(body) if b"application/json" in ctype else body.decode()


def health_samples(text: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("bmp_health_check{"):
            labels = dict(
                kv.split("=", 1) for kv in line[line.index("{") + 1 : line.index("}")].split(",")
            )
            lab = {k: v.strip('"') for k, v in labels.items()}
            out[(lab["check"], lab["peer"], lab["severity"])] = float(line.rsplit(" ", 1)[1])
    return out


async def test_mistakes_replayed_into_the_agent(
    agent: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    bmp = agent.bmp_addresses[0]
    _, writer = await asyncio.open_connection(bmp.host, bmp.port)
    writer.write(CAPTURE.read_bytes())
    await writer.drain()

    async def firing() -> dict[str, Any]:
        for _ in range(200):
            status, doc = await get(agent, "/api/v1/health")
            assert status == 200
            if doc["firing"] >= 5:
                return doc
            await asyncio.sleep(0.02)
        raise AssertionError(doc)

    doc = await firing()
    by_name = {c["check"]: c for c in doc["checks"]}
    assert {n: c["status"] for n, c in by_name.items()} == {
        **{n: "firing" for n in FIRING},
        "ibgp_full_mesh_at_scale": "ok",
        "single_route_reflector": "ok",
        "expected_prefix_missing": "firing",
        "metallb_pod_routes": "ok",
        "cidr_overlap": "ok",
        "dci_unsummarized": "ok",
        "local_only_leak": "ok",
        "bmp_feed_inconsistent": "ok",
        "rib_limit_reached": "ok",
    }
    router = by_name["public_asn"]["findings"][0]["router"]
    assert router == "127.0.0.1"
    for name in FIRING:
        assert [(f["router"], f["peer"]) for f in by_name[name]["findings"]] == [
            ("127.0.0.1", "10.0.1.2")
        ], name
    # 0.0.0.0/0 is in adj_in_pre; 10.96.0.0/12 is nowhere
    assert by_name["expected_prefix_missing"]["findings"][0]["details"] == {
        "missing": ["10.96.0.0/12@adj_in_post"],
        "views_not_sent": [],
    }
    assert doc["settings"]["expected_prefixes"] == [
        "10.96.0.0/12@adj_in_post",
        "0.0.0.0/0@adj_in_pre",
    ]

    status, text = await get(agent, "/metrics")
    assert health_samples(text) == {
        ("default_route_received", "10.0.1.2", "critical"): 1.0,
        ("public_asn", "10.0.1.2", "warning"): 1.0,
        ("no_graceful_restart", "10.0.1.2", "warning"): 1.0,
        ("host_route_flood", "10.0.1.2", "warning"): 1.0,
        ("ibgp_full_mesh_at_scale", "", "warning"): 0.0,
        ("single_route_reflector", "", "warning"): 0.0,
        ("expected_prefix_missing", "", "critical"): 1.0,
        ("bmp_feed_inconsistent", "10.0.1.2", "warning"): 0.0,
        ("rib_limit_reached", "10.0.1.2", "critical"): 0.0,
    }
    assert (await get(agent, "/api/v1/health?router=192.0.2.9"))[1]["firing"] == 0
    status, err = await get(agent, "/api/v1/health?peer=1")
    assert status == 400
    assert "unknown parameter 'peer'" in err["error"]

    api = f"http://{agent.http_addresses[0]}"
    capsys.readouterr()
    rc = await asyncio.to_thread(cli.main, ["doctor", "--api", api, "--quiet"])
    assert rc == 3
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("[")]
    assert heads == [
        "[FIRING] default_route_received (critical): 1 of 1",
        "[FIRING] public_asn (warning): 1 of 1",
        "[FIRING] no_graceful_restart (warning): 1 of 1",
        "[FIRING] host_route_flood (warning): 1 of 1",
        "[FIRING] expected_prefix_missing (critical): 1 of 1",
    ]
    assert "  - router 127.0.0.1 peer 10.0.1.2: peer AS 15169 is public" in out
    assert "advice: Use private ASNs inside the fabric" in out
    writer.close()


async def test_doctor_on_a_healthy_agent(agent: Daemon, capsys: pytest.CaptureFixture[str]) -> None:
    api = f"http://{agent.http_addresses[0]}"
    rc = await asyncio.to_thread(cli.main, ["doctor", "--api", api])
    assert rc == 0
    # The daemon runs in this process and logs to the same stdout meanwhile
    # (the FIB check's first kernel read): keep the doctor's own lines.
    out = [
        line
        for line in capsys.readouterr().out.splitlines()
        if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[", line)
    ]
    assert out[-1] == "no problems found"


def test_doctor_cannot_reach_api(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["doctor", "--api", "http://127.0.0.1:1"])
    assert rc == 1
    assert (
        "bmp-agent doctor: cannot reach the agent API at http://127.0.0.1:1"
        in capsys.readouterr().err
    )
