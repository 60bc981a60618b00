"""A lean rtnetlink reader: route and nexthop dumps and notifications.

Why a plain ``socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)`` with ``struct``
parsing instead of pyroute2's message classes: pyroute2 builds a full
``nlmsg`` object tree per route (every attribute decoded, a dict per
message), which the issue measured at 8-14k routes/s and ~3.8 KB per route.
A full table is 1M routes. Here a route costs one ``struct`` unpack of the
fixed headers, a walk over its attributes that keeps only the few we use
(RTA_TABLE, RTA_DST, RTA_PRIORITY, RTA_GATEWAY, RTA_VIA, RTA_OIF,
RTA_MULTIPATH, RTA_NH_ID), and a dict store of an interned value, which is
what reaches the ``bench/kernel.py`` targets. Routes of protocols or tables
we do not watch are skipped after the 28-byte header. pyroute2 is still the
project's netlink dependency (other code may use it); this module needs only
the standard library, so it is also importable where pyroute2 is not.

Reading netlink needs no capability: an unprivileged process can dump routes
and join the route and nexthop multicast groups (only ``SO_RCVBUFFORCE``
needs CAP_NET_ADMIN; we fall back to ``SO_RCVBUF``).

Everything here is synchronous and sans-asyncio: ``dump_*`` run in a worker
thread, the subscription socket is non-blocking and read from the event loop
(``agent.fib.reconciler``).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parsers.afi import format_address

# --- constants (linux/netlink.h, linux/rtnetlink.h, linux/nexthop.h) --------

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_GET_STRICT_CHK = 12

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300

RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEXTHOP = 104
RTM_DELNEXTHOP = 105
RTM_GETNEXTHOP = 106

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_VIA = 18
RTA_NH_ID = 30

NHA_ID = 1
NHA_GROUP = 2
NHA_BLACKHOLE = 4
NHA_OIF = 5
NHA_GATEWAY = 6

RTM_F_CLONED = 0x200

RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV6_ROUTE = 11
RTNLGRP_NEXTHOP = 32

#: Route protocol numbers (``/etc/iproute2/rt_protos``) we name in metrics.
PROTO_NAMES = {
    2: "kernel",
    3: "boot",
    4: "static",
    11: "zebra",
    12: "bird",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
}
PROTO_NUMBERS = {v: k for k, v in PROTO_NAMES.items()}

TABLE_NAMES = {253: "default", 254: "main", 255: "local"}
TABLE_NUMBERS = {v: k for k, v in TABLE_NAMES.items()}

#: AF_INET / AF_INET6 → BGP AFI (1 / 2), the project's ``afi`` label.
FAMILY_AFI = {socket.AF_INET: 1, socket.AF_INET6: 2}
AFI_FAMILY = {1: socket.AF_INET, 2: socket.AF_INET6}

_NLH = struct.Struct("=IHHII")
_RTM = struct.Struct("=BBBBBBBBI")
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_RTNH = struct.Struct("=HBBi")
_NHM = struct.Struct("=BBBBI")
_NHGRP = struct.Struct("=IBBH")

RECV_SIZE = 1 << 20

#: (gateway address bytes, b"" for none; output interface index, 0 for none)
Nexthop = tuple[bytes, int]
#: (protocol, priority/metric, inline next hops sorted, nexthop object id or 0)
Entry = tuple[int, int, tuple[Nexthop, ...], int]


class NetlinkError(OSError):
    """A netlink request failed or the stream cannot be trusted (ENOBUFS, DUMP_INTR)."""


def _named_number(
    name: str | int, numbers: Mapping[str, int], valid: Callable[[int], bool], error: str
) -> int:
    """``name`` itself when an int; else its number in ``numbers`` (case and
    surrounding blanks ignored) or a decimal number that is ``valid``;
    otherwise ``ValueError("<name!r> <error>")``."""
    if isinstance(name, int):
        return name
    text = name.strip().lower()
    if text in numbers:
        return numbers[text]
    if not text.isdigit() or not valid(int(text)):
        raise ValueError(f"{name!r} {error}")
    return int(text)


def table_id(name: str | int) -> int:
    """``main``/``local``/``default`` or a number (1 to 2**32-1)."""
    return _named_number(
        name,
        TABLE_NUMBERS,
        lambda n: 0 < n < 2**32,
        "is not a routing table (main, local, default or 1-4294967295)",
    )


def table_name(table: int) -> str:
    return TABLE_NAMES.get(table, str(table))


def proto_id(name: str | int) -> int:
    """A protocol name from ``rt_protos`` (bgp, bird, zebra, ...) or a number 0-255."""
    return _named_number(
        name,
        PROTO_NUMBERS,
        lambda n: 0 <= n <= 255,
        "is not a route protocol (a name like bgp or a number 0-255)",
    )


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, str(proto))


def prefix_key(dst_len: int, dst: bytes) -> bytes:
    """The BGP NLRI wire form of a prefix (``<length><ceil(length/8) octets>``), the RIB's key."""
    return bytes((dst_len,)) + dst[: (dst_len + 7) >> 3]


# --- kernel state ------------------------------------------------------------


@dataclass(slots=True)
class KernelState:
    """Routes of the watched protocols in the watched tables, plus nexthop objects.

    ``routes[(afi, table)][prefix key] = Entry``; ``Entry`` values are interned
    (a full table shares a handful). When two watched routes share a prefix in
    one table with different metrics, the lowest metric is in ``routes`` and the
    others wait in ``shadow``, so deleting one is exact.
    """

    protocols: frozenset[int]
    #: None: every table
    tables: frozenset[int] | None
    routes: dict[tuple[int, int], dict[bytes, Entry]] = field(default_factory=dict)
    shadow: dict[tuple[int, int, bytes, int], Entry] = field(default_factory=dict)
    #: nexthop object id → (next hops of a plain object, member ids of a group)
    nh_objects: dict[int, tuple[tuple[Nexthop, ...], tuple[int, ...]]] = field(default_factory=dict)
    interned: dict[Entry, Entry] = field(default_factory=dict)
    #: route events applied (dump included)
    events: int = 0
    #: (afi, table, proto) → routes, kept up to date by every change once set
    #: (``track_counts``), so a scrape reads it without a walk
    proto_counts: dict[tuple[int, int, int], int] | None = None
    #: nexthop object ids added, changed or deleted since the owner last looked
    nh_changed: set[int] = field(default_factory=set)
    #: interface index → name (``link_names``, pyroute2), filled on a resync
    links: dict[int, str] = field(default_factory=dict)
    #: Called for every route a notification changes (not for dumps):
    #: ``(afi, table, prefix key, old entry, new entry)`` (None: no route).
    #: None (the default) costs one test per route.
    on_route: Callable[[int, int, bytes, Entry | None, Entry | None], None] | None = None

    def track_counts(self) -> None:
        """Count routes per (afi, table, proto) from now on (one walk here)."""
        self.proto_counts = self.counts()

    def _count(self, afi: int, table: int, proto: int, delta: int) -> None:
        pc = self.proto_counts
        if pc is not None:
            k = (afi, table, proto)
            n = pc.get(k, 0) + delta
            if n:
                pc[k] = n
            else:
                pc.pop(k, None)

    def table(self, afi: int, table: int) -> dict[bytes, Entry]:
        t = self.routes.get((afi, table))
        if t is None:
            t = self.routes[(afi, table)] = {}
        return t

    def route_count(self) -> int:
        return sum(len(t) for t in self.routes.values()) + len(self.shadow)

    def counts(self) -> dict[tuple[int, int, int], int]:
        """(afi, table, proto) → routes (a walk; for scrapes, ``Reconciler`` caches it)."""
        out: dict[tuple[int, int, int], int] = {}
        for (afi, table), routes in self.routes.items():
            for entry in routes.values():
                k = (afi, table, entry[0])
                out[k] = out.get(k, 0) + 1
        for (afi, table, _p, _prio), entry in self.shadow.items():
            k = (afi, table, entry[0])
            out[k] = out.get(k, 0) + 1
        return out

    def resolve(self, entry: Entry) -> tuple[Nexthop, ...]:
        """The next hops of a route: its nexthop object's (groups flattened) or its own."""
        nhid = entry[3]
        if nhid:
            obj = self.nh_objects.get(nhid)
            if obj is not None:
                hops, members = obj
                if not members:
                    return hops
                out: list[Nexthop] = []
                for m in members:
                    sub = self.nh_objects.get(m)
                    if sub is not None:
                        out.extend(sub[0])
                return tuple(sorted(set(out)))
        return entry[2]

    def hop_texts(self, entry: Entry, link_name: Callable[[int], str] | None = None) -> list[str]:
        """``"<gateway> dev <interface>"`` per next hop of ``entry`` (either part
        alone when the hop has only one); the interface named by ``link_name``,
        by default ``links`` (its index when unknown)."""
        out = []
        for gw, oif in self.resolve(entry):
            text = format_address(gw) if gw else ""
            if oif:
                name = link_name(oif) if link_name is not None else self.links.get(oif, str(oif))
                text = f"{text} dev {name}".strip()
            out.append(text)
        return out

    def add(self, afi: int, table: int, key: bytes, entry: Entry) -> None:
        entry = self.interned.setdefault(entry, entry)
        routes = self.table(afi, table)
        old = routes.get(key)
        if old is None or old[1] == entry[1]:
            routes[key] = entry
            if self.proto_counts is not None:
                if old is not None:
                    self._count(afi, table, old[0], -1)
                self._count(afi, table, entry[0], 1)
            return
        if entry[1] < old[1]:
            routes[key] = entry
            sk = (afi, table, key, old[1])
        else:
            sk = (afi, table, key, entry[1])
        prev = self.shadow.get(sk)
        self.shadow[sk] = old if entry[1] < old[1] else entry
        if self.proto_counts is not None:
            self._count(afi, table, entry[0], 1)
            if prev is not None:
                self._count(afi, table, prev[0], -1)

    def delete(self, afi: int, table: int, key: bytes, priority: int) -> None:
        routes = self.routes.get((afi, table))
        if routes is None:
            return
        old = routes.get(key)
        if old is not None and old[1] == priority:
            del routes[key]
            self._count(afi, table, old[0], -1)
            if self.shadow:
                best: tuple[int, int, bytes, int] | None = None
                for sk in self.shadow:
                    if (
                        sk[0] == afi
                        and sk[1] == table
                        and sk[2] == key
                        and (best is None or sk[3] < best[3])
                    ):
                        best = sk
                if best is not None:
                    routes[key] = self.shadow.pop(best)
            return
        gone = self.shadow.pop((afi, table, key, priority), None)
        if gone is not None:
            self._count(afi, table, gone[0], -1)


# --- decoding ----------------------------------------------------------------


def _nexthops_multipath(buf: bytes, off: int, end: int) -> list[Nexthop]:
    out: list[Nexthop] = []
    unpack_rtnh = _RTNH.unpack_from
    unpack_attr = _ATTR.unpack_from
    while off + 8 <= end:
        rlen, _flags, _hops, ifindex = unpack_rtnh(buf, off)
        if rlen < 8:
            break
        gw = b""
        a = off + 8
        rend = min(off + rlen, end)
        while a + 4 <= rend:
            alen, atype = unpack_attr(buf, a)
            if alen < 4 or a + alen > rend:
                break
            if atype == RTA_GATEWAY:
                gw = buf[a + 4 : a + alen]
            elif atype == RTA_VIA and alen >= 6:
                gw = buf[a + 6 : a + alen]
            a += (alen + 3) & ~3
        out.append((gw, ifindex))
        off += (rlen + 3) & ~3
    return out


class _Layout:
    """A learned fixed attribute layout of route messages of one length.

    The kernel writes the attributes of a route in a fixed order, so all the
    routes of one family and shape (e.g. IPv4 via a gateway: TABLE, DST,
    PRIORITY, GATEWAY, OIF) have the same length and layout. After the first
    such message is walked attribute by attribute, the next ones are decoded
    with one precompiled ``struct`` unpack, checked against the learned
    attribute lengths and types (any difference → the generic walk).
    """

    __slots__ = ("dst", "gw", "lens", "nhid", "oif", "prio", "struct", "table", "types", "via")

    def __init__(self, attrs: list[tuple[int, int]]) -> None:
        fmt = ["=IHHIIBBBBBBBBI"]
        idx: dict[int, int] = {}
        for i, (alen, atype) in enumerate(attrs):
            pad = ((alen + 3) & ~3) - alen
            if atype in (RTA_TABLE, RTA_PRIORITY, RTA_OIF, RTA_NH_ID) and alen == 8:
                fmt.append("HHI")
            else:
                fmt.append(f"HH{alen - 4}s" + "x" * pad)
            if atype == RTA_VIA and alen < 6:
                continue  # no family and address: the walk ignores it too
            idx[atype] = 14 + 3 * i + 2  # the last one wins, as in the walk
        self.struct = struct.Struct("".join(fmt))
        self.lens = tuple(a for a, _ in attrs)
        self.types = tuple(t for _, t in attrs)
        self.dst = idx.get(RTA_DST, -1)
        self.table = idx.get(RTA_TABLE, -1)
        self.prio = idx.get(RTA_PRIORITY, -1)
        self.gw = idx.get(RTA_GATEWAY, -1)
        self.via = idx.get(RTA_VIA, -1)
        # Both set the gateway in the walk: the later attribute wins there too.
        if self.gw >= 0 and self.via >= 0:
            if self.gw < self.via:
                self.gw = -1
            else:
                self.via = -1
        self.oif = idx.get(RTA_OIF, -1)
        self.nhid = idx.get(RTA_NH_ID, -1)


_LAYOUTS: dict[int, _Layout] = {}
#: Route attributes whose value is a u32.
_U32_ATTRS = frozenset({RTA_TABLE, RTA_PRIORITY, RTA_OIF, RTA_NH_ID})
_LAYOUT_MAX = 256


def apply_routes(
    state: KernelState,
    buf: bytes,
    *,
    dump_seq: int | None = None,
    changed: list[tuple[int, int, bytes]] | None = None,
) -> int:
    """Apply every RTM_NEWROUTE/RTM_DELROUTE in ``buf`` (one recv) to ``state``.

    ``changed`` (notifications, not dumps) gets (afi, table, prefix key) of
    every route applied. Returns 1 when an NLMSG_DONE for ``dump_seq`` ends
    the buffer, else 0.
    Raises ``NetlinkError`` for NLMSG_ERROR, overruns and interrupted dumps.
    """
    protocols = state.protocols
    tables = state.tables
    unpack_nlh = _NLH.unpack_from
    unpack_rtm = _RTM.unpack_from
    unpack_attr = _ATTR.unpack_from
    unpack_u32 = _U32.unpack_from
    interned = state.interned
    routes_by_table = state.routes
    layouts = _LAYOUTS
    on_route = state.on_route if changed is not None else None
    done = 0
    off = 0
    n = len(buf)
    applied = 0
    while off + 16 <= n:
        mlen, mtype, mflags, _seq, _pid = unpack_nlh(buf, off)
        if mlen < 16:
            break
        end = off + mlen
        if end > n:
            raise NetlinkError(
                errno.EPROTO,
                f"netlink message at offset {off} is {mlen} bytes, only {n - off} received",
            )
        if mtype in (RTM_NEWROUTE, RTM_DELROUTE) and mlen < 28:
            raise NetlinkError(
                errno.EPROTO, f"route message at offset {off} is {mlen} bytes, shorter than 28"
            )
        if mtype in (RTM_NEWROUTE, RTM_DELROUTE):
            family, dst_len, _src_len, _tos, rtable, proto, _scope, _rtype, rflags = unpack_rtm(
                buf, off + 16
            )
            if proto in protocols and family in (2, 10) and not rflags & RTM_F_CLONED:
                multi: list[Nexthop] | None = None
                lay = layouts.get(mlen)
                vals: tuple[Any, ...] | None = None
                if lay is not None and end <= n:
                    vals = lay.struct.unpack_from(buf, off)
                    if vals[15::3] != lay.types or vals[14::3] != lay.lens:
                        vals = None
                if vals is not None and lay is not None:
                    dst = vals[lay.dst] if lay.dst >= 0 else b""
                    table = vals[lay.table] if lay.table >= 0 else rtable
                    prio = vals[lay.prio] if lay.prio >= 0 else 0
                    if lay.gw >= 0:
                        gw = vals[lay.gw]
                    elif lay.via >= 0:
                        gw = vals[lay.via][2:]
                    else:
                        gw = b""
                    oif = vals[lay.oif] if lay.oif >= 0 else 0
                    nhid = vals[lay.nhid] if lay.nhid >= 0 else 0
                else:
                    dst = b""
                    gw = b""
                    #: the 4-byte attributes, by type
                    u32: dict[int, int] = {}
                    seen: list[tuple[int, int]] | None = [] if len(layouts) < _LAYOUT_MAX else None
                    a = off + 28
                    while a + 4 <= end:
                        alen, atype = unpack_attr(buf, a)
                        if alen < 4 or a + alen > end:
                            seen = None
                            break
                        if atype in _U32_ATTRS and alen != 8:
                            # not a 4-byte value: ignored (and no layout learned)
                            seen = None
                            a += (alen + 3) & ~3
                            continue
                        if seen is not None:
                            seen.append((alen, atype))
                        if atype in _U32_ATTRS:
                            u32[atype] = unpack_u32(buf, a + 4)[0]
                        elif atype == RTA_DST:
                            dst = buf[a + 4 : a + alen]
                        elif atype == RTA_GATEWAY:
                            gw = buf[a + 4 : a + alen]
                        elif atype == RTA_MULTIPATH:
                            multi = _nexthops_multipath(buf, a + 4, a + alen)
                            seen = None
                        elif atype == RTA_VIA and alen >= 6:
                            gw = buf[a + 6 : a + alen]
                        a += (alen + 3) & ~3
                    if seen is not None and a == end and mlen not in layouts:
                        layouts[mlen] = _Layout(seen)
                    table = u32.get(RTA_TABLE, rtable)
                    prio = u32.get(RTA_PRIORITY, 0)
                    oif = u32.get(RTA_OIF, 0)
                    nhid = u32.get(RTA_NH_ID, 0)
                if tables is None or table in tables:
                    afi = 1 if family == 2 else 2
                    key = bytes((dst_len,)) + dst[: (dst_len + 7) >> 3]
                    before: Entry | None = None
                    if on_route is not None:
                        t_routes = routes_by_table.get((afi, table))
                        before = t_routes.get(key) if t_routes is not None else None
                    if mtype == RTM_NEWROUTE:
                        if multi is not None:
                            hops = tuple(sorted(multi))
                        elif gw or oif:
                            hops = ((gw, oif),)
                        else:
                            hops = ()
                        entry: Entry = (proto, prio, hops, nhid)
                        got = interned.get(entry)
                        if got is None:
                            interned[entry] = got = entry
                        routes = routes_by_table.get((afi, table))
                        if routes is None:
                            routes = routes_by_table[(afi, table)] = {}
                        old = routes.get(key)
                        if old is None or old[1] == prio:
                            routes[key] = got
                            if state.proto_counts is not None:
                                if old is not None:
                                    state._count(afi, table, old[0], -1)
                                state._count(afi, table, proto, 1)
                        else:
                            state.add(afi, table, key, got)
                    else:
                        state.delete(afi, table, key, prio)
                    if on_route is not None:
                        t_routes = routes_by_table.get((afi, table))
                        after = t_routes.get(key) if t_routes is not None else None
                        if after is not before:
                            on_route(afi, table, key, before, after)
                    if changed is not None:
                        changed.append((afi, table, key))
                    applied += 1
        elif mtype in (RTM_NEWNEXTHOP, RTM_DELNEXTHOP):
            _apply_nexthop(state, buf, off, end, mtype)
        elif mtype == NLMSG_DONE:
            if mflags & NLM_F_DUMP_INTR:
                raise NetlinkError(errno.EINTR, "netlink dump interrupted (table changed)")
            done = 1
        elif mtype == NLMSG_ERROR:
            if mlen < 20:
                raise NetlinkError(errno.EPROTO, f"NLMSG_ERROR at offset {off} without a code")
            code = -struct.unpack_from("=i", buf, off + 16)[0]
            if code:
                try:
                    text = os.strerror(code)
                except (OverflowError, ValueError):  # not an errno (-INT_MIN, ...)
                    text = f"error code {code}"
                raise NetlinkError(code, f"netlink error: {text}")
        elif mtype == NLMSG_OVERRUN:
            raise NetlinkError(errno.ENOBUFS, "netlink overrun")
        if mflags & NLM_F_DUMP_INTR:
            raise NetlinkError(errno.EINTR, "netlink dump interrupted (table changed)")
        off += (mlen + 3) & ~3
    state.events += applied
    return done


def _apply_nexthop(state: KernelState, buf: bytes, off: int, end: int, mtype: int) -> None:
    a = off + 16 + _NHM.size
    nid = 0
    gw = b""
    oif = 0
    members: list[int] = []
    while a + 4 <= end:
        alen, atype = _ATTR.unpack_from(buf, a)
        if alen < 4 or a + alen > end:
            break
        if atype in (NHA_ID, NHA_OIF) and alen != 8:
            a += (alen + 3) & ~3
            continue
        if atype == NHA_ID:
            nid = _U32.unpack_from(buf, a + 4)[0]
        elif atype == NHA_GATEWAY:
            gw = buf[a + 4 : a + alen]
        elif atype == NHA_OIF:
            oif = _U32.unpack_from(buf, a + 4)[0]
        elif atype == NHA_GROUP:
            g = a + 4
            while g + 8 <= a + alen:
                members.append(_NHGRP.unpack_from(buf, g)[0])
                g += 8
        a += (alen + 3) & ~3
    if not nid:
        return
    state.nh_changed.add(nid)
    if mtype == RTM_DELNEXTHOP:
        state.nh_objects.pop(nid, None)
        return
    hops: tuple[Nexthop, ...] = ((gw, oif),) if (gw or oif) and not members else ()
    state.nh_objects[nid] = (hops, tuple(members))


# --- sockets -----------------------------------------------------------------


def open_socket(*, groups: Iterable[int] = (), rcvbuf: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket joined to ``groups`` (RTNLGRP_* numbers)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    try:
        if rcvbuf:
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((0, 0))
        for g in groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g)
    except BaseException:
        sock.close()
        raise
    return sock


def subscribe(rcvbuf: int = 0) -> socket.socket:
    """Non-blocking socket on the IPv4/IPv6 route groups and nexthop objects."""
    sock = open_socket(
        groups=(RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEXTHOP), rcvbuf=rcvbuf
    )
    sock.setblocking(False)
    return sock


def _request(msg_type: int, body: bytes, seq: int) -> bytes:
    return _NLH.pack(16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def _dump(sock: socket.socket, msg_type: int, body: bytes, seq: int, state: KernelState) -> None:
    sock.send(_request(msg_type, body, seq))
    recv = sock.recv
    while True:
        buf = recv(RECV_SIZE)
        if not buf:
            raise NetlinkError(errno.EIO, "netlink socket closed during dump")
        if apply_routes(state, buf, dump_seq=seq):
            return


def dump(
    protocols: Iterable[int],
    tables: Iterable[int] | None,
    *,
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
) -> KernelState:
    """A fresh ``KernelState``: nexthop objects, then the routes of each family.

    Raises ``NetlinkError`` when a dump is interrupted (the caller retries).
    """
    state = KernelState(frozenset(protocols), None if tables is None else frozenset(tables))
    with open_socket(rcvbuf=RECV_SIZE) as sock:
        try:
            _dump(sock, RTM_GETNEXTHOP, _NHM.pack(socket.AF_UNSPEC, 0, 0, 0, 0), 1, state)
        except NetlinkError as exc:
            # Kernels without nexthop objects answer EINVAL / EOPNOTSUPP.
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.EAFNOSUPPORT):
                raise
        for i, fam in enumerate(families):
            _dump(sock, RTM_GETROUTE, _RTM.pack(fam, 0, 0, 0, 0, 0, 0, 0, 0), 2 + i, state)
    return state


def read_events(
    sock: socket.socket,
    state: KernelState,
    max_reads: int = 64,
    changed: list[tuple[int, int, bytes]] | None = None,
) -> int:
    """Apply what the non-blocking subscription socket holds; returns datagrams read.

    ``changed`` gets (afi, table, prefix key) of every route changed. Raises
    ``OSError(ENOBUFS)`` when the kernel dropped events (resync needed).
    """
    reads = 0
    while reads < max_reads:
        try:
            buf = sock.recv(RECV_SIZE)
        except BlockingIOError:
            break
        reads += 1
        apply_routes(state, buf, changed=changed)
    return reads


def link_names() -> dict[int, str]:
    """Interface index → name of this network namespace (pyroute2; not a hot path)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return {
            int(link["index"]): str(link.get_attr("IFLA_IFNAME"))
            for link in ipr.get_links()
            if link.get_attr("IFLA_IFNAME")
        }


def drain(sock: socket.socket, max_reads: int = 64) -> list[bytes]:
    """Read what the non-blocking socket holds, undecoded (buffered during a dump)."""
    out: list[bytes] = []
    while len(out) < max_reads:
        try:
            out.append(sock.recv(RECV_SIZE))
        except BlockingIOError:
            break
    return out
