"""Sans-IO decoders for BMP and BGP: bytes in, frozen dataclasses out.

Nothing here does IO, uses asyncio or touches metrics.
"""
