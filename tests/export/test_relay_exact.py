"""The relay's first connection carries the router's bytes unchanged, even
when the router's stream arrives before the upstream has accepted.

The upstream listens with a backlog of 0 and a first client in its accept
queue, so the kernel drops the agent's SYN and retries it about a second
later: the router's whole capture is ingested while the relay connection is
still being made (``bmp_relay_up`` 0). Those bytes are held in the spool and
sent first when the connection is made, with no synthesized state: the
upstream receives exactly the bytes the router sent."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from export_support import Router, capture, run_agent, wait_for


def read_for(conn: socket.socket, seconds: float) -> bytes:
    """Everything the connection delivers within ``seconds``."""
    buf = bytearray()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        try:
            chunk = conn.recv(1 << 16)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def test_first_connection_sends_the_stream_held_while_connecting(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # fills the accept queue
    msgs = capture("frr-basic.bmp")
    stream = b"".join(msgs)
    try:
        with run_agent(tmp_path, "--relay", f"127.0.0.1:{port}") as agent:
            router = Router("127.0.0.9", agent.bmp_port)
            router.send(msgs)
            wait_for(lambda: agent.messages(router.address) == len(msgs), 60, "ingest")
            # Ingest is done and the relay connection is not made yet: the
            # router's bytes wait in the spool.
            assert agent.metric("bmp_relay_up") == 0
            assert agent.metric("bmp_relay_spool_bytes") == len(stream)
            server.accept()[0].close()  # the filler's: the agent's SYN gets in
            server.settimeout(30)
            conn, _ = server.accept()
            with conn:
                got = read_for(conn, 3.0)
            assert len(got) == len(stream)
            assert got == stream
            assert agent.metric("bmp_relay_bytes_total") == len(stream)
            assert agent.metric("bmp_relay_resyncs_total", reason="connect") == 1
            assert agent.metric("bmp_relay_resyncs_total", reason="reconnect") == 0
            assert agent.metric("bmp_relay_spool_bytes") == 0
            assert router.alive()
            router.close()
    finally:
        filler.close()
        server.close()
