"""Issue 17: streams with TLVs after the UPDATE (v3) and BMP v4 streams, built
with ``support.bmp`` in the shapes routers send, through ``BmpSession`` into
the core, the metrics, the API views and ``bmp-agent decode``.

Each v4 stream has a v3 twin built from the same UPDATEs; both must leave the
same routes in the RIB.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support import bgp as b
from support import bmp
from test_core_support import make_core

from agent.core import Core
from agent.core.path_status import MarkedAttributes, status_of
from agent.export import views
from agent.export.metrics import register
from parsers.bgp.attributes import PathAttributes
from parsers.bmp.messages import PATH_STATUS_NAMES
from parsers.bmp.session import BmpSession, Decoded
from parsers.errors import Action, ParseError

ROOT = Path(__file__).resolve().parents[2]
ROUTER = "192.0.2.200"
PEER = "10.0.1.2"
BEST, NON_SELECTED, PRIMARY, BACKUP, INVALID = 0x2, 0x4, 0x8, 0x10, 0x1


class Feeder:
    """One BMP connection into ``core``: ``feed`` bytes in chunks, as TCP would."""

    def __init__(self, core: Core, router: str = ROUTER) -> None:
        self.rs = core.open_session(router, 40000)
        self.session = BmpSession()

    def feed(self, stream: bytes, chunk: int = 1000) -> BmpSession:
        for i in range(0, len(stream), chunk):
            for ev in self.session.feed(stream[i : i + chunk]):
                self.rs.handle(ev)
        self.rs.absorb_quirks(self.session.ctx.quirks)
        return self.session


def run(core: Core, stream: bytes, router: str = ROUTER) -> BmpSession:
    """The whole ``stream`` through one new session into ``core``."""
    return Feeder(core, router).feed(stream)


def rib(core: Core, router: str = ROUTER) -> dict[tuple[str, str, int, int], dict[object, object]]:
    """Every route: (peer, view, afi, safi) -> {key: attributes without marking}."""
    out: dict[tuple[str, str, int, int], dict[object, object]] = {}
    for peer in core.routers[router].peers.values():
        for (view, afi, safi), t in peer.tables.items():
            out[(peer.label, view, afi, safi)] = {k: _plain(a) for k, a in t.routes.items()}
    return out


def _plain(a: PathAttributes) -> PathAttributes:
    if type(a) is MarkedAttributes:
        return PathAttributes(*[getattr(a, n) for n in PathAttributes.__dataclass_fields__])
    return a


#: The prefixes each built UPDATE withdraws.
WITHDRAWN: dict[bytes, list[str]] = {}


def updates(seed: int, n: int) -> list[tuple[bytes, list[str]]]:
    """``n`` varied IPv4 UPDATEs (1-5 prefixes, different attributes, some
    withdrawals) with the prefixes each announces."""
    rnd = random.Random(seed)
    out: list[tuple[bytes, list[str]]] = []
    for i in range(n):
        count = rnd.randint(1, 5)
        prefixes = [f"10.{seed}.{(i * 5 + j) % 250}.0/24" for j in range(count)]
        attrs = [
            b.origin(rnd.randint(0, 2)),
            b.as_path([(2, [65001] + [rnd.randint(64512, 65534)] * rnd.randint(0, 3))]),
            b.next_hop(f"192.0.2.{rnd.randint(1, 9)}"),
            b.med(rnd.randint(0, 50)),
        ]
        if rnd.random() < 0.5:
            attrs.append(b.communities([f"65001:{rnd.randint(1, 300)}"]))
        withdrawn: list[str] = []
        if i > 3 and rnd.random() < 0.2:
            withdrawn = [out[i - 3][1][0]]
        update = b.build_update(
            attributes=attrs, nlri=b.nlri(prefixes), withdrawn=b.nlri(withdrawn)
        )
        WITHDRAWN[update] = withdrawn
        out.append((update, prefixes))
    return out


def peer_up(version: int = 3, add_path: bool = False) -> bytes:
    caps = [bmp.mp_cap(1, 1), bmp.four_octet_as_cap(65001)]
    if add_path:
        caps.append(bmp.add_path_cap((1, 1, 3)))
    return bmp.build_peer_up(
        address=PEER,
        asn=65001,
        sent_open=bmp.build_open(asn=65000, bgp_id="10.0.1.1", capabilities=caps),
        received_open=bmp.build_open(asn=65001, bgp_id=PEER, capabilities=caps),
        version=version,
    )


# -- v3 with TLVs after the UPDATE ---------------------------------------------------

#: The trailing shapes seen from Cisco / Huawei routers (8 bytes) and others.
TAILS = [
    bmp.build_indexed_tlv(0x2A, b"\x00\x07"),  # indexed form, 8 bytes, unknown type
    bytes.fromhex("0001 0004 0000 0001"),  # plain form, 8 bytes: type 1, 4-byte value
    bmp.path_marking_tlv(BEST, index=0),  # indexed path marking for every NLRI
    bmp.build_indexed_tlv(7, b"\x01\x02\x03", pen=2011),  # enterprise (E bit + PEN)
    bmp.build_indexed_tlv(3, b"vrf-blue") + bmp.build_indexed_tlv(0x2B, b""),  # two TLVs
]


def test_v3_trailing_tlvs_lose_no_route() -> None:
    ups = updates(1, 60)
    plain = bmp.build_initiation(sys_name="xr1") + peer_up()
    tailed = plain
    for i, (u, _) in enumerate(ups):
        plain += bmp.build_route_monitoring(u, address=PEER, asn=65001)
        tail = TAILS[i % len(TAILS)] if i % 3 else b""  # 40 of the 60 carry TLVs
        tailed += bmp.build_route_monitoring(u, trailing=tail, address=PEER, asn=65001)
    core_plain, _ = make_core()
    core_tailed, _ = make_core()
    run(core_plain, plain)
    session = run(core_tailed, tailed)
    want = rib(core_plain)
    assert rib(core_tailed) == want
    assert sum(len(t) for t in want.values()) == live_routes(ups) == 147
    router = core_tailed.routers[ROUTER]
    assert router.decode_errors == {}
    assert router.messages["route_monitoring"] == 60
    # 40 messages with TLVs; unknown TLVs: 0x2A (8 msgs), type 1 plain is
    # "sys_descr" in the information registry (known), PEN (8), 0x2B (8).
    assert session.ctx.quirks["trailing_tlv"] == 40
    assert session.ctx.quirks["unknown_tlv"] == 24
    assert router.quirks["trailing_tlv"] == 40
    assert "trailing_bytes" not in router.quirks


def live_routes(ups: list[tuple[bytes, list[str]]]) -> int:
    """Routes left after the stream: each UPDATE withdraws before it announces."""
    live: set[str] = set()
    for u, prefixes in ups:
        live -= set(WITHDRAWN.get(u, ()))
        live |= set(prefixes)
    return len(live)


def test_decode_command_shows_trailing_tlvs(tmp_path: Path) -> None:
    u, _ = updates(2, 1)[0]
    stream = bmp.build_route_monitoring(
        u,
        trailing=TAILS[0] + bmp.path_marking_tlv(BEST | PRIMARY, 3, index=1),
        address=PEER,
        asn=65001,
    )
    path = tmp_path / "tlv.bmp"
    path.write_bytes(stream)
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli.decode", str(path)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=True,
    )
    (out,) = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert out["tlvs"] == [
        {"type": 0x2A, "name": "type_42", "index": 0, "hex": "0007"},
        {
            "type": 5,
            "name": "path_marking",
            "index": 1,
            "path_status": {
                "status": ["best", "primary"],
                "status_code": 10,
                "reason": "not_preferred_local_pref",
                "reason_code": 3,
            },
            "hex": "0000000a0003",
        },
    ]
    first, *rest = out["update"]["announced"]
    assert first["path_status"]["status"] == ["best", "primary"]
    assert all(r["path_status"] is None for r in rest)


# -- v4 ------------------------------------------------------------------------------


def _marking(i: int, count: int) -> tuple[list[bytes], list[int | None]]:
    """Path marking TLVs for message ``i`` with ``count`` NLRIs, and the status
    each NLRI gets: all one status (index 0), per NLRI, a group, or none."""
    kind = i % 4
    if kind == 0:
        return [bmp.path_marking_tlv(BEST, index=0)], [BEST] * count
    if kind == 1:
        statuses = [BEST if j == 0 else NON_SELECTED for j in range(count)]
        tlvs = [bmp.path_marking_tlv(s, 3, index=j + 1) for j, s in enumerate(statuses)]
        return tlvs, list(statuses)
    if kind == 2:
        members = list(range(1, count + 1, 2))  # odd NLRIs: backup via group 1
        statuses: list[int | None] = [
            BACKUP if j + 1 in members else PRIMARY | BEST for j in range(count)
        ]
        return [
            bmp.path_marking_tlv(PRIMARY | BEST, index=0),
            bmp.group_tlv(1, members),
            bmp.path_marking_tlv(BACKUP, index=0x8001),
        ], statuses
    return [], [None] * count


def test_v4_with_peer_up_and_path_marking_equals_v3_twin() -> None:
    ups = updates(3, 48)
    v3 = bmp.build_initiation(sys_name="r1") + peer_up()
    v4 = bmp.as_v4(bmp.build_initiation(sys_name="r1")) + peer_up(version=4)
    expected_status: dict[bytes, int | None] = {}
    for i, (u, prefixes) in enumerate(ups):
        v3 += bmp.build_route_monitoring(u, address=PEER, asn=65001)
        tlvs, statuses = _marking(i, len(prefixes))
        before, after = (tlvs, []) if i % 2 else ([], tlvs)
        v4 += bmp.build_route_monitoring_v4(u, before=before, after=after, address=PEER, asn=65001)
        for p, s in zip(prefixes, statuses, strict=True):
            expected_status[b.prefix_key(p)] = s
    core3, _ = make_core()
    core4, _ = make_core()
    run(core3, v3)
    s4 = run(core4, v4)
    assert rib(core4) == rib(core3)
    assert core4.routers[ROUTER].decode_errors == {}
    assert core4.routers[ROUTER].sys_name == "r1"
    assert core4.routers[ROUTER].peers[(0, bytes(8), PEER)].up
    assert dict(s4.ctx.quirks) == {}
    # Each route's marking in the RIB is the last one sent for it.
    (table,) = core4.routers[ROUTER].peers[(0, bytes(8), PEER)].tables.values()
    got = {
        k: (None if status_of(a) is None else status_of(a).status) for k, a in table.routes.items()
    }  # type: ignore[union-attr]
    want = {k: s for k, s in expected_status.items() if k in table.routes}
    assert got == want
    # bmp_rib_path_status_routes equals the statuses held, per status bit.
    counts: Counter[str] = Counter()
    for s in want.values():
        if s is not None:
            counts.update(PATH_STATUS_NAMES[1 << bit] for bit in range(12) if s & (1 << bit))
    samples = _path_status_samples(core4)
    assert samples == {
        (ROUTER, PEER, "adj_in_pre", "ipv4", "unicast", name): float(n)
        for name, n in counts.items()
    }
    assert set(counts) == {"best", "non_selected", "primary", "backup"}
    # The API shows it too.
    routes = views.routes(core4, limit=1000)["routes"]
    assert {r["prefix"] for r in routes if r["path_status"] is not None} == {
        r["prefix"] for r in routes
    } - {r["prefix"] for r in routes if want[b.prefix_key(r["prefix"])] is None}
    one = next(r for r in routes if r["path_status"] is not None)
    assert set(one["path_status"]) == {"status", "status_code", "reason", "reason_code"}


def _path_status_samples(core: Core) -> dict[tuple[str, ...], float]:
    registry = CollectorRegistry()
    register(core, registry)
    out: dict[tuple[str, ...], float] = {}
    for fam in registry.collect():
        if fam.name == "bmp_rib_path_status_routes":
            for s in fam.samples:
                lab = s.labels
                key = (lab["router"], lab["peer"], lab["view"], lab["afi"], lab["safi"])
                out[(*key, lab["status"])] = s.value
    return out


def test_path_status_counts_follow_withdrawals_and_peer_down() -> None:
    u1 = b.build_update(
        attributes=[b.origin(0), b.as_path([(2, [65001])]), b.next_hop("192.0.2.1")],
        nlri=b.nlri(["10.9.0.0/24", "10.9.1.0/24", "10.9.2.0/24"]),
    )
    # pre-policy: 2 best + 1 backup; post-policy: all invalid
    stream = peer_up(version=4) + bmp.build_route_monitoring_v4(
        u1,
        after=[bmp.path_marking_tlv(BEST, index=0), bmp.path_marking_tlv(BACKUP, index=3)],
        address=PEER,
        asn=65001,
    )
    stream += bmp.build_route_monitoring_v4(
        u1, after=[bmp.path_marking_tlv(INVALID, 1)], address=PEER, asn=65001, flags=0x40
    )
    core, _ = make_core()
    conn = Feeder(core)
    conn.feed(stream)
    pre = (ROUTER, PEER, "adj_in_pre", "ipv4", "unicast")
    post = (ROUTER, PEER, "adj_in_post", "ipv4", "unicast")
    assert _path_status_samples(core) == {
        (*pre, "best"): 2.0,
        (*pre, "backup"): 1.0,
        (*post, "invalid"): 3.0,
    }
    # Withdraw one best route, re-announce one backup unmarked (v3).
    withdraw = b.build_update(withdrawn=b.nlri(["10.9.0.0/24"]))
    plain = b.build_update(
        attributes=[b.origin(0), b.as_path([(2, [65001])]), b.next_hop("192.0.2.1")],
        nlri=b.nlri(["10.9.2.0/24"]),
    )
    conn.feed(
        bmp.build_route_monitoring(withdraw, address=PEER, asn=65001)
        + bmp.build_route_monitoring(plain, address=PEER, asn=65001)
    )
    assert _path_status_samples(core) == {(*pre, "best"): 1.0, (*post, "invalid"): 3.0}
    conn.feed(bmp.build_peer_down(4, address=PEER, asn=65001, version=4))
    assert _path_status_samples(core) == {}


def test_v4_stateless_add_path_without_peer_up_equals_v3_twin() -> None:
    """ "Stateless" v4: no Initiation, no Peer Up, ADD-PATH NLRI and a Stateless
    Parsing TLV; the v3 twin negotiates ADD-PATH in its Peer Up."""
    attrs = [b.origin(0), b.as_path([(2, [65001, 65010])]), b.next_hop("192.0.2.7")]
    v3 = peer_up(add_path=True)
    v4 = b""
    for i in range(30):
        prefixes = [f"172.16.{i}.0/24", f"172.17.{i}.0/24"]
        u = b.build_update(attributes=attrs, nlri=b.nlri(prefixes, path_ids=[1 + i % 3, 7]))
        v3 += bmp.build_route_monitoring(u, address=PEER, asn=65001)
        v4 += bmp.build_route_monitoring_v4(
            u,
            before=[bmp.build_indexed_tlv(1, bytes.fromhex("0001 01 01"))],
            address=PEER,
            asn=65001,
        )
    core3, _ = make_core()
    core4, _ = make_core()
    run(core3, v3)
    s4 = run(core4, v4)
    got = rib(core4)
    assert got == rib(core3)
    (routes,) = got.values()
    assert len(routes) == 60
    assert all(isinstance(k, tuple) for k in routes)  # (path ID, prefix)
    # Counted per message from a peer never seen up (as in v3).
    assert core4.routers[ROUTER].quirks["route_monitoring_without_peer_up"] == 30
    assert s4.ctx.quirks["unknown_tlv"] == 0


def test_v4_vpnv4_without_initiation_or_peer_up_equals_v3_twin() -> None:
    rd = b.rd_type0(65000, 100)
    v3 = v4 = b""
    for i in range(25):
        blob = b.vpn_nlri([(rd, f"10.{i}.{j}.0/24", [16000 + i]) for j in range(1 + i % 3)])
        u = b.build_update(
            attributes=[
                b.origin(0),
                b.as_path([(2, [65001])]),
                b.extended_communities([b.route_target(65000, 100)]),
                b.mp_reach(1, 128, ["192.0.2.1"], blob),
            ]
        )
        fields = {"address": PEER, "asn": 65001, "peer_type": 1, "distinguisher": rd}
        v3 += bmp.build_route_monitoring(u, **fields)
        v4 += bmp.build_route_monitoring_v4(
            u, after=[bmp.path_marking_tlv(BEST, index=0)], **fields
        )
    core3, _ = make_core()
    core4, _ = make_core()
    run(core3, v3)
    run(core4, v4)
    got = rib(core4)
    assert got == rib(core3)
    (((peer, view, afi, safi), routes),) = got.items()
    assert (view, afi, safi) == ("adj_in_pre", 1, 128)
    assert peer == f"{PEER}%65000:100"
    assert len(routes) == sum(1 + i % 3 for i in range(25)) == 49
    samples = _path_status_samples(core4)
    assert samples == {(ROUTER, peer, "adj_in_pre", "ipv4", "vpn", "best"): 49.0}


# -- Peer Up / Peer Down TLVs (RFC 9069) and versions --------------------------------


def test_loc_rib_table_name_is_a_peer_info_label() -> None:
    up = bmp.build_peer_up(
        peer_type=3,
        address="0.0.0.0",
        asn=65000,
        information=[(3, "vrf-red")],
    )
    core, _ = make_core()
    run(core, up + bmp.build_peer_up(address=PEER, asn=65001))
    registry = CollectorRegistry()
    register(core, registry)
    info = {
        s.labels["peer_type"]: s.labels["table"]
        for fam in registry.collect()
        if fam.name == "bmp_peer_info"
        for s in fam.samples
    }
    assert info == {"loc_rib": "vrf-red", "global": ""}
    peers = views.peers(core)["peers"]
    assert sorted((p["peer_type"], p["table"]) for p in peers) == [
        ("global", None),
        ("loc_rib", "vrf-red"),
    ]


def test_peer_down_reason_6_and_v4_tlvs() -> None:
    session = BmpSession()
    events = session.feed(
        bmp.build_peer_down(6, tlvs=[(3, "vrf-red")], peer_type=3, address="0.0.0.0")
        + bmp.build_peer_down(
            1,
            notification=bmp.build_notification(6, 2),
            tlvs=[(0, "admin shutdown"), (0x8001, b"\x00\x00\x07\xdb\x01")],
            version=4,
            address=PEER,
        )
    )
    msgs = [e.message for e in events if isinstance(e, Decoded)]
    assert len(msgs) == 2
    down6, down1 = msgs
    assert down6.reason_name == "local_system_closed"  # type: ignore[union-attr]
    assert [(t.name, t.value) for t in down6.tlvs] == [("vrf_table_name", b"vrf-red")]  # type: ignore[union-attr]
    assert down1.notification.code == 6  # type: ignore[union-attr]
    assert [(t.type, t.pen, t.value) for t in down1.tlvs] == [  # type: ignore[union-attr]
        (0, None, b"admin shutdown"),
        (1, 2011, b"\x01"),
    ]
    assert dict(session.ctx.quirks) == {"unknown_tlv": 1}


def test_unknown_version_costs_only_its_session() -> None:
    core, _ = make_core()
    good = peer_up(version=4) + bmp.build_route_monitoring_v4(
        updates(5, 1)[0][0], address=PEER, asn=65001
    )
    bad_rs = core.open_session("192.0.2.201", 1)
    with pytest.raises(ParseError) as info:
        BmpSession().feed(b"\x05" + bmp.build_initiation()[1:])
    bad_rs.framing_error(info.value)
    assert info.value.message == "unsupported BMP version 5, expected 3 or 4"
    assert info.value.action is Action.DROP_SESSION
    run(core, good)
    assert core.routers["192.0.2.201"].decode_errors == {"unsupported": 1}
    assert sum(len(t) for t in rib(core).values()) == len(updates(5, 1)[0][1])
