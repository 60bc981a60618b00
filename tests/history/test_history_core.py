"""Per-prefix history and convergence over a real ``Core`` with an injected clock:
ordering, attribute diffs, best-path changes (own selection and Loc-RIB), Peer
Down, eviction, the memory budget, and the convergence stages."""

from __future__ import annotations

import gc
import ipaddress
import tracemalloc
from dataclasses import replace
from typing import Any

from core_events import POST, PRE, hdr, key, peer_down, peer_up, route_monitoring

from agent.config import Config, HistoryConfig
from agent.core import Core, CoreSettings
from agent.fib.reconciler import KernelRouteChange
from agent.history.component import History, HistoryCollector
from agent.history.convergence import BUCKETS, Convergence
from agent.history.store import HistoryStore
from parsers.bgp.attributes import AS_SEQUENCE, AsPathSegment, PathAttributes
from parsers.bmp.messages import PerPeerHeader


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def attrs(asns: tuple[int, ...], nh: str, med: int | None = None) -> PathAttributes:
    return PathAttributes(
        origin=0, as_path=(AsPathSegment(AS_SEQUENCE, asns),), next_hop=nh, med=med
    )


A = attrs((65001,), "10.0.1.2")
B = attrs((65002, 65009), "10.0.2.2")


def stamped(h: PerPeerHeader, t: float) -> PerPeerHeader:
    return replace(h, timestamp_sec=int(t), timestamp_usec=round((t % 1) * 1e6))


def setup(cfg: HistoryConfig | None = None) -> tuple[Core, History, Clock, Any]:
    clock = Clock()
    core = Core(CoreSettings(clock=clock))
    hist = History(core, cfg or HistoryConfig(enabled=True, settle=1.0))
    session = core.open_session("10.0.9.1", 40000)
    for addr, asn in (("10.0.1.2", 65001), ("10.0.2.2", 65002)):
        session.handle(peer_up(hdr(addr, asn)))
    return core, hist, clock, session


def kinds(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["event"], e["peer"], e["view"]) for e in doc["events"]]


def test_events_in_order_with_both_clocks_and_the_best_path_moving() -> None:
    core, hist, clock, s = setup()
    ha, hb = hdr("10.0.1.2", 65001, POST), hdr("10.0.2.2", 65002, POST)
    s.handle(route_monitoring(stamped(ha, 500.25), ["10.244.3.0/24"], None, A))
    clock.t = 1001.0
    pre = stamped(hdr("10.0.1.2", 65001, PRE), 500.5)
    s.handle(route_monitoring(pre, ["10.244.3.0/24"], None, A))
    clock.t = 1002.0
    s.handle(route_monitoring(hb, ["10.244.3.0/24"], None, B))
    clock.t = 1003.0
    s.handle(route_monitoring(stamped(ha, 503.0), None, ["10.244.3.0/24"], A))
    doc = hist.history("10.244.3.0/24")
    assert kinds(doc) == [
        ("announce", "10.0.1.2", "adj_in_post"),
        ("best_path_change", "10.0.1.2", "adj_in_post"),
        ("announce", "10.0.1.2", "adj_in_pre"),  # the selection reads post-policy
        ("announce", "10.0.2.2", "adj_in_post"),  # B: longer AS path, A stays best
        ("withdraw", "10.0.1.2", "adj_in_post"),
        ("best_path_change", "10.0.2.2", "adj_in_post"),
    ]
    ev = doc["events"]
    assert [e["time"] for e in ev] == [1000.0, 1000.0, 1001.0, 1002.0, 1003.0, 1003.0]
    assert [e["bmp_time"] for e in ev] == [500.25, 500.25, 500.5, None, 503.0, 503.0]
    assert ev[1]["old"] is None
    assert ev[1]["new"]["peer"] == "10.0.1.2" and ev[1]["new"]["next_hop"] == "10.0.1.2"
    assert ev[5]["old"] == {
        "peer": "10.0.1.2",
        "next_hop": "10.0.1.2",
        "as_path": [{"type": "sequence", "asns": [65001]}],
    }
    assert ev[5]["new"]["peer"] == "10.0.2.2" and ev[5]["new"]["next_hop"] == "10.0.2.2"
    assert ev[5]["source"] == "agent_selection"
    assert ev[4]["attributes"]["next_hop"] == "10.0.1.2"
    assert doc["match"] == "exact" and doc["matched_prefix"] == "10.244.3.0/24"
    assert hist.recorder.best_changes == {("10.0.9.1", "adj_in_post", 1, 1): 2}
    # filters
    assert [e["event"] for e in hist.history("10.244.3.0/24", peer="10.0.2.2")["events"]] == [
        "announce",
        "best_path_change",
    ]
    assert hist.history("10.244.3.0/24", view="adj_in_pre")["count"] == 1
    assert hist.history("10.244.3.0/24", since=1002.5)["count"] == 2
    last = hist.history("10.244.3.0/24", limit=2)
    assert last["truncated"] is True and [e["time"] for e in last["events"]] == [1003.0, 1003.0]
    # longest match: an address inside the prefix
    lm = hist.history("10.244.3.7")
    assert lm["match"] == "longest" and lm["count"] == 6
    assert hist.history("10.244.4.0/24")["events"] == []
    del core


def test_announce_reports_only_the_changed_attributes() -> None:
    _core, hist, clock, s = setup()
    h = hdr("10.0.1.2", 65001, PRE)
    s.handle(route_monitoring(h, ["10.1.0.0/16"], None, attrs((65001,), "10.0.1.2", med=10)))
    clock.t += 1
    s.handle(route_monitoring(h, ["10.1.0.0/16"], None, attrs((65001,), "10.0.1.2", med=20)))
    first, second = [e for e in hist.history("10.1.0.0/16")["events"] if e["event"] == "announce"]
    assert first["previous"] is None and first["changed"]["med"] == 10
    assert second["changed"] == {"med": 20}
    assert second["previous"] == {"med": 10}


def test_peer_down_implicit_withdraw_best_path_and_rib_convergence() -> None:
    _core, hist, clock, s = setup(HistoryConfig(enabled=True, settle=1.0))
    ha, hb = hdr("10.0.1.2", 65001, POST), hdr("10.0.2.2", 65002, POST)
    prefixes = ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    s.handle(route_monitoring(ha, prefixes, None, A))
    s.handle(route_monitoring(hb, prefixes[:2], None, B))
    clock.t = 1010.0
    s.handle(peer_down(ha))
    ev = hist.history("10.244.0.0/24")["events"]
    assert [e["event"] for e in ev[-2:]] == ["implicit_withdraw", "best_path_change"]
    assert ev[-2]["reason"] == "remote_notification" or ev[-2]["reason"]
    assert ev[-1]["new"]["peer"] == "10.0.2.2"
    gone = hist.history("10.244.2.0/24")["events"][-1]
    assert gone["event"] == "best_path_change" and gone["new"] is None
    ep = hist.convergence.open[("10.0.9.1", "10.0.1.2")]
    assert ep.trigger == "peer_down"
    assert len(ep.affected) == 3
    assert len(ep.changed) == 3
    clock.t = 1010.5
    hist.convergence.tick(clock())
    assert ep.rib_end is None  # not settled yet
    clock.t = 1011.0
    hist.convergence.tick(clock())
    assert ep.rib_seconds() == 0.0 and ep.done  # no FIB: rib stage only
    doc = hist.convergence_doc()
    assert doc["last"]["trigger"] == "peer_down" and doc["last"]["prefixes"] == 3
    assert doc["last"]["fib"] is None
    assert hist.histograms.count("10.0.9.1", "rib") == 1
    assert hist.histograms.count("10.0.9.1", "fib") == 0


def test_loc_rib_changes_are_the_best_path_changes() -> None:
    core, hist, clock, s = setup()
    loc = hdr("10.0.9.1", 65000, 0, peer_type=3)
    s.handle(route_monitoring(hdr("10.0.1.2", 65001, POST), ["10.2.0.0/16"], None, A))
    s.handle(route_monitoring(loc, ["10.2.0.0/16"], None, A))
    clock.t += 1
    s.handle(route_monitoring(loc, ["10.2.0.0/16"], None, attrs((65001,), "10.0.1.2", med=5)))
    clock.t += 1
    s.handle(route_monitoring(loc, ["10.2.0.0/16"], None, B))
    ev = [e for e in hist.history("10.2.0.0/16")["events"] if e["event"] == "best_path_change"]
    # the first adj_in_post announce saw no Loc-RIB yet (own selection), then Loc-RIB rules;
    # the MED-only change is no best-path change
    assert [(e["view"], e["source"]) for e in ev] == [
        ("adj_in_post", "agent_selection"),
        ("loc_rib", "loc_rib"),
        ("loc_rib", "loc_rib"),
    ]
    assert ev[-1]["old"]["next_hop"] == "10.0.1.2" and ev[-1]["new"]["next_hop"] == "10.0.2.2"
    assert hist.recorder.best_changes[("10.0.9.1", "loc_rib", 1, 1)] == 2
    del core


def test_store_evicts_oldest_first_and_the_index_follows() -> None:
    store = HistoryStore(max_events=1000, max_per_prefix=3)
    p = [bytes([24, 10, i >> 8, i & 255]) for i in range(500)]
    for i in range(5000):
        store.add((float(i), None, "announce", "r", "p", "v", 1, 1, p[i % 500], None, None, None))
    assert len(store) == 1000 and store.evicted == 4000
    assert store.ring[0][0] == 4000.0
    # each prefix: its last 2 events are in the ring (1000 / 500), all indexed
    net = ipaddress.ip_network("10.0.7.0/24")
    _k, evs = store.lookup(net)
    assert [e[0] for e in evs] == [4007.0, 4507.0]
    assert sum(len(v) for v in store.index[(1, 1)].values()) == 1000
    # per-prefix cap: one prefix, 10 events, 3 indexed, 10 in the ring
    s2 = HistoryStore(max_events=100, max_per_prefix=3)
    for i in range(10):
        s2.add((float(i), None, "announce", "r", "p", "v", 1, 1, p[0], None, None, None))
    assert [e[0] for e in s2.lookup(ipaddress.ip_network("10.0.0.0/24"))[1]] == [7.0, 8.0, 9.0]
    assert s2.dropped_per_prefix == 7 and len(s2) == 10
    s2.resize(4, 3)
    assert len(s2) == 4 and s2.evicted == 6
    assert [e[0] for e in s2.lookup(ipaddress.ip_network("10.0.0.0/24"))[1]] == [7.0, 8.0, 9.0]


def test_budget_the_ring_stays_within_max_events_and_its_bytes() -> None:
    """At max_events the store holds max_events, and the default fits ~64 MiB:
    measured from an empty history, one event per prefix (the worst case: every
    event brings its own index entry), announces and best-path changes."""
    cfg = HistoryConfig(enabled=True, max_events=20000, settle=1.0)
    core, hist, clock, s = setup(cfg)
    h = hdr("10.0.1.2", 65001, PRE)
    prefixes = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(10000)]
    hist.reload(Config(history=replace(cfg, enabled=False)))
    for i in range(0, 10000, 100):  # the RIB, without history
        s.handle(route_monitoring(h, prefixes[i : i + 100], None, A))
    hist.reload(Config(history=cfg))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clock.t += 1
    for i in range(0, 10000, 100):  # 10000 announces + 10000 best-path changes (A -> B')
        s.handle(route_monitoring(h, prefixes[i : i + 100], None, attrs((65001,), "10.0.1.9")))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(hist.store) == 20000 and hist.store.evicted == 0
    per_event = used / 20000
    print(f"history: {per_event:.0f} B per event")
    assert per_event < 420, f"{per_event:.0f} B per event"
    assert HistoryConfig().max_events * 512 <= 64 << 20  # the default with headroom
    # full: more events evict the oldest, the count stays at max_events
    clock.t += 1
    for i in range(0, 10000, 100):
        s.handle(route_monitoring(h, prefixes[i : i + 100], None, A))
    assert len(hist.store) == 20000 and hist.store.evicted == 20000
    del core


def test_disabled_costs_nothing_per_route() -> None:
    assert HistoryConfig().enabled is False  # the default
    core, hist, _clock, s = setup(HistoryConfig(enabled=False))
    assert hist.recorder not in core.observers and hist.recorder not in core.clear_observers
    s.handle(route_monitoring(hdr("10.0.1.2", 65001, PRE), ["10.3.0.0/16"], None, A))
    s.handle(peer_down(hdr("10.0.1.2", 65001, PRE)))
    assert len(hist.store) == 0 and sum(hist.recorder.recorded.values()) == 0


class FakeFib:
    def __init__(self) -> None:
        self.router_label = "10.0.9.1"
        self.drift: dict[bytes, str] = {}
        self.listeners: list[Any] = []

    def drifting(self, afi: int, rd: str | None, prefix: bytes) -> str | None:
        return self.drift.get(prefix)


def test_fib_stage_ends_at_the_last_kernel_change_once_in_sync() -> None:
    core, hist, clock, s = setup(HistoryConfig(enabled=True, settle=1.0))
    fib = FakeFib()
    hist.attach_fib(fib)
    assert fib.listeners == [hist.recorder]
    ha, hb = hdr("10.0.1.2", 65001, POST), hdr("10.0.2.2", 65002, POST)
    s.handle(route_monitoring(ha, ["10.9.0.0/24", "10.9.1.0/24"], None, A))
    s.handle(route_monitoring(hb, ["10.9.0.0/24", "10.9.1.0/24"], None, B))
    clock.t = 1100.0
    s.handle(route_monitoring(ha, None, ["10.9.0.0/24"], A))
    clock.t = 1100.2
    s.handle(route_monitoring(ha, None, ["10.9.1.0/24"], A))  # same burst
    k0, k1 = key("10.9.0.0/24"), key("10.9.1.0/24")
    fib.drift = {k0: "nexthop_mismatch", k1: "nexthop_mismatch"}
    clock.t = 1100.3
    hist.recorder.kernel_route(
        KernelRouteChange(
            "10.0.9.1", 1, "main", k0, ("10.0.1.2 dev a",), ("10.0.2.2 dev b",), clock()
        )
    )
    clock.t = 1101.5
    hist.recorder.pass_done(clock())  # rib settles (1100.2 + 1.0 <= 1101.5); fib drifts
    ep = hist.convergence.recent[-1] if hist.convergence.recent else None
    assert ep is None
    (ep,) = hist.convergence.open.values()
    assert ep.rib_end == 1100.2 and ep.fib_end is None
    clock.t = 1101.7
    hist.recorder.kernel_route(
        KernelRouteChange(
            "10.0.9.1", 1, "main", k1, ("10.0.1.2 dev a",), ("10.0.2.2 dev b",), clock()
        )
    )
    fib.drift = {}
    clock.t = 1102.0
    hist.recorder.pass_done(clock())
    assert ep.done and ep.fib_end == 1101.7
    assert abs(ep.fib_seconds() - 1.7) < 1e-9 and abs(ep.rib_seconds() - 0.2) < 1e-9
    doc = hist.convergence_doc()["last"]
    assert [p["prefix"] for p in doc["fib"]["converged_last"]] == ["10.9.1.0/24", "10.9.0.0/24"]
    assert doc["trigger"] == "withdraw" and doc["prefixes"] == 2
    ev = hist.history("10.9.1.0/24")["events"]
    assert [e["event"] for e in ev[-3:]] == ["withdraw", "best_path_change", "fib_nexthop_change"]
    assert ev[-1]["next_hops"] == ["10.0.2.2 dev b"] and ev[-1]["table"] == "main"
    # the histogram: one rib (0.2 s: le=0.25) and one fib (1.7 s: le=2.5) observation
    fams = {m.name: m for m in HistoryCollector(hist).collect()}
    samples = {
        (s.labels.get("stage"), s.labels.get("le")): s.value
        for s in fams["bmp_convergence_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert samples[("rib", "0.1")] == 0 and samples[("rib", "0.25")] == 1
    assert samples[("fib", "1.0")] == 0 and samples[("fib", "2.5")] == 1
    assert samples[("fib", "+Inf")] == 1
    assert len(BUCKETS) == 13 and BUCKETS[0] == 0.01 and BUCKETS[-1] == 120.0
    del core


def test_fib_stage_times_out() -> None:
    seen: list[tuple[str, str, float]] = []
    conv = Convergence(lambda r, s, v: seen.append((r, s, v)), settle=1.0, timeout=120.0)
    fib = FakeFib()
    conv.fib = fib
    conv.triggered("10.0.9.1", "p", None, "withdraw", [(1, 1, b"\x08\x0a")], 0.0, None)
    conv.best_changed("10.0.9.1", (1, 1, b"\x08\x0a"), 0.5)
    fib.drift = {b"\x08\x0a": "missing"}
    conv.tick(2.0, fib_pass=True)
    conv.tick(119.0, fib_pass=True)
    assert seen == [("10.0.9.1", "rib", 0.5)]
    conv.tick(121.0)
    assert seen == [("10.0.9.1", "rib", 0.5), ("10.0.9.1", "fib", 121.0)]
    assert conv.recent[-1].timed_out


def test_reload_turns_it_off_and_on_and_resizes() -> None:
    core, hist, _clock, s = setup(HistoryConfig(enabled=True, settle=1.0))
    fib = FakeFib()
    hist.attach_fib(fib)
    s.handle(route_monitoring(hdr("10.0.1.2", 65001, PRE), ["10.5.0.0/16", "10.6.0.0/16"], None, A))
    assert len(hist.store) == 4  # 2 announces + 2 first best paths (pre-policy only router)
    assert hist.reload(Config(history=HistoryConfig(enabled=False))) == []
    assert len(hist.store) == 0 and not hist.attached
    assert hist.recorder not in core.observers and fib.listeners == []
    s.handle(route_monitoring(hdr("10.0.1.2", 65001, PRE), ["10.7.0.0/16"], None, A))
    assert len(hist.store) == 0
    hist.reload(Config(history=HistoryConfig(enabled=True, max_events=1000, settle=0.5)))
    assert hist.attached and fib.listeners == [hist.recorder]
    assert hist.store.max_events == 1000 and hist.convergence.settle == 0.5
    s.handle(route_monitoring(hdr("10.0.1.2", 65001, PRE), ["10.8.0.0/16"], None, A))
    assert [e["event"] for e in hist.history("10.8.0.0/16")["events"]] == [
        "announce",
        "best_path_change",
    ]


def test_peer_up_clears_stale_routes_as_implicit_withdraws_without_an_episode() -> None:
    _core, hist, _clock, s = setup()
    h = hdr("10.0.1.2", 65001, POST)
    s.handle(route_monitoring(h, ["10.4.0.0/16"], None, A))
    s.handle(peer_up(hdr("10.0.1.2", 65001)))  # a new session: the held route is stale
    ev = hist.history("10.4.0.0/16")["events"]
    assert [(e["event"], e.get("reason")) for e in ev] == [
        ("announce", None),
        ("best_path_change", None),
        ("implicit_withdraw", "peer_up"),
        ("best_path_change", None),
    ]
    assert hist.convergence.open == {}
