"""The BGP health checks (and the agent's own ``rib_limit_reached``), evaluated from the state core.

The seven single-fabric checks are here; the four multi-DC and MetalLB checks
(``metallb_pod_routes``, ``cidr_overlap``, ``dci_unsummarized``,
``local_only_leak``) and their counters are in ``agent.health.dc``.

Each check looks at one *subject*: a peer of a router (per-peer checks) or a
router (router checks). A subject is evaluated only when the check can say
something about it:

* per-peer route checks (``default_route_received``, ``host_route_flood``):
  peers that are up or implicit (routes without Peer Up), never Loc-RIB
  peers (peer type 3);
* per-peer session checks (``public_asn``, ``no_graceful_restart``): peers up
  with a Peer Up (the ASNs and OPENs come from it);
* router checks (``ibgp_full_mesh_at_scale``, ``single_route_reflector``,
  ``expected_prefix_missing``): routers with a connected BMP session
  (``expected_prefix_missing`` only when ``health.expected_prefixes`` is set).

So a peer FRR reports as down without ever having been up, or a router whose
BMP session closed, is never flagged.

Cost
----
Nothing walks a RIB on evaluation. ``HealthObserver`` (a
``agent.core.RouteObserver``) keeps per ``RibTable`` (in ``table.ext``,
dropped with the routes on Peer Down / Peer Up / session close):

* ``hosts``: /32 and /128 prefix → path count, for unicast tables of the
  ``health.route_views`` views. Ingest cost: one length-byte test per
  announced or withdrawn prefix of those tables, plus a dict update per host
  route; memory O(host routes).
* ``reflected``: first CLUSTER_LIST entry (``""`` with ORIGINATOR_ID only) →
  route count, for the adj_in_pre/adj_in_post unicast tables of iBGP peers.
  Ingest cost: nothing while a table holds no reflected route and the update
  carries neither attribute; otherwise one dict lookup per prefix (the
  replaced route's attributes).

Evaluation is then O(routers + peers + tables + expected prefixes x peers),
all dict lookups (the default route and expected prefixes are looked up by
their wire key). ``HealthObserver.rebuild`` walks the tables once, when the
observer is attached to a core that already holds routes or when
``health.route_views`` changes on reload.

iBGP: the peer AS equals the local AS of the Peer Up sent OPEN. GR
negotiated: both Peer Up OPENs carry the graceful-restart capability.
A route from an iBGP peer is *reflected* when its CLUSTER_LIST holds a
cluster ID other than the monitored router's own BGP ID (its default cluster
ID), or its ORIGINATOR_ID differs from the peer's BGP ID: FRR 8.4 adds both
(own cluster ID, ORIGINATOR_ID = the peer) to the BMP copy of *every* iBGP
route, reflected or not, so the raw presence of the attributes means
nothing. A *reflector* is an iBGP peer that delivered at least one reflected
route (adj_in_pre or adj_in_post); two reflectors of one cluster (same
cluster ID) still count as two.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from typing import Any

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ..config import HEALTH_CHECKS, HealthConfig
from ..core import IMPLICIT, UP, Core, Peer, RibTable, RouteChangeObserver, RouteKey, Router
from ..netaddr import in_networks
from . import feed
from .dc import DcObserver, evaluate_dc
from .results import CRITICAL, WARNING, CheckInfo, CheckResult, Finding, Report
from .selectors import up_routers
from .table_ext import get_state, new_state, reset_tables

EXT_KEY = "health"
LOC_RIB_PEER = 3
UNICAST = 1
#: afi -> host prefix length
HOST_LEN = {1: 32, 2: 128}
ADJ_IN = ("adj_in_pre", "adj_in_post")
DEFAULT_KEY = b"\x00"

#: RFC 6996 private ranges.
PRIVATE_ASN_RANGES = ((64512, 65534), (4200000000, 4294967294))

CHECKS: dict[str, CheckInfo] = {
    c.name: c
    for c in (
        CheckInfo(
            "default_route_received",
            CRITICAL,
            "peer",
            "A peer advertises a default route (0.0.0.0/0 or ::/0)",
            "A node that advertises a default route attracts the traffic of the whole rack. "
            "Filter 0.0.0.0/0 and ::/0 inbound on the router (prefix list / route map) and stop "
            "the node from exporting it (the export filter of Calico, MetalLB, Cilium, "
            "kube-router). If this peer is a legitimate upstream, add its address to "
            "health.default_route_allow.",
        ),
        CheckInfo(
            "public_asn",
            WARNING,
            "peer",
            "A public ASN is used (outside the RFC 6996 private ranges)",
            "Use private ASNs inside the fabric (RFC 6996: 64512-65534 and "
            "4200000000-4294967294). A public ASN you do not own makes its real owner's "
            "routes look like loops and can leak. If the ASN is yours, add it to "
            "health.asn_allow.",
        ),
        CheckInfo(
            "no_graceful_restart",
            WARNING,
            "peer",
            "Graceful restart is not negotiated",
            "Enable graceful restart on both sides (FRR: bgp graceful-restart; BIRD: graceful "
            "restart on; GoBGP: graceful-restart enabled; the BGP settings of Calico, MetalLB, "
            "Cilium) so that restarting the BGP daemon on a node (upgrade, pod restart) does "
            "not withdraw all its routes and drop its traffic.",
        ),
        CheckInfo(
            "host_route_flood",
            WARNING,
            "peer",
            "A peer advertises many host routes (/32 or /128)",
            "Advertise per-node aggregates (an IPv4 /24-/26 block per node, an IPv6 /64-/120) "
            "instead of one /32 or /128 per pod or service: host routes fill every RIB and "
            "FIB of the fabric and churn with every pod. Threshold: health.host_routes_max.",
        ),
        CheckInfo(
            "ibgp_full_mesh_at_scale",
            WARNING,
            "router",
            "Many iBGP peers without route reflection",
            "A full iBGP mesh grows with the square of the nodes and stops scaling at about "
            "100 nodes. Use route reflectors (two or more, e.g. on the ToRs or on dedicated "
            "nodes) or eBGP per rack or per node. Threshold: health.ibgp_peers_max.",
        ),
        CheckInfo(
            "single_route_reflector",
            WARNING,
            "router",
            "All reflected iBGP routes come through one route reflector",
            "The reflector is a single point of failure: when it restarts, this router loses "
            "every iBGP route. Peer each client with at least two reflectors "
            "(health.reflectors_min).",
        ),
        CheckInfo(
            "expected_prefix_missing",
            CRITICAL,
            "router",
            "An expected prefix is absent from its view",
            "A prefix that must be reachable (pod CIDR, service CIDR such as 10.96.0.0/12) is "
            "not in the view: check that the nodes advertise it (service / pod CIDR "
            "advertisement of Calico, MetalLB, Cilium, kube-router) and that the router's "
            "import policy accepts it. Configured with health.expected_prefixes.",
        ),
        CheckInfo(
            "metallb_pod_routes",
            CRITICAL,
            "peer",
            "A MetalLB speaker announces pod routes or prefixes outside its LoadBalancer pools",
            "MetalLB is for LoadBalancer service addresses only: pod routing belongs to the "
            "CNI (Calico, Cilium, kube-router, or the node's own BGP). Limit the MetalLB "
            "IPAddressPools to the service ranges, keep the pod CIDRs out of them and out of "
            "any BGPAdvertisement aggregation, and filter the speaker's sessions on the router "
            "to the pools (prefix list 'le 32'). Configured with health.metallb_peers, "
            "health.pod_cidrs and health.lb_pools.",
        ),
        CheckInfo(
            "cidr_overlap",
            CRITICAL,
            "peer",
            "The same or overlapping pod/service CIDR is originated by different ASes (DCs)",
            "Every DC needs its own, non-overlapping pod and service CIDRs (e.g. DC1 "
            "10.244.0.0/16 and 10.96.0.0/16, DC2 10.245.0.0/16 and 10.97.0.0/16): two DCs "
            "announcing the same range black-hole each other's traffic across the DCI. "
            "Renumber one cluster (a new cluster CIDR needs new nodes or a migration) or keep "
            "the ranges from crossing the DCI. Watched: health.pod_cidrs, health.service_cidrs "
            "(or the node-originated routes when both are empty).",
        ),
        CheckInfo(
            "dci_unsummarized",
            WARNING,
            "peer",
            "A DCI link carries unsummarized routes",
            "Send only summaries across the DCI (one aggregate per DC for pods, one for "
            "services: aggregate-address ... summary-only on FRR, or a prefix list that allows "
            "only the aggregates), so that a pod or node change in one DC does not churn the "
            "other DC's routers. Limits: health.dci_max_length (default /20 IPv4, /48 IPv6) "
            "and health.dci_max_routes; DCI peers: health.dci_peers.",
        ),
        CheckInfo(
            "local_only_leak",
            WARNING,
            "peer",
            "A route tagged local-only crosses the DCI link",
            "Routes tagged with a local-only community (e.g. 64510:100) must stay in their DC: "
            "match the community in the DCI export policy and deny it (FRR: bgp "
            "community-list + route-map deny), and on the receiving side drop other DCs' "
            "local-only routes on import. Tag global routes with the global-export community "
            "(e.g. 64510:200) instead. Configured with health.local_only_communities and "
            "health.dci_peers.",
        ),
    )
}
# checks kept in their own modules
CHECKS[feed.NAME] = CheckInfo(feed.NAME, feed.SEVERITY, feed.SCOPE, feed.TITLE, feed.ADVICE)
CHECKS["rib_limit_reached"] = CheckInfo(
    "rib_limit_reached",
    CRITICAL,
    "peer",
    "A route limit is reached: new routes from the peer are not stored",
    "The agent's view of this peer is incomplete (bmp_rib_routes_dropped_total counts "
    "what is missing). Find out why the peer sends so many routes (a leaked full "
    "table, a /32 flood); if they are legitimate, raise rib.max_routes_per_peer, "
    "rib.max_routes_per_router or rib.max_routes (and the memory limit with it: "
    "README, Route limits; the chart's resources). Storing resumes below 90 % of the limit.",
)
assert tuple(CHECKS) == HEALTH_CHECKS


def is_private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASN_RANGES)


def is_ibgp(peer: Peer) -> bool:
    return (
        peer.peer_type != LOC_RIB_PEER and peer.local_asn is not None and peer.asn == peer.local_asn
    )


def prefix_key(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, bytes]:
    """(afi, wire key) of a unicast prefix."""
    plen = net.prefixlen
    afi = 1 if net.version == 4 else 2
    return afi, bytes([plen]) + net.network_address.packed[: math.ceil(plen / 8)]


def _has_prefix(table: RibTable, key: bytes) -> bool:
    refs = table.refs
    return key in (table.routes if refs is None else refs)


def _reflector_id(attrs: PathAttributes, own_id: str | None, peer_id: str) -> str | None:
    """Whether a route from an iBGP peer was reflected, and by which cluster.

    The first CLUSTER_LIST entry other than the monitored router's own BGP ID
    (``own_id``, its default cluster ID); ``""`` when only an ORIGINATOR_ID
    other than the peer's BGP ID shows reflection; None: not reflected. FRR
    8.4 puts its own cluster ID and ORIGINATOR_ID = peer into the BMP copy of
    every route from an iBGP peer, which is not reflection.
    """
    for c in attrs.cluster_list:
        if c != own_id:
            return c
    oid = attrs.originator_id
    if oid is not None and oid != peer_id:
        return ""
    return None


def _ids(peer: Peer) -> tuple[str | None, str]:
    sent = peer.sent_open
    return (None if sent is None else sent.bgp_id), peer.bgp_id


# ----------------------------------------------------------------------------- observer


class TableState:
    __slots__ = ("hosts", "reflected")

    def __init__(self) -> None:
        #: host prefix (wire key) -> paths
        self.hosts: dict[bytes, int] = {}
        #: reflector id (first cluster id, "" originator only) -> routes
        self.reflected: dict[str, int] = {}


def table_state(table: RibTable) -> TableState | None:
    return get_state(table, EXT_KEY, TableState)


def _new_state(table: RibTable) -> TableState:
    return new_state(table, EXT_KEY, TableState, TableState)


class HealthObserver(RouteChangeObserver):
    """Incremental per-table counters for the checks (see the module docstring)."""

    def __init__(self, route_views: Iterable[str] = ("adj_in_pre",)) -> None:
        self.route_views = frozenset(route_views)

    # -- RouteChangeObserver --------------------------------------------------------

    def change(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes | None
    ) -> None:
        if table.safi != UNICAST:
            return
        view = table.view
        if view in self.route_views:
            self._hosts(table, nset, add=attrs is not None)
        if view in ADJ_IN and is_ibgp(peer):
            self._reflected(peer, table, nset, attrs)

    def _hosts(self, table: RibTable, nset: NlriSet, *, add: bool) -> None:
        hl = HOST_LEN.get(table.afi)
        if hl is None:
            return
        routes = table.routes
        path_ids = nset.path_ids
        changed: set[bytes | tuple[int, bytes]] | None = None
        for i, p in enumerate(nset.prefixes):
            if not p or p[0] != hl:
                continue
            k: bytes | tuple[int, bytes] = p if path_ids is None else (path_ids[i], p)
            if (k not in routes) if add else (k in routes):
                if changed is None:
                    changed = set()
                changed.add(k)
        if not changed:
            return
        hosts = _new_state(table).hosts
        for k in changed:
            p = k[1] if isinstance(k, tuple) else k
            if add:
                hosts[p] = hosts.get(p, 0) + 1
            else:
                n = hosts.get(p, 0) - 1
                if n > 0:
                    hosts[p] = n
                else:
                    hosts.pop(p, None)

    def _reflected(
        self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes | None
    ) -> None:
        own_id, peer_id = _ids(peer)
        new_id = None if attrs is None else _reflector_id(attrs, own_id, peer_id)
        st = table_state(table)
        if new_id is None and (st is None or not st.reflected):
            return  # nothing reflected before, nothing reflected now
        if st is None:
            st = _new_state(table)
        refl = st.reflected
        routes = table.routes
        path_ids = nset.path_ids
        keys: dict[RouteKey, None]
        if path_ids is None:
            keys = dict.fromkeys(nset.prefixes)
        else:
            keys = dict.fromkeys(zip(path_ids, nset.prefixes, strict=False))
        for k in keys:
            old = routes.get(k)
            if old is attrs:
                continue
            if old is not None:
                old_id = _reflector_id(old, own_id, peer_id)
                if old_id is not None:
                    n = refl[old_id] - 1
                    if n:
                        refl[old_id] = n
                    else:
                        del refl[old_id]
            if new_id is not None:
                refl[new_id] = refl.get(new_id, 0) + 1

    def rebuild(self, core: Core) -> None:
        """Recompute every table's counters from its routes (O(routes), once)."""
        for peer, table in reset_tables(core, EXT_KEY):
            if table.safi != UNICAST:
                continue
            hl = HOST_LEN.get(table.afi)
            st: TableState | None = None
            if hl is not None and table.view in self.route_views:
                for key in table.routes:
                    p = key[1] if isinstance(key, tuple) else key
                    if p and p[0] == hl:
                        st = st or _new_state(table)
                        st.hosts[p] = st.hosts.get(p, 0) + 1
            if table.view in ADJ_IN and is_ibgp(peer):
                own_id, peer_id = _ids(peer)
                for attrs in table.routes.values():
                    rid = _reflector_id(attrs, own_id, peer_id)
                    if rid is not None:
                        st = st or _new_state(table)
                        st.reflected[rid] = st.reflected.get(rid, 0) + 1


# ----------------------------------------------------------------------------- evaluation


def _tables(peer: Peer, views: Iterable[str]) -> list[RibTable]:
    vs = frozenset(views)
    return [
        t
        for (view, afi, safi), t in list(peer.tables.items())
        if view in vs and safi == UNICAST and afi in HOST_LEN
    ]


def _afi_text(afi: int) -> str:
    return "ipv4" if afi == 1 else "ipv6"


def check_default_route(cfg: HealthConfig, router: Router, peer: Peer) -> Finding | None:
    if in_networks(peer.address, cfg.default_route_allow):
        return None
    where: list[str] = []
    for t in _tables(peer, cfg.route_views):
        if _has_prefix(t, DEFAULT_KEY):
            where.append(f"{'0.0.0.0/0' if t.afi == 1 else '::/0'} in {t.view}")
    if not where:
        return None
    return Finding(
        "default_route_received",
        router.label,
        peer.label,
        f"peer AS {peer.asn} sends a default route: " + ", ".join(sorted(where)),
        {"routes": sorted(where), "peer_asn": peer.asn},
    )


def check_public_asn(cfg: HealthConfig, router: Router, peer: Peer) -> Finding | None:
    bad: list[str] = []
    details: dict[str, Any] = {}
    for role, asn in (("peer", peer.asn), ("local", peer.local_asn)):
        if asn is None or is_private_asn(asn) or asn in cfg.asn_allow:
            continue
        bad.append(f"{role} AS {asn} is public")
        details[f"{role}_asn"] = asn
    if not bad:
        return None
    return Finding("public_asn", router.label, peer.label, "; ".join(bad), details)


def check_graceful_restart(cfg: HealthConfig, router: Router, peer: Peer) -> Finding | None:
    sent, received = peer.sent_open, peer.received_open
    if sent is None or received is None:
        return None
    local_gr = sent.graceful_restart is not None
    remote_gr = received.graceful_restart is not None
    if local_gr and remote_gr:
        return None
    if not local_gr and not remote_gr:
        found = "neither side advertises the graceful-restart capability"
    elif local_gr:
        found = f"the peer (AS {peer.asn}) does not advertise the graceful-restart capability"
    else:
        found = "the router does not advertise the graceful-restart capability"
    return Finding(
        "no_graceful_restart",
        router.label,
        peer.label,
        found,
        {"router_advertises": local_gr, "peer_advertises": remote_gr},
    )


def check_host_routes(cfg: HealthConfig, router: Router, peer: Peer) -> Finding | None:
    per_view: dict[str, dict[str, int]] = {}
    for t in _tables(peer, cfg.route_views):
        st = table_state(t)
        n = 0 if st is None else len(st.hosts)
        if n:
            per_view.setdefault(t.view, {})[_afi_text(t.afi)] = n
    worst = max((sum(c.values()) for c in per_view.values()), default=0)
    if worst <= cfg.host_routes_max:
        return None
    return Finding(
        "host_route_flood",
        router.label,
        peer.label,
        f"{worst} host routes (/32, /128) from peer AS {peer.asn}, more than {cfg.host_routes_max}",
        {"host_routes": worst, "threshold": cfg.host_routes_max, "per_view": per_view},
    )


def _reflection(router: Router) -> tuple[list[Peer], dict[str, set[str]]]:
    """Up iBGP peers, and reflector peer label -> cluster ids seen."""
    ibgp: list[Peer] = []
    reflectors: dict[str, set[str]] = {}
    for peer in list(router.peers.values()):
        if peer.state != UP or not is_ibgp(peer):
            continue
        ibgp.append(peer)
        for t in _tables(peer, ADJ_IN):
            st = table_state(t)
            if st is not None and st.reflected:
                reflectors.setdefault(peer.label, set()).update(c for c in st.reflected if c)
    return ibgp, reflectors


def check_full_mesh(
    cfg: HealthConfig, router: Router, ibgp: list[Peer], reflectors: dict[str, set[str]]
) -> Finding | None:
    if len(ibgp) <= cfg.ibgp_peers_max or reflectors:
        return None
    return Finding(
        "ibgp_full_mesh_at_scale",
        router.label,
        "",
        f"{len(ibgp)} iBGP peers (more than {cfg.ibgp_peers_max}) and no route carries "
        "ORIGINATOR_ID or CLUSTER_LIST",
        {"ibgp_peers": len(ibgp), "threshold": cfg.ibgp_peers_max},
    )


def check_single_reflector(
    cfg: HealthConfig, router: Router, reflectors: dict[str, set[str]]
) -> Finding | None:
    if not reflectors or len(reflectors) >= cfg.reflectors_min:
        return None
    clusters = sorted({c for cs in reflectors.values() for c in cs})
    names = sorted(reflectors)
    return Finding(
        "single_route_reflector",
        router.label,
        "",
        f"reflected iBGP routes come only through {', '.join(names)}"
        + (f" (cluster {', '.join(clusters)})" if clusters else ""),
        {
            "reflectors": names,
            "cluster_ids": clusters,
            "minimum": cfg.reflectors_min,
        },
    )


def expected_prefixes(cfg: HealthConfig) -> list[tuple[str, str, int, bytes]]:
    """(prefix text, view, afi, wire key) of ``health.expected_prefixes``."""
    out = []
    for entry in cfg.expected_prefixes:
        text, _, view = entry.partition("@")
        net = ipaddress.ip_network(text, strict=True)
        afi, key = prefix_key(net)
        out.append((str(net), view or cfg.expected_view, afi, key))
    return out


def check_expected(
    cfg: HealthConfig, router: Router, wanted: list[tuple[str, str, int, bytes]]
) -> Finding | None:
    missing: list[str] = []
    views_seen: set[str] = set()
    for peer in list(router.peers.values()):
        views_seen.update(v for v, _, _ in peer.tables)
    for text, view, afi, key in wanted:
        present = False
        for peer in list(router.peers.values()):
            t = peer.tables.get((view, afi, UNICAST))
            if t is not None and _has_prefix(t, key):
                present = True
                break
        if not present:
            missing.append(f"{text}@{view}")
    if not missing:
        return None
    unmonitored = sorted({m.split("@")[1] for m in missing} - views_seen)
    found = "missing: " + ", ".join(missing)
    if unmonitored:
        found += f" (the router sends no {', '.join(unmonitored)} routes)"
    return Finding(
        "expected_prefix_missing",
        router.label,
        "",
        found,
        {"missing": missing, "views_not_sent": unmonitored},
    )


def check_rib_limit(core: Core, router: Router, peer: Peer) -> Finding | None:
    key = router.blocked_by(peer)
    if key is None:
        return None
    s = core.settings
    limit = {
        "rib.max_routes_per_peer": s.max_routes_per_peer,
        "rib.max_routes_per_router": s.max_routes_per_router,
        "rib.max_routes": s.max_routes,
    }[key]
    dropped = sum(peer.dropped.values())
    return Finding(
        "rib_limit_reached",
        router.label,
        peer.label,
        f"{key} ({limit}) reached: {dropped} new routes from peer AS {peer.asn} dropped "
        f"(peer {peer.count}, router {router.routes}, all routers {core.route_count} routes)",
        {
            "limit_key": key,
            "limit": limit,
            "dropped": dropped,
            "peer_routes": peer.count,
            "router_routes": router.routes,
            "total_routes": core.route_count,
        },
    )


def evaluate(
    core: Core,
    cfg: HealthConfig,
    *,
    router: str | None = None,
    dc: DcObserver | None = None,
    evidence: feed.FeedEvidence | None = None,
) -> Report:
    """Run every check over ``core`` (see the module docstring for the cost).

    ``dc``: the ``DcObserver`` keeping the counters of the multi-DC checks
    (``agent.health.dc``); it also caches ``cidr_overlap``'s conflicts.
    ``evidence``: the FIB reconciler, for ``bmp_feed_inconsistent``."""
    results = {
        name: CheckResult(info, cfg.enabled and name not in cfg.disabled)
        for name, info in CHECKS.items()
    }
    wanted = expected_prefixes(cfg)
    on = {name for name, r in results.items() if r.enabled}
    if not on:
        return Report(results)
    for rtr in up_routers(core, router):
        r = rtr.label
        for peer in list(rtr.peers.values()):
            if "rib_limit_reached" in on and peer.state in (UP, IMPLICIT):
                results["rib_limit_reached"].add(
                    rtr.label, peer.label, check_rib_limit(core, rtr, peer)
                )
            if peer.peer_type == LOC_RIB_PEER:
                continue
            p = peer.label
            if peer.state in (UP, IMPLICIT):
                if "default_route_received" in on:
                    results["default_route_received"].add(r, p, check_default_route(cfg, rtr, peer))
                if "host_route_flood" in on:
                    results["host_route_flood"].add(r, p, check_host_routes(cfg, rtr, peer))
            if feed.NAME in on and feed.evaluated(rtr, peer):
                got = feed.check(rtr, peer, evidence)
                results[feed.NAME].add(
                    r, p, None if got is None else Finding(feed.NAME, r, p, got[0], got[1])
                )
            if peer.state == UP and peer.sent_open is not None:
                if "public_asn" in on:
                    results["public_asn"].add(r, p, check_public_asn(cfg, rtr, peer))
                if "no_graceful_restart" in on:
                    results["no_graceful_restart"].add(r, p, check_graceful_restart(cfg, rtr, peer))
        ibgp, reflectors = _reflection(rtr)
        if "ibgp_full_mesh_at_scale" in on:
            results["ibgp_full_mesh_at_scale"].add(
                r, "", check_full_mesh(cfg, rtr, ibgp, reflectors)
            )
        if "single_route_reflector" in on:
            results["single_route_reflector"].add(
                r, "", check_single_reflector(cfg, rtr, reflectors)
            )
        if wanted and "expected_prefix_missing" in on:
            results["expected_prefix_missing"].add(r, "", check_expected(cfg, rtr, wanted))
    evaluate_dc(core, cfg, results, on, router=router, observer=dc)
    return Report(results)


def report_json(report: Report, cfg: HealthConfig) -> dict[str, Any]:
    """The ``/api/v1/health`` document."""
    checks = []
    for name, res in report.results.items():
        info = res.info
        status = "disabled" if not res.enabled else ("firing" if res.findings else "ok")
        checks.append(
            {
                "check": name,
                "severity": info.severity,
                "scope": info.scope,
                "title": info.title,
                "status": status,
                "evaluated": len(res.subjects),
                "firing": res.firing,
                "advice": info.advice,
                "findings": [
                    {"router": f.router, "peer": f.peer, "found": f.found, "details": f.details}
                    for f in res.findings
                ],
            }
        )
    return {
        "status": "firing" if report.firing else "ok",
        "firing": report.firing,
        "checks": checks,
        "settings": {
            "host_routes_max": cfg.host_routes_max,
            "ibgp_peers_max": cfg.ibgp_peers_max,
            "reflectors_min": cfg.reflectors_min,
            "route_views": list(cfg.route_views),
            "asn_allow": list(cfg.asn_allow),
            "default_route_allow": [str(n) for n in cfg.default_route_allow],
            "expected_prefixes": [f"{t}@{v}" for t, v, _, _ in expected_prefixes(cfg)],
            "metallb_peers": list(cfg.metallb_peers),
            "pod_cidrs": [str(n) for n in cfg.pod_cidrs],
            "service_cidrs": [str(n) for n in cfg.service_cidrs],
            "lb_pools": [str(n) for n in cfg.lb_pools],
            "dci_peers": list(cfg.dci_peers),
            "dci_max_length": {"ipv4": cfg.dci_max_len(1), "ipv6": cfg.dci_max_len(2)},
            "dci_max_routes": cfg.dci_max_routes,
            "local_only_communities": list(cfg.local_only_communities),
        },
    }


__all__ = [
    "CHECKS",
    "CheckInfo",
    "CheckResult",
    "Finding",
    "HealthObserver",
    "Report",
    "evaluate",
    "is_private_asn",
    "report_json",
]
