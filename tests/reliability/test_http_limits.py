"""HTTP limits of a real agent on loopback: idle and half-sent connections
are closed, oversized request lines and headers refused, a slow reader cut
off by the request timeout (counted), ``limit`` capped with the cursor as
the way to more."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from reliability_support import read_eof, until
from test_api_pressure import agent_with, load_table, table  # noqa: F401


async def _open(agent: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = agent.daemon.http_addresses[0].port
    return await asyncio.open_connection("127.0.0.1", port)


async def test_idle_and_half_sent_connections_are_closed() -> None:
    async with agent_with(keepalive_timeout=0.5, body_timeout=0.5) as agent:
        idle = await _open(agent)
        half_headers = await _open(agent)
        half_headers[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        half_body = await _open(agent)
        half_body[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        kept = await _open(agent)
        kept[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await kept[0].readuntil(b"ok\n")).startswith(b"HTTP/1.1 200")
        for reader, _ in (idle, half_headers, kept):
            assert await read_eof(reader, timeout=20)
        data = await asyncio.wait_for(half_body[0].read(), 20)
        assert data.startswith(b"HTTP/1.1 200")  # answered, then closed: body never came
        await until(lambda: agent.daemon.http.open_connections() == 0)


async def test_oversized_request_line_and_headers_are_refused() -> None:
    async with agent_with(max_line_size=1024, max_field_size=512, max_headers=8) as agent:
        cases = {
            "url": b"GET /api/v1/routes?router=" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "field": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 1000 + b"\r\n\r\n",
            "count": b"GET /healthz HTTP/1.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(20))
            + b"\r\n",
        }
        for name, raw in cases.items():
            reader, writer = await _open(agent)
            writer.write(raw)
            head = await asyncio.wait_for(reader.read(100), 20)
            status = int(head.split(b" ", 2)[1])
            assert status in (400, 414, 431), (name, head)
            writer.close()


async def test_slow_reader_is_cut_off_by_the_request_timeout(table) -> None:  # noqa: F811
    async with agent_with(request_timeout=1.0) as agent:
        writer = await load_table(agent, table, "127.0.0.1")
        port = agent.daemon.http_addresses[0].port
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(s, b"GET /api/v1/routes?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        http = agent.daemon.http
        await until(lambda: http.rejected["timeout"] == 1)
        await until(lambda: http.api_active == 0)
        assert await agent.value("bmp_http_rejected_total", reason="timeout") == 1
        s.close()
        writer.close()
