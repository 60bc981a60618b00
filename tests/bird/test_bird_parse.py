"""Parsers of BIRD 1.6.8 / 2.0.12 output on replies recorded from the real daemons."""

from __future__ import annotations

import pytest
from fake_bird import recorded

from agent.sources.bird.attrs import AttrCache, as_path, build_attributes, prefix_key
from agent.sources.bird.parse import (
    ProtocolParser,
    Route,
    RouteParser,
    parse_count,
    parse_status,
    split_protocol_row,
)
from agent.sources.bird.protocol import (
    BirdProtocolError,
    CommandRejected,
    Line,
    LineReader,
    check_command,
    parse_greeting,
)
from parsers.bgp.attributes import AsPathSegment


def lines(data: bytes, chunk: int = 7) -> list[Line]:
    r = LineReader()
    out: list[Line] = []
    for i in range(0, len(data), chunk):
        out += r.feed(data[i : i + chunk])
    assert r.done and r.pending == 0
    return out


def routes(data: bytes) -> list[Route]:
    rp = RouteParser()
    out = [r for line in lines(data, 4096) if (r := rp.feed(line)) is not None]
    last = rp.close()
    if last is not None:
        out.append(last)
    return out


# -- protocol -------------------------------------------------------------------


def test_line_reader_codes_and_continuations() -> None:
    got = lines(b"1002-a  BGP\n b  BGP\n1006-  x: 1\n   y: 2\n0000 \n", chunk=3)
    assert [(x.code, x.text, x.last) for x in got] == [
        (1002, "a  BGP", False),
        (1002, "b  BGP", False),
        (1006, "  x: 1", False),
        (1006, "  y: 2", False),
        (0, "", True),
    ]


def test_line_reader_rejects_garbage_and_trailing_data() -> None:
    with pytest.raises(BirdProtocolError):
        LineReader().feed(b"hello\n")
    r = LineReader()
    r.feed(b"0000 \n")
    with pytest.raises(BirdProtocolError):
        r.feed(b"1002-x\n")


def test_error_line() -> None:
    (line,) = LineReader().feed(b"8001 Protocol is down\n")
    assert line.error and line.last and line.code == 8001


def test_greeting() -> None:
    assert parse_greeting(LineReader().feed(b"0001 BIRD 1.6.8 ready.\n")[0]) == "1.6.8"
    assert parse_greeting(LineReader().feed(b"0001 BIRD 2.0.12 ready.\n")[0]) == "2.0.12"
    with pytest.raises(BirdProtocolError):
        parse_greeting(LineReader().feed(b"0000 \n")[0])


@pytest.mark.parametrize(
    "cmd",
    [
        "show status",
        "show protocols all",
        "show route all",
        "show route count",
        "show route protocol calico_node_1 all",
        "show route import table A2.ipv4 all",
    ],
)
def test_allow_list_admits_read_only(cmd: str) -> None:
    assert check_command(cmd) == cmd


@pytest.mark.parametrize(
    "cmd",
    [
        "restart A",
        "disable A",
        "enable A",
        "reload A",
        "configure",
        "configure soft",
        "down",
        "eval 1",
        "debug all all",
        "show route all\nrestart A",
        "show route protocol A all; down",
        "show route protocol A export all",
        "dump routes",
    ],
)
def test_allow_list_rejects_everything_else(cmd: str) -> None:
    with pytest.raises(CommandRejected):
        check_command(cmd)


# -- show protocols --------------------------------------------------------------


def test_protocol_row_since_formats() -> None:
    assert split_protocol_row("A  BGP  master  up  2026-11-26 07:37:13  Established") == (
        "A", "BGP", "master", "up", "2026-11-26 07:37:13", "Established",
    )  # fmt: skip
    assert split_protocol_row("A  BGP  master  up  07:37:13  Established") == (
        "A", "BGP", "master", "up", "07:37:13", "Established",
    )  # fmt: skip
    assert split_protocol_row("k1 Kernel master up 2025-01-02") == (
        "k1", "Kernel", "master", "up", "2025-01-02", "",
    )  # fmt: skip
    assert split_protocol_row("Z BGP --- start 2026-11-26 07:37:31.123 Active Socket: x")[4:] == (
        "2026-11-26 07:37:31.123",
        "Active Socket: x",
    )


@pytest.mark.parametrize(
    ("version", "suffix", "expected"),
    [
        ("1.6", "", {"A": ("10.0.1.2", 65001, True), "A2": ("10.0.1.3", 65003, True),
                     "Z": ("10.0.1.9", 65009, False)}),
        ("1.6", "6", {"B": ("fd00:1::2", 65002, True)}),
        ("2.0", "", {"A": ("10.0.1.2", 65001, True), "A2": ("10.0.1.3", 65003, True),
                     "Z": ("10.0.1.9", 65009, False), "B": ("fd00:1::2", 65002, True)}),
    ],
)  # fmt: skip
def test_show_protocols_all(
    version: str, suffix: str, expected: dict[str, tuple[str, int, bool]]
) -> None:
    pp = ProtocolParser()
    for line in lines(recorded(version, suffix)["show protocols all"]):
        pp.feed(line)
    protos = pp.result()
    bgp = {p.name: p for p in protos if p.is_bgp}
    assert {n: (p.neighbor_address, p.neighbor_as, p.established) for n, p in bgp.items()} == (
        expected
    )
    n_other = {"1.6": 3 if suffix == "" else 2, "2.0": 4}[version]
    assert len(protos) - len(bgp) == n_other
    if "A2" in bgp:
        a2 = bgp["A2"]
        assert a2.neighbor_id == "10.0.1.3"
        assert a2.source_address == "10.0.1.1"
        assert a2.local_as == (65000 if version == "2.0" else None)
        (ch,) = a2.channels
        assert (ch.imported, ch.preferred) == (2, 2)
        # 1.6 keeps the filtered route (import keep filtered); 2.0 has an import table
        assert ch.filtered == (1 if version == "1.6" else 0)
        assert ch.channel == ("ipv4" if version == "2.0" else "")
        assert bgp["Z"].state == "start" and bgp["Z"].info in ("Connect", "Active")


def test_show_protocols_short_form() -> None:
    pp = ProtocolParser()
    for line in lines(recorded("2.0")["show protocols"]):
        pp.feed(line)
    protos = pp.result()
    assert [p.name for p in protos] == ["device1", "k4", "k6", "st4", "A", "A2", "Z", "B"]
    assert [p.since for p in protos if p.name == "A"] == ["2026-11-26 07:37:32"]
    assert all(p.neighbor_address is None for p in protos)


# -- show route -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "suffix", "per_proto", "primary"),
    [
        ("1.6", "", {"A": 4, "A2": 2, "st4": 1}, 6),
        ("1.6", "6", {"B": 3}, 3),
        ("2.0", "", {"A": 4, "A2": 2, "st4": 1, "B": 3}, 9),
    ],
)
def test_show_route_all(version: str, suffix: str, per_proto: dict[str, int], primary: int) -> None:
    got = routes(recorded(version, suffix)["show route all"])
    counts: dict[str, int] = {}
    for r in got:
        counts[r.proto] = counts.get(r.proto, 0) + 1
    assert counts == per_proto
    assert sum(r.primary for r in got) == primary
    # the same prefix from A (not primary: longer AS path) and A2 (primary)
    if suffix == "":
        dup = sorted((r.proto, r.primary) for r in got if r.net == "10.20.0.0/24")
        assert dup == [("A", False), ("A2", True)]
        a = next(r for r in got if r.proto == "A" and r.net == "10.10.2.0/25")
        assert a.via == "10.0.1.2"
        assert dict(a.attrs) == {
            "BGP.origin": "IGP",
            "BGP.as_path": "65001 64512 64513",
            "BGP.next_hop": "10.0.1.2",
            "BGP.med": "10",
            "BGP.local_pref": "100",
            "BGP.community": "(65001,100) (65001,200)",
            "BGP.large_community": "(65001, 1, 2)",
        }
        st = next(r for r in got if r.proto == "st4")
        assert (st.net, st.via, st.attrs, st.primary) == ("198.51.100.0/24", None, (), True)
    if version == "2.0":
        assert {r.table for r in got} == {"master4", "master6"}


def test_route_count_matches_the_stream() -> None:
    """``show route count`` of each recording equals the routes the parser found."""
    for version, suffix in (("1.6", ""), ("1.6", "6"), ("2.0", "")):
        rec = recorded(version, suffix)
        count = parse_count(lines(rec["show route count"]))
        assert count.routes == len(routes(rec["show route all"]))
        primary = parse_count(lines(rec["show route primary count"]))
        assert primary.routes == sum(r.primary for r in routes(rec["show route all"]))


def test_route_counts_syntax() -> None:
    c16 = parse_count(lines(recorded("1.6")["show route count"]))
    assert (c16.routes, c16.total, c16.networks, c16.tables) == (7, 7, 6, ())
    c20 = parse_count(lines(recorded("2.0")["show route count"]))
    assert (c20.routes, c20.total, c20.networks) == (10, 10, 9)
    assert c20.tables == (("master4", 7, 7, 6), ("master6", 3, 3, 3))
    a16 = parse_count(lines(recorded("1.6")["show route protocol A count"]))
    assert (a16.routes, a16.total) == (4, 7)
    a20 = parse_count(lines(recorded("2.0")["show route protocol A count"]))
    assert (a20.routes, a20.total, a20.tables) == (4, 7, (("master4", 4, 7, 6),))


def test_import_table_and_filtered() -> None:
    pre = routes(recorded("2.0")["show route import table A2.ipv4 all"])
    assert sorted(r.net for r in pre) == ["10.20.0.0/24", "10.30.0.0/24", "203.0.113.0/25"]
    assert {r.table for r in pre} == {"import"}
    filtered = routes(recorded("1.6")["show route filtered protocol A2 all"])
    assert [r.net for r in filtered] == ["203.0.113.0/25"]
    assert routes(recorded("2.0")["show route filtered protocol A2 all"]) == []


def test_status() -> None:
    s16 = parse_status(lines(recorded("1.6")["show status"]))
    assert s16["version"] == "1.6.8" and s16["router_id"] == "10.0.1.1"
    assert s16["last_reboot"] == "2026-11-26 07:37:12"
    s20 = parse_status(lines(recorded("2.0")["show status"]))
    assert s20["version"] == "2.0.12" and s20["hostname"] == "vm"


# -- attributes -------------------------------------------------------------------


def test_prefix_key() -> None:
    assert prefix_key("10.10.2.0/25") == (1, bytes([25, 10, 10, 2, 0]))
    assert prefix_key("0.0.0.0/0") == (1, b"\x00")
    assert prefix_key("2001:db8:12::/64") == (2, bytes([64, 0x20, 1, 0x0D, 0xB8, 0, 0x12, 0, 0]))
    assert prefix_key("10.0.0.0/33") is None
    assert prefix_key("rd 1:1 10.0.0.0/8") is None
    assert prefix_key("10.0.0.0") is None


def test_as_path_segments() -> None:
    assert as_path("65001 64512") == (AsPathSegment(2, (65001, 64512)),)
    assert as_path("65001 {64512 64513} 7") == (
        AsPathSegment(2, (65001,)),
        AsPathSegment(1, (64512, 64513)),
        AsPathSegment(2, (7,)),
    )
    assert as_path("(65100 65101) 65001") == (
        AsPathSegment(3, (65100, 65101)),
        AsPathSegment(2, (65001,)),
    )
    assert as_path("") == ()


def test_build_attributes_from_recorded_routes() -> None:
    got = routes(recorded("2.0")["show route all"])
    a = next(r for r in got if r.proto == "A" and r.net == "10.10.0.0/24")
    attrs = build_attributes(1, a.via, a.attrs)
    assert attrs.origin == 0
    assert attrs.as_path == (AsPathSegment(2, (65001, 64512, 64513)),)
    assert attrs.next_hop == "10.0.1.2" and attrs.mp_next_hop == ()
    assert (attrs.med, attrs.local_pref) == (10, 100)
    assert attrs.communities == ((65001 << 16) | 100, (65001 << 16) | 200)
    assert attrs.large_communities == ((65001, 1, 2),)
    b = next(r for r in got if r.proto == "B")
    battrs = build_attributes(2, b.via, b.attrs)
    assert battrs.next_hop is None and battrs.mp_next_hop == ("fd00:1::2",)
    assert battrs.med == 5
    st = next(r for r in got if r.proto == "st4")
    assert build_attributes(1, st.via, st.attrs).next_hop is None


def test_build_attributes_other_fields() -> None:
    attrs = build_attributes(
        1,
        None,
        (
            ("BGP.origin", "Incomplete"),
            ("BGP.ext_community", "(rt, 65000, 100) (ro, 10.0.0.1, 7) (generic, 0x1, 0x2)"),
            ("BGP.originator_id", "10.9.9.9"),
            ("BGP.cluster_list", "10.0.0.1 10.0.0.2"),
            ("BGP.atomic_aggr", ""),
            ("BGP.aggregator", "10.0.0.5 AS65010"),
            ("ospf_metric1", "20"),
        ),
    )
    assert attrs.origin == 2
    assert attrs.extended_communities == (
        bytes([0, 2, 0xFD, 0xE8, 0, 0, 0, 100]),
        bytes([1, 3, 10, 0, 0, 1, 0, 7]),
    )
    assert attrs.originator_id == "10.9.9.9"
    assert attrs.cluster_list == ("10.0.0.1", "10.0.0.2")
    assert attrs.atomic_aggregate is True
    assert attrs.aggregator is not None and attrs.aggregator.asn == 65010


def test_attr_cache_shares_values() -> None:
    cache = AttrCache(limit=2)
    x = cache.get(1, "10.0.0.1", (("BGP.med", "1"),))
    assert cache.get(1, "10.0.0.1", (("BGP.med", "1"),)) is x
    cache.get(1, "10.0.0.2", ())
    cache.get(1, "10.0.0.3", ())  # over the limit: cleared, still correct
    assert cache.get(1, "10.0.0.1", (("BGP.med", "1"),)) == x


@pytest.mark.parametrize(
    ("old", "new", "moved"),
    [
        ("2026-11-26 07:37:12", "2026-11-26 07:37:12", False),
        ("2026-11-26 07:37:12", "2026-11-26 07:37:13", False),  # BIRD's print jitter
        ("2026-11-26 07:37:12", "2026-11-26 07:37:15", True),
        ("2026-11-26 07:37:31.712", "2026-11-26 07:37:32.100", False),
        ("2026-11-26 23:59:59", "2026-11-27 00:00:05", True),
        ("07:37:12", "07:37:13", False),
        ("07:37:12", "07:40:00", True),
        ("23:59:59", "00:00:00", False),  # across midnight, 1 s
        ("07:37:12", "2026-11-26", False),  # 1.6 default format: ageing past 20 h
        ("2026-11-26", "09:00:01", True),  # old session, reset: a time again
        ("2026-11-25", "2026-11-26", True),
    ],
)
def test_since_moved(old: str, new: str, moved: bool) -> None:
    from agent.sources.bird.parse import since_moved

    assert since_moved(old, new) is moved
