"""BIRD socket benchmark: stream-parse a 100k-route table, against ``birdc show route count``.

Builds the lab (root; network namespaces): a feeder BIRD 2.0 in ``inj``
originates N /24s (static, exported over BGP with MED and a community) to
the BIRD under test (1.6 or 2.0, in ``spk``, config of
tests/integration/bird_socket_lab.py). Once BIRD holds them all, it times:

- ``birdc show route count`` (the real client, which only counts);
- the agent's stream parse of ``show route all`` (``BirdPoller.read``: every
  route parsed into the core's key and attributes, nothing applied);
- a whole poll applied to an empty core (first poll) and again (no change);

and the peak Python memory of the parse (tracemalloc) beside the size of
the reply text, to show the text is never held whole. Prints figures;
asserts only that the counts agree.

    python3 bench/bird.py [--routes 100000] [--version 2.0|1.6]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

import bird_socket_lab as bl  # noqa: E402
from lab import INJ_A_V4, SPEAKER_V4, lab_topology, wait_until  # noqa: E402

from agent.core import Core  # noqa: E402
from agent.sources.bird import BirdPoller  # noqa: E402
from agent.sources.bird.protocol import LineReader  # noqa: E402


def feeder_config(n: int, log: Path) -> str:
    routes = "\n".join(
        f"  route {11 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24 blackhole;" for i in range(n)
    )
    return f"""log "{log}" all;
router id {INJ_A_V4};
protocol device {{ }}
protocol static feed {{ ipv4; {routes}
}}
protocol bgp A {{
  local {INJ_A_V4} as 65001;
  neighbor {SPEAKER_V4} as 65000;
  ipv4 {{ import none; export filter {{ bgp_med = 10; bgp_community.add((65001, 7)); accept; }}; }};
}}
"""


async def run(version: str, n: int) -> None:
    with lab_topology() as lab:
        nodes = bl.bird_nodes(version, lab.spk, lab.workdir)
        speaker = nodes[0]
        speaker.start()
        feeder = bl.BirdDaemon(
            lab.inj, lab.workdir / "feeder", bl.binaries("2.0")["bird"], "bird",
            feeder_config(n, lab.workdir / "feeder.log"),
        )  # fmt: skip
        feeder.start()
        try:
            speaker.wait_established("A", timeout=60)
            birdc = [str(bl.binaries(version)["birdc"]), "-s", str(speaker.ctl)]

            def count() -> int:
                out = lab.spk.run([*birdc, "show", "route", "protocol", "A", "count"]).stdout
                for tok in out.split():
                    if tok.isdigit():
                        return int(tok)
                return 0

            wait_until(lambda: count() >= n, timeout=300, what=f"{n} routes in BIRD", interval=1)
            t0 = time.perf_counter()
            out = lab.spk.run([*birdc, "show", "route", "count"]).stdout
            t_count = time.perf_counter() - t0
            print(f"BIRD {version}, {n} routes from one BGP peer (+1 static)")
            total = out.strip().splitlines()[-1]
            print(f"  birdc show route count:           {t_count * 1000:8.1f} ms  ({total})")

            raw = bl.birdc_raw(speaker.ctl, "show route all", timeout=120)
            lines = 0
            reader = LineReader()
            for i in range(0, len(raw), 65536):
                lines += len(reader.feed(raw[i : i + 65536]))
            print(f"  show route all reply:             {len(raw) / 1e6:8.1f} MB, {lines} lines")

            poller = BirdPoller(Core(), str(speaker.ctl), "bench", timeout=120)
            await poller.client.connect()
            t0 = time.perf_counter()
            snap = await poller.read()
            t_read = time.perf_counter() - t0
            tracemalloc.start()
            await poller.read()  # again, traced (much slower), for the peak memory
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert snap.count is not None
            rate = snap.routes_read / t_read
            print(
                f"  agent read (stream parse, 1 poll): {t_read * 1000:8.1f} ms  "
                f"({snap.routes_read} routes, {rate:,.0f} routes/s; "
                f"{t_read / t_count:.1f}x birdc count)"
            )
            print(
                f"  parse peak Python memory:         {peak / 1e6:8.1f} MB "
                f"(reply text {len(raw) / 1e6:.1f} MB; routes held in the snapshot)"
            )
            assert snap.routes_read == snap.count.routes, (snap.routes_read, snap.count)
            t0 = time.perf_counter()
            poller.apply(snap)
            t_apply = time.perf_counter() - t0
            print(f"  apply to an empty core:           {t_apply * 1000:8.1f} ms")
            t0 = time.perf_counter()
            await poller.poll()
            t_poll = time.perf_counter() - t0
            print(f"  steady poll (read + apply):       {t_poll * 1000:8.1f} ms")
            await poller.client.close()
        finally:
            feeder.stop()
            speaker.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--routes", type=int, default=100_000)
    ap.add_argument("--version", choices=("1.6", "2.0"), default="2.0")
    args = ap.parse_args()
    asyncio.run(run(args.version, args.routes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
