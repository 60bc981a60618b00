"""The agent as the BMP collector of a real BIRD 3.1 (``protocol bmp``, from
the private root of scripts/get-bird3.sh), passive mode.

Same timeline as the FRR test (collector_support: A and B announce, A
withdraws 2, 10.244.1.0/24 flaps 5 times, ExaBGP restarts, BIRD resets A's
session, BIRD restarts),
then the agent restarts while BIRD's sessions stay up.

BIRD specifics (lab notes, "Observed speaker behaviour"): BIRD sends nothing
for BGP sessions that were Established before its BMP session came up, so the
agent runs first, and for the restart ExaBGP is stopped until BIRD's BMP
session is back; BIRD sends End-of-RIB for both families, pre and post, right
after each Peer Up; the rejected prefix is a pre-policy announcement only;
on a session reset it withdraws the peer's routes, then sends Peer Down
reason 4; ``birdc down`` ends with a Termination; after ``birdc restart`` of a
peer (reason 1, Cease) BIRD 3.1.8 reports that peer's next Peer Down with the
same stale reason and NOTIFICATION, whatever the cause (seen here). BIRD sends no Statistics
Reports and stays silent while nothing changes: the agent runs with a 3 s
``bmp.idle_timeout`` to show that a quiet session between whole messages is
kept (the router's connection count below would grow otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collector_support import (
    ASN_A,
    ASN_B,
    ATTRS_A,
    Agent,
    Behaviour,
    CollectorLab,
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
BIRD = Behaviour(pre_shows_rejected=True)


@pytest.fixture
def bird_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    require("bird", "exabgp")
    lab = lab_topo
    agent = Agent(
        lab.workdir,
        ns=lab.col,
        bmp_listen=[f"{COLLECTOR_V4}:{BMP_PORT}"],
        http_listen="127.0.0.1:9324",
        env={"BMP_AGENT_BMP_IDLE_TIMEOUT": "3"},
    ).start()
    cfg = SpeakerConfig(neighbors=lab_neighbors(asn_b=ASN_B), stats_interval=0)
    speaker = make_speaker("bird", lab.spk, lab.workdir, cfg)
    cl = CollectorLab(lab, "bird", BIRD, router=ROUTER, agent=agent, speaker=speaker)
    try:
        yield cl
    finally:
        cl.close()


def test_bird_passive(bird_lab: CollectorLab) -> None:
    cl = bird_lab
    cl.speaker.start()
    m = cl.wait_router_up()
    # BIRD 3.1.8 without "system name/description" configured
    info = key(
        "bmp_router_info", router=ROUTER, sys_name="Not defined", sys_descr="Not defined",
        source="bmp",
    )  # fmt: skip
    assert m.get(info) == 1
    cl.start_exabgp()
    m = cl.wait_peers_up()
    # End-of-RIB for both families, pre and post, right after each Peer Up
    eor = {
        key("bmp_eor_received", router=ROUTER, peer=peer, view=view, afi=afi, safi="unicast"): 1
        for peer in (INJ_A_V4, INJ_B_V6)
        for view in ("adj_in_pre", "adj_in_post")
        for afi in ("ipv4", "ipv6")
    }
    cl.agent.wait_metrics(eor, timeout=10, what="End-of-RIB after the Peer Ups")

    cl.announce_all()
    for view in ("adj_in_pre", "adj_in_post"):
        a = route_attrs(cl, INJ_A_V4, view, "192.0.2.0/27")
        assert a["as_path"] == f"{ASN_A} 4200000001"
        assert (a["med"], a["next_hop"]) == (10, INJ_A_V4)
        assert sorted(a["communities"]) == ["65001:100", "65001:7"]
        assert a["large_communities"] == ["4200000001:1:7"]
        b = route_attrs(cl, INJ_B_V6, view, "2001:db8:1::/48")
        assert b["as_path"] == f"{ASN_B} {ASN_B}"
        assert (b["med"], b["large_communities"]) == (500, ["4200000002:2:1"])

    cl.withdraw_some()
    m = cl.flap(5)
    flaps = {(INJ_A_V4, "adj_in_pre", "ipv4"): 5, (INJ_A_V4, "adj_in_post", "ipv4"): 5}
    assert cl.flap_counts(m) == flaps

    m, added = cl.reset_sessions()
    assert added == {
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_B_V6, "remote_no_notification"): 1,
    }
    # BIRD withdrew the routes before the Peer Down; a new session is no flap
    assert cl.flap_counts(m) == flaps

    # BIRD resets A's session itself (birdc restart): Cease NOTIFICATION, reason 1
    m, added = cl.reset_by_speaker(INJ_A_V4)
    assert added == {(INJ_A_V4, "local_notification"): 1}
    assert cl.flap_counts(m) == flaps

    # BIRD restarts: ExaBGP is held back until BIRD's BMP session is up again
    cl.exabgp.stop()
    cl.speaker.stop()  # birdc down: Termination, then close
    m = cl.agent.wait_metrics(
        {
            cl.router_key("bmp_router_up"): 0,
            key("bmp_messages_total", router=ROUTER, type="termination"): 1,
            **{k: 0 for k in cl.expected()},
        },
        timeout=20,
        what="Termination, the router down and its RIB dropped",
    )
    # BIRD 3.1.8 keeps the NOTIFICATION of the `birdc restart` and reports A's
    # next session loss (ExaBGP closing TCP) with it again, as reason 1
    assert m.downs(ROUTER) == {
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_A_V4, "local_notification"): 2,
        (INJ_B_V6, "remote_no_notification"): 2,
    }
    cl.speaker.start()
    cl.wait_router_up(connections=2, timeout=60)
    cl.exabgp.start()
    cl.wait_peers_up(timeout=60)
    cl.routes.resend()
    m = cl.wait_rib("the RIB rebuilt after BIRD restarted", timeout=60)
    assert cl.flap_counts(m) == flaps
    assert not m.select("bmp_decode_errors_total", router=ROUTER)
    assert not m.select("bmp_quirks_total", router=ROUTER)

    # the agent restarts while BIRD's sessions stay up: BIRD reconnects BMP
    # (after ~5 s) but sends only Initiation, no Peer Up and no route, not even
    # for a later live update; the agent shows the router with no peers
    cl.agent.stop()
    cl.agent = Agent(
        cl.lab.workdir, ns=cl.lab.col, bmp_listen=[f"{COLLECTOR_V4}:{BMP_PORT}"],
        http_listen="127.0.0.1:9324", env={"BMP_AGENT_BMP_IDLE_TIMEOUT": "3"}, name="agent2",
    ).start()  # fmt: skip
    cl.agent.context = [cl.speaker.describe, cl.exabgp.log_tail]
    cl.wait_router_up(timeout=30)
    cl.routes.announce("A", ["192.0.2.96/27"], **ATTRS_A)
    nothing = {
        key("bmp_messages_total", router=ROUTER, type="initiation"): 1,
        **{key("bmp_messages_total", router=ROUTER, type=t): None
           for t in ("peer_up", "route_monitoring", "peer_down")},
    }  # fmt: skip
    m = cl.agent.wait_metrics(nothing, timeout=15, stable=3, what="BIRD's silence")
    assert m.rib(ROUTER, nonzero=False) == {}
    assert not m.select("bmp_peer_up", router=ROUTER)
