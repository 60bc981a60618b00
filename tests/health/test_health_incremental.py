"""The incremental counters equal a full recount after any sequence of events
(hypothesis), and the observer can be attached or re-scoped late."""

from __future__ import annotations

from typing import Any

from health_support import POST, ROUTER, Lab, attrs, hdr, peer_down, peer_up, rm
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import Config, HealthConfig
from agent.health import Health, HealthObserver
from agent.health.checks import ADJ_IN, HOST_LEN, table_state
from parsers.bmp.session import Decoded

IBGP = hdr("10.0.1.10", 65000)
IBGP_POST = hdr("10.0.1.10", 65000, POST)
EBGP = hdr("10.0.1.2", 65001)

PREFIXES = ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.0/24", "2001:db8::1/128", "0.0.0.0/0"]
ATTRS = [
    attrs(),
    attrs(originator="10.0.1.77"),
    attrs(clusters=("1.1.1.1",), originator="10.0.1.77"),
    attrs(clusters=("2.2.2.2", "1.1.1.1")),
    # what FRR shows for a plain iBGP route: its own cluster ID, ORIGINATOR_ID = the peer
    attrs(clusters=("10.0.1.1",), originator="10.0.1.10"),
    attrs(clusters=("10.0.1.1", "3.3.3.3"), originator="10.0.1.10"),
]


def recount(lab: Lab, route_views: frozenset[str]) -> dict[Any, Any]:
    """Counters computed from the tables themselves."""
    out: dict[Any, Any] = {}
    for peer in lab.core.routers[ROUTER].peers.values():
        for (view, afi, safi), t in peer.tables.items():
            hosts: set[bytes] = set()
            refl: dict[str, int] = {}
            for k, a in t.routes.items():
                p = k[1] if isinstance(k, tuple) else k
                if view in route_views and p[0] == HOST_LEN[afi]:
                    hosts.add(p)
                if view in ADJ_IN and peer.asn == peer.local_asn:
                    assert peer.sent_open is not None
                    own = peer.sent_open.bgp_id
                    others = [c for c in a.cluster_list if c != own]
                    rid = others[0] if others else None
                    if rid is None and a.originator_id not in (None, peer.bgp_id):
                        rid = ""
                    if rid is not None:
                        refl[rid] = refl.get(rid, 0) + 1
            out[(peer.label, view, afi, safi)] = (len(hosts), refl)
    return out


def counters(lab: Lab) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for peer in lab.core.routers[ROUTER].peers.values():
        for tk, t in peer.tables.items():
            s = table_state(t)
            out[(peer.label, *tk)] = (0, {}) if s is None else (len(s.hosts), dict(s.reflected))
    return out


@st.composite
def event(draw: Any) -> Decoded:
    kind = draw(st.sampled_from(["announce", "withdraw", "both", "down", "up"]))
    header = draw(st.sampled_from([IBGP, IBGP_POST, EBGP]))
    if kind == "down":
        return peer_down(header)
    if kind == "up":
        return peer_up(header)
    fam = draw(st.sampled_from([[p for p in PREFIXES if ":" not in p], [PREFIXES[3]]]))
    ps = draw(st.lists(st.sampled_from(fam), min_size=1, max_size=4))
    ids = draw(
        st.one_of(st.none(), st.lists(st.integers(1, 2), min_size=len(ps), max_size=len(ps)))
    )
    a = draw(st.sampled_from(ATTRS))
    if kind == "announce":
        return rm(header, ps, a=a, ids=ids)
    if kind == "withdraw":
        return rm(header, withdraw=ps, wids=ids)
    return rm(header, ps, ps, a=a, ids=ids, wids=ids)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_incremental_equals_recount(data: Any) -> None:
    views = frozenset({"adj_in_pre"})
    lab = Lab().feed(peer_up(IBGP), peer_up(IBGP_POST), peer_up(EBGP))
    for _ in range(data.draw(st.integers(1, 25))):
        lab.feed(data.draw(event()))
        assert counters(lab) == recount(lab, views)
    # a late observer rebuilt from the tables has the same counters
    late = HealthObserver(views)
    late.rebuild(lab.core)
    assert counters(lab) == recount(lab, views)


def test_attach_late_and_rescope_on_reload() -> None:
    lab = Lab(attach=False).feed(peer_up(EBGP), rm(EBGP, ["192.0.2.1/32", "192.0.2.2/32"]))
    lab.feed(rm(hdr("10.0.1.2", 65001, POST), ["192.0.2.3/32"]))
    health = Health(lab.core, HealthConfig(host_routes_max=1))
    assert lab.core.observers == [health.observer, health.dc]
    assert [
        f.details["host_routes"] for f in health.evaluate().results["host_route_flood"].findings
    ] == [2]
    cfg = Config(health=HealthConfig(host_routes_max=0, route_views=("adj_in_post",)))
    assert health.reload(cfg) == []
    res = health.evaluate().results["host_route_flood"]
    assert [f.details["per_view"] for f in res.findings] == [{"adj_in_post": {"ipv4": 1}}]
    # disabled: detached, nothing evaluated; re-enabled: rebuilt
    health.reload(Config(health=HealthConfig(enabled=False)))
    assert lab.core.observers == []
    assert health.evaluate().firing == 0
    lab.feed(rm(EBGP, ["192.0.2.4/32"]))
    health.reload(Config(health=HealthConfig(host_routes_max=2)))
    assert lab.core.observers == [health.observer, health.dc]
    res = health.evaluate().results["host_route_flood"]
    assert [f.details["host_routes"] for f in res.findings] == [3]
