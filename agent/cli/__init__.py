"""The ``bmp-agent`` command line: ``main`` (argument parsing, ``run``, ``peers``, ``routes``),
``decode`` and ``replay``; it may import anything in ``agent`` and ``parsers``."""
