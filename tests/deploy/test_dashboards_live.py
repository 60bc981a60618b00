"""The Grafana dashboards against a real agent and a real Prometheus.

Static: the JSON files are what deploy/gen_dashboards.py generates, every query
uses the ``datasource`` variable, and every ``bmp_*`` metric a panel names is
in the metric contract.

Live: ``bmp-agent run`` on loopback, Prometheus (the Debian 2.42 binary, a
private data dir) scraping it every second; ``bmp-agent replay --hold`` feeds it
frr-basic, frr-mistakes and gobgp-basic (three routers), then one malformed
message from a fourth connection (a decode error, and a router that is down).
Then every panel's PromQL goes through Prometheus's HTTP API with the
dashboard's variables resolved the way Grafana does (``label_values`` through
the series API; *All* as ``.*``):

* every panel returns data, unless its description starts with ``Event-only:``
  (then it must be valid PromQL);
* except panels on a metric family the agent does not export at all, which
  must then be one of ``CONDITIONAL`` (with the reason). When the agent exports
  the family (``bmp_health_check`` once the health checks are wired in), its
  panels are required like any other.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DASHBOARDS, REPO, free_port, run, tool
from prometheus_client.parser import text_string_to_metric_families

from agent.cli.replay import count_messages

CAPTURES = REPO / "tests" / "data" / "captures"
REPLAYED = ("frr-basic", "frr-mistakes", "gobgp-basic")

#: Metric families a capture replay cannot produce, with the reason. Their
#: panels must be valid PromQL; they must return data whenever the agent
#: exports the family.
CONDITIONAL = {
    "bmp_fib_routes": "kernel FIB check (issue #4): needs fib: enabled and BGP routes in the kernel",
    "bmp_fib_drift_events_total": "kernel FIB check (issue #4): only after drift was seen",
    "bmp_kernel_routes": "kernel FIB check (issue #4): needs fib: enabled",
    "bmp_fib_last_sync_timestamp_seconds": "kernel FIB check (issue #4): needs fib: enabled",
    "bmp_health_check": "health checks (issue #8): before they are wired into the daemon",
    "bmp_convergence_seconds_bucket": "convergence (issue #19): needs history.enabled, and"
    " only after a Peer Down or a withdraw burst",
    "bmp_rib_best_path_changes_total": "best-path changes (issue #19): needs history.enabled",
}

#: Families of agent/history/component.py that every agent exports (issue #19).
HISTORY_FAMILIES = {"bmp_history_evicted_events_total"}

#: The metric contract: agent/export/metrics.py plus the FIB, health and history families.
SIBLING_FAMILIES = set(CONDITIONAL) | HISTORY_FAMILIES


def contract() -> set[str]:
    doc = (REPO / "agent" / "export" / "metrics.py").read_text()
    names = set(re.findall(r"^(bmp_[a-z_]+)\s+(?:gauge|counter)\b", doc, re.M))
    # the 18 families of issue #3 at least (others get added, never renamed)
    assert len(names) >= 18 and "bmp_router_up" in names, names
    return names


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard["panels"]:
        if p["type"] == "row":
            yield from p.get("panels", [])
        else:
            yield p


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return data


METRIC = re.compile(r"\b((?:bmp|process)_[a-z_]+)\b")

# --------------------------------------------------------------------------- static


def test_dashboards_are_generated() -> None:
    run([sys.executable, str(REPO / "deploy" / "gen_dashboards.py"), "--check"])


@pytest.mark.parametrize("name", ["bgp-overview.json", "peer-detail.json"])
def test_dashboard_structure(name: str) -> None:
    d = _load(name)
    text = json.dumps(d)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    # every datasource reference is the variable: no hard-coded UIDs
    uids = re.findall(r'"uid": "([^"]*)"', text)
    assert set(uids) - {"-- Grafana --", d["uid"]} == {"${datasource}"}
    known = contract() | SIBLING_FAMILIES
    titles = set()
    for p in _panels(d):
        assert p["title"] not in titles, p["title"]
        titles.add(p["title"])
        assert p["targets"], p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert p["description"], p["title"]
        for t in p["targets"]:
            for metric in METRIC.findall(t["expr"]):
                if metric.startswith("bmp_"):
                    assert metric in known, f"{p['title']}: {metric} is not in the metric contract"


def test_overview_has_the_required_panels() -> None:
    titles = {p["title"] for p in _panels(_load("bgp-overview.json"))}
    for title in (
        "Routers up",
        "Peers up",
        "Peers down",
        "Prefixes per peer, view and AFI",
        "Session flaps by reason",
        "Prefix churn",
        "Top flapping prefixes",
        "FIB routes by state",
        "Decode errors",
        "Statistics Reports: RIB sizes",
        "Statistics Reports: rejected and invalid updates",
    ):
        assert title in titles
    peer = {v["name"] for v in _load("peer-detail.json")["templating"]["list"]}
    assert {"datasource", "router", "peer"} <= peer


IDENTITY = {"job", "cluster", "node", "instance"}


@pytest.mark.parametrize("name", ["bgp-overview.json", "peer-detail.json"])
def test_dashboards_keep_the_nodes_apart(name: str) -> None:
    """Many agents behind one Prometheus (issue #16): the agent variables come
    from bmp_agent_build_info, no query aggregates or joins the target labels
    away, and every legend of a multi-series panel names the node."""
    d = _load(name)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    for var in ("job", "cluster", "node", "instance"):
        assert variables[var]["definition"].startswith("label_values(bmp_agent_build_info"), var
    assert variables["cluster"]["description"].startswith("Optional:")
    assert variables["node"]["description"].startswith("Optional:")
    for p in _panels(d):
        for t in p["targets"]:
            expr = t["expr"]
            for kw, labels in re.findall(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)", expr):
                assert kw in ("without", "ignoring"), f"{p['title']}: {kw} ({labels})"
                assert not {x.strip() for x in labels.split(",")} & IDENTITY, p["title"]
            # every selector names the agents (process_* and up of other jobs too)
            for sel in re.findall(r"\b(?:bmp|process|up|scrape)[a-z_]*\{([^}]*)\}", expr):
                assert 'job=~"$job"' in sel and "instance" in sel, f"{p['title']}: {{{sel}}}"
            many = p["type"] in ("timeseries", "state-timeline", "heatmap") or (
                p["type"] == "stat" and t["legendFormat"] != "__auto"
            )
            if many:
                assert t["legendFormat"].startswith("{{agent}}"), p["title"]
                assert '"agent", "$1", "node", "(.+)")' in expr, p["title"]
            elif p["type"] == "stat":
                # a headline total: one number over every selected agent
                assert re.match(r"^(sum|count|max|time\(\) - max)\(", expr), p["title"]


def test_overview_has_the_fleet_panels() -> None:
    panels = {p["title"]: p for p in _panels(_load("bgp-overview.json"))}
    kinds = {
        "Time since last BMP message": "stat",
        "Router sessions": "state-timeline",
        "Peer sessions": "state-timeline",
        "Peer Downs per peer": "heatmap",
        "Top flapping peers": "table",
        "Top flapping prefixes": "table",
        "FIB drift per node": "timeseries",
        "Agent scrape health": "state-timeline",
        "Agents": "stat",
        "Agents without a router": "stat",
    }
    assert {t: panels[t]["type"] for t in kinds} == kinds
    (link,) = panels["Peers"]["fieldConfig"]["defaults"]["links"]
    assert link["url"].startswith("/d/bmp-agent-peer-detail/")
    for var in ("instance", "router", "peer"):
        assert f"var-{var}=${{__data.fields.{var}}}" in link["url"]


# --------------------------------------------------------------------------- live


def _get(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def _wait(what: str, cond: Any, timeout: float = 60, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except OSError:
            last = None
        if last:
            return last
        time.sleep(step)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


@dataclass
class Stack:
    agent_http: str
    prom: str
    tmp: Path

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.agent_http}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    def samples(self) -> dict[str, float]:
        """Sum of each sample name over its series."""
        out: dict[str, float] = {}
        for fam in text_string_to_metric_families(self.metrics()):
            for s in fam.samples:
                out[s.name] = out.get(s.name, 0.0) + s.value
        return out

    def query(self, expr: str) -> dict[str, Any]:
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            data: dict[str, Any] = _get(url)
        except urllib.error.HTTPError as exc:
            data = json.loads(exc.read().decode())
        return data

    def label_values(self, match: str, label: str) -> list[str]:
        url = f"{self.prom}/api/v1/series?" + urllib.parse.urlencode({"match[]": match})
        data = _get(url)
        assert data["status"] == "success", data
        return sorted({s[label] for s in data["data"] if label in s})


def _bin(name: str) -> list[str]:
    """The installed bmp-agent script when there is one, else the module."""
    venv = REPO / ".venv" / "bin" / name
    if venv.exists():
        return [str(venv)]
    return [sys.executable, "-m", "agent.cli"]


def _spawn(
    cmd: list[str], log: Path, procs: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    procs.append(p)
    return p


def start_prometheus(
    tmp: Path, http: int, pport: int, procs: list[subprocess.Popen[bytes]]
) -> Stack:
    """Once the agent on ``http`` is ready: Prometheus 2.42 scraping it every second."""
    st = Stack(f"http://127.0.0.1:{http}", f"http://127.0.0.1:{pport}", tmp)
    _wait(
        "agent /readyz",
        lambda: urllib.request.urlopen(f"{st.agent_http}/readyz", timeout=2).status == 200,
    )
    (tmp / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: bmp-agent\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{http}']\n"
    )
    run_prometheus(tmp, pport, procs)
    return st


def run_prometheus(tmp: Path, pport: int, procs: list[subprocess.Popen[bytes]]) -> str:
    """Prometheus on ``tmp/prometheus.yml`` listening on 127.0.0.1:``pport``, once
    ready: its URL."""
    _spawn(
        [tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{pport}",
         "--log.level=warn"],
        tmp / "prometheus.log", procs,
    )  # fmt: skip
    url = f"http://127.0.0.1:{pport}"
    _wait(
        "prometheus ready",
        lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200,
    )
    return url


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _bad_capture(path: Path) -> None:
    """One Initiation whose TLV runs past the end of the message."""
    body = struct.pack("!HH", 0, 100)
    path.write_bytes(struct.pack("!BIB", 3, 6 + len(body), 4) + body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live")
    bmp, http, pport = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    agent = _bin("bmp-agent")
    try:
        # the multi-DC panels need data: frr-basic's and frr-mistakes' peer
        # 10.0.1.2 taken for a DCI peer, its 65001:100 tag for local-only
        # (three replays from 127.0.0.1 at once: bmp.max_sessions_per_address is 2)
        (tmp / "agent.yaml").write_text(
            "bmp:\n  max_sessions_per_address: 4\n"
            "rib:\n  count_communities: ['65001:100', '4200000001:1:0']\n"
            "health:\n  dci_peers: ['10.0.1.2/32']\n  local_only_communities: ['65001:100']\n"
        )
        _spawn(
            [*agent, "run", "--config", str(tmp / "agent.yaml"), "--bmp-listen",
             f"127.0.0.1:{bmp}", "--http-listen", f"127.0.0.1:{http}", "--log-level", "warning",
             "--log-format", "json"],
            tmp / "agent.log", procs,
        )  # fmt: skip
        st = start_prometheus(tmp, http, pport, procs)
        # the captures, one router each, in a known order (router labels 127.0.0.1, #2, #3)
        expected = 0
        for i, name in enumerate(REPLAYED):
            cap = CAPTURES / f"{name}.bmp"
            expected += count_messages(str(cap))
            _spawn(
                [*agent, "replay", str(cap), "--to", f"127.0.0.1:{bmp}", "--hold"],
                tmp / f"replay-{i}.log",
                procs,
            )
            _wait(
                f"{name} ingested", lambda n=expected: st.samples().get("bmp_messages_total") == n
            )
        bad = tmp / "bad.bmp"
        _bad_capture(bad)
        proc = run([*agent, "replay", str(bad), "--to", f"127.0.0.1:{bmp}"], cwd=REPO)
        assert "replayed 1 messages (10 bytes)" in proc.stdout
        _wait("decode error counted", lambda: st.samples().get("bmp_decode_errors_total") == 1)
        # enough scrapes after the last change for every rate/increase window
        _wait(
            "5 scrapes with the decode error",
            lambda: (
                (r := st.query("count_over_time(bmp_decode_errors_total[1m])")["data"]["result"])
                and float(r[0]["value"][1]) >= 5
            ),
        )
        yield st
    finally:
        stop_all(procs)


GRAFANA_BUILTINS = {"$__rate_interval": "20s", "$__interval": "5s", "$__range": "1h"}


def _expand(expr: str, values: dict[str, str]) -> str:
    for k, v in GRAFANA_BUILTINS.items():
        expr = expr.replace(k, v)
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    # only label_replace's "$1" is left
    assert not re.search(r"\$(?!1\b)", expr), expr
    return expr


def _resolve(stack: Stack, dashboard: dict[str, Any], choose: dict[str, str]) -> dict[str, str]:
    """Variable values as Grafana would have them: multi-value → All (``.*``),
    single-value → ``choose[name]``, which must be among the values the
    variable's query returns."""
    values: dict[str, str] = {}
    for v in dashboard["templating"]["list"]:
        name = v["name"]
        if v["type"] == "datasource":
            continue
        if v["type"] == "custom":
            assert v["includeAll"]
            values[name] = v["allValue"]
            continue
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["definition"])
        assert m, v["definition"]
        found = stack.label_values(_expand(m.group(1), values), m.group(2))
        optional = v.get("description", "").startswith("Optional:")
        assert found or optional, f"variable {name}: {v['definition']} has no values"
        if not found or v["multi"]:
            values[name] = v["allValue"]
        else:
            assert choose[name] in found, (name, found)
            values[name] = choose[name]
        values[f"{name}:found"] = json.dumps(found)
    return values


def _queries(
    stack: Stack, dashboard: dict[str, Any], values: dict[str, str], problems: list[str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any], str, list[dict[str, Any]]]]:
    """(panel, target, query with ``values`` put in, its series) of every target
    of ``dashboard``; a query Prometheus rejects goes to ``problems`` instead."""
    for p in _panels(dashboard):
        for t in p["targets"]:
            expr = _expand(t["expr"], values)
            res = stack.query(expr)
            if res.get("status") != "success":
                problems.append(f"{p['title']}: invalid PromQL {expr!r}: {res.get('error')}")
                continue
            yield p, t, expr, res["data"]["result"]


def _check(stack: Stack, dashboard: dict[str, Any], values: dict[str, str]) -> dict[str, int]:
    exported = set(stack.samples())
    problems: list[str] = []
    report: dict[str, int] = {}
    for p, _, expr, series in _queries(stack, dashboard, values, problems):
        event_only = p["description"].startswith("Event-only:")
        n = len(series)
        report[p["title"]] = n
        missing = {m for m in METRIC.findall(expr) if m not in exported}
        if n or event_only:
            continue
        if missing and missing <= set(CONDITIONAL):
            continue
        problems.append(f"{p['title']}: no data from {expr!r} (not exported: {sorted(missing)})")
    print(f"\n{dashboard['title']}:")
    for title, n in report.items():
        print(f"  {n:4d} series  {title}")
    assert not problems, "\n".join(problems)
    return report


def _value(stack: Stack, expr: str) -> float:
    res = stack.query(expr)["data"]["result"]
    assert len(res) == 1, (expr, res)
    return float(res[0]["value"][1])


def test_overview_panels_return_data(stack: Stack) -> None:
    d = _load("bgp-overview.json")
    values = _resolve(stack, d, {})
    assert json.loads(values["instance:found"]) == [stack.agent_http.removeprefix("http://")]
    assert json.loads(values["router:found"]) == [
        "127.0.0.1",
        "127.0.0.1#2",
        "127.0.0.1#3",
        "127.0.0.1#4",
    ]
    report = _check(stack, d, values)
    stats = {p["title"]: p["targets"][0]["expr"] for p in _panels(d) if p["type"] == "stat"}
    # exact values behind the headline stats
    assert _value(stack, _expand(stats["Routers up"], values)) == 3
    assert _value(stack, _expand(stats["Routers down"], values)) == 1
    assert _value(stack, _expand(stats["Peers up"], values)) == stack.samples()["bmp_peer_up"]
    assert report["Routers"] == 4
    assert report["Decode errors"] == 1
    if "bmp_health_check" in stack.samples():
        # frr-mistakes (router #2): default route, public AS 15169, no GR, 200 /32s
        failing = stack.query(_expand('bmp_health_check{router="127.0.0.1#2"} == 1', values))
        checks = {r["metric"]["check"] for r in failing["data"]["result"]}
        assert {
            "default_route_received",
            "public_asn",
            "no_graceful_restart",
            "host_route_flood",
        } <= checks


def test_peer_detail_panels_return_data(stack: Stack) -> None:
    d = _load("peer-detail.json")
    instance = stack.agent_http.removeprefix("http://")
    values = _resolve(stack, d, {"instance": instance, "router": "127.0.0.1", "peer": "10.0.1.2"})
    # frr-basic: peer A, peer B and the never-established passive neighbor
    assert json.loads(values["peer:found"]) == ["10.0.1.2", "10.0.1.99", "fd00:1::2"]
    report = _check(stack, d, values)
    assert report["Top flapping prefixes"] == 2  # 10.244.1.0/24, pre- and post-policy
    flaps = stack.query(
        _expand('bmp_top_flapping_prefix_flaps{router="$router", peer="$peer"}', values)
    )
    assert {
        (r["metric"]["view"], r["metric"]["prefix"], r["value"][1]) for r in flaps["data"]["result"]
    } == {
        ("adj_in_pre", "10.244.1.0/24", "5"),
        ("adj_in_post", "10.244.1.0/24", "5"),
    }
