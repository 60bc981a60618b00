"""bmp_rib_community_routes: routes per community of interest, kept per interned
attribute set; the parser of community text; the config keys of the new checks."""

from __future__ import annotations

import pytest
from core_events import path_attributes
from health_support import POST, ROUTER, Lab, hdr, peer_down, peer_up, rm
from hypothesis import given
from hypothesis import strategies as st

from agent.config import ConfigError, load
from agent.health import Health
from agent.health.community import CommunityMatcher, parse_community
from agent.health.rib_communities import CommunityCounter, community_state
from agent.health.selectors import normalise_selector
from parsers.bgp.attributes import PathAttributes

A = hdr("10.0.1.2", 65001)
A_POST = hdr("10.0.1.2", 65001, POST)
RT = bytes.fromhex("0002fdfe00000007")  # rt:65022:7 (two-octet AS specific)
LISTED = ("64510:100", "64510:200", "64510:1:2", "rt:65022:7")


def pa(comms: tuple[int, ...] = (), large: tuple[tuple[int, int, int], ...] = (), ext: tuple[bytes, ...] = (), med: int = 0) -> PathAttributes:  # fmt: skip
    return path_attributes(
        med=med, communities=comms, large_communities=large, extended_communities=ext
    )


LOCAL = (64510 << 16) | 100
GLOBAL = (64510 << 16) | 200


def counting(communities: tuple[str, ...] = LISTED) -> tuple[Lab, CommunityCounter]:
    lab = Lab()
    counter = CommunityCounter(communities)
    lab.core.observers.append(counter)
    return lab, counter


def test_parse_community_forms() -> None:
    forms = (
        " 64510:100",
        "64510:1:2",
        "RT:65022:7",
        "no-export",
        "0002fdfe00000007",
        "soo:10.0.0.1:5",
    )
    assert [parse_community(t).text for t in forms] == [
        "64510:100", "64510:1:2", "rt:65022:7", "no-export", "rt:65022:7", "soo:10.0.0.1:5",
    ]  # fmt: skip
    assert parse_community("no-export").value == 0xFFFFFF01
    for bad, why in (
        ("65536:1", "AS 65536 is above 65535"),
        ("64510:x", "value 'x' is not a number"),
        ("rt:300.1.1.1:5", "'300.1.1.1' is not an IPv4 address"),
        ("rt:4200000000:70000", "value 70000 is above 65535"),
        ("1:2:3:4", "is not a community"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_community(bad)
    m = CommunityMatcher(("64510:100", "64510:1:2", "rt:65022:7", "64510:100"))
    assert m.texts == ("64510:100", "64510:1:2", "rt:65022:7")
    assert m.match(pa((GLOBAL, LOCAL), ((64510, 1, 2),), (RT,))) == m.texts
    # rt:65022:7 written as a four-octet-AS extended community is the same text
    four = bytes.fromhex("02020000fdfe0007")
    assert m.match(pa(ext=(four,))) == ("rt:65022:7",)
    assert m.match(pa((GLOBAL,))) == ()


def test_counts_through_pre_post_withdraw_replace_and_peer_down() -> None:
    lab, counter = counting()
    lab.feed(peer_up(A))
    lab.feed(rm(A, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"], a=pa((LOCAL,))))
    lab.feed(rm(A, ["10.0.3.0/24"], a=pa((LOCAL, GLOBAL), ((64510, 1, 2),))))
    lab.feed(rm(A, ["10.0.4.0/24"], a=pa(ext=(RT,))), rm(A, ["2001:db8::/48"], a=pa(ext=(RT,))))
    lab.feed(rm(A, ["10.0.5.0/24"], a=pa()))  # no listed community
    # post-policy: the import policy kept two, and rewrote one's communities
    lab.feed(rm(A_POST, ["10.0.0.0/24", "10.0.1.0/24"], a=pa((GLOBAL,))))
    assert counter.counts(lab.core) == {
        (ROUTER, "10.0.1.2", "adj_in_pre"): {"64510:100": 4, "64510:200": 1, "64510:1:2": 1, "rt:65022:7": 2},
        (ROUTER, "10.0.1.2", "adj_in_post"): {"64510:100": 0, "64510:200": 2, "64510:1:2": 0, "rt:65022:7": 0},
    }  # fmt: skip
    pre4 = lab.core.routers[ROUTER].peers[A.key].tables[("adj_in_pre", 1, 1)]
    st4 = community_state(pre4)
    assert st4 is not None
    # one entry per interned attribute set with a listed community, not per route
    assert sorted(n[0] for _, n, _ in st4.by_attrs.values()) == [1, 1, 3]
    # a route re-announced with other attributes moves; a withdrawal removes
    lab.feed(rm(A, ["10.0.0.0/24"], a=pa((GLOBAL,))))
    lab.feed(rm(A, withdraw=["10.0.1.0/24", "10.0.3.0/24", "10.0.9.0/24"]))
    lab.feed(rm(A, ["10.0.2.0/24"], a=pa((LOCAL,))))  # the same attributes again: no change
    assert counter.counts(lab.core)[(ROUTER, "10.0.1.2", "adj_in_pre")] == {
        "64510:100": 1, "64510:200": 1, "64510:1:2": 0, "rt:65022:7": 2,
    }  # fmt: skip
    text = counter.text(lab.core)
    assert (
        'bmp_rib_community_routes{community="64510:100",peer="10.0.1.2",router="10.0.9.1",'
        'view="adj_in_pre"} 1.0'
    ) in text.splitlines()
    assert len([ln for ln in text.splitlines() if not ln.startswith("#")]) == 8
    lab.feed(peer_down(A))
    assert all(set(v.values()) == {0} for v in counter.counts(lab.core).values())
    assert all(
        community_state(t) is None for t in lab.core.routers[ROUTER].peers[A.key].tables.values()
    )


def test_add_path_routes_count_per_path() -> None:
    lab, counter = counting(("64510:100",))
    lab.feed(peer_up(A), rm(A, ["10.0.0.0/24", "10.0.0.0/24"], a=pa((LOCAL,)), ids=[1, 2]))
    lab.feed(rm(A, ["10.0.0.0/24"], a=pa(), ids=[2]))
    assert counter.counts(lab.core)[(ROUTER, "10.0.1.2", "adj_in_pre")] == {"64510:100": 1}


events = st.lists(
    st.tuples(
        st.sampled_from(["announce", "withdraw", "down"]),
        st.lists(st.integers(0, 7), min_size=1, max_size=4),
        st.integers(0, 3),
        st.booleans(),
    ),
    max_size=30,
)
ATTRS = [pa((LOCAL,)), pa((GLOBAL, LOCAL)), pa(), pa(large=((64510, 1, 2),))]


@given(events)
def test_incremental_counts_equal_a_recount(evs: list[tuple[str, list[int], int, bool]]) -> None:
    lab, counter = counting()
    lab.feed(peer_up(A))
    for kind, ids, a, post in evs:
        h = A_POST if post else A
        prefixes = [f"10.0.{i}.0/24" for i in ids]
        if kind == "announce":
            lab.feed(rm(h, prefixes, a=ATTRS[a]))
        elif kind == "withdraw":
            lab.feed(rm(h, withdraw=prefixes))
        else:
            lab.feed(peer_down(A), peer_up(A))
    want: dict[tuple[str, str, str], dict[str, int]] = {}
    for peer in lab.core.routers[ROUTER].peers.values():
        for (view, _, _), t in peer.tables.items():
            c = want.setdefault((ROUTER, peer.label, view), dict.fromkeys(counter.texts, 0))
            for attrs in t.routes.values():
                for m in counter.matcher.match(attrs):
                    c[m] += 1
    assert counter.counts(lab.core) == want
    late = CommunityCounter(LISTED)
    late.rebuild(lab.core)
    assert late.counts(lab.core) == want


def test_component_counts_on_reload() -> None:
    from agent.config import Config, HealthConfig, RibConfig

    lab = Lab(attach=False).feed(peer_up(A), rm(A, ["10.0.0.0/24"], a=pa((LOCAL,))))
    health = Health(lab.core, HealthConfig())
    assert health.community_text() == ""
    health.reload(Config(rib=RibConfig(count_communities=("64510:100",))))
    assert health.community_text().splitlines()[2:] == [
        'bmp_rib_community_routes{community="64510:100",peer="10.0.1.2",router="10.0.9.1",view="adj_in_pre"} 1.0'
    ]
    lab.feed(rm(A, ["10.0.1.0/24"], a=pa((LOCAL,))))
    assert health.community_text().splitlines()[-1].endswith(" 2.0")
    health.reload(Config(rib=RibConfig()))
    assert health.community_text() == ""
    assert health.communities not in lab.core.observers


# ----------------------------------------------------------------------------- config


def test_config_keys(tmp_path: object) -> None:
    cfg = load(
        environ={
            "BMP_AGENT_HEALTH_METALLB_PEERS": "10.0.2.0/24,as64700,id:172.16.0.0/12,sysname:frr-k8s-*",
            "BMP_AGENT_HEALTH_POD_CIDRS": "10.244.0.0/16",
            "BMP_AGENT_HEALTH_DCI_MAX_LENGTH": "ipv4/22",
            "BMP_AGENT_HEALTH_LOCAL_ONLY_COMMUNITIES": "64510:100, 64510:1:100",
            "BMP_AGENT_RIB_COUNT_COMMUNITIES": "64510:100,RT:64510:7,no-export",
        }
    )
    h = cfg.health
    assert h.metallb_peers == ("10.0.2.0/24", "AS64700", "id:172.16.0.0/12", "sysname:frr-k8s-*")
    assert (h.dci_max_len(1), h.dci_max_len(2)) == (22, 48)
    assert h.local_only_communities == ("64510:100", "64510:1:100")
    assert cfg.rib.count_communities == ("64510:100", "rt:64510:7", "no-export")
    assert load(environ={}).health.dci_max_routes == 1000
    assert normalise_selector("fd00::1") == "fd00::1/128"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BMP_AGENT_RIB_COUNT_COMMUNITIES": "64510:100,65536:1"},
         "rib.count_communities[1]: '65536:1': AS 65536 is above 65535"),
        ({"BMP_AGENT_RIB_COUNT_COMMUNITIES": ",".join(f"1:{i}" for i in range(65))},
         "rib.count_communities: 65 communities, at most 64"),
        ({"BMP_AGENT_HEALTH_DCI_PEERS": "10.0.3.1/16"},
         "health.dci_peers[0]: '10.0.3.1/16': peer address '10.0.3.1/16' is not a CIDR"),
        ({"BMP_AGENT_HEALTH_METALLB_PEERS": "id:nope"},
         "health.metallb_peers[0]: 'id:nope': BGP identifier 'nope' is not a CIDR"),
        ({"BMP_AGENT_HEALTH_DCI_MAX_LENGTH": "ipv4:33"},
         "health.dci_max_length[0]: 'ipv4:33' is not ipv4:0-32 or ipv6:0-128"),
        ({"BMP_AGENT_HEALTH_LB_POOLS": "192.0.2.1/24"}, "health.lb_pools[0]"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ=env)
    assert message in str(info.value)
    assert "environment variable" in str(info.value)
