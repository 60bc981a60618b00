"""The Prometheus collector: contract names, types, labels and exact values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_core_support import (
    POST,
    eor,
    feed,
    hdr,
    initiation,
    make_core,
    peer_down,
    peer_up,
    rm,
    stats,
)

from agent.core import Core
from agent.export.metrics import register
from parsers.bmp.messages import StatEntry
from parsers.bmp.session import DecodeFailed
from parsers.errors import TruncatedError

CONTRACT = {
    "bmp_router_up": ("gauge", {"router"}),
    "bmp_router_info": ("gauge", {"router", "sys_name", "sys_descr", "source"}),
    "bmp_router_connections": ("counter", {"router"}),
    "bmp_messages": ("counter", {"router", "type"}),
    "bmp_decode_errors": ("counter", {"router", "error"}),
    "bmp_peer_up": ("gauge", {"router", "peer", "peer_asn", "peer_type"}),
    "bmp_peer_info": (
        "gauge",
        {
            "router",
            "peer",
            "peer_asn",
            "peer_bgp_id",
            "peer_type",
            "rd",
            "local_asn",
            "local_address",
            "table",
        },
    ),
    "bmp_peer_downs": ("counter", {"router", "peer", "reason"}),
    "bmp_peer_last_change_timestamp_seconds": ("gauge", {"router", "peer"}),
    "bmp_rib_routes": ("gauge", {"router", "peer", "view", "afi", "safi"}),
    "bmp_rib_prefixes": ("gauge", {"router", "peer", "view", "afi", "safi"}),
    "bmp_route_updates": ("counter", {"router", "peer", "view", "afi", "safi", "action"}),
    "bmp_prefix_flaps": ("counter", {"router", "peer", "view", "afi", "safi"}),
    "bmp_peer_stats": ("gauge", {"router", "peer", "stat", "afi", "safi"}),
    "bmp_eor_received": ("gauge", {"router", "peer", "view", "afi", "safi"}),
    "bmp_quirks": ("counter", {"router", "quirk"}),
    "bmp_top_flapping_prefix_flaps": ("gauge", {"router", "peer", "view", "prefix"}),
    "bmp_router_last_message_timestamp_seconds": ("gauge", {"router"}),
}

A = hdr("10.0.1.2", 65001)
A_POST = hdr("10.0.1.2", 65001, POST)
NEVER = hdr("10.0.1.99", 65099, bgp_id="0.0.0.0")


def scenario() -> Core:
    core, clock = make_core()
    s = core.open_session("10.0.9.1", 40000)
    feed(s, initiation("spk1", "FRRouting 8.4.4"), peer_down(NEVER, 2), peer_up(A))
    feed(s, rm(A, ["192.0.2.0/27", "192.0.2.32/27", "10.244.1.0/24"]), eor(A))
    feed(s, rm(A, ["192.0.2.0/27"], ids=[2]))
    feed(s, rm(A_POST, ["2001:db8:1::/48"]))
    for _ in range(3):
        clock.t += 1
        feed(s, rm(A, None, ["10.244.1.0/24"]))
        clock.t += 1
        feed(s, rm(A, ["10.244.1.0/24"]))
    feed(s, rm(A, None, ["198.51.100.0/24"]))
    feed(s, stats(A, [StatEntry(0, 4), StatEntry(9, 3, 1, 1)]))
    s.handle(DecodeFailed(9000, 20, TruncatedError("short", offset=9010), 1))
    return core


def scrape(core: Core) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    reg = CollectorRegistry()
    register(core, reg)
    text = generate_latest(reg).decode()
    return {
        fam.name: (fam.type, [(s.name, s.labels, s.value) for s in fam.samples])
        for fam in text_string_to_metric_families(text)
    }


def test_every_contract_metric_with_exact_label_names() -> None:
    got = scrape(scenario())
    for name, (kind, labels) in CONTRACT.items():
        assert name in got, name
        fam_kind, samples = got[name]
        assert fam_kind == kind, name
        assert samples, name
        for sample_name, sample_labels, _ in samples:
            assert sample_name == (name + "_total" if kind == "counter" else name)
            assert set(sample_labels) == labels, name


def test_exact_values() -> None:
    got = scrape(scenario())

    def value(name: str, **labels: str) -> float:
        hits = [v for _, lab, v in got[name][1] if all(lab.get(k) == x for k, x in labels.items())]
        assert len(hits) == 1, (name, labels, got[name][1])
        return hits[0]

    r = "10.0.9.1"
    assert value("bmp_router_up", router=r) == 1
    assert value("bmp_router_info", sys_name="spk1", sys_descr="FRRouting 8.4.4") == 1
    assert value("bmp_router_connections", router=r) == 1
    assert value("bmp_messages", type="route_monitoring") == 11
    assert value("bmp_messages", type="peer_up") == 1
    assert value("bmp_messages", type="peer_down") == 1
    assert value("bmp_messages", type="initiation") == 1
    assert value("bmp_messages", type="statistics_report") == 2
    assert value("bmp_decode_errors", router=r, error="truncated") == 1
    assert value("bmp_peer_up", peer="10.0.1.2", peer_asn="65001", peer_type="global") == 1
    assert value("bmp_peer_up", peer="10.0.1.99", peer_asn="65099") == 0
    assert (
        value(
            "bmp_peer_info",
            peer="10.0.1.2",
            peer_bgp_id="10.0.1.2",
            rd="",
            local_asn="65000",
            local_address="10.0.1.1",
        )
        == 1
    )
    assert value("bmp_peer_info", peer="10.0.1.99", local_asn="", local_address="") == 1
    assert value("bmp_peer_downs", peer="10.0.1.99", reason="local_no_notification") == 1
    assert value("bmp_peer_last_change_timestamp_seconds", peer="10.0.1.2") == 1_000_000.0
    assert [lab["peer"] for _, lab, _ in got["bmp_peer_last_change_timestamp_seconds"][1]] == [
        "10.0.1.2"
    ]
    pre4 = {"peer": "10.0.1.2", "view": "adj_in_pre", "afi": "ipv4", "safi": "unicast"}
    post6 = {"peer": "10.0.1.2", "view": "adj_in_post", "afi": "ipv6", "safi": "unicast"}
    assert value("bmp_rib_routes", **pre4) == 4
    assert value("bmp_rib_prefixes", **pre4) == 3
    assert value("bmp_rib_routes", **post6) == 1
    assert value("bmp_rib_prefixes", **post6) == 1
    assert value("bmp_route_updates", action="announce", **pre4) == 7
    assert value("bmp_route_updates", action="withdraw", **pre4) == 4
    assert value("bmp_prefix_flaps", **pre4) == 3
    assert value("bmp_prefix_flaps", **post6) == 0
    assert value("bmp_eor_received", **pre4) == 1
    assert value("bmp_eor_received", **post6) == 0
    assert value("bmp_peer_stats", stat="rejected_prefixes", afi="", safi="") == 4
    assert (
        value("bmp_peer_stats", stat="adj_rib_in_routes_per_afi", afi="ipv4", safi="unicast") == 3
    )
    assert value("bmp_quirks", quirk="withdraw_unknown_route") == 1
    assert value("bmp_quirks", quirk="peer_down_without_peer_up") == 1
    assert got["bmp_top_flapping_prefix_flaps"][1] == [
        (
            "bmp_top_flapping_prefix_flaps",
            {"router": r, "peer": "10.0.1.2", "view": "adj_in_pre", "prefix": "10.244.1.0/24"},
            3.0,
        )
    ]
    assert value("bmp_router_last_message_timestamp_seconds", router=r) == 1_000_006.0


def test_close_keeps_counters_and_zeroes_gauges() -> None:
    core = scenario()
    core.close_session(core.routers["10.0.9.1"].session, "eof")  # type: ignore[arg-type]
    got = scrape(core)
    routes = {v for _, _, v in got["bmp_rib_routes"][1]}
    assert routes == {0.0}
    assert [v for _, _, v in got["bmp_router_up"][1]] == [0.0]
    ups = [v for _, _, v in got["bmp_peer_up"][1]]
    assert ups == [0.0, 0.0]
    msgs = {lab["type"]: v for _, lab, v in got["bmp_messages"][1]}
    assert msgs["route_monitoring"] == 11


def test_default_registry_process_metrics_stay() -> None:
    # A fresh registry with the platform/process collectors plus ours: no name clash.
    from prometheus_client import PlatformCollector, ProcessCollector

    reg = CollectorRegistry()
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    register(scenario(), reg)
    text = generate_latest(reg).decode()
    assert "python_info" in text
    assert 'bmp_router_up{router="10.0.9.1"} 1.0' in text
    assert 'bmp_router_connections_total{router="10.0.9.1"} 1.0' in text


#: Families with a value before any router connects: the route limits and
#: what is held against them, and what ``Core.forget`` dropped.
GLOBAL_FAMILIES = ("bmp_rib_route_limit", "bmp_rib_route_usage", "bmp_forgotten")


def test_empty_core_scrapes() -> None:
    core, _ = make_core()
    got = scrape(core)
    assert all(not samples for name, (_, samples) in got.items() if name not in GLOBAL_FAMILIES)
    assert got["bmp_rib_route_usage"][1] == [
        ("bmp_rib_route_usage", {"scope": s}, 0.0) for s in ("peer_max", "router_max", "total")
    ]
    assert [v for _, _, v in got["bmp_forgotten"][1]] == [0.0] * 5
