"""Hot-path details of the core's ingest (bench/ingest.py measures them)."""

from __future__ import annotations

from agent.core import AttributeInterner
from agent.core.rib import EMPTY_ATTRIBUTES
from parsers.bgp.attributes import PathAttributes


def test_interner_repeated_object_and_equal_objects_share_one_value() -> None:
    it = AttributeInterner()
    a = PathAttributes(origin=0, med=10)
    first = it.intern(a)
    assert first is a
    assert it.intern(a) is first  # identity shortcut
    b = PathAttributes(origin=0, med=10)
    assert b is not a
    assert it.intern(b) is first  # equal value: the interned one
    assert it.intern(a) is first
    c = PathAttributes(origin=0, med=11)
    assert it.intern(c) is c
    assert it.intern(None) is EMPTY_ATTRIBUTES
    assert it.intern(a) is first
    assert len(it) == 2


def test_interner_sweep_is_not_fooled_by_the_last_result() -> None:
    it = AttributeInterner()
    kept = it.intern(PathAttributes(med=8))
    # The last one interned, held by nobody but the interner (and its
    # last-result shortcut, which the sweep must not count).
    it.intern(PathAttributes(med=7))
    assert len(it) == 2
    assert it.sweep() == 1
    assert len(it) == 1
    assert it.intern(PathAttributes(med=8)) is kept
    assert it.intern(PathAttributes(med=7)) is not kept
    assert len(it) == 2


def _copy(b: bytes) -> bytes:
    """An equal ``bytes`` object that is not ``b`` (as each message's slice is)."""
    out = bytes(bytearray(b))
    assert out == b and out is not b
    return out


def test_tables_share_one_key_object_per_prefix_and_a_sweep_frees_dead_ones() -> None:
    from agent.core.interner import KEYS
    from agent.core.rib import RibTable

    KEYS.sweep()
    base = len(KEYS)
    attrs = PathAttributes(med=1)
    prefixes = [bytes([24, 198, 51, i]) for i in range(100)]
    pre, post = RibTable("adj_in_pre", 1, 1), RibTable("adj_in_post", 1, 1)
    pre.announce(tuple(_copy(p) for p in prefixes), None, attrs, 0.0, 60.0, [])
    post.announce(tuple(_copy(p) for p in prefixes), None, attrs, 0.0, 60.0, [])
    assert len(KEYS) == base + 100
    assert all(a is b_ for a, b_ in zip(pre.routes, post.routes, strict=True))
    assert list(pre.routes) == prefixes
    # ADD-PATH keys share the prefix object too.
    ap = RibTable("adj_in_pre", 1, 1)
    ap.announce(tuple(_copy(p) for p in prefixes[:10]), tuple(range(10)), attrs, 0.0, 60.0, [])
    assert all(k[1] is pool for k, pool in zip(ap.routes, list(pre.routes)[:10], strict=True))
    assert len(KEYS) == base + 100
    # While any table holds a prefix, a sweep keeps it.
    pre.clear()
    assert KEYS.sweep() == 0
    post.withdraw(tuple(_copy(p) for p in prefixes[50:]), None, 1.0, 60.0)
    post.recent.clear()
    ap.clear()
    assert KEYS.sweep() == 50
    assert len(KEYS) == base + 50
    post.clear()
    assert KEYS.sweep() == 50
    assert len(KEYS) == base
