"""Routes per community of interest: ``bmp_rib_community_routes``.

``bmp_rib_community_routes{router, peer, view, community}`` is the number of
routes (paths, every AFI/SAFI of the view together) in one RIB view of one
peer that carry ``community``, for the communities listed in
``rib.count_communities`` (standard ``64510:100``, large ``64510:1:2``,
extended ``rt:64510:100``; at most ``agent.config.COUNT_COMMUNITIES_MAX``,
so the series stay bounded: tables x listed communities). Every table the
core holds gets a series per listed community, 0 when no route carries it
(also after a Peer Down, like ``bmp_rib_routes``).

Cost
----
``CommunityCounter`` (a ``agent.core.RouteObserver``) keeps, per ``RibTable``
(``table.ext["communities"]``, dropped with the routes), a count *per
interned attribute set* that carries a listed community (keyed by the
interned object's identity, which the entry keeps alive exactly as long as a
route of the table uses it) and the resulting count per community. An
announcement costs one match of its attribute set (set lookups over the
route's communities) per ``NlriSet``; per prefix, a dict lookup of the
replaced route's attribute set, only while the table holds a counted route
or the new attribute set is counted; nothing at all otherwise. A scrape
reads the per-table counts (O(tables x listed communities)); nothing walks a
RIB. ``rebuild`` walks the tables once, when the list changes on reload.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.utils import floatToGoString

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet

from ..core import Core, Peer, RibTable, RouteKey
from ..export.metrics import escape_label
from .community import CommunityMatcher
from .table_ext import get_state, new_state, reset_tables


def _value(n: int) -> str:
    """The sample value as prometheus_client writes it."""
    if -1_000_000 < n < 1_000_000:
        return f"{n}.0"
    return str(floatToGoString(n))  # type: ignore[no-untyped-call]


EXT_KEY = "communities"
METRIC = "bmp_rib_community_routes"
METRIC_HELP = (
    "Routes in the RIB view that carry the community (rib.count_communities), all AFI/SAFIs."
)


class CommunityState:
    __slots__ = ("by_attrs", "counts")

    def __init__(self) -> None:
        #: id(interned attrs) -> [attrs, routes, matched community texts]
        self.by_attrs: dict[int, tuple[PathAttributes, list[int], tuple[str, ...]]] = {}
        #: community text -> routes
        self.counts: dict[str, int] = {}

    def add(self, attrs: PathAttributes, matched: tuple[str, ...], n: int) -> None:
        entry = self.by_attrs.get(id(attrs))
        if entry is None:
            self.by_attrs[id(attrs)] = (attrs, [n], matched)
        else:
            entry[1][0] += n
        counts = self.counts
        for c in matched:
            counts[c] = counts.get(c, 0) + n

    def remove(self, attrs: PathAttributes) -> None:
        """One route with ``attrs`` goes (no-op when ``attrs`` is not counted)."""
        entry = self.by_attrs.get(id(attrs))
        if entry is None:
            return
        left = entry[1][0] - 1
        if left:
            entry[1][0] = left
        else:
            del self.by_attrs[id(attrs)]
        counts = self.counts
        for c in entry[2]:
            v = counts[c] - 1
            if v:
                counts[c] = v
            else:
                del counts[c]


def community_state(table: RibTable) -> CommunityState | None:
    return get_state(table, EXT_KEY, CommunityState)


def _new_state(table: RibTable) -> CommunityState:
    return new_state(table, EXT_KEY, CommunityState, CommunityState)


def _keys(nset: NlriSet) -> Iterable[RouteKey]:
    if nset.path_ids is None:
        return dict.fromkeys(nset.prefixes)
    return dict.fromkeys(zip(nset.path_ids, nset.prefixes, strict=False))


class CommunityCounter:
    """Routes per listed community per table (see the module docstring)."""

    def __init__(self, communities: Iterable[str] = ()) -> None:
        self.matcher = CommunityMatcher(communities)
        # the last attribute set matched and its result (consecutive UPDATEs share them)
        self._last: PathAttributes | None = None
        self._last_match: tuple[str, ...] = ()
        self._lines: dict[tuple[str, str, str], tuple[tuple[int, ...], str]] = {}

    @property
    def texts(self) -> tuple[str, ...]:
        return self.matcher.texts

    def _match(self, attrs: PathAttributes) -> tuple[str, ...]:
        if attrs is self._last:
            return self._last_match
        m = self.matcher.match(attrs)
        self._last = attrs
        self._last_match = m
        return m

    # -- RouteObserver ------------------------------------------------------------

    def announce(self, peer: Peer, table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
        matched = self._match(attrs)
        st = community_state(table)
        if not matched and (st is None or not st.by_attrs):
            return
        routes = table.routes
        added = 0
        for k in _keys(nset):
            old = routes.get(k)
            if old is attrs:
                continue
            if old is not None and st is not None:
                st.remove(old)
            added += 1
        if matched and added:
            (st or _new_state(table)).add(attrs, matched, added)

    def withdraw(self, peer: Peer, table: RibTable, nset: NlriSet) -> None:
        st = community_state(table)
        if st is None or not st.by_attrs:
            return
        routes = table.routes
        for k in _keys(nset):
            old = routes.get(k)
            if old is not None:
                st.remove(old)

    # -- reload ---------------------------------------------------------------------

    def configure(self, communities: Iterable[str], core: Core | None) -> bool:
        """A new list; rebuilds the counts from ``core`` when it changed."""
        new = CommunityMatcher(communities)
        if new.texts == self.matcher.texts:
            return False
        self.matcher = new
        self._last = None
        self._last_match = ()
        self._lines.clear()
        if core is not None:
            self.rebuild(core)
        return True

    def rebuild(self, core: Core) -> None:
        """Recompute every table's counts from its routes (O(routes), once)."""
        for _peer, table in reset_tables(core, EXT_KEY):
            if not self.matcher:
                continue
            per: dict[int, tuple[PathAttributes, int]] = {}
            for a in table.routes.values():
                got = per.get(id(a))
                per[id(a)] = (a, 1 if got is None else got[1] + 1)
            for a, n in per.values():
                m = self.matcher.match(a)
                if m:
                    _new_state(table).add(a, m, n)

    # -- exposition -----------------------------------------------------------------

    def text(self, core: Core) -> str:
        """The family as exposition text (labels in prometheus_client's sorted order)."""
        texts = self.matcher.texts
        if not texts:
            return ""
        lines = [f"# HELP {METRIC} {METRIC_HELP}", f"# TYPE {METRIC} gauge"]
        old = self._lines
        new: dict[tuple[str, str, str], tuple[tuple[int, ...], str]] = {}
        for router in list(core.routers.values()):
            r = router.label
            for peer in list(router.peers.values()):
                p = peer.label
                per_view: dict[str, dict[str, int]] = {}
                for (view, _afi, _safi), t in list(peer.tables.items()):
                    counts = per_view.setdefault(view, {})
                    st = community_state(t)
                    if st is not None:
                        for c, n in st.counts.items():
                            counts[c] = counts.get(c, 0) + n
                for view, counts in per_view.items():
                    key = (r, p, view)
                    values = tuple(counts.get(c, 0) for c in texts)
                    cached = old.get(key)
                    if cached is None or cached[0] != values:
                        tail = f'",peer="{escape_label(p)}",router="{escape_label(r)}",view="{escape_label(view)}"}} '
                        cached = (
                            values,
                            "\n".join(
                                f'{METRIC}{{community="{escape_label(c)}{tail}{_value(n)}'
                                for c, n in zip(texts, values, strict=True)
                            ),
                        )
                    new[key] = cached
                    lines.append(cached[1])
        self._lines = new
        return "\n".join(lines) + "\n"

    def counts(self, core: Core) -> dict[tuple[str, str, str], dict[str, int]]:
        """(router, peer, view) -> community -> routes (the API and tests)."""
        out: dict[tuple[str, str, str], dict[str, int]] = {}
        texts = self.matcher.texts
        for router in list(core.routers.values()):
            for peer in list(router.peers.values()):
                for (view, _afi, _safi), t in list(peer.tables.items()):
                    counts = out.setdefault(
                        (router.label, peer.label, view), dict.fromkeys(texts, 0)
                    )
                    st = community_state(t)
                    if st is not None:
                        for c, n in st.counts.items():
                            counts[c] = counts.get(c, 0) + n
        return out


__all__ = ["METRIC", "CommunityCounter", "community_state"]
