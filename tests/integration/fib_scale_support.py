"""Helpers of the FIB scale lab tests (``test_fib_scale_lab.py``, ``bench/kernel.py --live``).

The table: 100,000 IPv4 /26 (10.128.0.0/9 in order) and 20,000 IPv6 /56
(2001:db8::/32 in order), announced by ExaBGP peer A over its one IPv4
session with ``announce attributes ... nlri P1 P2 ...``: one API line and one
UPDATE per 400 IPv4 / 200 IPv6 prefixes, ExaBGP's fastest path (the table
loads in about 25 s; one line per prefix takes minutes).

``Agent`` is ``bmp-agent run`` with built-in defaults in the speaker's
namespace (BMP on 127.0.0.1:11019, HTTP on 127.0.0.1:9324, fib.grace 5 s).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lab import ExaBgp, GoBgp, LabError, Namespace, wait_until
from lab.agent import LabAgent

N4 = 100_000
N6 = 20_000
#: prefixes per ``announce attributes`` line (one UPDATE each, under 4 KiB)
CHUNK4 = 400
CHUNK6 = 200
ATTRS = "origin igp as-path [ 65001 4200000001 ] med 10 community [ 65001:100 ]"
STATES = ("in_sync", "missing", "extra", "nexthop_mismatch", "bmp_inconsistent", "pending")


def v4_prefixes(n: int = N4) -> list[str]:
    base = int(ipaddress.IPv4Address("10.128.0.0"))
    return [f"{ipaddress.IPv4Address(base + (i << 6))}/26" for i in range(n)]


def v6_prefixes(n: int = N6) -> list[str]:
    base = int(ipaddress.IPv6Address("2001:db8::"))
    return [f"{ipaddress.IPv6Address(base + (i << 72))}/56" for i in range(n)]


def bulk_lines(
    inj: ExaBgp,
    peer: str,
    verb: str,
    prefixes: Sequence[str],
    next_hop: str,
    chunk: int,
    attrs: str = ATTRS,
) -> list[str]:
    p = inj.peers[peer]
    head = f"{p.selector} {verb} attributes next-hop {next_hop} {attrs} nlri "
    return [head + " ".join(prefixes[i : i + chunk]) for i in range(0, len(prefixes), chunk)]


def announce_bulk(
    inj: ExaBgp,
    peer: str,
    prefixes: Sequence[str],
    next_hop: str,
    chunk: int,
    attrs: str = ATTRS,
) -> None:
    """Announce ``prefixes`` with one shared attribute set, ``chunk`` per UPDATE."""
    inj.send(*bulk_lines(inj, peer, "announce", prefixes, next_hop, chunk, attrs))


def withdraw_bulk(
    inj: ExaBgp, peer: str, prefixes: Sequence[str], next_hop: str, chunk: int
) -> None:
    inj.send(*bulk_lines(inj, peer, "withdraw", prefixes, next_hop, chunk))


def kernel_count(ns: Namespace, family: str, proto: str) -> int:
    """Routes of ``proto`` in the main table (``ip route show``, one line each)."""
    out = ns.run(["ip", family, "route", "show", "proto", proto], timeout=60).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith(" "))


def kernel_routes(ns: Namespace, family: str, proto: str) -> list[dict[str, Any]]:
    out = ns.run(["ip", "-j", family, "route", "show", "proto", proto], timeout=120).stdout
    routes = json.loads(out or "[]")
    assert isinstance(routes, list)
    return routes


def wait_kernel(
    ns: Namespace, proto: str, n4: int, n6: int, timeout: float, describe: Any = None
) -> None:
    def check() -> bool:
        return kernel_count(ns, "-4", proto) == n4 and kernel_count(ns, "-6", proto) == n6

    wait_until(
        check,
        timeout=timeout,
        interval=1.0,
        what=f"{n4} IPv4 + {n6} IPv6 proto {proto} routes in the kernel",
        describe=lambda: (
            f"kernel has {kernel_count(ns, '-4', proto)} IPv4, {kernel_count(ns, '-6', proto)} IPv6"
            + (f"\n{describe()}" if describe else "")
        ),
    )


class Agent(LabAgent):
    """``bmp-agent run`` with built-in defaults, in ``ns`` (the speaker's namespace), started."""

    def __init__(self, ns: Namespace, workdir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(ns, workdir / "agent.log", ["--log-format", "json"], env)
        self.start()


def counts(d: dict[str, Any]) -> dict[str, dict[str, int]]:
    """afi → the non-zero counts of the main table in a ``/api/v1/fib/diff`` answer."""
    out = {}
    for t in d["tables"]:
        if t["table"] == "main":
            keys = ("expected", "kernel", *STATES)
            out[t["afi"]] = {k: t[k] for k in keys if t.get(k)}
    return out


def wait_counts(
    agent: LabAgent,
    want: dict[str, dict[str, int]],
    timeout: float,
    what: str,
    describe: Callable[[], str] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Wait until the diff's counts are ``want``; (seconds waited, the last diff).
    ``describe``: more to say when they are not."""
    t0 = time.monotonic()
    last: list[Any] = [None, None]

    def check() -> bool:
        agent.alive()
        d = agent.diff("?limit=50")
        last[0], last[1] = counts(d), d
        return last[0] == want

    wait_until(
        check,
        timeout=timeout,
        interval=0.5,
        what=what,
        describe=lambda: (
            f"last counts: {last[0]}\nwant: {want}\n"
            f"drift sample: {json.dumps((last[1] or {}).get('drift', [])[:5])}\n"
            + (f"{describe()}\n" if describe else "")
            + agent.tail()
        ),
    )
    return time.monotonic() - t0, last[1]


def batch(ns: Namespace, workdir: Path, lines: Iterable[str], name: str = "routes") -> None:
    """``ip -batch`` in ``ns`` (route changes in bulk; ``-force`` keeps going past errors)."""
    f = workdir / f"{name}.batch"
    f.write_text("\n".join(lines) + "\n")
    ns.run(["ip", "-batch", str(f)], timeout=120)


def metric_lines(agent: Agent, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family from /metrics."""
    text = agent.get("/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line.rpartition(" ")
            out[labels[len(name) :]] = float(value)
    return out


def gobgp_rib_counts(spk: GoBgp, afi: str) -> tuple[int, int]:
    """(destinations, paths) of GoBGP's global RIB (``gobgp global rib summary``)."""
    out = spk.gobgp("global", "rib", "-a", afi, "summary")
    m = re.search(r"Destination:\s*(\d+),\s*Path:\s*(\d+)", out)
    if m is None:
        raise LabError(f"gobgp global rib -a {afi} summary: {out!r}")
    return int(m[1]), int(m[2])


def gobgp_best_hops(spk: GoBgp, afi: str) -> dict[str, str]:
    """prefix → the next hop of GoBGP's best path (``gobgp global rib -j``)."""
    out = spk.ns.run(spk.cli_argv("global", "rib", "-a", afi, "-j"), timeout=300).stdout
    best = {}
    for prefix, paths in json.loads(out or "{}").items():
        for p in paths:
            if p.get("best"):
                (nh,) = [a["nexthop"] for a in p["attrs"] if a["type"] in (3, 14)]
                best[prefix] = nh
    return best
