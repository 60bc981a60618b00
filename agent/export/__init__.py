"""Exporters: read the state core and feed other systems (relay, NATS, MRT)."""
