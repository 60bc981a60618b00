"""BMP (RFC 7854, RFC 8671, RFC 9069) message dataclasses and decoders."""
