"""Reader for tshark's JSON decode (``tshark -T json -J "bmp bgp"``) of a BMP capture.

tshark's JSON is not plain JSON in the Python sense: one object often holds
the same key several times (a TCP frame that carries several BMP messages has
one ``bmp`` key per message, an UPDATE has one route key per prefix, an OPEN
one ``bgp.cap`` per capability). ``json.load`` would silently keep only the
last one, so this reader parses with an ``object_pairs_hook`` that keeps every
pair, in order (``Node``).

A BMP message that spans TCP segments appears once, in the frame that
completes it (tshark reassembles; that frame has a ``tcp.segments`` layer), so
walking the frames in order and their ``bmp`` layers in order yields the BMP
messages in stream order.

Only what the golden tests compare is extracted: type and length of every
message, the per-peer header, the announced and withdrawn routes of Route
Monitoring (classic NLRI/withdrawn and MP_REACH/MP_UNREACH; a route with a
``bgp.nlri_path_id`` child is one tshark decided carries an ADD-PATH path ID),
Peer Up ports and OPEN summaries, Peer Down reasons and Stats type codes.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Node(list[tuple[str, Any]]):
    """A JSON object as its ordered list of (key, value) pairs, duplicates kept."""

    def all(self, key: str) -> list[Any]:
        return [v for k, v in self if k == key]

    def first(self, key: str, default: Any = None) -> Any:
        for k, v in self:
            if k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self)


def load_json(path: str | Path) -> list[Node]:
    """The frames of a tshark JSON file (``.json`` or ``.json.gz``), duplicates kept."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        frames = json.load(fh, object_pairs_hook=Node)
    if not isinstance(frames, list):
        raise ValueError(f"{path}: expected a JSON array of frames")
    return frames


@dataclass(frozen=True, slots=True)
class Peer:
    """The per-peer header fields the tests compare."""

    type: int
    flags: int
    distinguisher: bytes
    address: str
    asn: int
    bgp_id: str

    @property
    def view(self) -> str:
        """Same naming as ``PerPeerHeader.view``, computed here independently."""
        if self.type == 3:
            return "loc_rib"
        side = "adj_out" if self.flags & 0x10 else "adj_in"
        return f"{side}_post" if self.flags & 0x40 else f"{side}_pre"

    @property
    def key(self) -> tuple[int, bytes, str]:
        return (self.type, self.distinguisher, self.address)


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    path_id: int | None


@dataclass(frozen=True, slots=True)
class OpenSummary:
    my_as: int
    hold_time: int
    bgp_id: str
    #: Capability codes in wire order.
    capability_codes: tuple[int, ...]


@dataclass(slots=True)
class Message:
    """One BMP message as tshark decoded it."""

    #: Index of the TCP frame (in the JSON array) that completed this message.
    frame: int
    type: int
    length: int
    peer: Peer | None = None
    announced: list[Route] = field(default_factory=list)
    withdrawn: list[Route] = field(default_factory=list)
    #: BGP message types carried (UPDATE for RM, two OPENs for Peer Up, ...).
    bgp_types: list[int] = field(default_factory=list)
    opens: list[OpenSummary] = field(default_factory=list)
    local_address: str | None = None
    local_port: int | None = None
    remote_port: int | None = None
    peer_down_reason: int | None = None
    stat_types: list[int] = field(default_factory=list)
    info: list[tuple[int, str]] = field(default_factory=list)


def _address(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _prefix(addr: str, length: str) -> str:
    return f"{_address(addr)}/{int(length)}"


def _hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _routes(container: Node) -> list[Route]:
    """Route entries of an ``nlri``/``withdrawn_routes``/``mp_(un)reach_nlri`` node.

    Each route is a child object (keyed by tshark's display text, e.g.
    ``198.51.100.192/26 PathId 7 :``) holding ``bgp.prefix_length``, one
    ``*_prefix`` field with the address and, when tshark decided so, a
    ``bgp.nlri_path_id``.
    """
    out: list[Route] = []
    for _key, value in container:
        if not isinstance(value, Node) or not value.has("bgp.prefix_length"):
            continue
        addr = next(v for k, v in value if k.endswith("_prefix") and k != "bgp.prefix_length")
        path_id = value.first("bgp.nlri_path_id")
        out.append(
            Route(
                _prefix(addr, value.first("bgp.prefix_length")),
                None if path_id is None else int(path_id),
            )
        )
    return out


def _peer(header: Node) -> Peer:
    addr = header.first("bmp.peer.ip.addr")
    if addr is None:
        addr = header.first("bmp.peer.ipv6.addr")
    return Peer(
        type=int(header.first("bmp.peer.type")),
        flags=int(header.first("bmp.peer.flags"), 16),
        distinguisher=_hexbytes(header.first("bmp.peer.distinguisher")),
        address=_address(addr),
        asn=int(header.first("bmp.peer.asn")),
        bgp_id=_address(header.first("bmp.peer.id")),
    )


def _open(bgp: Node) -> OpenSummary:
    codes: list[int] = []
    opt = bgp.first("bgp.open.opt")
    if isinstance(opt, Node):
        for param in opt.all("bgp.open.opt.param"):
            codes.extend(int(cap.first("bgp.cap.type")) for cap in param.all("bgp.cap"))
    return OpenSummary(
        my_as=int(bgp.first("bgp.open.myas")),
        hold_time=int(bgp.first("bgp.open.holdtime")),
        bgp_id=_address(bgp.first("bgp.open.identifier")),
        capability_codes=tuple(codes),
    )


def _update(msg: Message, bgp: Node) -> None:
    withdrawn = bgp.first("bgp.update.withdrawn_routes")
    if isinstance(withdrawn, Node):
        msg.withdrawn.extend(_routes(withdrawn))
    nlri = bgp.all("bgp.update.nlri")
    attrs = bgp.first("bgp.update.path_attributes")
    mp_reach: list[Route] = []
    mp_unreach: list[Route] = []
    if isinstance(attrs, Node):
        for attr in attrs.all("bgp.update.path_attribute"):
            reach = attr.first("bgp.update.path_attribute.mp_reach_nlri")
            if isinstance(reach, Node):
                mp_reach.extend(_routes(reach))
            unreach = attr.first("bgp.update.path_attribute.mp_unreach_nlri")
            if isinstance(unreach, Node):
                mp_unreach.extend(_routes(unreach))
    for node in nlri:
        msg.announced.extend(_routes(node))
    # Same order as the decoder's Update: classic first, then MP.
    msg.announced.extend(mp_reach)
    msg.withdrawn.extend(mp_unreach)


def _message(frame: int, bmp: Node) -> Message:
    msg = Message(frame=frame, type=int(bmp.first("bmp.type")), length=int(bmp.first("bmp.length")))
    header = bmp.first("bmp.peer.header")
    if isinstance(header, Node):
        msg.peer = _peer(header)
    for bgp in bmp.all("bgp"):
        btype = int(bgp.first("bgp.type"))
        msg.bgp_types.append(btype)
        if btype == 2:
            _update(msg, bgp)
        elif btype == 1:
            msg.opens.append(_open(bgp))
    local = bmp.first("bmp.peer.up.ip.addr") or bmp.first("bmp.peer.up.ipv6.addr")
    if local is not None:
        msg.local_address = _address(local)
    if bmp.has("bmp.peer.up.port.local"):
        msg.local_port = int(bmp.first("bmp.peer.up.port.local"))
        msg.remote_port = int(bmp.first("bmp.peer.up.port.remote"))
    if bmp.has("bmp.peer.down.reason"):
        msg.peer_down_reason = int(bmp.first("bmp.peer.down.reason"))
    msg.stat_types = [int(t) for t in bmp.all("bmp.stats.type")]
    for types in bmp.all("bmp.init.types"):
        tlv_types = [int(t) for t in types.all("bmp.init.type")]
        values = [tree.first("bmp.init.info") for tree in types.all("bmp.init.type_tree")]
        msg.info.extend(zip(tlv_types, values, strict=True))
    return msg


def load_messages(path: str | Path) -> list[Message]:
    """Every BMP message of a tshark JSON decode, in stream order."""
    out: list[Message] = []
    for index, frame in enumerate(load_json(path)):
        layers = frame.first("_source").first("layers")
        out.extend(_message(index, bmp) for bmp in layers.all("bmp"))
    return out
