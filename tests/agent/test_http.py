"""HTTP endpoints over a real loopback socket: health, readiness, metrics, API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from agent.app import new_registry
from agent.config import Endpoint
from agent.core import Core, CoreSettings
from agent.daemon import Daemon
from agent.export import views
from agent.export.http import HttpServer
from agent.httpjson import json_handler
from parsers.bmp.session import BmpSession

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "data" / "captures"


def feed(core: Any, name: str, address: str = "192.0.2.10") -> None:
    """Apply a capture to the core as one router connection (no socket needed)."""
    rs = core.open_session(address, 50000, mode="passive")
    for event in BmpSession().feed((CAPTURES / name).read_bytes()):
        rs.handle(event)


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[Any]:
    base = f"http://{daemon.http_addresses[0]}"

    async with aiohttp.ClientSession(base_url=base) as session:
        yield session


async def get(client: Any, path: str) -> tuple[int, Any]:
    async with client.get(path) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_healthz(client: Any) -> None:
    assert await get(client, "/healthz") == (200, "ok\n")


async def test_readyz_follows_listener_binding() -> None:
    ready = [False]
    with capture_logs():
        core = Core(CoreSettings())
        server = HttpServer(core, new_registry(), ready=lambda: ready[0], views=views)
        [addr] = await server.start(Endpoint("127.0.0.1", 0))
    try:
        async with aiohttp.ClientSession(base_url=f"http://{addr}") as client:
            assert await get(client, "/readyz") == (503, "not ready\n")
            ready[0] = True
            assert await get(client, "/readyz") == (200, "ready\n")
    finally:
        await server.stop()


async def test_daemon_ready_once_started(client: Any) -> None:
    assert await get(client, "/readyz") == (200, "ready\n")


async def test_metrics_exposition(daemon: Daemon, client: Any) -> None:
    feed(daemon.core, "bird-basic.bmp")
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "process_cpu_seconds" in families and "python_info" in families
    routes = {
        (s.labels["peer"], s.labels["view"], s.labels["afi"]): s.value
        for s in families["bmp_rib_routes"].samples
    }
    # BIRD shows the import-rejected prefix (one per family) pre-policy only.
    assert routes == {
        ("10.0.1.2", "adj_in_pre", "ipv4"): 16.0,
        ("10.0.1.2", "adj_in_post", "ipv4"): 15.0,
        ("10.0.1.2", "adj_in_pre", "ipv6"): 9.0,
        ("10.0.1.2", "adj_in_post", "ipv6"): 8.0,
        ("fd00:1::2", "adj_in_pre", "ipv4"): 5.0,
        ("fd00:1::2", "adj_in_post", "ipv4"): 5.0,
        ("fd00:1::2", "adj_in_pre", "ipv6"): 5.0,
        ("fd00:1::2", "adj_in_post", "ipv6"): 5.0,
    }


async def test_api_routers_and_peers(daemon: Daemon, client: Any) -> None:
    feed(daemon.core, "gobgp-basic.bmp")
    status, data = await get(client, "/api/v1/routers")
    assert status == 200
    [router] = data["routers"]
    assert (router["router"], router["sys_name"], router["sys_descr"]) == (
        "192.0.2.10",
        "GoBGP",
        "3.10.0",
    )
    assert router["messages"]["route_monitoring"] == 374
    status, data = await get(client, "/api/v1/peers?router=192.0.2.10")
    assert status == 200
    states = {p["peer"]: (p["asn"], p["state"]) for p in data["peers"]}
    assert states == {
        "10.0.1.2": (65001, "up"),
        "fd00:1::2": (65002, "up"),
        "0.0.0.0": (65000, "implicit"),  # GoBGP's Loc-RIB without Peer Up
    }
    status, data = await get(client, "/api/v1/peers?router=nope")
    assert (status, data) == (200, {"peers": []})


async def test_api_routes_filters(daemon: Daemon, client: Any) -> None:
    feed(daemon.core, "frr-basic.bmp")
    status, data = await get(client, "/api/v1/routes?peer=10.0.1.2&view=adj_in_post")
    assert status == 200 and data["count"] == 23 and data["truncated"] is False
    status, data = await get(
        client, "/api/v1/routes?peer=10.0.1.2&view=adj_in_post&prefix=10.244.1.7"
    )
    assert status == 200
    [route] = data["routes"]
    assert (route["prefix"], route["match"]) == ("10.244.1.0/24", "longest")
    # ExaBGP sent AS path "65001"; FRR 8.4 puts its own AS first in every
    # Route Monitoring AS_PATH (all 152 in this capture start with 65000, tshark agrees).
    assert route["attributes"]["as_path"] == [{"type": "sequence", "asns": [65000, 65001]}]
    assert route["attributes"]["origin"] == "incomplete"
    status, data = await get(client, "/api/v1/routes?limit=3")
    assert (status, data["count"], data["truncated"]) == (200, 3, True)


async def test_api_flaps(daemon: Daemon, client: Any) -> None:
    feed(daemon.core, "frr-basic.bmp")
    status, data = await get(client, "/api/v1/flaps")
    assert status == 200
    assert data["window"] == 60.0
    top = {(f["peer"], f["view"], f["prefix"]): f["flaps"] for f in data["top"]}
    # 10.244.1.0/24 flapped 5 times (withdraw, 1 s, announce), pre and post.
    assert top[("10.0.1.2", "adj_in_pre", "10.244.1.0/24")] == 5
    assert top[("10.0.1.2", "adj_in_post", "10.244.1.0/24")] == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "/api/v1/routes?view=rib",
            "view 'rib' is not one of adj_in_pre, adj_in_post, adj_out_pre, adj_out_post, loc_rib",
        ),
        ("/api/v1/routes?prefix=10.0.0.300", "prefix '10.0.0.300' is not a prefix or an address"),
        (
            "/api/v1/routes?vrf=1",
            "unknown parameter 'vrf' (allowed: router, peer, view, prefix, limit, cursor)",
        ),
        ("/api/v1/routes?peer=a&peer=b", "parameter 'peer' given 2 times"),
        ("/api/v1/routes?router=", "parameter 'router' is empty"),
        ("/api/v1/routes?limit=0", "limit '0' is not an integer between 1 and 10000"),
        ("/api/v1/peers?view=x", "unknown parameter 'view' (allowed: router)"),
        ("/api/v1/routers?x=1", "unknown parameter 'x' (allowed: none)"),
    ],
)
async def test_api_bad_parameters(client: Any, query: str, message: str) -> None:
    assert await get(client, query) == (400, {"error": message})


async def test_extra_endpoint_can_be_added() -> None:
    with capture_logs():
        server = HttpServer(Core(CoreSettings()), new_registry(), views=views)
        server.add_get("/api/v1/health", json_handler(lambda r: {"fib": "in_sync"}))
        [addr] = await server.start(Endpoint("127.0.0.1", 0))
    try:
        async with aiohttp.ClientSession(base_url=f"http://{addr}") as client:
            assert await get(client, "/api/v1/health") == (200, {"fib": "in_sync"})
    finally:
        await server.stop()
