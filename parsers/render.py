"""The parsers' dataclasses as JSON-ready dicts (the ``bmp-agent decode`` schema).

Pure functions, sans-IO: every function takes a decoded value and returns
plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` values that
``json.dumps`` accepts as they are. The schema is documented in
``docs/decode-schema.md``; keep the two in step.

Conventions: names are lower-case snake_case strings (``"ipv4"``, ``"igp"``,
``"adj_in_post"``), raw bytes are lower-case hex strings, addresses are text,
path attributes that the UPDATE does not carry are left out (not ``null``).
"""

from __future__ import annotations

from typing import Any, get_args

from .afi import Safi, afi_name, safi_name
from .bgp import messages as bgp
from .bgp.attributes import (
    AS_TRANS,
    ORIGIN_NAMES,
    Aggregator,
    AsPathSegment,
    PathAttributes,
    format_community,
    format_extended_community,
)
from .bgp.nlri import NlriSet, describe
from .bmp import messages as bmp
from .bmp.session import Decoded, DecodeFailed, Event
from .bmp.stat_types import stat_name
from .codes import name_of
from .errors import ParseError

JsonDict = dict[str, Any]

#: The ``type`` string of each message dataclass: the name of its ``TYPE`` code
#: (``UnknownBmpMessage`` has no ``TYPE``: it carries the code it was sent with).
TYPE_NAMES: dict[type, str] = {
    cls: "unknown" if cls is bmp.UnknownBmpMessage else bmp.MESSAGE_TYPE_NAMES[cls.TYPE]
    for cls in get_args(bmp.BmpMessage)
}

ADD_PATH_MODE_NAMES = {
    bgp.ADD_PATH_RECEIVE: "receive",
    bgp.ADD_PATH_SEND: "send",
    bgp.ADD_PATH_BOTH: "both",
}

#: SAFIs whose routes carry an MPLS label stack (rendered as ``labels``).
LABELED_SAFIS = frozenset({Safi.LABELED_UNICAST, Safi.VPN})


def _attrs(obj: object, *names: str) -> JsonDict:
    """``{name: obj.name}`` for each name, in order: the keys that are the
    value's own fields (or properties) under the same name."""
    return {name: getattr(obj, name) for name in names}


def message_type_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    return bmp.MESSAGE_TYPE_NAMES.get(code, "unknown")


# --------------------------------------------------------------------------- events


def render_event(event: Event, *, file: str | None = None) -> JsonDict | None:
    """One JSON Lines object for a ``BmpSession`` event.

    A ``Decoded`` event renders its message. A ``DecodeFailed`` renders the
    partial message the error carries (TREAT_AS_WITHDRAW: the Route Monitoring
    with its announcements moved to the withdrawals) with an ``error`` key, and
    ``None`` when there is nothing to show (the message is skipped).
    """
    if isinstance(event, Decoded):
        out = render_message(event.message, offset=event.offset, size=event.size)
    else:
        partial = event.error.partial
        if not isinstance(partial, bmp.BmpMessage):
            return None
        out = render_message(partial, offset=event.offset, size=event.size)
        out["error"] = render_error(event.error)
    if file is not None:
        out = {"file": file, **out}
    return out


def render_failure(event: DecodeFailed) -> JsonDict:
    """A skipped message as an object (for logs; ``decode`` prints it on stderr)."""
    return {
        "type": message_type_name(event.msg_type),
        "type_code": event.msg_type,
        **_attrs(event, "offset", "size"),
        "error": render_error(event.error),
    }


def render_error(err: ParseError) -> JsonDict:
    return {**_attrs(err, "kind", "message", "offset"), "action": err.action.value}


# --------------------------------------------------------------------------- BMP messages


def render_message(
    msg: bmp.BmpMessage, *, offset: int | None = None, size: int | None = None
) -> JsonDict:
    """A BMP message: ``type``, ``type_code``, ``offset``, ``size``, then the type's keys."""
    code = msg.type if isinstance(msg, bmp.UnknownBmpMessage) else int(msg.TYPE)
    out: JsonDict = {"type": TYPE_NAMES[type(msg)], "type_code": code}
    if offset is not None:
        out["offset"] = offset
    if size is not None:
        out["size"] = size
    if isinstance(msg, bmp.PeerMessage):
        out["peer"] = render_peer(msg.peer)
        out["view"] = msg.peer.view
    if isinstance(msg, bmp.RouteMonitoring):
        out["update"] = render_update(msg.update)
        if msg.path_status:
            marks = msg.path_status
            for route, mark in zip(out["update"]["announced"], marks, strict=False):
                route["path_status"] = render_path_status(mark)
        if msg.tlvs:
            out["tlvs"] = [render_tlv(t) for t in msg.tlvs if t.type != bmp.TLV_TRAILING_BYTES]
            if msg.trailing:
                out["trailing"] = msg.trailing.hex()
    elif isinstance(msg, bmp.PeerUp):
        out.update(render_peer_up(msg))
    elif isinstance(msg, bmp.PeerDown):
        out.update(render_peer_down(msg))
    elif isinstance(msg, bmp.StatisticsReport):
        out["stats"] = [render_stat(s) for s in msg.stats]
    elif isinstance(msg, bmp.Initiation):
        out["information"] = render_information(msg.information)
    elif isinstance(msg, bmp.Termination):
        out["information"] = render_information(msg.information)
        out["reason"] = msg.reason_name
        out["reason_code"] = msg.reason
    elif isinstance(msg, bmp.RouteMirroring):
        out["entries"] = [render_mirror_tlv(e) for e in msg.entries]
    elif isinstance(msg, bmp.UnknownBmpMessage):
        out["body"] = msg.body.hex()
    return out


def render_peer(peer: bmp.PerPeerHeader) -> JsonDict:
    return {
        "type": peer.peer_type_name,
        **_attrs(peer, "rd", "address", "asn", "bgp_id"),
        "flags": peer.flag_dict(),
        **_attrs(peer, "timestamp", "view"),
    }


def render_information(tlvs: tuple[bmp.InformationTlv, ...]) -> dict[str, str | list[str]]:
    return bmp.information_dict(tlvs)


def render_peer_up(msg: bmp.PeerUp) -> JsonDict:
    return {
        **_attrs(msg, "local_address", "local_port", "remote_port"),
        "sent_open": render_open(msg.sent_open),
        "received_open": render_open(msg.received_open),
        "information": render_information(msg.information),
    }


def render_peer_down(msg: bmp.PeerDown) -> JsonDict:
    out: JsonDict = {"reason": msg.reason_name, "reason_code": msg.reason}
    if msg.notification is not None:
        out["notification"] = render_notification(msg.notification)
    if msg.fsm_event is not None:
        out["fsm_event"] = msg.fsm_event
        out["fsm_event_name"] = msg.fsm_event_name
    if msg.data:
        out["data"] = msg.data.hex()
    if msg.tlvs:
        out["tlvs"] = [render_tlv(t) for t in msg.tlvs]
    return out


def render_tlv(tlv: bmp.BmpTlv) -> JsonDict:
    """A message TLV: ``type``, ``name``, ``index`` (Route Monitoring TLVs),
    ``pen`` (E bit), then the decoded value or ``hex``."""
    out: JsonDict = {"type": tlv.type, "name": tlv.name}
    if tlv.index is not None:
        out["index"] = tlv.index
        if tlv.index & bmp.TLV_G_BIT:
            out["group"] = tlv.index & ~bmp.TLV_G_BIT
    if tlv.pen is not None:
        out["pen"] = tlv.pen
    value = tlv.value
    if tlv.pen is None and tlv.index is not None and tlv.type == bmp.RM_TLV_PATH_MARKING:
        status = bmp.path_status_of(value)
        if status is not None:
            out["path_status"] = render_path_status(status)
    elif tlv.pen is None and tlv.index is not None and tlv.type == bmp.RM_TLV_GROUP:
        out["members"] = [
            int.from_bytes(value[i : i + 2], "big") for i in range(0, len(value) - 1, 2)
        ]
    elif tlv.pen is None and tlv.type == bmp.INFO_VRF_TABLE_NAME and tlv.known:
        # The same code (3) in both registries: VRF/Table Name.
        out["text"] = value.decode("utf-8", "replace")
    elif (
        tlv.pen is None
        and tlv.index is None
        and tlv.type in (bmp.INFO_STRING, bmp.INFO_ADMIN_LABEL)
    ):
        out["text"] = value.decode("utf-8", "replace")
    out["hex"] = value.hex()
    return out


def render_path_status(status: bmp.PathStatus | None) -> JsonDict | None:
    """A path marking: ``status`` names, ``status_code``, ``reason``, ``reason_code``."""
    if status is None:
        return None
    return {
        "status": list(status.names),
        "status_code": status.status,
        "reason": status.reason_name,
        "reason_code": status.reason,
    }


def render_stat(entry: bmp.StatEntry) -> JsonDict:
    out: JsonDict = {
        "type": entry.type,
        "name": stat_name(entry.type),
        "value": entry.value,
        "afi": None if entry.afi is None else afi_name(entry.afi),
        "safi": None if entry.safi is None else safi_name(entry.safi),
    }
    if entry.value is None:
        out["raw"] = entry.raw.hex()
    return out


def render_mirror_tlv(entry: bmp.MirrorTlv) -> JsonDict:
    out: JsonDict = {"type": entry.type}
    if entry.type == bmp.MIRROR_BGP_MESSAGE:
        out["name"] = "bgp_message"
        out["message"] = None if entry.message is None else render_bgp_message(entry.message)
    else:
        out["name"] = "information" if entry.code is not None else f"type_{entry.type}"
        out["code"] = entry.code
        out["code_name"] = entry.code_name
    out["raw"] = entry.raw.hex()
    return out


# --------------------------------------------------------------------------- BGP messages


def render_bgp_message(msg: bgp.BgpMessage) -> JsonDict:
    """A whole BGP message (Route Mirroring): ``bgp_type`` plus the message's keys."""
    if isinstance(msg, bgp.Update):
        return {"bgp_type": "update", **render_update(msg)}
    if isinstance(msg, bgp.OpenMessage):
        return {"bgp_type": "open", **render_open(msg)}
    if isinstance(msg, bgp.Notification):
        return {"bgp_type": "notification", **render_notification(msg)}
    if isinstance(msg, bgp.Keepalive):
        return {"bgp_type": "keepalive"}
    if isinstance(msg, bgp.RouteRefresh):
        return {
            "bgp_type": "route_refresh",
            "afi": afi_name(msg.afi),
            "safi": safi_name(msg.safi),
            "subtype": msg.subtype,
        }
    assert isinstance(msg, bgp.UnknownBgpMessage)
    return {"bgp_type": f"type_{msg.type}", "type_code": msg.type, "body": msg.body.hex()}


def render_open(msg: bgp.OpenMessage) -> JsonDict:
    return {
        **_attrs(msg, "version", "my_as", "asn", "hold_time", "bgp_id"),
        "capabilities": [render_capability(c) for c in msg.capabilities],
        "other_parameters": [{"type": t, "value": v.hex()} for t, v in msg.other_parameters],
    }


def _family(afi: int, safi: int) -> JsonDict:
    return {"afi": afi_name(afi), "safi": safi_name(safi)}


def render_capability(cap: bgp.Capability) -> JsonDict:
    out: JsonDict = {"code": cap.code, "name": cap.name}
    if isinstance(cap, bgp.MultiprotocolCapability):
        out.update(_family(cap.afi, cap.safi))
    elif isinstance(cap, bgp.AddPathCapability):
        out["families"] = [
            {**_family(a, s), "send_receive": name_of(ADD_PATH_MODE_NAMES, m, "mode")}
            for a, s, m in cap.families
        ]
    elif isinstance(cap, bgp.FourOctetAsCapability):
        out["asn"] = cap.asn
    elif isinstance(cap, bgp.GracefulRestartCapability):
        out.update(_attrs(cap, "restart_flags", "restart_time"))
        out["families"] = [{**_family(a, s), "flags": f} for a, s, f in cap.families]
    elif isinstance(cap, bgp.ExtendedNextHopCapability):
        out["entries"] = [{**_family(a, s), "next_hop_afi": afi_name(n)} for a, s, n in cap.entries]
    elif isinstance(cap, bgp.LlgrCapability):
        out["families"] = [
            {**_family(a, s), "flags": f, "stale_time": t} for a, s, f, t in cap.families
        ]
    elif isinstance(cap, bgp.FqdnCapability):
        out.update(_attrs(cap, "hostname", "domain"))
    elif isinstance(cap, bgp.RoleCapability):
        out["role"] = name_of(bgp.ROLE_NAMES, cap.role, "role")
        out["role_code"] = cap.role
    elif cap.value:
        out["value"] = cap.value.hex()
    return out


def render_notification(msg: bgp.Notification) -> JsonDict:
    out: JsonDict = {
        **_attrs(msg, "code", "subcode", "code_name", "subcode_name"),
        "data": msg.data.hex(),
    }
    shutdown = msg.shutdown_message()
    if shutdown is not None:
        out["shutdown_message"] = shutdown
    return out


def render_update(update: bgp.Update) -> JsonDict:
    return {
        "announced": render_routes(update.announced),
        "withdrawn": render_routes(update.withdrawn),
        "attributes": {} if update.attributes is None else render_attributes(update.attributes),
        "end_of_rib": None if update.end_of_rib is None else _family(*update.end_of_rib),
    }


def render_routes(sets: tuple[NlriSet, ...]) -> list[JsonDict]:
    """Every route of the NLRI sets, flattened in order."""
    out: list[JsonDict] = []
    for nlri in sets:
        afi, safi = nlri.afi, nlri.safi
        fam_afi, fam_safi = afi_name(afi), safi_name(safi)
        path_ids = nlri.path_ids
        labels = nlri.labels
        for i, key in enumerate(nlri.prefixes):
            route: JsonDict = {
                "prefix": describe(afi, safi, key),
                "afi": fam_afi,
                "safi": fam_safi,
                "path_id": None if path_ids is None else path_ids[i],
            }
            if labels is not None:
                route["labels"] = list(labels[i])
            elif safi in LABELED_SAFIS:
                route["labels"] = []
            out.append(route)
    return out


def render_as_path(segments: tuple[AsPathSegment, ...]) -> list[JsonDict]:
    return [{"type": s.type_name, "asns": list(s.asns)} for s in segments]


def _aggregator(agg: Aggregator) -> JsonDict:
    return _attrs(agg, "asn", "address")


def render_attributes(attrs: PathAttributes) -> JsonDict:
    """Path attributes by readable name; attributes the UPDATE lacks are left out."""
    out: JsonDict = {}
    if attrs.origin is not None:
        out["origin"] = name_of(ORIGIN_NAMES, attrs.origin, "origin")
    as_path = attrs.effective_as_path
    if as_path is not None:
        out["as_path"] = render_as_path(as_path)
    if attrs.as4_path is not None:
        out["as4_path"] = render_as_path(attrs.as4_path)
    next_hop = attrs.effective_next_hop
    if next_hop is not None:
        out["next_hop"] = next_hop
    if attrs.mp_next_hop:
        out["mp_next_hop"] = list(attrs.mp_next_hop)
    if attrs.med is not None:
        out["med"] = attrs.med
    if attrs.local_pref is not None:
        out["local_pref"] = attrs.local_pref
    if attrs.atomic_aggregate:
        out["atomic_aggregate"] = True
    aggregator = attrs.aggregator
    # RFC 6793 §4.2.3: AS4_AGGREGATOR counts only when AGGREGATOR holds AS_TRANS.
    if attrs.as4_aggregator is not None and (aggregator is None or aggregator.asn == AS_TRANS):
        aggregator = attrs.as4_aggregator
    if aggregator is not None:
        out["aggregator"] = _aggregator(aggregator)
    if attrs.communities:
        out["communities"] = [format_community(c) for c in attrs.communities]
    if attrs.large_communities:
        out["large_communities"] = [f"{a}:{b}:{c}" for a, b, c in attrs.large_communities]
    if attrs.extended_communities:
        out["extended_communities"] = [
            format_extended_community(e) for e in attrs.extended_communities
        ]
    if attrs.originator_id is not None:
        out["originator_id"] = attrs.originator_id
    if attrs.cluster_list:
        out["cluster_list"] = list(attrs.cluster_list)
    if attrs.otc is not None:
        out["otc"] = attrs.otc
    if attrs.unknown:
        out["unknown"] = [
            {"type": u.type, "flags": u.flags, "hex": u.value.hex()} for u in attrs.unknown
        ]
    if attrs.discarded:
        out["discarded"] = list(attrs.discarded)
    return out
