"""Synthetic BMP streams for the benchmarks: realistic tables, built by hand.

A stream is one router's session: Initiation, a Peer Up per peer, then
Route Monitoring for every (peer, view) with 1-100 NLRI per UPDATE, IPv4 and
IPv6 mixed, and attribute sets shared by many prefixes as in real tables.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

MARKER = b"\xff" * 16


def bmp(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!BIB", 3, 6 + len(body), msg_type) + body


def per_peer(address: str, asn: int, bgp_id: str, *, post: bool = False, peer_type: int = 0) -> bytes:
    ip = ipaddress.ip_address(address)
    flags = (0x80 if ip.version == 6 else 0) | (0x40 if post else 0)
    raw = ip.packed if ip.version == 6 else bytes(12) + ip.packed
    return struct.pack(
        "!BB8s16sI4sII", peer_type, flags, bytes(8), raw, asn, ipaddress.IPv4Address(bgp_id).packed, 1700000000, 0
    )


def bgp(msg_type: int, body: bytes) -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), msg_type) + body


def open_msg(asn: int, bgp_id: str, add_path: bool = False) -> bytes:
    caps = b""
    for afi in (1, 2):
        caps += bytes([1, 4]) + struct.pack("!HBB", afi, 0, 1)
    caps += bytes([65, 4]) + struct.pack("!I", asn)
    caps += bytes([64, 2]) + struct.pack("!H", 120)
    if add_path:
        caps += bytes([69, 8]) + struct.pack("!HBBHBB", 1, 1, 3, 2, 1, 3)
    params = bytes([2, len(caps)]) + caps
    body = struct.pack("!BHH4sB", 4, asn if asn < 65536 else 23456, 180, ipaddress.IPv4Address(bgp_id).packed, len(params))
    return bgp(1, body + params)


def attr(flags: int, atype: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, atype, len(value)) + value
    return struct.pack("!BBB", flags, atype, len(value)) + value


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
    return bgp(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + b"".join(nlri))


def update_v6(attrs: bytes, nlri: list[bytes], next_hop: bytes) -> bytes:
    mp = struct.pack("!HBB", 2, 1, len(next_hop)) + next_hop + b"\x00" + b"".join(nlri)
    full = attrs + attr(0x80, 14, mp)
    return bgp(2, struct.pack("!H", 0) + struct.pack("!H", len(full)) + full)


@dataclass(frozen=True)
class StreamSpec:
    v4: int = 100_000
    v6: int = 20_000
    peers: int = 2
    views: tuple[bool, ...] = (False, True)  # pre- and post-policy
    nlri_per_update: tuple[int, ...] = (1, 10, 100)
    prefixes_per_attribute_set: int = 20
    seed: int = 1


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
                    set_index = i // spec.prefixes_per_attribute_set + (0 if family == 4 else 1 << 20)
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
