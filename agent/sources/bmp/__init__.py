"""The BMP source: TCP listener (routers connect to us) and connector (we connect to routers).

Imports ``agent.core``, ``agent.config``, ``agent.log`` and ``parsers``; never ``agent.export`` or another source.
"""
