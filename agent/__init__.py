"""bmp-agent: BGP telemetry daemon (BMP collector, RIB views, FIB reconciliation, metrics).

The IO shell lives here (config, listener, connector, HTTP, CLI, daemon);
decoding is the sans-IO ``parsers`` package.
"""

from __future__ import annotations

from importlib import metadata

# Before any hot module (``agent.core.rib``): which build runs (parsers.hotpath).
import parsers.hotpath  # noqa: F401

try:
    __version__ = metadata.version("bmp-agent")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"
