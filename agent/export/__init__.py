"""Exporters: read the state core and feed other systems.

Prometheus metrics, JSON views of the core and the HTTP server that serves
them; the BMP relay to upstream collectors with resync from the RIB
(``relay``, ``resync``); MRT snapshots (``mrt``, ``bmp-agent dump``).

They only read ``agent.core``; they may import it, ``agent.config``, ``agent.log``, ``agent.host`` and ``parsers``, never a source.
"""
