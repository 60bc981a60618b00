"""HTTP security: TLS and basic auth through an exporter-toolkit style web
config file, with a self-signed certificate made by ``openssl`` in the test."""

from __future__ import annotations

import base64
import dataclasses
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from reliability_support import REPO, local_config
from structlog.testing import capture_logs

from agent.app import build_daemon
from agent.config import ConfigError, load
from agent.daemon import Daemon

PASSWORD = "s3cret-scrape"
ENDPOINTS = ("/metrics", "/healthz", "/readyz", "/api/v1/routers", "/api/v1/peers")


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    cert, key = self_signed(d, "server")
    ccert, ckey = self_signed(d, "client")
    return {"cert": cert, "key": key, "client_cert": ccert, "client_key": ckey, "dir": d}


@pytest.fixture(scope="module")
def hashed() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@dataclasses.dataclass
class Running:
    daemon: Daemon
    logs: list[dict[str, object]]

    @property
    def port(self) -> int:
        return self.daemon.http_addresses[0].port


async def start(web_config: str) -> AsyncIterator[Running]:
    cfg = local_config()
    cfg = dataclasses.replace(cfg, http=dataclasses.replace(cfg.http, web_config=web_config))
    with capture_logs() as logs:
        d = build_daemon(cfg)
        await d.start()
        try:
            yield Running(d, logs)  # type: ignore[arg-type]
        finally:
            await d.stop()


@pytest.fixture
async def tls_auth(pki: dict[str, Path], hashed: str, tmp_path: Path) -> AsyncIterator[Running]:
    path = write(
        tmp_path / "web.yml",
        f"tls_server_config:\n  cert_file: {pki['cert']}\n  key_file: {pki['key']}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n",
    )
    async for r in start(path):
        yield r


def client_ssl(pki: dict[str, Path], *, client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["cert"]))
    if client_cert:
        ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
    return ctx


async def get(
    url: str, *, ssl_ctx: ssl.SSLContext | bool = True, auth: str | None = None
) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": auth} if auth is not None else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, ssl=ssl_ctx, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def test_tls_and_basic_auth(tls_auth: Running, pki: dict[str, Path], hashed: str) -> None:
    base = f"https://127.0.0.1:{tls_auth.port}"
    ctx = client_ssl(pki)
    good = basic("prometheus", PASSWORD)
    for path in ENDPOINTS:
        status, _, body = await get(base + path, ssl_ctx=ctx, auth=good)
        assert status == 200, (path, body)
        assert hashed not in body and "web.yml" not in body
        status, headers, _ = await get(base + path, ssl_ctx=ctx)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="bmp-agent", charset="UTF-8"'
    status, _, body = await get(base + "/metrics", ssl_ctx=ctx, auth=good)
    assert "bmp_router_up" in body or "process_resident_memory_bytes" in body
    for auth in (
        basic("prometheus", "wrong"),
        basic("nobody", PASSWORD),
        basic("prometheus", ""),
    ):
        assert (await get(base + "/metrics", ssl_ctx=ctx, auth=auth))[0] == 401
    # No debug or admin surface: unknown paths are 404 even when logged in.
    for path in ("/debug", "/config", "/api/v1/config", "/../etc/passwd"):
        assert (await get(base + path, ssl_ctx=ctx, auth=good))[0] == 404
    [info] = [e for e in tls_auth.logs if e["event"] == "http web config"]
    assert (info["tls"], info["users"]) == (True, 1)


async def test_plain_http_to_tls_port_fails(tls_auth: Running) -> None:
    with pytest.raises(aiohttp.ClientError):
        await get(f"http://127.0.0.1:{tls_auth.port}/metrics")


async def test_untrusted_certificate_rejected_by_client(tls_auth: Running) -> None:
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await get(f"https://127.0.0.1:{tls_auth.port}/healthz")


async def test_basic_auth_without_tls(hashed: str, tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", f"basic_auth_users:\n  ops: '{hashed}'\n")
    async for r in start(path):
        base = f"http://127.0.0.1:{r.port}"
        assert (await get(base + "/healthz"))[0] == 401
        assert (await get(base + "/healthz", auth=basic("ops", PASSWORD)))[0] == 200


async def test_tls13_minimum_and_client_certificates(pki: dict[str, Path], tmp_path: Path) -> None:
    path = write(
        tmp_path / "web.yml",
        "tls_server_config:\n"
        f"  cert_file: {pki['cert']}\n  key_file: {pki['key']}\n"
        "  min_version: TLS13\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki['client_cert']}\n",
    )
    async for r in start(path):
        base = f"https://127.0.0.1:{r.port}/healthz"
        assert (await get(base, ssl_ctx=client_ssl(pki, client_cert=True)))[0] == 200
        with pytest.raises(aiohttp.ClientError):
            await get(base, ssl_ctx=client_ssl(pki))  # no client certificate
        old = client_ssl(pki, client_cert=True)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(aiohttp.ClientError):
            await get(base, ssl_ctx=old)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
         "cannot load certificate or key"),
        ("tls_server_config:\n  cert_file: a.crt\n", "tls_server_config.key_file is required"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n",
         "min_version 'SSL3' is not one of TLS12, TLS13"),
        ("basic_auth_users:\n  ops: plaintext\n", "basic_auth_users.ops: not a bcrypt hash"),
        ("http_server_config:\n  http2: true\n", "unknown key 'http_server_config'"),
        ("- a list\n", "top level must be a mapping"),
        ("tls_server_config: [\n", "invalid YAML"),
    ],
)  # fmt: skip
def test_bad_web_config_is_a_config_error(text: str, problem: str, tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", text)
    with pytest.raises(ConfigError) as info:
        load(environ={}, flags={"web_config_file": path})
    assert info.value.key == "http.web_config"
    assert problem in str(info.value)
    assert "flag --web.config.file" in str(info.value)


def test_cli_flag_and_exit_status(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", "basic_auth_users:\n  ops: nope\n")
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--web.config.file", path,
         "--bmp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "http.web_config" in done.stderr and "not a bcrypt hash" in done.stderr


def test_web_config_from_yaml_and_env(hashed: str, tmp_path: Path) -> None:
    web = write(tmp_path / "web.yml", f"basic_auth_users:\n  ops: '{hashed}'\n")
    cfg_file = write(tmp_path / "agent.yaml", f"http:\n  web_config: {web}\n")
    assert load(path=cfg_file, environ={}).http.web_config == web
    assert load(environ={"BMP_AGENT_HTTP_WEB_CONFIG": web}).http.web_config == web
    assert load(environ={}).http.web_config == ""


async def test_bcrypt_runs_once_per_credential_off_the_loop(
    hashed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from agent import webconfig

    calls: list[tuple[bytes, bool]] = []
    real = webconfig._checkpw

    def counting(password: bytes, hashed_pw: bytes) -> bool:
        calls.append((password, threading.current_thread() is threading.main_thread()))
        return real(password, hashed_pw)

    monkeypatch.setattr(webconfig, "_checkpw", counting)
    auth = webconfig.BasicAuth({"ops": hashed.encode()})
    for _ in range(5):
        assert await auth.check(basic("ops", PASSWORD))
    assert not await auth.check(basic("ops", "bad"))
    assert not await auth.check(basic("ghost", PASSWORD))  # hashed against a dummy too
    assert not await auth.check("Bearer abc")
    assert not await auth.check("Basic !!!not-base64")
    assert not await auth.check(None)
    assert calls == [(PASSWORD.encode(), False), (b"bad", False), (PASSWORD.encode(), False)]
