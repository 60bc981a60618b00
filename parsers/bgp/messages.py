"""The BGP message header (RFC 4271 §4.1), KEEPALIVE, ROUTE-REFRESH and the
dispatcher that turns one whole BGP message into its dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .notification import Notification
from .open import OpenMessage
from .update import Update

MARKER = b"\xff" * 16
HEADER_SIZE = 19
#: RFC 4271 maximum; RFC 8654 extended messages go up to 65535.
MAX_SIZE = 4096
MAX_EXTENDED_SIZE = 65535


class MessageType(IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


@dataclass(frozen=True, slots=True)
class Keepalive:
    pass


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    afi: int
    safi: int
    #: RFC 7313: 0 normal, 1 BoRR, 2 EoRR.
    subtype: int = 0


@dataclass(frozen=True, slots=True)
class UnknownBgpMessage:
    type: int
    body: bytes


BgpMessage = OpenMessage | Update | Notification | Keepalive | RouteRefresh | UnknownBgpMessage
