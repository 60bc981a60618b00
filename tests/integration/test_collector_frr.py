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
    FLAPPING,
    Behaviour,
    CollectorLab,
    afi_of,
    check_ab_attributes,
    collector_lab,
    key,
    passive_agent,
)
from lab import (
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_COL_V4,
    LabTopology,
    SpeakerConfig,
    lab_neighbors,
)

pytestmark = pytest.mark.lab

ROUTER = SPEAKER_COL_V4
FRR = Behaviour(pre_shows_rejected=False)
NEVER_UP = "10.0.1.99"


@pytest.fixture
def frr_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    cfg = SpeakerConfig(neighbors=lab_neighbors(asn_b=4200000002), stats_interval=5)
    with collector_lab(lab_topo, "frr", FRR, cfg, lambda: passive_agent(lab_topo)) as cl:
        yield cl


def test_frr_passive(frr_lab: CollectorLab) -> None:
    cl = frr_lab
    m = cl.bring_up()
    assert m.get(cl.router_info_key("spk", "FRRouting 8.4.4")) == 1
    # FRR reports the never-up neighbor with a Peer Down when BMP comes up
    assert m.downs(ROUTER)[(NEVER_UP, "local_no_notification")] == 1
    never = key("bmp_peer_up", router=ROUTER, peer=NEVER_UP, peer_asn="65099", peer_type="global")
    assert m.get(never) == 0

    # A's and B's routes, exactly, pre- and post-policy (rejected prefixes in no table)
    cl.announce_all()
    # FRR 8.4 puts its own AS in front of the received AS path in RMs
    check_ab_attributes(cl, as_path_head=(65000,))
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
    cl.wait_router_down()
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
