"""Hypothesis strategies producing valid BGP messages as bytes together with
the dataclass the decoders must return for them.

The expected value is computed from the drawn model, never by decoding; the
bytes are built with the construct structures of ``parsers.bgp.decode`` (via
``support.bgp``).

* ``updates(add_path=False, four_octet_as=True)`` -> ``(bytes, Update)``:
  IPv4 unicast withdrawn/NLRI plus optional MP_REACH/MP_UNREACH for IPv6 or
  IPv4 unicast, a random subset of attributes in random order. With
  ``add_path`` every NLRI entry carries a path ID (< 2**24, so an ADD-PATH
  reading is always plausible); decode with ``add_path=lambda *_: True``.
* ``update_cases()`` -> ``UpdateCase(data, expected, add_path, four_octet_as)``
  with the two flags drawn too.
* ``opens()`` -> ``(bytes, OpenMessage)``.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from hypothesis import strategies as st
from support import bgp as b

from parsers.bgp.attributes import Aggregator, AsPathSegment, PathAttributes, RawAttribute
from parsers.bgp.messages import (
    AddPathCapability,
    Capability,
    FourOctetAsCapability,
    GracefulRestartCapability,
    MultiprotocolCapability,
    OpenMessage,
    RoleCapability,
    Update,
)
from parsers.bgp.nlri import NlriSet

__all__ = ["UpdateCase", "opens", "prefixes", "update_cases", "updates"]


class UpdateCase(NamedTuple):
    data: bytes
    expected: Update
    add_path: bool
    four_octet_as: bool


@st.composite
def prefix_keys(draw: st.DrawFn, afi: int) -> bytes:
    """One prefix in wire-key form, host bits clear."""
    width = 32 if afi == 1 else 128
    length = draw(st.integers(0, width))
    value = draw(st.integers(0, (1 << width) - 1))
    value &= ((1 << width) - 1) ^ ((1 << (width - length)) - 1)
    packed = value.to_bytes(width // 8, "big")
    return bytes([length]) + packed[: (length + 7) // 8]


def prefixes(afi: int, max_size: int = 5) -> st.SearchStrategy[list[bytes]]:
    return st.lists(prefix_keys(afi), max_size=max_size)


def _path_ids(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, (1 << 24) - 1), min_size=n, max_size=n)


@st.composite
def _field(
    draw: st.DrawFn, afi: int, add_path: bool, min_size: int = 0
) -> tuple[bytes, NlriSet | None]:
    """An NLRI field: (wire bytes, expected set or None when empty)."""
    keys = draw(st.lists(prefix_keys(afi), min_size=min_size, max_size=5))
    ids = draw(_path_ids(len(keys))) if add_path else None
    blob = b.nlri(keys, ids)
    if not keys:
        return blob, None
    return blob, NlriSet(afi, 1, tuple(keys), tuple(ids) if ids is not None else None)


_ASN2 = st.integers(0, 0xFFFF)
_ASN4 = st.integers(0, 0xFFFFFFFF)
_U32 = st.integers(0, 0xFFFFFFFF)
_IPV4 = st.integers(0, 0xFFFFFFFF).map(lambda v: str(ipaddress.IPv4Address(v)))
_IPV6 = st.integers(0, (1 << 128) - 1).map(lambda v: str(ipaddress.IPv6Address(v)))


@st.composite
def _segments(draw: st.DrawFn, asn: st.SearchStrategy[int]) -> tuple[AsPathSegment, ...]:
    segs = draw(
        st.lists(st.tuples(st.integers(1, 4), st.lists(asn, min_size=1, max_size=6)), max_size=3)
    )
    return tuple(AsPathSegment(t, tuple(a)) for t, a in segs)


@st.composite
def _attributes(
    draw: st.DrawFn, four_octet_as: bool, mp_next_hop: tuple[str, ...] | None
) -> tuple[list[bytes], dict[str, Any]]:
    """Non-MP attributes: (encoded attributes, PathAttributes keyword arguments)."""
    asn = _ASN4 if four_octet_as else _ASN2
    out: list[tuple[bytes, str, Any]] = []

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    if (v := maybe(st.integers(0, 2))) is not None:
        out.append((b.origin(v), "origin", v))
    if (segs := maybe(_segments(asn))) is not None:
        value = b.as_path_value([(s.type, s.asns) for s in segs], four_octet_as)
        out.append((b.attribute(2, value), "as_path", segs))
    if (v := maybe(_IPV4)) is not None:
        out.append((b.next_hop(v), "next_hop", v))
    if (v := maybe(_U32)) is not None:
        out.append((b.med(v), "med", v))
    if (v := maybe(_U32)) is not None:
        out.append((b.local_pref(v), "local_pref", v))
    if draw(st.booleans()):
        out.append((b.atomic_aggregate(), "atomic_aggregate", True))
    if (v := maybe(st.tuples(asn, _IPV4))) is not None:
        out.append((b.aggregator(v[0], v[1], four_octet_as), "aggregator", Aggregator(*v)))
    if v := maybe(st.lists(_U32, min_size=1, max_size=70)):
        out.append((b.communities(v), "communities", tuple(v)))
    if (v := maybe(_IPV4)) is not None:
        out.append((b.originator_id(v), "originator_id", v))
    if v := maybe(st.lists(_IPV4, min_size=1, max_size=4)):
        out.append((b.cluster_list(v), "cluster_list", tuple(v)))
    if v := maybe(st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=4)):
        out.append((b.extended_communities(v), "extended_communities", tuple(v)))
    if not four_octet_as:
        if (segs := maybe(_segments(_ASN4))) is not None:
            value = b.as_path_value([(s.type, s.asns) for s in segs], True)
            out.append((b.attribute(17, value), "as4_path", segs))
        if (v := maybe(st.tuples(_ASN4, _IPV4))) is not None:
            out.append((b.as4_aggregator(*v), "as4_aggregator", Aggregator(*v)))
    if v := maybe(st.lists(st.tuples(_U32, _U32, _U32), min_size=1, max_size=3)):
        out.append((b.large_communities(v), "large_communities", tuple(v)))
    if (v := maybe(_U32)) is not None:
        out.append((b.otc(v), "otc", v))
    unknown = draw(
        st.lists(
            st.tuples(
                st.sampled_from([0xC0, 0x80, 0xE0]), st.integers(36, 254), st.binary(max_size=8)
            ),
            max_size=2,
            unique_by=lambda t: t[1],
        )
    )
    order = draw(st.permutations(range(len(out) + len(unknown))))
    encoded_all = [e for e, _, _ in out] + [b.attribute(t, v, flags=f) for f, t, v in unknown]
    encoded = [encoded_all[i] for i in order]
    fields: dict[str, Any] = {name: value for _, name, value in out}
    # unknown attributes are kept in wire order
    unknown_order = [i - len(out) for i in order if i >= len(out)]
    if unknown:
        fields["unknown"] = tuple(RawAttribute(*unknown[i]) for i in unknown_order)
    if mp_next_hop is not None:
        fields["mp_next_hop"] = mp_next_hop
    return encoded, fields


@st.composite
def updates(
    draw: st.DrawFn, add_path: bool = False, four_octet_as: bool = True
) -> tuple[bytes, Update]:
    """A valid UPDATE and the ``Update`` it decodes to (see module docstring)."""
    if draw(st.integers(0, 15)) == 0:
        afi = draw(st.sampled_from([1, 2]))
        return b.build_eor(afi, 1), Update(end_of_rib=(afi, 1))
    withdrawn, w_set = draw(_field(1, add_path))
    nlri, n_set = draw(_field(1, add_path))
    reach = draw(st.none() | st.sampled_from([1, 2]))
    unreach = draw(st.none() | st.sampled_from([1, 2]))
    mp_attrs: list[bytes] = []
    mp_hops: tuple[str, ...] | None = None
    r_set = u_set = None
    if reach is not None:
        blob, r_set = draw(_field(reach, add_path))
        if reach == 1:
            hops = draw(st.sampled_from([(_IPV4,), (_IPV6,), (_IPV6, _IPV6)]))
        else:
            hops = draw(st.sampled_from([(_IPV6,), (_IPV6, _IPV6)]))
        mp_hops = tuple(draw(h) for h in hops)
        mp_attrs.append(b.mp_reach(reach, 1, mp_hops, blob))
    if unreach is not None:
        blob, u_set = draw(_field(unreach, add_path, min_size=1))
        mp_attrs.append(b.mp_unreach(unreach, 1, blob))
    announcing = bool(nlri) or reach is not None
    if announcing:
        attrs, fields = draw(_attributes(four_octet_as, mp_hops))
    else:
        attrs, fields = [], {}
    block = list(attrs)
    for attr in mp_attrs:
        block.insert(draw(st.integers(0, len(block))), attr)
    data = b.build_update(withdrawn=withdrawn, attributes=block, nlri=nlri)
    if not block and not withdrawn and not nlri:
        return data, Update(end_of_rib=(1, 1))
    expected = Update(
        withdrawn=tuple(s for s in (w_set, u_set) if s is not None),
        announced=tuple(s for s in (n_set, r_set) if s is not None),
        attributes=PathAttributes(**fields) if attrs or reach is not None else None,
    )
    return data, expected


@st.composite
def update_cases(draw: st.DrawFn) -> UpdateCase:
    add_path = draw(st.booleans())
    four = draw(st.booleans())
    data, expected = draw(updates(add_path=add_path, four_octet_as=four))
    return UpdateCase(data, expected, add_path, four)


@st.composite
def opens(draw: st.DrawFn) -> tuple[bytes, OpenMessage]:
    """A valid OPEN with a random set of capabilities, and its ``OpenMessage``."""
    caps: list[tuple[bytes, Capability]] = []
    for afi, safi in draw(
        st.lists(st.sampled_from([(1, 1), (2, 1), (1, 4), (1, 128), (25, 70)]), max_size=3)
    ):
        raw = b.cap_mp(afi, safi)
        caps.append((raw, MultiprotocolCapability(1, raw[2:], afi=afi, safi=safi)))
    if draw(st.booleans()):
        caps.append((b.cap_route_refresh(), Capability(2, b"")))
    if (asn := draw(st.none() | _ASN4)) is not None:
        raw = b.cap_four_octet_as(asn)
        caps.append((raw, FourOctetAsCapability(65, raw[2:], asn=asn)))
    if fams := draw(
        st.lists(st.tuples(st.sampled_from([1, 2]), st.just(1), st.integers(1, 3)), max_size=2)
    ):
        raw = b.cap_add_path(fams)
        caps.append((raw, AddPathCapability(69, raw[2:], families=tuple(fams))))
    if draw(st.booleans()):
        flags = draw(st.integers(0, 15))
        time = draw(st.integers(0, 4095))
        fams = draw(st.lists(st.tuples(st.just(1), st.just(1), st.sampled_from([0, 0x80]))))
        raw = b.cap_graceful_restart(flags, time, fams)
        caps.append(
            (
                raw,
                GracefulRestartCapability(
                    64, raw[2:], restart_flags=flags, restart_time=time, families=tuple(fams)
                ),
            )
        )
    if (role := draw(st.none() | st.integers(0, 4))) is not None:
        raw = b.cap_role(role)
        caps.append((raw, RoleCapability(9, raw[2:], role=role)))
    for code, value in draw(
        st.lists(st.tuples(st.integers(128, 255), st.binary(max_size=6)), max_size=2)
    ):
        caps.append((b.capability(code, value), Capability(code, value)))
    caps = draw(st.permutations(caps))
    my_as = draw(_ASN2)
    hold = draw(st.integers(0, 0xFFFF))
    bgp_id = draw(_IPV4)
    extended = draw(st.booleans())
    one = draw(st.booleans())
    data = b.build_open(
        my_as=my_as,
        hold_time=hold,
        bgp_id=bgp_id,
        capabilities=[r for r, _ in caps],
        extended=extended,
        one_parameter=one,
    )
    return data, OpenMessage(4, my_as, hold, bgp_id, tuple(c for _, c in caps))
