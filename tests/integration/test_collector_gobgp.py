"""The agent as the BMP collector of a real GoBGP 3.10 (``bmp-servers``,
route-monitoring-policy "all"), passive mode.

Same timeline as the FRR test (collector_support: A and B announce, A
withdraws 2, 10.244.1.0/24 flaps 5 times, GoBGP resets A's session, ExaBGP
restarts, GoBGP restarts),
then the agent restarts and GoBGP dumps its tables to it.

GoBGP specifics (lab notes, "Observed speaker behaviour"): the rejected
prefix is a pre-policy announcement and absent post-policy; GoBGP sends its
Loc-RIB (peer type 3, address 0.0.0.0) without any Peer Up, so that peer is
``implicit`` and counted as a quirk per RM; on a session reset it withdraws the
peer's post-policy and Loc-RIB routes, then sends Peer Down reason 4. The
Loc-RIB has one route per prefix (the best path), so A's and B's shared
prefixes count once there. GoBGP needs 15-23 s to reconnect its BMP session
when the station was down (the agent restart); a restarted GoBGP connects at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collector_support import (
    A4,
    A6,
    ASN_A,
    ASN_B,
    B4,
    B6,
    REJECTED,
    WITHDRAWN,
    Behaviour,
    CollectorLab,
    check_ab_attributes,
    collector_lab,
    key,
    passive_agent,
    route_attrs,
    sequence,
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
LOC = "0.0.0.0"
GOBGP = Behaviour(pre_shows_rejected=True, loc_rib=True)


@pytest.fixture
def gobgp_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    cfg = SpeakerConfig(neighbors=lab_neighbors(asn_b=ASN_B), loc_rib=True, stats_interval=15)
    with collector_lab(lab_topo, "gobgp", GOBGP, cfg, lambda: passive_agent(lab_topo)) as cl:
        yield cl


def loc_rib_size(afi: str, withdrawn: bool = True) -> int:
    """Distinct accepted prefixes of A and B, per family (after the withdrawals)."""
    announced = set(A4 + A6 + B4 + B6) - REJECTED - (set(WITHDRAWN) if withdrawn else set())
    return sum(1 for p in announced if (":" in p) == (afi == "ipv6"))


def a_only(afi: str) -> int:
    """A's accepted prefixes (after the withdrawals) that B does not announce."""
    only = set(A4 + A6) - REJECTED - set(WITHDRAWN) - set(B4 + B6)
    return sum(1 for p in only if (":" in p) == (afi == "ipv6"))


def test_gobgp_passive(gobgp_lab: CollectorLab) -> None:
    cl = gobgp_lab
    m = cl.bring_up()
    assert m.get(cl.router_info_key("GoBGP", "3.10.0")) == 1

    m = cl.announce_all()
    check_ab_attributes(cl)
    # the Loc-RIB's best path for a prefix A and B share is A's (shorter AS path)
    assert route_attrs(cl, LOC, "loc_rib", "192.0.2.0/27")["as_path"] == sequence(ASN_A, 4200000001)
    loc_up = key("bmp_peer_up", router=ROUTER, peer=LOC, peer_asn="65000", peer_type="loc_rib")
    assert m.get(loc_up) == 1
    # every Loc-RIB RM came without a Peer Up (one prefix per RM)
    quirk = key("bmp_quirks_total", router=ROUTER, quirk="route_monitoring_without_peer_up")
    assert (m.get(quirk) or 0) >= loc_rib_size("ipv4", withdrawn=False) + loc_rib_size(
        "ipv6", withdrawn=False
    )

    m = cl.withdraw_some()
    m = cl.flap(5)
    flaps = {
        (INJ_A_V4, "adj_in_pre", "ipv4"): 5,
        (INJ_A_V4, "adj_in_post", "ipv4"): 5,
        (LOC, "loc_rib", "ipv4"): 5,
    }
    assert cl.flap_counts(m) == flaps

    # GoBGP resets A's session itself (gobgp neighbor reset): one Peer Down of
    # A, reason 1 (its Cease NOTIFICATION) or, when ExaBGP's TCP close wins
    # the race inside GoBGP 3.10, reason 4 (both seen in this lab). The
    # Loc-RIB loses A's routes except where B's path takes over, and gets
    # them back within the flap window
    m, added = cl.reset_by_speaker(INJ_A_V4)
    assert len(added) == 1, added
    assert added in (
        {(INJ_A_V4, "local_notification"): 1},
        {(INJ_A_V4, "remote_no_notification"): 1},
    )
    flaps[(LOC, "loc_rib", "ipv4")] += a_only("ipv4")
    flaps[(LOC, "loc_rib", "ipv6")] = a_only("ipv6")
    assert cl.flap_counts(m) == flaps

    m, added = cl.reset_sessions()
    assert added == {
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_B_V6, "remote_no_notification"): 1,
    }
    # Adj-RIB-In: new sessions after Peer Down, not flaps. The Loc-RIB has no
    # Peer Down: all its routes were withdrawn when both sessions went and came
    # back within the flap window, so each of them flapped once more.
    flaps[(LOC, "loc_rib", "ipv4")] += loc_rib_size("ipv4")
    flaps[(LOC, "loc_rib", "ipv6")] += loc_rib_size("ipv6")
    assert cl.flap_counts(m) == flaps

    # GoBGP restarts (SIGTERM: withdrawals, then it closes BMP); the agent
    # drops the router's RIB, GoBGP reconnects and the state is rebuilt
    cl.speaker.stop()
    cl.wait_router_down()
    cl.speaker.start()
    cl.wait_router_up(connections=2, timeout=60)
    cl.wait_peers_up(timeout=60)
    m = cl.wait_rib("the RIB rebuilt after GoBGP restarted", timeout=60)
    assert cl.flap_counts(m) == flaps
    assert m.get(loc_up) == 1
    assert not m.select("bmp_decode_errors_total", router=ROUTER)

    # the agent restarts: GoBGP reconnects after its own retry delay (15-23 s
    # in the lab notes, not configurable) and dumps pre-policy, post-policy and
    # Loc-RIB; without ADD-PATH the dump holds one route per prefix and view
    cl.replace_agent(passive_agent(cl.lab, name="agent2"))
    cl.wait_router_up(timeout=60)
    m = cl.wait_rib("GoBGP's table dump to a new agent")
    assert m.get(loc_up) == 1
    assert cl.flap_counts(m) == {}
