"""BMP: ``messages``, ``wire``, ``decode``, ``fast``, ``reader`` (framing),
``context`` (per-session ADD-PATH state), ``session`` (all of it, sans-IO).
May import ``parsers.bgp``, ``parsers.afi`` and ``parsers.errors``.
"""
