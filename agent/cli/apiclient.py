"""How the CLI reaches an agent whose HTTP has TLS or basic auth on.

Every subcommand with ``--api`` (``peers``, ``routes``, ``doctor``,
``fib-diff``) also takes:

- ``--cacert FILE``: CA bundle (PEM) that signed the agent's certificate
  (default: the system's trust store);
- ``--cert FILE`` / ``--key FILE``: a client certificate, for agents with
  ``client_auth_type: RequireAndVerifyClientCert``;
- ``--user NAME``: basic auth; the password comes from ``--password-file
  FILE`` (first line) or the ``BMP_AGENT_API_PASSWORD`` environment variable,
  never from the command line (it would show in ``ps``);
- ``--insecure``: do not verify the agent's certificate (never with a CA).

``configure(args)`` is called once by ``agent.cli.main`` before the
subcommand runs; ``urlopen`` then uses those settings.
"""

from __future__ import annotations

import argparse
import base64
import os
import ssl
import urllib.request
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from typing import cast

PASSWORD_ENV = "BMP_AGENT_API_PASSWORD"


class ClientConfigError(Exception):
    """Bad or inconsistent client options (exit status 2)."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = None
    insecure: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cacert)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            try:
                ctx.load_cert_chain(self.cert, self.key)
            except (OSError, ssl.SSLError) as exc:
                raise ClientConfigError(f"--cert {self.cert}: cannot load ({exc})") from None
        return ctx

    def headers(self) -> dict[str, str]:
        if self.user is None:
            return {}
        token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


_settings = ClientSettings()


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("agent API security (TLS, basic auth)")
    g.add_argument("--cacert", metavar="FILE", help="CA certificate(s) of the agent (PEM)")
    g.add_argument("--cert", metavar="FILE", help="client certificate (PEM)")
    g.add_argument("--key", metavar="FILE", help="key of --cert (default: in the --cert file)")
    g.add_argument("--user", metavar="NAME", help="basic auth user")
    g.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"basic auth password (first line; default: ${PASSWORD_ENV})",
    )
    g.add_argument("--insecure", action="store_true", help="do not verify the agent's certificate")


def settings_from(
    args: argparse.Namespace, environ: dict[str, str] | None = None
) -> ClientSettings:
    env = os.environ if environ is None else environ
    cacert = getattr(args, "cacert", None)
    cert = getattr(args, "cert", None)
    key = getattr(args, "key", None)
    user = getattr(args, "user", None)
    password_file = getattr(args, "password_file", None)
    insecure = bool(getattr(args, "insecure", False))
    if key and not cert:
        raise ClientConfigError("--key needs --cert")
    if insecure and cacert:
        raise ClientConfigError("--insecure and --cacert contradict each other")
    for flag, path in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if path and not Path(path).is_file():
            raise ClientConfigError(f"{flag} {path}: no such file")
    password: str | None = None
    if password_file:
        try:
            lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ClientConfigError(
                f"--password-file {password_file}: {exc.strerror or exc}"
            ) from None
        password = lines[0] if lines else ""
    elif PASSWORD_ENV in env:
        password = env[PASSWORD_ENV]
    if password is not None and user is None:
        raise ClientConfigError(f"a password (--password-file or ${PASSWORD_ENV}) needs --user")
    if user is not None and password is None:
        raise ClientConfigError(f"--user {user} needs --password-file or ${PASSWORD_ENV}")
    return ClientSettings(cacert, cert, key, user, password, insecure)


def configure(args: argparse.Namespace) -> None:
    global _settings
    _settings = settings_from(args)
    if _settings.cacert or _settings.cert:
        _settings.ssl_context()  # a bad CA or client certificate fails here, exit 2


def urlopen(url: str, *, timeout: float = 10) -> HTTPResponse:
    """GET ``url`` with the configured CA, client certificate and credentials."""
    request = urllib.request.Request(url, headers=_settings.headers())
    context = _settings.ssl_context() if url.startswith("https:") else None
    return cast(HTTPResponse, urllib.request.urlopen(request, timeout=timeout, context=context))
