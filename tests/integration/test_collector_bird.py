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
    ASN_B,
    ATTRS_A,
    Behaviour,
    CollectorLab,
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
BIRD = Behaviour(pre_shows_rejected=True)
#: short idle timeout: BIRD's BMP session is quiet
ENV = {"BMP_AGENT_BMP_IDLE_TIMEOUT": "3"}


@pytest.fixture
def bird_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    cfg = SpeakerConfig(neighbors=lab_neighbors(asn_b=ASN_B), stats_interval=0)
    with collector_lab(lab_topo, "bird", BIRD, cfg, lambda: passive_agent(lab_topo, env=ENV)) as cl:
        yield cl


def test_bird_passive(bird_lab: CollectorLab) -> None:
    cl = bird_lab
    # BIRD 3.1.8 without "system name/description" configured
    m = cl.bring_up(info={cl.router_info_key("Not defined", "Not defined"): 1})
    # End-of-RIB for both families, pre and post, right after each Peer Up
    eor = {
        key("bmp_eor_received", router=ROUTER, peer=peer, view=view, afi=afi, safi="unicast"): 1
        for peer in (INJ_A_V4, INJ_B_V6)
        for view in ("adj_in_pre", "adj_in_post")
        for afi in ("ipv4", "ipv6")
    }
    cl.agent.wait_metrics(eor, timeout=10, what="End-of-RIB after the Peer Ups")

    cl.announce_all()
    check_ab_attributes(cl)

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
    m = cl.wait_router_down(
        {key("bmp_messages_total", router=ROUTER, type="termination"): 1},
        what="Termination, the router down and its RIB dropped",
    )
    # BIRD 3.1.8 keeps the NOTIFICATION of the `birdc restart` and reports A's
    # next session loss (ExaBGP closing TCP) with it again, as reason 1
    assert m.downs(ROUTER) == {
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_A_V4, "local_notification"): 2,
        (INJ_B_V6, "remote_no_notification"): 2,
    }
    cl.bring_up(connections=2, timeout=60)
    cl.routes.resend()
    m = cl.wait_rib("the RIB rebuilt after BIRD restarted", timeout=60)
    assert cl.flap_counts(m) == flaps
    assert not m.select("bmp_decode_errors_total", router=ROUTER)
    assert not m.select("bmp_quirks_total", router=ROUTER)

    # the agent restarts while BIRD's sessions stay up: BIRD reconnects BMP
    # (after ~5 s) but sends only Initiation, no Peer Up and no route, not even
    # for a later live update; the agent shows the router with no peers
    cl.replace_agent(passive_agent(cl.lab, name="agent2", env=ENV))
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
