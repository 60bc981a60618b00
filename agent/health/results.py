"""What a health evaluation returns: ``CheckInfo`` (a check's name, severity,
scope, advice), ``Finding`` (one problem found), ``CheckResult`` (a check's
subjects and findings) and ``Report``.

Apart from ``checks`` so that ``dc`` (the multi-DC checks, which ``checks``
runs) builds findings without importing ``checks`` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    name: str
    severity: str
    #: per-peer or router check
    scope: str
    title: str
    advice: str


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    router: str
    #: "" for router checks
    peer: str
    #: what was found, one line
    found: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CheckResult:
    info: CheckInfo
    enabled: bool
    #: (router, peer, firing) per evaluated subject, in core order
    subjects: list[tuple[str, str, bool]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def firing(self) -> int:
        return len(self.findings)

    def add(self, router: str, peer: str, finding: Finding | None) -> None:
        self.subjects.append((router, peer, finding is not None))
        if finding is not None:
            self.findings.append(finding)


@dataclass(slots=True)
class Report:
    results: dict[str, CheckResult]

    @property
    def firing(self) -> int:
        return sum(r.firing for r in self.results.values())
