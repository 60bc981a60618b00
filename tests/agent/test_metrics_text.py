"""CoreCollector.table_text: the per-table families and per-peer gauges as
cached exposition text must give exactly what prometheus_client writes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_core_support import (
    OUT_POST,
    OUT_PRE,
    POST,
    eor,
    feed,
    hdr,
    make_core,
    peer_down,
    peer_up,
    rm,
)

from agent.app import build_daemon
from agent.config import Config
from agent.core import Core
from agent.export.metrics import TABLE_FAMILIES, TEXT_FAMILIES, CoreCollector, register

TABLE_NAMES = (
    "bmp_rib_routes",
    "bmp_rib_prefixes",
    "bmp_route_updates_total",
    "bmp_prefix_flaps_total",
    "bmp_eor_received",
)
PEER_NAMES = ("bmp_peer_up{", "bmp_peer_info{", "bmp_peer_last_change_timestamp_seconds{")


def loaded_core() -> Core:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 40000)
    a = hdr("10.0.1.2", 65001)
    rd = hdr("10.0.1.3", 65002, rd=bytes([0, 0, 0xFD, 0xE8, 0, 0, 0, 7]), peer_type=1)
    v6 = hdr("fd00:1::2", 65003)
    loc = hdr("0.0.0.0", 65000, peer_type=3)
    feed(s, peer_up(a), peer_up(rd), peer_up(v6))
    feed(s, rm(a, ["192.0.2.0/27", "192.0.2.32/27"]), eor(a))
    feed(s, rm(hdr("10.0.1.2", 65001, POST), ["192.0.2.0/27"]))
    feed(s, rm(hdr("10.0.1.2", 65001, OUT_PRE), ["198.51.100.0/24"]))
    feed(s, rm(hdr("10.0.1.2", 65001, OUT_POST), ["198.51.100.0/24"]))
    feed(s, rm(a, ["10.1.0.0/16"], ids=[1]), rm(a, ["10.1.0.0/16"], ids=[2]))
    feed(s, rm(rd, ["203.0.113.0/24"]), rm(v6, ["2001:db8:1::/48", "2001:db8:2::/48"]))
    feed(s, rm(v6, None, ["2001:db8:2::/48", "2001:db8:3::/48"]), eor(v6, 2, 1))
    feed(s, rm(loc, ["192.0.2.0/27"]))
    clock.t += 1
    feed(s, rm(a, ["192.0.2.0/27"]))  # same route again
    # Big counter values go through floatToGoString's exponent form.
    core.routers["10.0.9.1"].peers[a.key].tables[("adj_in_pre", 1, 1)].announces = 12_345_678
    # A second router whose label needs no escaping but is a second session.
    s2 = core.open_session("10.0.9.1", 40001)
    feed(s2, rm(a, ["192.0.2.64/27"]))
    return core


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(TABLE_NAMES)]


def peer_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(PEER_NAMES)]


def test_table_text_is_what_generate_latest_writes() -> None:
    core = loaded_core()
    full = CollectorRegistry()
    register(core, full)
    reference = generate_latest(full).decode()
    fast = CollectorRegistry()
    collector = register(core, fast, tables_as_text=True)
    rest = generate_latest(fast).decode()
    text = collector.table_text()

    assert lines_of(rest) == []  # the registry no longer has them
    assert peer_lines(rest) == []
    assert lines_of(text) == lines_of(reference)
    assert peer_lines(text) == peer_lines(reference)
    # 5 peers (a, rd, v6, Loc-RIB on router 1; a on router 2), each with
    # peer_up, peer_info and a last change (all came up or went implicit).
    assert len(peer_lines(text)) == 3 * 5
    assert (
        'bmp_peer_info{local_address="10.0.1.1",local_asn="65000",peer="10.0.1.3%65000:7",'
        'peer_asn="65002",peer_bgp_id="10.0.1.3",peer_type="rd",rd="65000:7",'
        'router="10.0.9.1",table=""} 1.0'
    ) in peer_lines(text)
    assert (
        'bmp_peer_last_change_timestamp_seconds{peer="10.0.1.2",router="10.0.9.1#2"} 1.000001e+06'
    ) in peer_lines(text)
    assert len(lines_of(text)) == 6 * 8  # 8 tables; updates has 2 series each
    assert 'bmp_route_updates_total{action="announce",afi="ipv4",peer="10.0.1.2",' in text
    assert "1.2345678e+07" in text
    # Whole families (HELP and TYPE included) are the same, and the rest of
    # the exposition is unchanged.
    ref_fams = {f.name: f for f in text_string_to_metric_families(reference)}
    got_fams = {f.name: f for f in text_string_to_metric_families(rest + text)}
    assert got_fams == ref_fams
    assert len(TABLE_FAMILIES) == 5
    assert len(TEXT_FAMILIES) == 8
    # Cached lines follow changed values: more routes, a withdrawal, a Peer Down.
    s = core.routers["10.0.9.1"].session
    assert s is not None
    feed(s, rm(hdr("10.0.1.2", 65001), ["192.0.2.128/25"], ["192.0.2.32/27"]))
    feed(s, peer_down(hdr("fd00:1::2", 65003)))
    again = generate_latest(full).decode()
    assert lines_of(again) != lines_of(reference)
    assert lines_of(collector.table_text()) == lines_of(again)
    assert peer_lines(collector.table_text()) == peer_lines(again)
    assert (
        'bmp_peer_up{peer="fd00:1::2",peer_asn="65003",peer_type="global",router="10.0.9.1"} 0.0'
        in again
    )
    # Cached label text follows tables that go away.
    core.routers["10.0.9.1"].peers[hdr("10.0.1.2", 65001).key].tables.clear()
    assert len(lines_of(collector.table_text())) == 6 * 4
    assert len(collector._labels) == 4


def test_daemon_metrics_use_table_text() -> None:
    core = loaded_core()
    daemon = build_daemon(Config(), core=core)
    fn, health_text, community_text = daemon.http.metrics_text
    assert community_text() == ""  # rib.count_communities is empty
    assert lines_of(fn()) == lines_of(generate_latest(_full_registry(core)).decode())
    assert health_text().startswith("# HELP bmp_health_check ")
    assert lines_of(generate_latest(daemon.registry).decode()) == []


def _full_registry(core: Core) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(CoreCollector(core))
    return reg
