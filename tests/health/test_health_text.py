"""``bmp_health_check`` written as text equals prometheus_client's rendering."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from agent.config import HealthConfig
from agent.core import Core
from agent.health.component import Health, HealthCollector
from parsers.bmp.session import BmpSession

CAPTURE = Path(__file__).resolve().parent.parent / "data" / "captures" / "frr-mistakes.bmp"


def test_text_equals_prometheus_client_output() -> None:
    core = Core()
    rs = core.open_session("127.0.0.1", 40000)
    for event in BmpSession().feed(CAPTURE.read_bytes()):
        rs.handle(event)
    # a label value that needs escaping
    core.open_session('a"b\\c', 1)
    collector = HealthCollector(Health(core, HealthConfig()))
    registry = CollectorRegistry()
    registry.register(collector)
    expected = generate_latest(registry).decode()
    text = collector.text()
    assert text == expected
    firing = sorted(line for line in text.splitlines() if line.endswith(" 1.0"))
    assert [line.split('check="')[1].split('"')[0] for line in firing] == [
        "default_route_received",
        "host_route_flood",
        "no_graceful_restart",
        "public_asn",
    ]
