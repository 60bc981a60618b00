"""bench/streams.py: the full-table stream the ingest benchmark replays holds
exactly the routes it claims (the benchmark's clock stops on that count)."""

from __future__ import annotations

import hashlib
import ipaddress
import sys
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from streams import (  # noqa: E402
    SMALL_TABLE,
    StreamSpec,
    build_stream,
    cached_stream,
    table_prefixes,
)

from agent.core import Core  # noqa: E402
from parsers.bmp.session import BmpSession, Decoded  # noqa: E402


def wire_to_net(family: int, p: bytes) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    size = 4 if family == 4 else 16
    raw = p[1:] + bytes(size - len(p) + 1)
    addr = ipaddress.ip_address(raw)
    return ipaddress.ip_network((addr, p[0]))


def test_table_prefixes_are_distinct_sorted_and_mostly_24_and_48() -> None:
    v4 = table_prefixes(4, 20_000, 7)
    v6 = table_prefixes(6, 5_000, 7)
    assert len(v4) == len(set(v4)) == 20_000
    assert len(v6) == len(set(v6)) == 5_000
    nets4 = [wire_to_net(4, p) for p in v4]  # strict: host bits must be zero
    nets6 = [wire_to_net(6, p) for p in v6]
    assert all((1 << 24) <= int(n.network_address) < (224 << 24) for n in nets4)
    assert all(int(n.network_address) >> 125 == 1 for n in nets6)  # 2000::/3
    keys = [(int(n.network_address), n.prefixlen) for n in nets4]
    assert keys == sorted(keys)
    lengths4 = Counter(n.prefixlen for n in nets4)
    lengths6 = Counter(n.prefixlen for n in nets6)
    assert set(lengths4) == {15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
    assert 0.55 < lengths4[24] / 20_000 < 0.65
    assert 0.45 < lengths6[48] / 5_000 < 0.55
    assert table_prefixes(4, 100, 7) != table_prefixes(4, 100, 8)


def test_small_table_holds_exactly_the_routes_it_claims(tmp_path: Path) -> None:
    stream = cached_stream(SMALL_TABLE, tmp_path)
    again = cached_stream(SMALL_TABLE, tmp_path)  # from the cache
    assert again.data == stream.data
    assert (again.messages, again.routes, again.unique_prefixes) == (
        stream.messages,
        480_000,
        120_000,
    )
    core = Core()
    rs = core.open_session("127.0.0.1", 1)
    session = BmpSession(fast=True)
    events = session.feed(stream.data)
    assert len(events) == stream.messages
    assert all(isinstance(e, Decoded) for e in events)
    for e in events:
        rs.handle(e)
    router = core.routers["127.0.0.1"]
    tables = {
        (p.address, view, afi): t.route_count
        for p in router.peers.values()
        for (view, afi, _), t in p.tables.items()
    }
    assert tables == {
        (peer, view, afi): (100_000 if afi == 1 else 20_000)
        for peer in ("192.0.2.1", "192.0.2.2")
        for view in ("adj_in_pre", "adj_in_post")
        for afi in (1, 2)
    }
    assert router.messages["route_monitoring"] == stream.route_monitoring


def test_default_spec_is_unchanged() -> None:
    # The decode benchmark's streams (consecutive /24 and /48) are byte for
    # byte what bench/streams.py built before the full-table additions.
    s = build_stream(StreamSpec(v4=300, v6=40, peers=1, views=(False,), nlri_per_update=(10,)))
    assert (s.messages, s.route_monitoring, s.routes, s.unique_prefixes) == (36, 34, 340, 340)
    assert len(s.data) == 5_959
    assert hashlib.sha256(s.data).hexdigest()[:16] == "4aab7462b1c9c6b6"
    s = build_stream(StreamSpec(v4=3000, v6=600))
    assert len(s.data) == 116_012
    assert hashlib.sha256(s.data).hexdigest()[:16] == "8bdfd7669daa15c6"
