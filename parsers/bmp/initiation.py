"""Initiation (RFC 7854 §4.3) and Termination (§4.5) messages."""

from __future__ import annotations

from dataclasses import dataclass

from .tlv import TERMINATION_REASONS, InformationTlv, information_dict


@dataclass(frozen=True, slots=True)
class Initiation:
    information: tuple[InformationTlv, ...] = ()

    def info(self) -> dict[str, str | list[str]]:
        return information_dict(self.information)


@dataclass(frozen=True, slots=True)
class Termination:
    #: String TLVs (type 0) and any unknown ones; the reason TLV is in ``reason``.
    information: tuple[InformationTlv, ...] = ()
    reason: int | None = None

    @property
    def reason_name(self) -> str | None:
        if self.reason is None:
            return None
        return TERMINATION_REASONS.get(self.reason, f"reason_{self.reason}")

    def info(self) -> dict[str, str | list[str]]:
        return information_dict(self.information)
