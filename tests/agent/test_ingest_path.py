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
