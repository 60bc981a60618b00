"""bmp-agent: BGP telemetry daemon (BMP collector, RIB views, FIB reconciliation, metrics).

The IO shell lives here (config, listener, connector, HTTP, CLI, daemon);
decoding is the sans-IO ``parsers`` package.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("bmp-agent")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"
