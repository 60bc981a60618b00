"""Health check ``bmp_feed_inconsistent``: the router's BMP feed contradicts itself.

Per peer of every connected router, it fires when

* the FIB reconciler (``agent.fib.consistency``) holds ``bmp_inconsistent``
  prefixes of this peer: the kernel holds routes that the peer's source view
  withdrew without ever announcing them while its other view shows them; or
* one Adj-RIB-In view of the peer is an *all withdrawals* feed (it never
  announced a route but withdrew routes it never had) while the other view
  announced routes: no policy removes routes *before* the import policy.

Neither is a problem of the kernel or of the BGP session: the BMP copy is
wrong, so the FIB check does not count these prefixes as drift. Evaluation
reads counters only (RIB table counters and the reconciler's evidence counts).
"""

from __future__ import annotations

from typing import Any

from ..core import IMPLICIT, UP, Core, Peer, Router

NAME = "bmp_feed_inconsistent"
SEVERITY = "warning"
SCOPE = "peer"
TITLE = "The router's BMP feed contradicts itself (a speaker defect, not FIB drift)"
ADVICE = (
    "The BMP copy of this peer's routes is wrong, not the kernel or the BGP session. "
    "A post-policy (or Loc-RIB) withdrawal of a route that view never announced, for a "
    "route the pre-policy view announces and the kernel holds: FRR sends a post-policy "
    "withdrawal while the route's next hop is not resolved yet and, in 8.4, no "
    "announcement once it is (FRRouting/frr#18070, #13292). These prefixes are reported "
    "as bmp_inconsistent in /api/v1/fib/diff and excluded from FIB drift; restarting the "
    "BMP session (the speaker's initial dump) re-reads them. A pre-policy view that only "
    "withdraws: FRR without 'soft-reconfiguration inbound' sends every pre-policy route "
    "as a withdrawal (FRRouting/frr#10240, fixed upstream by #22588 and #22589): enable "
    "soft-reconfiguration inbound for the monitored neighbors, or upgrade FRR."
)
ADJ_IN = ("adj_in_pre", "adj_in_post")


def _only_withdrawals(peer: Peer) -> list[str]:
    """Views of ``peer`` that only ever withdrew while another view announced."""
    stats: dict[str, list[int]] = {}
    for (view, _afi, _safi), t in list(peer.tables.items()):
        if view in ADJ_IN:
            s = stats.setdefault(view, [0, 0])
            s[0] += t.announces
            s[1] += t.unknown_withdraws
    out = []
    for view, (ann, unknown) in stats.items():
        others = [v for v in stats if v != view]
        if ann == 0 and unknown > 0 and any(stats[v][0] > 0 for v in others):
            out.append(view)
    return out


def check(core: Core, router: Router, peer: Peer) -> tuple[str, dict[str, Any]] | None:
    """(found, details) when the check fires for ``peer``; None when fine."""
    from ..fib.consistency import lookup

    details: dict[str, Any] = {}
    found = []
    fib = lookup(core)
    if fib is not None and fib.router is router:
        n = 0
        by_afi: dict[str, int] = {}
        for (afi, _rd), ev in list(fib.evidence.tables.items()):
            keys = [p for p, w in ev.items() if w.peer == peer.key]
            if not keys:
                continue
            for table, _rd2 in fib.tables:
                drifts = fib.tracker.tables.get((afi, table), {})
                held = sum(
                    1
                    for p in keys
                    if (d := drifts.get(p)) is not None
                    and d.reported
                    and d.state == "bmp_inconsistent"
                )
                if held:
                    name = "ipv4" if afi == 1 else "ipv6"
                    by_afi[name] = by_afi.get(name, 0) + held
                    n += held
        if n:
            views = sorted({w.view for ev in fib.evidence.tables.values() for w in ev.values()
                            if w.peer == peer.key})  # fmt: skip
            found.append(
                f"{n} routes the kernel holds were withdrawn in {'/'.join(views)} "
                "without ever being announced there, while another view shows them"
            )
            details["bmp_inconsistent"] = by_afi
            dropped = fib.evidence.dropped.get(peer.label, 0)
            if dropped:
                details["evidence_dropped"] = dropped
    only = _only_withdrawals(peer)
    if only:
        found.append(f"{'/'.join(only)} only withdraws (never announced a route)")
        details["all_withdrawals"] = only
    if not found:
        return None
    return "; ".join(found), details


def evaluated(router: Router, peer: Peer) -> bool:
    """Whether the check says something about ``peer`` (up, or routes without Peer Up)."""
    return router.up and peer.state in (UP, IMPLICIT)
