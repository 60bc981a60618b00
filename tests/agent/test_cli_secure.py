"""The CLI against an agent with TLS and basic auth, with certificates made by
``openssl`` here: a CA, the agent's certificate signed by it, a client one."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from support.procs import free_port

from agent.cli import main as cli

PASSWORD = "s3cret-cli"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> dict[str, Path]:
    """A CA; the agent's certificate (IP 127.0.0.1) and a client certificate, both signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
             "-days", "2", "-subj", "/CN=test CA")  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                 "-subj", f"/CN={name}")  # fmt: skip
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                 "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                 "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.crt"))  # fmt: skip
    return {n: d / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


@contextlib.contextmanager
def https_agent(tmp: Path, web: str) -> Iterator[str]:
    """``bmp-agent run`` with ``web`` as its web config file: yields its HTTPS URL."""
    (tmp / "web.yml").write_text(web)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--web.config.file", str(tmp / "web.yml"),
         "--bmp-listen", "127.0.0.1:0", "--http-listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(
                f"agent exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("agent did not listen")
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def agent(pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TLS (a CA-signed certificate) and basic auth."""
    tmp = tmp_path_factory.mktemp("agent")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with https_agent(tmp, (
        f"tls_server_config:\n  cert_file: {pki['server.crt']}\n  key_file: {pki['server.key']}\n"
        f"basic_auth_users:\n  ops: '{hashed}'\n"
    )) as url:  # fmt: skip
        yield url


@pytest.fixture(scope="module")
def mtls_agent(pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TLS requiring a client certificate signed by the CA."""
    tmp = tmp_path_factory.mktemp("mtls")
    with https_agent(tmp, (
        f"tls_server_config:\n  cert_file: {pki['server.crt']}\n  key_file: {pki['server.key']}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki['ca.crt']}\n"
    )) as url:  # fmt: skip
        yield url


@pytest.fixture
def password_file(tmp_path: Path) -> str:
    p = tmp_path / "password"
    p.write_text(PASSWORD + "\n")
    return str(p)


def test_peers_with_ca_and_password_file(
    agent: str, pki: dict[str, Path], password_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["peers", "--api", agent, "--cacert", str(pki["ca.crt"]), "--user", "ops",
                   "--password-file", password_file, "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out) == {"routers": [], "peers": []}


def test_routes_with_password_from_env(
    agent: str, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("BMP_AGENT_API_PASSWORD", PASSWORD)
    rc = cli.main(["routes", "--api", agent, "--cacert", str(pki["ca.crt"]), "--user", "ops"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert out.out.splitlines()[-1] == "0 routes"


def test_doctor_and_fib_diff_take_the_options(
    agent: str, pki: dict[str, Path], password_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for cmd in ("doctor", "fib-diff"):
        rc = cli.main([cmd, "--api", agent, "--cacert", str(pki["ca.crt"]), "--user", "ops",
                       "--password-file", password_file, "--json"])  # fmt: skip
        out = capsys.readouterr()
        assert "HTTP 401" not in out.err and "cannot reach" not in out.err, (cmd, out.err)
        assert rc in (0, 1), (cmd, rc, out.err)  # 1: findings/drift, not a transport error


def test_wrong_password_is_401(
    agent: str, pki: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.write_text("nope\n")
    rc = cli.main(["peers", "--api", agent, "--cacert", str(pki["ca.crt"]), "--user", "ops",
                   "--password-file", str(bad)])  # fmt: skip
    assert rc == 1
    assert capsys.readouterr().err == f"bmp-agent peers: {agent}/api/v1/routers: HTTP 401\n"


def test_unknown_ca_is_refused_and_insecure_skips_it(
    agent: str, password_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["peers", "--api", agent, "--user", "ops", "--password-file", password_file]
    assert cli.main(base) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"bmp-agent peers: cannot reach the agent API at {agent}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in err
    assert cli.main([*base, "--insecure", "--json"]) == 0
    capsys.readouterr()


def test_client_certificate(
    mtls_agent: str, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["peers", "--api", mtls_agent, "--cacert", str(pki["ca.crt"]), "--json"]
    assert cli.main(base) == 1  # the agent wants a client certificate
    assert "cannot reach the agent API" in capsys.readouterr().err
    rc = cli.main([*base, "--cert", str(pki["client.crt"]), "--key", str(pki["client.key"])])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out)["routers"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ops"], "--user ops needs --password-file or $BMP_AGENT_API_PASSWORD"),
        (["--key", "/etc/hostname"], "--key needs --cert"),
        (["--insecure", "--cacert", "/etc/hostname"], "--insecure and --cacert contradict"),
        (["--cacert", "/nonexistent.pem"], "--cacert /nonexistent.pem: no such file"),
    ],
)
def test_bad_client_options_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("BMP_AGENT_API_PASSWORD", raising=False)
    assert cli.main(["peers", *args]) == 2
    assert message in capsys.readouterr().err


def test_plain_http_sends_no_credentials_unasked() -> None:
    from agent.cli import apiclient

    assert apiclient.ClientSettings().headers() == {}
    assert apiclient.ClientSettings(user="a", password="b").headers() == {
        "Authorization": "Basic YTpi"
    }
    assert isinstance(urllib.request.Request("http://x").headers, dict)


def test_broken_subcommand_module_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "agent.no_such_cmd"))
    assert cli.main(["peers"]) == 1
    assert capsys.readouterr().err.startswith(
        "bmp-agent: cannot load the subcommand module agent.no_such_cmd: No module named"
    )
