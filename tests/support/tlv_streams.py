"""The TLV and BMP v4 streams of ``tests/data/bmp-tlv/`` (fuzz seeds and the
regression test ``tests/parsers/test_tlv_seed_streams.py``), built with
``support.bmp``. ``python -m support.tlv_streams DIR`` (from ``tests/``)
rewrites them; the test checks the files equal what this module builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import bgp as b
from . import bmp

PEER = "10.0.1.2"
ATTRS = [b.origin(0), b.as_path([(2, [65001, 65020])]), b.next_hop("192.0.2.1"), b.med(5)]


def _update(i: int, n: int, path_ids: list[int] | None = None) -> bytes:
    prefixes = [f"10.{i}.{j}.0/24" for j in range(n)]
    return b.build_update(attributes=ATTRS, nlri=b.nlri(prefixes, path_ids=path_ids))


def v3_trailing_tlv() -> bytes:
    """v3: Initiation, Peer Up, Route Monitoring with TLVs after the UPDATE."""
    out = bmp.build_initiation(sys_name="xr1") + bmp.build_peer_up(address=PEER, asn=65001)
    tails = [
        bmp.build_indexed_tlv(0x2A, b"\x00\x07"),
        bytes.fromhex("0001000400000001"),
        bmp.path_marking_tlv(2, index=0),
        bmp.build_indexed_tlv(7, b"\x01\x02", pen=2011),
        b"\x00\x01\x00",  # not TLVs: kept as bytes
    ]
    for i, tail in enumerate(tails):
        out += bmp.build_route_monitoring(_update(i, 1 + i % 3), trailing=tail, address=PEER)
    return out


def v4_path_marking() -> bytes:
    """v4: Initiation, Peer Up, Route Monitoring with per-NLRI and group markings."""
    out = bmp.as_v4(bmp.build_initiation(sys_name="r4")) + bmp.build_peer_up(
        address=PEER, asn=65001, version=4
    )
    out += bmp.build_route_monitoring_v4(
        _update(1, 3),
        after=[
            bmp.path_marking_tlv(0x2, index=1),
            bmp.path_marking_tlv(0x4, 3, index=2),
            bmp.path_marking_tlv(0x10, index=3),
        ],
        address=PEER,
    )
    out += bmp.build_route_monitoring_v4(
        _update(2, 4),
        before=[bmp.group_tlv(1, [2, 4]), bmp.path_marking_tlv(0x8, index=0x8001)],
        after=[bmp.path_marking_tlv(0x2 | 0x8, index=0), bmp.build_indexed_tlv(3, b"blue")],
        address=PEER,
    )
    out += bmp.build_peer_down(
        1, notification=bmp.build_notification(6, 2), tlvs=[(0, "bye")], version=4, address=PEER
    )
    return out


def v4_stateless_add_path() -> bytes:
    """v4 without Initiation or Peer Up: ADD-PATH NLRI, a Stateless Parsing TLV."""
    out = b""
    for i in range(4):
        out += bmp.build_route_monitoring_v4(
            _update(i, 2, path_ids=[1 + i, 9]),
            before=[bmp.build_indexed_tlv(1, bytes.fromhex("00010101"))],
            address=PEER,
        )
    return out


def v4_vpnv4() -> bytes:
    """v4 VPNv4 from an RD peer, no Initiation or Peer Up."""
    rd = b.rd_type0(65000, 100)
    out = b""
    for i in range(3):
        blob = b.vpn_nlri([(rd, f"10.{i}.{j}.0/24", [16000 + j]) for j in range(2)])
        u = b.build_update(
            attributes=[
                b.origin(0),
                b.as_path([(2, [65001])]),
                b.mp_reach(1, 128, ["192.0.2.1"], blob),
            ]
        )
        out += bmp.build_route_monitoring_v4(
            u, after=[bmp.path_marking_tlv(2, index=0)], address=PEER, peer_type=1, distinguisher=rd
        )
    out += bmp.build_peer_down(6, tlvs=[(3, "vrf-red")], peer_type=3, address="0.0.0.0")
    return out


STREAMS = {
    "v3-trailing-tlv.bmp": v3_trailing_tlv,
    "v4-path-marking.bmp": v4_path_marking,
    "v4-stateless-add-path.bmp": v4_stateless_add_path,
    "v4-vpnv4.bmp": v4_vpnv4,
}


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, build in STREAMS.items():
        (directory / name).write_bytes(build())


if __name__ == "__main__":
    write(Path(sys.argv[1]))
