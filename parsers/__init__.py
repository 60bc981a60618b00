"""Sans-IO decoders for BMP and BGP: bytes in, frozen slotted dataclasses out.

May import the standard library and construct only; never ``agent``, asyncio,
sockets or metrics.
"""
