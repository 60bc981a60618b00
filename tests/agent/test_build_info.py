"""``bmp_agent_build_info``: one series of value 1 on the daemon's registry,
with or without a router, and ``compiled`` from ``agent.build.compiled()``."""

from __future__ import annotations

import importlib
import importlib.machinery
import platform
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import agent
from agent import build
from agent.app import new_registry


def test_the_daemons_registry_exports_build_info_without_any_router() -> None:
    text = generate_latest(new_registry()).decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "bmp_agent_build_info"
    ]
    assert family.type == "gauge"
    assert [(s.name, s.labels, s.value) for s in family.samples] == [
        (
            "bmp_agent_build_info",
            {
                "version": agent.__version__,
                "python": platform.python_version(),
                "compiled": "true" if build.compiled() else "false",
            },
            1.0,
        )
    ]
    assert "# HELP bmp_agent_build_info Always 1" in text


def test_compiled_label_follows_the_hot_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    origins = {n: str(importlib.import_module(n).__file__) for n in build.COMPILED_MODULES}
    expected = all(
        o.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) for o in origins.values()
    )
    assert build.compiled() is expected, origins
    assert build.info()["compiled"] == ("true" if expected else "false")
    # A pure module among compiled ones: not compiled (all or nothing).
    monkeypatch.setattr(build, "COMPILED_MODULES", (*build.COMPILED_MODULES, "agent.build"))
    assert build.compiled() is False
    assert build.info()["compiled"] == "false"


def _an_extension_module() -> str:
    """A top-level extension module on sys.path (lib-dynload has dozens)."""
    for entry in sys.path:
        folder = Path(entry)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                if path.name.endswith(suffix) and not path.name.startswith("_test"):
                    return path.name.removesuffix(suffix)
    pytest.fail(f"no extension module on {sys.path}")


def test_compiled_when_a_module_is_an_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "COMPILED_MODULES", (_an_extension_module(),))
    assert build.compiled() is True
    assert build.info()["compiled"] == "true"
    monkeypatch.setattr(build, "COMPILED_MODULES", ("agent.no_such_module", "agent.build"))
    assert build.compiled() is False
