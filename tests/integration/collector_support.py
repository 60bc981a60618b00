"""Helpers for the collector integration tests (no tests here).

``Agent`` runs the real daemon (``python -m agent.cli run``) as a child
process, either in the root namespace (replay tests, loopback only) or inside
a lab namespace (``ns=lab.col``). Its HTTP API is read over a socket created
inside that same namespace, so nothing listens outside the test's namespaces.

``Metrics`` is one parsed ``/metrics`` scrape; ``Agent.wait_metrics`` polls
until every expected sample has its exact value and otherwise fails with a
diff of expected against seen values plus the log tails it is given.

``Routes`` drives an ``lab.ExaBgp`` injector and remembers what is announced,
so the same routes can be sent again after ExaBGP itself is restarted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import (
    BMP_PORT,
    COLLECTOR_V4,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_COL_V4,
    ExaBgp,
    LabError,
    Namespace,
    make_speaker,
    poll,
    require,
    tail,
)
from lab.harness import Harness
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]

#: A metric sample: name plus sorted label pairs.
Key = tuple[str, tuple[tuple[str, str], ...]]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def rib(router: str, peer: str, view: str, afi: str) -> Key:
    return key("bmp_rib_routes", router=router, peer=peer, view=view, afi=afi, safi="unicast")


def flaps(router: str, peer: str, view: str, afi: str) -> Key:
    return key(
        "bmp_prefix_flaps_total", router=router, peer=peer, view=view, afi=afi, safi="unicast"
    )


def show(k: Key) -> str:
    name, labels = k
    return name + "{" + ",".join(f'{n}="{v}"' for n, v in labels) + "}"


@dataclass(frozen=True)
class Metrics:
    samples: dict[Key, float]

    @classmethod
    def parse(cls, text: str) -> Metrics:
        out: dict[Key, float] = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return cls(out)

    def get(self, k: Key) -> float | None:
        return self.samples.get(k)

    def select(self, name: str, **labels: str) -> dict[Key, float]:
        """Samples of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return {k: v for k, v in self.samples.items() if k[0] == name and want <= set(k[1])}

    def rib(self, router: str, nonzero: bool = True) -> dict[tuple[str, str, str], int]:
        """(peer, view, afi) -> routes of ``router``; only non-zero tables when ``nonzero``."""
        out = {}
        for (_, labels), v in self.select("bmp_rib_routes", router=router).items():
            d = dict(labels)
            if v or not nonzero:
                out[(d["peer"], d["view"], d["afi"])] = int(v)
        return out

    def downs(self, router: str) -> dict[tuple[str, str], int]:
        """(peer, reason) -> Peer Downs of ``router``."""
        out = {}
        for (_, labels), v in self.select("bmp_peer_downs_total", router=router).items():
            d = dict(labels)
            out[(d["peer"], d["reason"])] = int(v)
        return out

    def mismatches(self, expected: Mapping[Key, float | None]) -> dict[Key, tuple[Any, Any]]:
        """Expected samples whose value differs (None: must be absent)."""
        bad = {}
        for k, want in expected.items():
            got = self.samples.get(k)
            if got != want:
                bad[k] = (want, got)
        return bad


def http_get(host: str, port: int, path: str, ns: Namespace | None = None) -> tuple[int, str]:
    """GET ``path`` (HTTP/1.0); the socket lives in ``ns`` when given."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = ns.socket(family) if ns is not None else socket.socket(family, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(10)
        sock.connect((host, port))
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode("utf-8", "replace")


class Agent(Harness):
    """``python -m agent.cli run`` as a child process (in ``ns`` when given).

    Ports 0 are allowed: the bound addresses are read from the agent's JSON log.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        ns: Namespace | None = None,
        bmp_listen: Iterable[str] | None = ("127.0.0.1:0",),
        http_listen: str | None = "127.0.0.1:0",
        connect: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        name: str = "agent",
    ) -> None:
        self.ns = ns
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        # None: the built-in default (no flag)
        self.argv = [sys.executable, "-m", "agent.cli", "run"]
        if http_listen is not None:
            self.argv += ["--http-listen", http_listen]
        for b in bmp_listen or ():
            self.argv += ["--bmp-listen", b]
        for c in connect:
            self.argv += ["--connect", c]
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: tuple[str, int] = ("", 0)
        self.bmp: list[tuple[str, int]] = []
        #: ``describe()`` callables whose text is added to failure messages
        self.context: list[Callable[[], str]] = []

    def start(self, timeout: float = 20.0) -> Agent:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        argv = self.argv if self.ns is None else self.ns.argv(self.argv)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=REPO,
                start_new_session=True,
            )
        proc = self.proc

        def ready() -> bool:
            if self._ready():
                return True
            if proc.poll() is not None:
                raise LabError(f"agent exited with {proc.returncode}\n{self.log_tail()}")
            return False

        if not poll(ready, timeout=timeout, interval=0.1):
            raise LabError(f"agent not ready after {timeout}s\n{self.log_tail()}")
        return self

    def _ready(self) -> bool:
        http = bmp = None
        for rec in self.records():
            if rec.get("event") == "http listening":
                http = rec["addresses"][0]
            elif rec.get("event") == "bmp listening":
                bmp = rec["addresses"]
        if http is None or bmp is None:
            return False
        self.http = _split(http)
        self.bmp = [_split(a) for a in bmp]
        try:
            status, _ = http_get(*self.http, "/readyz", ns=self.ns)
        except OSError:
            return False
        return status == 200

    def records(self) -> list[dict[str, Any]]:
        """The agent's JSON log records so far."""
        out = []
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        for line in lines:
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    @property
    def bmp_port(self) -> int:
        return self.bmp[0][1]

    def stop(self, timeout: float = 10.0) -> int | None:
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            # the process group: ``ip netns exec`` execs the agent, but be thorough
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.proc = None
        return p.returncode

    def _running(self) -> bool:
        return self.proc is not None

    def _teardown(self, failed: bool) -> None:
        self.stop()

    # -- reading -------------------------------------------------------------
    def get(self, path: str) -> str:
        status, body = http_get(*self.http, path, ns=self.ns)
        if status != 200:
            raise LabError(f"GET {path}: HTTP {status}: {body[:500]}")
        return body

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def metrics(self) -> Metrics:
        return Metrics.parse(self.get("/metrics"))

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def describe(self) -> str:
        parts = [self.log_tail()]
        for fn in self.context:
            try:
                parts.append(fn())
            except Exception as exc:  # a describe helper must not hide the failure
                parts.append(f"(describe failed: {exc})")
        return "\n".join(parts)

    def wait_metrics(
        self,
        expected: Mapping[Key, float | None],
        *,
        timeout: float = 30.0,
        what: str = "",
        stable: float = 0.0,
    ) -> Metrics:
        """Poll ``/metrics`` until every sample in ``expected`` has exactly that
        value (None: absent), still true ``stable`` seconds later; return that
        scrape. On timeout fail with the differences and the log tails."""
        deadline = time.monotonic() + timeout
        matched_at: float | None = None
        last: Metrics | None = None
        err = ""
        while True:
            try:
                last = self.metrics()
                err = ""
            except (OSError, LabError) as exc:
                last, err = None, str(exc)
            if last is not None and not last.mismatches(expected):
                now = time.monotonic()
                if matched_at is None:
                    matched_at = now
                if now - matched_at >= stable:
                    return last
            else:
                matched_at = None
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        lines = [f"timed out after {timeout}s waiting for {what or 'metrics'}"]
        if last is None:
            lines.append(f"no scrape: {err}")
        else:
            lines.append("sample: expected != seen")
            for k, (want, got) in sorted(last.mismatches(expected).items()):
                lines.append(f"  {show(k)}: {want} != {got}")
            lines.append("bmp_rib_routes seen:")
            for (_, labels), v in sorted(last.select("bmp_rib_routes").items()):
                lines.append(f"  {dict(labels)} {v}")
        lines.append(self.describe())
        raise AssertionError("\n".join(lines))


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


# ------------------------------------------------------------------------- routes


@dataclass
class Routes:
    """An ExaBGP injector plus the routes it currently announces, per peer."""

    exabgp: ExaBgp
    announced: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def announce(self, peer: str, prefixes: Iterable[str], **attrs: Any) -> None:
        prefixes = list(prefixes)
        self.exabgp.announce_many(peer, prefixes, **attrs)
        table = self.announced.setdefault(peer, {})
        for p in prefixes:
            table[p] = attrs

    def withdraw(self, peer: str, prefixes: Iterable[str]) -> None:
        prefixes = list(prefixes)
        self.exabgp.withdraw_many(peer, prefixes)
        for p in prefixes:
            self.announced.get(peer, {}).pop(p, None)

    def resend(self) -> None:
        """Announce everything again (after ExaBGP was restarted)."""
        for peer, table in self.announced.items():
            for p, attrs in table.items():
                self.exabgp.announce(peer, p, **attrs)


# ------------------------------------------------------------------------- scenario

#: Peer A (IPv4 transport): IPv4 and IPv6 prefixes, one of each rejected by
#: the speakers' import policy (``SpeakerConfig.reject``).
A4 = [
    "192.0.2.0/27",
    "192.0.2.32/27",
    "192.0.2.64/27",
    "10.244.1.0/24",
    "10.96.0.0/12",
    "198.51.100.0/26",
    "198.51.100.192/26",
]
A6 = ["2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48", "2001:db8:9::/48"]
#: Peer B (IPv6 transport, 4-byte AS): one prefix per family also announced by A
B4 = ["192.0.2.0/27", "203.0.113.0/26"]
B6 = ["2001:db8:1::/48", "2001:db8:b::/48"]
REJECTED = frozenset({"198.51.100.192/26", "2001:db8:9::/48"})
WITHDRAWN = ["192.0.2.64/27", "2001:db8:3::/48"]
FLAPPING = "10.244.1.0/24"
ASN_A = 65001
ASN_B = 4200000002
ATTRS_A: dict[str, Any] = {
    "as_path": [ASN_A, 4200000001],
    "med": 10,
    "communities": ["65001:100", "65001:7"],
    "large_communities": ["4200000001:1:7"],
}
ATTRS_B: dict[str, Any] = {
    "as_path": [ASN_B, ASN_B],
    "med": 500,
    "communities": ["65002:1"],
    "large_communities": ["4200000002:2:1"],
}


def afi_of(prefix: str) -> str:
    return "ipv6" if ":" in prefix else "ipv4"


@dataclass(frozen=True)
class Behaviour:
    """What one speaker shows over BMP (docs: the lab notes' "Observed speaker behaviour")."""

    #: the import-rejected prefix is a pre-policy announcement (GoBGP, BIRD);
    #: FRR sends it as a pre- and post-policy withdrawal
    pre_shows_rejected: bool
    #: Loc-RIB monitored (GoBGP, without a Peer Up: peer 0.0.0.0, state implicit)
    loc_rib: bool = False


def expected_rib(
    router: str,
    routes: Mapping[str, Mapping[str, Any]],
    peers: Mapping[str, str],
    behaviour: Behaviour,
) -> dict[Key, float]:
    """Exact ``bmp_rib_routes`` of every table that must hold routes.

    ``routes``: ExaBGP peer name -> announced prefixes; ``peers``: ExaBGP peer
    name -> the speaker's peer address (the ``peer`` label)."""
    out: dict[Key, float] = {}
    loc: dict[str, set[str]] = {"ipv4": set(), "ipv6": set()}
    for name, address in peers.items():
        prefixes = list(routes.get(name, {}))
        for afi in ("ipv4", "ipv6"):
            fam = [p for p in prefixes if afi_of(p) == afi]
            accepted = [p for p in fam if p not in REJECTED]
            loc[afi].update(accepted)
            pre = fam if behaviour.pre_shows_rejected else accepted
            if pre:
                out[rib(router, address, "adj_in_pre", afi)] = len(pre)
            if accepted:
                out[rib(router, address, "adj_in_post", afi)] = len(accepted)
    if behaviour.loc_rib:
        for afi, ps in loc.items():
            if ps:
                out[rib(router, "0.0.0.0", "loc_rib", afi)] = len(ps)
    return out


def check_rib_exact(m: Metrics, router: str, expected: Mapping[Key, float]) -> None:
    """No table other than the expected ones holds a route; prefixes == routes
    (no ADD-PATH in these scenarios)."""
    want = {}
    for (_, labels), v in expected.items():
        d = dict(labels)
        want[(d["peer"], d["view"], d["afi"])] = int(v)
    assert m.rib(router) == want
    prefixes = {
        (dict(lab)["peer"], dict(lab)["view"], dict(lab)["afi"]): int(v)
        for (_, lab), v in m.select("bmp_rib_prefixes", router=router).items()
        if v
    }
    assert prefixes == want


class CollectorLab:
    """One speaker, ExaBGP (peers A and B) and the agent in the standard lab.

    The steps are methods so each speaker's test reads as its timeline; every
    wait is a bounded poll of ``/metrics`` and fails with a diff and log tails.
    """

    def __init__(
        self,
        lab: Any,
        kind: str,
        behaviour: Behaviour,
        *,
        router: str,
        agent: Agent,
        speaker: Any,
    ) -> None:
        from lab import INJ_A_V4, INJ_B_V6, lab_peers

        self.lab = lab
        self.kind = kind
        self.behaviour = behaviour
        self.router = router
        self.agent = agent
        self.speaker = speaker
        self.peers = {"A": INJ_A_V4, "B": INJ_B_V6}
        self.exabgp = ExaBgp(lab.inj, lab.workdir, lab_peers(asn_b=ASN_B))
        self.routes = Routes(self.exabgp)
        agent.context.append(speaker.describe)
        agent.context.append(self.exabgp.log_tail)

    # -- expectations ----------------------------------------------------------
    def expected(self) -> dict[Key, float]:
        return expected_rib(self.router, self.routes.announced, self.peers, self.behaviour)

    def wait_rib(self, what: str, timeout: float = 30.0, stable: float = 1.0) -> Metrics:
        """Wait until the RIB is exactly what ExaBGP announces, and stays so ``stable`` s."""
        exp = self.expected()
        m = self.agent.wait_metrics(exp, timeout=timeout, what=what, stable=stable)
        check_rib_exact(m, self.router, exp)
        return m

    def router_key(self, name: str) -> Key:
        return key(name, router=self.router)

    def peer_up_key(self, peer: str) -> Key:
        asn = {self.peers["A"]: str(ASN_A), self.peers["B"]: str(ASN_B)}[peer]
        return key("bmp_peer_up", router=self.router, peer=peer, peer_asn=asn, peer_type="global")

    # -- steps -----------------------------------------------------------------
    def router_info_key(self, sys_name: str, sys_descr: str) -> Key:
        return key(
            "bmp_router_info",
            router=self.router,
            sys_name=sys_name,
            sys_descr=sys_descr,
            source="bmp",
        )

    def wait_router_up(
        self,
        connections: int = 1,
        timeout: float = 30.0,
        info: Mapping[Key, float] | None = None,
    ) -> Metrics:
        """Wait for the router's session; ``info``: samples its Initiation sets
        (bmp_router_up is 1 from the TCP accept, before the Initiation is read)."""
        return self.agent.wait_metrics(
            {
                self.router_key("bmp_router_up"): 1,
                self.router_key("bmp_router_connections_total"): connections,
                **(info or {}),
            },
            timeout=timeout,
            what=f"router {self.router} connected ({connections} connections)",
        )

    def wait_router_down(
        self,
        extra: Mapping[Key, float] | None = None,
        what: str = "the router down and its RIB dropped",
    ) -> Metrics:
        """Wait for the router down, every table of ``expected()`` at 0 and the
        ``extra`` samples (e.g. a Termination count)."""
        return self.agent.wait_metrics(
            {
                self.router_key("bmp_router_up"): 0,
                **(extra or {}),
                **{k: 0 for k in self.expected()},
            },
            timeout=20,
            what=what,
        )

    def replace_agent(self, agent: Agent) -> None:
        """Stop the agent process and start ``agent`` (not started yet) in its
        place, with the speaker's and ExaBGP's logs as failure context."""
        self.agent.stop()
        self.agent = agent.start()
        self.agent.context = [self.speaker.describe, self.exabgp.log_tail]

    def start_exabgp(self) -> None:
        self.exabgp.start()

    def wait_peers_up(self, timeout: float = 45.0) -> Metrics:
        self.speaker.wait_established(list(self.peers.values()), timeout=timeout)
        return self.agent.wait_metrics(
            {self.peer_up_key(a): 1 for a in self.peers.values()},
            timeout=timeout,
            what="Peer Up of A and B",
        )

    def bring_up(
        self,
        info: Mapping[Key, float] | None = None,
        *,
        connections: int = 1,
        timeout: float | None = None,
    ) -> Metrics:
        """The speaker starts, its BMP session comes up (``connections``, ``info``
        as ``wait_router_up``'s), ExaBGP starts, A and B come up; the samples then.
        ``timeout``: of each wait (default: theirs)."""
        self.speaker.start()
        self.wait_router_up(connections, 30.0 if timeout is None else timeout, info)
        self.start_exabgp()
        return self.wait_peers_up(45.0 if timeout is None else timeout)

    def announce_all(self) -> Metrics:
        self.routes.announce("A", A4 + A6, **ATTRS_A)
        self.routes.announce("B", B4 + B6, **ATTRS_B)
        return self.wait_rib("the announced routes")

    def withdraw_some(self) -> Metrics:
        self.routes.withdraw("A", WITHDRAWN)
        return self.wait_rib("the withdrawals of " + ", ".join(WITHDRAWN))

    def flap(self, times: int = 5) -> Metrics:
        """Withdraw and re-announce ``FLAPPING`` on peer A, each step seen by the agent."""
        m = None
        for i in range(times):
            self.routes.withdraw("A", [FLAPPING])
            self.wait_rib(f"flap {i + 1}: withdrawal of {FLAPPING}", stable=0)
            self.routes.announce("A", [FLAPPING], **ATTRS_A)
            m = self.wait_rib(f"flap {i + 1}: re-announcement of {FLAPPING}", stable=0)
        assert m is not None
        return m

    def flap_counts(self, m: Metrics) -> dict[tuple[str, str, str], int]:
        out = {}
        for (_, labels), v in m.select("bmp_prefix_flaps_total", router=self.router).items():
            d = dict(labels)
            if v:
                out[(d["peer"], d["view"], d["afi"])] = int(v)
        return out

    def reset_sessions(self, timeout: float = 45.0) -> tuple[Metrics, dict[tuple[str, str], int]]:
        """Stop ExaBGP (both BGP sessions close without a NOTIFICATION), see
        the Peer Downs and the peers' tables emptied, start it again and send
        the same routes. Returns the refilled scrape and the Peer Down counts
        added meanwhile, per (peer, reason)."""
        before = self.agent.metrics().downs(self.router)
        kept = self.routes.announced
        self.exabgp.stop()
        self.routes.announced = {}
        m = self.wait_rib("the peers' tables emptied by Peer Down", timeout=timeout, stable=0)
        self.routes.announced = kept
        self.exabgp.start()
        self.wait_peers_up(timeout=timeout)
        self.routes.resend()
        m = self.wait_rib("the RIB refilled after the session reset", timeout=timeout)
        return m, added_downs(before, m.downs(self.router))

    def reset_by_speaker(
        self, address: str, timeout: float = 45.0
    ) -> tuple[Metrics, dict[tuple[str, str], int]]:
        """The speaker resets its session with ``address`` (``clear bgp``,
        ``gobgp neighbor reset``, ``birdc restart``); wait for that peer's
        Peer Down, its Peer Up and the RIB refilled (ExaBGP re-sends its
        routes on the new session). Returns the scrape and the Peer Downs added."""
        before = self.agent.metrics().downs(self.router)

        def peer_downs(m: Metrics) -> int:
            return sum(n for (p, _), n in m.downs(self.router).items() if p == address)

        old = sum(n for (p, _), n in before.items() if p == address)
        self.speaker.reset_session(address)
        if not poll(lambda: peer_downs(self.agent.metrics()) != old, timeout=timeout):
            raise AssertionError(f"no Peer Down for {address}\n{self.agent.describe()}")
        self.wait_peers_up(timeout=timeout)
        m = self.wait_rib(f"the RIB refilled after the reset of {address}", timeout=timeout)
        return m, added_downs(before, m.downs(self.router))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.exabgp.stop()
        with contextlib.suppress(Exception):
            self.speaker.stop(timeout=10)
        self.agent.stop()


def added_downs(
    before: Mapping[tuple[str, str], int], after: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """Peer Downs per (peer, reason) counted since ``before``."""
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def passive_agent(lab: Any, name: str = "agent", env: Mapping[str, str] | None = None) -> Agent:
    """An agent (not started) in the collector namespace that the speaker dials
    (passive mode), its API on 127.0.0.1:9324 inside that namespace."""
    return Agent(
        lab.workdir,
        ns=lab.col,
        bmp_listen=[f"{COLLECTOR_V4}:{BMP_PORT}"],
        http_listen="127.0.0.1:9324",
        env=env,
        name=name,
    )


@contextlib.contextmanager
def collector_lab(
    lab: Any,
    kind: str,
    behaviour: Behaviour,
    config: Any,
    agent: Callable[[], Agent],
) -> Iterator[CollectorLab]:
    """The body of each speaker's fixture: skip unless ``kind`` and ExaBGP are
    installed, start ``agent()``, build the speaker of ``kind`` with ``config``
    (not started) and close everything afterwards. The router label is the
    speaker's collector-side address."""
    require(kind, "exabgp")
    started = agent().start()
    speaker = make_speaker(kind, lab.spk, lab.workdir, config)
    cl = CollectorLab(lab, kind, behaviour, router=SPEAKER_COL_V4, agent=started, speaker=speaker)
    try:
        yield cl
    finally:
        cl.close()


def sequence(*asns: int) -> list[dict[str, Any]]:
    """An ``as_path`` of one AS_SEQUENCE, as the API renders it (decode schema)."""
    return [{"type": "sequence", "asns": list(asns)}]


def check_ab_attributes(cl: CollectorLab, as_path_head: tuple[int, ...] = ()) -> None:
    """A's and B's attributes, exactly, in the pre- and post-policy views, for
    one prefix each; ``as_path_head`` is what the speaker puts in front of the
    received AS path (FRR: its own AS)."""
    for view in ("adj_in_pre", "adj_in_post"):
        a = route_attrs(cl, INJ_A_V4, view, "192.0.2.0/27")
        assert a["as_path"] == sequence(*as_path_head, ASN_A, 4200000001)
        assert (a["med"], a["next_hop"]) == (10, INJ_A_V4)
        assert sorted(a["communities"]) == ["65001:100", "65001:7"]
        assert a["large_communities"] == ["4200000001:1:7"]
        b = route_attrs(cl, INJ_B_V6, view, "2001:db8:1::/48")
        assert b["as_path"] == sequence(*as_path_head, ASN_B, ASN_B)
        assert (b["med"], b["large_communities"]) == (500, ["4200000002:2:1"])


def route_attrs(cl: CollectorLab, peer: str, view: str, prefix: str) -> dict[str, Any]:
    """The attributes of the one route for ``prefix`` (exact match) in a view, via the API."""
    got = cl.agent.get_json(
        f"/api/v1/routes?router={cl.router}&peer={peer}&view={view}&prefix={prefix}"
    )
    (route,) = got["routes"]
    assert (route["prefix"], route["match"], route["path_id"]) == (prefix, "exact", None)
    attrs: dict[str, Any] = route["attributes"]
    return attrs
