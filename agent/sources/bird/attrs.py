"""BIRD route text -> the core's route model (wire prefix key, ``PathAttributes``).

The core keys a route by its wire prefix bytes (``<length><prefix octets>``)
and holds one interned ``PathAttributes`` per distinct value; BIRD's
``BGP.*`` attribute lines map onto the same fields the BMP decoder fills, so
the JSON API and metrics read a BIRD route like a BMP one. ``AttrCache``
memoises the text -> ``PathAttributes`` step (routes of one neighbour mostly
share their attribute lines), which is most of the cost per route.
"""

from __future__ import annotations

import re
import socket

from parsers.bgp.attributes import Aggregator, AsPathSegment, PathAttributes

AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4

_ORIGINS = {"IGP": 0, "EGP": 1, "Incomplete": 2, "?": 2}
_PAIR = re.compile(r"\((\d+),\s*(\d+)\)")
_TRIPLE = re.compile(r"\((\d+),\s*(\d+),\s*(\d+)\)")
_EXT = re.compile(r"\((rt|ro),\s*([0-9.]+),\s*(\d+)\)")


def prefix_key(net: str) -> tuple[int, bytes] | None:
    """``10.1.0.0/16`` -> ``(1, b"\\x10\\x0a\\x01")``; None for nets that are not IP prefixes."""
    addr, sep, plen = net.partition("/")
    if not sep or not plen.isdigit():
        return None
    n = int(plen)
    try:
        if ":" in addr:
            if n > 128:
                return None
            packed = socket.inet_pton(socket.AF_INET6, addr)
            afi = 2
        else:
            if n > 32:
                return None
            packed = socket.inet_pton(socket.AF_INET, addr)
            afi = 1
    except OSError:
        return None
    return afi, bytes((n,)) + packed[: (n + 7) // 8]


def as_path(text: str) -> tuple[AsPathSegment, ...]:
    """``65001 {64512 64513} (65100)`` -> AS_SEQUENCE, AS_SET, AS_CONFED_SEQUENCE segments."""
    segs: list[AsPathSegment] = []
    seq: list[int] = []
    group: list[int] | None = None
    group_type = AS_SET
    for tok in (
        text.replace("{", " { ").replace("}", " } ").replace("(", " ( ").replace(")", " ) ").split()
    ):
        if tok in ("{", "("):
            if seq:
                segs.append(AsPathSegment(AS_SEQUENCE, tuple(seq)))
                seq = []
            group = []
            group_type = AS_SET if tok == "{" else AS_CONFED_SEQUENCE
        elif tok in ("}", ")"):
            if group is not None:
                segs.append(AsPathSegment(group_type, tuple(group)))
            group = None
        elif tok.isdigit():
            (seq if group is None else group).append(int(tok))
    if seq:
        segs.append(AsPathSegment(AS_SEQUENCE, tuple(seq)))
    return tuple(segs)


def _ext_community(kind: str, admin: str, value: int) -> bytes | None:
    sub = 0x02 if kind == "rt" else 0x03
    try:
        if "." in admin:
            return bytes((0x01, sub)) + socket.inet_aton(admin) + value.to_bytes(2, "big")
        asn = int(admin)
        if asn < 65536 and value < 2**32:
            return bytes((0x00, sub)) + asn.to_bytes(2, "big") + value.to_bytes(4, "big")
        return bytes((0x02, sub)) + asn.to_bytes(4, "big") + value.to_bytes(2, "big")
    except (OSError, OverflowError, ValueError):
        return None


def build_attributes(
    afi: int, via: str | None, attrs: tuple[tuple[str, str], ...]
) -> PathAttributes:
    """``PathAttributes`` from BIRD's attribute lines (``BGP.*``; others are ignored)."""
    kw: dict[str, object] = {}
    next_hops: tuple[str, ...] = ()
    for name, value in attrs:
        if not name.startswith("BGP."):
            continue
        key = name[4:]
        if key == "origin":
            kw["origin"] = _ORIGINS.get(value)
        elif key == "as_path":
            kw["as_path"] = as_path(value)
        elif key == "next_hop":
            next_hops = tuple(value.split())
        elif key == "med" and value.isdigit():
            kw["med"] = int(value)
        elif key == "local_pref" and value.isdigit():
            kw["local_pref"] = int(value)
        elif key == "community":
            kw["communities"] = tuple((int(a) << 16) | int(b) for a, b in _PAIR.findall(value))
        elif key == "large_community":
            kw["large_communities"] = tuple(
                (int(a), int(b), int(c)) for a, b, c in _TRIPLE.findall(value)
            )
        elif key == "ext_community":
            ext = (_ext_community(k, a, int(v)) for k, a, v in _EXT.findall(value))
            kw["extended_communities"] = tuple(e for e in ext if e is not None)
        elif key == "originator_id":
            kw["originator_id"] = value
        elif key == "cluster_list":
            kw["cluster_list"] = tuple(value.split())
        elif key == "atomic_aggr":
            kw["atomic_aggregate"] = True
        elif key == "aggregator":
            parts = value.split()
            if len(parts) == 2 and parts[1].startswith("AS") and parts[1][2:].isdigit():
                kw["aggregator"] = Aggregator(int(parts[1][2:]), parts[0])
    if not next_hops and via is not None:
        next_hops = (via,)
    if next_hops:
        if afi == 1:
            kw["next_hop"] = next_hops[0]
        else:
            kw["mp_next_hop"] = next_hops
    return PathAttributes(**kw)  # type: ignore[arg-type]


class AttrCache:
    """Memoised ``build_attributes``; bounded (cleared when it grows past ``limit``)."""

    __slots__ = ("_cache", "limit")

    def __init__(self, limit: int = 65536) -> None:
        self._cache: dict[tuple[int, str | None, tuple[tuple[str, str], ...]], PathAttributes] = {}
        self.limit = limit

    def get(self, afi: int, via: str | None, attrs: tuple[tuple[str, str], ...]) -> PathAttributes:
        key = (afi, via, attrs)
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) >= self.limit:
                self._cache.clear()
            got = self._cache[key] = build_attributes(afi, via, attrs)
        return got
