"""Decode-only benchmark: the hand-written fast path against the construct spec.

Builds a synthetic stream per NLRI-per-UPDATE setting (1, 10, 100; IPv4 and
IPv6 mixed 5:1; 20 prefixes per attribute set), then decodes it with
``BmpSession(fast=True)`` and ``BmpSession(fast=False)`` (framing included)
and prints messages/s, prefixes/s and the ratio. "fast" starts with empty
attribute caches (each set decoded once, as in a first table dump);
"fast-warm" has them interned already (the post-policy copy of a table, a
second peer with the same paths, a re-dump after a reset). The construct path is
~100x slower, so it decodes a prefix of the stream. Prints figures; asserts
nothing.

    python bench/decode.py [--v4 200000] [--v6 40000] [--spec-messages 3000]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from streams import StreamSpec, build_stream

from parsers.bgp.fast import clear_caches
from parsers.bmp.messages import RouteMonitoring
from parsers.bmp.reader import BmpReader
from parsers.bmp.session import BmpSession, Decoded

CHUNK = 65536


def run(data: bytes, use_fast: bool, repeat: int, warm: bool = False) -> tuple[float, int, int]:
    """Best-of-``repeat`` seconds, messages and prefixes for one decode of ``data``.

    Cold: every attribute set is decoded the first time it is seen (as in a
    router's first dump). Warm: the sets are already interned (as for the
    post-policy copy of a table, or a re-dump after a session reset)."""
    best = float("inf")
    messages = prefixes = 0
    for _ in range(repeat):
        clear_caches()
        if warm:
            BmpSession(fast=use_fast).feed(data)
        session = BmpSession(fast=use_fast)
        messages = prefixes = 0
        # Fed in 64 KiB reads and consumed as it goes, as the daemon does.
        start = time.perf_counter()
        for pos in range(0, len(data), CHUNK):
            for ev in session.feed(data[pos : pos + CHUNK]):
                messages += 1
                if isinstance(ev, Decoded) and isinstance(ev.message, RouteMonitoring):
                    prefixes += ev.message.update.announced_count()
        best = min(best, time.perf_counter() - start)
    return best, messages, prefixes


def head(data: bytes, count: int) -> bytes:
    reader = BmpReader()
    reader.feed(data)
    end = 0
    for i, (offset, msg) in enumerate(reader.messages()):
        end = offset + len(msg)
        if i + 1 >= count:
            break
    return data[:end]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--v4", type=int, default=200_000)
    ap.add_argument("--v6", type=int, default=40_000)
    ap.add_argument("--spec-messages", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"# bench/decode.py  python {platform.python_version()}  {platform.machine()}")
    print(
        f"{'NLRI/UPDATE':>11} {'path':>9} {'msgs/s':>10} {'prefixes/s':>12}"
        f" {'messages':>9} {'prefixes':>9}"
    )
    for nlri in (1, 10, 100):
        spec = StreamSpec(v4=args.v4, v6=args.v6, peers=1, views=(False,), nlri_per_update=(nlri,))
        stream = build_stream(spec)
        small = head(stream.data, args.spec_messages)
        t_spec, m_spec, p_spec = run(small, False, 1)
        rate_spec = p_spec / t_spec
        for label, warm in (("fast", False), ("fast-warm", True)):
            t_fast, m_fast, p_fast = run(stream.data, True, args.repeat, warm)
            rate = p_fast / t_fast
            print(
                f"{nlri:>11} {label:>9} {m_fast / t_fast:>10,.0f} {rate:>12,.0f} {m_fast:>9} {p_fast:>9}"
            )
            print(f"{nlri:>11} {'ratio':>9} {'':>10} {rate / rate_spec:>11.1f}x vs construct")
        print(
            f"{nlri:>11} {'construct':>9} {m_spec / t_spec:>10,.0f} {rate_spec:>12,.0f} {m_spec:>9} {p_spec:>9}"
        )


if __name__ == "__main__":
    main()
