"""Seed inputs for the fuzzer, cut from the golden captures.

Each seed is a control byte (see ``fuzz/target.py``) and a short BMP stream:
one message of a capture preceded by the last Peer Up of its peer seen before
it in the same capture (so Route Monitoring decodes with the negotiated
ADD-PATH and 4-octet-AS context; other peers' Peer Ups would only cost decode
time), plus the first 4 KiB of every capture (cut mid-message, as a truncated
stream). The TLV and BMP v4 streams of
``tests/data/bmp-tlv`` (built by ``tests/support/tlv_streams.py``: TLVs after
the UPDATE, v4 with the BGP PDU TLV, path marking, groups, enterprise TLVs,
stateless ADD-PATH, VPNv4 without Peer Up) are seeded the same way.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path

CAPTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "captures"
TLV_STREAMS = CAPTURES.parent / "bmp-tlv"
#: The session target's libFuzzer ``-max_len`` (a few dozen messages; longer
#: inputs repeat what those reach at a fraction of the speed).
MAX_LEN = 4096
#: Messages taken from each of the large ``scale`` captures.
SCALE_MESSAGES = 300


def split_messages(stream: bytes, limit: int | None = None) -> Iterator[bytes]:
    """Whole BMP messages of a well-formed stream (stops at the first bad header)."""
    pos = 0
    count = 0
    while len(stream) - pos >= 6 and (limit is None or count < limit):
        length = int.from_bytes(stream[pos + 1 : pos + 5], "big")
        if stream[pos] not in (3, 4) or length < 6 or pos + length > len(stream):
            return
        yield stream[pos : pos + length]
        pos += length
        count += 1


def read_capture(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def seeds(captures: Path = CAPTURES, tlv_streams: Path = TLV_STREAMS) -> Iterator[bytes]:
    paths = sorted(captures.glob("*.bmp*")) + sorted(tlv_streams.glob("*.bmp"))
    for path in paths:
        stream = read_capture(path)
        yield b"\x07" + stream[: MAX_LEN - 1]
        limit = SCALE_MESSAGES if path.suffix == ".gz" else None
        peer_ups: dict[bytes, bytes] = {}
        for msg in split_messages(stream, limit):
            key = peer_key(msg)
            context = peer_ups.get(key, b"") if key is not None else b""
            if msg[5] == 3 and key is not None:  # Peer Up
                peer_ups[key] = msg
            seed = b"\x00" + context + msg
            if len(seed) <= MAX_LEN:
                yield seed


def peer_key(msg: bytes) -> bytes | None:
    """Peer type, RD and address of a message's per-peer header (the
    ``DecodeContext`` key), or None for Initiation and Termination."""
    if msg[5] in (4, 5) or len(msg) < 6 + 26:
        return None
    return msg[6:7] + msg[8:32]


def write_seeds(directory: Path, limit: int | None = None) -> int:
    """Write the seeds (named by SHA-1, duplicates once); return how many.

    ``limit`` keeps every n-th seed so that about ``limit`` remain."""
    directory.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    every = list(seeds())
    if limit is not None and len(every) > limit:
        every = every[:: -(-len(every) // limit)]
    for seed in every:
        name = hashlib.sha1(seed).hexdigest()
        if name not in names:
            names.add(name)
            (directory / name).write_bytes(seed)
    return len(names)
