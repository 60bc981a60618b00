"""``[::]`` listeners are dual-stack (``agent.netaddr``), ``ipv6_only`` makes
them IPv6-only; ``/metrics`` is gzipped on request and labelled 0.0.4."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket

import aiohttp
import pytest

from agent.app import build_daemon
from agent.config import load
from agent.netaddr import in_networks, parse_ip, unmap

HAS_IPV6 = socket.has_ipv6


async def _connect(host: str, port: int) -> bool:
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    except OSError:
        return False
    w.close()
    await w.wait_closed()
    return True


async def _get(url: str, **kw: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as s, s.get(url, **kw) as r:  # type: ignore[arg-type]
        return r.status, dict(r.headers), await r.read()


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 in this kernel")
@pytest.mark.parametrize("ipv6_only", [False, True])
async def test_wildcard_ipv6_takes_ipv4_unless_ipv6_only(ipv6_only: bool) -> None:
    flag = "yes" if ipv6_only else "no"
    cfg = load(
        environ={"BMP_AGENT_BMP_IPV6_ONLY": flag, "BMP_AGENT_HTTP_IPV6_ONLY": flag},
        flags={"bmp_listen": ["[::]:0"], "http_listen": "[::]:0"},
    )
    d = build_daemon(cfg)
    await d.start()
    try:
        bmp = d.bmp_addresses[0].port
        http = d.http_addresses[0].port
        assert await _connect("::1", bmp) and await _connect("::1", http)
        assert await _connect("127.0.0.1", bmp) is not ipv6_only
        assert await _connect("127.0.0.1", http) is not ipv6_only
        status, _, _ = await _get(f"http://[::1]:{http}/readyz")
        assert status == 200
        if not ipv6_only:
            status, _, _ = await _get(f"http://127.0.0.1:{http}/readyz")
            assert status == 200
    finally:
        await d.stop()


async def test_ipv4_router_on_a_dual_stack_socket_keeps_its_ipv4_label() -> None:
    cfg = load(environ={}, flags={"bmp_listen": ["[::]:0"], "http_listen": "127.0.0.1:0",
                                  "allow": ["127.0.0.0/8"]})  # fmt: skip
    d = build_daemon(cfg)
    await d.start()
    try:
        _, w = await asyncio.open_connection("127.0.0.1", d.bmp_addresses[0].port)
        for _ in range(100):
            if d.routers.connections:
                break
            await asyncio.sleep(0.02)
        [conn] = d.routers.connections
        assert conn.remote[0] == "127.0.0.1"  # not ::ffff:127.0.0.1
        w.close()
    finally:
        await d.stop()
    assert unmap("::ffff:192.0.2.1") == "192.0.2.1"
    assert unmap("2001:db8::1") == "2001:db8::1" and unmap("192.0.2.1") == "192.0.2.1"


def test_parse_ip_and_in_networks() -> None:
    """Addresses as the allow lists, selectors and FIB compare them: scope id
    dropped, IPv4-mapped as IPv4, anything else not an address."""
    assert parse_ip("fe80::1%eth0") == ipaddress.IPv6Address("fe80::1")
    assert parse_ip("::ffff:192.0.2.1") == ipaddress.IPv4Address("192.0.2.1")
    assert parse_ip("192.0.2.1") == ipaddress.IPv4Address("192.0.2.1")
    assert [parse_ip(t) for t in ("", None, "router-1", "192.0.2.256")] == [None] * 4
    nets = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32")]
    assert [
        in_networks(t, nets)
        for t in ("192.0.2.9", "::ffff:192.0.2.9", "2001:db8::1%eth0", "198.51.100.1", "", None)
    ] == [True, True, True, False, False, False]
    assert in_networks("192.0.2.9", []) is False


async def test_metrics_gzip_and_content_type() -> None:
    d = build_daemon(
        load(environ={}, flags={"bmp_listen": ["127.0.0.1:0"], "http_listen": "127.0.0.1:0"})
    )
    await d.start()
    try:
        url = f"http://{d.http_addresses[0]}/metrics"
        status, plain_headers, plain = await _get(url, headers={"Accept-Encoding": "identity"})
        assert status == 200 and "Content-Encoding" not in plain_headers
        assert plain_headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        status, headers, body = await _get(url, headers={"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = gzip.decompress(body).decode()
        assert "# TYPE bmp_routers gauge" in text or "bmp_" in text
        assert len(body) < len(plain)
        # what the 0.0.4 header promises: no OpenMetrics "# EOF", counters with _total samples
        assert "# EOF" not in text
    finally:
        await d.stop()
