"""Synthetic BMP streams for the benchmarks: realistic tables, built by hand.

A stream is one router's session: Initiation, a Peer Up per peer, then
Route Monitoring for every (peer, view) with 1-100 NLRI per UPDATE, IPv4 and
IPv6 mixed, and attribute sets shared by many prefixes as in real tables.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support import bgp as b
from support import bmp as m

from parsers.bgp.attributes import AS_TRANS


def bmp(msg_type: int, body: bytes) -> bytes:
    return m.build_message(msg_type, body)


def per_peer(
    address: str,
    asn: int,
    bgp_id: str,
    *,
    post: bool = False,
    peer_type: int = 0,
    out: bool = False,
) -> bytes:
    """Per-peer header; ``out`` sets the O flag (Adj-RIB-Out, RFC 8671)."""
    return m.build_per_peer_header(
        peer_type=peer_type,
        flags=(0x40 if post else 0) | (0x10 if out else 0),
        address=address,
        asn=asn,
        bgp_id=bgp_id,
        timestamp_sec=1700000000,
    )


def open_msg(asn: int, bgp_id: str, add_path: bool = False) -> bytes:
    caps = [b.cap_mp(1, 1), b.cap_mp(2, 1), b.cap_four_octet_as(asn), b.cap_graceful_restart()]
    if add_path:
        caps.append(b.cap_add_path([(1, 1, 3), (2, 1, 3)]))
    my_as = asn if asn < 65536 else AS_TRANS
    return b.build_open(my_as=my_as, hold_time=180, bgp_id=bgp_id, capabilities=caps)


def attr(flags: int, atype: int, value: bytes) -> bytes:
    return b.attribute(atype, value, flags=flags)


def attribute_set(index: int, next_hop: bytes | None) -> bytes:
    """One of many distinct attribute sets: AS path, MED and communities vary."""
    path = [65001, 64512 + index % 700, 4200000000 + index % 5000]
    out = attr(0x40, 1, b"\x00")
    out += attr(0x40, 2, bytes([2, len(path)]) + b"".join(struct.pack("!I", a) for a in path))
    if next_hop is not None:
        out += attr(0x40, 3, next_hop)
    out += attr(0x80, 4, struct.pack("!I", index % 1000))
    out += attr(0xC0, 8, struct.pack("!II", (65001 << 16) | 100, (65001 << 16) | (index % 65536)))
    if index % 2:
        out += attr(0xC0, 32, struct.pack("!III", 4200000001, 1, index))
    return out


def prefix_bytes(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    n = (net.prefixlen + 7) // 8
    return bytes([net.prefixlen]) + net.network_address.packed[:n]


def v4_prefixes(count: int, start: str = "10.0.0.0", plen: int = 24) -> Iterator[bytes]:
    base = int(ipaddress.IPv4Address(start))
    step = 1 << (32 - plen)
    for i in range(count):
        yield prefix_bytes(ipaddress.IPv4Network((base + i * step, plen)))


def v6_prefixes(count: int, start: str = "2001:db8::", plen: int = 48) -> Iterator[bytes]:
    base = int(ipaddress.IPv6Address(start))
    step = 1 << (128 - plen)
    for i in range(count):
        yield prefix_bytes(ipaddress.IPv6Network((base + i * step, plen)))


def update_v4(attrs: bytes, nlri: list[bytes]) -> bytes:
    return b.build_update(attributes=attrs, nlri=b"".join(nlri))


def update_v6(attrs: bytes, nlri: list[bytes], next_hop: bytes) -> bytes:
    return b.build_update(attributes=attrs + b.mp_reach(2, 1, next_hop, b"".join(nlri)))


@dataclass(frozen=True)
class StreamSpec:
    v4: int = 100_000
    v6: int = 20_000
    peers: int = 2
    views: tuple[bool, ...] = (False, True)  # pre- and post-policy
    nlri_per_update: tuple[int, ...] = (1, 10, 100)
    prefixes_per_attribute_set: int = 20
    seed: int = 1
    #: Prefix lengths as in a real table (mostly /24 and /48, with /16../23
    #: and /29../64, random addresses) instead of consecutive /24 and /48.
    realistic_prefixes: bool = False


@dataclass
class Stream:
    data: bytes
    messages: int
    route_monitoring: int
    routes: int  # prefix x peer x view
    unique_prefixes: int


def build_stream(spec: StreamSpec) -> Stream:
    rng = random.Random(spec.seed)
    out = [bmp(4, struct.pack("!HH", 2, 9) + b"benchmark")]
    peers = [(f"192.0.2.{i + 1}", 65001 + i) for i in range(spec.peers)]
    for address, asn in peers:
        hdr = per_peer(address, asn, address)
        body = hdr + bytes(12) + bytes([192, 0, 2, 254]) + struct.pack("!HH", 179, 40000)
        out.append(bmp(3, body + open_msg(65000, "192.0.2.254") + open_msg(asn, address)))
    if spec.realistic_prefixes:
        v4 = table_prefixes(4, spec.v4, spec.seed)
        v6 = table_prefixes(6, spec.v6, spec.seed)
    else:
        v4 = list(v4_prefixes(spec.v4))
        v6 = list(v6_prefixes(spec.v6))
    rm = 0
    for p_index, (address, asn) in enumerate(peers):
        nh4 = ipaddress.IPv4Address(address).packed
        nh6 = ipaddress.IPv6Address(f"2001:db8:ffff::{p_index + 1}").packed
        for post in spec.views:
            hdr = bmp_rm_header = per_peer(address, asn, address, post=post)
            del bmp_rm_header
            for family, prefixes in ((4, v4), (6, v6)):
                i = 0
                while i < len(prefixes):
                    k = rng.choice(spec.nlri_per_update)
                    chunk = prefixes[i : i + k]
                    set_index = i // spec.prefixes_per_attribute_set + (
                        0 if family == 4 else 1 << 20
                    )
                    if family == 4:
                        msg = update_v4(attribute_set(set_index, nh4), chunk)
                    else:
                        msg = update_v6(attribute_set(set_index, None), chunk, nh6)
                    out.append(bmp(0, hdr + msg))
                    rm += 1
                    i += k
    data = b"".join(out)
    routes = (spec.v4 + spec.v6) * spec.peers * len(spec.views)
    return Stream(data, len(out), rm, routes, spec.v4 + spec.v6)


# -- full table -------------------------------------------------------------

#: Prefix-length mix of a real Internet table (rough shares, RIPE RIS 2024).
V4_LENGTHS = {24: 60, 23: 7, 22: 12, 21: 5, 20: 5, 19: 3, 18: 2, 17: 1, 16: 4, 15: 1}
V6_LENGTHS = {48: 50, 44: 8, 40: 6, 36: 3, 32: 12, 29: 5, 46: 4, 47: 4, 56: 3, 64: 5}

#: The full-table benchmark: 1M IPv4 + 200k IPv6 prefixes per peer, two peers,
#: pre- and post-policy (4.8M routes), 1-100 NLRI per UPDATE, ~10 prefixes
#: per attribute set (a real table has ~1.2M prefixes on some 100k-300k
#: distinct attribute sets).
FULL_TABLE = StreamSpec(
    v4=1_000_000,
    v6=200_000,
    peers=2,
    views=(False, True),
    nlri_per_update=(1, 2, 5, 10, 20, 50, 100),
    prefixes_per_attribute_set=10,
    seed=7,
    realistic_prefixes=True,
)
#: One tenth of it, for quick runs.
SMALL_TABLE = replace(FULL_TABLE, v4=100_000, v6=20_000)


def table_prefixes(family: int, count: int, seed: int) -> list[bytes]:
    """``count`` distinct prefixes (wire form) with a real table's length mix,
    in table order (by address, then length)."""
    rng = random.Random(seed * 1000 + family)
    lengths = V4_LENGTHS if family == 4 else V6_LENGTHS
    bits = 32 if family == 4 else 128
    population = [plen for plen, share in lengths.items() for _ in range(share)]
    # Unicast space: 1.0.0.0-223.255.255.255, and 2000::/3.
    lo, hi = (1 << 24, 224 << 24) if family == 4 else (1 << 125, 1 << 126)
    seen: set[tuple[int, int]] = set()
    while len(seen) < count:
        plen = rng.choice(population)
        net = rng.randrange(lo, hi) >> (bits - plen) << (bits - plen)
        seen.add((net, plen))
    size = bits // 8
    out = []
    for net, plen in sorted(seen):
        n = (plen + 7) // 8
        out.append(bytes([plen]) + net.to_bytes(size, "big")[:n])
    return out


def cached_stream(spec: StreamSpec, directory: Path | None = None) -> Stream:
    """``build_stream(spec)``, kept on disk (``bench/.cache/``, git-ignored) so
    repeated runs skip the build."""
    directory = directory or Path(__file__).resolve().parent / ".cache"
    key = hashlib.sha256(repr(spec).encode()).hexdigest()[:16]
    data_path = directory / f"stream-{key}.bmp"
    meta_path = directory / f"stream-{key}.json"
    if data_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return Stream(data_path.read_bytes(), **meta)
    stream = build_stream(spec)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = data_path.with_suffix(".tmp")
    tmp.write_bytes(stream.data)
    tmp.replace(data_path)
    meta = {
        "messages": stream.messages,
        "route_monitoring": stream.route_monitoring,
        "routes": stream.routes,
        "unique_prefixes": stream.unique_prefixes,
    }
    meta_path.write_text(json.dumps(meta))
    return stream
