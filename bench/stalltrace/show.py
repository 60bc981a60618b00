"""Print the summary of ``BMP_STALL_TRACE`` files (``sitecustomize.py``).

python3 bench/stalltrace/show.py /tmp/trace-*.json
"""

from __future__ import annotations

import json
import sys


def show(path: str) -> None:
    with open(path) as f:
        d = json.load(f)
    print(f"== {path}: {d['callbacks']:,} callbacks, {d['busy_seconds']:.1f} s busy")
    for kind in ("wall", "cpu"):
        h = d[f"histogram_{kind}"]
        print(f"  callbacks by {kind} time: " + ", ".join(f"{k} {v}" for k, v in h.items()))
    print(f"  over 20 ms: {d['over_20ms']}, over 100 ms: {d['over_100ms']}")
    for g, v in d["gc"].items():
        print(f"  gc gen{g}: {v}")
    for s in d["slowest_cpu"][:12]:
        print(f"  slow: {s}")
    for w, v in list(d["slow_by_what"].items())[:10]:
        print(f"  by what: {v} {w}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        show(p)
