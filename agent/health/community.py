"""BGP communities written as text, and matching them against attribute sets.

Accepted forms (``rib.count_communities``, ``health.local_only_communities``):

* standard (RFC 1997) ``ASN:VALUE`` with both parts 0-65535, e.g. ``64510:100``,
  or a well-known name: ``no-export``, ``no-advertise``, ``no-export-subconfed``
  (alias ``local-as``), ``no-peer``, ``blackhole``, ``graceful-shutdown``;
* large (RFC 8092) ``GLOBAL:LOCAL1:LOCAL2``, each 0-4294967295, e.g. ``64510:1:2``;
* extended (RFC 4360) as the agent writes them (``parsers.bgp.attributes.
  format_extended_community``): ``rt:ASN:N``, ``rt:A.B.C.D:N``, ``soo:ASN:N``,
  ``soo:A.B.C.D:N``, or the 8 octets as 16 hex digits.

``parse_community`` normalises the text (the metric label and the
``/api/v1/health`` settings show the normalised form) and raises
``ValueError`` naming the problem. Sans-IO: no imports from the agent's config.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from parsers.bgp.attributes import PathAttributes, format_extended_community

STANDARD = "standard"
LARGE = "large"
EXTENDED = "extended"

#: RFC 1997 / IANA well-known communities.
WELL_KNOWN: dict[str, int] = {
    "graceful-shutdown": 0xFFFF0000,
    "blackhole": 0xFFFF029A,
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "local-as": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
}

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_EXT_TEXT = re.compile(r"^(rt|soo):([^:]+):(\d+)$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class Community:
    """One community of interest: its normalised text, kind and value."""

    text: str
    kind: str
    #: standard: the 32-bit value; large: (global, local1, local2); extended:
    #: the normalised text (matched against ``format_extended_community``)
    value: int | tuple[int, int, int] | str


def _int(part: str, limit: int, what: str, text: str) -> int:
    if not part.isdigit():
        raise ValueError(f"{text!r}: {what} {part!r} is not a number")
    n = int(part)
    if n > limit:
        raise ValueError(f"{text!r}: {what} {n} is above {limit}")
    return n


def parse_community(text: str) -> Community:
    """Text to ``Community`` (see the module docstring); ``ValueError`` when bad."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a community")
    t = text.strip().lower()
    if t in WELL_KNOWN:
        return Community(t, STANDARD, WELL_KNOWN[t])
    m = _EXT_TEXT.match(t)
    if m is not None:
        kind, admin, value = m.groups()
        if "." in admin:
            try:
                ipaddress.IPv4Address(admin)
            except ValueError:
                raise ValueError(f"{text!r}: {admin!r} is not an IPv4 address") from None
            _int(value, _U16, "value", text)
        else:
            asn = _int(admin, _U32, "AS", text)
            _int(value, _U32 if asn <= _U16 else _U16, "value", text)
        norm = (
            f"{kind}:{admin}:{int(value)}" if "." in admin else f"{kind}:{int(admin)}:{int(value)}"
        )
        return Community(norm, EXTENDED, norm)
    if _HEX16.match(t):
        norm = format_extended_community(bytes.fromhex(t))
        return Community(norm, EXTENDED, norm)
    parts = t.split(":")
    if len(parts) == 2:
        high = _int(parts[0], _U16, "AS", text)
        low = _int(parts[1], _U16, "value", text)
        return Community(f"{high}:{low}", STANDARD, (high << 16) | low)
    if len(parts) == 3:
        a, b, c = (_int(p, _U32, "part", text) for p in parts)
        return Community(f"{a}:{b}:{c}", LARGE, (a, b, c))
    raise ValueError(
        f"{text!r} is not a community (ASN:VALUE, GLOBAL:LOCAL1:LOCAL2, rt:ASN:N, soo:ASN:N, "
        "16 hex digits or a well-known name)"
    )


def normalise(text: str) -> str:
    """The config validator: the normalised text of a community."""
    return parse_community(text).text


class CommunityMatcher:
    """Which of a fixed list of communities an attribute set carries.

    ``match(attrs)`` returns the texts (in list order, each once) of the listed
    communities ``attrs`` carries; cost O(communities on the route) set
    lookups, plus formatting its extended communities when extended ones are
    listed.
    """

    __slots__ = ("_ext", "_order", "_values", "texts")

    def __init__(self, communities: Iterable[str | Community]) -> None:
        parsed = [c if isinstance(c, Community) else parse_community(c) for c in communities]
        seen: dict[str, Community] = {}
        for c in parsed:
            seen.setdefault(c.text, c)
        self.texts: tuple[str, ...] = tuple(seen)
        self._order = {t: i for i, t in enumerate(self.texts)}
        # several names may map to one value (no-export-subconfed, local-as);
        # standard (int) and large (3-tuple) values share a table: they never
        # compare equal, and the attributes carry them in separate fields
        self._values: dict[int | tuple[int, int, int], list[str]] = {}
        self._ext: dict[str, list[str]] = {}
        for c in seen.values():
            if isinstance(c.value, str):
                self._ext.setdefault(c.value, []).append(c.text)
            else:
                self._values.setdefault(c.value, []).append(c.text)

    def __bool__(self) -> bool:
        return bool(self.texts)

    def match(self, attrs: PathAttributes) -> tuple[str, ...]:
        found: list[str] | None = None
        values = self._values
        if values:
            for carried in (attrs.communities, attrs.large_communities):
                for v in carried or ():
                    hit = values.get(v)
                    if hit is not None:
                        found = (found or []) + hit
        ext = self._ext
        if ext and attrs.extended_communities:
            for raw in attrs.extended_communities:
                hit = ext.get(format_extended_community(raw))
                if hit is not None:
                    found = (found or []) + hit
        if found is None:
            return ()
        if len(found) == 1:
            return (found[0],)
        order = self._order
        return tuple(sorted(set(found), key=order.__getitem__))


__all__ = [
    "EXTENDED",
    "LARGE",
    "STANDARD",
    "WELL_KNOWN",
    "Community",
    "CommunityMatcher",
    "normalise",
    "parse_community",
]
