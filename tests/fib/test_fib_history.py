"""Per-prefix history and convergence through a real ``Daemon`` and a real kernel
(private namespace): a withdraw moves the best path of 192.0.2.0/24 from peer A
(10.9.0.2) to peer B (10.9.0.3), the test then moves the kernel route, and the
history, ``/api/v1/convergence``, the metrics and ``bmp-agent history`` show it."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from daemon_support import api_client, loopback_config, run_cmd
from fibns import FibNs, bgp, bmp, run_async_in_ns
from test_fib_reconciler import KERNEL_OK, feed, peer

from agent.history import cmd as history_cmd
from parsers.bmp.session import BmpSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def config(**history: Any) -> Any:
    return loopback_config(
        fib={"grace": 0.3, "interval": 0.1},
        history={"enabled": True, "settle": 0.3, **history},
    )


def cli(api: str, *extra: str) -> tuple[int, str]:
    return run_cmd(history_cmd, "history", "--api", api, *extra)


@pytest.fixture
def fns(fns: FibNs) -> FibNs:
    fns.batch(KERNEL_OK)
    return fns


def test_withdraw_best_path_kernel_change_and_convergence(fns: FibNs) -> None:
    async def main() -> None:
        async with api_client(config(), feed) as (d, base, s):
            assert d.component("history") is not None

            async def get(path: str) -> Any:
                async with s.get(path) as r:
                    return r.status, await r.json()

            fib: Any = d.component("fib")
            for _ in range(200):
                if fib.synced and fib.router_label:
                    break
                await asyncio.sleep(0.05)
            assert fib.router_label == "127.0.0.1"
            t_withdraw = time.time()
            rs = d.core.routers["127.0.0.1"].session
            assert rs is not None
            wd = bmp.build_route_monitoring(
                bgp.build_update(withdrawn=bgp.nlri(["192.0.2.0/24"])),
                **peer("10.9.0.2", 65001),
            )
            for ev in BmpSession().feed(wd):
                rs.handle(ev)
            # the selection moved to B; the kernel still says A
            await asyncio.sleep(0.4)
            t_kernel = time.time()  # before the change: the agent may see it first
            await asyncio.to_thread(
                fns.ip, "route", "replace", "192.0.2.0/24", "via", "10.9.0.3",
                "proto", "bgp", "metric", "20",
            )  # fmt: skip
            for _ in range(200):
                _st, conv = await get("/api/v1/convergence")
                if conv["last"] is not None and conv["last"]["done"]:
                    break
                await asyncio.sleep(0.05)
            t_seen = time.time()
            last = conv["last"]
            assert (last["router"], last["peer"], last["trigger"]) == (
                "127.0.0.1",
                "10.9.0.2",
                "withdraw",
            )
            assert last["prefixes"] == 1 and last["best_path_changes"] == 1
            assert t_withdraw <= last["start"] <= last["rib"]["end"] < t_kernel
            assert t_kernel <= last["fib"]["end"] <= t_seen
            assert last["fib"]["seconds"] == pytest.approx(last["fib"]["end"] - last["start"])
            assert [p["prefix"] for p in last["fib"]["converged_last"]] == ["192.0.2.0/24"]

            st, hist = await get("/api/v1/history?prefix=192.0.2.0/24&since=" + repr(t_withdraw))
            assert st == 200
            steps = [
                (e["event"], e["peer"], e["view"]) for e in hist["events"] if e["event"] != "drift"
            ]
            assert steps == [
                ("withdraw", "10.9.0.2", "adj_in_post"),
                ("best_path_change", "10.9.0.3", "adj_in_post"),
                ("fib_nexthop_change", "", "kernel"),
            ]
            ev = {e["event"]: e for e in hist["events"]}
            assert ev["best_path_change"]["old"]["next_hop"] == "10.9.0.2"
            assert ev["best_path_change"]["new"]["next_hop"] == "10.9.0.3"
            k = ev["fib_nexthop_change"]
            assert k["old_next_hops"] == ["10.9.0.2 dev veth0"]
            assert k["next_hops"] == ["10.9.0.3 dev veth0"]
            assert t_kernel - 1.0 < k["time"] <= t_seen
            # the drift the comparison saw in between, then back in sync
            drift = [e["state"] for e in hist["events"] if e["event"] == "drift"]
            assert drift == ["nexthop_mismatch", "in_sync"]

            st, bad = await get("/api/v1/history")
            assert st == 400 and "prefix" in bad["error"]
            st, bad = await get("/api/v1/history?prefix=192.0.2.0/24&limit=0")
            assert st == 400
            async with s.get("/metrics") as r:
                metrics = await r.text()
            assert 'bmp_convergence_seconds_count{router="127.0.0.1",stage="fib"} 1.0' in metrics
            assert 'bmp_convergence_seconds_count{router="127.0.0.1",stage="rib"} 1.0' in metrics
            # initial best paths (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/48) + 1
            assert (
                'bmp_rib_best_path_changes_total{afi="ipv4",router="127.0.0.1",'
                'safi="unicast",view="adj_in_post"} 3.0'
            ) in metrics
            code, text = await asyncio.to_thread(cli, base, "192.0.2.7")
            assert code == 0
            assert "192.0.2.7/32 (longest match 192.0.2.0/24)" in text
            line = next(x for x in text.splitlines() if "fib_nexthop_change" in x)
            assert "10.9.0.2 dev veth0 -> 10.9.0.3 dev veth0" in line
            code, text = await asyncio.to_thread(cli, base, "--convergence")
            assert code == 0 and "withdraw of 10.9.0.2 at router 127.0.0.1" in text
            code, _ = await asyncio.to_thread(cli, base, "203.0.113.0/24")
            assert code == history_cmd.EXIT_NONE

    run_async_in_ns(fns.ns.name, main)
