"""``/api/v1/fib/diff``, the ``bmp_fib_*`` metrics and ``bmp-agent fib-diff`` through a
real ``Daemon`` whose event loop runs inside a private namespace."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import pytest
from daemon_support import api_client, loopback_config, run_cmd, serving
from fibns import FibNs, run_async_in_ns
from structlog.testing import capture_logs
from test_fib_reconciler import KERNEL_OK, feed

from agent.app import build_daemon
from agent.fib import cmd as fib_cmd

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def config(**fib: Any) -> Any:
    return loopback_config(fib={"grace": 0.3, "interval": 0.1, **fib})


@pytest.fixture
def fns(fns: FibNs) -> FibNs:
    fns.batch(KERNEL_OK)
    return fns


def cli(api: str, *extra: str) -> tuple[int, str]:
    return run_cmd(fib_cmd, "fib-diff", "--api", api, *extra)


def test_api_metrics_and_cli(fns: FibNs) -> None:
    async def main() -> None:
        async with api_client(config(), feed) as (d, base, s):
            assert d.component("fib") is not None

            async def diff(q: str = "") -> Any:
                async with s.get("/api/v1/fib/diff" + q) as r:
                    return r.status, await r.json()

            for _ in range(100):
                st, body = await diff()
                if body["synced"] and body["tables"]:
                    break
                await asyncio.sleep(0.05)
            assert st == 200
            assert body["router"] == "127.0.0.1"
            assert body["view"] == "adj_in_post"
            assert body["drift"] == []
            assert [
                (t["afi"], t["table"], t["expected"], t["kernel"], t["in_sync"])
                for t in body["tables"]
            ] == [("ipv4", "main", 2, 2, 2), ("ipv6", "main", 1, 1, 1)]
            code, text = await asyncio.to_thread(cli, base)
            assert code == 0
            assert "router 127.0.0.1" in text

            await asyncio.to_thread(fns.ip, "route", "del", "198.51.100.0/24")
            for _ in range(100):
                st, body = await diff()
                if body["drift"]:
                    break
                await asyncio.sleep(0.05)
            assert [(x["prefix"], x["state"], x["expected"]) for x in body["drift"]] == [
                ("198.51.100.0/24", "missing", ["10.9.0.2"])
            ]
            st, body = await diff("?state=extra")
            assert (st, body["drift"]) == (200, [])
            st, body = await diff("?state=bogus")
            assert st == 400 and "bogus" in body["error"]
            st, body = await diff("?nope=1")
            assert st == 400
            code, text = await asyncio.to_thread(cli, base)
            assert code == fib_cmd.EXIT_DRIFT
            line = next(x for x in text.splitlines() if x.startswith("198.51.100.0/24"))
            assert line.split()[:4] == ["198.51.100.0/24", "main", "missing", "10.9.0.2"]
            async with s.get("/metrics") as r:
                metrics = await r.text()
            assert (
                'bmp_fib_routes{afi="ipv4",router="127.0.0.1",state="missing",table="main"} 1.0'
                in metrics
            )
            assert 'bmp_kernel_routes{afi="ipv6",proto="bgp",table="main"} 1.0' in metrics

    run_async_in_ns(fns.ns.name, main)


def test_disabled_fib_has_no_endpoint(fns: FibNs) -> None:
    async def main() -> None:
        with capture_logs():
            d = build_daemon(config(enabled=False))
            assert d.component("fib") is None
            async with serving(d) as base:
                async with (
                    aiohttp.ClientSession(base_url=base) as s,
                    s.get("/api/v1/fib/diff") as r,
                ):
                    assert r.status == 404
                code, _ = await asyncio.to_thread(cli, base)
                assert code == 1

    run_async_in_ns(fns.ns.name, main)
