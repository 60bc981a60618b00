"""Every golden capture replayed into a running agent with ``bmp-agent replay
FILE --to HOST:PORT --hold``; exact final counts read from ``/metrics``.

The agent is the real daemon (``python -m agent.cli run``), one process per
capture so every counter starts at zero, on loopback with ports chosen by the
kernel. ``--hold`` keeps the replayed connection open: closing it would drop
the router's RIB, as for a real router.

Expected values are derived from tests/data/captures/README.md (scenario text
and its table, counted by an independent decoder) and the lab notes:

* messages per type: the README table (Init, PeerUp, RM, Stats, PeerDown, Term);
* announced/withdrawn prefixes summed per view: the README's "RM prefixes"
  columns equal ``bmp_route_updates_total`` summed over that view's tables;
* ``basic`` final RIB: after ExaBGP's restart peer A re-announces 20 + 10 - 5
  prefixes = 16 IPv4 + 9 IPv6 (the 5 withdrawn: 4 IPv4, 1 IPv6); post-policy
  drops 198.51.100.192/26 and 2001:db8:9::/48 (15 + 8); FRR's pre-policy shows
  them as withdrawals only (15 + 8), GoBGP's and BIRD's as announcements
  (16 + 9); peer B keeps 5 + 5. 10.244.1.0/24 flaps 5 times in A's IPv4 tables;
  the replay runs within the 60 s flap window, so each withdraw → re-announce
  is one flap, and a re-announcement after Peer Down + Peer Up is none;
* ``frr-basic-nosoftreconf``: every pre-policy RM is a withdrawal: no
  pre-policy route at all;
* ``addpath``: FRR sends no path IDs (one route per prefix: the dump's 5 IPv4
  pre-policy prefixes incl. the rejected one, which the live path 3 turns into a
  withdrawal; 3 IPv6), BIRD its own path IDs (IPv4 pre: 5 prefixes x 2 paths
  + path 3 of 192.0.2.0/27 - path 1 of 192.0.2.32/27 + path 3 of the rejected
  prefix = 11 paths; post 4 x 2 = 8; IPv6 pre 3 x 2, post 2 x 2), GoBGP none in
  the dump (one key per prefix) and its received IDs live (+2 IPv4, +1 IPv6
  paths; the live withdraw of path 1 is of an unknown route);
* GoBGP sends its Loc-RIB without Peer Up, one prefix per RM, so the quirk
  ``route_monitoring_without_peer_up`` counts the Loc-RIB prefixes announced
  plus withdrawn; it withdraws (part of) its post-policy and Loc-RIB tables when
  stopped, so there only the total is derivable: announced - withdrawn, every
  one of those withdrawals being of a route it had announced;
* ``scale``: one session, 100 000 IPv4 + 20 000 IPv6 prefixes in each view.

The README quick start (the agent with built-in defaults, ``bmp-agent
replay`` of a bundled capture, ``bmp-agent peers`` and ``/metrics``) runs as
written, in a network namespace of its own so the default ports are free.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from collector_support import REPO, Agent, Key, Metrics, key
from lab import Namespace, Topology, require

CAPTURES = REPO / "tests" / "data" / "captures"
CLI = [sys.executable, "-m", "agent.cli"]
ROUTER = "127.0.0.1"
A, B, NEVER, LOC = "10.0.1.2", "fd00:1::2", "10.0.1.99", "0.0.0.0"
PRE, POST, LOCRIB = "adj_in_pre", "adj_in_post", "loc_rib"
V4, V6 = "ipv4", "ipv6"
MSG_TYPES = (
    "initiation",
    "peer_up",
    "route_monitoring",
    "statistics_report",
    "peer_down",
    "termination",
)


@dataclass(frozen=True)
class Case:
    #: README table: Init, PeerUp, RM, Stats, PeerDown, Term
    messages: tuple[int, int, int, int, int, int]
    #: README "RM prefixes announced" / "withdrawn" (pre, post, loc-rib)
    announced: tuple[int, int, int]
    withdrawn: tuple[int, int, int]
    #: exact routes of every table that holds any, (peer, view, afi) -> routes;
    #: views listed in ``partial`` are checked by their total only (None: not at all)
    rib: dict[tuple[str, str, str], int]
    partial: dict[str, int | None] = field(default_factory=dict)
    #: prefixes where they differ from routes (ADD-PATH)
    prefixes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (peer, reason) -> Peer Downs
    downs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (peer, view, afi) -> prefix flaps (all others 0)
    flaps: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: any other exact samples
    samples: dict[Key, float] = field(default_factory=dict)


def basic_rib(pre_rejected: bool, post: bool = True) -> dict[tuple[str, str, str], int]:
    a4, a6 = (16, 9) if pre_rejected else (15, 8)
    out = {(A, PRE, V4): a4, (A, PRE, V6): a6, (B, PRE, V4): 5, (B, PRE, V6): 5}
    if post:
        out |= {(A, POST, V4): 15, (A, POST, V6): 8, (B, POST, V4): 5, (B, POST, V6): 5}
    return out


FLAP_A4 = {(A, PRE, V4): 5, (A, POST, V4): 5}
# FRR at BMP start: one Peer Down for the never-up neighbor and two each for A
# and B while they were still connecting; then ExaBGP's stop (reason 4)
FRR_BASIC_DOWNS = {
    (A, "local_no_notification"): 2,
    (B, "local_no_notification"): 2,
    (NEVER, "local_no_notification"): 1,
    (A, "remote_no_notification"): 1,
    (B, "remote_no_notification"): 1,
}
QUIRK = "bmp_quirks_total"

CASES: dict[str, Case] = {
    "frr-basic.bmp": Case(
        messages=(1, 4, 238, 26, 7, 0),
        announced=(76, 76, 0),
        withdrawn=(43, 43, 0),
        rib=basic_rib(pre_rejected=False),
        downs=FRR_BASIC_DOWNS,
        flaps=FLAP_A4,
        samples={
            key(
                "bmp_router_info",
                router=ROUTER,
                sys_name="spk-frr",
                sys_descr="FRRouting 8.4.4",
                source="bmp",
            ): 1,
            key(QUIRK, router=ROUTER, quirk="peer_down_without_peer_up"): 5,
        },
    ),
    "frr-basic-nosoftreconf.bmp": Case(
        messages=(1, 4, 238, 26, 7, 0),
        announced=(0, 76, 0),
        withdrawn=(119, 43, 0),
        rib={k: v for k, v in basic_rib(pre_rejected=False).items() if k[1] == POST},
        downs=FRR_BASIC_DOWNS,
        flaps={(A, POST, V4): 5},
        # every pre-policy withdrawal is of a route the agent never had
        samples={key(QUIRK, router=ROUTER, quirk="withdraw_unknown_route"): 119 + 33},
    ),
    "gobgp-basic.bmp": Case(
        messages=(1, 4, 374, 6, 2, 0),
        announced=(80, 76, 96),
        withdrawn=(10, 72, 51),
        rib=basic_rib(pre_rejected=True, post=False),
        # Loc-RIB: best-path changes replace routes, so its size is not derivable
        partial={POST: 76 - 72, LOCRIB: None},
        downs={(A, "remote_no_notification"): 1, (B, "remote_no_notification"): 1},
        # Loc-RIB: both sessions reset, so every Loc-RIB route (15 IPv4, 8 IPv6
        # prefixes; B's are the same prefixes as A's) was withdrawn and came back
        flaps=FLAP_A4 | {(LOC, LOCRIB, V4): 5 + 15, (LOC, LOCRIB, V6): 8},
        samples={
            key(
                "bmp_router_info", router=ROUTER, sys_name="GoBGP", sys_descr="3.10.0", source="bmp"
            ): 1,
            key(QUIRK, router=ROUTER, quirk="route_monitoring_without_peer_up"): 96 + 51,
            key("bmp_peer_up", router=ROUTER, peer=LOC, peer_asn="65000", peer_type="loc_rib"): 1,
        },
    ),
    "bird-basic.bmp": Case(
        messages=(1, 4, 260, 0, 2, 1),
        announced=(80, 76, 0),
        withdrawn=(45, 43, 0),
        rib=basic_rib(pre_rejected=True),
        downs={(A, "remote_no_notification"): 1, (B, "remote_no_notification"): 1},
        flaps=FLAP_A4,
        samples={
            key(
                "bmp_router_info",
                router=ROUTER,
                sys_name="Not defined",
                sys_descr="Not defined",
                source="bmp",
            ): 1,
            # End-of-RIB right after each Peer Up, for both families, pre and post
            **{
                key("bmp_eor_received", router=ROUTER, peer=p, view=v, afi=f, safi="unicast"): 1
                for p in (A, B)
                for v in (PRE, POST)
                for f in (V4, V6)
            },
        },
    ),
    "frr-addpath.bmp": Case(
        messages=(1, 2, 30, 10, 1, 0),
        announced=(11, 9, 0),
        withdrawn=(1, 1, 0),
        rib={(A, PRE, V4): 4, (A, PRE, V6): 3, (A, POST, V4): 4, (A, POST, V6): 2},
        downs={(NEVER, "local_no_notification"): 1},
    ),
    "gobgp-addpath.bmp": Case(
        messages=(1, 2, 61, 4, 0, 0),
        announced=(19, 14, 13),
        withdrawn=(1, 2, 6),
        rib={(A, PRE, V4): 7, (A, PRE, V6): 4},
        prefixes={(A, PRE, V4): 5, (A, PRE, V6): 3},
        # post: the dump's 4 + 2 prefixes (one key each), 2 withdrawn; Loc-RIB:
        # the dump has non-best paths as withdrawals without path ID
        partial={POST: 6 - 2, LOCRIB: None},
        samples={
            key(QUIRK, router=ROUTER, quirk="withdraw_unknown_route"): 1,
            key(QUIRK, router=ROUTER, quirk="route_monitoring_without_peer_up"): 13 + 6,
        },
    ),
    "bird-addpath.bmp": Case(
        messages=(1, 2, 43, 0, 0, 1),
        announced=(19, 14, 0),
        withdrawn=(1, 1, 0),
        rib={(A, PRE, V4): 11, (A, PRE, V6): 6, (A, POST, V4): 8, (A, POST, V6): 4},
        prefixes={(A, PRE, V4): 5, (A, PRE, V6): 3, (A, POST, V4): 4, (A, POST, V6): 2},
    ),
    "bird-addpath-latesink.bmp": Case(
        messages=(1, 0, 0, 0, 0, 1),
        announced=(0, 0, 0),
        withdrawn=(0, 0, 0),
        rib={},
    ),
    "frr-mistakes.bmp": Case(
        messages=(1, 1, 404, 5, 5, 0),
        announced=(202, 202, 0),
        withdrawn=(0, 0, 0),
        # 0.0.0.0/0 + 200 host routes; ::/0
        rib={(A, PRE, V4): 201, (A, PRE, V6): 1, (A, POST, V4): 201, (A, POST, V6): 1},
        downs={
            (A, "local_no_notification"): 2,
            (B, "local_no_notification"): 2,
            (NEVER, "local_no_notification"): 1,
        },
        samples={
            key("bmp_peer_up", router=ROUTER, peer=A, peer_asn="15169", peer_type="global"): 1,
        },
    ),
    "frr-scale.bmp.gz": Case(
        messages=(1, 1, 240004, 0, 2, 0),
        announced=(120000, 120000, 0),
        withdrawn=(0, 0, 0),
        rib={(A, v, f): n for v in (PRE, POST) for f, n in ((V4, 100000), (V6, 20000))},
        # only peer A's session is up: FRR reports B and the never-up neighbor
        downs={(B, "local_no_notification"): 1, (NEVER, "local_no_notification"): 1},
    ),
    "gobgp-scale.bmp.gz": Case(
        messages=(1, 1, 443981, 0, 0, 0),
        announced=(120000, 120000, 120000),
        withdrawn=(0, 0, 83977),
        rib={(A, v, f): n for v in (PRE, POST) for f, n in ((V4, 100000), (V6, 20000))},
        partial={LOCRIB: 120000 - 83977},
    ),
}


def test_every_capture_has_a_case() -> None:
    files = sorted(p.name for p in CAPTURES.iterdir() if p.name.endswith((".bmp", ".bmp.gz")))
    assert files == sorted(CASES)


class Replay:
    """``bmp-agent replay FILE --to HOST:PORT --hold`` as a child process."""

    def __init__(self, capture: Path, port: int, ns: Namespace | None = None) -> None:
        argv = [*CLI, "replay", str(capture), "--to", f"127.0.0.1:{port}", "--hold"]
        self.proc = subprocess.Popen(
            argv if ns is None else ns.argv(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )

    def wait_sent(self, timeout: float = 120.0) -> str:
        """The summary line printed once everything is sent (not on a TTY);
        fails with the replay's output when it exits or times out first."""
        out = self.proc.stdout
        assert out is not None
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                raise AssertionError(f"replay sent nothing after {timeout}s: {buf!r}")
            chunk = os.read(out.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        line = buf.decode(errors="replace")
        if not line.startswith("replayed "):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            raise AssertionError(f"replay failed: {line}{out.read().decode(errors='replace')}")
        return line.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    with Agent(tmp_path) as a:
        yield a


def table_sums(m: Metrics, name: str, **labels: str) -> dict[str, float]:
    """Sum of ``name`` per view over the router's tables."""
    out: dict[str, float] = {}
    for (_, lab), v in m.select(name, router=ROUTER, **labels).items():
        view = dict(lab)["view"]
        out[view] = out.get(view, 0) + v
    return out


@pytest.mark.parametrize("capture", sorted(CASES))
def test_replay_capture(capture: str, agent: Agent) -> None:
    case = CASES[capture]
    n = sum(case.messages)
    msgs = {
        key("bmp_messages_total", router=ROUTER, type=t): c
        for t, c in zip(MSG_TYPES, case.messages, strict=True)
        if c
    }
    replay = Replay(CAPTURES / capture, agent.bmp_port)
    try:
        size = _size(CAPTURES / capture)
        assert replay.wait_sent() == (
            f"replayed {n} messages ({size} bytes) to 127.0.0.1:{agent.bmp_port}"
        )
        # every message applied (the agent may still be reading the socket)
        m = agent.wait_metrics(msgs, timeout=60, what=f"all {n} messages of {capture}")
        assert len(m.select("bmp_messages_total", router=ROUTER)) == len(msgs)
        assert m.get(key("bmp_router_up", router=ROUTER)) == 1

        # announced / withdrawn prefixes per view, as counted by the README
        for action, per_view in (("announce", case.announced), ("withdraw", case.withdrawn)):
            got = table_sums(m, "bmp_route_updates_total", action=action)
            want = dict(zip((PRE, POST, LOCRIB), per_view, strict=True))
            assert {v: got.get(v, 0) for v in want} == want, action

        # the RIB: exact per table, or the view's total where only that is derivable
        seen = m.rib(ROUTER)
        assert {k: v for k, v in seen.items() if k[1] not in case.partial} == case.rib
        for view, total in case.partial.items():
            if total is not None:
                assert sum(v for k, v in seen.items() if k[1] == view) == total, view
        prefixes = {
            (d["peer"], d["view"], d["afi"]): int(v)
            for (_, lab), v in m.select("bmp_rib_prefixes", router=ROUTER).items()
            if v and (d := dict(lab))["view"] not in case.partial
        }
        assert prefixes == case.rib | case.prefixes

        assert m.downs(ROUTER) == case.downs
        flaps = {
            (d["peer"], d["view"], d["afi"]): int(v)
            for (_, lab), v in m.select("bmp_prefix_flaps_total", router=ROUTER).items()
            if v and (d := dict(lab))
        }
        assert flaps == case.flaps
        assert m.mismatches(case.samples) == {}
        assert not m.select("bmp_decode_errors_total", router=ROUTER)
    finally:
        replay.stop()
    # the replayed "router" closed: its RIB goes, its counters stay
    m = agent.wait_metrics(
        {key("bmp_router_up", router=ROUTER): 0, **msgs},
        timeout=20,
        what="the router down after the replay closed",
    )
    assert m.rib(ROUTER) == {}


def _size(path: Path) -> int:
    import gzip

    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                return sum(len(chunk) for chunk in iter(lambda: g.read(1 << 20), b""))
    return path.stat().st_size


# ----------------------------------------------------------------------- quick start

QUICK_START_PEERS = {
    # README "Try it without a router": PEER -> (AS, STATE, pre/ipv4, pre/ipv6,
    # post/ipv4, post/ipv6); UPTIME varies
    "10.0.1.2": ("65001", "up", "15", "8", "15", "8"),
    "10.0.1.99": ("65099", "down", "0", "0", "0", "0"),
    "fd00:1::2": ("65002", "up", "5", "5", "5", "5"),
}


def test_readme_quick_start(tmp_path: Path) -> None:
    """``bmp-agent run`` with no configuration, ``bmp-agent replay
    tests/data/captures/frr-basic.bmp --to 127.0.0.1:11019 --hold``, then
    ``bmp-agent peers`` and ``/metrics``, exactly as in the README."""
    require()
    with Topology() as topo:
        ns = topo.add("qs")
        agent = Agent(tmp_path, ns=ns, bmp_listen=None, http_listen=None).start()
        replay = None
        try:
            assert agent.bmp == [("127.0.0.1", 11019)]
            assert agent.http == ("127.0.0.1", 9324)
            replay = Replay(Path("tests/data/captures/frr-basic.bmp"), 11019, ns=ns)
            replay.wait_sent()
            msgs = {key("bmp_messages_total", router=ROUTER, type="route_monitoring"): 238}
            m = agent.wait_metrics(msgs, timeout=30, what="the replayed capture applied")
            assert m.rib(ROUTER) == basic_rib(pre_rejected=False)

            out = ns.run([*CLI, "peers"], timeout=30, env=agent.env).stdout
            lines = out.splitlines()
            assert lines[0].split()[:2] == ["ROUTER", "STATE"]
            assert lines[1].split()[:2] == [ROUTER, "up"]
            head = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["ROUTER", "PEER"])
            cols = lines[head].split()
            assert cols == ["ROUTER", "PEER", "AS", "STATE", "UPTIME", "pre/ipv4", "pre/ipv6",
                            "post/ipv4", "post/ipv6"]  # fmt: skip
            rows = {}
            for ln in lines[head + 1 :]:
                c = ln.split()
                assert c[0] == ROUTER
                rows[c[1]] = (c[2], c[3], *c[5:])
            assert rows == QUICK_START_PEERS
            # curl -s 127.0.0.1:9324/metrics | grep '^bmp_rib_routes'
            text = agent.get("/metrics")
            lines = [ln for ln in text.splitlines() if ln.startswith("bmp_rib_routes")]
            assert len(lines) == 8
            assert (
                'bmp_rib_routes{afi="ipv4",peer="10.0.1.2",router="127.0.0.1",safi="unicast",'
                'view="adj_in_pre"} 15.0'
            ) in lines
        finally:
            if replay is not None:
                replay.stop()
            agent.stop()


def test_replay_to_a_closed_port_fails() -> None:
    """The replay helper reports the CLI's error instead of waiting forever."""
    rep = Replay(CAPTURES / "frr-addpath.bmp", 1)
    try:
        with pytest.raises(AssertionError, match=r"bmp-agent replay: 127\.0\.0\.1:1:"):
            rep.wait_sent(timeout=20)
    finally:
        rep.stop()
    assert rep.proc.returncode == 1
