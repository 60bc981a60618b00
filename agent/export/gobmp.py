"""gobmp's parsed message shapes, built from the agent's RIB (see docs/gobmp-feed.md).

Consumers of a gobmp pipeline read JSON objects on ``gobmp.parsed.*``
subjects (topics, with Kafka). This module builds the two kinds the agent
publishes, with gobmp's field names and its ``omitempty`` rule (a zero
value is left out; the ``is_*`` flags and ``peer_type`` are always there):

* ``peer_state(...)``: gobmp's ``PeerStateChange`` (``gobmp.parsed.peer``),
  ``action`` ``add`` on Peer Up and ``down`` on Peer Down (gobmp's words);
* ``unicast_prefix(...)``: gobmp's ``UnicastPrefix``
  (``gobmp.parsed.unicast_prefix_v4`` / ``_v6``), ``action`` ``add`` or
  ``del``, the path attributes under ``base_attrs``.

Identities: ``router_ip`` is the router's address (the source of its BMP
session; gobmp takes the local address of the first Peer Up instead, which
is the same for a router whose sessions start at its loopback, and collides
for routers that share one, as lab routers in namespaces do) and
``router_hash`` the MD5 of that text, as gobmp; ``peer_hash`` the MD5 of the per-peer header's distinguisher, address
(16 bytes), decimal AS and BGP ID; the message ``hash`` the MD5 of its
identity parts, each followed by a zero byte. The ``Hash`` header of every
message is the ``router_hash`` (what gobmp passes as the message key).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import struct
from datetime import UTC, datetime
from typing import Any

from parsers.bgp.attributes import Aggregator, AsPathSegment, PathAttributes
from parsers.bgp.encode import encode_attributes
from parsers.bgp.nlri import describe

from ..core.peer import Peer
from ..core.router import Router

SUBJECT_PEER = "gobmp.parsed.peer"
SUBJECT_UNICAST_V4 = "gobmp.parsed.unicast_prefix_v4"
SUBJECT_UNICAST_V6 = "gobmp.parsed.unicast_prefix_v6"
#: What gobmp's stream ``goBMP`` holds.
STREAM = "goBMP"
STREAM_SUBJECTS = ("gobmp.parsed.*", "gobmp.raw")

ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
#: Extended community (type, subtype) -> gobmp's prefix; the value follows as ADMIN:LOCAL.
EXT_PREFIXES = {
    (0x00, 0x02): "rt=",
    (0x01, 0x02): "rt=",
    (0x02, 0x02): "rt=",
    (0x00, 0x03): "ro=",
    (0x01, 0x03): "ro=",
    (0x02, 0x03): "ro=",
}
_LOC_RIB = 3


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def hash_parts(*parts: str) -> str:
    """gobmp's message hash: MD5 over each part followed by a zero byte."""
    return md5_hex(b"".join(p.encode() + b"\0" for p in parts))


def timestamp(now: float) -> str:
    """Go's RFC 3339 with nanoseconds as gobmp writes it (UTC, trailing zeros cut)."""
    dt = datetime.fromtimestamp(now, UTC)
    frac = f"{dt.microsecond:06d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _addr16(address: str) -> bytes:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.packed if ip.version == 6 else bytes(12) + ip.packed


def peer_hash(peer: Peer) -> str:
    """MD5 of distinguisher, address (16 bytes), decimal AS and BGP ID (gobmp's GetPeerHash)."""
    bgp_id = ipaddress.ip_address(peer.bgp_id).packed
    return md5_hex(peer.distinguisher + _addr16(peer.address) + str(peer.asn).encode() + bgp_id)


def peer_rd(peer: Peer) -> str:
    """gobmp's GetPeerDistinguisherString: ``0:0`` for global peers."""
    if peer.peer_type == 2:
        return str(struct.unpack("!q", peer.distinguisher)[0])
    if peer.peer_type in (1, 3) and peer.rd is not None:
        return peer.rd
    return "0:0"


def _is_v4(address: str) -> bool:
    return ":" not in address


def view_flags(peer_type: int, view: str) -> dict[str, bool]:
    """The per-peer header flags as gobmp's booleans (Loc-RIB: only ``is_loc_rib``)."""
    loc = peer_type == _LOC_RIB
    return {
        "is_adj_rib_in_post_policy": not loc and view == "adj_in_post",
        "is_adj_rib_out_post_policy": not loc and view == "adj_out_post",
        "is_adj_rib_out": not loc and view in ("adj_out_pre", "adj_out_post"),
        "is_loc_rib": loc or view == "loc_rib",
        "is_loc_rib_filtered": False,
    }


class RouterIdentity:
    """``router_ip``/``router_hash`` of one router, fixed by its first Peer Up."""

    __slots__ = ("hash", "ip")

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.hash = md5_hex(ip.encode())


def router_identity(router: Router) -> RouterIdentity:
    """The router's address as the agent sees it (the BMP session's source,
    as OpenBMP's ``router_ip``), zone cut; a router without one (a BIRD
    socket) by its label."""
    return RouterIdentity(router.address.split("%", 1)[0] or router.label)


def _omit(out: dict[str, Any], key: str, value: Any) -> None:
    if value:
        out[key] = value


def peer_state(
    ident: RouterIdentity, peer: Peer, action: str, now: float, reason: int = 0
) -> dict[str, Any]:
    """gobmp's ``PeerStateChange``: ``action`` is ``add`` (up) or ``down``."""
    out: dict[str, Any] = {"action": action}
    parts = (
        "peer",
        ident.hash,
        peer.bgp_id,
        peer.address,
        str(peer.asn),
        str(peer.peer_type),
        peer_rd(peer),
    )
    out["hash"] = hash_parts(*parts)
    out["router_hash"] = ident.hash
    _omit(out, "remote_bgp_id", peer.bgp_id)
    _omit(out, "router_ip", ident.ip)
    out["timestamp"] = timestamp(now)
    _omit(out, "remote_asn", peer.asn)
    _omit(out, "remote_ip", peer.address)
    out["peer_type"] = peer.peer_type
    _omit(out, "peer_rd", peer_rd(peer))
    if action == "add":
        _omit(out, "remote_port", peer.remote_port)
        _omit(out, "local_asn", peer.local_asn)
        _omit(out, "local_ip", peer.local_address)
        _omit(out, "local_port", peer.local_port)
        sent = peer.sent_open
        if sent is not None:
            _omit(out, "local_bgp_id", getattr(sent, "bgp_id", None))
            _omit(out, "adv_holddown", getattr(sent, "hold_time", 0))
        received = peer.received_open
        if received is not None:
            _omit(out, "remote_holddown", getattr(received, "hold_time", 0))
    else:
        _omit(out, "bmp_reason", reason)
    out["is_l"] = False
    out["is_prepolicy"] = False
    out["is_ipv4"] = _is_v4(peer.address)
    out.update(view_flags(peer.peer_type, ""))
    return out


def _segments(path: tuple[AsPathSegment, ...] | None) -> list[dict[str, Any]]:
    return [{"type": s.type, "asns": list(s.asns)} for s in path or ()]


def _aggregator(agg: Aggregator | None) -> str | None:
    """Go marshals the raw ``[]byte`` as base64: AS (4 bytes) then address."""
    if agg is None:
        return None
    raw = struct.pack("!I", agg.asn) + ipaddress.ip_address(agg.address).packed
    return base64.b64encode(raw).decode()


def _ext_community(raw: bytes) -> str:
    prefix = EXT_PREFIXES.get((raw[0], raw[1]))
    if prefix is None:
        return "0x" + raw.hex()
    if raw[0] == 0x01:
        return f"{prefix}{ipaddress.IPv4Address(raw[2:6])}:{int.from_bytes(raw[6:8])}"
    if raw[0] == 0x02:
        return f"{prefix}{int.from_bytes(raw[2:6])}:{int.from_bytes(raw[6:8])}"
    return f"{prefix}{int.from_bytes(raw[2:4])}:{int.from_bytes(raw[4:8])}"


def base_attrs(attrs: PathAttributes) -> dict[str, Any]:
    """gobmp's ``BaseAttributes`` of one attribute set (cache it per interned set)."""
    out: dict[str, Any] = {}
    out["base_attr_hash"] = md5_hex(encode_attributes(attrs))
    _omit(out, "origin", ORIGINS.get(attrs.origin) if attrs.origin is not None else None)
    flat = [a for s in attrs.as_path or () for a in s.asns]
    _omit(out, "as_path", flat)
    _omit(out, "as_path_count", len(flat))
    _omit(out, "as_path_segments", _segments(attrs.as_path))
    _omit(out, "nexthop", attrs.effective_next_hop)
    _omit(out, "med", attrs.med)
    _omit(out, "local_pref", attrs.local_pref)
    out["is_atomic_agg"] = attrs.atomic_aggregate
    _omit(out, "aggregator", _aggregator(attrs.aggregator))
    _omit(out, "community_list", [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.communities])
    _omit(out, "originator_id", attrs.originator_id)
    _omit(out, "cluster_list", ", ".join(attrs.cluster_list))
    _omit(out, "ext_community_list", [_ext_community(e) for e in attrs.extended_communities])
    as4 = [a for s in attrs.as4_path or () for a in s.asns]
    _omit(out, "as4_path", as4)
    _omit(out, "as4_path_count", len(as4))
    _omit(out, "as4_aggregator", _aggregator(attrs.as4_aggregator))
    _omit(out, "large_community_list", [f"{g}:{a}:{b}" for g, a, b in attrs.large_communities])
    _omit(out, "otc", attrs.otc)
    return out


def origin_as(attrs: PathAttributes) -> int:
    """The last AS of the AS_PATH (gobmp: the last element of its flat list)."""
    path = attrs.as_path
    if path and path[-1].asns:
        return path[-1].asns[-1]
    return 0


def unicast_prefix(
    ident: RouterIdentity,
    peer: Peer,
    p_hash: str,
    view: str,
    afi: int,
    key: bytes,
    path_id: int | None,
    action: str,
    now: float,
    attrs: PathAttributes | None,
    base: dict[str, Any] | None,
) -> dict[str, Any]:
    """gobmp's ``UnicastPrefix`` of one route (``key``: the RIB's wire key)."""
    length = key[0]
    prefix = describe(afi, 1, key).partition("/")[0]
    v4 = afi == 1
    out: dict[str, Any] = {"action": action}
    out["hash"] = hash_parts(
        "unicast",
        ident.hash,
        p_hash,
        prefix,
        str(length),
        "true" if v4 else "false",
        str(path_id or 0),
        "",
    )
    out["router_hash"] = ident.hash
    _omit(out, "router_ip", ident.ip)
    if base is not None:
        out["base_attrs"] = base
    out["peer_hash"] = p_hash
    _omit(out, "peer_ip", peer.address)
    out["peer_type"] = peer.peer_type
    _omit(out, "peer_asn", peer.asn)
    out["timestamp"] = timestamp(now)
    out["prefix"] = prefix
    _omit(out, "prefix_len", length)
    out["is_ipv4"] = v4
    if attrs is not None:
        _omit(out, "origin_as", origin_as(attrs))
        _omit(out, "nexthop", attrs.effective_next_hop)
    out["is_nexthop_ipv4"] = v4
    _omit(out, "path_id", path_id)
    out.update(view_flags(peer.peer_type, view))
    return out


def _frag(d: dict[str, Any]) -> str:
    """A JSON object's members without the braces ("" for none)."""
    return json.dumps(d, separators=(",", ":"))[1:-1]


class UnicastTemplate:
    """``unicast_prefix`` for many routes of one peer, view, family, action and
    attribute set: the JSON members they share are encoded once, each route
    adds its prefix, length, path ID and hash (the same object, members in
    another order)."""

    __slots__ = ("_hash_head", "_head", "_mid", "_tail", "_v4", "afi")

    def __init__(
        self,
        ident: RouterIdentity,
        peer: Peer,
        p_hash: str,
        view: str,
        afi: int,
        action: str,
        now: float,
        attrs: PathAttributes | None,
        base_json: str | None,
    ) -> None:
        self.afi = afi
        v4 = afi == 1
        self._v4 = "true" if v4 else "false"
        self._hash_head = b"".join(p.encode() + b"\0" for p in ("unicast", ident.hash, p_hash))
        shared: dict[str, Any] = {"router_hash": ident.hash}
        _omit(shared, "router_ip", ident.ip)
        shared["peer_hash"] = p_hash
        _omit(shared, "peer_ip", peer.address)
        shared["peer_type"] = peer.peer_type
        _omit(shared, "peer_asn", peer.asn)
        shared["timestamp"] = timestamp(now)
        lead = '{"base_attrs":' + base_json + "," if base_json is not None else "{"
        self._head = lead + _frag({"action": action}) + "," + _frag(shared) + ',"hash":"'
        mid: dict[str, Any] = {"is_ipv4": v4}
        if attrs is not None:
            _omit(mid, "origin_as", origin_as(attrs))
            _omit(mid, "nexthop", attrs.effective_next_hop)
        mid["is_nexthop_ipv4"] = v4
        self._mid = "," + _frag(mid) + "," + _frag(view_flags(peer.peer_type, view))
        self._tail = "}"

    def render(self, key: bytes, path_id: int | None) -> bytes:
        length = key[0]
        prefix = describe(self.afi, 1, key).partition("/")[0]
        rest = f"{prefix}\0{length}\0{self._v4}\0{path_id or 0}\0\0".encode()
        h = hashlib.md5(self._hash_head + rest, usedforsecurity=False).hexdigest()
        out = self._head + h + '","prefix":"' + prefix + '"'
        if length:
            out += f',"prefix_len":{length}'
        if path_id:
            out += f',"path_id":{path_id}'
        return (out + self._mid + self._tail).encode()
