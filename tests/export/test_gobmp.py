"""gobmp's shapes (agent.export.gobmp): hashes by gobmp's definitions, the fast
per-route template equal to the reference builder for every route of the captures."""

from __future__ import annotations

import hashlib
import json

import pytest
from export_support import SMALL, capture

from agent.core import Core
from agent.core.peer import Peer
from agent.export import gobmp
from parsers.bgp.attributes import Aggregator, AsPathSegment, PathAttributes
from parsers.bmp.session import BmpSession


def test_hashes_follow_gobmp() -> None:
    peer = Peer(0, bytes(8), "10.0.1.2", asn=65002, bgp_id="10.0.0.2")
    # GetPeerHash: distinguisher, 16-byte address, decimal AS, BGP ID
    raw = bytes(8) + bytes(12) + bytes([10, 0, 1, 2]) + b"65002" + bytes([10, 0, 0, 2])
    assert gobmp.peer_hash(peer) == hashlib.md5(raw).hexdigest()
    # hashParts: each part then a zero byte
    assert gobmp.hash_parts("a", "bc") == hashlib.md5(b"a\0bc\0").hexdigest()
    ident = gobmp.RouterIdentity("192.0.2.1")
    assert ident.hash == hashlib.md5(b"192.0.2.1").hexdigest()
    assert gobmp.timestamp(1764754800.25) == "2025-12-03T09:40:00.25Z"
    assert gobmp.timestamp(1764754800.0) == "2025-12-03T09:40:00Z"
    assert gobmp.peer_rd(peer) == "0:0"


def test_base_attrs() -> None:
    attrs = PathAttributes(
        origin=0,
        as_path=(AsPathSegment(2, (65001, 65002)), AsPathSegment(1, (7, 8))),
        next_hop="10.0.0.1",
        med=5,
        communities=(65000 << 16 | 100,),
        cluster_list=("10.0.0.1", "10.0.0.2"),
        extended_communities=(bytes([0, 2, 0xFD, 0xE8, 0, 0, 0, 100]),),
        large_communities=((65000, 1, 2),),
        aggregator=Aggregator(65001, "10.0.0.9"),
    )
    b = gobmp.base_attrs(attrs)
    del b["base_attr_hash"]
    assert b == {
        "origin": "igp",
        "as_path": [65001, 65002, 7, 8],
        "as_path_count": 4,
        "as_path_segments": [{"type": 2, "asns": [65001, 65002]}, {"type": 1, "asns": [7, 8]}],
        "nexthop": "10.0.0.1",
        "med": 5,
        "is_atomic_agg": False,
        "aggregator": "AAD96QoAAAk=",
        "community_list": ["65000:100"],
        "cluster_list": "10.0.0.1, 10.0.0.2",
        "ext_community_list": ["rt=65000:100"],
        "large_community_list": ["65000:1:2"],
    }
    assert gobmp.origin_as(attrs) == 8


@pytest.mark.parametrize("name", SMALL)
def test_template_equals_the_reference_builder(name: str) -> None:
    core = Core()
    rs = core.open_session("192.0.2.1", 1)
    session = BmpSession()
    for offset, msg in enumerate(capture(name)):
        rs.handle(session.decode(offset, msg))
    ident = gobmp.router_identity(rs.router)
    assert ident.ip == "192.0.2.1"
    n = 0
    for peer in rs.router.peers.values():
        p_hash = gobmp.peer_hash(peer)
        for (view, afi, safi), table in peer.tables.items():
            if safi != 1:
                continue
            for key, attrs in table.routes.items():
                pid, prefix = key if isinstance(key, tuple) else (None, key)
                for action, a in (("add", attrs), ("del", None)):
                    base = gobmp.base_attrs(a) if a is not None else None
                    text = json.dumps(base) if base is not None else None
                    tpl = gobmp.UnicastTemplate(
                        ident, peer, p_hash, view, afi, action, 1.5, a, text
                    )
                    ref = gobmp.unicast_prefix(
                        ident, peer, p_hash, view, afi, prefix, pid, action, 1.5, a, base
                    )
                    assert json.loads(tpl.render(prefix, pid)) == ref
                n += 1
    routes = sum(
        len(t.routes)
        for p in rs.router.peers.values()
        for (_, _, s), t in p.tables.items()
        if s == 1
    )
    assert n == routes
    assert n > 0 or name == "bird-addpath-latesink.bmp"  # that one holds no route
