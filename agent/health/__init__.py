"""BGP health checks: the classic Kubernetes-on-BGP mistakes, found in the BMP stream.

``checks`` holds the checks (the multi-DC and MetalLB ones in ``dc``,
``bmp_feed_inconsistent`` in ``feed``), their incremental counters
(``HealthObserver``, a core ``RouteObserver``) and the report; ``component``
wires them into the daemon (``/api/v1/health``, ``bmp_health_check``,
reload). ``bmp-agent doctor`` (``agent.health.cmd``) prints the report.
``community`` and ``selectors`` parse the community and peer-selector text of
the config (``agent.config`` validates with them).

Names and submodules are imported on use (as ``agent.fib``): ``agent.config``
imports ``agent.health.community`` and ``agent.health.selectors`` to validate,
and an eager package would import ``checks`` and with it ``agent.config`` again.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "CHECKS": "checks",
    "CheckInfo": "checks",
    "CheckResult": "checks",
    "Finding": "checks",
    "HealthObserver": "checks",
    "Report": "checks",
    "evaluate": "checks",
    "is_private_asn": "checks",
    "report_json": "checks",
    "METRIC": "component",
    "Health": "component",
    "HealthCollector": "component",
    "build": "component",
}
_SUBMODULES = (
    "checks",
    "cmd",
    "community",
    "component",
    "dc",
    "results",
    "rib_communities",
    "selectors",
)

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
