"""The chart as a kubelet runs it: the rendered Pod, not the values.

For the default values and every ``ci/*-values.yaml`` the chart is rendered
and the agent's container is started the way a kubelet would start it:

- the environment a kubelet builds: the service-link variables of every
  Service of the release when ``enableServiceLinks`` is true (Kubernetes'
  default), the ``kubernetes`` Service's always, the image's ``ENV``, then the
  container's ``env`` with downward-API values (``status.hostIP``,
  ``status.podIP``, ...) and ``$(VAR)`` expansion;
- the volumes at their ``mountPath``: the rendered ConfigMap and Secrets as
  files, Secrets the release expects to exist (``webConfig.tlsSecret``) made
  by the test with a real certificate, emptyDirs and hostPaths as directories;
- the image's ``ENTRYPOINT`` (from the Containerfile) with the container's
  ``args``, ``$(VAR)`` expanded, exactly as rendered;
- in a network namespace of its own holding the node address (host network)
  or the pod address, where the readiness probe as rendered (port, path,
  scheme, headers) is sent to the pod's address, as a kubelet does.

``/readyz`` must answer 200. The same run with ``enableServiceLinks=true``
checks that an agent in a namespace full of Services still starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import CHART, CI_VALUES, REPO, by_kind, helm_template, tool
from sandbox import Sandbox

VALUES_CASES = [None, *CI_VALUES]
VALUES_IDS = ["default", *[p.name.removesuffix("-values.yaml") for p in CI_VALUES]]
NODE_IP = "192.0.2.10"
NODE_IP6 = "2001:db8::10"
POD_IP = "10.244.1.7"
NAMESPACE = "monitoring"


def _image() -> tuple[list[str], dict[str, str]]:
    """ENTRYPOINT and ENV of the Containerfile's final stage (PATH: this checkout's agent)."""
    text = (REPO / "Containerfile").read_text()
    entrypoint = yaml.safe_load(re.findall(r"^ENTRYPOINT (\[.*\])$", text, re.M)[-1])
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", text, re.M)[-1:]:
        for item in line.split():
            k, _, v = item.partition("=")
            env[k] = v
    bindir = str(Path(tool("bmp-agent")).parent)
    env["PATH"] = f"{bindir}:/usr/local/bin:/usr/bin:/bin"  # /opt/bmp-agent/bin in the image
    return entrypoint, env


def _service_links(services: list[dict[str, Any]]) -> dict[str, str]:
    """What the kubelet injects per Service (pkg/kubelet/envvars)."""
    out: dict[str, str] = {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
    }
    for i, svc in enumerate(services):
        name = svc["metadata"]["name"].upper().replace("-", "_")
        ip = f"10.96.{i + 1}.{10 + i}"
        ports = svc["spec"]["ports"]
        out[f"{name}_SERVICE_HOST"] = ip
        out[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        out[f"{name}_PORT"] = f"{ports[0].get('protocol', 'TCP').lower()}://{ip}:{ports[0]['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            if p.get("name"):
                out[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
            base = f"{name}_PORT_{p['port']}_{proto}"
            out[base] = f"{proto.lower()}://{ip}:{p['port']}"
            out[f"{base}_PROTO"] = proto.lower()
            out[f"{base}_PORT"] = str(p["port"])
            out[f"{base}_ADDR"] = ip
    return out


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion ($$ escapes; unknown references stay)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def _field(path: str, pod_ip: str, pod: dict[str, Any]) -> str:
    return {
        "status.hostIP": NODE_IP,
        "status.podIP": pod_ip,
        "spec.nodeName": "node-a",
        "metadata.name": "bmp-agent-x7k2p",
        "metadata.namespace": NAMESPACE,
        "spec.serviceAccountName": pod.get("serviceAccountName", "default"),
    }[path]


def _tls_secret(tmp: Path) -> dict[str, str]:
    """A kubernetes.io/tls Secret as cert-manager makes it (a CA and a node certificate)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(tmp / "tls.key"), "-out", str(tmp / "tls.crt"), "-days", "2",
         "-subj", "/CN=node-a", "-addext", f"subjectAltName=IP:{NODE_IP},DNS:node-a"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    crt = (tmp / "tls.crt").read_text()
    return {"tls.crt": crt, "tls.key": (tmp / "tls.key").read_text(), "ca.crt": crt}


def _secret_files(secret: dict[str, Any]) -> dict[str, str]:
    import base64

    files = dict(secret.get("stringData", {}))
    for k, v in secret.get("data", {}).items():
        files[k] = base64.b64decode(v).decode()
    return files


def _write_dir(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def run_as_kubelet(docs: list[dict[str, Any]], tmp_path: Path) -> tuple[Sandbox, str, list[str]]:
    """Start the agent container of the rendered ``docs``; return the sandbox,
    the readiness probe's URL and headers."""
    workload = next(d for d in docs if d["kind"] in ("DaemonSet", "Deployment"))
    pod = workload["spec"]["template"]["spec"]
    [c] = [c for c in pod["containers"] if c["name"] == "bmp-agent"]
    host_network = bool(pod.get("hostNetwork", False))
    pod_ip = NODE_IP if host_network else POD_IP
    entrypoint, image_env = _image()

    env: dict[str, str] = {}
    if pod.get("enableServiceLinks", True):
        env |= _service_links([d for d in docs if d["kind"] == "Service"])
    else:
        env |= {k: v for k, v in _service_links([]).items()}
    env |= image_env
    env["HOSTNAME"] = "node-a" if host_network else "bmp-agent-x7k2p"
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = _expand(str(item["value"]), env)
        else:
            env[item["name"]] = _field(item["valueFrom"]["fieldRef"]["fieldPath"], pod_ip, pod)

    argv = [_expand(a, env) for a in (c.get("command") or entrypoint) + c.get("args", [])]

    secrets = {d["metadata"]["name"]: _secret_files(d) for d in docs if d["kind"] == "Secret"}
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    box = Sandbox(tmp_path, [NODE_IP, NODE_IP6] if host_network else [POD_IP])
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        vol = volumes[m["name"]]
        where = tmp_path / "volumes" / m["name"]
        if "configMap" in vol:
            source = _write_dir(where, configmaps[vol["configMap"]["name"]])
        elif "secret" in vol:
            name = vol["secret"]["secretName"]
            files = secrets.get(name) or _tls_secret(_write_dir(where.with_suffix(".gen"), {}))
            source = _write_dir(where, files)
        elif "emptyDir" in vol:
            source = _write_dir(where, {})
        elif "hostPath" in vol:
            assert vol["hostPath"].get("type") in ("Directory", None), vol
            source = _write_dir(where, {})  # the node's directory (it exists: type Directory)
        else:
            pytest.fail(f"volume type of {vol} not simulated")
        box.mount(source, m["mountPath"])

    probe = c["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    port = ports.get(probe["port"], probe["port"])
    url = f"{probe.get('scheme', 'HTTP').lower()}://{pod_ip}:{port}{probe['path']}"
    headers = [f"{h['name']}: {h['value']}" for h in probe.get("httpHeaders", [])]
    box.start(argv, env)
    return box, url, headers


@pytest.mark.parametrize("values", VALUES_CASES, ids=VALUES_IDS)
def test_kubelet_started_pod_gets_ready(values: Path | None, tmp_path: Path) -> None:
    docs = helm_template(tmp_path / "helm", values)
    box, url, headers = run_as_kubelet(docs, tmp_path)
    try:
        answer = box.wait_for(url, headers)
    finally:
        status = box.stop()
    assert answer == "200", f"readiness {url}: {answer}\n{box.output()}"
    assert status == 0, box.output()
    log = box.output()
    assert "unknown setting" not in log and "configuration error" not in log, log


def test_service_links_on_do_not_stop_the_agent(tmp_path: Path) -> None:
    """enableServiceLinks: true (a namespace with Services named bmp-agent*)."""
    docs = helm_template(tmp_path / "helm", None, "--set", "enableServiceLinks=true")
    pod = by_kind(docs)["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is True
    box, url, headers = run_as_kubelet(docs, tmp_path)
    try:
        assert box.wait_for(url, headers) == "200", box.output()
    finally:
        box.stop()
    env = (tmp_path / "start.sh").read_text()
    assert "BMP_AGENT_SERVICE_HOST=" in env and "BMP_AGENT_PORT_9324_TCP_ADDR=" in env
    assert "BMP_AGENT_SERVICE_HOST" not in box.output()


def test_dual_stack_listeners_take_ipv4_and_ipv6(tmp_path: Path) -> None:
    """podmonitor-values listens on [::]: an IPv4 and an IPv6 client both get in."""
    docs = helm_template(tmp_path / "helm", CHART / "ci" / "podmonitor-values.yaml")
    box, url, headers = run_as_kubelet(docs, tmp_path)
    try:
        assert box.wait_for(url, headers) == "200", box.output()
        assert box.probe(f"http://[{NODE_IP6}]:9325/readyz") == "200"
        assert box.probe("http://127.0.0.1:9325/healthz") == "200"
    finally:
        box.stop()


def test_http_on_the_node_address_only(tmp_path: Path) -> None:
    """listenOnAllInterfaces=false: HTTP answers on status.hostIP, not on loopback."""
    docs = helm_template(tmp_path / "helm", None, "--set", "listenOnAllInterfaces=false")
    box, url, headers = run_as_kubelet(docs, tmp_path)
    try:
        assert url == f"http://{NODE_IP}:9324/readyz"
        assert box.wait_for(url, headers) == "200", box.output()
        assert box.probe("http://127.0.0.1:9324/readyz").startswith("error")
    finally:
        box.stop()


def test_sandbox_tools() -> None:
    for name in ("unshare", "nsenter", "ip", "openssl"):
        assert shutil.which(name), f"{name} missing (util-linux, iproute2, openssl)"
