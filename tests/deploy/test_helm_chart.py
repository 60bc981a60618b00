"""The Helm chart, checked with helm itself and the Kubernetes schemas.

- ``helm lint --strict`` and ``helm template`` for the default values and every
  ``ci/*-values.yaml``;
- every rendered built-in object validated by kubernetes-validate (strict:
  unknown fields fail) against a current and the oldest supported Kubernetes;
- the Prometheus Operator objects checked field by field, the PrometheusRule's
  groups against the plain rules file and through ``promtool check rules``;
- the rendered config.yaml loaded by the agent's own config loader;
- ``helm install bmp-agent charts/bmp-agent`` with nothing else, against a
  small stand-in of the Kubernetes API on loopback (discovery, create, release
  storage): every object it creates is recorded and checked.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    ALERTS,
    CHART,
    CI_VALUES,
    DASHBOARDS,
    REPO,
    RULES,
    by_kind,
    helm_env,
    helm_template,
    load_yaml,
    run,
    tool,
)

from agent import config as agent_config

VALUES_CASES = [None, *CI_VALUES]
VALUES_IDS = ["default", *[p.name.removesuffix("-values.yaml") for p in CI_VALUES]]
#: Kubernetes versions the manifests are validated against: chart kubeVersion floor and current.
KUBE_VERSIONS = ("1.25.0", "1.33.0")
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_ci_scenarios_exist() -> None:
    assert [p.name for p in CI_VALUES] == [
        "calico-values.yaml",
        "collector-values.yaml",
        "custom-config-values.yaml",
        "monitoring-values.yaml",
        "podmonitor-values.yaml",
        "secured-values.yaml",
    ]


@pytest.mark.parametrize("values", VALUES_CASES, ids=VALUES_IDS)
def test_helm_lint(values: Path | None, tmp_path: Path) -> None:
    cmd = [tool("helm"), "lint", str(CHART), "--strict"]
    if values is not None:
        cmd += ["--values", str(values)]
    out = run(cmd, env=helm_env(tmp_path)).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.parametrize("values", VALUES_CASES, ids=VALUES_IDS)
def test_rendered_objects_validate(values: Path | None, tmp_path: Path) -> None:
    docs = helm_template(tmp_path, values)
    kinds = sorted(d["kind"] for d in docs)
    assert {"ConfigMap", "ServiceAccount"} <= set(kinds)
    assert len({"DaemonSet", "Deployment"} & set(kinds)) == 1
    for doc in docs:
        if doc["kind"] in OPERATOR_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{doc['kind']} {doc['metadata']['name']} (k8s {version}): {exc.message}"
                )


def _daemonset(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(docs)["DaemonSet"]


def test_defaults(tmp_path: Path) -> None:
    docs = helm_template(tmp_path)
    objs = by_kind(docs)
    assert sorted(objs) == ["ConfigMap", "DaemonSet", "Service", "ServiceAccount"]
    ds = objs["DaemonSet"]
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1},
    }
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert "priorityClassName" not in pod
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert spec["revisionHistoryLimit"] == 10
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [c] = pod["containers"]
    assert c["image"] == "bmp-agent:0.1.0"
    assert c["args"] == ["--config", "/etc/bmp-agent/config.yaml"]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["ports"] == [
        {"name": "bmp", "containerPort": 11019, "protocol": "TCP"},
        {"name": "http", "containerPort": 9324, "protocol": "TCP"},
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTP"}
    assert "env" not in c
    assert c["resources"] == {
        "requests": {"cpu": "50m", "memory": "96Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert {m["mountPath"]: m.get("readOnly", False) for m in c["volumeMounts"]} == {
        "/etc/bmp-agent": True,
        "/tmp": False,
    }
    # the config is the ConfigMap, and a change of it rolls the pods
    assert pod["volumes"][0] == {"name": "config", "configMap": {"name": "bmp-agent"}}
    assert re.fullmatch(
        r"[0-9a-f]{64}", spec["template"]["metadata"]["annotations"]["checksum/config"]
    )
    cfg = yaml.safe_load(objs["ConfigMap"]["data"]["config.yaml"])
    assert cfg == {
        # an IPv4 listener: only IPv4 loopback can reach it from the node itself
        "bmp": {"allow": ["127.0.0.0/8"], "listen": ["0.0.0.0:11019"]},
        "http": {"listen": "0.0.0.0:9324"},
        "log": {"format": "json", "level": "info"},
    }


def _agent_config(text: str, tmp_path: Path) -> agent_config.Config:
    """Load a rendered config.yaml with the agent's loader (as ``bmp-agent run --config``)."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return agent_config.load(path=path, environ={}, flags={})


@pytest.mark.parametrize("values", VALUES_CASES, ids=VALUES_IDS)
def test_rendered_config_loads_in_the_agent(values: Path | None, tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, values))
    text = objs["ConfigMap"]["data"]["config.yaml"]
    cfg = _agent_config(text, tmp_path)
    workload = objs.get("DaemonSet") or objs["Deployment"]
    c = workload["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert [e.port for e in cfg.bmp.listen] == [ports["bmp"]]
    assert cfg.http.listen.port == ports["http"]
    assert cfg.log.format == "json"


def test_calico_switch(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "calico-values.yaml"))
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert {"name": "calico-sockets", "mountPath": "/var/run/calico", "readOnly": True} in c[
        "volumeMounts"
    ]
    assert {
        "name": "calico-sockets",
        "hostPath": {"path": "/var/run/calico", "type": "Directory"},
    } in pod["volumes"]
    # root's UID for the root-owned sockets, but nothing else
    sc = c["securityContext"]
    assert sc["runAsUser"] == 0 and sc["runAsNonRoot"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    raw = yaml.safe_load(objs["ConfigMap"]["data"]["config.yaml"])
    assert raw["sources"] == [
        {"type": "bird", "socket": "/var/run/calico/bird.ctl", "interval": "15s"},
        {"type": "bird", "socket": "/var/run/calico/bird6.ctl", "interval": "15s"},
    ]
    cfg = _agent_config(objs["ConfigMap"]["data"]["config.yaml"], tmp_path)
    assert [s.socket for s in cfg.sources] == [
        "/var/run/calico/bird.ctl",
        "/var/run/calico/bird6.ctl",
    ]
    assert [s.type for s in cfg.sources] == ["bird", "bird"]


def test_calico_non_root_uid(tmp_path: Path) -> None:
    docs = helm_template(
        tmp_path, None, "--set", "calico.enabled=true", "--set", "calico.runAsUser=10001"
    )
    sc = _daemonset(docs)["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert sc["runAsUser"] == 10001 and sc["runAsNonRoot"] is True


def test_monitoring_objects(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "monitoring-values.yaml"))
    assert sorted(objs) == [
        "ConfigMap",
        "DaemonSet",
        "DashboardsConfigMap",
        "PrometheusRule",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    ]
    sm = objs["ServiceMonitor"]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        sm["spec"]["selector"]["matchLabels"]
        == objs["DaemonSet"]["spec"]["selector"]["matchLabels"]
    )
    assert (
        objs["Service"]["spec"]["selector"] == objs["DaemonSet"]["spec"]["selector"]["matchLabels"]
    )
    [ep] = sm["spec"]["endpoints"]
    assert (ep["port"], ep["path"], ep["interval"]) == ("http", "/metrics", "15s")
    assert objs["Service"]["spec"]["ports"][0]["name"] == "http"
    # one target per node, labelled with the node's name (the alerts and
    # dashboards name nodes by it), and the job is the chart name
    assert ep["relabelings"][0] == {
        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
        "targetLabel": "node",
    }
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert objs["Service"]["metadata"]["labels"]["app.kubernetes.io/name"] == "bmp-agent"


def test_dashboards_configmap(tmp_path: Path) -> None:
    cm = by_kind(helm_template(tmp_path, CHART / "ci" / "monitoring-values.yaml"))[
        "DashboardsConfigMap"
    ]
    assert cm["metadata"]["name"] == "bmp-agent-dashboards"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Network"}
    files = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert sorted(files) == ["bgp-overview.json", "peer-detail.json"]
    assert cm["data"] == files
    for text in cm["data"].values():
        json.loads(text)


def _rules_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in doc["spec"]["groups"] for r in g["rules"]}


def _rules_with(tmp_path: Path, *sets: str) -> dict[str, dict[str, Any]]:
    """The PrometheusRule's alerts, rendered with the rule on and ``--set`` each of ``sets``."""
    args = [a for v in ("prometheusRule.enabled=true", *sets) for a in ("--set", v)]
    return _rules_of(by_kind(helm_template(tmp_path, None, *args))["PrometheusRule"])


def test_prometheus_rule_is_the_rules_file(tmp_path: Path) -> None:
    plain = load_yaml(RULES)
    assert (CHART / "files" / "bmp-agent.rules.yaml").read_text() == RULES.read_text()
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "monitoring-values.yaml"))
    rule = objs["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rendered = _rules_of(rule)
    assert list(rendered) == list(ALERTS)
    want = {r["alert"]: r for g in plain["groups"] for r in g["rules"]}
    for name, r in rendered.items():
        # the chart adds only additionalRuleLabels
        expected = dict(want[name])
        expected["labels"] = {**want[name].get("labels", {}), "team": "network"}
        assert r == expected, name
    # what the operator hands to Prometheus passes promtool
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    out = run([tool("promtool"), "check", "rules", str(spec)]).stdout
    assert f"SUCCESS: {len(ALERTS)} rules found" in out


def test_prometheus_rule_runbook_url_and_job(tmp_path: Path) -> None:
    """prometheusRule.runbookUrl is a URL template; the up-based alerts follow
    the job the monitors give the targets (the chart name, nameOverride)."""
    rules = _rules_with(
        tmp_path,
        "nameOverride=bgp-telemetry",
        "prometheusRule.runbookUrl=https://wiki.example.net/bgp/{alert}?s={anchor}",
    )
    assert list(rules) == list(ALERTS)
    for name, rule in rules.items():
        url = f"https://wiki.example.net/bgp/{name}?s={name.lower()}"
        assert rule["annotations"]["runbook_url"] == url
    assert rules["BMPAgentDown"]["expr"] == 'up{job="bgp-telemetry"} == 0'
    assert rules["BMPAgentAbsent"]["expr"] == 'absent(up{job="bgp-telemetry"})'
    rules = _rules_with(tmp_path, "prometheusRule.job=bgp")
    assert rules["BMPAgentDown"]["expr"] == 'up{job="bgp"} == 0'
    pm = by_kind(helm_template(tmp_path, CHART / "ci" / "podmonitor-values.yaml"))["PodMonitor"]
    [ep] = pm["spec"]["podMetricsEndpoints"]
    assert ep["relabelings"][0] == {
        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
        "targetLabel": "node",
    }


def test_podmonitor_scenario(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "podmonitor-values.yaml"))
    assert "Service" not in objs and "ServiceMonitor" not in objs
    pm = objs["PodMonitor"]
    [ep] = pm["spec"]["podMetricsEndpoints"]
    assert (ep["port"], ep["path"]) == ("http", "/metrics")
    assert ep["metricRelabelings"][0]["action"] == "drop"
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-node-critical"
    assert list(_rules_of(objs["PrometheusRule"])) == [a for a in ALERTS if a != "BGPFIBDrift"]
    cfg = yaml.safe_load(objs["ConfigMap"]["data"]["config.yaml"])
    assert cfg["bmp"]["listen"] == ["[::]:1790"] and cfg["http"]["listen"] == "[::]:9325"


def test_custom_scenario(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "custom-config-values.yaml"))
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == (
        "registry.example.internal/network/bmp-agent@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    cfg = _agent_config(objs["ConfigMap"]["data"]["config.yaml"], tmp_path)
    assert cfg.health.host_routes_max == 500
    assert cfg.rib.top_flaps == 20
    assert [str(n) for n in cfg.bmp.allow] == ["127.0.0.0/8", "10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("image.pullPolicy=Sometimes", "image.pullPolicy must be one of"),
        ("ports.bmp=70000", "ports.bmp"),
        ("calico.socketDir=relative/dir", "calico.socketDir"),
        ("prometheusRule.disabledAlerts[0]=NoSuchAlert", "prometheusRule.disabledAlerts.0"),
        ("unknownKey=1", "Additional property unknownKey is not allowed"),
    ],
)
def test_schema_rejects_bad_values(flag: str, message: str, tmp_path: Path) -> None:
    proc = run(
        [tool("helm"), "template", "bmp-agent", str(CHART), "--set", flag],
        env=helm_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr


def test_containerfile_matches_chart() -> None:
    text = (REPO / "Containerfile").read_text()
    values = load_yaml(CHART / "values.yaml")
    uid = values["podSecurityContext"]["runAsUser"]
    assert re.search(rf"^USER {uid}:{values['podSecurityContext']['runAsGroup']}$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["bmp-agent", "run"\]$', text, re.M)
    assert re.search(r'^CMD \["--config", "/etc/bmp-agent/config.yaml"\]$', text, re.M)
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f.startswith("python:3.11-slim") for f in froms)
    assert f"EXPOSE {values['ports']['bmp']}/tcp {values['ports']['http']}/tcp" in text


# ----------------------------------------------------------------------------- helm install


class _FakeApi(BaseHTTPRequestHandler):
    """Just enough of the Kubernetes API for ``helm install``: discovery, and
    create/get/update of the namespaced objects of the default chart."""

    resources: ClassVar[dict[str, list[tuple[str, str]]]] = {
        "v1": [
            ("configmaps", "ConfigMap"),
            ("services", "Service"),
            ("serviceaccounts", "ServiceAccount"),
            ("secrets", "Secret"),
        ],
        "apps/v1": [("daemonsets", "DaemonSet")],
    }
    created: list[dict[str, Any]]
    store: dict[str, dict[str, Any]]

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            },
        )

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if "protobuf" in self.headers.get("Content-Type", ""):
            # helm's release record (a typed Secret, sent as protobuf): keep
            # what the test looks at, answer in JSON (the client accepts both)
            name = re.search(rb"sh\.helm\.release\.v1\.[A-Za-z0-9.-]+", raw)
            return {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name.group().decode() if name else ""},
                "protobuf": raw,
            }
        body: dict[str, Any] = json.loads(raw or b"{}")
        return body

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, {k: v for k, v in body.items() if k != "protobuf"})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/version":
            return self._send(
                200,
                {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "platform": "linux/amd64"},
            )
        if path == "/api":
            return self._send(
                200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            )
        if path == "/apis":
            return self._send(200, {
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}],
            })  # fmt: skip
        for gv, res in self.resources.items():
            prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            if path == prefix:
                return self._send(200, {
                    "kind": "APIResourceList", "groupVersion": gv,
                    "resources": [{"name": n, "singularName": n[:-1], "namespaced": True, "kind": k,
                                   "verbs": ["create", "get", "list", "update", "patch", "delete"]} for n, k in res],
                })  # fmt: skip
        if path.endswith("/secrets"):
            return self._send(
                200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": []}
            )
        if path in self.store:
            return self._reply(200, self.store[path])
        return self._not_found()

    def do_POST(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        body.setdefault("metadata", {}).setdefault("uid", f"uid-{len(self.created)}")
        self.created.append(body)
        self.store[f"{path}/{body['metadata']['name']}"] = body
        self._reply(201, body)

    def do_PUT(self) -> None:
        body = self._body()
        self.store[self.path.split("?", 1)[0]] = body
        self._reply(200, body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    created: list[dict[str, Any]] = []
    handler = type("Api", (_FakeApi,), {"created": created, "store": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", created
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_helm_install_with_defaults_only(
    fake_api: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, created = fake_api
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "contexts": [
                    {"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}
                ],
                "current-context": "c",
                "users": [{"name": "u", "user": {}}],
            }
        )
    )
    env = helm_env(tmp_path) | {"KUBECONFIG": str(kubeconfig)}
    # The only extra flag: the stand-in API serves no OpenAPI document (the
    # objects are validated against the schemas above instead).
    proc = run(
        [tool("helm"), "install", "bmp-agent", str(CHART), "--disable-openapi-validation"],
        env=env,
    )
    assert "STATUS: deployed" in proc.stdout, proc.stdout
    kinds = [o["kind"] for o in created]
    # helm's release record (a Secret), then the chart's objects in install order
    assert kinds == ["Secret", "ServiceAccount", "ConfigMap", "Service", "DaemonSet"]
    release = created[0]
    assert release["metadata"]["name"] == "sh.helm.release.v1.bmp-agent.v1"
    assert b"owner" in release["protobuf"] and b"helm" in release["protobuf"]
    for obj in created[1:]:
        assert obj["metadata"]["namespace"] == "default"
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)
    ds = created[-1]
    assert ds["spec"]["template"]["spec"]["hostNetwork"] is True


# ----------------------------------------------------------------------------- issue 15


def test_config_schema_is_generated_from_the_agent() -> None:
    """values.schema.json's config: part is agent.config's (scripts/gen_config_schema.py)."""
    import subprocess
    import sys

    gen = REPO / "scripts" / "gen_config_schema.py"
    done = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    assert sorted(schema["properties"]) == sorted(agent_config.to_dict(agent_config.Config()))
    assert schema["additionalProperties"] is False
    assert schema["properties"]["rib"]["properties"]["top_flaps"] == {
        "type": "integer", "minimum": 0, "maximum": 10000, "default": 10,
    }  # fmt: skip


def test_gen_config_schema_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", REPO / "scripts" / "gen_config_schema.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    stale = json.loads((CHART / "values.schema.json").read_text())
    stale["properties"]["config"] = {"type": "object"}
    copy = tmp_path / "values.schema.json"
    copy.write_text(json.dumps(stale, indent=2) + "\n")
    gen.SCHEMA_FILE = copy
    gen.REPO = tmp_path
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"bmp": {"listn": ["0.0.0.0:1"]}}, "config.bmp: Additional property listn is not allowed"),
        (
            {"rib": {"flap_window": "fast"}},
            "config.rib.flap_window: Invalid type. Expected: number",
        ),
        ({"log": {"level": "loud"}}, "config.log.level: config.log.level must be one of"),
        ({"bgp": {}}, "config: Additional property bgp is not allowed"),
        ({"bmp": {"max_routers": 0}}, "config.bmp.max_routers: Must be greater than or equal to 1"),
        (
            {"sources": [{"type": "bird", "sock": "/x"}]},
            "config.sources.0: Additional property sock",
        ),
        ({"http": {"listen": "::1:9324"}}, "config.http.listen: Does not match pattern"),
    ],
)
def test_helm_lint_rejects_a_config_typo(
    config: dict[str, Any], message: str, tmp_path: Path
) -> None:
    values = tmp_path / "typo.yaml"
    values.write_text(yaml.safe_dump({"config": config}))
    proc = run(
        [tool("helm"), "lint", str(CHART), "--strict", "--values", str(values)],
        env=helm_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 1
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_secured_scenario(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "secured-values.yaml"))
    pod = objs["DaemonSet"]["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["args"] == [
        "--config", "/etc/bmp-agent/config.yaml",
        "--web.config.file", "/etc/bmp-agent/web/web-config.yml",
        "--log-level", "info",
    ]  # fmt: skip
    assert c["env"][:2] == [
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "BMP_AGENT_HTTP_LISTEN", "value": "[$(HOST_IP)]:9324"},
    ]
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["web-config"] == "/etc/bmp-agent/web" and mounts["tls"] == "/etc/bmp-agent/tls"
    assert mounts["host-proc-net"] == "/host/proc/net"
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "bmp-agent-tls"
    assert vols["web-config"]["secret"]["secretName"] == "bmp-agent-web-config"
    web = yaml.safe_load(objs["Secret"]["stringData"]["web-config.yml"])
    assert web["tls_server_config"]["cert_file"] == "/etc/bmp-agent/tls/tls.crt"
    [ep] = objs["ServiceMonitor"]["spec"]["endpoints"]
    assert ep["scheme"] == "https"
    assert ep["tlsConfig"]["ca"]["secret"] == {"name": "bmp-agent-tls", "key": "ca.crt"}
    assert ep["basicAuth"]["username"] == {"name": "bmp-agent-scrape", "key": "username"}
    assert "checksum/web-config" in objs["DaemonSet"]["spec"]["template"]["metadata"]["annotations"]


def test_collector_scenario(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "collector-values.yaml"))
    assert "DaemonSet" not in objs
    dep = objs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["revisionHistoryLimit"] == 10
    assert pod["hostNetwork"] is False and pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["image"] == "registry.example.internal/bmp-agent:0.1.0"
    svc = objs["CollectorService"]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    assert svc["spec"]["ports"] == [
        {"name": "bmp", "port": 11019, "targetPort": "bmp", "protocol": "TCP"}
    ]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    cfg = _agent_config(objs["ConfigMap"]["data"]["config.yaml"], tmp_path)
    assert cfg.fib.enabled is False  # not on a node: no kernel FIB of a router
    assert [str(n) for n in cfg.bmp.allow] == ["10.0.0.0/8", "fd00::/8"]


def test_host_network_off_and_registries(tmp_path: Path) -> None:
    docs = helm_template(
        tmp_path, None,
        "--set", "hostNetwork=false",
        "--set", "global.imageRegistry=mirror.example.internal",
        "--set", "global.imagePullSecrets[0]=global-pull",
        "--set", "imagePullSecrets[0].name=chart-pull",
    )  # fmt: skip
    pod = _daemonset(docs)["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["image"] == "mirror.example.internal/bmp-agent:0.1.0"
    assert pod["imagePullSecrets"] == [{"name": "global-pull"}, {"name": "chart-pull"}]


def test_ipv6_listen_address_allows_ipv6_loopback(tmp_path: Path) -> None:
    objs = by_kind(helm_template(tmp_path, CHART / "ci" / "podmonitor-values.yaml"))
    cfg = yaml.safe_load(objs["ConfigMap"]["data"]["config.yaml"])
    assert cfg["bmp"]["allow"] == ["127.0.0.0/8", "::1/128"]


def _notes(tmp_path: Path, *args: str) -> str:
    """NOTES.txt as helm install prints it (rendered through a copy of the chart)."""
    import shutil

    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "NOTES.src").write_text((chart / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n"
        '    {{- tpl (.Files.Get "NOTES.src") . | nindent 4 }}\n'
    )
    out = run(
        [tool("helm"), "template", "bmp-agent", str(chart), "--show-only",
         "templates/zz-notes.yaml", *args],
        env=helm_env(tmp_path),
    ).stdout  # fmt: skip
    return str(yaml.safe_load(out)["data"]["notes"])


def test_notes_give_a_router_config_the_allow_list_accepts(tmp_path: Path) -> None:
    notes = _notes(tmp_path)
    assert "bmp connect 127.0.0.1 port 11019" in notes
    assert "BMP is accepted from: 127.0.0.0/8 (config.bmp.allow)" in notes
    assert "(host network)" in notes and "pod-security.kubernetes.io/enforce=privileged" in notes
    cfg = agent_config.load(environ={}, flags={"allow": ["127.0.0.0/8"]})
    assert cfg.bmp.allowed("127.0.0.1")  # the source address of that FRR session
    off = _notes(tmp_path / "off", "--set", "hostNetwork=false")
    assert "(pod network)" in off and "(host network)" not in off and "privileged" not in off
    coll = _notes(tmp_path / "coll", "--values", str(CHART / "ci" / "collector-values.yaml"))
    assert "bmp connect <SERVICE-ADDRESS> port 11019" in coll
    assert "BMP is accepted from: 10.0.0.0/8, fd00::/8" in coll
