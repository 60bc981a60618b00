"""Test support shared by every test area and by ``bench/``: the BMP and BGP
message builders (``support.bmp``, ``support.bgp``) and loopback process helpers
(``support.procs``, stdlib only). Imports ``parsers`` only."""
