"""BGP health checks: the classic Kubernetes-on-BGP mistakes, found in the BMP stream.

``checks`` holds the checks (the multi-DC and MetalLB ones in ``dc``), their incremental counters
(``HealthObserver``, a core ``RouteObserver``) and the report; ``component``
wires them into the daemon (``/api/v1/health``, ``bmp_health_check``,
reload). ``bmp-agent doctor`` (``agent.doctor_cmd``) prints the report.
"""

from __future__ import annotations

from .checks import (
    CHECKS,
    CheckInfo,
    CheckResult,
    Finding,
    HealthObserver,
    Report,
    evaluate,
    is_private_asn,
    report_json,
)
from .component import METRIC, Health, HealthCollector, attach

__all__ = [
    "CHECKS",
    "METRIC",
    "CheckInfo",
    "CheckResult",
    "Finding",
    "Health",
    "HealthCollector",
    "HealthObserver",
    "Report",
    "attach",
    "evaluate",
    "is_private_asn",
    "report_json",
]
