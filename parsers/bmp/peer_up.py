"""Peer Up notifications (RFC 7854 §4.10, RFC 9069 §5.3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..bgp.open import OpenMessage
from .messages import PerPeerHeader
from .tlv import InformationTlv, information_dict


@dataclass(frozen=True, slots=True)
class PeerUp:
    peer: PerPeerHeader
    local_address: str
    local_port: int
    remote_port: int
    #: The OPEN the monitored router sent to the peer.
    sent_open: OpenMessage
    #: The OPEN the monitored router received from the peer.
    received_open: OpenMessage
    information: tuple[InformationTlv, ...] = ()

    def info(self) -> dict[str, str | list[str]]:
        return information_dict(self.information)
