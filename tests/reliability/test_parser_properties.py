"""Properties of ``parsers/`` on hostile input (hypothesis; profile ``gate``
in CI, ``hunt`` for longer runs, see ``tests/hypothesis_profiles.py``).

The contract: any bytes either decode or raise ``ParseError`` (with an
``Action`` and an offset); fed in any chunking, a stream gives the same
events as fed whole. The checks are those of the fuzz target
(``fuzz/target.py``), so the fuzzer and CI test one contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import scaled
from reliability_support import CAPTURES, fuzz_target

from parsers.bmp.session import BmpSession
from parsers.errors import ParseError

target = fuzz_target()


def _messages(name: str) -> list[bytes]:
    stream = (CAPTURES / name).read_bytes()
    out = []
    pos = 0
    while pos < len(stream):
        n = int.from_bytes(stream[pos + 1 : pos + 5], "big")
        out.append(stream[pos : pos + n])
        pos += n
    return out


SMALL = ("frr-addpath.bmp", "gobgp-addpath.bmp", "bird-addpath.bmp", "frr-mistakes.bmp")
MESSAGES = {name: _messages(name) for name in SMALL}
STREAMS = {name: (CAPTURES / name).read_bytes() for name in SMALL}


def test_capture_message_counts() -> None:
    # From tests/data/captures/README.md: the seeds below are whole messages.
    assert {k: len(v) for k, v in MESSAGES.items()} == {
        "frr-addpath.bmp": 44,
        "gobgp-addpath.bmp": 68,
        "bird-addpath.bmp": 47,
        "frr-mistakes.bmp": 416,
    }


@settings(max_examples=scaled(300))
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_parse_error(data: bytes) -> None:
    target.check(data)


@st.composite
def bmp_like(draw: st.DrawFn) -> bytes:
    """Plausible BMP: version 3, a length near the body's, any type, any body."""
    body = draw(st.binary(max_size=600))
    msg_type = draw(st.integers(0, 8))
    slack = draw(st.sampled_from([0, 0, 0, -1, 1, -7, 100]))
    n = max(0, 6 + len(body) + slack)
    return bytes([3]) + n.to_bytes(4, "big") + bytes([msg_type]) + body


@settings(max_examples=scaled(300))
@given(st.integers(0, 255), st.lists(bmp_like(), max_size=6))
def test_bmp_shaped_garbage(control: int, msgs: list[bytes]) -> None:
    target.check(bytes([control]) + b"".join(msgs))


@st.composite
def mutated_capture(draw: st.DrawFn) -> bytes:
    """A window of real messages (Peer Ups first) with bytes flipped, cut or inserted."""
    name = draw(st.sampled_from(SMALL))
    msgs = MESSAGES[name]
    start = draw(st.integers(0, len(msgs) - 1))
    window = msgs[start : start + draw(st.integers(1, 4))]
    ups = [m for m in msgs[:start] if m[5] == 3][-2:]
    data = bytearray(b"".join(ups + window))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            break
    return bytes([draw(st.integers(0, 255))]) + bytes(data)


@settings(max_examples=scaled(400))
@given(mutated_capture())
def test_mutated_captures_keep_the_contract(data: bytes) -> None:
    target.check(data)


@settings(max_examples=scaled(40))
@given(st.sampled_from(SMALL), st.lists(st.integers(1, 4000), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_events(name: str, sizes: list[int]) -> None:
    stream = STREAMS[name]
    whole, framing = target.run_session(stream, fast=True)
    assert framing is None
    session = BmpSession()
    events = []
    pos = 0
    i = 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        events.extend(session.feed(stream[pos : pos + n]))
        pos += n
        i += 1
    assert [target.event_key(e) for e in events] == [target.event_key(e) for e in whole]
    assert len(events) == len(MESSAGES[name])


def test_framing_error_keeps_the_messages_before_it() -> None:
    """Regression (first fuzz crasher): one ``feed`` holding good messages and
    then a bad header used to lose the good ones."""
    good = b"".join(MESSAGES["frr-addpath.bmp"][:5])
    session = BmpSession()
    with pytest.raises(ParseError) as info:
        session.feed(good + bytes([3, 0, 0, 0, 2, 0]))
    assert info.value.offset == len(good)
    assert [e.size for e in info.value.partial] == [len(m) for m in MESSAGES["frr-addpath.bmp"][:5]]
    with pytest.raises(ParseError) as again:
        session.feed(b"more")
    assert again.value.partial == []


CRASHERS = sorted((Path(__file__).resolve().parents[1] / "data" / "crashers").glob("crash-*"))


def test_crashers_are_stored() -> None:
    assert len(CRASHERS) >= 1


@pytest.mark.parametrize("path", CRASHERS, ids=[p.name[:18] for p in CRASHERS])
def test_crasher_regression(path: Path) -> None:
    target.check(path.read_bytes())
