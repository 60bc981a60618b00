"""Build of bmp-agent: the hot path (``parsers.hotpath.HOT_MODULES``) is
compiled with mypyc from the same typed ``.py`` files when a C compiler and
the Python headers are there; otherwise, or when compiling fails, the package
installs as pure Python and says so in one line. ``BMP_HOTPATH=pure`` at
install time skips the compiler. Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
#: Same list as parsers.hotpath.HOT_MODULES (not imported: the build must not
#: import the package it builds).
HOT = [
    "parsers/bgp/fast.py",
    "parsers/bmp/fast.py",
    "parsers/bmp/reader.py",
    "parsers/bmp/session.py",
    "agent/core/rib.py",
]


def _say(text: str) -> None:
    print(f"bmp-agent build: {text}", file=sys.stderr)


def _no_compiler_reason() -> str | None:
    if os.environ.get("BMP_HOTPATH", "") == "pure":
        return "BMP_HOTPATH=pure"
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        return f"no Python headers ({include}/Python.h; Debian: python3-dev)"
    return None


def _ext_modules() -> list[Any]:
    reason = _no_compiler_reason()
    if reason is None:
        try:
            from mypyc.build import mypycify
        except ImportError:
            reason = "mypyc is not installed"
    if reason is not None:
        _say(f"installing the pure-Python hot path: {reason}")
        return []
    old = os.getcwd()
    os.chdir(ROOT)  # mypyc takes paths relative to the source root
    try:
        # The build environment need not hold the runtime dependencies (a
        # plain ``pip install .``): their types are Any to mypyc, which
        # changes no compiled behaviour of the hot path.
        return list(
            mypycify(["--ignore-missing-imports", *HOT], opt_level="3", group_name="bmp_agent_hot")
        )
    except (Exception, SystemExit) as exc:  # a mypy error in the hot path: still install
        _say(f"installing the pure-Python hot path: mypyc failed: {exc}")
        return []
    finally:
        os.chdir(old)


class BuildExt(build_ext):
    """Compile the hot path; on a compiler error install pure Python instead."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:
            _say(f"installing the pure-Python hot path: compiling failed: {exc}")
            self.extensions = []
            return
        _say(f"compiled the hot path with mypyc ({len(HOT)} modules)")


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": BuildExt})
