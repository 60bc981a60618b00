"""The lean rtnetlink reader against a real kernel, in a private namespace.

Dumps (IPv4, IPv6, link-local gateway with its interface, RTA_MULTIPATH,
nexthop objects and groups, protocol and table filters, two metrics for one
prefix), notifications (add, replace, delete, nexthop object change),
ENOBUFS on a small receive buffer, and a dump by an unprivileged user.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fibns import REPO, FibNs, call_in_ns

from agent.fib import netlink
from agent.fib.netlink import KernelState, prefix_key

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

WATCH = frozenset({186, 12, 11})


def v4(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, text)


def v6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def key(prefix: str) -> bytes:
    addr, _, length = prefix.partition("/")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return prefix_key(int(length), socket.inet_pton(fam, addr))


def dump(f: FibNs, tables: frozenset[int] | None = frozenset({254})) -> KernelState:
    return call_in_ns(f.ns.name, lambda: netlink.dump(WATCH, tables))


def hops(state: KernelState, afi: int, prefix: str, table: int = 254) -> tuple[object, ...]:
    return state.resolve(state.routes[(afi, table)][key(prefix)])


def test_dump_decodes_every_kind_of_route(fns: FibNs) -> None:
    ifx = fns.ifindex()
    fns.batch(
        [
            "route add 192.0.2.0/24 via 10.9.0.2 proto bgp metric 20",
            "route add 0.0.0.0/0 via 10.9.0.3 proto bird",
            "route add 2001:db8::/48 via fd09::2 proto bgp metric 20",
            "route add 2001:db8:1::/48 via fe80::1 dev veth0 proto zebra",
            "route add 203.0.113.0/24 proto bgp nexthop via 10.9.0.2 nexthop via 10.9.0.4",
            "nexthop add id 10 via 10.9.0.3 dev veth0",
            "nexthop add id 11 via 10.9.0.5 dev veth0",
            "nexthop add id 12 group 10/11",
            "route add 198.51.100.0/24 nhid 10 proto bgp",
            "route add 198.51.100.128/25 nhid 12 proto bgp",
            # not watched: other protocol, other table
            "route add 192.0.2.128/25 via 10.9.0.2 proto static",
            "route add 192.0.2.0/24 via 10.9.0.2 proto bgp table 100",
            # two metrics for one prefix
            "route add 10.50.0.0/16 via 10.9.0.2 proto bgp metric 20",
            "route add 10.50.0.0/16 via 10.9.0.3 proto bgp metric 30",
        ]
    )
    st = dump(fns)
    assert sorted(st.routes) == [(1, 254), (2, 254)]
    assert len(st.routes[(1, 254)]) == 6
    assert len(st.routes[(2, 254)]) == 2
    assert len(st.shadow) == 1
    assert st.route_count() == 9
    assert hops(st, 1, "192.0.2.0/24") == ((v4("10.9.0.2"), ifx),)
    assert st.routes[(1, 254)][key("192.0.2.0/24")][:2] == (186, 20)
    assert hops(st, 1, "0.0.0.0/0") == ((v4("10.9.0.3"), ifx),)
    assert st.routes[(1, 254)][key("0.0.0.0/0")][0] == 12
    assert hops(st, 2, "2001:db8::/48") == ((v6("fd09::2"), ifx),)
    assert hops(st, 2, "2001:db8:1::/48") == ((v6("fe80::1"), ifx),)
    assert hops(st, 1, "203.0.113.0/24") == ((v4("10.9.0.2"), ifx), (v4("10.9.0.4"), ifx))
    assert st.routes[(1, 254)][key("198.51.100.0/24")][3] == 10
    assert hops(st, 1, "198.51.100.0/24") == ((v4("10.9.0.3"), ifx),)
    assert hops(st, 1, "198.51.100.128/25") == ((v4("10.9.0.3"), ifx), (v4("10.9.0.5"), ifx))
    assert st.routes[(1, 254)][key("10.50.0.0/16")][1] == 20
    assert st.counts() == {(1, 254, 186): 6, (1, 254, 12): 1, (2, 254, 186): 1, (2, 254, 11): 1}
    # every table: table 100 too
    everything = dump(fns, None)
    assert len(everything.routes[(1, 100)]) == 1
    # entries are interned: the same protocol/metric/next hop is one object
    st2 = dump(fns)
    a = st2.routes[(1, 254)][key("192.0.2.0/24")]
    fns.ip("route", "add", "192.0.2.64/26", "via", "10.9.0.2", "proto", "bgp", "metric", "20")
    st3 = dump(fns)
    t = st3.routes[(1, 254)]
    assert t[key("192.0.2.0/24")] is t[key("192.0.2.64/26")]
    assert a == t[key("192.0.2.64/26")]


def test_shadow_route_takes_over_on_delete(fns: FibNs) -> None:
    fns.batch(
        [
            "route add 10.50.0.0/16 via 10.9.0.2 proto bgp metric 20",
            "route add 10.50.0.0/16 via 10.9.0.3 proto bgp metric 30",
        ]
    )
    st = dump(fns)
    sock = call_in_ns(fns.ns.name, lambda: netlink.subscribe(1 << 20))
    try:
        fns.ip("route", "del", "10.50.0.0/16", "metric", "20")
        got = call_in_ns(fns.ns.name, lambda: _wait_events(sock, st, 1))
        assert got == 1
        e = st.routes[(1, 254)][key("10.50.0.0/16")]
        assert e[1] == 30
        assert st.resolve(e)[0][0] == v4("10.9.0.3")
        assert st.shadow == {}
    finally:
        sock.close()


def _wait_events(sock: socket.socket, st: KernelState, n: int, timeout: float = 5.0) -> int:
    import select

    before = st.events
    while st.events - before < n:
        r, _, _ = select.select([sock], [], [], timeout)
        if not r:
            break
        netlink.read_events(sock, st)
    return st.events - before


def test_notifications_add_replace_delete_and_nexthop_objects(fns: FibNs) -> None:
    ifx = fns.ifindex()
    st = dump(fns)
    assert st.route_count() == 0
    sock = call_in_ns(fns.ns.name, lambda: netlink.subscribe(1 << 20))
    try:
        fns.batch(
            [
                "route add 192.0.2.0/24 via 10.9.0.2 proto bgp",
                "route add 2001:db8::/48 via fd09::2 proto bgp",
                "route add 192.0.2.128/25 via 10.9.0.2 proto static",
                "route replace 192.0.2.0/24 via 10.9.0.3 proto bgp",
                "nexthop add id 20 via 10.9.0.4 dev veth0",
                "route add 198.51.100.0/24 nhid 20 proto bgp",
                "route del 2001:db8::/48",
            ]
        )
        # 5 watched route events: add, add, replace, add (nhid), del
        assert call_in_ns(fns.ns.name, lambda: _wait_events(sock, st, 5)) == 5
        assert st.route_count() == 2
        assert (2, 254) not in st.routes or not st.routes[(2, 254)]
        assert hops(st, 1, "192.0.2.0/24") == ((v4("10.9.0.3"), ifx),)
        assert hops(st, 1, "198.51.100.0/24") == ((v4("10.9.0.4"), ifx),)
        # the nexthop object changes under the route
        fns.ip("nexthop", "replace", "id", "20", "via", "10.9.0.5", "dev", "veth0")
        call_in_ns(fns.ns.name, lambda: _wait_events(sock, st, 1, timeout=1.0))
        assert st.nh_objects[20] == (((v4("10.9.0.5"), ifx),), ())
        assert hops(st, 1, "198.51.100.0/24") == ((v4("10.9.0.5"), ifx),)
        # and the state equals a fresh dump
        fresh = dump(fns)
        assert {
            k: {p: fresh.resolve(e) for p, e in t.items()} for k, t in fresh.routes.items() if t
        } == {k: {p: st.resolve(e) for p, e in t.items()} for k, t in st.routes.items() if t}
    finally:
        sock.close()


def test_small_receive_buffer_overflows_with_enobufs(fns: FibNs) -> None:
    st = dump(fns)
    sock = call_in_ns(fns.ns.name, lambda: netlink.subscribe(4096))
    try:
        fns.batch(
            [f"route add 10.60.{i >> 8}.{i & 255}/32 via 10.9.0.2 proto bgp" for i in range(3000)]
        )
        with pytest.raises(OSError) as info:
            for _ in range(10000):
                netlink.read_events(sock, st)
        assert info.value.errno == errno.ENOBUFS
    finally:
        sock.close()
    assert dump(fns).route_count() == 3000


def test_unprivileged_user_dumps_and_subscribes(fns: FibNs) -> None:
    # The reader needs only the standard library: run a copy of the module
    # from a directory anyone can read, wherever the clone lives (a clone
    # under a mode-700 home would hide the package from user nobody).
    # (pytest's own tmp_path is mode 700, so a plain mkdtemp under /tmp.)
    with tempfile.TemporaryDirectory(prefix="bmpt-netlink-") as tmp:
        shared = Path(tmp)
        shared.chmod(0o755)
        module = shared / "netlink.py"
        module.write_text((REPO / "agent" / "fib" / "netlink.py").read_text())
        module.chmod(0o644)
        _dump_as_nobody(fns, shared)


def _dump_as_nobody(fns: FibNs, shared: Path) -> None:
    fns.batch([f"route add 10.70.{i}.0/24 via 10.9.0.2 proto bgp" for i in range(40)])
    fns.ip("-6", "route", "add", "2001:db8:70::/48", "via", "fd09::3", "proto", "bird")
    code = (
        "import json, os\n"
        "import netlink\n"
        "s = netlink.dump({186, 12, 11}, {254})\n"
        "sub = netlink.subscribe(1 << 20)\n"
        "print(json.dumps({'uid': os.geteuid(), 'routes': s.route_count(),\n"
        "  'counts': sorted([list(k) + [v] for k, v in s.counts().items()])}))\n"
    )
    proc = subprocess.run(
        [
            "ip", "netns", "exec", fns.ns.name,
            "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all",
            sys.executable, "-c", code,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=shared,
        env={"PYTHONPATH": str(shared), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"uid": 65534, "routes": 41, "counts": [[1, 254, 186, 40], [2, 254, 12, 1]]}


def test_hop_texts_name_gateway_and_interface() -> None:
    """``"<gateway> dev <interface>"`` per next hop, inline or through a nexthop
    object; an unknown interface is its index unless a ``link_name`` says more."""
    k = KernelState(WATCH, None, links={2: "veth0"})
    k.nh_objects[7] = (((v4("10.9.0.3"), 3),), ())
    hops = ((v4("10.9.0.2"), 2), (b"", 2), (v6("fe80::1"), 0))
    assert k.hop_texts((186, 20, hops, 0)) == ["10.9.0.2 dev veth0", "dev veth0", "fe80::1"]
    assert k.hop_texts((186, 20, (), 7)) == ["10.9.0.3 dev 3"]
    assert k.hop_texts((186, 20, (), 7), lambda i: f"if{i}") == ["10.9.0.3 dev if3"]
