"""``bmp-agent replay FILE --to HOST:PORT``: act as a router and stream a capture.

FILE is a raw BMP byte stream (what one router sent on one TCP connection),
plain or gzip-compressed (recognised by its magic bytes). It is split into
whole messages with ``parsers.bmp.reader.BmpReader`` and sent in order,
``--rate`` messages per second at most (0 = as fast as possible). On a TTY a
progress bar goes to stderr, otherwise one summary line. ``--hold`` keeps the
connection open after the last message until Ctrl-C (or until the collector
closes it), so the collector keeps the routes.

Exit status: 0 sent everything, 1 connection or framing error, 2 usage.
"""

from __future__ import annotations

import argparse
import gzip
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from parsers.bmp.reader import BmpReader
from parsers.errors import ParseError

from ..config import Endpoint, parse_endpoint

CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"


def open_capture(path: str) -> IO[bytes]:
    f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller
    head = f.read(2)
    f.seek(0)
    if head == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=f, mode="rb"))
    return f


def iter_messages(stream: IO[bytes]) -> Iterator[bytes]:
    """Whole BMP messages of a stream; ``ParseError`` when the framing breaks
    or the stream ends inside a message."""
    reader = BmpReader()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        reader.feed(chunk)
        for _, msg in reader.messages():
            yield msg
    if reader.buffered:
        from parsers.errors import TruncatedError

        raise TruncatedError(
            f"capture ends inside a message ({reader.buffered} bytes left)",
            offset=reader.offset,
        )


def count_messages(path: str) -> int:
    with open_capture(path) as f:
        return sum(1 for _ in iter_messages(f))


class Progress:
    """A progress bar on a TTY, nothing until the end otherwise."""

    def __init__(self, total: int | None, out: IO[str], tty: bool) -> None:
        self.total = total
        self.out = out
        self.tty = tty
        self._last = 0.0

    def update(self, sent: int, nbytes: int, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            width = 30
            filled = width * sent // self.total
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r[{bar}] {sent}/{self.total} messages, {nbytes} bytes"
        else:
            text = f"\r{sent} messages, {nbytes} bytes"
        self.out.write(text)
        self.out.flush()

    def done(self, sent: int, nbytes: int, target: Endpoint) -> None:
        if self.tty:
            self.update(sent, nbytes, force=True)
            self.out.write("\n")
        self.out.write(f"replayed {sent} messages ({nbytes} bytes) to {target}\n")
        self.out.flush()


def replay(
    path: str,
    target: Endpoint,
    *,
    rate: float = 0.0,
    hold: bool = False,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    connect_timeout: float = 5.0,
) -> tuple[int, int]:
    """Send the capture; return (messages, bytes) sent. Raises ``OSError``,
    ``ParseError``."""
    sent = nbytes = 0
    interval = 1.0 / rate if rate > 0 else 0.0
    with (
        open_capture(path) as stream,
        socket.create_connection((target.host, target.port), timeout=connect_timeout) as sock,
    ):
        sock.settimeout(None)
        start = clock()
        for msg in iter_messages(stream):
            if interval:
                due = start + sent * interval
                delay = due - clock()
                if delay > 0:
                    sleep(delay)
            sock.sendall(msg)
            sent += 1
            nbytes += len(msg)
            if progress is not None:
                progress.update(sent, nbytes)
        if progress is not None:
            progress.done(sent, nbytes, target)
        if hold:
            _hold(sock)
    return sent, nbytes


def _hold(sock: socket.socket) -> None:
    """Keep the connection until Ctrl-C or the collector closes it."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return
    except KeyboardInterrupt:
        return
    except OSError:
        return


def _endpoint(text: str) -> Endpoint:
    try:
        return parse_endpoint(text, allow_port_zero=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="stream a captured BMP file to a collector, acting as a router",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("file", help="raw BMP capture (.bmp or .bmp.gz)")
    parser.add_argument(
        "--to", required=True, type=_endpoint, metavar="HOST:PORT", help="collector address"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="MSGS_PER_S",
        help="send at most this many messages per second (default: no limit)",
    )
    parser.add_argument("--hold", action="store_true", help="keep the connection open until Ctrl-C")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.rate < 0:
        print("bmp-agent replay: --rate must be >= 0", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    total: int | None = None
    try:
        open_capture(args.file).close()
    except OSError as exc:
        print(f"bmp-agent replay: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        if tty:
            total = count_messages(args.file)
        progress = Progress(total, sys.stderr if tty else sys.stdout, tty)
        replay(args.file, args.to, rate=args.rate, hold=args.hold, progress=progress)
    except ParseError as exc:
        print(f"bmp-agent replay: {args.file}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        what = exc.strerror or str(exc)
        print(f"bmp-agent replay: {args.to}: {what}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bmp-agent replay: interrupted", file=sys.stderr)
        return 130
    return 0
