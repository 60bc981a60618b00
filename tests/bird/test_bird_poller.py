"""The BIRD source end to end on a fake socket replaying real BIRD replies:
routers, peers, views, flaps, restarts and metrics in the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_bird import FakeBird, greeting, recorded
from prometheus_client import CollectorRegistry

from agent.config import SourceConfig, load
from agent.core import Core, CoreSettings
from agent.core.peer import DOWN, UP
from agent.export import metrics
from agent.sources.bird import BirdPoller, BirdSource, router_label

V4 = (1, 1)
V6 = (2, 1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> Core:
    return Core(CoreSettings(clock=clock))


async def fake(tmp_path: Path, version: str, suffix: str = "") -> FakeBird:
    name = "bird6.ctl" if suffix else "bird.ctl"
    return await FakeBird(
        tmp_path / name, recorded(version, suffix), greeting(version, suffix)
    ).start()


@pytest.fixture
async def bird20(tmp_path: Path) -> AsyncIterator[FakeBird]:
    f = await fake(tmp_path, "2.0")
    yield f
    await f.stop()


def peer_tables(core: Core, label: str) -> dict[tuple[str, str, int], int]:
    """(peer label, view, afi) -> routes, for tables with routes."""
    out = {}
    for peer in core.routers[label].peers.values():
        for (view, afi, _), t in peer.tables.items():
            if t.route_count:
                out[(peer.label, view, afi)] = t.route_count
    return out


async def test_bird20_snapshot_into_core(core: Core, bird20: FakeBird) -> None:
    poller = BirdPoller(core, str(bird20.path), "bird.ctl")
    snap = await poller.poll()
    assert snap is not None and snap.count is not None
    assert snap.routes_read == snap.count.routes == 10
    router = core.routers["bird.ctl"]
    assert router.source == "bird" and router.up and router.connections == 1
    assert router.sys_descr == "BIRD 2.0.12"
    assert peer_tables(core, "bird.ctl") == {
        ("10.0.1.2", "adj_in_post", 1): 4,
        ("10.0.1.3", "adj_in_post", 1): 2,
        ("10.0.1.3", "adj_in_pre", 1): 3,  # import table: the filtered one too
        ("fd00:1::2", "adj_in_post", 2): 3,
        ("0.0.0.0", "loc_rib", 1): 6,
        ("0.0.0.0", "loc_rib", 2): 3,
    }
    states = {p.label: (p.state, p.asn, p.bgp_id) for p in router.peers.values()}
    assert states == {
        "10.0.1.2": (UP, 65001, "10.0.1.2"),
        "10.0.1.3": (UP, 65003, "10.0.1.3"),
        "10.0.1.9": (DOWN, 65009, "0.0.0.0"),
        "fd00:1::2": (UP, 65002, "10.0.1.4"),
        "0.0.0.0": (UP, 65000, "10.0.1.1"),
    }
    a = next(p for p in router.peers.values() if p.label == "10.0.1.2")
    assert (a.local_asn, a.local_address) == (65000, "10.0.1.1")
    # only allow-listed, read-only commands went out
    assert bird20.commands == [
        "show status",
        "show protocols all",
        "show route all",
        "show route import table A.ipv4 all",  # no import table: 9001, not asked again
        "show route import table A2.ipv4 all",
        "show route import table B.ipv6 all",
        "show route count",
    ]
    await poller.poll()
    assert bird20.commands[7:] == [
        "show status",
        "show protocols all",
        "show route all",
        "show route import table A2.ipv4 all",
        "show route count",
    ]
    assert bird20.connections == 1  # one connection across polls
    # an unchanged second poll changes no counter
    t = a.tables[("adj_in_post", *V4)]
    assert (t.announces, t.withdraws, t.flaps) == (4, 0, 0)
    assert a.downs == {}
    await poller.client.close()


async def test_bird16_two_sockets_two_routers(core: Core, tmp_path: Path) -> None:
    f4, f6 = await fake(tmp_path, "1.6"), await fake(tmp_path, "1.6", "6")
    try:
        p4 = BirdPoller(core, str(f4.path), router_label(str(f4.path)))
        p6 = BirdPoller(core, str(f6.path), router_label(str(f6.path)))
        await p4.poll()
        await p6.poll()
        assert sorted(core.routers) == ["bird.ctl", "bird6.ctl"]
        assert peer_tables(core, "bird.ctl") == {
            ("10.0.1.2", "adj_in_post", 1): 4,
            ("10.0.1.3", "adj_in_post", 1): 2,  # 1.6: no import table, no adj_in_pre
            ("0.0.0.0", "loc_rib", 1): 6,
        }
        assert peer_tables(core, "bird6.ctl") == {
            ("fd00:1::2", "adj_in_post", 2): 3,
            ("0.0.0.0", "loc_rib", 2): 3,
        }
        assert not any("import table" in c for c in f4.commands + f6.commands)
        await p4.client.close()
        await p6.client.close()
    finally:
        await f4.stop()
        await f6.stop()


def edit(reply: bytes, old: str, new: str) -> bytes:
    text = reply.decode()
    assert old in text
    return text.replace(old, new).encode()


async def test_flaps_from_state_and_since(core: Core, clock: Clock, bird20: FakeBird) -> None:
    poller = BirdPoller(core, str(bird20.path), "n1")
    await poller.poll()
    router = core.routers["n1"]
    a = next(p for p in router.peers.values() if p.label == "10.0.1.2")
    base = dict(bird20.replies)
    # 1. a reset shorter than the interval: still Established, since-time moved
    clock.t += 10
    bird20.replies["show protocols all"] = edit(
        base["show protocols all"],
        "A          BGP        ---        up     2026-11-26 07:37:32",
        "A          BGP        ---        up     2026-11-26 07:38:01",
    )
    await poller.poll()
    assert a.downs == {"bird_session_reset": 1}
    assert a.state == UP and a.last_change == clock.t
    t = a.tables[("adj_in_post", *V4)]
    # tables cleared then re-announced, as Peer Down + Peer Up would
    assert (t.route_count, t.announces, t.withdraws) == (4, 8, 0)
    # 2. the session goes down: routes gone, down counted, others untouched
    clock.t += 10
    down = edit(
        bird20.replies["show protocols all"],
        "A          BGP        ---        up     2026-11-26 07:38:01  Established",
        "A          BGP        ---        start  2026-11-26 07:38:11  Active     ",
    )
    bird20.replies["show protocols all"] = edit(
        down, "  BGP state:          Established\n     Neighbor address: 10.0.1.2",
        "  BGP state:          Active\n     Neighbor address: 10.0.1.2",
    )  # fmt: skip
    await poller.poll()
    assert a.state == DOWN and a.route_count == 0
    assert a.downs == {"bird_session_reset": 1, "bird_session_down": 1}
    a2 = next(p for p in router.peers.values() if p.label == "10.0.1.3")
    assert a2.state == UP and a2.route_count == 5 and a2.downs == {}
    # 3. down in two polls: counted once
    clock.t += 10
    await poller.poll()
    assert a.downs["bird_session_down"] == 1
    # 4. back up
    bird20.replies["show protocols all"] = base["show protocols all"]
    clock.t += 10
    await poller.poll()
    assert a.state == UP and a.route_count == 4 and sum(a.downs.values()) == 2
    await poller.client.close()


async def test_protocol_removed(core: Core, clock: Clock, bird20: FakeBird) -> None:
    poller = BirdPoller(core, str(bird20.path), "n1")
    await poller.poll()
    text = bird20.replies["show protocols all"].decode()
    start = text.index("1002-B ")
    end = text.index("0000 ")
    bird20.replies["show protocols all"] = (text[:start] + text[end:]).encode()
    await poller.poll()
    b = next(p for p in core.routers["n1"].peers.values() if p.label == "fd00:1::2")
    assert (b.state, b.route_count, dict(b.downs)) == (DOWN, 0, {"bird_protocol_removed": 1})
    await poller.poll()
    assert dict(b.downs) == {"bird_protocol_removed": 1}
    await poller.client.close()


async def test_withdrawals_and_prefix_flaps(core: Core, clock: Clock, bird20: FakeBird) -> None:
    poller = BirdPoller(core, str(bird20.path), "n1")
    await poller.poll()
    router = core.routers["n1"]
    a = next(p for p in router.peers.values() if p.label == "10.0.1.2")
    full = bird20.replies["show route all"]
    text = full.decode()
    start = text.index("1007-10.10.2.0/25")
    end = text.index("1007-10.10.0.0/24")
    bird20.replies["show route all"] = (text[:start] + text[end:]).encode()
    clock.t += 10
    await poller.poll()
    t = a.tables[("adj_in_post", *V4)]
    assert (t.route_count, t.withdraws, t.flaps) == (3, 1, 0)
    loc = next(p for p in router.peers.values() if p.label == "0.0.0.0")
    assert loc.tables[("loc_rib", *V4)].route_count == 5
    bird20.replies["show route all"] = full
    clock.t += 10
    await poller.poll()
    assert (t.route_count, t.announces, t.withdraws, t.flaps) == (4, 5, 1, 1)
    assert [(f.peer, f.view, f.flaps) for f in core.top_flaps()] == [
        ("10.0.1.2", "adj_in_post", 1),
        ("0.0.0.0", "loc_rib", 1),
    ]
    await poller.client.close()


async def test_socket_loss_and_bird_restart(core: Core, clock: Clock, tmp_path: Path) -> None:
    f = await fake(tmp_path, "2.0")
    poller = BirdPoller(core, str(f.path), "n1", timeout=2)
    await poller.poll()
    router = core.routers["n1"]
    assert router.up and router.connections == 1
    await f.stop()
    clock.t += 10
    assert await poller.poll() is None
    assert not router.up and router.close_reason == "bird_socket_unavailable"
    assert all(p.state == DOWN and p.route_count == 0 for p in router.peers.values())
    assert router.decode_errors == {"bird_poll_failed": 1}
    # BIRD is back (restarted): a new session, no Peer Down counted for the restart
    f2 = await fake(tmp_path, "2.0")
    f2.replies["show status"] = edit(
        f2.replies["show status"], "Last reboot on 2026-11-26 07:37:31.712",
        "Last reboot on 2026-11-26 07:40:00.000",
    )  # fmt: skip
    clock.t += 10
    await poller.poll()
    assert router.up and router.connections == 2
    assert sum(p.route_count for p in router.peers.values()) == 21
    assert all(not p.downs for p in router.peers.values())
    # "Last reboot" printed a second off (BIRD's clock jitter): not a restart
    f2.replies["show status"] = f2.replies["show status"].replace(b"07:40:00.000", b"07:40:01.000")
    clock.t += 10
    await poller.poll()
    assert router.connections == 2
    # restarted again between two polls (socket reconnect not noticed): close + reopen
    f2.replies["show status"] = f2.replies["show status"].replace(b"07:40:01.000", b"07:41:00.000")
    await poller.client.close()
    clock.t += 10
    await poller.poll()
    # closed and reopened at this poll (open_session resets close_reason)
    assert router.connections == 3 and router.last_close == clock.t
    assert all(not p.downs for p in router.peers.values())
    await poller.client.close()
    await f2.stop()


async def test_metrics_source_label(core: Core, bird20: FakeBird) -> None:
    core.open_session("192.0.2.1", 40000)
    poller = BirdPoller(core, str(bird20.path), "node1")
    await poller.poll()
    registry = CollectorRegistry()
    metrics.register(core, registry)
    info = {
        s.labels["router"]: s.labels["source"]
        for m in registry.collect()
        if m.name == "bmp_router_info"
        for s in m.samples
    }
    assert info == {"192.0.2.1": "bmp", "node1": "bird"}
    routes = registry.get_sample_value(
        "bmp_rib_routes",
        {"router": "node1", "peer": "10.0.1.3", "view": "adj_in_pre", "afi": "ipv4",
         "safi": "unicast"},
    )  # fmt: skip
    assert routes == 3.0
    await poller.client.close()


async def test_component_polls_on_interval(tmp_path: Path, bird20: FakeBird) -> None:
    class D:
        core = Core()

    src = BirdSource([SourceConfig("bird", str(bird20.path), interval=0.1)])
    await src.start(D())  # type: ignore[arg-type]
    for _ in range(200):
        if src.pollers[0].polls >= 3:
            break
        await asyncio.sleep(0.02)
    await src.stop()
    assert src.pollers[0].polls >= 3
    router = D.core.routers["bird.ctl"]
    assert not router.up and router.close_reason == "shutdown"
    assert src.reload(load(environ={})) == ["sources"]


def test_config_sources(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "sources:\n"
        "  - {type: bird, socket: /var/run/calico/bird.ctl, interval: 10s}\n"
        "  - {type: bird, socket: /var/run/calico/bird6.ctl, interval: 500ms, router: n1-v6}\n"
    )
    cfg = load(path=p, environ={})
    assert cfg.sources == (
        SourceConfig("bird", "/var/run/calico/bird.ctl", 10.0, ""),
        SourceConfig("bird", "/var/run/calico/bird6.ctl", 0.5, "n1-v6"),
    )
    assert [router_label(s.socket, s.router) for s in cfg.sources] == ["bird.ctl", "n1-v6"]


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("sources: {type: bird}\n", "sources"),
        ("sources: [{type: bmp, socket: /x}]\n", "sources[0].type"),
        ("sources: [{type: bird}]\n", "sources[0].socket"),
        ("sources: [{type: bird, socket: /x, interval: fast}]\n", "sources[0].interval"),
        ("sources: [{type: bird, socket: /x, interval: 0}]\n", "sources[0].interval"),
        ("sources: [{type: bird, socket: /x, colour: red}]\n", "sources[0].colour"),
    ],
)
def test_config_sources_errors(tmp_path: Path, yaml_text: str, key: str) -> None:
    from agent.config import ConfigError

    p = tmp_path / "c.yaml"
    p.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load(path=p, environ={})
    assert err.value.key == key


async def test_daemon_runs_bird_sources_and_serves_metrics(
    tmp_path: Path, bird20: FakeBird
) -> None:
    import aiohttp

    from agent.app import build_daemon

    p = tmp_path / "agent.yaml"
    p.write_text(
        "bmp:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: 127.0.0.1:0\nfib:\n  enabled: false\n"
        f"sources:\n  - {{type: bird, socket: {bird20.path}, interval: 0.2s, router: node-a}}\n"
    )
    d = build_daemon(load(path=p, environ={}))
    await d.start()
    try:
        for _ in range(200):
            if "node-a" in d.core.routers and d.core.routers["node-a"].up:
                break
            await asyncio.sleep(0.02)
        url = f"http://{d.http_addresses[0]}/metrics"
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            text = await resp.text()
    finally:
        await d.stop()
    (line,) = [x for x in text.splitlines() if x.startswith("bmp_router_info{")]
    assert line == (
        'bmp_router_info{router="node-a",source="bird",sys_descr="BIRD 2.0.12",sys_name="vm"} 1.0'
    )
    assert (
        'bmp_rib_routes{afi="ipv4",peer="10.0.1.2",router="node-a",safi="unicast",'
        'view="adj_in_post"} 4.0' in text
    )
    assert not d.core.routers["node-a"].up  # closed on stop


async def test_client_abandoned_reply_and_allow_list(bird20: FakeBird) -> None:
    from agent.sources.bird.client import BirdClient
    from agent.sources.bird.protocol import BirdCommandError, CommandRejected

    c = BirdClient(str(bird20.path))
    assert await c.connect() == "2.0.12"
    with pytest.raises(CommandRejected):
        await c.command("restart A")
    assert bird20.commands == []  # nothing was sent
    with pytest.raises(BirdCommandError) as err:
        await c.command("show route import table A.ipv4 all")
    assert err.value.code == 9001 and c.connected  # an error reply keeps the connection
    gen = c.stream("show route all")
    async for _ in gen:
        break
    await gen.aclose()
    assert not c.connected  # half-read reply: connection dropped
    await c.connect()
    assert len(await c.command("show route count")) == 3
    await c.close()
