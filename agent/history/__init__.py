"""Per-prefix history and convergence: "what happened to this prefix, in order?"

``store`` holds the bounded events (one global ring, a per-prefix index);
``recorder`` writes them from the core's route observers, Peer Downs and
the FIB reconciler's kernel events, and detects best-path changes;
``convergence`` measures how long the selection and then the kernel took
after a Peer Down or a withdraw burst; ``component`` builds it into the
daemon (``/api/v1/history``, ``/api/v1/convergence``, metrics) from an
``agent.host.Host``; ``cmd`` is ``bmp-agent history PREFIX``.
"""
