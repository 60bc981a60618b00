"""Parsers for BIRD 1.6 and 2.x CLI output (``Line``s in, frozen dataclasses out).

Sans-IO and incremental: ``ProtocolParser`` and ``RouteParser`` take one
``Line`` at a time, so a reply is parsed while it is read and a large table is
never held as text.

Syntax differences handled (as recorded from 1.6.8 and 2.0.12):

- ``show protocols``: ``name proto table state since info``; ``since`` is
  one token (``07:37:12``, ``2026-11-26``) or two with ``timeformat ... iso
  long`` (``2026-11-26 07:37:12[.123]``). Kept as text: flaps are detected by
  comparing it between polls, whatever the format.
- ``show protocols all``: 1.6 prints ``Routes:`` once per protocol (one
  table); 2.x prints it per ``Channel ipv4``/``Channel ipv6`` and adds
  ``Local AS:``.
- ``show route all``: 1.6 writes ``NET via GW on IF [PROTO SINCE] * (PREF)
  [ASPATH]`` on one line; 2.x writes ``NET unicast [PROTO SINCE] * (PREF)``
  then a tab-indented ``via GW on IF`` line, and heads each table with
  ``Table master4:``. A route whose net column is blank is another route of
  the previous net. ``*`` marks the primary (selected) route. Attribute lines
  are tab-indented ``Name: value`` (``BGP.as_path: 65001 64512``).
- ``show route count``: 1.6 ``0014 7 of 7 routes for 6 networks``; 2.x one
  ``1007`` line per table and ``0014 Total: 10 of 10 routes for 9 networks in 2
  tables``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .protocol import Line

_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


@dataclass(frozen=True, slots=True)
class ChannelRoutes:
    """``Routes:`` of one channel (2.x) or of the protocol (1.6)."""

    channel: str  # "ipv4" / "ipv6"; 1.6: "" (the daemon's only family)
    imported: int
    filtered: int
    exported: int
    preferred: int


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    proto: str  # BGP, Static, Kernel, Device, ...
    table: str
    state: str  # up, start, down, flush, ...
    since: str
    info: str  # for BGP: Established, Active, Connect, Idle, ...
    bgp_state: str | None = None
    neighbor_address: str | None = None
    neighbor_as: int | None = None
    neighbor_id: str | None = None
    local_as: int | None = None
    source_address: str | None = None
    last_error: str | None = None
    channels: tuple[ChannelRoutes, ...] = ()

    @property
    def is_bgp(self) -> bool:
        return self.proto.upper() == "BGP"

    @property
    def established(self) -> bool:
        return (self.bgp_state or self.info.split(" ", 1)[0]) == "Established"


def split_protocol_row(text: str) -> tuple[str, str, str, str, str, str]:
    cols = text.split()
    if len(cols) < 5:
        raise ValueError(f"not a protocol row: {text!r}")
    name, proto, table, state = cols[:4]
    rest = cols[4:]
    since = rest[0]
    n = 1
    if len(rest) > 1 and _TIME.match(rest[1]) and not _TIME.match(rest[0]):
        since = f"{rest[0]} {rest[1]}"
        n = 2
    return name, proto, table, state, since, " ".join(rest[n:])


_FULL = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?$")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?$")
#: BIRD prints a since-time as ``now_real - (now - t)`` from two clocks read at
#: different moments, so an unchanged time can print a second apart (seen on
#: 1.6.8): smaller moves are jitter.
SINCE_TOLERANCE = 1.5


def _since_value(text: str) -> tuple[str, float] | None:
    """("full", epoch-like seconds) / ("clock", seconds of day) / None (date only, other)."""
    m = _FULL.match(text)
    if m is not None:
        y, mo, d, h, mi, sec, frac = m.groups()
        days = (int(y) * 12 + int(mo)) * 31 + int(d)
        return "full", days * 86400.0 + int(h) * 3600 + int(mi) * 60 + int(sec or 0) + float(
            frac or 0
        )
    m = _CLOCK.match(text)
    if m is not None:
        h, mi, sec, frac = m.groups()
        return "clock", int(h) * 3600 + int(mi) * 60 + int(sec or 0) + float(frac or 0)
    return None


def since_moved(old: str, new: str) -> bool:
    """Whether a protocol's since-time moved between two polls (it changed state).

    Full timestamps and times of day are compared with ``SINCE_TOLERANCE``.
    BIRD's default formats print a time of day while the change is recent and
    only a date once it is old (1.6: after 20 h): time -> date is ageing, not
    a change; date -> time is a change (the state changed recently).
    """
    if old == new:
        return False
    a, b = _since_value(old), _since_value(new)
    if a is not None and b is not None and a[0] == b[0]:
        d = abs(a[1] - b[1])
        if a[0] == "clock":
            d = min(d, 86400 - d)
        return d > SINCE_TOLERANCE
    return not (a is not None and a[0] == "clock" and b is None)


_ROUTES = re.compile(r"(\d+) imported(?:, (\d+) filtered)?, (\d+) exported(?:, (\d+) preferred)?")


class ProtocolParser:
    """``show protocols [all]`` -> ``Protocol``s; ``feed(line)``, then ``result()``."""

    __slots__ = ("_channel", "_channels", "_cur", "_fields", "out")

    def __init__(self) -> None:
        self.out: list[Protocol] = []
        self._cur: tuple[str, str, str, str, str, str] | None = None
        self._fields: dict[str, str] = {}
        self._channel = ""
        self._channels: list[ChannelRoutes] = []

    def _flush(self) -> None:
        if self._cur is None:
            return
        f = self._fields

        def num(key: str) -> int | None:
            v = f.get(key, "").split(" ", 1)[0]
            return int(v) if v.isdigit() else None

        addr = f.get("Neighbor address")
        self.out.append(
            Protocol(
                *self._cur,
                bgp_state=f.get("BGP state"),
                neighbor_address=addr.split("%", 1)[0] if addr else None,
                neighbor_as=num("Neighbor AS"),
                neighbor_id=f.get("Neighbor ID"),
                local_as=num("Local AS"),
                source_address=f.get("Source address"),
                last_error=f.get("Last error"),
                channels=tuple(self._channels),
            )
        )
        self._cur = None
        self._fields = {}
        self._channel = ""
        self._channels = []

    def feed(self, line: Line) -> None:
        if line.code == 1002:
            self._flush()
            self._cur = split_protocol_row(line.text)
        elif line.code == 1006 and self._cur is not None:
            text = line.text.strip()
            if text.startswith("Channel "):
                self._channel = text[8:].strip()
                return
            key, sep, value = text.partition(":")
            if not sep:
                return
            value = value.strip()
            if key == "Routes":
                m = _ROUTES.match(value)
                if m is not None:
                    imp, filt, exp, pref = m.groups()
                    self._channels.append(
                        ChannelRoutes(
                            self._channel, int(imp), int(filt or 0), int(exp), int(pref or 0)
                        )
                    )
            elif key not in self._fields:
                self._fields[key] = value

    def result(self) -> list[Protocol]:
        self._flush()
        return self.out


# -- routes ------------------------------------------------------------------

_ROUTE_SRC = re.compile(r"\[(\S+)(?: ([^\]]*?))?\](?: (\*))?(?: \((\d+)(?:/(\d+))?\))?")


@dataclass(frozen=True, slots=True)
class Route:
    net: str
    proto: str
    primary: bool
    #: ``Table master4`` header (2.x), else "".
    table: str
    #: First next hop (``via`` address), or None (blackhole, dev, unreachable).
    via: str | None
    #: Attribute lines as ``(name, value)``, e.g. ``("BGP.as_path", "65001 64512")``.
    attrs: tuple[tuple[str, str], ...]


class RouteParser:
    """``show route ... all`` -> ``Route``s, one line at a time.

    ``feed(line)`` returns the route that the line completed (the previous
    one, when a new route starts) or None; ``close()`` returns the last one.
    """

    __slots__ = ("_attrs", "_head", "_net", "_table", "_via", "routes")

    def __init__(self) -> None:
        self._net = ""
        self._table = ""
        self._head: tuple[str, bool] | None = None  # proto, primary
        self._via: str | None = None
        self._attrs: list[tuple[str, str]] = []
        #: Routes completed so far.
        self.routes = 0

    def _done(self) -> Route | None:
        head = self._head
        if head is None:
            return None
        self._head = None
        self.routes += 1
        attrs = tuple(self._attrs)
        self._attrs = []
        return Route(self._net, head[0], head[1], self._table, self._via, attrs)

    def feed(self, line: Line) -> Route | None:
        text = line.text
        if not text:
            return None
        if text[0] == "\t":
            if self._head is None:
                return None
            body = text[1:]
            if body.startswith("via "):
                if self._via is None:
                    self._via = body[4:].split(" ", 1)[0]
                return None
            name, sep, value = body.partition(":")
            if sep and name != "Type":
                self._attrs.append((name, value.strip()))
            return None
        if text.startswith("Table ") and text.endswith(":"):
            out = self._done()
            self._table = text[6:-1]
            self._net = ""
            return out
        if line.code != 1007:
            return None
        out = self._done()
        if text[0] != " ":
            net, _, rest = text.partition(" ")
            self._net = net
        else:
            rest = text
        m = _ROUTE_SRC.search(rest)
        if m is None:
            return out
        self._head = (m.group(1), m.group(3) == "*")
        before = rest[: m.start()].split()
        self._via = before[1] if len(before) >= 2 and before[0] == "via" else None
        return out

    def close(self) -> Route | None:
        return self._done()


# -- counts ------------------------------------------------------------------

_COUNT = re.compile(
    r"(?:Total: )?(\d+) of (\d+) routes for (\d+) networks(?: in (?:table (\S+)|(\d+) tables))?"
)


@dataclass(frozen=True, slots=True)
class RouteCount:
    #: Routes that match (``N of M``: N).
    routes: int
    #: All routes in the tables looked at (M).
    total: int
    networks: int
    #: 2.x: per table ``name -> (routes, total, networks)``.
    tables: tuple[tuple[str, int, int, int], ...] = ()


def parse_count(lines: list[Line]) -> RouteCount:
    """``show route [...] count``. The last count line is the total (1.6: the only one)."""
    tables: list[tuple[str, int, int, int]] = []
    last: RouteCount | None = None
    for line in lines:
        m = _COUNT.match(line.text.strip())
        if m is None:
            continue
        n, total, nets, table, _ = m.groups()
        if table is not None:
            tables.append((table, int(n), int(total), int(nets)))
        last = RouteCount(int(n), int(total), int(nets))
    if last is None:
        raise ValueError("no route count in the reply")
    if (
        len(tables) == 1
        and last.tables == ()
        and not any(line.text.startswith("Total") for line in lines)
    ):
        # 2.x ``show route protocol X count``: one table line, no total
        t = tables[0]
        return RouteCount(t[1], t[2], t[3], tuple(tables))
    return RouteCount(last.routes, last.total, last.networks, tuple(tables))


def parse_status(lines: list[Line]) -> dict[str, str]:
    """``show status``: version, router_id, server_time, last_reboot, last_reconfiguration."""
    out: dict[str, str] = {}
    for line in lines:
        text = line.text.strip()
        if line.code == 1000:
            out["version"] = text.removeprefix("BIRD ").strip()
        elif text.startswith("Router ID is "):
            out["router_id"] = text[13:]
        elif text.startswith("Current server time is "):
            out["server_time"] = text[23:]
        elif text.startswith("Last reboot on "):
            out["last_reboot"] = text[15:]
        elif text.startswith("Last reconfiguration on "):
            out["last_reconfiguration"] = text[24:]
        elif text.startswith("Hostname is "):
            out["hostname"] = text[12:]
    return out
