"""One Prometheus, three nodes: the dashboards and alerts against real agents.

Three ``bmp-agent run`` processes on loopback (three BMP and three HTTP ports)
stand for three nodes of one rack, each fed a different capture by ``bmp-agent
replay --hold`` from 127.0.0.1, so every node's router is ``router="127.0.0.1"``
exactly as in a cluster (node-a: frr-basic, node-b: gobgp-basic, node-c:
frr-mistakes plus one malformed message from a second connection). A fourth
target, node-d, has no agent behind its port (an agent that is down). One
Prometheus 2.42 scrapes all four every second with a ``node`` target label, as
the chart's ServiceMonitor/PodMonitor relabel it from
``__meta_kubernetes_pod_node_name``, and evaluates the alert rules.

* Every dashboard query (variables resolved as Grafana does, *All* = ``.*``)
  keeps the nodes apart: every series of a panel whose legend names the node
  carries it, no two series of a panel render the same legend, the panels
  show exactly the nodes whose agent exports the family, and per-node panels
  one series per node. Spot checks compare with each agent's own /metrics.
* The alerts that Prometheus evaluates (``/api/v1/alerts``) name the right
  node: exactly the expected set of (alert, node, labels) fires.

The rules are deploy/prometheus/bmp-agent.rules.yaml with two changes only,
made here: the group's evaluation interval is 1s and every ``for:`` is 2s
(the real 5-15 minutes would not fit a CI test; expressions, labels and
annotations are the real ones, so what fires and what it says is too).
Prometheus starts after the captures are ingested, so it sees only the final
state of each agent (a scrape in the middle of a replay could see a table
before GoBGP's final withdrawals and make BGPPrefixCountDrop depend on timing).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import REPO, RULES, free_port, load_yaml, run, tool
from prometheus_client.parser import text_string_to_metric_families
from test_dashboards_live import (
    CONDITIONAL,
    METRIC,
    Stack,
    _bad_capture,
    _bin,
    _expand,
    _get,
    _load,
    _panels,
    _queries,
    _resolve,
    _spawn,
    _wait,
    run_prometheus,
    stop_all,
)

from agent.cli.replay import count_messages

CAPTURES = REPO / "tests" / "data" / "captures"
NODES = {"node-a": "frr-basic", "node-b": "gobgp-basic", "node-c": "frr-mistakes"}
DEAD = "node-d"
FOR = "2s"


@dataclass
class Fleet:
    stack: Stack
    #: node -> the agent's HTTP address (its ``instance``)
    agents: dict[str, str]
    dead: str
    metrics: dict[str, list[Any]] = field(default_factory=dict)

    def families(self, node: str) -> dict[str, Any]:
        """The agent's own /metrics, parsed (samples of each family)."""
        with urllib.request.urlopen(f"http://{self.agents[node]}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return {f.name: f for f in text_string_to_metric_families(text)}

    def node_of(self, instance: str) -> str:
        (node,) = [n for n, a in {**self.agents, DEAD: self.dead}.items() if a == instance]
        return node


def _test_rules(tmp: Path) -> Path:
    """The real rules, evaluated every second, each ``for:`` cut to 2s."""
    rules = load_yaml(RULES)
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = FOR
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    run([tool("promtool"), "check", "rules", str(path)])
    return path


def _agent_total(addr: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("fleet")
    procs: list[subprocess.Popen[bytes]] = []
    agent = _bin("bmp-agent")
    bmp = {node: free_port() for node in NODES}
    agents = {node: f"127.0.0.1:{free_port()}" for node in NODES}
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: an agent that is down
    pport = free_port()
    try:
        for node in NODES:
            # no kernel FIB check: this machine's kernel has none of the captures' routes
            (tmp / f"agent-{node}.yaml").write_text(
                f"bmp:\n  listen: ['127.0.0.1:{bmp[node]}']\n"
                f"http:\n  listen: '{agents[node]}'\n"
                "fib:\n  enabled: false\n"
                "log:\n  level: warning\n  format: json\n"
            )
            _spawn(
                [*agent, "run", "--config", str(tmp / f"agent-{node}.yaml")],
                tmp / f"agent-{node}.log",
                procs,
            )
        for node, addr in agents.items():
            _wait(
                f"{node} /readyz",
                lambda a=addr: (
                    urllib.request.urlopen(f"http://{a}/readyz", timeout=2).status == 200
                ),
            )
        for node, capture in NODES.items():
            _spawn(
                [*agent, "replay", str(CAPTURES / f"{capture}.bmp"), "--to",
                 f"127.0.0.1:{bmp[node]}", "--hold"],
                tmp / f"replay-{node}.log", procs,
            )  # fmt: skip
        for node, capture in NODES.items():
            n = count_messages(str(CAPTURES / f"{capture}.bmp"))
            _wait(
                f"{capture} ingested on {node}",
                lambda a=agents[node], n=n: _agent_total(a, "bmp_messages_total") == n,
            )
        bad = tmp / "bad.bmp"
        _bad_capture(bad)
        proc = run([*agent, "replay", str(bad), "--to", f"127.0.0.1:{bmp['node-c']}"], cwd=REPO)
        assert "replayed 1 messages (10 bytes)" in proc.stdout
        _wait(
            "decode error on node-c",
            lambda: _agent_total(agents["node-c"], "bmp_decode_errors_total") == 1,
        )

        targets = [{"targets": [addr], "labels": {"node": node}} for node, addr in agents.items()]
        targets.append({"targets": [dead], "labels": {"node": DEAD}})
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(_test_rules(tmp))],
            "scrape_configs": [{"job_name": "bmp-agent", "static_configs": targets}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        st = Stack(f"http://{agents['node-a']}", run_prometheus(tmp, pport, procs), tmp)
        # enough scrapes of every target for the rate/increase windows
        _wait(
            "5 scrapes of each target",
            lambda: (
                len(r := st.query("count_over_time(up[1m]) >= 5")["data"]["result"]) == 4
                and all(x["metric"]["job"] == "bmp-agent" for x in r)
            ),
        )
        yield Fleet(st, agents, dead)
    finally:
        stop_all(procs)


# --------------------------------------------------------------------------- dashboards


def _legend(fmt: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


TARGET_LABELS = {"job", "cluster", "node", "instance"}
SELECTOR = re.compile(r"\b((?:bmp|process)_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


def _expected_nodes(expr: str, samples: dict[str, list[Any]]) -> set[str]:
    """The nodes whose agent's own /metrics has a sample for every selector of
    the query (every target for Prometheus's own up/scrape_* series)."""
    if re.search(r"\b(up|scrape_[a-z_]+)\{", expr):
        return {*NODES, DEAD}
    want = set()
    for node in NODES:
        ok = True
        for metric, body in SELECTOR.findall(expr):
            if metric == "bmp_agent_build_info":
                continue
            matchers = [m for m in MATCHER.findall(body) if m[0] not in TARGET_LABELS]
            if not any(s.name == metric and _matches(s.labels, matchers) for s in samples[node]):
                ok = False
        if ok:
            want.add(node)
    return want


def _check_dashboard(
    fleet: Fleet, name: str, choose: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    st = fleet.stack
    d = _load(name)
    values = _resolve(st, d, choose)
    samples = {n: [s for f in fleet.families(n).values() for s in f.samples] for n in NODES}
    problems: list[str] = []
    results: dict[str, list[dict[str, Any]]] = {}
    for p, t, expr, series in _queries(st, d, values, problems):
        results[p["title"]] = series
        legend = t["legendFormat"]
        want = _expected_nodes(expr, samples)
        if "instance" in values and not values["instance"].startswith("."):
            want &= {fleet.node_of(values["instance"])}
        if not want and set(METRIC.findall(expr)) & set(CONDITIONAL):
            continue  # the kernel FIB families: no agent here runs the check
        if p["type"] == "table":
            # every row names its agent; the inventories list every node
            got = {fleet.node_of(s["metric"]["instance"]) for s in series}
            every = p["title"] in ("Routers", "Peers", "Agent builds", "Peer")
            if not got <= want or (every and got != want):
                problems.append(f"{p['title']}: nodes {sorted(got)}, want {sorted(want)}")
            continue
        if not legend.startswith("{{agent}}"):
            continue  # a headline stat: a total over every selected agent
        agents = [s["metric"].get("agent") for s in series]
        if set(agents) != want:
            problems.append(f"{p['title']}: agents {sorted(map(str, agents))}, want {sorted(want)}")
        for s in series:
            m = s["metric"]
            if m.get("agent") != m.get("node") or fleet.node_of(m["instance"]) != m["node"]:
                problems.append(f"{p['title']}: agent label {m} is not the node")
        legends = Counter(_legend(legend, s["metric"]) for s in series)
        dup = [k for k, n in legends.items() if n > 1]
        if dup:
            problems.append(f"{p['title']}: legends {dup} name several series")
        if legend == "{{agent}}" and len(series) != len(want):
            problems.append(f"{p['title']}: {len(series)} series for {len(want)} nodes")
    print(f"\n{d['title']}:")
    for title, series in results.items():
        print(f"  {len(series):4d} series  {title}")
    assert not problems, "\n".join(problems)
    return results


def _per_node(series: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(s["metric"]["node"] for s in series).items()))


def test_variables_list_every_agent(fleet: Fleet) -> None:
    values = _resolve(fleet.stack, _load("bgp-overview.json"), {})
    assert json.loads(values["job:found"]) == ["bmp-agent"]
    assert json.loads(values["cluster:found"]) == []  # optional: no cluster label here
    assert json.loads(values["node:found"]) == sorted(NODES)  # node-d exports nothing
    assert json.loads(values["instance:found"]) == sorted(fleet.agents.values())
    # the same router labels on every node; node-c's second, malformed session is #2
    assert json.loads(values["router:found"]) == ["127.0.0.1", "127.0.0.1#2"]


def test_overview_keeps_the_nodes_apart(fleet: Fleet) -> None:
    res = _check_dashboard(fleet, "bgp-overview.json", {})
    fams = {n: fleet.families(n) for n in NODES}

    def count(node: str, family: str, keys: tuple[str, ...] | None = None) -> int:
        samples = fams[node][family].samples
        return len({tuple(s.labels[k] for k in keys) for s in samples} if keys else samples)

    # per node and router / peer: as many series as the node's agent has
    assert _per_node(res["Time since last BMP message"]) == {
        n: count(n, "bmp_router_last_message_timestamp_seconds") for n in NODES
    }
    assert _per_node(res["Router sessions"]) == {n: count(n, "bmp_router_up") for n in NODES}
    assert _per_node(res["Peer sessions"]) == {n: count(n, "bmp_peer_up") for n in NODES}
    assert _per_node(res["Prefixes per peer, view and AFI"]) == {
        n: count(n, "bmp_rib_prefixes", ("router", "peer", "view", "afi")) for n in NODES
    }
    # the same peer on every node is three lines: all three captures have
    # peer A 10.0.1.2 on router 127.0.0.1
    peer_a = {
        s["metric"]["node"]
        for s in res["Peer sessions"]
        if (s["metric"]["router"], s["metric"]["peer"]) == ("127.0.0.1", "10.0.1.2")
    }
    assert peer_a == set(NODES)
    # the agent that is down shows in scrape health only
    health = {s["metric"]["node"]: s["value"][1] for s in res["Agent scrape health"]}
    assert health == {"node-a": "1", "node-b": "1", "node-c": "1", DEAD: "0"}
    # exact values behind the headline stats
    stats = {t: float(s[0]["value"][1]) for t, s in res.items() if len(s) == 1}
    assert stats["Agents"] == 3
    assert stats["Agents without a router"] == 0
    assert stats["Routers up"] == 3 and stats["Routers down"] == 1
    assert stats["Peers up"] == sum(s.value for n in NODES for s in fams[n]["bmp_peer_up"].samples)
    assert {(s["metric"]["node"], s["metric"]["router"]) for s in res["Decode errors"]} == {
        ("node-c", "127.0.0.1#2")
    }


def test_peers_table_links_to_the_peer_on_its_node(fleet: Fleet) -> None:
    d = _load("bgp-overview.json")
    (peers,) = [p for p in _panels(d) if p["title"] == "Peers"]
    (link,) = peers["fieldConfig"]["defaults"]["links"]
    fields = re.findall(r"\$\{__data\.fields\.(\w+)\}", link["url"])
    assert fields == ["job", "node", "instance", "router", "peer"]
    assert link["url"].startswith(f"/d/{_load('peer-detail.json')['uid']}/")
    hidden = peers["transformations"][0]["options"]["excludeByName"]
    assert not set(fields) & set(hidden)
    # follow the link of node-b's row for peer A: the peer-detail dashboard
    # shows that node's peer only, although node-a has the same router and peer
    values = _resolve(fleet.stack, d, {})
    res = fleet.stack.query(_expand(peers["targets"][0]["expr"], values))["data"]["result"]
    (row,) = [
        r["metric"]
        for r in res
        if (r["metric"]["node"], r["metric"]["router"], r["metric"]["peer"])
        == ("node-b", "127.0.0.1", "10.0.1.2")
    ]
    params = dict(re.findall(r"var-(\w+)=\$\{__data\.fields\.(\w+)\}", link["url"]))
    choose = {var: row[f] for var, f in params.items()}
    detail = _check_dashboard(fleet, "peer-detail.json", choose)
    prefixes = detail["Prefixes by view and AFI"]
    assert {s["metric"]["node"] for s in prefixes} == {"node-b"}
    assert {s["metric"]["peer"] for s in prefixes} == {"10.0.1.2"}


# --------------------------------------------------------------------------- alerts


def _alerts(fleet: Fleet) -> list[dict[str, Any]]:
    data = _get(f"{fleet.stack.prom}/api/v1/alerts")
    assert data["status"] == "success", data
    alerts: list[dict[str, Any]] = data["data"]["alerts"]
    return alerts


KEYS = ("alertname", "node", "router", "peer", "check", "error")


def _key(alert: dict[str, Any]) -> tuple[str, ...]:
    return tuple(alert["labels"].get(k, "") for k in KEYS)


#: What fires, by node (the captures: tests/data/captures/README.md), and
#: nothing else. node-a, frr-basic: the passive neighbor 10.0.1.99 never comes
#: up; FRR reported peers A and B down twice while connecting and once more at
#: the ExaBGP restart (3 Peer Downs each). node-b, gobgp-basic: GoBGP withdrew
#: every post-policy route of peer A before it stopped (pre-policy routes
#: remain). node-c, frr-mistakes: only peer A is configured to come up, with a
#: default route, AS 15169 and 200 host routes; its second session sent one
#: malformed message and closed. ExaBGP offers no graceful restart on any
#: node. node-d: no agent.
EXPECTED = {
    ("BMPAgentDown", DEAD, "", "", "", ""),
    ("BGPPeerDown", "node-a", "127.0.0.1", "10.0.1.99", "", ""),
    ("BGPPeerFlapping", "node-a", "127.0.0.1", "10.0.1.2", "", ""),
    ("BGPPeerFlapping", "node-a", "127.0.0.1", "fd00:1::2", "", ""),
    ("BGPHealthCheck", "node-a", "127.0.0.1", "10.0.1.2", "no_graceful_restart", ""),
    ("BGPHealthCheck", "node-a", "127.0.0.1", "fd00:1::2", "no_graceful_restart", ""),
    ("BGPPeerNoRoutes", "node-b", "127.0.0.1", "10.0.1.2", "", ""),
    ("BGPHealthCheck", "node-b", "127.0.0.1", "10.0.1.2", "no_graceful_restart", ""),
    ("BGPHealthCheck", "node-b", "127.0.0.1", "fd00:1::2", "no_graceful_restart", ""),
    ("BGPPeerDown", "node-c", "127.0.0.1", "10.0.1.99", "", ""),
    ("BGPPeerDown", "node-c", "127.0.0.1", "fd00:1::2", "", ""),
    ("BGPHealthCheck", "node-c", "127.0.0.1", "10.0.1.2", "default_route_received", ""),
    ("BGPHealthCheck", "node-c", "127.0.0.1", "10.0.1.2", "public_asn", ""),
    ("BGPHealthCheck", "node-c", "127.0.0.1", "10.0.1.2", "host_route_flood", ""),
    ("BGPHealthCheck", "node-c", "127.0.0.1", "10.0.1.2", "no_graceful_restart", ""),
    ("BMPRouterDisconnected", "node-c", "127.0.0.1#2", "", "", ""),
    ("BMPDecodeErrors", "node-c", "127.0.0.1#2", "", "", "truncated"),
}


def test_alerts_name_the_node_at_fault(fleet: Fleet) -> None:
    def settled() -> list[dict[str, Any]] | None:
        alerts = _alerts(fleet)
        firing = {_key(a) for a in alerts if a["state"] == "firing"}
        if firing >= EXPECTED and all(a["state"] == "firing" for a in alerts):
            return alerts
        return None

    alerts = _wait("the expected alerts firing", settled, timeout=30, step=0.5)
    assert sorted(_key(a) for a in alerts) == sorted(EXPECTED)  # no alert twice
    for a in alerts:
        node = a["labels"]["node"]
        assert a["labels"]["instance"] == ({**fleet.agents, DEAD: fleet.dead})[node]
        assert f" on {node}" in a["annotations"]["summary"], a
        assert a["annotations"]["runbook_url"].endswith("#" + a["labels"]["alertname"].lower())
    # BGPPeerNoRoutes on node-b, from its agent's own numbers
    prefixes = Counter[str]()
    for sample in fleet.families("node-b")["bmp_rib_prefixes"].samples:
        if sample.labels["peer"] == "10.0.1.2":
            prefixes[sample.labels["view"]] += int(sample.value)
    assert prefixes["adj_in_post"] == 0 and prefixes["adj_in_pre"] > 0, prefixes
