"""Per-decoder fuzz targets (atheris), each small enough to run thousands of
inputs a second.

``TARGETS[name]`` is a ``Target``: ``check(data)`` runs one input and raises
``AssertionError`` (or the stray exception itself) when a contract is broken;
``instrument`` are the modules atheris instruments for coverage (only the
code under test: instrumenting everything makes each run ~20x slower);
``seeds()`` yields the seed inputs, cut from the golden captures and the
recorded BIRD output. The first input byte is a control byte where a target
needs choices (flags, chunk sizes); the rest is the input proper.

==================  ==========================================================
target              contract
==================  ==========================================================
bmp_framing         ``BmpReader``: any bytes in any chunking give the same
                    messages and the same framing error (a ``ParseError``)
bmp_<type>          ``decode_bmp_message`` of one message type (Initiation,
                    Peer Up, ...): the message or a ``ParseError`` with an
                    ``Action`` and an integer offset inside the message
bgp_update          ``decode_update``: an ``Update`` or a ``ParseError``
bgp_attributes      ``decode_attributes``: attributes or a ``ParseError``
fast_vs_spec        the hand-written Route Monitoring fast path equals the
                    construct spec: the same message, or the same error
                    (type, action, offset, message, partial)
bird_parse          BIRD CLI output: ``LineReader`` and the protocol, route,
                    count and status parsers give results or
                    ``BirdProtocolError``/``ValueError`` with a message
netlink             ``apply_routes`` on RTM_NEWROUTE/DELROUTE bytes: the
                    learned-layout fast path and the generic attribute walk
                    give the same kernel state; errors are ``NetlinkError``
config              YAML text: ``agent.config.load`` gives a ``Config`` or a
                    ``ConfigError`` naming the key
session             everything a router's bytes reach (``fuzz/target.py``):
                    both decoders, chunking, rendering, the state core
==================  ==========================================================
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "data" / "captures"
BIRD_OUTPUT = ROOT / "tests" / "data" / "bird"

#: BMP message types by target name.
BMP_TYPES = {
    "route_monitoring": 0,
    "statistics": 1,
    "peer_down": 2,
    "peer_up": 3,
    "initiation": 4,
    "termination": 5,
    "route_mirroring": 6,
}


@dataclass(frozen=True)
class Target:
    name: str
    check: Callable[[bytes], None]
    instrument: tuple[str, ...]
    seeds: Callable[[], Iterator[bytes]]
    max_len: int = 4096
    #: Run once by the fuzzing process before the first input (not by the
    #: crasher replay in the tests, which runs ``check`` as it is).
    setup: Callable[[], None] | None = None


# -- helpers --------------------------------------------------------------------


def _check_error(err: object, size: int | None = None) -> None:
    from parsers.errors import Action, ParseError

    assert isinstance(err, ParseError)
    assert isinstance(err.action, Action), f"action {err.action!r} is not an Action"
    assert isinstance(err.offset, int), f"offset {err.offset!r} is not an int"
    assert isinstance(err.message, str) and err.message, "empty error message"
    if size is not None:
        assert 0 <= err.offset <= size, f"offset {err.offset} outside the {size}-byte input"


def _messages(stream: bytes, limit: int | None = None) -> Iterator[bytes]:
    pos = 0
    count = 0
    while len(stream) - pos >= 6 and (limit is None or count < limit):
        length = int.from_bytes(stream[pos + 1 : pos + 5], "big")
        if stream[pos] != 3 or length < 6 or pos + length > len(stream):
            return
        yield stream[pos : pos + length]
        pos += length
        count += 1


def _capture_messages(per_capture: int = 300) -> Iterator[bytes]:
    for path in sorted(CAPTURES.glob("*.bmp*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        yield from _messages(data, per_capture)


def _bmp(msg_type: int, body: bytes) -> bytes:
    return bytes([3]) + (6 + len(body)).to_bytes(4, "big") + bytes([msg_type]) + body


def _per_peer(control: int) -> bytes:
    """A per-peer header; ``control`` picks the V (IPv6), L (post), A (2-octet
    AS) and O (Adj-RIB-Out) flags and the peer type (0-3)."""
    flags = (
        (0x80 if control & 1 else 0)
        | (0x40 if control & 2 else 0)
        | (0x20 if control & 4 else 0)
        | (0x10 if control & 8 else 0)
    )
    ptype = (control >> 4) & 3
    rd = bytes(8) if ptype in (0, 3) else struct.pack("!HHI", 0, 65000, 1)
    addr = (
        bytes(12) + bytes([192, 0, 2, 1])
        if not control & 1
        else bytes.fromhex("20010db8" + "00" * 11 + "01")
    )
    return (
        bytes([ptype, flags]) + rd + addr + struct.pack("!IIII", 65001, 0xC0000201, 1700000000, 0)
    )


def _bgp(msg_type: int, body: bytes) -> bytes:
    return b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + bytes([msg_type]) + body


def _updates() -> Iterator[bytes]:
    """BGP UPDATE messages of the captures' Route Monitoring."""
    for msg in _capture_messages():
        if msg[5] == 0 and len(msg) >= 48 + 23:
            yield msg[48:]


# -- BMP ----------------------------------------------------------------------


def check_framing(data: bytes) -> None:
    from parsers.bmp.reader import BmpReader
    from parsers.errors import ParseError

    if not data:
        return
    chunk = data[0] % 32 + 1
    stream = data[1:]
    if len(stream) > 64 * chunk:
        # At most ~64 pieces (as the session target): 1-byte pieces of a 4 KB
        # stream were 4,000 feeds per input, every one through the same few
        # branches that a short input's pieces reach; the control byte still
        # moves the cut points.
        chunk = len(stream) // 64 + data[0] % 32

    def run(pieces: list[bytes]) -> tuple[list[tuple[int, bytes]], tuple[str, int] | None]:
        reader = BmpReader(max_message_size=65536)
        out: list[tuple[int, bytes]] = []
        try:
            for piece in pieces:
                reader.feed(piece)
                out.extend((off, bytes(m)) for off, m in reader.messages())
        except ParseError as err:
            _check_error(err)
            return out, (err.message, err.offset)
        return out, None

    whole = run([stream])
    pieces = run([stream[i : i + chunk] for i in range(0, len(stream), chunk)])
    assert whole == pieces, f"chunks of {chunk} bytes frame differently"
    pos = 0
    for off, msg in whole[0]:
        assert off == pos and stream[off : off + len(msg)] == msg, "message not where framed"
        pos += len(msg)


def framing_seeds() -> Iterator[bytes]:
    for path in sorted(CAPTURES.glob("*.bmp")):
        yield b"\x05" + path.read_bytes()[:4000]


def bmp_type_check(msg_type: int) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        from parsers.bmp.context import DecodeContext, PeerCaps
        from parsers.bmp.decode import decode_bmp_message
        from parsers.errors import ParseError

        if not data:
            return
        ctx = DecodeContext()
        if data[0] & 0x80:  # a peer with ADD-PATH for IPv4/IPv6 unicast
            caps = PeerCaps(add_path_in=frozenset({(1, 1), (2, 1)}))
            ctx.peer_up((0, bytes(8), "192.0.2.1"), caps)
        msg = _bmp(msg_type, data[1:])
        try:
            out = decode_bmp_message(msg, ctx)
        except ParseError as err:
            _check_error(err, len(msg))
            return
        assert getattr(out, "TYPE", msg_type) == msg_type, f"type {out!r}"

    return check


def bmp_type_seeds(msg_type: int) -> Callable[[], Iterator[bytes]]:
    def seeds() -> Iterator[bytes]:
        n = 0
        for msg in _capture_messages():
            if msg[5] == msg_type and len(msg) <= 4000:
                yield b"\x00" + msg[6:]
                n += 1
                if n >= 200:
                    return
        if n == 0:  # no capture has this type: an empty body and a bare header
            yield b"\x00"
            yield b"\x00" + _per_peer(0)

    return seeds


# -- BGP ----------------------------------------------------------------------


def check_update(data: bytes) -> None:
    from parsers.bgp.decode import decode_update
    from parsers.errors import ParseError

    if not data:
        return
    four = not data[0] & 1
    add_path = (lambda afi, safi, blobs: True) if data[0] & 2 else None
    msg = _bgp(2, data[1:])
    try:
        decode_update(msg, four_octet_as=four, add_path=add_path)
    except ParseError as err:
        _check_error(err, len(msg))


def update_seeds() -> Iterator[bytes]:
    seen: set[bytes] = set()
    for upd in _updates():
        if upd not in seen and len(upd) <= 1000:
            seen.add(upd)
            yield b"\x00" + upd[19:]
            if len(seen) >= 400:
                return


def check_attributes(data: bytes) -> None:
    from parsers.bgp.decode import decode_attributes
    from parsers.errors import ParseError

    if not data:
        return
    try:
        decode_attributes(data[1:], four_octet_as=not data[0] & 1)
    except ParseError as err:
        _check_error(err, len(data) - 1)


def attribute_seeds() -> Iterator[bytes]:
    seen: set[bytes] = set()
    for upd in _updates():
        body = upd[19:]
        if len(body) < 4:
            continue
        wlen = int.from_bytes(body[0:2], "big")
        p = 2 + wlen
        if p + 2 > len(body):
            continue
        alen = int.from_bytes(body[p : p + 2], "big")
        block = body[p + 2 : p + 2 + alen]
        if block and block not in seen:
            seen.add(block)
            yield b"\x00" + block
            if len(seen) >= 400:
                return


def check_fast_vs_spec(data: bytes) -> None:
    """The fast path against the spec on one Route Monitoring message."""
    from parsers.bmp import decode as spec
    from parsers.bmp import fast
    from parsers.bmp.context import DecodeContext, PeerCaps
    from parsers.errors import ParseError

    if not data:
        return
    control = data[0]
    peer = _per_peer(control & 0x3F)
    msg = _bmp(0, peer + _bgp(2, data[1:]))
    results = []
    quirks = []
    for decode in (fast.decode_route_monitoring, spec.decode_bmp_message):
        ctx = DecodeContext()
        if control & 0x40:
            fam = frozenset({(1, 1), (2, 1)})
            caps = PeerCaps(add_path_in=fam, add_path_out=fam, add_path_loc_rib=fam)
            ptype = (control >> 4) & 3
            rd = bytes(8) if ptype in (0, 3) else struct.pack("!HHI", 0, 65000, 1)
            addr = "2001:db8::1" if control & 1 else "192.0.2.1"
            ctx.peer_up((ptype, rd, addr), caps)
        try:
            results.append(decode(msg, ctx))
        except ParseError as err:
            _check_error(err, len(msg))
            results.append((type(err), err.action, err.offset, err.message, err.partial))
        quirks.append(dict(ctx.quirks))
    assert results[0] == results[1], (
        f"fast path differs from the spec:\n{results[0]!r}\n{results[1]!r}"
    )
    assert quirks[0] == quirks[1], f"quirks differ: {quirks[0]} vs {quirks[1]}"


def fast_seeds() -> Iterator[bytes]:
    n = 0
    for seed in update_seeds():
        if len(seed) <= 512:
            yield (b"\x42" if n % 2 else b"\x00") + seed[1:]  # odd: post-policy, ADD-PATH
            n += 1
            if n >= 300:
                return


# -- BIRD ---------------------------------------------------------------------


def check_bird(data: bytes) -> None:
    from agent.sources.bird.parse import (
        ProtocolParser,
        RouteParser,
        parse_count,
        parse_status,
    )
    from agent.sources.bird.protocol import BirdProtocolError, LineReader

    if not data:
        return
    chunk = data[0] % 64 + 1
    text = data[1:]
    reader = LineReader()
    lines = []
    try:
        for i in range(0, len(text), chunk):
            lines.extend(reader.feed(text[i : i + chunk]))
    except BirdProtocolError as err:
        assert str(err)
    protocols = ProtocolParser()
    routes = RouteParser()
    for line in lines:
        try:
            protocols.feed(line)
        except ValueError as err:  # a malformed protocol row: named in the message
            assert str(err).startswith("not a protocol row"), str(err)
        routes.feed(line)
    protocols.result()
    routes.close()
    for parse in (parse_count, parse_status):
        try:
            parse(lines)
        except ValueError as err:  # not that reply: says so
            assert str(err), f"{parse.__name__}: empty error"


def bird_seeds() -> Iterator[bytes]:
    for path in sorted(BIRD_OUTPUT.rglob("*.txt")):
        text = path.read_bytes()
        for start in range(0, min(len(text), 16000), 2000):
            part = text[start : start + 2000]
            yield b"\x3f" + part[: part.rfind(b"\n") + 1]


# -- netlink ------------------------------------------------------------------

_RTA = struct.Struct("=HH")


def _rta(atype: int, value: bytes) -> bytes:
    raw = _RTA.pack(4 + len(value), atype) + value
    return raw + bytes(-len(raw) % 4)


def _route_msg(family: int, dst: bytes, plen: int, attrs: bytes, *, new: bool = True) -> bytes:
    rtm = struct.pack("=BBBBBBBBI", family, plen, 0, 0, 254, 186, 0, 1, 0)
    body = rtm + _rta(1, dst) + attrs
    return struct.pack("=IHHII", 16 + len(body), 24 if new else 25, 0, 1, 0) + body


def netlink_seeds() -> Iterator[bytes]:
    gw4 = _rta(5, bytes([10, 0, 0, 1])) + _rta(4, struct.pack("=I", 2))
    table = _rta(15, struct.pack("=I", 254)) + _rta(6, struct.pack("=I", 20))
    v4 = [_route_msg(2, bytes([10, i, 0, 0]), 16, table + gw4) for i in range(4)]
    yield b"\x00" + b"".join(v4)
    gw6 = _rta(5, bytes.fromhex("fe80" + "00" * 13 + "01")) + _rta(4, struct.pack("=I", 3))
    v6 = [
        _route_msg(10, bytes.fromhex(f"20010db8{i:04x}") + bytes(10), 48, table + gw6)
        for i in range(3)
    ]
    yield b"\x00" + b"".join(v6)
    # RTA_MULTIPATH: two rtnexthop entries with a gateway each
    hop = struct.pack("=HBBi", 8 + 8, 0, 0, 2) + _rta(5, bytes([10, 0, 0, 1]))
    hop2 = struct.pack("=HBBi", 8 + 8, 0, 0, 3) + _rta(5, bytes([10, 0, 0, 2]))
    mp = _route_msg(2, bytes([192, 168, 0, 0]), 24, table + _rta(9, hop + hop2))
    yield b"\x00" + mp + _route_msg(2, bytes([192, 168, 0, 0]), 24, table, new=False)
    # a nexthop object route (RTA_NH_ID)
    yield b"\x00" + _route_msg(
        2, bytes([172, 16, 0, 0]), 12, table + _rta(30, struct.pack("=I", 7))
    )


def check_netlink(data: bytes) -> None:
    from agent.fib import netlink

    if not data:
        return
    buf = data[1:]
    everything = frozenset(range(256))

    def run(learned: bool) -> object:
        if not learned:
            netlink._LAYOUTS.clear()
        state = netlink.KernelState(protocols=everything, tables=None)
        try:
            netlink.apply_routes(state, buf)
        except netlink.NetlinkError as err:
            return ("error", str(err))
        return (state.routes, state.shadow)

    generic = run(False)  # every message walked attribute by attribute
    fast = run(True)  # the same bytes with the layouts learned by the first run
    assert generic == fast, f"learned layouts change the result:\n{generic!r}\n{fast!r}"


# -- config -------------------------------------------------------------------

_CONFIG_FILE: list[str] = []


def check_config(data: bytes) -> None:
    from agent.config import ConfigError, load

    if not _CONFIG_FILE:
        fd, name = tempfile.mkstemp(prefix="bmp-fuzz-config-", suffix=".yaml", dir=_tmpdir())
        os.close(fd)
        _CONFIG_FILE.append(name)
    path = _CONFIG_FILE[0]
    with open(path, "wb") as f:
        f.write(data)
    try:
        load(path=path, environ={})
    except ConfigError as err:
        assert str(err), "empty ConfigError"


def _tmpdir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def config_seeds() -> Iterator[bytes]:
    yield b""
    yield b"bmp:\n  listen: ['127.0.0.1:11019']\n  max_routers: 64\n  idle_timeout: 90\nhttp:\n  listen: 127.0.0.1:9324\n"
    yield b"log: {level: debug, format: json}\nrib: {flap_window: 60, top_flaps: 10}\n"
    yield b"fib:\n  enabled: true\n  mode: any\n  grace: 5\nhealth:\n  interval: 30\n"
    yield b"sources:\n  - type: bird\n    socket: /run/bird/bird.ctl\n"
    yield b"http:\n  max_concurrent_api: 4\n  max_limit: 10000\n  keepalive_timeout: .nan\n"
    yield b"bmp:\n  allow: [10.0.0.0/8, '::/0']\n  connect: ['[::1]:5000']\n"


# -- the combined session target ---------------------------------------------


def check_session(data: bytes) -> None:
    import target

    target.check(data)


def session_setup() -> None:
    """Decode each distinct BGP OPEN once per fuzzing process.

    ``parsers.bgp.decode.decode_open`` (construct) is a pure function of its
    bytes, and the slowest step of the session target: ~1 ms per OPEN, two in
    every Peer Up, and the same Peer Up is decoded by all three sessions of an
    input and recurs in most inputs of the corpus (two thirds of the target's
    time). The session target does not instrument the spec decoders
    (``bmp_peer_up`` fuzzes them), so an OPEN already decoded gives the same
    message and no new edge; one not seen yet, or one that fails (errors are
    not cached), is decoded as before."""
    import functools

    from parsers.bgp import decode

    if not hasattr(decode.decode_open, "cache_info"):
        decode.decode_open = functools.lru_cache(maxsize=4096)(decode.decode_open)  # type: ignore[assignment]


def session_seeds() -> Iterator[bytes]:
    import seeds

    yield from seeds.seeds()


# -- registry -------------------------------------------------------------------

TARGETS: dict[str, Target] = {}


def _add(t: Target) -> None:
    TARGETS[t.name] = t


#: The construct spec decoders and what they run: the BMP and BGP message
#: decoders, their wire definitions (adapters run per parse), the NLRI codec,
#: the attribute helpers, the ADD-PATH context, the message classes, the
#: statistics types, the errors and the address families (not: rendering,
#: the fast path, framing, encoders, MRT).
_SPEC = (
    "parsers.bmp.decode",
    "parsers.bmp.wire",
    "parsers.bmp.context",
    "parsers.bmp.messages",
    "parsers.bmp.stat_types",
    "parsers.bgp.decode",
    "parsers.bgp.wire",
    "parsers.bgp.nlri",
    "parsers.bgp.attributes",
    "parsers.bgp.messages",
    "parsers.errors",
    "parsers.afi",
)
_add(
    Target("bmp_framing", check_framing, ("parsers.bmp.reader", "parsers.bmp.wire"), framing_seeds)
)
for _name, _code in BMP_TYPES.items():
    _add(Target(f"bmp_{_name}", bmp_type_check(_code), _SPEC, bmp_type_seeds(_code)))
_add(Target("bgp_update", check_update, _SPEC, update_seeds, max_len=1024))
_add(Target("bgp_attributes", check_attributes, _SPEC, attribute_seeds, max_len=1024))
_add(
    Target(
        "fast_vs_spec",
        check_fast_vs_spec,
        ("parsers.bmp.fast", "parsers.bgp.fast", "parsers.bmp.context"),
        fast_seeds,
        max_len=512,
    )
)
_add(
    Target(
        "bird_parse",
        check_bird,
        ("agent.sources.bird.parse", "agent.sources.bird.protocol"),
        bird_seeds,
        max_len=2048,
    )
)
_add(Target("netlink", check_netlink, ("agent.fib.netlink",), netlink_seeds))
_add(Target("config", check_config, ("agent.config",), config_seeds, max_len=2048))
_add(
    Target(
        "session",
        check_session,
        (
            "parsers.bmp.reader",
            "parsers.bmp.session",
            "parsers.bmp.fast",
            "parsers.bgp.fast",
            "parsers.bmp.context",
            "parsers.render",
            "agent.core",
            "target",
        ),
        session_seeds,
        max_len=4096,  # fuzz/seeds.py MAX_LEN
        setup=session_setup,
    )
)
