"""Health check ``bmp_feed_inconsistent``: the router's BMP feed contradicts itself.

Per peer of every connected router, it fires when

* the FIB reconciler (``agent.fib.consistency``) holds ``bmp_inconsistent``
  prefixes of this peer: the kernel holds routes that the peer's source view
  withdrew without ever announcing them while its other view shows them, or
  stale post-policy paths (the kernel lacks them) that the peer's live
  pre-policy view withdrew (GoBGP 3.10, non-best paths); or
* the router sends no Route Monitoring at all while its Statistics Reports
  count Adj-RIB-In routes for the peer (GoBGP 3.10 with "both"); or
* one Adj-RIB-In view of the peer is an *all withdrawals* feed (it never
  announced a route but withdrew routes it never had) while the other view
  announced routes: no policy removes routes *before* the import policy.

Neither is a problem of the kernel or of the BGP session: the BMP copy is
wrong, so the FIB check does not count these prefixes as drift. Evaluation
reads counters only (RIB table counters and the reconciler's evidence counts).

The FIB part comes through ``FeedEvidence``, the one thing this check needs of
the reconciler: ``agent.app`` (the composition root) hands the ``fib``
component to the ``health`` component, so neither component imports the other.
Without it (``fib.enabled: false``) only the all-withdrawals part is checked.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core import IMPLICIT, UP, Peer, Router

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
    "soft-reconfiguration inbound for the monitored neighbors, or upgrade FRR. A post-policy "
    "path the same peer's pre-policy view withdrew (the kernel rightly lacks the route): "
    "GoBGP 3.10 sends the pre-policy withdrawal of a non-best path and nothing in "
    "post-policy; these prefixes are bmp_inconsistent too, not missing. Monitor Loc-RIB "
    '(GoBGP: route-monitoring-policy "all"; "both" sends no Route Monitoring in 3.10): '
    "the FIB check then reads Loc-RIB. No Route Monitoring at all while Statistics Reports "
    'count routes (GoBGP 3.10 route-monitoring-policy "both", obsolete there): the '
    'kernel\'s routes are bmp_inconsistent, not extra; configure "all".'
)
ADJ_IN = ("adj_in_pre", "adj_in_post")


class FeedEvidence(Protocol):
    """The FIB reconciler as this check sees it (``agent.fib.FibReconciler``)."""

    def feed_inconsistencies(
        self, router: Router, peer: Peer
    ) -> tuple[dict[str, int], tuple[str, ...], int] | None:
        """The kernel routes held as ``bmp_inconsistent`` because ``peer``'s view
        withdrew them unannounced: (count by afi name, those views, evidence not
        kept); None when there are none (or ``router`` is not the local router)."""

    def stale_paths(self, router: Router, peer: Peer) -> dict[str, int] | None:
        """The prefixes held as ``bmp_inconsistent`` because ``peer``'s post-policy
        view keeps paths its live pre-policy view withdrew, by afi name; None: none."""


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


def _unmonitored(router: Router, peer: Peer) -> int:
    """The Adj-RIB-In routes ``peer``'s Statistics Reports count while the router
    sent no Route Monitoring at all (no peer has a RIB table); 0 otherwise."""
    if any(q.tables for q in list(router.peers.values())):
        return 0
    return peer.stats.get(("adj_rib_in_routes", None, None), 0)


def check(
    router: Router, peer: Peer, evidence: FeedEvidence | None
) -> tuple[str, dict[str, Any]] | None:
    """(found, details) when the check fires for ``peer``; None when fine."""
    details: dict[str, Any] = {}
    found = []
    held = evidence.feed_inconsistencies(router, peer) if evidence is not None else None
    if held is not None:
        by_afi, views, dropped = held
        found.append(
            f"{sum(by_afi.values())} routes the kernel holds were withdrawn in "
            f"{'/'.join(views)} without ever being announced there, while another view shows them"
        )
        details["bmp_inconsistent"] = by_afi
        if dropped:
            details["evidence_dropped"] = dropped
    stale = evidence.stale_paths(router, peer) if evidence is not None else None
    if stale:
        found.append(
            f"{sum(stale.values())} paths are still held in adj_in_post although the same "
            "peer's pre-policy view withdrew them"
        )
        details["post_holds_pre_withdrawn"] = stale
    n = _unmonitored(router, peer)
    if n:
        found.append(
            f"the router sends no Route Monitoring while its Statistics Reports count {n} "
            "Adj-RIB-In routes for this peer"
        )
        details["no_route_monitoring"] = n
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
