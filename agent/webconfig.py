"""HTTP TLS and basic auth from a web config file, as Prometheus exporters do.

The file (``--web.config.file FILE`` or ``http.web_config: FILE``) has the
layout of the Prometheus exporter-toolkit's web configuration::

    tls_server_config:
      cert_file: /etc/bmp-agent/tls.crt      # PEM, with the chain
      key_file: /etc/bmp-agent/tls.key
      client_auth_type: NoClientCert         # or RequireAndVerifyClientCert,
                                             # VerifyClientCertIfGiven
      client_ca_file: /etc/bmp-agent/ca.crt  # needed for client certs
      min_version: TLS12                     # or TLS13
    basic_auth_users:
      prometheus: $2b$12$...                 # bcrypt hash (htpasswd -nBC 12 "")

Both sections are optional: TLS only, basic auth only (over plain HTTP,
which only makes sense behind a TLS proxy), or both. Unknown keys are
errors. With ``basic_auth_users`` every endpoint (``/metrics``, the probes,
the API) needs the credentials; a wrong or missing one gets 401 with
``WWW-Authenticate: Basic``. Passwords are checked with bcrypt in a worker
thread, so a slow hash never stalls BMP ingest; a success is remembered (by
a SHA-256 of user and password) so a scraper pays for one hash, not one per
scrape. Unknown users cost a hash too (no user enumeration by timing).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version")
_TOP_KEYS = ("tls_server_config", "basic_auth_users")
#: Remembered successful logins (per process).
AUTH_CACHE_SIZE = 256
#: Compared against for unknown users, so they take as long as known ones.
_DUMMY_HASH = b"$2b$10$HW/pxA.0/jnYR.XiINzFSein3DWH3UFiIu8e9lVbv1.lk1vHmjhjy"


class WebConfigError(ValueError):
    """The web config file is unreadable or wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"


@dataclass(frozen=True, slots=True)
class WebConfig:
    path: str
    tls: TlsConfig | None = None
    #: user → bcrypt hash
    users: Mapping[str, bytes] = field(default_factory=dict)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server context, or None without TLS. Raises ``WebConfigError``
        when a certificate or key cannot be loaded."""
        tls = self.tls
        if tls is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = TLS_VERSIONS[tls.min_version]
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
            if tls.client_ca_file is not None:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ValueError) as exc:
            raise WebConfigError(
                f"{self.path}: tls_server_config: cannot load certificate or key: {_reason(exc)}"
            ) from None
        ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
        return ctx

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]] | None:
        """aiohttp middleware enforcing basic auth, or None without users."""
        if not self.users:
            return None
        return BasicAuth(self.users).middleware


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def load(path: str | Path) -> WebConfig:
    """Read and check a web config file (certificates are loaded too)."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError(f"{where}: cannot read: {_reason(exc)}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise WebConfigError(f"{where}: invalid YAML") from None
    config = parse(data, where, base=Path(path).parent)
    config.ssl_context()  # fail now, not at bind time
    return config


def parse(data: Any, where: str, *, base: Path = Path(".")) -> WebConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{where}: top level must be a mapping")
    for key in data:
        if key not in _TOP_KEYS:
            raise WebConfigError(
                f"{where}: unknown key {key!r} (supported: {', '.join(_TOP_KEYS)})"
            )
    tls = _tls(data.get("tls_server_config"), where, base)
    users = _users(data.get("basic_auth_users"), where)
    return WebConfig(where, tls, users)


def _tls(section: Any, where: str, base: Path) -> TlsConfig | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise WebConfigError(f"{where}: tls_server_config must be a mapping")
    for key, value in section.items():
        if key not in _TLS_KEYS:
            raise WebConfigError(
                f"{where}: tls_server_config: unknown key {key!r} "
                f"(supported: {', '.join(_TLS_KEYS)})"
            )
        if not isinstance(value, str) or not value:
            raise WebConfigError(f"{where}: tls_server_config.{key} must be a non-empty string")
    for key in ("cert_file", "key_file"):
        if key not in section:
            raise WebConfigError(f"{where}: tls_server_config.{key} is required")
    auth = section.get("client_auth_type", "NoClientCert")
    if auth not in CLIENT_AUTH:
        raise WebConfigError(
            f"{where}: tls_server_config.client_auth_type {auth!r} is not one of "
            f"{', '.join(CLIENT_AUTH)}"
        )
    version = section.get("min_version", "TLS12")
    if version not in TLS_VERSIONS:
        raise WebConfigError(
            f"{where}: tls_server_config.min_version {version!r} is not one of "
            f"{', '.join(TLS_VERSIONS)}"
        )
    ca = section.get("client_ca_file")
    if CLIENT_AUTH[auth] != ssl.CERT_NONE and ca is None:
        raise WebConfigError(f"{where}: client_auth_type {auth} needs client_ca_file")

    def resolve(name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else base / p

    return TlsConfig(
        cert_file=resolve(section["cert_file"]),
        key_file=resolve(section["key_file"]),
        client_auth_type=auth,
        client_ca_file=resolve(ca) if ca is not None else None,
        min_version=version,
    )


def _users(section: Any, where: str) -> dict[str, bytes]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise WebConfigError(f"{where}: basic_auth_users must be a mapping of user to hash")
    users: dict[str, bytes] = {}
    for user, hashed in section.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(f"{where}: basic_auth_users: bad user name {user!r}")
        if not isinstance(hashed, str) or not _is_bcrypt(hashed):
            raise WebConfigError(
                f"{where}: basic_auth_users.{user}: not a bcrypt hash ($2a$/$2b$/$2y$...)"
            )
        users[user] = hashed.encode("ascii")
    return users


def _is_bcrypt(text: str) -> bool:
    return (
        len(text) == 60
        and text[:4] in ("$2a$", "$2b$", "$2y$")
        and text[4:6].isdigit()
        and text[6] == "$"
        and text.isascii()
    )


def _checkpw(password: bytes, hashed: bytes) -> bool:
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password, hashed))
    except ValueError:
        return False


class BasicAuth:
    """``Authorization: Basic`` against bcrypt hashes (see the module docstring)."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self.users = dict(users)
        self._ok: OrderedDict[bytes, None] = OrderedDict()

    def _cache_key(self, user: str, password: bytes) -> bytes:
        return hashlib.sha256(user.encode() + b"\0" + password + b"\0" + self.users[user]).digest()

    async def check(self, header: str | None) -> bool:
        if header is None:
            return False
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user_raw, sep, password = decoded.partition(b":")
        if not sep:
            return False
        try:
            user = user_raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        loop = asyncio.get_running_loop()
        if user not in self.users:
            await loop.run_in_executor(None, _checkpw, password, _DUMMY_HASH)
            return False
        key = self._cache_key(user, password)
        if key in self._ok:
            self._ok.move_to_end(key)
            return True
        ok = await loop.run_in_executor(None, _checkpw, password, self.users[user])
        if ok:
            self._ok[key] = None
            while len(self._ok) > AUTH_CACHE_SIZE:
                self._ok.popitem(last=False)
        return ok

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if await self.check(request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="bmp-agent", charset="UTF-8"'},
        )
