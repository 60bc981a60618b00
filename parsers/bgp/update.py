"""UPDATE messages (RFC 4271 §4.3, RFC 4760, RFC 7911, RFC 7606)."""

from __future__ import annotations

from dataclasses import dataclass

from .attributes import PathAttributes
from .nlri import NlriSet


@dataclass(frozen=True, slots=True)
class Update:
    #: Classic withdrawn routes (IPv4 unicast) first, then MP_UNREACH_NLRI.
    withdrawn: tuple[NlriSet, ...] = ()
    #: Classic NLRI (IPv4 unicast) first, then MP_REACH_NLRI.
    announced: tuple[NlriSet, ...] = ()
    #: None for an UPDATE without path attributes (a pure withdrawal).
    attributes: PathAttributes | None = None
    #: (afi, safi) when this UPDATE is an End-of-RIB marker (RFC 4724 §2).
    end_of_rib: tuple[int, int] | None = None

    def announced_count(self) -> int:
        return sum(len(s.prefixes) for s in self.announced)

    def withdrawn_count(self) -> int:
        return sum(len(s.prefixes) for s in self.withdrawn)

    def as_withdraw(self) -> Update:
        """RFC 7606 treat-as-withdraw: every announced route becomes a withdrawal."""
        return Update(withdrawn=self.withdrawn + self.announced, announced=(), attributes=None)
