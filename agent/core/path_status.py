"""Path status (draft-ietf-grow-bmp-path-marking-tlv) in the RIB, at no
per-route cost.

A marked route's value in ``RibTable.routes`` is a ``MarkedAttributes``: its
``PathAttributes`` plus the interned ``PathStatus``, itself interned by the
core's ``AttributeInterner``, so there is one object per distinct (attributes,
marking) and the dict entry is still the whole route. Unmarked routes keep
their plain ``PathAttributes``.

Counts per marking are kept incrementally in ``table.ext["path_status"]``
(a ``Counter[PathStatus]``, dropped with the routes by ``RibTable.clear``):
``account_announce`` / ``account_withdraw`` run before the table changes and
cost nothing for tables that never saw a marking.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields

from parsers.bgp.attributes import PathAttributes
from parsers.bgp.nlri import NlriSet
from parsers.bmp.messages import PathStatus

from .rib import RibTable, RouteKey

#: ``RibTable.ext`` key of the per-marking counts.
EXT_KEY = "path_status"

_NAMES = tuple(f.name for f in fields(PathAttributes))


@dataclass(frozen=True, slots=True)
class MarkedAttributes(PathAttributes):
    """A route's attributes and its path marking (what ``RibTable.routes``
    holds for a marked route)."""

    path_status: PathStatus | None = None


def marked(attrs: PathAttributes, status: PathStatus) -> MarkedAttributes:
    """``attrs`` with ``status`` (not interned: pass it through the interner)."""
    return MarkedAttributes(*[getattr(attrs, n) for n in _NAMES], path_status=status)  # type: ignore[misc]


def status_of(value: PathAttributes | None) -> PathStatus | None:
    """The marking of a route value, or None."""
    if type(value) is MarkedAttributes:
        return value.path_status
    return None


def counts(table: RibTable) -> Counter[PathStatus] | None:
    """The table's routes per marking, or None when it never saw one."""
    ext = table.ext
    if not ext:
        return None
    got = ext.get(EXT_KEY)
    return got if isinstance(got, Counter) else None


def _keys(nset: NlriSet) -> tuple[RouteKey, ...] | list[RouteKey]:
    if nset.path_ids is None:
        return nset.prefixes
    return list(zip(nset.path_ids, nset.prefixes, strict=False))


def account_announce(table: RibTable, nset: NlriSet, attrs: PathAttributes) -> None:
    """Before ``table.announce(nset, attrs)``: move the counts of the routes it replaces."""
    new = status_of(attrs)
    state = counts(table)
    if state is None:
        if new is None:
            return
        if table.ext is None:
            table.ext = {}
        state = Counter()
        table.ext[EXT_KEY] = state
    routes = table.routes
    for k in _keys(nset):
        old = status_of(routes.get(k))
        if old is new:
            continue
        if old is not None:
            _decrement(state, old)
        if new is not None:
            state[new] += 1


def account_withdraw(table: RibTable, nset: NlriSet) -> None:
    """Before ``table.withdraw(nset)``: drop the counts of the routes it removes."""
    state = counts(table)
    if state is None:
        return
    routes = table.routes
    for k in _keys(nset):
        old = status_of(routes.get(k))
        if old is not None:
            _decrement(state, old)


def _decrement(state: Counter[PathStatus], status: PathStatus) -> None:
    n = state[status] - 1
    if n > 0:
        state[status] = n
    else:
        del state[status]


def by_name(state: Counter[PathStatus]) -> dict[str, int]:
    """Routes per status name: a route counts once for each of its status bits."""
    out: dict[str, int] = {}
    for status, n in state.items():
        for name in status.names:
            out[name] = out.get(name, 0) + n
    return out
