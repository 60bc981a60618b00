"""Lab smoke test: each real speaker, fed by ExaBGP over an IPv4 and an IPv6
session, sends the BMP messages we expect to a plain sink.

Per speaker: the sink (collector namespace) is up first (BIRD 3 sends nothing
for sessions established before its BMP station connected), then the speaker,
then ExaBGP. Once both sessions are Established and their Peer Ups arrived,
peer A announces 4 IPv4 + 3 IPv6 prefixes and peer B 1 + 1; the speaker's
import policy rejects one prefix per family. The counts below are the exact
per-speaker behaviour documented in docs/lab.md (from the golden-capture
notes): FRR shows a rejected prefix as a pre- and post-policy *withdrawal*,
GoBGP and BIRD as a pre-policy announcement only; GoBGP adds Loc-RIB; BIRD
sends End-of-RIB for both families, pre and post, right after each Peer Up.
Finally the speaker is stopped gracefully: only BIRD sends a Termination.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from lab import (
    BMP_PORT,
    COLLECTOR_V4,
    INITIATION,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_COL_V4,
    BmpSink,
    BmpTarget,
    ExaBgp,
    LabTopology,
    SpeakerConfig,
    Summary,
    lab_neighbors,
    lab_peers,
    make_speaker,
    require,
)

pytestmark = pytest.mark.lab

A_ROUTES = [
    "192.0.2.0/27",
    "192.0.2.32/27",
    "10.244.1.0/24",
    "198.51.100.192/26",  # rejected by the import policy
    "2001:db8:1::/48",
    "2001:db8:2::/48",
    "2001:db8:9::/48",  # rejected by the import policy
]
B_ROUTES = ["203.0.113.0/26", "2001:db8:b::/48"]
REJECTED = {"198.51.100.192/26", "2001:db8:9::/48"}
ACCEPTED = sorted(set(A_ROUTES + B_ROUTES) - REJECTED)
ALL = sorted(A_ROUTES + B_ROUTES)


@dataclass(frozen=True)
class Expect:
    """What the sink must have received once the routes are in (per view)."""

    announced: dict[str, list[str]]
    withdrawn: dict[str, list[str]]
    eor: dict[str, int]
    #: Route Monitoring messages per view (None: not fixed, GoBGP packs pre-policy)
    rm_messages: dict[str, int | None]
    termination: int


EXPECT = {
    # one prefix per RM; the rejected prefix is a withdrawal pre and post
    "frr": Expect(
        announced={"pre": ACCEPTED, "post": ACCEPTED},
        withdrawn={"pre": sorted(REJECTED), "post": sorted(REJECTED)},
        eor={},
        rm_messages={"pre": 9, "post": 9},
        termination=0,
    ),
    # pre-policy forwards the received UPDATEs; post and Loc-RIB one prefix per RM
    "gobgp": Expect(
        announced={"pre": ALL, "post": ACCEPTED, "loc_rib": ACCEPTED},
        withdrawn={},
        eor={},
        rm_messages={"pre": None, "post": 7, "loc_rib": 7},
        termination=0,
    ),
    # End-of-RIB for both AFIs, pre and post, after each of the 2 Peer Ups
    "bird": Expect(
        announced={"pre": ALL, "post": ACCEPTED},
        withdrawn={},
        eor={"pre": 4, "post": 4},
        rm_messages={"pre": 9 + 4, "post": 7 + 4},
        termination=1,
    ),
}


def parsers_view_counts(data: bytes) -> tuple[Counter[str], Counter[str]]:
    """Announced / withdrawn prefix counts per view, decoded by ``parsers``."""
    from parsers.bmp.messages import RouteMonitoring
    from parsers.bmp.session import BmpSession, Decoded

    views = {"adj_in_pre": "pre", "adj_in_post": "post", "loc_rib": "loc_rib"}
    ann: Counter[str] = Counter()
    wd: Counter[str] = Counter()
    for ev in BmpSession().feed(data):
        assert isinstance(ev, Decoded), ev
        msg = ev.message
        if isinstance(msg, RouteMonitoring):
            view = views[msg.peer.view]
            ann[view] += msg.update.announced_count()
            wd[view] += msg.update.withdrawn_count()
    return ann, wd


def sorted_views(d: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in d.items() if v}


@pytest.mark.parametrize("kind", ["frr", "gobgp", "bird"])
def test_speaker_sends_bmp(kind: str, lab_topo: LabTopology) -> None:
    require(kind, "exabgp")
    lab = lab_topo
    expect = EXPECT[kind]
    cfg = SpeakerConfig(
        neighbors=lab_neighbors(),
        loc_rib=kind == "gobgp",
        stats_interval=0,  # no Statistics Reports: every message count below is exact
    )
    with BmpSink(lab.col, COLLECTOR_V4, BMP_PORT) as sink:
        speaker = make_speaker(kind, lab.spk, lab.workdir, cfg).start()
        injector = ExaBgp(lab.inj, lab.workdir, lab_peers())
        # BGP only once BMP is up: BIRD never reports sessions that were
        # Established before its BMP station connected
        sink.wait_for(
            lambda s: s.count(INITIATION) == 1,
            timeout=30,
            what="Initiation",
            describe=speaker.describe,
        )
        injector.start()
        try:
            speaker.wait_established([INJ_A_V4, INJ_B_V6], timeout=40)

            def peer_ups(s: BmpSink) -> bool:
                return s.summary().count("peer_up") >= 2

            sink.wait_for(peer_ups, timeout=30, what="2 Peer Ups", describe=speaker.describe)

            injector.announce_many(
                "A",
                A_ROUTES,
                as_path=[65001, 4200000001],
                med=10,
                communities=["65001:100", "65001:7"],
                large_communities=["4200000001:1:7"],
            )
            injector.announce_many("B", B_ROUTES, as_path=[65002, 65002], med=500)

            def routes_in(s: BmpSink) -> bool:
                got = s.summary()
                return all(got.announced_count(v) >= len(p) for v, p in expect.announced.items())

            sink.wait_for(
                routes_in, timeout=30, what="the announced routes", describe=speaker.describe
            )
            sink.settle(quiet=1.5)
            live: Summary = sink.summary()
            live_data = sink.data()
        finally:
            injector.stop()
            speaker.stop()
        sink.wait_for(lambda s: s.connections[0].closed, timeout=20, what="the speaker closing BMP")
        final = sink.summary()
        assert len(sink.connections) == 1

    # Initiation, one Peer Up per established session, nothing unexpected
    assert live.count("initiation") == 1
    assert live.count("peer_up") == 2
    assert sorted(p.address for p in live.peer_up) == sorted([INJ_A_V4, INJ_B_V6])
    assert {p.asn for p in live.peer_up} == {65001, 65002}
    assert live.count("statistics_report") == 0
    assert live.count("termination") == 0
    assert live.incomplete_tail == 0
    if kind == "frr":
        # FRR reports every configured peer not yet Established when BMP comes
        # up (reason 2), including the never-up one; the others report nothing
        assert "10.0.1.99" in {p.address for p, _ in live.peer_down}
        assert {reason for _, reason in live.peer_down} == {2}
    else:
        assert live.count("peer_down") == 0

    # the routes, per view, exactly
    assert sorted_views(live.announced) == {k: sorted(v) for k, v in expect.announced.items()}
    assert sorted_views(live.withdrawn) == {k: sorted(v) for k, v in expect.withdrawn.items()}
    assert {k: v for k, v in live.eor.items() if v} == expect.eor
    for view, n in expect.rm_messages.items():
        if n is not None:
            assert live.rm_messages[view] == n, view
    assert live.count("route_monitoring") == sum(live.rm_messages.values())

    # the project's decoders agree with the lab's independent reader
    ann, wd = parsers_view_counts(live_data)
    assert dict(ann) == {v: live.announced_count(v) for v in live.announced}
    assert {k: n for k, n in wd.items() if n} == {
        v: live.withdrawn_count(v) for v in live.withdrawn if live.withdrawn_count(v)
    }

    # graceful stop: only BIRD says goodbye with a Termination
    assert final.count("termination") == expect.termination


def test_frr_active_mode_and_session_reset(lab_topo: LabTopology) -> None:
    """FRR's `bmp listener`: the collector dials in and gets the established
    peers and a table dump; `reset_session` shows as Peer Down + Peer Up."""
    require("frr", "exabgp")
    lab = lab_topo
    listener = BmpTarget(SPEAKER_COL_V4, 11020)
    cfg = SpeakerConfig(
        neighbors=lab_neighbors(), collectors=(), listener=listener, stats_interval=0
    )
    with BmpSink(lab.col, COLLECTOR_V4, BMP_PORT) as sink:
        speaker = make_speaker("frr", lab.spk, lab.workdir, cfg).start()
        injector = ExaBgp(lab.inj, lab.workdir, lab_peers()).start()
        try:
            speaker.wait_established([INJ_A_V4, INJ_B_V6], timeout=40)
            injector.announce_many("A", ["192.0.2.0/27", "2001:db8:1::/48"])
            sink.connect(listener.address, listener.port)

            def dumped(s: BmpSink) -> bool:
                return s.summary().eor["post"] == 4

            sink.wait_for(dumped, timeout=30, what="the table dump", describe=speaker.describe)
            sink.settle(quiet=1.0)
            dump = sink.summary()
            speaker.reset_session(INJ_A_V4)

            def reset_seen(s: BmpSink) -> bool:
                return s.summary().count("peer_up") == 3

            sink.wait_for(
                reset_seen, timeout=40, what="Peer Up after reset", describe=speaker.describe
            )
            after = sink.summary()
        finally:
            injector.stop()
            speaker.stop()
    assert dump.count("initiation") == 1
    assert sorted(p.address for p in dump.peer_up) == sorted([INJ_A_V4, INJ_B_V6])
    # the never-up neighbor: Peer Down reason 2 with BGP ID 0.0.0.0
    assert [(p.address, p.bgp_id, r) for p, r in dump.peer_down] == [("10.0.1.99", "0.0.0.0", 2)]
    assert sorted(dump.announced["pre"]) == ["192.0.2.0/27", "2001:db8:1::/48"]
    assert sorted(dump.announced["post"]) == ["192.0.2.0/27", "2001:db8:1::/48"]
    assert dict(dump.eor) == {"pre": 4, "post": 4}
    # `clear bgp 10.0.1.2` sends a Cease NOTIFICATION to the peer, yet FRR 8.4
    # reports Peer Down reason 2 (local close, FSM event code), not 1
    downs = [(p.address, r) for p, r in after.peer_down[len(dump.peer_down) :]]
    assert downs == [(INJ_A_V4, 2)]
    assert after.peer_up[-1].address == INJ_A_V4
