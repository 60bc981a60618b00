"""Wire codes and the names JSON, metrics and logs show them by.

A registry maps a code to a lower-case snake_case name (``"ipv4"``,
``"route_monitoring"``); a code it lacks is shown as ``<prefix>_<code>``
(``"afi_99"``, ``"reason_12"``), so unknown codes stay told apart.
``CodeEnum`` is an ``IntEnum`` whose member names are its codes' names.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import overload


class CodeEnum(IntEnum):
    """An ``IntEnum`` of wire codes: each member's name, lower-case, names its code."""

    @classmethod
    def names(cls) -> dict[int, str]:
        """Code -> name for every member: the registry ``name_of`` reads."""
        return {m.value: m.name.lower() for m in cls}


@overload
def name_of(names: Mapping[int, str], code: int, prefix: str) -> str: ...
@overload
def name_of(names: Mapping[int, str], code: None, prefix: str) -> None: ...
@overload
def name_of(names: Mapping[int, str], code: int | None, prefix: str) -> str | None: ...
def name_of(names: Mapping[int, str], code: int | None, prefix: str) -> str | None:
    """The name ``names`` gives ``code``, ``<prefix>_<code>`` when it gives
    none, and None for a field that is absent (``code`` None)."""
    if code is None:
        return None
    name = names.get(code)
    return f"{prefix}_{code}" if name is None else name
