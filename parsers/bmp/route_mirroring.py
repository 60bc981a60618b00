"""Route Mirroring messages (RFC 7854 §4.7)."""

from __future__ import annotations

from dataclasses import dataclass

from ..bgp.messages import BgpMessage
from .messages import PerPeerHeader

MIRROR_BGP_MESSAGE = 0
MIRROR_INFORMATION = 1
MIRROR_INFO_NAMES = {0: "errored_pdu", 1: "messages_lost"}


@dataclass(frozen=True, slots=True)
class MirrorTlv:
    type: int
    #: For type 0: the decoded BGP message, or None when it did not decode
    #: (an errored PDU is exactly what mirroring is for); ``raw`` keeps the bytes.
    message: BgpMessage | None = None
    #: For type 1: the information code.
    code: int | None = None
    raw: bytes = b""

    @property
    def code_name(self) -> str | None:
        if self.code is None:
            return None
        return MIRROR_INFO_NAMES.get(self.code, f"code_{self.code}")


@dataclass(frozen=True, slots=True)
class RouteMirroring:
    peer: PerPeerHeader
    entries: tuple[MirrorTlv, ...] = ()
