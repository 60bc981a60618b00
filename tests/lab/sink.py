"""A minimal BMP sink: accepts TCP connections and records the raw bytes.

It runs in a thread of the test process; its listening socket can live in a
lab namespace (``ns=``), so a speaker in another namespace can connect to it.

    with BmpSink(lab.col, "10.0.9.2", 11019) as sink:
        ...start the speaker...
        sink.wait_for(lambda s: s.count(INITIATION) >= 1, timeout=20, what="Initiation")
        data = sink.data()          # bytes of connection 0

For speakers in active mode (FRR ``bmp listener``) ``sink.connect(addr, port)``
dials out from the sink's namespace and records that connection the same way.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import bmpwire
from .harness import Harness
from .netns import LabError, Namespace, poll


@dataclass
class Connection:
    peer: tuple[str, int]
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False
    accepted_at: float = field(default_factory=time.time)


class BmpSink(Harness):
    def __init__(self, ns: Namespace | None, host: str, port: int) -> None:
        self.ns = ns
        self.host = host
        self.port = port
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._socks: dict[socket.socket, Connection] = {}

    def _socket(self, family: int) -> socket.socket:
        if self.ns is not None:
            return self.ns.socket(family)
        return socket.socket(family, socket.SOCK_STREAM)

    def start(self, listen: bool = True) -> BmpSink:
        if listen:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            srv = self._socket(family)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((self.host, self.port))
            srv.listen(16)
            srv.setblocking(False)
            self._listener = srv
            self._sel.register(srv, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._loop, name="bmp-sink", daemon=True)
        self._thread.start()
        return self

    def connect(self, host: str, port: int, timeout: float = 20.0) -> Connection:
        """Dial a speaker's BMP listener (active mode) and record that connection.

        Retries until ``timeout`` while the listener is not up yet.
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        error: OSError | None = None

        def attempt() -> socket.socket | None:
            nonlocal error
            sock = self._socket(family)
            sock.settimeout(2.0)
            try:
                sock.connect((host, port))
            except OSError as exc:
                sock.close()
                error = exc
                return None
            return sock

        sock = poll(attempt, timeout=timeout, interval=0.2)
        if sock is None:
            raise LabError(f"BMP sink: cannot connect to {host}:{port}: {error}") from error
        sock.setblocking(False)
        conn = Connection((host, port))
        with self._lock:
            self.connections.append(conn)
            self._socks[sock] = conn
        self._sel.register(sock, selectors.EVENT_READ)
        return conn

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    try:
                        c, peer = sock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    conn = Connection((peer[0], peer[1]))
                    with self._lock:
                        self.connections.append(conn)
                        self._socks[c] = conn
                    self._sel.register(c, selectors.EVENT_READ)
                    continue
                conn = self._socks[sock]
                try:
                    chunk = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                with self._lock:
                    if chunk:
                        conn.data += chunk
                    else:
                        conn.closed = True
                if not chunk:
                    self._sel.unregister(sock)
                    sock.close()
                    del self._socks[sock]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in list(self._socks):
            with contextlib.suppress(OSError):
                sock.close()
        self._socks.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._sel.close()

    def _running(self) -> bool:
        return self._thread is not None

    def _teardown(self, failed: bool) -> None:
        self.close()

    # -- reading -------------------------------------------------------------
    def data(self, index: int = 0) -> bytes:
        """Bytes received so far on connection ``index`` (b"" if none yet)."""
        with self._lock:
            if index >= len(self.connections):
                return b""
            return bytes(self.connections[index].data)

    def all_data(self) -> list[bytes]:
        with self._lock:
            return [bytes(c.data) for c in self.connections]

    def messages(self, index: int = 0) -> list[bytes]:
        """Whole BMP messages received so far on connection ``index``."""
        return bmpwire.split(self.data(index))[0]

    def summary(self, index: int = 0, add_path: bool | None = None) -> bmpwire.Summary:
        return bmpwire.summarize(self.data(index), add_path=add_path)

    def count(self, msg_type: int, index: int = 0) -> int:
        return sum(1 for m in self.messages(index) if m[5] == msg_type)

    def wait_for(
        self,
        predicate: Callable[[BmpSink], bool],
        *,
        timeout: float,
        what: str,
        describe: Callable[[], str] | None = None,
    ) -> None:
        """Poll ``predicate(self)`` until true; on timeout raise ``LabError``
        naming ``what``, what was received, and ``describe()`` (e.g. a log tail)."""
        if not poll(lambda: predicate(self), timeout=timeout, interval=0.1):
            got = [bmpwire.summarize(d).brief() for d in self.all_data()]
            extra = f"\n{describe()}" if describe else ""
            raise LabError(
                f"BMP sink {self.host}:{self.port}: no {what} after {timeout}s; "
                f"connections: {got}{extra}"
            )

    def settle(self, quiet: float = 1.5, timeout: float = 15.0) -> None:
        """Wait until no byte arrived for ``quiet`` seconds (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        last = sum(len(d) for d in self.all_data())
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = sum(len(d) for d in self.all_data())
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def save(self, directory: Path, stem: str = "sink") -> list[Path]:
        """Write one ``STEM-N.bmp`` per connection; return the paths."""
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for i, data in enumerate(self.all_data()):
            path = directory / f"{stem}-{i}.bmp"
            path.write_bytes(data)
            out.append(path)
        return out
