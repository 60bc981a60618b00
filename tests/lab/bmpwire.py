"""A tiny, independent BMP reader for lab assertions.

Deliberately separate from ``parsers`` (it is what the lab uses to check
speakers and, later, to cross-check the real decoders): it splits a stream on
the common header and counts what the lab needs — message types, Peer Up/Down
peers, and the prefixes each Route Monitoring announces or withdraws per view
(``pre``, ``post``, ``loc_rib``; ``out_pre``/``out_post`` for Adj-RIB-Out).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field

ROUTE_MONITORING = 0
STATISTICS_REPORT = 1
PEER_DOWN = 2
PEER_UP = 3
INITIATION = 4
TERMINATION = 5
ROUTE_MIRRORING = 6
#: Keyed by this module's own type codes (not the parsers': independence).
TYPE_NAMES = {
    ROUTE_MONITORING: "route_monitoring",
    STATISTICS_REPORT: "statistics_report",
    PEER_DOWN: "peer_down",
    PEER_UP: "peer_up",
    INITIATION: "initiation",
    TERMINATION: "termination",
    ROUTE_MIRRORING: "route_mirroring",
}


def split(data: bytes) -> tuple[list[bytes], bytes]:
    """Whole BMP messages in ``data`` and the incomplete tail."""
    out = []
    pos = 0
    while len(data) - pos >= 6:
        length = int.from_bytes(data[pos + 1 : pos + 5], "big")
        if data[pos] != 3 or length < 6:
            raise ValueError(f"bad BMP common header at offset {pos}: {data[pos : pos + 6].hex()}")
        if len(data) - pos < length:
            break
        out.append(data[pos : pos + length])
        pos += length
    return out, data[pos:]


@dataclass(frozen=True)
class Peer:
    view: str
    address: str
    asn: int
    bgp_id: str


def peer_header(msg: bytes) -> Peer:
    ptype, flags = msg[6], msg[7]
    raw = msg[16:32]
    if ptype == 3:
        view = "loc_rib"
    else:
        view = ("out_" if flags & 0x10 else "") + ("post" if flags & 0x40 else "pre")
    if ptype != 3 and flags & 0x80:
        addr = str(ipaddress.IPv6Address(raw))
    else:
        addr = str(ipaddress.IPv4Address(raw[12:]))
    asn = int.from_bytes(msg[32:36], "big")
    bgp_id = str(ipaddress.IPv4Address(msg[36:40]))
    return Peer(view, addr, asn, bgp_id)


def _prefixes(afi: int, buf: bytes, add_path: bool | None) -> list[str]:
    """Prefixes of one NLRI field; ``add_path=None`` guesses from the bytes (a
    path ID starts with 0x00 0x00 where a bare NLRI starts with a prefix length)."""
    if add_path is None:
        add_path = len(buf) >= 5 and buf[0] == 0 and buf[1] == 0
    out = []
    pos = 0
    size = 4 if afi == 1 else 16
    while pos < len(buf):
        pid = ""
        if add_path:
            pid = f"#{int.from_bytes(buf[pos : pos + 4], 'big')}"
            pos += 4
        plen = buf[pos]
        nbytes = (plen + 7) // 8
        raw = buf[pos + 1 : pos + 1 + nbytes].ljust(size, b"\0")
        pos += 1 + nbytes
        net: ipaddress.IPv4Network | ipaddress.IPv6Network
        if afi == 1:
            net = ipaddress.IPv4Network((raw, plen), strict=False)
        else:
            net = ipaddress.IPv6Network((raw, plen), strict=False)
        out.append(f"{net}{pid}")
    return out


def update_prefixes(bgp: bytes, add_path: bool | None = None) -> tuple[list[str], list[str], bool]:
    """(announced, withdrawn, is_end_of_rib) of one BGP UPDATE message (with header)."""
    if len(bgp) < 23 or bgp[18] != 2:
        return [], [], False
    body = bgp[19:]
    wlen = int.from_bytes(body[0:2], "big")
    withdrawn = _prefixes(1, body[2 : 2 + wlen], add_path)
    alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
    attrs = body[4 + wlen : 4 + wlen + alen]
    announced = _prefixes(1, body[4 + wlen + alen :], add_path)
    pos = 0
    mp_unreach_empty = False
    other_attrs = 0
    while pos < len(attrs):
        flags, code = attrs[pos], attrs[pos + 1]
        if flags & 0x10:
            length = int.from_bytes(attrs[pos + 2 : pos + 4], "big")
            val = attrs[pos + 4 : pos + 4 + length]
            pos += 4 + length
        else:
            length = attrs[pos + 2]
            val = attrs[pos + 3 : pos + 3 + length]
            pos += 3 + length
        if code == 14:
            afi = int.from_bytes(val[0:2], "big")
            nhlen = val[3]
            announced += _prefixes(afi, val[5 + nhlen :], add_path)
        elif code == 15:
            afi = int.from_bytes(val[0:2], "big")
            more = _prefixes(afi, val[3:], add_path)
            withdrawn += more
            mp_unreach_empty = not more
        else:
            other_attrs += 1
    eor = not announced and not withdrawn and (alen == 0 or (mp_unreach_empty and not other_attrs))
    return announced, withdrawn, eor


@dataclass
class Summary:
    types: Counter[str] = field(default_factory=Counter)
    peer_up: list[Peer] = field(default_factory=list)
    #: (peer, reason code)
    peer_down: list[tuple[Peer, int]] = field(default_factory=list)
    #: per view: Route Monitoring messages, End-of-RIB markers
    rm_messages: Counter[str] = field(default_factory=Counter)
    eor: Counter[str] = field(default_factory=Counter)
    #: per view: every announced / withdrawn prefix in stream order ("192.0.2.0/27")
    announced: dict[str, list[str]] = field(default_factory=dict)
    withdrawn: dict[str, list[str]] = field(default_factory=dict)
    incomplete_tail: int = 0

    def count(self, name: str) -> int:
        return self.types[name]

    def announced_count(self, view: str) -> int:
        return len(self.announced.get(view, []))

    def withdrawn_count(self, view: str) -> int:
        return len(self.withdrawn.get(view, []))

    def brief(self) -> str:
        views = sorted(set(self.announced) | set(self.withdrawn) | set(self.eor))
        parts = [f"{k}={v}" for k, v in sorted(self.types.items())]
        parts += [
            f"{v}:+{self.announced_count(v)}/-{self.withdrawn_count(v)}/eor{self.eor[v]}"
            for v in views
        ]
        return " ".join(parts) or "nothing"


def summarize(data: bytes, add_path: bool | None = None) -> Summary:
    msgs, tail = split(data)
    s = Summary(incomplete_tail=len(tail))
    for m in msgs:
        t = m[5]
        s.types[TYPE_NAMES.get(t, f"type_{t}")] += 1
        if t == PEER_UP:
            s.peer_up.append(peer_header(m))
        elif t == PEER_DOWN:
            s.peer_down.append((peer_header(m), m[48] if len(m) > 48 else -1))
        elif t == ROUTE_MONITORING:
            peer = peer_header(m)
            ann, wd, eor = update_prefixes(m[48:], add_path)
            s.rm_messages[peer.view] += 1
            s.announced.setdefault(peer.view, []).extend(ann)
            s.withdrawn.setdefault(peer.view, []).extend(wd)
            if eor:
                s.eor[peer.view] += 1
    return s
