"""Information TLVs of Initiation, Termination and Peer Up (RFC 7854 §4.4, RFC 9069 §5.2)."""

from __future__ import annotations

from dataclasses import dataclass

INFO_STRING = 0
INFO_SYS_DESCR = 1
INFO_SYS_NAME = 2
INFO_VRF_TABLE_NAME = 3
INFO_ADMIN_LABEL = 4

INFO_NAMES = {
    0: "string",
    1: "sys_descr",
    2: "sys_name",
    3: "vrf_table_name",
    4: "admin_label",
}

TERMINATION_STRING = 0
TERMINATION_REASON = 1
TERMINATION_NAMES = {0: "string", 1: "reason"}
TERMINATION_REASONS = {
    0: "administratively_closed",
    1: "unspecified",
    2: "out_of_resources",
    3: "redundant_connection",
    4: "permanently_administratively_closed",
}


@dataclass(frozen=True, slots=True)
class InformationTlv:
    type: int
    value: bytes

    @property
    def name(self) -> str:
        return INFO_NAMES.get(self.type, f"type_{self.type}")

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


def information_dict(tlvs: tuple[InformationTlv, ...]) -> dict[str, str | list[str]]:
    """TLVs by name; a name that repeats (several ``string`` TLVs) becomes a list."""
    out: dict[str, str | list[str]] = {}
    for tlv in tlvs:
        prev = out.get(tlv.name)
        if prev is None:
            out[tlv.name] = tlv.text
        elif isinstance(prev, list):
            prev.append(tlv.text)
        else:
            out[tlv.name] = [prev, tlv.text]
    return out
