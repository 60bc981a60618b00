"""Route limits, the peer limit, forgetting and label sanitising in the core (exact counts).

The real agent over TCP is tested in ``tests/reliability/test_limits.py``.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from core_events import hdr, peer_down, peer_up
from test_core_support import attrs, feed, initiation, make_core, rm

from agent.core import Core
from agent.core.router import LIMIT_GLOBAL, LIMIT_PEER, LIMIT_ROUTER, MAX_LABEL, label_text

A = hdr("10.0.1.2", 65001)
B = hdr("10.0.1.3", 65002)


def nets(n: int, base: str = "10.128.0.0", start: int = 0) -> list[str]:
    first = int(ipaddress.IPv4Address(base))
    return [f"{ipaddress.IPv4Address(first + (start + i) * 256)}/24" for i in range(n)]


def limited(**limits: int | str) -> Core:
    core, _ = make_core()
    core.settings = dataclasses.replace(core.settings, **limits)  # type: ignore[arg-type]
    return core


def stored(core: Core, label: str, header: object = A) -> int:
    peer = core.routers[label].peers[header.key]  # type: ignore[attr-defined]
    return sum(len(t.routes) for t in peer.tables.values())


def test_peer_limit_keeps_replacements_drops_new_and_resumes_below_90_percent() -> None:
    core = limited(max_routes_per_peer=100)
    s = core.open_session("10.0.9.1", 40000)
    router = core.routers["10.0.9.1"]
    feed(s, peer_up(A))
    # 300 routes in batches of 7: exactly 100 stored, 200 dropped.
    all_nets = nets(300)
    for i in range(0, 300, 7):
        feed(s, rm(A, all_nets[i : i + 7]))
    peer = router.peers[A.key]
    assert (stored(core, "10.0.9.1"), peer.count, router.routes, core.route_count) == (
        100,
        100,
        100,
        100,
    )
    assert peer.dropped == {"adj_in_pre": 200}
    assert router.blocked_by(peer) == LIMIT_PEER
    # Replacements still apply (new attributes on a stored route), uncounted.
    feed(s, rm(A, all_nets[:10], a=attrs(med=7)))
    table = peer.tables[("adj_in_pre", 1, 1)]
    assert table.routes[bytes([24, 10, 128, 0])].med == 7
    assert peer.dropped == {"adj_in_pre": 200}
    # 99 % full (withdraw 1): a new route is still dropped (hysteresis).
    feed(s, rm(A, None, all_nets[:1]))
    feed(s, rm(A, all_nets[200:201]))
    assert (peer.count, peer.dropped["adj_in_pre"]) == (99, 201)
    # 90 routes left (90 %, not below): still held.
    feed(s, rm(A, None, all_nets[1:10]))
    assert peer.count == 90 and router.blocked_by(peer) == LIMIT_PEER
    feed(s, rm(A, None, all_nets[10:11]))  # 89 < 90: storing resumes
    assert router.blocked_by(peer) is None
    feed(s, rm(A, all_nets[200:215]))  # 11 fit, 4 dropped: limit reached again
    assert (peer.count, peer.dropped["adj_in_pre"]) == (100, 205)
    assert router.blocked_by(peer) == LIMIT_PEER
    # A Peer Down clears routes and the limit; counters stay.
    feed(s, peer_down(A))
    assert (peer.count, router.routes, core.route_count) == (0, 0, 0)
    assert router.blocked_by(peer) is None and peer.dropped["adj_in_pre"] == 205


def test_add_path_and_duplicates_in_one_batch_are_counted_once() -> None:
    core = limited(max_routes_per_peer=5)
    s = core.open_session("10.0.9.1", 40000)
    feed(s, peer_up(A))
    two = nets(2)
    # Path IDs 1 and 2 of two prefixes, each sent twice: 4 distinct routes.
    feed(s, rm(A, two + two + two, ids=[1, 1, 2, 2, 1, 2]))
    peer = core.routers["10.0.9.1"].peers[A.key]
    assert (peer.count, stored(core, "10.0.9.1"), sum(peer.dropped.values())) == (4, 4, 0)
    feed(s, rm(A, nets(3, start=5), ids=[1, 1, 1]))
    assert (peer.count, sum(peer.dropped.values())) == (5, 2)


def test_router_limit_over_two_peers_and_global_limit_over_two_routers() -> None:
    core = limited(max_routes_per_router=150, max_routes=250)
    s1 = core.open_session("10.0.9.1", 40000)
    s2 = core.open_session("10.0.9.2", 40000)
    r1, r2 = core.routers["10.0.9.1"], core.routers["10.0.9.2"]
    feed(s1, peer_up(A), peer_up(B), rm(A, nets(100)), rm(B, nets(100, start=1000)))
    a1, b1 = r1.peers[A.key], r1.peers[B.key]
    assert (a1.count, b1.count, r1.routes) == (100, 50, 150)
    assert (r1.blocked_by(a1), r1.blocked_by(b1)) == (None, LIMIT_ROUTER)
    assert b1.dropped == {"adj_in_pre": 50}
    feed(s2, peer_up(A), rm(A, nets(120)))
    a2 = r2.peers[A.key]
    assert (a2.count, core.route_count, a2.dropped["adj_in_pre"]) == (100, 250, 20)
    assert r2.blocked_by(a2) == LIMIT_GLOBAL
    # Router 2 loses 30 routes: 220 < 225 (90 % of 250) lifts the global
    # limit; router 1 still holds 150, its own limit stays.
    feed(s2, rm(A, None, nets(30)))
    assert r2.blocked_by(a2) is None and r1.blocked_by(b1) == LIMIT_ROUTER
    feed(s2, rm(A, nets(5, start=500)))
    assert (a2.count, core.route_count) == (75, 225)
    # 10 of router 1's routes go: 140 is not below 135, still held.
    feed(s1, rm(A, None, nets(10)))
    feed(s1, rm(B, nets(1, start=2000)))
    assert (r1.routes, b1.dropped["adj_in_pre"]) == (140, 51)
    # Router 1's session closes: its routes go, every count follows.
    core.close_session(s1, "closed_by_router")
    assert (r1.routes, a1.count, b1.count, core.route_count) == (0, 0, 0, 75)
    assert r1.blocked_by(b1) is None


def test_on_limit_close_asks_once_and_limits_apply_on_reload() -> None:
    core = limited(max_routes_per_peer=10, on_limit="close")
    s = core.open_session("10.0.9.1", 40000)
    asked: list[str] = []
    s.on_limit = asked.append
    feed(s, peer_up(A), rm(A, nets(8)), rm(A, nets(8, start=8)), rm(A, nets(3, start=20)))
    assert asked == [LIMIT_PEER]
    peer = core.routers["10.0.9.1"].peers[A.key]
    assert (peer.count, peer.dropped["adj_in_pre"]) == (10, 9)
    # Reload without the limit: the peer stores again at once.
    core.settings = dataclasses.replace(core.settings, max_routes_per_peer=0)
    feed(s, rm(A, nets(3, start=20)))
    assert peer.count == 13 and core.routers["10.0.9.1"].blocked_by(peer) is None


def test_peer_limit_refuses_new_peers_and_counts() -> None:
    core = limited(max_peers_per_router=3)
    s = core.open_session("10.0.9.1", 40000)
    headers = [hdr(f"10.0.2.{i}", 65000 + i) for i in range(1, 6)]
    for h in headers:
        feed(s, peer_up(h), rm(h, nets(2)))
    router = core.routers["10.0.9.1"]
    assert len(router.peers) == 3 and router.peers_refused == 4
    assert router.routes == 6
    feed(s, peer_down(headers[4]))  # an unknown peer's Peer Down: refused as well
    assert router.peers_refused == 5


def test_forget_drops_gone_routers_and_down_peers_keeps_aggregates() -> None:
    core, clock = make_core()
    s1 = core.open_session("10.0.9.1", 40000)
    s2 = core.open_session("10.0.9.2", 40000)
    feed(s1, peer_up(A), peer_up(B), rm(A, nets(5)))
    feed(s2, peer_up(A), rm(A, nets(3)), rm(A, None, nets(1)), rm(A, nets(1)))  # one flap
    feed(s1, peer_down(B))
    core.close_session(s2, "closed_by_router")
    clock.t += 100
    assert core.forget(100.0) == (1, 2)  # router 2 (its one peer), router 1's down peer B
    assert list(core.routers) == ["10.0.9.1"]
    assert list(core.routers["10.0.9.1"].peers) == [A.key]
    assert dict(core.forgotten) == {
        "routers": 1,
        "peers": 2,
        "prefix_flaps": 1,
        "peer_downs": 1,
        "routes_dropped": 0,
    }
    assert core.forget(100.0) == (0, 0)  # an up peer with routes is never forgotten
    # A router that comes back starts afresh.
    s2 = core.open_session("10.0.9.2", 40001)
    assert core.routers["10.0.9.2"].connections == 1


def test_wire_strings_are_capped_and_sanitised_for_labels() -> None:
    core, _ = make_core()
    s = core.open_session("10.0.9.1", 40000)
    feed(s, initiation("x" * 65535, "FRR\n8.4\x00\x1b[31m red"))
    router = core.routers["10.0.9.1"]
    assert router.sys_name == "x" * (MAX_LABEL - 1) + "…"
    assert router.sys_descr == "FRR 8.4 [31m red"
    assert len(router.info["sys_name"]) == 1024
    assert label_text("spine-1") == "spine-1"


def test_a_batch_over_two_limits_holds_both() -> None:
    core = limited(max_routes_per_peer=100, max_routes_per_router=100)
    s = core.open_session("10.0.9.1", 40000)
    router = core.routers["10.0.9.1"]
    feed(s, peer_up(A), peer_up(B), rm(A, nets(150)))
    peer_a = router.peers[A.key]
    assert (peer_a.count, peer_a.cap, router.blocked, router.blocked_by(peer_a)) == (
        100,
        0,
        True,
        LIMIT_PEER,
    )
    feed(s, rm(B, nets(1, start=1000)))  # the router's limit holds for B too
    assert router.peers[B.key].dropped == {"adj_in_pre": 1}
    assert router.blocked_by(router.peers[B.key]) == LIMIT_ROUTER
    feed(s, rm(A, None, nets(11)))  # 89: both below 90 %
    assert (peer_a.cap, router.blocked) == (100, False)
    feed(s, rm(B, nets(1, start=1000)))
    assert router.peers[B.key].count == 1
