"""The agent as the BMP collector of a real FRR 8.4 (``bgpd -M bmp`` with zebra),
passive mode: FRR dials the agent (``bmp connect``).

Timeline (one test, every step waited for through ``/metrics``):
the agent is up first, then FRR, then ExaBGP with peer A (10.0.1.2, AS 65001,
IPv4 transport) and peer B (fd00:1::2, AS 4200000002, IPv6 transport). A
announces 7 IPv4 + 4 IPv6 prefixes (AS path with 4200000001, communities,
large communities), B 2 + 2 (one per family shared with A); the import policy
rejects 198.51.100.192/26 and 2001:db8:9::/48. Then A withdraws 2, flaps
10.244.1.0/24 five times, FRR resets A's session (``clear bgp``), ExaBGP
restarts (both sessions reset from the remote side), and finally FRR restarts.

FRR specifics (lab notes, "Observed speaker behaviour"): pre-policy RMs need
``soft-reconfiguration inbound`` (the lab's default); the rejected prefix is
sent as a pre- and post-policy *withdrawal*, so it is in no table; FRR sends
Peer Down (reason local_no_notification) for the never-up neighbor 10.0.1.99
when BMP comes up; ``clear bgp`` sends a Cease NOTIFICATION, so the reset is
reason local_notification.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collector_support import (
    ASN_A,
    ASN_B,
    FLAPPING,
    Agent,
    Behaviour,
    CollectorLab,
    afi_of,
    key,
    route_attrs,
)
from lab import (
    BMP_PORT,
    COLLECTOR_V4,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_COL_V4,
    LabTopology,
    SpeakerConfig,
    lab_neighbors,
    make_speaker,
    require,
)

pytestmark = pytest.mark.lab

ROUTER = SPEAKER_COL_V4
FRR = Behaviour(pre_shows_rejected=False)
NEVER_UP = "10.0.1.99"


@pytest.fixture
def frr_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    require("frr", "exabgp")
    lab = lab_topo
    agent = Agent(
        lab.workdir,
        ns=lab.col,
        bmp_listen=[f"{COLLECTOR_V4}:{BMP_PORT}"],
        http_listen="127.0.0.1:9324",
    ).start()
    cfg = SpeakerConfig(neighbors=lab_neighbors(asn_b=4200000002), stats_interval=5)
    speaker = make_speaker("frr", lab.spk, lab.workdir, cfg)
    cl = CollectorLab(lab, "frr", FRR, router=ROUTER, agent=agent, speaker=speaker)
    try:
        yield cl
    finally:
        cl.close()


def test_frr_passive(frr_lab: CollectorLab) -> None:
    cl = frr_lab
    cl.speaker.start()
    cl.wait_router_up()
    cl.start_exabgp()
    m = cl.wait_peers_up()
    info = key(
        "bmp_router_info", router=ROUTER, sys_name="spk", sys_descr="FRRouting 8.4.4", source="bmp"
    )
    assert m.get(info) == 1
    # FRR reports the never-up neighbor with a Peer Down when BMP comes up
    assert m.downs(ROUTER)[(NEVER_UP, "local_no_notification")] == 1
    never = key("bmp_peer_up", router=ROUTER, peer=NEVER_UP, peer_asn="65099", peer_type="global")
    assert m.get(never) == 0

    # A's and B's routes, exactly, pre- and post-policy (rejected prefixes in no table)
    cl.announce_all()
    for view in ("adj_in_pre", "adj_in_post"):
        a = route_attrs(cl, INJ_A_V4, view, "192.0.2.0/27")
        # FRR 8.4 puts its own AS in front of the received AS path in RMs
        assert a["as_path"] == f"65000 {ASN_A} 4200000001"
        assert (a["med"], a["next_hop"]) == (10, INJ_A_V4)
        assert sorted(a["communities"]) == ["65001:100", "65001:7"]
        assert a["large_communities"] == ["4200000001:1:7"]
        b = route_attrs(cl, INJ_B_V6, view, "2001:db8:1::/48")
        assert b["as_path"] == f"65000 {ASN_B} {ASN_B}"
        assert (b["med"], b["large_communities"]) == (500, ["4200000002:2:1"])
    # FRR's Statistics Report type 0 counts the prefixes its import policy rejected
    rejected = key(
        "bmp_peer_stats", router=ROUTER, peer=INJ_A_V4, stat="rejected_prefixes", afi="", safi=""
    )
    cl.agent.wait_metrics(
        {rejected: 2},
        timeout=15,
        what="FRR's rejected-prefixes statistic",
    )

    cl.withdraw_some()
    m = cl.flap(5)
    assert cl.flap_counts(m) == {
        (INJ_A_V4, "adj_in_pre", afi_of(FLAPPING)): 5,
        (INJ_A_V4, "adj_in_post", afi_of(FLAPPING)): 5,
    }

    # FRR resets A's session itself (clear bgp): FRR 8.4's BMP module reports a
    # local reset as reason 2 with FSM event 0 (it does not implement reason 1)
    m, added = cl.reset_by_speaker(INJ_A_V4)
    assert added == {(INJ_A_V4, "local_no_notification"): 1}
    assert cl.flap_counts(m) == {
        (INJ_A_V4, "adj_in_pre", "ipv4"): 5,
        (INJ_A_V4, "adj_in_post", "ipv4"): 5,
    }

    # the BGP sessions reset: ExaBGP stops (no NOTIFICATION), then comes back
    m, added = cl.reset_sessions()
    assert added == {
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_B_V6, "remote_no_notification"): 1,
    }
    # re-announced after a Peer Down + Peer Up: a new session, not a flap
    assert cl.flap_counts(m) == {
        (INJ_A_V4, "adj_in_pre", "ipv4"): 5,
        (INJ_A_V4, "adj_in_post", "ipv4"): 5,
    }

    # FRR restarts (SIGTERM: it just closes BMP); the agent drops the router's
    # RIB, FRR reconnects and the state is rebuilt with the same counts
    cl.speaker.stop()
    cl.agent.wait_metrics(
        {cl.router_key("bmp_router_up"): 0, **{k: 0 for k in cl.expected()}},
        timeout=20,
        what="the router down and its RIB dropped",
    )
    cl.speaker.start()
    cl.wait_router_up(connections=2)
    cl.wait_peers_up(timeout=60)
    m = cl.wait_rib("the RIB rebuilt after FRR restarted", timeout=60)
    # counters persist across reconnects; one more never-up Peer Down
    assert m.downs(ROUTER)[(NEVER_UP, "local_no_notification")] == 2
    assert cl.flap_counts(m) == {
        (INJ_A_V4, "adj_in_pre", "ipv4"): 5,
        (INJ_A_V4, "adj_in_post", "ipv4"): 5,
    }
    assert not m.select("bmp_decode_errors_total", router=ROUTER)
