"""Which build of the hot path runs: compiled (mypyc) or pure Python.

The hot path (``HOT_MODULES``) is plain typed Python; ``setup.py`` compiles
the same files with mypyc when a C compiler and the Python headers are there,
and the extension modules (``.so``) sit next to the ``.py`` files. Python
prefers an extension module to a source file of the same name, so this module
decides once, at the first import of ``parsers``, and installs a finder that
loads the ``.py`` source of every hot module instead when:

- ``BMP_HOTPATH=pure`` is set (tests run the fast-vs-spec equivalence
  suite on both builds this way; any other value: whatever is installed), or
- a ``.py`` file is newer than its extension module (an in-place build that
  is stale after an edit: running old compiled code would be a silent lie).

The compiled modules call each other directly, so it is all or nothing:
either every hot module is compiled code or none is.

Standard library only: ``parsers`` is imported before anything else.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules a compiled build replaces with extension modules (the same
#: list ``setup.py`` hands to mypyc, as dotted names).
HOT_MODULES = (
    "parsers.bgp.fast",
    "parsers.bmp.fast",
    "parsers.bmp.reader",
    "parsers.bmp.session",
    "agent.core.rib",
)

ENV_PURE = "BMP_HOTPATH"

#: How far a source may be newer than its extension before it counts as an
#: edit (a wheel's files are unpacked at about the same time).
_SLACK_SECONDS = 2.0

_ROOT = Path(__file__).resolve().parent.parent


def _files(name: str) -> tuple[Path, list[Path]]:
    """The ``.py`` file of a hot module and the extension modules next to it."""
    base = _ROOT.joinpath(*name.split("."))
    exts = [base.with_name(base.name + s) for s in importlib.machinery.EXTENSION_SUFFIXES]
    return base.with_suffix(".py"), [e for e in exts if e.exists()]


def _decide() -> tuple[bool, str]:
    """(force pure?, why) for this process."""
    if os.environ.get(ENV_PURE, "") == "pure":
        return True, f"{ENV_PURE}=pure"
    for name in HOT_MODULES:
        source, exts = _files(name)
        if not exts or not source.exists():
            continue
        if source.stat().st_mtime > max(e.stat().st_mtime for e in exts) + _SLACK_SECONDS:
            return True, f"{source.name} of {name} is newer than its compiled module (rebuild)"
    return False, ""


class _PureFinder(importlib.abc.MetaPathFinder):
    """Loads the ``.py`` source of a hot module even when an extension exists."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in HOT_MODULES:
            return None
        source, _ = _files(fullname)
        if not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


FORCED_PURE, FORCED_REASON = _decide()
if FORCED_PURE and not any(isinstance(f, _PureFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _PureFinder())


def module_build(name: str) -> str:
    """ "compiled" or "pure" for an imported (or importable) hot module."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    compiled = bool(origin) and str(origin).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    return "compiled" if compiled else "pure"


def compiled() -> bool:
    """True when the hot path runs as compiled code (every hot module is)."""
    return all(module_build(name) == "compiled" for name in HOT_MODULES)


def describe() -> str:
    """One line for ``--version`` and the start-up log."""
    if compiled():
        return "hot path: compiled (mypyc)"
    if FORCED_PURE:
        return f"hot path: pure Python ({FORCED_REASON})"
    return "hot path: pure Python (no compiled build installed)"
