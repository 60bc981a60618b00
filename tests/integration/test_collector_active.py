"""Active mode: FRR 8.4 listens for BMP stations (``bmp listener``) and the
agent dials it (``--connect``), against the same routes as the passive tests.

Timeline: the agent starts before FRR, so its connector first fails and
retries (backoff capped at 2 s here); FRR comes up, the agent connects, ExaBGP
peers A and B announce (collector_support), A withdraws two prefixes: exact
counts per peer and view. Then a second agent process replaces the first: FRR
sends it the initial table dump, same counts. Finally FRR restarts and the
agent reconnects by itself: same counts again, two connections counted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from collector_support import ASN_B, Agent, Behaviour, CollectorLab, collector_lab, key
from lab import (
    BMP_PORT,
    INJ_A_V4,
    INJ_B_V6,
    SPEAKER_COL_V4,
    BmpTarget,
    LabTopology,
    SpeakerConfig,
    lab_neighbors,
)

pytestmark = pytest.mark.lab

#: in active mode the router is labelled with the address the agent dialled
ROUTER = SPEAKER_COL_V4
TARGET = f"{SPEAKER_COL_V4}:{BMP_PORT}"
FRR = Behaviour(pre_shows_rejected=False)
#: short backoff so reconnects stay quick in the test
ENV = {"BMP_AGENT_BMP_RECONNECT_MIN": "0.2", "BMP_AGENT_BMP_RECONNECT_MAX": "2"}


def active_agent(lab: LabTopology, name: str) -> Agent:
    return Agent(lab.workdir, ns=lab.col, bmp_listen=["127.0.0.1:0"],
                 http_listen="127.0.0.1:9324", connect=[TARGET], env=ENV, name=name)  # fmt: skip


@pytest.fixture
def active_lab(lab_topo: LabTopology) -> Iterator[CollectorLab]:
    cfg = SpeakerConfig(
        neighbors=lab_neighbors(asn_b=ASN_B),
        collectors=(),
        listener=BmpTarget(SPEAKER_COL_V4, BMP_PORT),
        stats_interval=5,
    )
    with collector_lab(lab_topo, "frr", FRR, cfg, lambda: active_agent(lab_topo, "agent")) as cl:
        yield cl


def test_frr_active(active_lab: CollectorLab) -> None:
    cl = active_lab
    # FRR's Initiation: sysName = hostname, sysDescr = version
    cl.bring_up(info={cl.router_info_key("spk", "FRRouting 8.4.4"): 1})
    cl.announce_all()
    m = cl.withdraw_some()
    assert m.get(key("bmp_router_connections_total", router=ROUTER)) == 1

    # a new agent process: FRR dumps its tables to the new station. The dump's
    # pre-policy view comes from soft-reconfiguration's Adj-RIB-In, so unlike
    # live updates it has the prefixes the import policy rejects.
    cl.replace_agent(active_agent(cl.lab, "agent2"))
    cl.wait_router_up()
    cl.wait_peers_up()
    cl.behaviour = Behaviour(pre_shows_rejected=True)
    cl.wait_rib("the initial table dump to a new agent")

    # FRR restarts (ExaBGP held back so the routes arrive live again): the
    # agent's connector reconnects by itself
    cl.behaviour = FRR
    cl.exabgp.stop()
    cl.speaker.stop()
    cl.wait_router_down()
    cl.bring_up(connections=2, timeout=60)
    cl.routes.resend()
    m = cl.wait_rib("the RIB rebuilt after FRR restarted", timeout=60)
    # this agent process saw two BMP sessions: FRR reports every configured
    # neighbor not Established when BMP comes up (the never-up one twice; A and
    # B once, after the restart, with ExaBGP still down); and ExaBGP's stop
    assert m.downs(ROUTER) == {
        ("10.0.1.99", "local_no_notification"): 2,
        (INJ_A_V4, "local_no_notification"): 1,
        (INJ_B_V6, "local_no_notification"): 1,
        (INJ_A_V4, "remote_no_notification"): 1,
        (INJ_B_V6, "remote_no_notification"): 1,
    }
    assert not m.select("bmp_decode_errors_total", router=ROUTER)
