"""The memory available to the agent, and how many routes fit in it.

``rib.max_routes: 0`` (the default) is derived here: the cgroup v2
``memory.max`` of the agent's own cgroup when it is set (a container's or a
systemd unit's ``MemoryMax=``), else ``DEFAULT_MEMORY``; minus ``BASE_MEMORY``
(the idle agent, the HTTP answers in flight); ``HEADROOM`` of the rest, at
``BYTES_PER_ROUTE``. ``BYTES_PER_ROUTE`` is the measured peak (bench/RESULTS.md:
120 B/route at 4.8M routes without the FIB, 168 B/route with it) rounded up,
so the default stops storing before the kernel's OOM killer would stop the
agent. Sizing: 4.8M routes (one full table, both families) need
``4.8M * 200 / 0.7 + 128 MiB`` ≈ 1.4 GiB (the chart: 1.5Gi).
"""

from __future__ import annotations

from pathlib import Path

#: Memory assumed when no cgroup limit is set.
DEFAULT_MEMORY = 4 << 30
#: Idle agent and answers in flight, kept out of the route budget.
BASE_MEMORY = 128 << 20
#: Bytes one stored route costs at peak (measured, rounded up).
BYTES_PER_ROUTE = 200
#: Share of the memory left after ``BASE_MEMORY`` that routes may use.
HEADROOM = 0.7
#: Smallest derived limit (a tiny cgroup still holds a small RIB).
MIN_ROUTES = 10_000


def cgroup_memory_max(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """``memory.max`` of this process's cgroup (v2), or None when unset or unknown."""
    try:
        rel = ""
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                rel = line[3:].strip().lstrip("/")
        candidates = [root / rel / "memory.max"] if rel else []
        candidates.append(root / "memory.max")  # a container's namespaced root
        for path in candidates:
            if path.is_file():
                text = path.read_text().strip()
                return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None
    return None


def available_memory() -> tuple[int, str]:
    """(bytes, where from): the cgroup limit, or ``DEFAULT_MEMORY``."""
    limit = cgroup_memory_max()
    if limit is not None:
        return limit, "cgroup memory.max"
    return DEFAULT_MEMORY, "default (no cgroup memory limit)"


def routes_for(memory: int) -> int:
    """How many routes ``memory`` bytes hold with the headroom."""
    usable = max(0, memory - BASE_MEMORY) * HEADROOM
    return max(MIN_ROUTES, int(usable // BYTES_PER_ROUTE))


def default_max_routes() -> tuple[int, int, str]:
    """(routes, memory bytes, where the memory figure came from)."""
    memory, source = available_memory()
    return routes_for(memory), memory, source
