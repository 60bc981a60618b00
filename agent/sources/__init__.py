"""Where the core's state comes from: ``bmp`` (listener, connector) and ``bird`` (control socket).

A source may import ``agent.core``, ``agent.config``, ``agent.log`` and ``parsers``; never another source or ``agent.export``.
"""
