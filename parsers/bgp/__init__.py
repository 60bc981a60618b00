"""BGP-4 (RFC 4271 and extensions) message dataclasses and decoders."""
