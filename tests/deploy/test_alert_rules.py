"""Alert rules: ``promtool check rules`` and ``promtool test rules``.

deploy/prometheus/bmp-agent.rules.test.yaml (one agent) and
bmp-agent.rules.fleet.test.yaml (three nodes of one rack behind one
Prometheus: the same ``router="127.0.0.1"`` and the same ToR peer address on
each) make every alert fire and stay silent. The tests here also prove the
unit tests bite: with any one alert removed from the rules, ``promtool test
rules`` fails on that alert; and with the single-node expressions of the
first release (which grouped and matched on ``router``/``peer`` alone), the
fleet tests fail on each of the four alerts that had that defect.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from deploy_support import (
    ALERTS,
    CHART,
    RULES,
    RULES_FLEET_TEST,
    RULES_TESTS,
    RUNBOOK_URL,
    load_yaml,
    run,
    tool,
)

#: The labels that tell one agent from another (target labels: Prometheus's
#: own, the chart's node, the operator's pod/namespace, a federation's cluster).
IDENTITY = {"job", "instance", "node", "pod", "namespace", "cluster"}
NODE = "{{ with $labels.node }}{{ . }}{{ else }}{{ $labels.instance }}{{ end }}"

#: The expressions of the first release, which only ever saw one agent.
SINGLE_NODE_EXPRS = {
    "BGPPeerFlapping": (
        "sum by (router, peer) (bmp_peer_downs_total"
        " - (bmp_peer_downs_total offset 15m or bmp_peer_downs_total * 0)) >= 3"
    ),
    "BGPPeerDown": "(bmp_peer_up == 0) and on (router) (bmp_router_up == 1)",
    "BGPPrefixCountDrop": (
        '((max_over_time(bmp_rib_prefixes{view=~"adj_in_post|loc_rib"}[10m])'
        ' - bmp_rib_prefixes{view=~"adj_in_post|loc_rib"})'
        ' / max_over_time(bmp_rib_prefixes{view=~"adj_in_post|loc_rib"}[10m]) > 0.5)'
        ' and max_over_time(bmp_rib_prefixes{view=~"adj_in_post|loc_rib"}[10m]) >= 10'
        " unless on (router, peer) (bmp_peer_up == 0)"
    ),
    "BMPDecodeErrors": (
        "sum by (router, error) (bmp_decode_errors_total"
        " - (bmp_decode_errors_total offset 10m or bmp_decode_errors_total * 0)) > 0"
    ),
}


def _alerts(rules: dict[str, object] | None = None) -> dict[str, dict[str, object]]:
    doc = rules if rules is not None else load_yaml(RULES)
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}  # type: ignore[index]


def _promtool_test(rules: dict[str, object], test: Path, tmp: Path) -> str:
    (tmp / RULES.name).write_text(yaml.safe_dump(rules))
    shutil.copy(test, tmp / test.name)
    proc = run([tool("promtool"), "test", "rules", test.name], cwd=tmp, check=False)
    assert proc.returncode == 1, proc.stdout
    return proc.stdout + proc.stderr


def test_promtool_check_rules() -> None:
    out = run([tool("promtool"), "check", "rules", str(RULES)]).stdout
    assert f"SUCCESS: {len(ALERTS)} rules found" in out


@pytest.mark.parametrize("tests", RULES_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(tests: Path) -> None:
    proc = run([tool("promtool"), "test", "rules", str(tests)], cwd=RULES.parent)
    assert "SUCCESS" in proc.stdout


def test_every_alert_fires_and_stays_silent_in_the_unit_tests() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in RULES_TESTS:
        for t in load_yaml(path)["tests"]:
            for case in t.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fired == set(ALERTS)
    assert silent == set(ALERTS)


def test_fleet_tests_fire_for_exactly_the_node_at_fault() -> None:
    """Every alert fires in a fleet test whose input spans three nodes with the
    same router label, for some of them only, and names each by ``node``."""
    checked: set[str] = set()
    for t in load_yaml(RULES_FLEET_TEST)["tests"]:
        nodes = set(re.findall(r'node="([^"]+)"', " ".join(s["series"] for s in t["input_series"])))
        routers = set(
            re.findall(r'router="([^"]+)"', " ".join(s["series"] for s in t["input_series"]))
        )
        for case in t.get("alert_rule_test", []):
            if not case.get("exp_alerts"):
                continue
            name = case["alertname"]
            if name == "BMPAgentAbsent":  # no target, so no node to name
                assert [a["exp_labels"] for a in case["exp_alerts"]] == [
                    {"severity": "critical", "job": "bmp-agent"}
                ]
                checked.add(name)
                continue
            assert nodes == {"node-a", "node-b", "node-c"}, t["name"]
            assert routers <= {"127.0.0.1"}, t["name"]
            firing = {a["exp_labels"]["node"] for a in case["exp_alerts"]}
            assert firing < nodes, (t["name"], firing)
            for a in case["exp_alerts"]:
                node = a["exp_labels"]["node"]
                assert f" {node}" in a["exp_annotations"]["summary"], (t["name"], a)
            checked.add(name)
    assert checked == set(ALERTS)


@pytest.mark.parametrize("tests", RULES_TESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("alert", ALERTS)
def test_unit_tests_fail_without_the_alert(alert: str, tests: Path, tmp_path: Path) -> None:
    fires_here = any(
        case["alertname"] == alert and case.get("exp_alerts")
        for t in load_yaml(tests)["tests"]
        for case in t.get("alert_rule_test", [])
    )
    if not fires_here:
        pytest.skip(f"{tests.name} has no case where {alert} fires")
    rules = load_yaml(RULES)
    for g in rules["groups"]:
        g["rules"] = [r for r in g["rules"] if r["alert"] != alert]
    out = _promtool_test(rules, tests, tmp_path)
    assert f"alertname: {alert}," in out


@pytest.mark.parametrize("alert", sorted(SINGLE_NODE_EXPRS))
def test_fleet_tests_fail_on_the_single_node_expression(alert: str, tmp_path: Path) -> None:
    """The four defects of issue #16, each on its own: today's rules with one
    expression put back as it was fail the fleet test of that alert."""
    rules = load_yaml(RULES)
    _alerts(rules)[alert]["expr"] = SINGLE_NODE_EXPRS[alert]
    out = _promtool_test(rules, RULES_FLEET_TEST, tmp_path)
    failed = set(re.findall(r"alertname: (\w+),", out))
    assert failed == {alert}, out
    assert f"name: {alert}, fleet," in out


def _groupings(expr: str) -> list[tuple[str, set[str]]]:
    return [
        (kw, {label.strip() for label in labels.split(",") if label.strip()})
        for kw, labels in re.findall(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)", expr)
    ]


@pytest.mark.parametrize("alert", ALERTS)
def test_rules_keep_the_agent_identity(alert: str) -> None:
    """No aggregation or vector match loses the target labels: ``by``/``on``
    would have to list them all, so the rules use ``without``/``ignoring``
    with metric labels only, and no aggregation goes without one of them."""
    expr = str(_alerts()[alert]["expr"])
    for kw, labels in _groupings(expr):
        assert kw in ("without", "ignoring"), f"{alert}: {kw} ({', '.join(labels)})"
        assert not labels & IDENTITY, f"{alert}: {kw} drops {labels & IDENTITY}"
    bare = re.findall(r"\b(sum|min|max|avg|count|group|topk|bottomk|quantile)\s*\(", expr)
    assert not bare, f"{alert}: {bare} aggregates over every agent"


def test_grouping_check_bites() -> None:
    assert _groupings(SINGLE_NODE_EXPRS["BGPPeerDown"]) == [("on", {"router"})]
    assert _groupings(SINGLE_NODE_EXPRS["BMPDecodeErrors"]) == [("by", {"router", "error"})]


def test_alerts_are_the_contract() -> None:
    alerts = _alerts()
    assert list(alerts) == list(ALERTS)
    readme = (CHART / "README.md").read_text()
    for name, rule in alerts.items():
        ann = rule["annotations"]
        assert isinstance(ann, dict)
        assert set(ann) == {"summary", "description", "runbook_url"}, name
        # the summary names the node (or, with no target at all, the job)
        if name == "BMPAgentAbsent":
            assert "$labels.job" in ann["summary"], name
        else:
            assert NODE in ann["summary"], name
            assert "$labels.instance" in ann["description"], name
        # alerts about a router name it (the BMPAgent* ones are about the agent)
        if not name.startswith("BMPAgent"):
            assert "$labels.router" in ann["summary"] and "$labels.router" in ann["description"]
        assert ann["runbook_url"] == RUNBOOK_URL.format(anchor=name.lower()), name
        assert re.search(rf"^#### {name}$", readme, re.M), (
            f"no runbook for {name} in the chart README"
        )
        labels = rule.get("labels", {})
        assert isinstance(labels, dict)
        # BGPHealthCheck keeps the check's own severity label
        if name != "BGPHealthCheck":
            assert labels.get("severity") in ("critical", "warning"), name
