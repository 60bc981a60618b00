"""What this agent is built from, for ``bmp_agent_build_info``.

``compiled()`` is the one place that says whether the hot path runs as
compiled code: it is True when one of ``COMPILED_MODULES`` is importable as an
extension module (a ``.so``/``.pyd`` built from the Python source), False for
the pure-Python build.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import platform

from . import __version__

#: Modules a compiled build replaces with extension modules.
COMPILED_MODULES = ("parsers.bmp.fast", "parsers.bgp.fast")


def compiled() -> bool:
    for name in COMPILED_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:
            continue
        origin = spec.origin if spec is not None else None
        if origin and origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return True
    return False


def info() -> dict[str, str]:
    """The labels of ``bmp_agent_build_info``."""
    return {
        "version": __version__,
        "python": platform.python_version(),
        "compiled": "true" if compiled() else "false",
    }
