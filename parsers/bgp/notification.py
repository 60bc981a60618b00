"""NOTIFICATION messages (RFC 4271 §4.5) with named codes and subcodes."""

from __future__ import annotations

from dataclasses import dataclass

#: Error codes (IANA "BGP Error (Notification) Codes").
CODE_NAMES: dict[int, str] = {
    1: "message_header_error",
    2: "open_message_error",
    3: "update_message_error",
    4: "hold_timer_expired",
    5: "fsm_error",
    6: "cease",
    7: "route_refresh_message_error",
    8: "send_hold_timer_expired",
}

#: Subcodes per error code (IANA registries).
SUBCODE_NAMES: dict[int, dict[int, str]] = {
    1: {1: "connection_not_synchronized", 2: "bad_message_length", 3: "bad_message_type"},
    2: {
        1: "unsupported_version_number",
        2: "bad_peer_as",
        3: "bad_bgp_identifier",
        4: "unsupported_optional_parameter",
        5: "deprecated",
        6: "unacceptable_hold_time",
        7: "unsupported_capability",
        8: "deprecated",
        9: "deprecated",
        10: "deprecated",
        11: "role_mismatch",
    },
    3: {
        1: "malformed_attribute_list",
        2: "unrecognized_well_known_attribute",
        3: "missing_well_known_attribute",
        4: "attribute_flags_error",
        5: "attribute_length_error",
        6: "invalid_origin_attribute",
        7: "deprecated",
        8: "invalid_next_hop_attribute",
        9: "optional_attribute_error",
        10: "invalid_network_field",
        11: "malformed_as_path",
    },
    5: {
        0: "unspecified_error",
        1: "receive_unexpected_message_in_opensent_state",
        2: "receive_unexpected_message_in_openconfirm_state",
        3: "receive_unexpected_message_in_established_state",
    },
    6: {
        1: "maximum_number_of_prefixes_reached",
        2: "administrative_shutdown",
        3: "peer_deconfigured",
        4: "administrative_reset",
        5: "connection_rejected",
        6: "other_configuration_change",
        7: "connection_collision_resolution",
        8: "out_of_resources",
        9: "hard_reset",
        10: "bfd_down",
    },
    7: {1: "invalid_message_length"},
}


def code_name(code: int) -> str:
    return CODE_NAMES.get(code, f"code_{code}")


def subcode_name(code: int, subcode: int) -> str:
    if subcode == 0 and code != 5:
        return "unspecific"
    return SUBCODE_NAMES.get(code, {}).get(subcode, f"subcode_{subcode}")


@dataclass(frozen=True, slots=True)
class Notification:
    code: int
    subcode: int
    data: bytes = b""

    @property
    def code_name(self) -> str:
        return code_name(self.code)

    @property
    def subcode_name(self) -> str:
        return subcode_name(self.code, self.subcode)

    def shutdown_message(self) -> str | None:
        """RFC 9003 shutdown communication for Cease 2 and 4, if present."""
        if self.code == 6 and self.subcode in (2, 4) and self.data:
            n = self.data[0]
            if 0 < n <= len(self.data) - 1:
                return self.data[1 : 1 + n].decode("utf-8", "replace")
        return None
