"""``bmp-agent decode FILE...``: raw BMP streams to JSON Lines (or a summary table).

Each FILE is a raw BMP byte stream (what a router sent on one TCP
connection), ``-`` for standard input; gzip-compressed input is recognised by
its magic bytes and decompressed on the fly. Output is one JSON object per
BMP message (schema: ``docs/decode-schema.md``, built by ``parsers.render``),
written as it is decoded, so memory stays bounded by one read chunk however
large the capture is.

Exit status: 0 when every message decoded, 1 when at least one was malformed
(each is reported on stderr with file, offset, error kind and action), 2 for
usage errors and unreadable files.

``agent.cli.main`` wires this in with ``add_parser(subparsers)`` and ``run(args)``;
``python3 -m agent.cli.decode FILE...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from parsers.bmp.messages import VIEWS, RouteMonitoring
from parsers.bmp.session import BmpSession, Decoded, DecodeFailed, Event
from parsers.errors import ParseError
from parsers.render import TYPE_NAMES, message_type_name, render_event

#: Read size; one chunk is the most the command holds of the input at a time.
CHUNK_SIZE = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"

EXIT_OK = 0
EXIT_MALFORMED = 1
EXIT_USAGE = 2

#: Message types in the order the summary lists them.
SUMMARY_TYPES = (
    "initiation",
    "peer_up",
    "route_monitoring",
    "statistics_report",
    "route_mirroring",
    "peer_down",
    "termination",
    "unknown",
)


VIEW_ORDER = {view: i for i, view in enumerate(VIEWS)}


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class UnreadableError(Exception):
    """The input could not be opened or read (not a decoding problem)."""


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="raw BMP stream (as a router sent it); '-' for stdin; gzip is detected",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print message counts per type and route counts per router, peer and view "
        "instead of JSON lines",
    )
    parser.add_argument(
        "--no-fast",
        dest="fast",
        action="store_false",
        help="decode Route Monitoring with the reference (construct) decoder, not the fast path",
    )
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``decode`` on an ``argparse`` subparsers object; returns its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decode",
        help="decode raw BMP captures to JSON Lines",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    configure(parser)
    parser.set_defaults(func=run)
    return parser


# --------------------------------------------------------------------------- input


def _open_input(name: str) -> Readable:
    """A binary stream of the file's BMP bytes, gunzipped when it starts with the gzip magic."""
    raw: IO[bytes]
    if name == "-":
        raw = sys.stdin.buffer
        # A BufferedReader can look ahead without consuming; anything else
        # (a test harness' stand-in) is read as it is, without gzip detection.
        head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    else:
        try:
            raw = open(name, "rb")  # noqa: SIM115 - closed by the caller
            head = raw.read(2)
            raw.seek(0)
        except OSError as err:
            raise UnreadableError(f"cannot read {name}: {err.strerror or err}") from err
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _chunks(stream: Readable, name: str) -> Iterator[bytes]:
    while True:
        try:
            data = stream.read(CHUNK_SIZE)
        except (OSError, EOFError, zlib.error) as err:
            raise UnreadableError(f"cannot read {name}: {err}") from err
        if not data:
            return
        yield data


# --------------------------------------------------------------------------- decoding


@dataclass(slots=True)
class FileResult:
    malformed: int = 0
    #: Framing lost (the rest of the file was not decoded).
    stopped: bool = False
    #: Bytes at the end that do not make a whole message.
    trailing: int = 0


def _report(name: str, offset: int | None, err: ParseError, what: str) -> None:
    """One stderr line: file, message offset, what, error kind, text, error offset, action."""
    where = "?" if offset is None else str(offset)
    at = "" if err.offset is None or err.offset == offset else f" at offset {err.offset}"
    print(
        f"bmp-agent decode: {name}: offset {where}: {what}: {err.kind}: {err.message}{at} "
        f"(action: {err.action.value})",
        file=sys.stderr,
    )


def decode_stream(
    name: str, chunks: Iterator[bytes], *, fast: bool = True
) -> Iterator[tuple[Event | None, FileResult]]:
    """Decode one stream, yielding each event; reports malformed messages on stderr.

    Yields ``(None, result)`` once at the end so the caller sees the final tally.
    """
    session = BmpSession(fast=fast)
    reader = session.reader
    result = FileResult()
    for data in chunks:
        # Drive the reader directly rather than ``session.feed`` so the
        # messages framed before a framing error in the same chunk still come out.
        reader.feed(data)
        try:
            for offset, raw in reader.messages():
                event = session.decode(offset, raw)
                if isinstance(event, DecodeFailed):
                    result.malformed += 1
                    what = message_type_name(event.msg_type) + " message"
                    _report(name, event.offset, event.error, what)
                yield event, result
        except ParseError as err:
            _report(name, err.offset, err, "framing lost, rest of the file not decoded")
            result.malformed += 1
            result.stopped = True
            break
    if not result.stopped and session.reader.buffered:
        result.trailing = session.reader.buffered
        result.malformed += 1
        print(
            f"bmp-agent decode: {name}: offset {session.reader.offset}: truncated: "
            f"stream ends inside a message ({result.trailing} bytes left over) "
            "(action: drop_session)",
            file=sys.stderr,
        )
    yield None, result


# --------------------------------------------------------------------------- summary


@dataclass(slots=True)
class Summary:
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)
    announced: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    withdrawn: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    end_of_rib: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)

    def add(self, name: str, event: Event) -> None:
        if isinstance(event, Decoded):
            msg: object = event.message
            self.messages[(name, TYPE_NAMES[type(event.message)])] += 1
        else:
            self.messages[(name, "malformed")] += 1
            msg = event.error.partial
        if isinstance(msg, RouteMonitoring):
            peer = msg.peer
            label = peer.address if peer.rd is None else f"{peer.rd} {peer.address}"
            if peer.is_loc_rib:
                label = f"loc_rib {label}"
            key = (name, f"{label} AS{peer.asn}", peer.view)
            update = msg.update
            self.announced[key] += update.announced_count()
            self.withdrawn[key] += update.withdrawn_count()
            if update.end_of_rib is not None:
                self.end_of_rib[key] += 1

    def write(self, out: IO[str]) -> None:
        rows: list[tuple[str, ...]] = [("file", "type", "messages")]
        for name in self.files:
            total = 0
            for kind in (*SUMMARY_TYPES, "malformed"):
                n = self.messages.get((name, kind), 0)
                if n:
                    rows.append((name, kind, str(n)))
                    total += n
            rows.append((name, "total", str(total)))
        _table(rows, out)
        out.write("\n")
        rows = [("file", "peer", "view", "announced", "withdrawn", "end_of_rib")]
        order = {name: i for i, name in enumerate(self.files)}
        keys = sorted(
            set(self.announced) | set(self.withdrawn) | set(self.end_of_rib),
            key=lambda k: (order.get(k[0], 0), k[1], VIEW_ORDER.get(k[2], len(VIEW_ORDER)), k[2]),
        )
        for key in keys:
            rows.append(
                (
                    *key,
                    str(self.announced.get(key, 0)),
                    str(self.withdrawn.get(key, 0)),
                    str(self.end_of_rib.get(key, 0)),
                )
            )
        _table(rows, out)


def _table(rows: list[tuple[str, ...]], out: IO[str]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            numeric = i > 0 and cell.isdigit()
            cells.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        out.write("  ".join(cells).rstrip() + "\n")


# --------------------------------------------------------------------------- command


def run(args: argparse.Namespace) -> int:
    """Run ``decode`` with parsed arguments; returns the exit status."""
    files: list[str] = list(args.files)
    if files.count("-") > 1:
        print("bmp-agent decode: '-' (stdin) can be given only once", file=sys.stderr)
        return EXIT_USAGE
    fast: bool = getattr(args, "fast", True)
    summary = Summary() if args.summary else None
    with_file = len(files) > 1
    status = EXIT_OK
    out = sys.stdout
    try:
        for name in files:
            label = "<stdin>" if name == "-" else name
            try:
                stream = _open_input(name)
            except UnreadableError as err:
                print(f"bmp-agent decode: {err}", file=sys.stderr)
                status = EXIT_USAGE
                continue
            if summary is not None:
                summary.files.append(label)
            try:
                for event, result in decode_stream(label, _chunks(stream, label), fast=fast):
                    if event is None:
                        if result.malformed and status == EXIT_OK:
                            status = EXIT_MALFORMED
                        continue
                    if summary is not None:
                        summary.add(label, event)
                        continue
                    obj = render_event(event, file=label if with_file else None)
                    if obj is not None:
                        out.write(json.dumps(obj, separators=(",", ":")))
                        out.write("\n")
            except UnreadableError as err:
                print(f"bmp-agent decode: {err}", file=sys.stderr)
                status = EXIT_USAGE
            finally:
                if name != "-":
                    stream.close()
        if summary is not None:
            summary.write(out)
        out.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return status
    return status


def main(argv: list[str] | None = None) -> int:
    parser = configure(
        argparse.ArgumentParser(
            prog="bmp-agent decode",
            description="Decode raw BMP captures to JSON Lines (schema: docs/decode-schema.md).",
        )
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
