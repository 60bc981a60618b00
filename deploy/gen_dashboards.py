#!/usr/bin/env python3
"""Generate the Grafana dashboards in charts/bmp-agent/dashboards/ (run from anywhere).

    python3 deploy/gen_dashboards.py           # (re)write the JSON files
    python3 deploy/gen_dashboards.py --check   # exit 1 when a file is not up to date

The dashboards are plain Grafana JSON (schemaVersion 39, Grafana 10+), usable on
their own (Dashboards → Import) or through the chart's sidecar ConfigMap. Every
query uses the ``datasource`` variable; no datasource UID is hard-coded.

Panel descriptions follow two conventions that tests/deploy/test_dashboards_live.py
relies on:

* a description starting with ``Event-only:`` marks a panel that is empty while
  nothing happens (its query must still be valid PromQL);
* panels on metric families that only some agents export (the kernel FIB check)
  say so in their description; the live check requires data from them whenever
  the agent exports the family.

One Prometheus scrapes many agents (one per node), and every node's router and
ToR have the same ``router``/``peer`` labels, so:

* the ``job``, ``cluster`` (optional), ``node`` (optional: the chart's
  label) and ``instance`` variables come from ``bmp_agent_build_info``, which
  every agent exports with or without a router;
* every selector carries them, and no query aggregates or joins them away
  (``sum without (...)``/``ignoring (...)`` with metric labels only; the
  headline stats are the only sums over every selected agent);
* every time-series, state-timeline, heatmap and per-series stat legend
  starts with ``{{agent}}``: ``per_agent()`` sets it to ``node``, else
  ``instance``.

tests/deploy/test_fleet_live.py checks these with three agents and one real
Prometheus.

Metric names and labels are the contract of agent/export/metrics.py plus the FIB
(``bmp_fib_*``, ``bmp_kernel_routes``), health (``bmp_health_check``,
``bmp_rib_community_routes``) and history (``bmp_convergence_seconds``,
``bmp_rib_best_path_changes_total``, ``bmp_history_*``) families.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "charts" / "bmp-agent" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}

Panel = dict[str, Any]

# Label selectors of the two dashboards. One Prometheus scrapes many agents,
# and every node's router and ToR have the same labels (router="127.0.0.1"),
# so the agent's target labels (job, cluster, node, instance) are in every
# selector, and no query aggregates or joins them away: ``sum without (...)``
# and ``ignoring (...)`` list metric labels only.
AG = 'job=~"$job", cluster=~"$cluster", node=~"$node", instance=~"$instance"'
OV = AG + ', router=~"$router"'
PD = 'job=~"$job", cluster=~"$cluster", instance="$instance", router="$router", peer="$peer"'


def per_agent(expr: str) -> str:
    """``expr`` with an ``agent`` label for legends: the chart's ``node`` label
    where the series has one, else ``instance`` (static scrape configs)."""
    inner = f'label_replace({expr}, "agent", "$1", "instance", "(.*)")'
    return f'label_replace({inner}, "agent", "$1", "node", "(.+)")'


def value_mapping(zero: tuple[str, str], one: tuple[str, str]) -> list[dict[str, Any]]:
    """Grafana value mappings of a 0/1 metric: (text, color) for 0 and for 1."""
    return [
        {
            "type": "value",
            "options": {
                str(index): {"text": text, "color": color, "index": index}
                for index, (text, color) in enumerate((zero, one))
            },
        }
    ]


UP_DOWN = value_mapping(("Down", "red"), ("Up", "green"))


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


GOOD_WHEN_ZERO = thresholds((None, "green"), (1, "red"))
GOOD_WHEN_POSITIVE = thresholds((None, "red"), (1, "green"))
NEUTRAL = thresholds((None, "blue"))


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> dict[str, Any]:
    t: dict[str, Any] = {
        "refId": ref,
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
    }
    if instant:
        t["format"] = "table"
    return t


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    steps: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    transformations: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
    w: int = 12,
    h: int = 8,
) -> Panel:
    defaults: dict[str, Any] = {
        "unit": unit,
        "thresholds": steps or NEUTRAL,
        "mappings": mappings or [],
        "color": {
            "mode": "thresholds"
            if kind in ("stat", "bargauge", "state-timeline")
            else "palette-classic"
        },
    }
    if custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = links
    p: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": targets,
    }
    if transformations:
        p["transformations"] = transformations
    return p


def stat(title: str, description: str, expr: str, *, legend: str = "", **kw: Any) -> Panel:
    """A stat: one value, or with ``legend`` one value per series (per node)."""
    opts = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "value_and_name" if legend else "value",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    kw.setdefault("w", 4)
    kw.setdefault("h", 4)
    return panel("stat", title, description, [target(expr, legend)], options=opts, **kw)


def graph(title: str, description: str, expr: str, legend: str, **kw: Any) -> Panel:
    opts = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if kw.pop("stacked", False):
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return panel(
        "timeseries", title, description, [target(expr, legend)], options=opts, custom=custom, **kw
    )


def table(title: str, description: str, expr: str, hide: list[str], **kw: Any) -> Panel:
    """An instant table; ``hide``: columns left out (a data link still needs its fields)."""
    organize = {"id": "organize", "options": {"excludeByName": {n: True for n in hide}}}
    return panel(
        "table",
        title,
        description,
        [target(expr, instant=True)],
        options={"showHeader": True, "footer": {"show": False}},
        transformations=[organize],
        **kw,
    )


def timeline(title: str, description: str, queries: list[tuple[str, str]], **kw: Any) -> Panel:
    """A state timeline of 0/1 series (Down/Up), one row per series."""
    opts = {
        "mergeValues": True,
        "showValue": "never",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    targets = [target(e, leg, ref=chr(ord("A") + i)) for i, (e, leg) in enumerate(queries)]
    kw.setdefault("mappings", UP_DOWN)
    kw.setdefault("steps", GOOD_WHEN_POSITIVE)
    custom = {"fillOpacity": 80, "lineWidth": 0}
    return panel("state-timeline", title, description, targets, options=opts, custom=custom, **kw)


def heatmap(title: str, description: str, expr: str, legend: str, **kw: Any) -> Panel:
    """A heatmap with one row per series (not a histogram): counts over time."""
    return _heatmap_panel(title, description, target(expr, legend), y_histogram=False, **kw)


def _heatmap_panel(
    title: str,
    description: str,
    t: dict[str, Any],
    *,
    y_histogram: bool,
    y_unit: str = "",
    **kw: Any,
) -> Panel:
    """The heatmap panel both kinds share: one orange scale, rows as Grafana lays them out."""
    y_axis: dict[str, Any] = {"axisPlacement": "left", "reverse": False}
    if y_unit:
        y_axis["unit"] = y_unit
    opts = {
        "calculate": False,
        "cellGap": 1,
        "color": {
            "mode": "scheme",
            "scheme": "Oranges",
            "fill": "dark-orange",
            "scale": "exponential",
            "exponent": 0.5,
            "steps": 64,
            "reverse": False,
        },
        "filterValues": {"le": 1e-9},
        "rowsFrame": {"layout": "auto"},
        "yAxis": y_axis,
        "legend": {"show": True},
        "tooltip": {"mode": "single", "yHistogram": y_histogram, "showColorScale": False},
        "showValue": "never",
    }
    custom = {"scaleDistribution": {"type": "linear"}}
    return panel("heatmap", title, description, [t], options=opts, custom=custom, **kw)


def row(title: str) -> Panel:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


def layout(panels: list[Panel]) -> list[Panel]:
    """Ids and grid positions: left to right, wrapping at 24 columns."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            y += row_h
            x = row_h = 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            y += h
            x = row_h = 0
    return panels


def var_datasource() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "regex": "",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "includeAll": False,
        "multi": False,
        "options": [],
    }


def var_query(
    name: str, label: str, query: str, *, multi: bool, optional: bool = False
) -> dict[str, Any]:
    """A query variable. ``optional``: the label may be absent from every series
    (``cluster`` outside a federation, ``node`` outside the chart); then the
    variable has only *All* (``.*``, which matches the absent label)."""
    v: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable", "qryType": 1},
        "regex": "",
        "sort": 1,
        "refresh": 2,
        "hide": 0,
        "current": {},
        "options": [],
        "multi": multi,
        "includeAll": multi,
    }
    if multi:
        v["allValue"] = ".*"
    if optional:
        v["description"] = f"Optional: series without a {name} label match All."
    return v


def var_custom(name: str, label: str, values: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "current": {},
        "options": [],
        "hide": 0,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
    }


#: The multi-DC and MetalLB checks (agent.health.dc), one alert each.
DC_CHECKS = "metallb_pod_routes|cidr_overlap|dci_unsummarized|local_only_leak"
VIEWS = ["adj_in_pre", "adj_in_post", "adj_out_pre", "adj_out_post", "loc_rib"]

GAUGE_STATS = (
    "adj_rib_in_routes|loc_rib_routes|adj_rib_in_routes_per_afi|loc_rib_routes_per_afi|"
    "adj_rib_out_(pre|post)_routes(_per_afi)?|adj_rib_in_(pre|post)_routes(_per_afi)?"
)
COUNTER_STATS = (
    "rejected_prefixes|duplicate_prefix_advertisements|duplicate_withdraws|"
    "cluster_list_loop_updates|as_path_loop_updates|originator_id_updates|"
    "as_confed_loop_updates|treat_as_withdraw_updates|treat_as_withdraw_prefixes|"
    "duplicate_updates"
)

FIB_NOTE = (
    " Only agents that run the kernel FIB check (fib: in the config, issue #4) export this;"
    " empty elsewhere."
)


def dashboard(
    uid: str, title: str, description: str, panels: list[Panel], variables: list[Any]
) -> dict[str, Any]:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": layout(panels),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["bgp", "bmp", "bmp-agent"],
        "templating": {"list": variables},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def overview() -> dict[str, Any]:
    sel, ag = OV, AG
    panels: list[Panel] = [
        row("Agents"),
        stat(
            "Agents",
            "Agents that export bmp_agent_build_info: every agent scraped, with or without a router.",
            f"count(bmp_agent_build_info{{{ag}}})",
            steps=GOOD_WHEN_POSITIVE,
        ),
        stat(
            "Agents without a router",
            "Agents that have had no router (BMP session or BIRD socket) since they started"
            " (the BMPAgentNoRouter alert).",
            f"count(bmp_agent_build_info{{{ag}}} unless ignoring (version, python, compiled, router)"
            f" bmp_router_up{{{ag}}}) or vector(0)",
            steps=GOOD_WHEN_ZERO,
        ),
        stat(
            "Time since last BMP message",
            "Per node and router: time since the agent last processed a message from the router"
            " (a stale node shows here even while the others are fresh).",
            per_agent(f"time() - bmp_router_last_message_timestamp_seconds{{{sel}}}"),
            legend="{{agent}} {{router}}",
            unit="s",
            steps=thresholds((None, "green"), (300, "orange"), (900, "red")),
            w=16,
        ),
        timeline(
            "Agent scrape health",
            "Per node: Prometheus's scrape of the agent (up), including agents that are down and"
            " so export nothing else (the BMPAgentDown alert).",
            [(per_agent(f"up{{{ag}}}"), "{{agent}}")],
            w=12,
        ),
        graph(
            "Scrape duration",
            "Per node: how long Prometheus takes to scrape the agent's /metrics.",
            per_agent(f"scrape_duration_seconds{{{ag}}}"),
            "{{agent}}",
            unit="s",
            w=6,
        ),
        graph(
            "Series per agent",
            "Per node: samples in each scrape of the agent (grows with peers and tables).",
            per_agent(f"scrape_samples_scraped{{{ag}}}"),
            "{{agent}}",
            w=6,
        ),
        table(
            "Agent builds",
            "Version, Python and whether the hot path is compiled, per agent.",
            f"bmp_agent_build_info{{{ag}}}",
            ["Time", "__name__", "Value"],
        ),
        graph(
            "Agent memory",
            "Resident memory of each agent.",
            per_agent(f"process_resident_memory_bytes{{{ag}}}"),
            "{{agent}}",
            unit="bytes",
        ),
        row("Sessions"),
        stat(
            "Routers up",
            "Routers with a connected BMP session (or a polled BIRD socket), all selected agents.",
            f"sum(bmp_router_up{{{sel}}})",
            steps=GOOD_WHEN_POSITIVE,
        ),
        stat(
            "Routers down",
            "Routers the agents know whose BMP session is closed.",
            f"sum(1 - bmp_router_up{{{sel}}})",
            steps=GOOD_WHEN_ZERO,
        ),
        stat(
            "Peers up",
            "BGP peers reported established, all selected agents.",
            f"sum(bmp_peer_up{{{sel}}})",
            steps=GOOD_WHEN_POSITIVE,
        ),
        stat(
            "Peers down",
            "BGP peers reported down, including configured neighbors that never came up"
            " (FRR reports those with a Peer Down).",
            f"sum(1 - bmp_peer_up{{{sel}}})",
            steps=GOOD_WHEN_ZERO,
        ),
        stat(
            "Health problems",
            "Failing BGP health checks (subjects), all checks together; see Health below.",
            f"sum(bmp_health_check{{{sel}}})",
            steps=GOOD_WHEN_ZERO,
        ),
        stat(
            "Decode errors (1h)",
            "BMP messages that failed to decode in the last hour.",
            f"sum(increase(bmp_decode_errors_total{{{sel}}}[1h]))",
            steps=GOOD_WHEN_ZERO,
        ),
        table(
            "Routers",
            "Routers from the BMP Initiation (sys_name, sys_descr), the node whose agent sees them"
            " and where the data comes from (source: bmp or bird); State is the session.",
            f"bmp_router_up{{{sel}}} * ignoring (sys_name, sys_descr, source) group_right ()"
            f" bmp_router_info{{{sel}}}",
            ["Time", "__name__"],
            mappings=UP_DOWN,
        ),
        table(
            "Peers",
            "BGP peers from Peer Up, per node and router; State is the session. A row links to"
            " the peer's detail dashboard.",
            f"bmp_peer_up{{{sel}}} * ignoring (peer_bgp_id, rd, local_asn, local_address, table)"
            f" group_right () bmp_peer_info{{{sel}}}",
            ["Time", "__name__"],
            mappings=UP_DOWN,
            links=[PEER_DETAIL_LINK],
        ),
        timeline(
            "Router sessions",
            "Per node and router: the BMP session (or BIRD socket) up or down over time.",
            [(per_agent(f"bmp_router_up{{{sel}}}"), "{{agent}} {{router}}")],
        ),
        timeline(
            "Peer sessions",
            "Per node, router and peer: the BGP session up or down over time.",
            [(per_agent(f"bmp_peer_up{{{sel}}}"), "{{agent}} {{router}} {{peer}}")],
        ),
        row("Routes"),
        graph(
            "Prefixes per peer, view and AFI",
            "Distinct prefixes in each RIB view of each peer, per node.",
            per_agent(f'sum without (safi) (bmp_rib_prefixes{{{sel}, view=~"$view"}})'),
            "{{agent}} {{router}} {{peer}} {{view}} {{afi}}",
            w=24,
            h=9,
        ),
        graph(
            "Prefix churn",
            "Routes announced and withdrawn per second (Route Monitoring), per node.",
            per_agent(
                "sum without (router, peer, view, afi, safi)"
                f' (rate(bmp_route_updates_total{{{sel}, view=~"$view"}}[$__rate_interval]))'
            ),
            "{{agent}} {{action}}",
            unit="ops",
        ),
        graph(
            "Prefix flaps",
            "Routes withdrawn and re-announced within the flap window, per minute, node and peer.",
            per_agent(
                "sum without (view, afi, safi)"
                f' (rate(bmp_prefix_flaps_total{{{sel}, view=~"$view"}}[$__rate_interval])) * 60'
            ),
            "{{agent}} {{router}} {{peer}}",
            unit="opm",
        ),
        table(
            "Top flapping prefixes",
            "The most flapping prefixes of all selected nodes (flap count since the route was"
            " first seen; each agent's bounded top-N).",
            f'topk(10, bmp_top_flapping_prefix_flaps{{{sel}, view=~"$view"}})',
            ["Time", "__name__"],
        ),
        table(
            "Top flapping peers",
            "The peers with the most Peer Downs in the dashboard's time range, per node.",
            f"topk(10, sum without (reason) (increase(bmp_peer_downs_total{{{sel}}}[$__range])))",
            ["Time"],
        ),
        heatmap(
            "Peer Downs per peer",
            "Peer Down notifications per node, router and peer over time (empty cells: none).",
            per_agent(
                f"sum without (reason) (increase(bmp_peer_downs_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{router}} {{peer}}",
        ),
        graph(
            "Session flaps by reason",
            "Peer Down notifications in the last hour, per node and reason.",
            per_agent(f"sum without (router, peer) (increase(bmp_peer_downs_total{{{sel}}}[1h]))"),
            "{{agent}} {{reason}}",
            stacked=True,
        ),
        stat(
            "Tables without End-of-RIB",
            "Peer tables whose initial dump has not ended (no End-of-RIB yet).",
            f'sum(1 - bmp_eor_received{{{sel}, view=~"$view"}})',
            steps=thresholds((None, "green"), (1, "orange")),
            w=6,
        ),
        stat(
            "Paths",
            "Paths in all views of all peers (with ADD-PATH, more than prefixes).",
            f'sum(bmp_rib_routes{{{sel}, view=~"$view"}})',
            w=6,
        ),
        row("Statistics Reports"),
        graph(
            "Statistics Reports: RIB sizes",
            "The routers' own counts of their RIBs (BMP Statistics Report gauges, types 7-10,"
            " 14-21), per node.",
            per_agent(f'max without (safi) (bmp_peer_stats{{{sel}, stat=~"{GAUGE_STATS}"}})'),
            "{{agent}} {{router}} {{peer}} {{stat}} {{afi}}",
        ),
        graph(
            "Statistics Reports: rejected and invalid updates",
            "BMP Statistics Report counters (types 0-6, 11-13): prefixes rejected by policy,"
            " duplicates, loops, treat-as-withdraw; per node.",
            per_agent(
                f'max without (afi, safi) (bmp_peer_stats{{{sel}, stat=~"{COUNTER_STATS}"}})'
            ),
            "{{agent}} {{router}} {{peer}} {{stat}}",
        ),
        row("Kernel FIB"),
        graph(
            "FIB drift per node",
            "Per node: BGP-selected routes missing from the kernel or with another next hop"
            " (the BGPFIBDrift alert)." + FIB_NOTE,
            per_agent(
                "sum without (router, afi, table, state)"
                f' (bmp_fib_routes{{{sel}, state=~"missing|nexthop_mismatch"}})'
            ),
            "{{agent}}",
        ),
        graph(
            "FIB routes by state",
            "BGP-selected routes compared with the kernel: in_sync, missing, extra (stale),"
            " nexthop_mismatch; per node." + FIB_NOTE,
            per_agent(f"sum without (table) (bmp_fib_routes{{{sel}}})"),
            "{{agent}} {{router}} {{afi}} {{state}}",
        ),
        graph(
            "FIB drift events",
            "Routes that started to drift, per node and state." + FIB_NOTE,
            per_agent(
                "sum without (router, afi)"
                f" (increase(bmp_fib_drift_events_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{state}}",
        ),
        graph(
            "Kernel routes",
            "Routes in the kernel tables the FIB check reads, per node and protocol." + FIB_NOTE,
            per_agent(f"sum without (table) (bmp_kernel_routes{{{ag}}})"),
            "{{agent}} {{afi}} {{proto}}",
        ),
        stat(
            "Last FIB sync",
            "Per node: time since the kernel table was last compared." + FIB_NOTE,
            per_agent(f"time() - bmp_fib_last_sync_timestamp_seconds{{{ag}}}"),
            legend="{{agent}}",
            unit="s",
            steps=thresholds((None, "green"), (300, "red")),
            w=24,
        ),
        *convergence_panels(sel),
        row("Health and agent"),
        table(
            "Failing health checks",
            "BGP health checks that find a problem now, per node (bmp-agent doctor explains each).",
            f"bmp_health_check{{{sel}}} == 1",
            ["Time", "__name__", "Value"],
        ),
        graph(
            "Health problems by check",
            "Subjects (peers or routers) failing each health check, per node.",
            per_agent(f"sum without (router, peer) (bmp_health_check{{{sel}}})"),
            "{{agent}} {{check}} ({{severity}})",
        ),
        graph(
            "Decode errors",
            "BMP messages that failed to decode, per node, router and error kind.",
            per_agent(f"increase(bmp_decode_errors_total{{{sel}}}[$__rate_interval])"),
            "{{agent}} {{router}} {{error}}",
        ),
        graph(
            "RFC deviations",
            "Known deviations from the RFCs seen from each router (quirks the agent absorbs).",
            per_agent(f"increase(bmp_quirks_total{{{sel}}}[$__rate_interval])"),
            "{{agent}} {{router}} {{quirk}}",
        ),
        graph(
            "BMP messages",
            "BMP messages received per second, per node and type.",
            per_agent(
                f"sum without (router) (rate(bmp_messages_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{type}}",
            unit="ops",
        ),
        # Multi-DC design rules and MetalLB (issue #20): the four checks and the
        # routes per community of interest (rib.count_communities).
        row("Multi-DC and MetalLB"),
        table(
            "MetalLB, CIDR overlap, DCI summaries, local-only leaks",
            "Peers failing metallb_pod_routes, cidr_overlap, dci_unsummarized or local_only_leak"
            " now, per node (bmp-agent doctor lists the prefixes).",
            f'bmp_health_check{{{sel}, check=~"{DC_CHECKS}"}} == 1',
            ["Time", "__name__", "Value"],
        ),
        graph(
            "Routes per community",
            "Routes carrying each community of rib.count_communities (e.g. the local-only and"
            " global-export tags of each DC), summed over the peers of each node, per view.",
            per_agent(
                f'sum without (router, peer) (bmp_rib_community_routes{{{sel}, view=~"$view"}})'
            ),
            "{{agent}} {{community}} {{view}}",
        ),
        graph(
            "Local-only routes towards DCI peers",
            "Routes per community in the views of the peers that local_only_leak flags, per"
            " node (Adj-RIB-Out post-policy: sent to them; Adj-RIB-In: received).",
            per_agent(
                f"bmp_rib_community_routes{{{sel}}}"
                " and ignoring (view, community, check, severity)"
                f' (bmp_health_check{{{sel}, check="local_only_leak"}} == 1)'
            ),
            "{{agent}} {{router}} {{peer}} {{view}} {{community}}",
        ),
    ]
    variables = [var_datasource(), *agent_variables(multi_instance=True)]
    variables += [
        var_query(
            "router",
            "Router",
            f"label_values(bmp_router_info{{{ag}}}, router)",
            multi=True,
        ),
        var_custom("view", "View", VIEWS),
    ]
    return dashboard(
        "bmp-agent-bgp-overview",
        "BGP overview",
        "Agents, routers, BGP sessions, RIB sizes, churn, flaps, FIB drift and health from"
        " bmp-agent, per node.",
        panels,
        variables,
    )


def histogram_heatmap(title: str, description: str, expr: str, **kw: Any) -> Panel:
    """A heatmap of a Prometheus histogram: ``expr`` gives per-``le`` bucket counts."""
    t = target(expr, "{{agent}} {{le}}")
    t["format"] = "heatmap"
    return _heatmap_panel(title, description, t, y_histogram=True, y_unit="s", **kw)


HISTORY_NOTE = (
    " Only agents with the per-prefix history on (history.enabled, issue #19) export this;"
    " empty elsewhere."
)


def convergence_panels(sel: str) -> list[Panel]:
    """The "Convergence and best paths" row (issue #19, ``agent.history``)."""
    return [
        row("Convergence and best paths"),
        *(
            histogram_heatmap(
                f"Convergence time, stage {stage}",
                f"Event-only: {what} Rows: node and bucket (le, seconds)."
                " bmp-agent history --convergence names the prefixes that converged last.",
                per_agent(
                    "sum without (router, stage) (increase(bmp_convergence_seconds_bucket"
                    f'{{{sel}, stage="{stage}"}}[$__rate_interval]))'
                ),
            )
            for stage, what in (
                (
                    "rib",
                    "seconds from a Peer Down or a withdraw burst until the selection (Loc-RIB,"
                    " or the agent's own) stopped changing for the affected prefixes, per node."
                    + HISTORY_NOTE,
                ),
                (
                    "fib",
                    "seconds from a Peer Down or a withdraw burst until the kernel FIB matched"
                    " the new selection, per node." + FIB_NOTE + HISTORY_NOTE,
                ),
            )
        ),
        graph(
            "Convergence time p90 per node",
            "Event-only: 90th percentile of bmp_convergence_seconds per node and stage over the"
            " last hour (fib: kernel FIB check agents only)." + HISTORY_NOTE,
            per_agent(
                "histogram_quantile(0.9, sum without (router)"
                f" (increase(bmp_convergence_seconds_bucket{{{sel}}}[1h])))"
            ),
            "{{agent}} {{stage}}",
            unit="s",
        ),
        graph(
            "Best-path changes",
            "Best-path changes per second (next hop, AS_PATH or winning peer), from Loc-RIB or"
            " the agent's own selection, per node, router and family." + HISTORY_NOTE,
            per_agent(
                "sum without (view)"
                f" (rate(bmp_rib_best_path_changes_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{router}} {{afi}} {{safi}}",
            unit="ops",
        ),
        graph(
            "History evictions",
            "Per node: per-prefix history events evicted per second to stay within"
            " history.max_events (high: the history covers a short time; raise the budget)."
            + HISTORY_NOTE,
            per_agent(f"rate(bmp_history_evicted_events_total{{{AG}}}[$__rate_interval])"),
            "{{agent}}",
            unit="ops",
        ),
    ]


def agent_variables(*, multi_instance: bool) -> list[dict[str, Any]]:
    """``job``, ``cluster`` (optional), ``node`` (optional: the chart's label)
    and ``instance``, from ``bmp_agent_build_info``: every agent is listed,
    with or without a router."""
    return [
        var_query("job", "Job", "label_values(bmp_agent_build_info, job)", multi=True),
        var_query(
            "cluster",
            "Cluster",
            'label_values(bmp_agent_build_info{job=~"$job"}, cluster)',
            multi=True,
            optional=True,
        ),
        var_query(
            "node",
            "Node",
            'label_values(bmp_agent_build_info{job=~"$job", cluster=~"$cluster"}, node)',
            multi=True,
            optional=True,
        ),
        var_query(
            "instance",
            "Agent",
            "label_values(bmp_agent_build_info"
            '{job=~"$job", cluster=~"$cluster", node=~"$node"}, instance)',
            multi=multi_instance,
        ),
    ]


#: From a row of the overview's Peers table to that peer's detail dashboard.
PEER_DETAIL_LINK = {
    "title": "Peer detail: ${__data.fields.peer} of ${__data.fields.router}"
    " on ${__data.fields.instance}",
    "url": "/d/bmp-agent-peer-detail/bgp-peer-detail?${datasource:queryparam}"
    "&var-job=${__data.fields.job}&var-node=${__data.fields.node}"
    "&var-instance=${__data.fields.instance}&var-router=${__data.fields.router}"
    "&var-peer=${__data.fields.peer}&${__url_time_range}",
    "targetBlank": False,
}


def peer_detail() -> dict[str, Any]:
    sel = PD
    panels: list[Panel] = [
        row("Session"),
        stat(
            "State",
            "BGP session state reported by the router.",
            f"max(bmp_peer_up{{{sel}}})",
            mappings=UP_DOWN,
            steps=GOOD_WHEN_POSITIVE,
        ),
        stat(
            "Since last change",
            "Time since the session last went up or down.",
            f"time() - max(bmp_peer_last_change_timestamp_seconds{{{sel}}})",
            unit="dtdurations",
            steps=NEUTRAL,
        ),
        stat(
            "Peer Downs",
            "Peer Down notifications since the agent started.",
            f"sum(bmp_peer_downs_total{{{sel}}})",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        table(
            "Peer",
            "Peer AS, BGP identifier, type, route distinguisher and the local side, from Peer Up;"
            " the node and agent that see it.",
            f"bmp_peer_info{{{sel}}}",
            ["Time", "__name__", "Value"],
            w=12,
            h=4,
        ),
        row("Routes"),
        graph(
            "Prefixes by view and AFI",
            "Distinct prefixes in each RIB view.",
            per_agent(f"bmp_rib_prefixes{{{sel}}}"),
            "{{agent}} {{view}} {{afi}}/{{safi}}",
        ),
        graph(
            "Paths by view and AFI",
            "Paths in each RIB view (with ADD-PATH, more than prefixes).",
            per_agent(f"bmp_rib_routes{{{sel}}}"),
            "{{agent}} {{view}} {{afi}}/{{safi}}",
        ),
        graph(
            "Announcements and withdrawals",
            "Routes announced and withdrawn per second, by view.",
            per_agent(
                "sum without (afi, safi)"
                f" (rate(bmp_route_updates_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{view}} {{action}}",
            unit="ops",
        ),
        graph(
            "Prefix flaps",
            "Routes withdrawn and re-announced within the flap window.",
            per_agent(
                f"sum without (safi) (increase(bmp_prefix_flaps_total{{{sel}}}[$__rate_interval]))"
            ),
            "{{agent}} {{view}} {{afi}}",
        ),
        table(
            "Top flapping prefixes",
            "This peer's most flapping prefixes (among the agent's bounded top-N).",
            f"topk(10, bmp_top_flapping_prefix_flaps{{{sel}}})",
            ["Time", "__name__", "job", "instance", "router", "peer"],
        ),
        graph(
            "Peer Downs by reason",
            "Peer Down notifications in the last hour, by reason.",
            per_agent(f"increase(bmp_peer_downs_total{{{sel}}}[1h])"),
            "{{agent}} {{reason}}",
        ),
        graph(
            "Statistics Reports",
            "Last value of each BMP Statistics Report type the router sends for this peer.",
            per_agent(f"bmp_peer_stats{{{sel}}}"),
            "{{agent}} {{stat}} {{afi}}",
            w=24,
        ),
        table(
            "End-of-RIB",
            "Whether the initial dump of each table has ended.",
            f"bmp_eor_received{{{sel}}}",
            ["Time", "__name__", "job", "instance", "router", "peer"],
            mappings=value_mapping(("pending", "orange"), ("received", "green")),
        ),
        table(
            "Health checks",
            "The per-peer health checks evaluated for this peer: 1 = problem, 0 = fine.",
            f"bmp_health_check{{{sel}}}",
            ["Time", "__name__", "job", "instance", "router", "peer"],
            mappings=value_mapping(("ok", "green"), ("problem", "red")),
        ),
        graph(
            "Routes per community",
            "Routes of this peer carrying each community of rib.count_communities, per view.",
            per_agent(f"bmp_rib_community_routes{{{sel}}}"),
            "{{agent}} {{view}} {{community}}",
        ),
    ]
    variables = [var_datasource(), *agent_variables(multi_instance=False)]
    variables += [
        var_query(
            "router",
            "Router",
            'label_values(bmp_router_info{job=~"$job", instance="$instance"}, router)',
            multi=False,
        ),
        var_query(
            "peer",
            "Peer",
            'label_values(bmp_peer_info{job=~"$job", instance="$instance", router="$router"}, peer)',
            multi=False,
        ),
    ]
    return dashboard(
        "bmp-agent-peer-detail",
        "BGP peer detail",
        "One BGP peer of one router on one node: session, RIB views, churn, flaps, Statistics"
        " Reports, health.",
        panels,
        variables,
    )


DASHBOARDS = {"bgp-overview.json": overview, "peer-detail.json": peer_detail}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("out of date (run deploy/gen_dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
