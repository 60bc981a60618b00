"""Real BGP speakers with BMP, run inside a lab namespace.

Config generators are plain functions of a ``SpeakerConfig`` returning text
(``frr_bgpd_config``, ``gobgp_config``, ``bird_config``), so tests can vary
them or post-process the text. ``Frr``, ``GoBgp`` and ``Bird`` start, stop,
restart and query one speaker with private config and runtime files under
``<topology workdir>/<kind>-<name>/``:

    cfg = SpeakerConfig(neighbors=lab_neighbors(), collectors=[BmpTarget("10.0.9.2", 11019)])
    with make_speaker("frr", lab.spk, lab.workdir, cfg) as spk:
        spk.wait_established(["10.0.1.2", "fd00:1::2"], timeout=30)
        spk.reset_session("10.0.1.2")

BIRD 3 comes from scripts/get-bird3.sh (``bird3_dir()``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .harness import Harness
from .netns import (
    COLLECTOR_V4,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_V4,
    SPEAKER_V6,
    LabError,
    Namespace,
    tail,
    wait_until,
)

DEFAULT_BIRD3_DIR = Path("/opt/bmp-agent-test/bird3")
BMP_PORT = 11019


def bird3_dir() -> Path:
    """Where scripts/get-bird3.sh installed BIRD 3 (env ``BMPT_BIRD3_DIR`` overrides)."""
    return Path(os.environ.get("BMPT_BIRD3_DIR", str(DEFAULT_BIRD3_DIR)))


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Neighbor:
    address: str
    asn: int
    #: never initiates the session (the lab's "never up" neighbor)
    passive: bool = False
    #: protocol name for BIRD (default: derived from the address)
    name: str | None = None
    families: tuple[str, ...] = ("ipv4", "ipv6")

    @property
    def proto_name(self) -> str:
        return self.name or "n_" + re.sub(r"[^0-9a-zA-Z]", "_", self.address)


@dataclass(frozen=True)
class BmpTarget:
    address: str
    port: int = BMP_PORT


@dataclass(frozen=True)
class SpeakerConfig:
    neighbors: tuple[Neighbor, ...]
    local_as: int = 65000
    router_id: str = SPEAKER_V4
    local_addresses: tuple[str, ...] = (SPEAKER_V4, SPEAKER_V6)
    hostname: str = "spk"
    #: prefixes the import policy rejects (exact match)
    reject: tuple[str, ...] = ("198.51.100.192/26", "2001:db8:9::/48")
    #: BMP stations the speaker connects to (passive-collector mode)
    collectors: tuple[BmpTarget, ...] = (BmpTarget(COLLECTOR_V4),)
    #: FRR only: ``bmp listener`` address/port (active mode: the collector connects)
    listener: BmpTarget | None = None
    pre_policy: bool = True
    post_policy: bool = True
    #: GoBGP only (FRR 8.4 and BIRD 3.1 have no Loc-RIB monitoring)
    loc_rib: bool = False
    add_path: bool = False
    #: None: the speaker's default (FRR: helper only; GoBGP, BIRD: off for the
    #: lab's neighbors); True/False: restarting-speaker GR on/off
    graceful_restart: bool | None = None
    #: Statistics Report interval in seconds (0: off). GoBGP's minimum is 15 s;
    #: BIRD 3.1 sends none.
    stats_interval: int = 5
    #: FRR: ``soft-reconfiguration inbound`` (without it FRR 8.4 sends every
    #: pre-policy RM as a withdrawal)
    soft_reconfiguration: bool = True
    #: FRR BMP connect retry bounds, ms
    bmp_min_retry: int = 100
    bmp_max_retry: int = 1000
    #: GoBGP gRPC API port (inside the namespace, on 127.0.0.1)
    gobgp_api_port: int = 50051
    #: BIRD: ``protocol kernel`` for IPv4 and IPv6 exporting the selected routes
    #: to the namespace's main table (proto bird). FRR installs through zebra
    #: (proto bgp) in any case.
    kernel_export: bool = False


NEVER_UP = Neighbor("10.0.1.99", 65099, passive=True, name="never_up")


def lab_neighbors(
    asn_a: int = 65001, asn_b: int = 65002, never_up: bool = True
) -> tuple[Neighbor, ...]:
    """The lab's neighbors: peer A (IPv4 transport), peer B (IPv6), and a never-up passive one."""
    out = [Neighbor(INJ_A_V4, asn_a, name="peerA"), Neighbor(INJ_B_V6, asn_b, name="peerB")]
    if never_up:
        out.append(NEVER_UP)
    return tuple(out)


def _split_reject(cfg: SpeakerConfig) -> tuple[list[str], list[str]]:
    v4 = [p for p in cfg.reject if ":" not in p]
    v6 = [p for p in cfg.reject if ":" in p]
    return v4, v6


def frr_zebra_config(cfg: SpeakerConfig, log_file: Path) -> str:
    return f"hostname {cfg.hostname}\nlog file {log_file}\n"


def frr_bgpd_config(cfg: SpeakerConfig, log_file: Path) -> str:
    """bgpd.conf for ``bgpd -M bmp`` (FRR 8.4)."""
    v4, v6 = _split_reject(cfg)
    lines = ["frr defaults traditional", f"hostname {cfg.hostname}", f"log file {log_file}", "!"]
    # Route-map changes (including the config load itself) are applied after the
    # delay timer, default 5 s, by re-processing every route, and FRR's BMP then
    # sends every pre/post-policy RM a second time. 0 applies them at once.
    lines += ["bgp route-map delay-timer 0", "!"]
    for i, p in enumerate(v4):
        lines.append(f"ip prefix-list REJECT4 seq {5 * (i + 1)} permit {p}")
    for i, p in enumerate(v6):
        lines.append(f"ipv6 prefix-list REJECT6 seq {5 * (i + 1)} permit {p}")
    if v4:
        lines += ["route-map IMPORT deny 10", " match ip address prefix-list REJECT4"]
    if v6:
        lines += ["route-map IMPORT deny 20", " match ipv6 address prefix-list REJECT6"]
    lines += ["route-map IMPORT permit 100", "!"]
    lines += [
        f"router bgp {cfg.local_as}",
        f" bgp router-id {cfg.router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
    ]
    if cfg.graceful_restart is True:
        lines.append(" bgp graceful-restart")
    elif cfg.graceful_restart is False:
        lines.append(" bgp graceful-restart-disable")
    for n in cfg.neighbors:
        lines.append(f" neighbor {n.address} remote-as {n.asn}")
        if n.passive:
            lines.append(f" neighbor {n.address} passive")
    for af in ("ipv4", "ipv6"):
        lines.append(f" address-family {af} unicast")
        for n in cfg.neighbors:
            if af not in n.families:
                continue
            lines.append(f"  neighbor {n.address} activate")
            lines.append(f"  neighbor {n.address} route-map IMPORT in")
            if cfg.soft_reconfiguration:
                lines.append(f"  neighbor {n.address} soft-reconfiguration inbound")
            if cfg.add_path:
                lines.append(f"  neighbor {n.address} addpath-tx-all-paths")
        lines.append(" exit-address-family")
    lines.append(" bmp targets COLLECTOR")
    for t in cfg.collectors:
        lines.append(
            f"  bmp connect {t.address} port {t.port} "
            f"min-retry {cfg.bmp_min_retry} max-retry {cfg.bmp_max_retry}"
        )
    if cfg.listener is not None:
        lines.append(f"  bmp listener {cfg.listener.address} port {cfg.listener.port}")
    for af in ("ipv4", "ipv6"):
        if cfg.pre_policy:
            lines.append(f"  bmp monitor {af} unicast pre-policy")
        if cfg.post_policy:
            lines.append(f"  bmp monitor {af} unicast post-policy")
    if cfg.stats_interval:
        lines.append(f"  bmp stats interval {cfg.stats_interval * 1000}")
    lines += [" exit", "!", ""]
    return "\n".join(lines)


def _gobgp_monitoring_policy(cfg: SpeakerConfig) -> str:
    key = (cfg.pre_policy, cfg.post_policy, cfg.loc_rib)
    table = {
        (True, False, False): "pre-policy",
        (False, True, False): "post-policy",
        (True, True, False): "both",
        (False, False, True): "local-rib",
        (True, True, True): "all",
    }
    if key not in table:
        raise LabError(f"GoBGP cannot monitor pre/post/loc-rib = {key}")
    return table[key]


def gobgp_config(cfg: SpeakerConfig) -> str:
    """gobgpd TOML. The import policy is global (per-neighbor import policy only
    applies to route-server clients); export is rejected, otherwise GoBGP sends
    IPv4 routes to the IPv6-transport peer with a 16-byte next hop and ExaBGP
    tears the session down."""
    v4, v6 = _split_reject(cfg)
    addrs = ", ".join(f'"{a}"' for a in cfg.local_addresses)
    out = [
        "[global.config]",
        f"  as = {cfg.local_as}",
        f'  router-id = "{cfg.router_id}"',
        "  port = 179",
        f"  local-address-list = [{addrs}]",
        "[global.apply-policy.config]",
    ]
    sets = [("REJECT4", v4), ("REJECT6", v6)]
    sets = [(name, ps) for name, ps in sets if ps]
    if sets:
        out.append('  import-policy-list = ["IMPORT"]')
    out += [
        '  default-import-policy = "accept-route"',
        '  default-export-policy = "reject-route"',
        "",
    ]
    for name, ps in sets:
        out += ["[[defined-sets.prefix-sets]]", f'  prefix-set-name = "{name}"']
        for p in ps:
            out += ["  [[defined-sets.prefix-sets.prefix-list]]", f'    ip-prefix = "{p}"']
    if sets:
        out += ["", "[[policy-definitions]]", '  name = "IMPORT"']
        for name, _ in sets:
            out += [
                "  [[policy-definitions.statements]]",
                f'    name = "reject-{name.lower()}"',
                "    [policy-definitions.statements.conditions.match-prefix-set]",
                f'      prefix-set = "{name}"',
                "    [policy-definitions.statements.actions]",
                '      route-disposition = "reject-route"',
            ]
    for t in cfg.collectors:
        out += [
            "",
            "[[bmp-servers]]",
            "  [bmp-servers.config]",
            f'    address = "{t.address}"',
            f"    port = {t.port}",
            f'    route-monitoring-policy = "{_gobgp_monitoring_policy(cfg)}"',
            # gobgpd rejects values below 15 s (0 turns the reports off)
            f"    statistics-timeout = {max(cfg.stats_interval, 15) if cfg.stats_interval else 0}",
        ]
    for n in cfg.neighbors:
        out += [
            "",
            "[[neighbors]]",
            "  [neighbors.config]",
            f'    neighbor-address = "{n.address}"',
            f"    peer-as = {n.asn}",
        ]
        if n.passive:
            out += ["  [neighbors.transport.config]", "    passive-mode = true"]
        out += ["  [neighbors.timers.config]", "    connect-retry = 1"]
        if cfg.graceful_restart:
            out += [
                "  [neighbors.graceful-restart.config]",
                "    enabled = true",
                "    restart-time = 120",
            ]
        if cfg.add_path:
            out += ["  [neighbors.add-paths.config]", "    receive = true", "    send-max = 8"]
        for af in n.families:
            out += [
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                f'      afi-safi-name = "{af}-unicast"',
            ]
            if cfg.graceful_restart:
                out += [
                    "    [neighbors.afi-safis.mp-graceful-restart.config]",
                    "      enabled = true",
                ]
    out.append("")
    return "\n".join(out)


def bird_config(cfg: SpeakerConfig, log_file: Path) -> str:
    """bird.conf for BIRD 3 with a BMP protocol per collector."""
    lines = [
        f'log "{log_file}" all;',
        f"router id {cfg.router_id};",
        "protocol device { }",
        "filter import_f {",
    ]
    lines += [f"  if net = {p} then reject;" for p in cfg.reject]
    lines += ["  accept;", "}"]
    chan_opts = "import filter import_f; export none; import table on;"
    if cfg.add_path:
        chan_opts += " add paths on;"
    lines += [
        "template bgp PEERS {",
        f"  local as {cfg.local_as};",
        *(
            [f"  graceful restart {'on' if cfg.graceful_restart else 'off'};"]
            if cfg.graceful_restart is not None
            else []
        ),
        "}",
    ]
    for n in cfg.neighbors:
        body = [f"neighbor {n.address} as {n.asn};"]
        if n.passive:
            body.append("passive on;")
        body += [f"{af} {{ {chan_opts} }};" for af in n.families]
        lines.append(f"protocol bgp {n.proto_name} from PEERS {{ {' '.join(body)} }}")
    if cfg.kernel_export:
        # scan time: long, so a route deleted behind BIRD's back stays deleted
        # for a while (BIRD re-syncs the kernel table on every scan)
        for af in ("ipv4", "ipv6"):
            lines.append(
                f"protocol kernel kernel_{af} {{ scan time 600; {af} {{ export all; }}; }}"
            )
    for i, t in enumerate(cfg.collectors):
        lines += [f"protocol bmp bmp{i} {{", f"  station address ip {t.address} port {t.port};"]
        if cfg.pre_policy:
            lines.append("  monitoring rib in pre_policy;")
        if cfg.post_policy:
            lines.append("  monitoring rib in post_policy;")
        lines.append("}")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- runtime


class Speaker(Harness):
    """Base class: one speaker process tree in ``ns`` with files in ``rundir``."""

    kind = "speaker"

    def __init__(
        self, ns: Namespace, workdir: Path, config: SpeakerConfig, name: str = "spk"
    ) -> None:
        self.ns = ns
        self.config = config
        self.rundir = workdir / f"{self.kind}-{name}"
        self.procs: list[subprocess.Popen[bytes]] = []

    # -- lifecycle (subclasses implement _start / _stop) --------------------------
    def start(self) -> Speaker:
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.rundir.chmod(0o755)
        self._start()
        return self

    def stop(self, graceful: bool = True, timeout: float = 15.0) -> None:
        """Graceful: the speaker's own shutdown (SIGTERM, ``birdc down``), bounded by
        ``timeout``; otherwise SIGKILL (a crash)."""
        if graceful:
            self._stop()
        deadline = time.monotonic() + timeout
        for p in reversed(self.procs):
            if p.poll() is None and not graceful:
                p.kill()
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()

    def restart(self) -> None:
        """Stop gracefully and start again with the same (possibly edited) config.

        BIRD 3.1 sends no Peer Up (and no RM) for sessions that were Established
        before its BMP session came up: stop ExaBGP first, restart, wait for the
        collector's Initiation, then start ExaBGP again.
        """
        self.stop()
        self.start()

    def reconfigure(self, config: SpeakerConfig) -> None:
        """Replace the config and restart the speaker process."""
        self.config = config
        self.restart()

    @property
    def running(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def _running(self) -> bool:
        return bool(self.procs)

    def _teardown(self, failed: bool) -> None:
        self.stop(graceful=not failed)

    # -- queries ------------------------------------------------------------------
    def session_states(self) -> dict[str, str]:
        """Neighbor address -> BGP FSM state name ("Established", "Active", ...)."""
        raise NotImplementedError

    def established(self) -> set[str]:
        return {a for a, s in self.session_states().items() if s.lower() == "established"}

    def wait_established(
        self, addresses: list[str] | tuple[str, ...], timeout: float = 30.0
    ) -> None:
        """Wait until every neighbor in ``addresses`` is Established."""
        want = set(addresses)

        def check() -> bool:
            self._check_alive()
            return want <= self.established()

        wait_until(
            check,
            timeout=timeout,
            what=f"{self.kind} sessions {sorted(want)} Established",
            describe=self.describe,
        )

    def reset_session(self, address: str) -> None:
        raise NotImplementedError

    def _check_alive(self) -> bool:
        """True, or ``LabError`` with the log tail when a process has exited."""
        for p in self.procs:
            if p.poll() is not None:
                raise LabError(
                    f"{self.kind}: {p.args!r} exited with {p.returncode}\n{self.log_tail()}"
                )
        return True

    def logs(self) -> list[Path]:
        return sorted(self.rundir.glob("*.log"))

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(tail(p, lines) for p in self.logs())

    def describe(self) -> str:
        try:
            states = str(self.session_states())
        except LabError as exc:
            states = f"(no state: {exc})"
        return f"{self.kind} session states: {states}\n{self.log_tail()}"

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)


class Frr(Speaker):
    """FRR 8.4: zebra + ``bgpd -M bmp`` with private config, pid, zserv and vty paths."""

    kind = "frr"
    ZEBRA = "/usr/lib/frr/zebra"
    BGPD = "/usr/lib/frr/bgpd"

    def _common(self, daemon: str) -> list[str]:
        r = self.rundir
        return [
            "-f", str(r / f"{daemon}.conf"),
            "-i", str(r / f"{daemon}.pid"),
            "-z", str(r / "zserv.api"),
            "--vty_socket", str(r),
            "-P", "0",
            "-u", "frr",
            "-g", "frr",
        ]  # fmt: skip

    def _start(self) -> None:
        r = self.rundir
        (r / "zebra.conf").write_text(frr_zebra_config(self.config, r / "zebra.log"))
        (r / "bgpd.conf").write_text(frr_bgpd_config(self.config, r / "bgpd.log"))
        shutil.chown(r, "frr", "frr")
        for f in r.iterdir():
            shutil.chown(f, "frr", "frr")
        self._start_daemon(
            [self.ZEBRA, *self._common("zebra")], "zebra", r / "zserv.api", "zebra's zserv socket"
        )
        self._start_daemon(
            [self.BGPD, "-M", "bmp", *self._common("bgpd")],
            "bgpd",
            r / "bgpd.vty",
            "bgpd's vty socket",
        )

    def _start_daemon(self, argv: list[str], name: str, sock: Path, what: str) -> None:
        """Start one FRR daemon (output to ``<name>.out``), wait for its socket ``sock``."""
        self.procs.append(self.ns.popen(argv, log=self.rundir / f"{name}.out"))
        wait_until(
            lambda: self._check_alive() and sock.exists(),
            timeout=15,
            what=what,
            describe=self.log_tail,
        )

    def logs(self) -> list[Path]:
        return sorted([*self.rundir.glob("*.log"), *self.rundir.glob("*.out")])

    def vtysh(self, *commands: str, check: bool = True) -> str:
        argv = ["vtysh", "--vty_socket", str(self.rundir)]
        for c in commands:
            argv += ["-c", c]
        return self.ns.run(argv, check=check, timeout=20).stdout

    cli = vtysh

    def session_states(self) -> dict[str, str]:
        data = json.loads(self.vtysh("show bgp neighbors json") or "{}")
        return {
            addr: str(info.get("bgpState", "?"))
            for addr, info in data.items()
            if isinstance(info, dict)
        }

    def reset_session(self, address: str) -> None:
        self.vtysh(f"clear bgp {address}")


class GoBgp(Speaker):
    """GoBGP: ``gobgpd -f gobgpd.toml`` with its API on 127.0.0.1:<gobgp_api_port> in the namespace."""

    kind = "gobgp"

    def _start(self) -> None:
        r = self.rundir
        (r / "gobgpd.toml").write_text(gobgp_config(self.config))
        port = self.config.gobgp_api_port
        argv = [
            "gobgpd", "-f", str(r / "gobgpd.toml"), "-l", "info", "-p",
            "--api-hosts", f"127.0.0.1:{port}", "--pprof-disable",
        ]  # fmt: skip
        self.procs.append(self.ns.popen(argv, log=r / "gobgpd.log"))

        def api_up() -> bool:
            self._check_alive()
            return self.ns.run(self.cli_argv("global"), check=False, timeout=10).returncode == 0

        wait_until(api_up, timeout=15, what="gobgpd API", describe=self.log_tail)

    def cli_argv(self, *args: str) -> list[str]:
        return ["gobgp", "-u", "127.0.0.1", "-p", str(self.config.gobgp_api_port), *args]

    def gobgp(self, *args: str, check: bool = True) -> str:
        return self.ns.run(self.cli_argv(*args), check=check, timeout=20).stdout

    cli = gobgp

    def session_states(self) -> dict[str, str]:
        data = json.loads(self.gobgp("neighbor", "-j") or "[]")
        out = {}
        for peer in data:
            conf = peer.get("conf", {})
            state = peer.get("state", {})
            addr = conf.get("neighbor_address") or state.get("neighbor_address", "?")
            st = state.get("session_state", "?")
            out[str(addr)] = _GOBGP_STATES.get(st, str(st)) if isinstance(st, int) else str(st)
        return out

    def reset_session(self, address: str) -> None:
        # `gobgp neighbor X reset` leaves the peer refusing reconnects for 30 s
        # or more (idle hold); disable + enable tears the session down the same
        # way (Cease NOTIFICATION) and accepts the peer again at once
        self.gobgp("neighbor", address, "disable")
        self.gobgp("neighbor", address, "enable")


_GOBGP_STATES = {
    0: "Unknown",
    1: "Idle",
    2: "Connect",
    3: "Active",
    4: "OpenSent",
    5: "OpenConfirm",
    6: "Established",
}


class Bird(Speaker):
    """BIRD 3 from the private root of scripts/get-bird3.sh: ``bird -f -c conf -s ctl -P pid``."""

    kind = "bird"

    def __init__(
        self,
        ns: Namespace,
        workdir: Path,
        config: SpeakerConfig,
        name: str = "spk",
        bird_dir: Path | None = None,
    ) -> None:
        super().__init__(ns, workdir, config, name)
        self.bird_dir = bird_dir or bird3_dir()

    @property
    def ctl(self) -> Path:
        return self.rundir / "bird.ctl"

    def _start(self) -> None:
        r = self.rundir
        if not (self.bird_dir / "bird").exists():
            raise LabError(f"BIRD 3 not installed in {self.bird_dir} (run scripts/get-bird3.sh)")
        (r / "bird.conf").write_text(bird_config(self.config, r / "bird.log"))
        argv = [
            str(self.bird_dir / "bird"),
            "-f",
            "-c",
            str(r / "bird.conf"),
            "-s",
            str(self.ctl),
            "-P",
            str(r / "bird.pid"),
        ]
        self.procs.append(self.ns.popen(argv, log=r / "bird.out"))

        def ctl_up() -> bool:
            self._check_alive()
            return (
                self.ctl.exists()
                and self.birdc("show status", check=False).find("Daemon is up") >= 0
            )

        wait_until(ctl_up, timeout=15, what="BIRD control socket", describe=self.log_tail)

    def logs(self) -> list[Path]:
        return sorted([*self.rundir.glob("*.log"), *self.rundir.glob("*.out")])

    def birdc(self, command: str, check: bool = True) -> str:
        argv = [str(self.bird_dir / "birdc"), "-s", str(self.ctl), *command.split()]
        return self.ns.run(argv, check=check, timeout=20).stdout

    cli = birdc

    def _stop(self) -> None:
        if self.running:
            self.birdc("down", check=False)

    def session_states(self) -> dict[str, str]:
        out = self.birdc("show protocols")
        by_name = {n.proto_name: n.address for n in self.config.neighbors}
        states = {}
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 5 and cols[0] in by_name and cols[1] == "BGP":
                # name proto table state since [info]; info is the BGP state when up/starting
                info = cols[-1] if len(cols) >= 6 else cols[3]
                states[by_name[cols[0]]] = info
        return states

    def reset_session(self, address: str) -> None:
        names = [n.proto_name for n in self.config.neighbors if n.address == address]
        if not names:
            raise LabError(f"no BIRD protocol for neighbor {address}")
        self.birdc(f"restart {names[0]}")


SPEAKERS: dict[str, type[Speaker]] = {"frr": Frr, "gobgp": GoBgp, "bird": Bird}


def make_speaker(
    kind: str, ns: Namespace, workdir: Path, config: SpeakerConfig, name: str = "spk"
) -> Speaker:
    """``Frr``, ``GoBgp`` or ``Bird`` by name ("frr", "gobgp", "bird"); not started."""
    return SPEAKERS[kind](ns, workdir, config, name)


__all__ = [
    "BMP_PORT",
    "Bird",
    "BmpTarget",
    "Frr",
    "GoBgp",
    "Neighbor",
    "Speaker",
    "SpeakerConfig",
    "bird3_dir",
    "bird_config",
    "frr_bgpd_config",
    "gobgp_config",
    "lab_neighbors",
    "make_speaker",
]
