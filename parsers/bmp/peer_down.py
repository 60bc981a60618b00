"""Peer Down notifications (RFC 7854 §4.9, RFC 9069 §5.4)."""

from __future__ import annotations

from dataclasses import dataclass

from ..bgp.notification import Notification
from .messages import PerPeerHeader

REASON_LOCAL_NOTIFICATION = 1
REASON_LOCAL_NO_NOTIFICATION = 2
REASON_REMOTE_NOTIFICATION = 3
REASON_REMOTE_NO_NOTIFICATION = 4
REASON_PEER_DECONFIGURED = 5
REASON_LOC_RIB_SESSION_CLOSED = 6

REASON_NAMES = {
    1: "local_notification",
    2: "local_no_notification",
    3: "remote_notification",
    4: "remote_no_notification",
    5: "peer_deconfigured",
    6: "local_system_closed",
}

#: BGP FSM event names (RFC 4271 §8.1), for reason 2's event code.
FSM_EVENT_NAMES = {
    0: "none",
    1: "manual_start",
    2: "manual_stop",
    3: "automatic_start",
    8: "automatic_stop",
    9: "connect_retry_timer_expires",
    10: "hold_timer_expires",
    11: "keepalive_timer_expires",
    18: "tcp_connection_fails",
    19: "bgp_open",
    24: "bgp_header_err",
    25: "bgp_open_msg_err",
    26: "open_collision_dump",
    27: "notif_msg_ver_err",
    28: "notif_msg",
    29: "keep_alive_msg",
    30: "update_msg",
    31: "update_msg_err",
}


@dataclass(frozen=True, slots=True)
class PeerDown:
    peer: PerPeerHeader
    reason: int
    #: The NOTIFICATION sent (reason 1) or received (reason 3).
    notification: Notification | None = None
    #: The FSM event code for reason 2.
    fsm_event: int | None = None
    #: Raw data of reasons that carry none of the above (or TLVs for reason 6).
    data: bytes = b""

    @property
    def reason_name(self) -> str:
        return REASON_NAMES.get(self.reason, f"reason_{self.reason}")

    @property
    def fsm_event_name(self) -> str | None:
        if self.fsm_event is None:
            return None
        return FSM_EVENT_NAMES.get(self.fsm_event, f"event_{self.fsm_event}")
