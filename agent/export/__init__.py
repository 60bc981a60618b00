"""Exporters: Prometheus metrics, JSON views of the core and the HTTP server that serves them.

They only read ``agent.core``; they may import it, ``agent.config``, ``agent.log`` and ``parsers``, never a source.
"""
