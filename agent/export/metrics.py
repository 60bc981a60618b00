"""Prometheus exposition of the state core: a custom collector.

Families are built at scrape time from the core's incremental counters; no
RIB is walked (cost per scrape: O(routers + peers + tables + top-N)). Names,
types and labels are a contract with dashboards and alerts:

==========================================  =======  ==============================================
metric                                      type     labels
==========================================  =======  ==============================================
bmp_router_up                               gauge    router
bmp_router_info                             gauge    router, sys_name, sys_descr, source
bmp_router_connections_total                counter  router
bmp_router_last_message_timestamp_seconds   gauge    router
bmp_messages_total                          counter  router, type
bmp_decode_errors_total                     counter  router, error
bmp_quirks_total                            counter  router, quirk
bmp_peer_up                                 gauge    router, peer, peer_asn, peer_type
bmp_peer_info                               gauge    router, peer, peer_asn, peer_bgp_id, peer_type,
                                                     rd, local_asn, local_address, table
bmp_peer_downs_total                        counter  router, peer, reason
bmp_peer_last_change_timestamp_seconds      gauge    router, peer
bmp_rib_routes                              gauge    router, peer, view, afi, safi
bmp_rib_prefixes                            gauge    router, peer, view, afi, safi
bmp_rib_path_status_routes                  gauge    router, peer, view, afi, safi, status
bmp_route_updates_total                     counter  router, peer, view, afi, safi, action
bmp_prefix_flaps_total                      counter  router, peer, view, afi, safi
bmp_eor_received                            gauge    router, peer, view, afi, safi
bmp_peer_stats                              gauge    router, peer, stat, afi, safi
bmp_top_flapping_prefix_flaps               gauge    router, peer, view, prefix
bmp_rib_community_routes                    gauge    router, peer, view, community
bmp_agent_build_info                        gauge    version, python, compiled
bmp_rib_routes_dropped_total                counter  router, peer, view
bmp_rib_route_usage                         gauge    scope (peer_max, router_max, total)
bmp_rib_route_limit                         gauge    scope (per_peer, per_router, total)
bmp_router_peers_refused_total              counter  router
bmp_forgotten_total                         counter  what (routers, peers, prefix_flaps,
                                                     peer_downs, routes_dropped)
bmp_router_refusals_total                   counter  reason (agent.sources.bmp.listener)
bmp_router_evictions_total                  counter  reason
bmp_gc_freezes_total                        counter  (none; GcPolicyCollector)
bmp_gc_sweeps_total                         counter  (none)
bmp_gc_last_sweep_seconds                   gauge    (none)
bmp_gc_last_sweep_collected                 gauge    (none)
==========================================  =======  ==============================================

``router`` is the router label (source address, ``addr#2`` for a second
concurrent session); ``peer`` the peer address (``addr%rd`` for peers with a
distinguisher); ``afi``/``safi`` lowercase names; ``action`` announce or
withdraw; ``stat`` the IANA snake_case name, with ``afi``/``safi`` empty for
stats that are not per AFI/SAFI. ``table`` is the VRF/Table Name TLV of a
Loc-RIB peer's Peer Up (RFC 9069 §5.3), empty otherwise.
``bmp_rib_path_status_routes`` counts the routes of a view by their path
status (draft-ietf-grow-bmp-path-marking-tlv): ``status`` is a status bit's
name (``best``, ``non_selected``, ``primary``, ``backup``, ``invalid``, ...;
``unknown`` for a marking of 0); a route counts once per bit it has; only
tables that received a marking have series. ``bmp_top_flapping_prefix_flaps``
holds at most ``CoreSettings.top_flaps`` series. ``bmp_rib_community_routes``
(routes carrying each community of ``rib.count_communities``) is rendered by
``agent.health.rib_communities``. Peers never seen up (FRR's Peer Down
for unconfigured/never-established neighbors) report ``bmp_peer_up 0``.
``bmp_agent_build_info`` is 1, with or without a router (``BuildInfoCollector``;
``compiled`` is ``agent.build.compiled()``): dashboards list agents by it.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from parsers.afi import afi_name, safi_name
from parsers.bgp.nlri import describe
from parsers.bmp.context import PeerKey

from .. import build
from ..core import Core, Peer, gctune, path_status
from ..core.gctune import GcPolicy

ROUTER = ["router"]
PEER = ["router", "peer"]
TABLE = ["router", "peer", "view", "afi", "safi"]


Family = GaugeMetricFamily | CounterMetricFamily


def _families() -> dict[str, Family]:
    g = GaugeMetricFamily
    c = CounterMetricFamily
    return {
        "router_up": g("bmp_router_up", "1 while the router's BMP session is connected.", labels=ROUTER),
        "router_info": g(
            "bmp_router_info",
            "Router information from the BMP Initiation message.",
            labels=["router", "sys_name", "sys_descr", "source"],
        ),
        "connections": c(
            "bmp_router_connections", "BMP sessions opened for this router.", labels=ROUTER
        ),
        "last_message": g(
            "bmp_router_last_message_timestamp_seconds",
            "Time the last BMP message from this router was processed.",
            labels=ROUTER,
        ),
        "messages": c("bmp_messages", "BMP messages received, by type.", labels=["router", "type"]),
        "decode_errors": c(
            "bmp_decode_errors", "BMP messages that failed to decode, by error kind.",
            labels=["router", "error"],
        ),
        "quirks": c(
            "bmp_quirks", "Deviations from the RFCs seen from this router, by name.",
            labels=["router", "quirk"],
        ),
        "peer_up": g(
            "bmp_peer_up", "1 while the BGP peer is up.",
            labels=["router", "peer", "peer_asn", "peer_type"],
        ),
        "peer_info": g(
            "bmp_peer_info",
            "BGP peer information from Peer Up (or the per-peer header).",
            labels=[
                "router", "peer", "peer_asn", "peer_bgp_id", "peer_type", "rd", "local_asn",
                "local_address", "table",
            ],
        ),
        "peer_downs": c(
            "bmp_peer_downs", "Peer Down notifications, by reason.",
            labels=["router", "peer", "reason"],
        ),
        "peer_last_change": g(
            "bmp_peer_last_change_timestamp_seconds",
            "Time the peer last went up or down.",
            labels=PEER,
        ),
        "rib_routes": g("bmp_rib_routes", "Paths in the RIB view.", labels=TABLE),
        "rib_prefixes": g("bmp_rib_prefixes", "Distinct prefixes in the RIB view.", labels=TABLE),
        "updates": c(
            "bmp_route_updates", "Routes announced or withdrawn in Route Monitoring.",
            labels=[*TABLE, "action"],
        ),
        "flaps": c(
            "bmp_prefix_flaps",
            "Routes withdrawn and re-announced within the flap window.",
            labels=TABLE,
        ),
        "eor": g("bmp_eor_received", "1 once End-of-RIB was received.", labels=TABLE),
        "path_status": g(
            "bmp_rib_path_status_routes",
            "Paths in the RIB view by path status (BMP path marking), one count per status bit.",
            labels=[*TABLE, "status"],
        ),
        "stats": g(
            "bmp_peer_stats", "Last value of each BMP Statistics Report type.",
            labels=["router", "peer", "stat", "afi", "safi"],
        ),
        "dropped": c(
            "bmp_rib_routes_dropped",
            "New routes not stored because a route limit (rib.max_routes*) was reached.",
            labels=["router", "peer", "view"],
        ),
        "routes_limit": g(
            "bmp_rib_route_limit",
            "Route limits in force (0: none): per_peer, per_router, total.",
            labels=["scope"],
        ),
        "routes_held": g(
            "bmp_rib_route_usage",
            "Routes held: the fullest peer, the fullest router, all routers.",
            labels=["scope"],
        ),
        "peers_refused": c(
            "bmp_router_peers_refused",
            "BMP messages of new peers ignored beyond bmp.max_peers_per_router.",
            labels=ROUTER,
        ),
        "forgotten": c(
            "bmp_forgotten",
            "State dropped after bmp.forget_after, and the counters it held, in aggregate.",
            labels=["what"],
        ),
        "top_flaps": g(
            "bmp_top_flapping_prefix_flaps",
            "Flap counts of the most flapping prefixes (bounded top-N).",
            labels=["router", "peer", "view", "prefix"],
        ),
    }  # fmt: skip


#: The per-table families (one series per RIB table: 86% of the series at 1k
#: peers) and the per-peer gauges (9%), which ``CoreCollector.table_text``
#: can render directly.
TABLE_FAMILIES = ("rib_routes", "rib_prefixes", "updates", "flaps", "eor")
PEER_FAMILIES = ("peer_up", "peer_info", "peer_last_change")
TEXT_FAMILIES = TABLE_FAMILIES + PEER_FAMILIES


def _value(n: int) -> str:
    """``prometheus_client.utils.floatToGoString`` for the integers counters hold."""
    if -1_000_000 < n < 1_000_000:
        return f"{n}.0"
    return str(floatToGoString(n))  # type: ignore[no-untyped-call]


def escape_label(v: str) -> str:
    """A label value as the exposition format writes it."""
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return v


#: (values shown, rendered lines) of one table or peer.
_Cached = tuple[tuple[object, ...], tuple[str, ...]]


def _table_lines(lab: str, state: tuple[int, int, int, int, int, bool]) -> tuple[str, ...]:
    routes, prefixes, announces, withdraws, flaps, eor = state
    return (
        f"bmp_rib_routes{{{lab}}} {_value(routes)}\n",
        f"bmp_rib_prefixes{{{lab}}} {_value(prefixes)}\n",
        f'bmp_route_updates_total{{action="announce",{lab}}} {_value(announces)}\n'
        f'bmp_route_updates_total{{action="withdraw",{lab}}} {_value(withdraws)}\n',
        f"bmp_prefix_flaps_total{{{lab}}} {_value(flaps)}\n",
        f"bmp_eor_received{{{lab}}} {'1.0' if eor else '0.0'}\n",
    )


class CoreCollector(Collector):
    """Builds every ``bmp_*`` family from ``Core`` at scrape time.

    With ``tables_as_text`` the per-table families and the per-peer gauges
    (``TEXT_FAMILIES``) are left out of ``collect`` and rendered by
    ``table_text`` instead, as exposition text with each table's label text
    cached: the same samples, ~30x faster than through ``generate_latest``
    (``bench/scrape.py``). The daemon uses this and appends ``table_text()``
    to ``/metrics``.
    """

    def __init__(self, core: Core, *, tables_as_text: bool = False) -> None:
        self.core = core
        self.tables_as_text = tables_as_text
        self._labels: dict[tuple[str, str, str, int, int], _Cached] = {}
        self._peers: dict[tuple[str, PeerKey], _Cached] = {}

    def describe(self) -> Iterator[Metric]:
        f = _families()
        if self.tables_as_text:
            for k in TEXT_FAMILIES:
                del f[k]
        return iter(f.values())

    @staticmethod
    def _peer_lines(re: str, pe: str, peer: Peer) -> tuple[str, ...]:
        asn = str(peer.asn)
        ptype = escape_label(peer.peer_type_name)
        local_asn = "" if peer.local_asn is None else str(peer.local_asn)
        change = ""
        if peer.last_change is not None:
            value = floatToGoString(peer.last_change)  # type: ignore[no-untyped-call]
            change = (
                f'bmp_peer_last_change_timestamp_seconds{{peer="{pe}",router="{re}"}} {value}\n'
            )
        return (
            f'bmp_peer_up{{peer="{pe}",peer_asn="{asn}",peer_type="{ptype}",'
            f'router="{re}"}} {"1.0" if peer.up else "0.0"}\n',
            f'bmp_peer_info{{local_address="{escape_label(peer.local_address or "")}",'
            f'local_asn="{local_asn}",peer="{pe}",peer_asn="{asn}",'
            f'peer_bgp_id="{escape_label(peer.bgp_id)}",peer_type="{ptype}",'
            f'rd="{escape_label(peer.rd or "")}",router="{re}",'
            f'table="{escape_label(peer.table_name or "")}"}} 1.0\n',
            change,
        )

    def table_text(self) -> str:
        """``TEXT_FAMILIES`` in the Prometheus text format (0.0.4), as
        ``generate_latest`` would write them (sorted label names)."""
        f = _families()
        out: list[list[str]] = [[] for _ in TEXT_FAMILIES]
        routes, prefixes, updates, flaps, eor, peer_up, peer_info, peer_change = out
        # Rendered lines are cached per table and per peer with the values
        # they show: at scrape time most tables have not changed.
        old = self._labels
        labels: dict[tuple[str, str, str, int, int], _Cached] = {}
        old_peers = self._peers
        peers: dict[tuple[str, PeerKey], _Cached] = {}
        for router in list(self.core.routers.values()):
            r = router.label
            re = escape_label(r)
            for peer in list(router.peers.values()):
                p = peer.label
                pe = escape_label(p)
                pstate = (
                    p,
                    peer.asn,
                    peer.peer_type_name,
                    peer.up,
                    peer.local_asn,
                    peer.local_address,
                    peer.bgp_id,
                    peer.rd,
                    peer.last_change,
                    peer.table_name,
                )
                pkey = (r, peer.key)
                cached = old_peers.get(pkey)
                if cached is None or cached[0] != pstate:
                    cached = (pstate, self._peer_lines(re, pe, peer))
                peers[pkey] = cached
                up_line, info_line, change_line = cached[1]
                peer_up.append(up_line)
                peer_info.append(info_line)
                if change_line:
                    peer_change.append(change_line)
                for (view, afi, safi), t in list(peer.tables.items()):
                    key = (r, p, view, afi, safi)
                    state = (
                        len(t.routes),
                        t.prefix_count,
                        t.announces,
                        t.withdraws,
                        t.flaps,
                        t.eor,
                    )
                    cached = old.get(key)
                    if cached is None or cached[0] != state:
                        lab = (
                            f'afi="{escape_label(afi_name(afi))}",peer="{pe}",'
                            f'router="{re}",safi="{escape_label(safi_name(safi))}",'
                            f'view="{escape_label(view)}"'
                        )
                        cached = (state, _table_lines(lab, state))
                    labels[key] = cached
                    a, b, c, d, e = cached[1]
                    routes.append(a)
                    prefixes.append(b)
                    updates.append(c)
                    flaps.append(d)
                    eor.append(e)
        self._labels = labels
        self._peers = peers
        text: list[str] = []
        for k, lines in zip(TEXT_FAMILIES, out, strict=True):
            fam = f[k]
            name = fam.name + "_total" if fam.type == "counter" else fam.name
            doc = fam.documentation.replace("\\", "\\\\").replace("\n", "\\n")
            text.append(f"# HELP {name} {doc}\n# TYPE {name} {fam.type}\n")
            text.extend(lines)
        return "".join(text)

    def collect(self) -> Iterator[Metric]:
        f = _families()
        core = self.core
        tables = not self.tables_as_text
        peer_max = router_max = 0
        for router in list(core.routers.values()):
            r = router.label
            f["router_up"].add_metric([r], 1.0 if router.up else 0.0)
            f["router_info"].add_metric(
                [r, router.sys_name, router.sys_descr, getattr(router, "source", "bmp")], 1.0
            )
            f["connections"].add_metric([r], router.connections)
            if router.last_message is not None:
                f["last_message"].add_metric([r], router.last_message)
            for name, n in sorted(router.messages.items()):
                f["messages"].add_metric([r, name], n)
            for name, n in sorted(router.decode_errors.items()):
                f["decode_errors"].add_metric([r, name], n)
            for name, n in sorted(router.quirks.items()):
                f["quirks"].add_metric([r, name], n)
            if router.peers_refused:
                f["peers_refused"].add_metric([r], router.peers_refused)
            router_max = max(router_max, router.routes)
            for peer in list(router.peers.values()):
                p = peer.label
                asn = str(peer.asn)
                ptype = peer.peer_type_name
                if tables:
                    f["peer_up"].add_metric([r, p, asn, ptype], 1.0 if peer.up else 0.0)
                    f["peer_info"].add_metric(
                        [
                            r,
                            p,
                            asn,
                            peer.bgp_id,
                            ptype,
                            peer.rd or "",
                            "" if peer.local_asn is None else str(peer.local_asn),
                            peer.local_address or "",
                            peer.table_name or "",
                        ],
                        1.0,
                    )
                for reason, n in sorted(peer.downs.items()):
                    f["peer_downs"].add_metric([r, p, reason], n)
                for view, n in sorted(peer.dropped.items()):
                    f["dropped"].add_metric([r, p, view], n)
                peer_max = max(peer_max, peer.count)
                if tables and peer.last_change is not None:
                    f["peer_last_change"].add_metric([r, p], peer.last_change)
                for (view, afi, safi), t in list(peer.tables.items()) if tables else ():
                    labels = [r, p, view, afi_name(afi), safi_name(safi)]
                    f["rib_routes"].add_metric(labels, t.route_count)
                    f["rib_prefixes"].add_metric(labels, t.prefix_count)
                    f["updates"].add_metric([*labels, "announce"], t.announces)
                    f["updates"].add_metric([*labels, "withdraw"], t.withdraws)
                    f["flaps"].add_metric(labels, t.flaps)
                    f["eor"].add_metric(labels, 1.0 if t.eor else 0.0)
                for (view, afi, safi), t in list(peer.tables.items()):
                    marked = path_status.counts(t)
                    if marked:
                        labels = [r, p, view, afi_name(afi), safi_name(safi)]
                        for name, n in sorted(path_status.by_name(marked).items()):
                            f["path_status"].add_metric([*labels, name], n)
                for (stat, s_afi, s_safi), value in sorted(
                    peer.stats.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2] or 0)
                ):
                    f["stats"].add_metric(
                        [
                            r,
                            p,
                            stat,
                            "" if s_afi is None else afi_name(s_afi),
                            "" if s_safi is None else safi_name(s_safi),
                        ],
                        value,
                    )
        # Top-N: the same prefix text in two SAFIs of one view (unicast and
        # multicast) would collide on these labels; such rows are summed.
        top: dict[tuple[str, str, str, str], int] = {}
        for flap in core.top_flaps():
            k = (flap.router, flap.peer, flap.view, describe(flap.afi, flap.safi, flap.prefix))
            top[k] = top.get(k, 0) + flap.flaps
        for k, n in top.items():
            f["top_flaps"].add_metric(list(k), n)
        s = core.settings
        for scope, n in (
            ("per_peer", s.max_routes_per_peer),
            ("per_router", s.max_routes_per_router),
            ("total", s.max_routes),
        ):
            f["routes_limit"].add_metric([scope], n)
        for scope, n in (
            ("peer_max", peer_max),
            ("router_max", router_max),
            ("total", core.route_count),
        ):
            f["routes_held"].add_metric([scope], n)
        for what in ("routers", "peers", "prefix_flaps", "peer_downs", "routes_dropped"):
            f["forgotten"].add_metric([what], core.forgotten[what])
        if not tables:
            for family in TEXT_FAMILIES:
                del f[family]
        yield from f.values()


class FamiliesCollector(Collector):
    """A collector of fixed families, declared once in ``FAMILIES``: ``describe``
    (at registration) gives them empty, ``collect`` has ``fill`` add the samples."""

    #: (family type, name, help, label names), in exposition order
    FAMILIES: tuple[tuple[type[Family], str, str, tuple[str, ...]], ...] = ()

    def _new(self) -> list[Family]:
        return [kind(name, doc, labels=list(labels)) for kind, name, doc, labels in self.FAMILIES]

    def describe(self) -> Iterator[Metric]:
        return iter(self._new())

    def collect(self) -> Iterator[Metric]:
        return iter(self.fill(self._new()))

    def fill(self, families: list[Family]) -> list[Family]:
        """Add the samples to ``families`` (``FAMILIES``' order); returns those to expose."""
        raise NotImplementedError


class GcPolicyCollector(Collector):
    """``bmp_gc_*``: the GC policy of ``agent.core.gctune`` (freezes and
    sweeps). No gauge of the frozen objects: ``gc.get_freeze_count()`` walks
    the permanent generation (100 ms at 4.8M routes), a scrape must not."""

    def __init__(self, policy: GcPolicy | None = None) -> None:
        self.policy = policy if policy is not None else gctune.POLICY

    #: (family type, name, help, policy attribute)
    FAMILIES = (
        (CounterMetricFamily, "bmp_gc_freezes", "Freezes of the GC survivors (one per "
         "generation-1/2 collection).", "freezes"),
        (CounterMetricFamily, "bmp_gc_sweeps", "Sweeps of frozen objects (unfreeze, full "
         "collection, freeze).", "sweeps"),
        (GaugeMetricFamily, "bmp_gc_last_sweep_seconds", "Duration of the last sweep (the "
         "loop was held for it).", "last_sweep_seconds"),
        (GaugeMetricFamily, "bmp_gc_last_sweep_collected", "Objects the last sweep "
         "collected.", "last_sweep_collected"),
    )  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        for kind, name, doc, attr in self.FAMILIES:
            family = kind(name, doc)
            family.add_metric([], getattr(self.policy, attr))
            yield family


class BuildInfoCollector(Collector):
    """``bmp_agent_build_info{version, python, compiled} 1``, like every exporter's ``*_build_info``."""

    def __init__(self) -> None:
        self.labels = build.info()

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "bmp_agent_build_info",
            "Always 1: the agent's version, Python version and whether its hot path is compiled.",
            labels=list(self.labels),
        )
        family.add_metric(list(self.labels.values()), 1.0)
        yield family


def register(
    core: Core, registry: CollectorRegistry, *, tables_as_text: bool = False
) -> CoreCollector:
    """Register the core's collector on ``registry`` (e.g. ``prometheus_client.REGISTRY``).

    ``tables_as_text``: see ``CoreCollector``; the caller must then expose
    ``collector.table_text()`` next to the registry's output."""
    collector = CoreCollector(core, tables_as_text=tables_as_text)
    registry.register(collector)
    return collector
