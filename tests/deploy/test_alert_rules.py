"""Alert rules: ``promtool check rules`` and ``promtool test rules``.

deploy/prometheus/bmp-agent.rules.test.yaml makes every alert fire and stay
silent; the tests here also prove the unit tests bite: with any one alert
removed from the rules, ``promtool test rules`` fails on that alert.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from deploy_support import ALERTS, CHART, RULES, RULES_TEST, load_yaml, run, tool


def _alerts() -> dict[str, dict[str, object]]:
    return {r["alert"]: r for g in load_yaml(RULES)["groups"] for r in g["rules"]}


def test_promtool_check_rules() -> None:
    out = run([tool("promtool"), "check", "rules", str(RULES)]).stdout
    assert f"SUCCESS: {len(ALERTS)} rules found" in out


def test_promtool_unit_tests_pass() -> None:
    proc = run([tool("promtool"), "test", "rules", str(RULES_TEST)], cwd=RULES.parent)
    assert "SUCCESS" in proc.stdout


def test_every_alert_fires_and_stays_silent_in_the_unit_tests() -> None:
    tests = load_yaml(RULES_TEST)["tests"]
    fired: set[str] = set()
    silent: set[str] = set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fired == set(ALERTS)
    assert silent == set(ALERTS)


@pytest.mark.parametrize("alert", ALERTS)
def test_unit_tests_fail_without_the_alert(alert: str, tmp_path: Path) -> None:
    rules = load_yaml(RULES)
    for g in rules["groups"]:
        g["rules"] = [r for r in g["rules"] if r["alert"] != alert]
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    proc = run([tool("promtool"), "test", "rules", RULES_TEST.name], cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert f"alertname: {alert}," in proc.stdout + proc.stderr


def test_alerts_are_the_contract() -> None:
    alerts = _alerts()
    assert list(alerts) == list(ALERTS)
    readme = (CHART / "README.md").read_text()
    for name, rule in alerts.items():
        ann = rule["annotations"]
        assert isinstance(ann, dict)
        assert set(ann) == {"summary", "description", "runbook"}, name
        # the annotations name the series they are about
        assert "$labels.router" in ann["summary"] and "$labels.router" in ann["description"], name
        anchor = ann["runbook"].split("#", 1)[1]
        assert ann["runbook"] == f"charts/bmp-agent/README.md#{anchor}"
        assert re.search(rf"^#### {name}$", readme, re.M), (
            f"no runbook for {name} in the chart README"
        )
        assert anchor == name.lower()
        labels = rule.get("labels", {})
        assert isinstance(labels, dict)
        # BGPHealthCheck keeps the check's own severity label
        if name != "BGPHealthCheck":
            assert labels.get("severity") in ("critical", "warning"), name
