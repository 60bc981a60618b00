"""Cost of the route limits on the core's apply path (in process).

The same decoded Route Monitoring events (``--routes`` /24s in messages of
1 and of 100 prefixes: FRR sends one per UPDATE, GoBGP and BIRD many) are
applied to a fresh ``Core`` under three settings:

* ``none``: no limit at all (``CoreSettings()``);
* ``set``: every limit set, none reached (the default: ``rib.max_routes``
  derived from memory): one comparison per scope and batch;
* ``full``: the peer at its limit, every batch a replacement of stored
  routes (the slow path, ``Router._admit``, every time).

Best of ``--repeat`` runs, ns per route. Prints figures; asserts nothing.

    python3 bench/limits.py [--routes 200000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from core_events import hdr, peer_up, route_monitoring  # noqa: E402

from agent.core import Core, CoreSettings  # noqa: E402
from parsers.bgp.attributes import PathAttributes  # noqa: E402
from parsers.bmp.session import Decoded  # noqa: E402

PEER = hdr("10.0.1.2", 65001)
ATTRS = PathAttributes(origin=0, next_hop="10.0.1.2")


def events(n: int, per: int) -> list[Decoded]:
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    return [
        route_monitoring(
            PEER,
            [f"{ipaddress.IPv4Address(base + (i + j) * 256)}/24" for j in range(per)],
            None,
            ATTRS,
            None,
            None,
        )
        for i in range(0, n, per)
    ]


def run(evs: list[Decoded], settings: CoreSettings, prefill: list[Decoded], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        core = Core(settings)
        s = core.open_session("10.0.9.1", 1)
        s.handle(peer_up(PEER))
        for e in prefill:
            s.handle(e)
        gc.disable()
        t = time.perf_counter()
        for e in evs:
            s.handle(e)
        best = min(best, time.perf_counter() - t)
        gc.enable()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n = args.routes
    print(
        f"{'prefixes/msg':>12} {'none':>9} {'set':>9} {'full':>9}   ns/route, best of {args.repeat}"
    )
    for per in (1, 100):
        evs = events(n, per)
        none = run(evs, CoreSettings(), [], args.repeat)
        limits = CoreSettings(
            max_routes_per_peer=10 * n, max_routes_per_router=10 * n, max_routes=10 * n
        )
        some = run(evs, limits, [], args.repeat)
        full = run(evs, CoreSettings(max_routes_per_peer=n), evs, args.repeat)
        print(f"{per:>12} {none / n * 1e9:>9.0f} {some / n * 1e9:>9.0f} {full / n * 1e9:>9.0f}")


if __name__ == "__main__":
    main()
