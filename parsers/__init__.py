"""Sans-IO decoders for BMP and BGP: bytes in, frozen slotted dataclasses out.

May import the standard library and construct only; never ``agent``, asyncio,
sockets or metrics.
"""

# Decide once whether the compiled hot path or its pure source runs (before
# any hot module is imported).
from . import hotpath as hotpath
