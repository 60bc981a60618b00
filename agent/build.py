"""What this agent is built from, for ``bmp_agent_build_info`` and ``--version``.

``compiled()`` is the one place that says whether the hot path runs as
compiled code: True when every one of ``COMPILED_MODULES`` is imported from
an extension module (mypyc-built from the same ``.py`` source, ``setup.py``),
False for the pure-Python build (no compiler at install time, or
``BMP_HOTPATH=pure``; ``parsers.hotpath``).
"""

from __future__ import annotations

import platform

from parsers import hotpath

from . import __version__

#: Modules a compiled build replaces with extension modules.
COMPILED_MODULES = hotpath.HOT_MODULES


def compiled() -> bool:
    return all(hotpath.module_build(name) == "compiled" for name in COMPILED_MODULES)


def describe() -> str:
    """One line: which build of the hot path runs, and why."""
    return hotpath.describe()


def info() -> dict[str, str]:
    """The labels of ``bmp_agent_build_info``."""
    return {
        "version": __version__,
        "python": platform.python_version(),
        "compiled": "true" if compiled() else "false",
    }
