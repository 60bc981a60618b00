"""ExaBGP 4.2 as a route injector controllable at run time.

ExaBGP's API process is a small relay that copies lines from a FIFO to its
stdout, so the test announces and withdraws routes whenever it likes:

    inj = ExaBgp(lab.inj, lab.workdir, lab_peers())
    with inj:
        speaker.wait_established(["10.0.1.2", "fd00:1::2"])
        inj.announce("A", "192.0.2.0/27", as_path=[65001, 4200000001], med=10,
                     communities=["65001:100"], large_communities=["4200000001:1:0"])
        inj.withdraw("A", "192.0.2.0/27")

Peers are named ("A", "B", ...); each is one BGP session towards the speaker.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness import Harness
from .netns import (
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_V4,
    SPEAKER_V6,
    LabError,
    Namespace,
    poll,
    tail,
    wait_until,
)

# The API process: relay FIFO lines to stdout; exit when ExaBGP closes our stdin.
RELAY = """\
import os, sys, threading
def watch():
    for _ in sys.stdin:
        pass
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
fd = os.open(sys.argv[1], os.O_RDWR)  # read-write: no EOF when writers come and go
with os.fdopen(fd, "r") as fifo:
    open(sys.argv[2], "w").close()
    for line in fifo:
        sys.stdout.write(line)
        sys.stdout.flush()
"""

EXABGP_ENV = {
    "exabgp_daemon_user": "root",
    "exabgp_daemon_drop": "false",
    "exabgp_daemon_daemonize": "false",
    "exabgp_api_cli": "false",
    "exabgp_api_ack": "false",
    "exabgp_log_destination": "stdout",
    "exabgp_log_level": "INFO",
    "exabgp_tcp_bind": "",
}


@dataclass(frozen=True)
class ExaPeer:
    """One ExaBGP session towards the speaker."""

    name: str
    #: the speaker's address for this session (IPv4 or IPv6 transport)
    peer_address: str
    local_address: str
    local_as: int
    peer_as: int = 65000
    router_id: str | None = None
    families: tuple[str, ...] = ("ipv4 unicast", "ipv6 unicast")
    #: ADD-PATH send/receive capability
    add_path: bool = False
    #: graceful-restart capability with this restart time (s); None: not advertised
    graceful_restart: int | None = None
    #: default next hops for IPv4 / IPv6 routes
    next_hop4: str = INJ_A_V4
    next_hop6: str = INJ_B_V6

    @property
    def selector(self) -> str:
        return f"neighbor {self.peer_address} local-ip {self.local_address}"


def lab_peers(
    asn_a: int = 65001,
    asn_b: int = 65002,
    add_path: bool = False,
    graceful_restart: int | None = None,
) -> tuple[ExaPeer, ...]:
    """Peer A (10.0.1.2 -> 10.0.1.1, IPv4 transport) and peer B (fd00:1::2 -> fd00:1::1)."""
    return (
        ExaPeer("A", SPEAKER_V4, INJ_A_V4, asn_a, router_id="10.0.1.2",
                add_path=add_path, graceful_restart=graceful_restart),
        ExaPeer("B", SPEAKER_V6, INJ_B_V6, asn_b, router_id="10.0.1.3",
                add_path=add_path, graceful_restart=graceful_restart),
    )  # fmt: skip


def exabgp_config(peers: Sequence[ExaPeer], relay: Path, fifo: Path, ready: Path) -> str:
    lines = [
        "process control {",
        f"  run /usr/bin/python3 {relay} {fifo} {ready};",
        "  encoder text;",
        "}",
    ]
    for p in peers:
        caps = []
        if p.add_path:
            caps.append("add-path send/receive;")
        if p.graceful_restart is not None:
            caps.append(f"graceful-restart {p.graceful_restart};")
        lines += [
            f"neighbor {p.peer_address} {{",
            f"  router-id {p.router_id or (p.local_address if ':' not in p.local_address else '10.0.1.2')};",
            f"  local-address {p.local_address};",
            f"  local-as {p.local_as};",
            f"  peer-as {p.peer_as};",
            "  family { " + " ".join(f"{f};" for f in p.families) + " }",
        ]
        if caps:
            lines.append("  capability { " + " ".join(caps) + " }")
        lines += ["  api { processes [ control ]; }", "}"]
    lines.append("")
    return "\n".join(lines)


def route_attributes(
    *,
    next_hop: str,
    as_path: Iterable[int] = (),
    origin: str = "igp",
    med: int | None = None,
    local_pref: int | None = None,
    communities: Iterable[str] = (),
    large_communities: Iterable[str] = (),
    path_id: int | None = None,
) -> str:
    parts = [f"next-hop {next_hop}", f"origin {origin}"]
    path = " ".join(str(a) for a in as_path)
    parts.append(f"as-path [ {path} ]")
    if med is not None:
        parts.append(f"med {med}")
    if local_pref is not None:
        parts.append(f"local-preference {local_pref}")
    comms = list(communities)
    if comms:
        parts.append(f"community [ {' '.join(comms)} ]")
    large = list(large_communities)
    if large:
        parts.append(f"large-community [ {' '.join(large)} ]")
    if path_id is not None:
        parts.append(f"path-information {path_id}")
    return " ".join(parts)


class ExaBgp(Harness):
    def __init__(
        self, ns: Namespace, workdir: Path, peers: Sequence[ExaPeer], name: str = "exabgp"
    ) -> None:
        self.ns = ns
        self.peers = {p.name: p for p in peers}
        self.rundir = workdir / name
        self.fifo = self.rundir / "api.fifo"
        self.ready = self.rundir / "relay.ready"
        self.log = self.rundir / "exabgp.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sent: list[str] = []

    def start(self) -> ExaBgp:
        r = self.rundir
        r.mkdir(parents=True, exist_ok=True)
        relay = r / "relay.py"
        relay.write_text(RELAY)
        if not (self.fifo.exists() and stat.S_ISFIFO(self.fifo.stat().st_mode)):
            self.fifo.unlink(missing_ok=True)
            os.mkfifo(self.fifo, 0o600)
        self.ready.unlink(missing_ok=True)
        conf = r / "exabgp.conf"
        conf.write_text(exabgp_config(list(self.peers.values()), relay, self.fifo, self.ready))
        env = {**os.environ, **EXABGP_ENV}
        self.proc = self.ns.popen(["exabgp", str(conf)], log=self.log, env=env)
        wait_until(
            lambda: self._check_alive() and self.ready.exists(),
            timeout=20,
            what="ExaBGP API process",
            describe=self.log_tail,
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM ExaBGP (the speaker sees the TCP session close)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _running(self) -> bool:
        return self.proc is not None

    def _teardown(self, failed: bool) -> None:
        self.stop()

    def _check_alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise LabError(f"ExaBGP is not running (exit {code})\n{self.log_tail()}")
        return True

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    # -- API ----------------------------------------------------------------
    def send(self, *lines: str) -> None:
        """Write raw ExaBGP API lines (e.g. ``neighbor 10.0.1.1 announce route ...``)."""
        self._check_alive()
        payload = "".join(line.rstrip("\n") + "\n" for line in lines).encode()
        error: OSError | None = None

        def attempt() -> tuple[int] | None:
            # ENXIO: no reader on the FIFO yet; any other error fails at once.
            # A 1-tuple: fd 0 is a valid descriptor but falsy for poll()
            nonlocal error
            try:
                return (os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK),)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise LabError(f"ExaBGP API FIFO not writable: {exc}") from exc
                error = exc
                return None

        opened = poll(attempt, timeout=10, interval=0.1)
        if opened is None:
            raise LabError(f"ExaBGP API FIFO not writable: {error}") from error
        (fd,) = opened
        try:
            os.set_blocking(fd, True)
            view = memoryview(payload)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
        self.sent.extend(lines)

    def _peer(self, peer: str) -> ExaPeer:
        try:
            return self.peers[peer]
        except KeyError:
            raise LabError(f"no ExaBGP peer {peer!r}; have {sorted(self.peers)}") from None

    def announce_line(
        self,
        peer: str,
        prefix: str,
        *,
        next_hop: str | None = None,
        as_path: Iterable[int] | None = None,
        **attributes: Any,
    ) -> str:
        """The API line announcing ``prefix`` on session ``peer``: next hop and AS path
        default to the peer's own; ``attributes`` are ``route_attributes``'s others."""
        p = self._peer(peer)
        nh = next_hop or (p.next_hop6 if ":" in prefix else p.next_hop4)
        attrs = route_attributes(
            next_hop=nh, as_path=[p.local_as] if as_path is None else as_path, **attributes
        )
        return f"{p.selector} announce route {prefix} {attrs}"

    def announce(self, peer: str, prefix: str, **attrs: object) -> None:
        """Announce ``prefix`` on session ``peer``; keyword arguments as ``announce_line``."""
        self.send(self.announce_line(peer, prefix, **attrs))  # type: ignore[arg-type]

    def announce_many(self, peer: str, prefixes: Iterable[str], **attrs: object) -> None:
        """One API line per prefix, written in one go."""
        self.send(*(self.announce_line(peer, p, **attrs) for p in prefixes))  # type: ignore[arg-type]

    def withdraw_line(
        self, peer: str, prefix: str, *, next_hop: str | None = None, path_id: int | None = None
    ) -> str:
        p = self._peer(peer)
        line = f"{p.selector} withdraw route {prefix}"
        if next_hop is not None:
            line += f" next-hop {next_hop}"
        if path_id is not None:
            line += f" path-information {path_id}"
        return line

    def withdraw(
        self, peer: str, prefix: str, *, next_hop: str | None = None, path_id: int | None = None
    ) -> None:
        self.send(self.withdraw_line(peer, prefix, next_hop=next_hop, path_id=path_id))

    def withdraw_many(self, peer: str, prefixes: Iterable[str]) -> None:
        self.send(*(self.withdraw_line(peer, p) for p in prefixes))
