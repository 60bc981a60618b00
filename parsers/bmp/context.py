"""Session context for decoding Route Monitoring: what the Peer Up OPENs
negotiated, and the sticky ADD-PATH decisions taken from what speakers really
send.

This is sans-IO state: a ``DecodeContext`` belongs to one BMP session (one
TCP connection from one router) and is passed explicitly to the decoders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..bgp.messages import ADD_PATH_RECEIVE, ADD_PATH_SEND, OpenMessage

Family = tuple[int, int]
PeerKey = tuple[int, bytes, str]


@dataclass(frozen=True, slots=True)
class PeerCaps:
    """What the two OPENs of one Peer Up negotiated, as far as decoding needs it."""

    four_octet_as: bool = True
    #: Families whose Adj-RIB-In NLRI carry path IDs: the monitored router
    #: advertised *receive* and the peer advertised *send* (RFC 7911 §4).
    add_path_in: frozenset[Family] = frozenset()
    #: Families whose Adj-RIB-Out NLRI carry path IDs: the reverse.
    add_path_out: frozenset[Family] = frozenset()
    #: Families for a Loc-RIB instance whose (fabricated) OPEN has ADD-PATH.
    add_path_loc_rib: frozenset[Family] = frozenset()

    @classmethod
    def from_opens(
        cls, sent: OpenMessage, received: OpenMessage, loc_rib: bool = False
    ) -> PeerCaps:
        families = _add_path_families(sent) | _add_path_families(received)
        if loc_rib:
            return cls(
                four_octet_as=sent.four_octet_as or received.four_octet_as,
                add_path_loc_rib=frozenset(
                    f for f in families if sent.add_path(*f) or received.add_path(*f)
                ),
            )
        add_in = frozenset(
            f
            for f in families
            if sent.add_path(*f) & ADD_PATH_RECEIVE and received.add_path(*f) & ADD_PATH_SEND
        )
        add_out = frozenset(
            f
            for f in families
            if sent.add_path(*f) & ADD_PATH_SEND and received.add_path(*f) & ADD_PATH_RECEIVE
        )
        return cls(
            four_octet_as=sent.four_octet_as and received.four_octet_as,
            add_path_in=add_in,
            add_path_out=add_out,
        )

    def add_path(self, view: str, afi: int, safi: int) -> bool:
        """Whether the RFCs say NLRI of this view and family carry path IDs."""
        fam = (afi, safi)
        if view == "loc_rib":
            return fam in self.add_path_loc_rib
        if view.startswith("adj_out"):
            return fam in self.add_path_out
        return fam in self.add_path_in


def _add_path_families(msg: OpenMessage) -> set[Family]:
    from ..bgp.messages import AddPathCapability

    out: set[Family] = set()
    for cap in msg.capabilities:
        if isinstance(cap, AddPathCapability):
            out.update(cap.afi_safis)
    return out


#: Capabilities assumed for a peer without Peer Up (GoBGP's Loc-RIB, or a
#: collector that joined late): 4-byte AS paths, no path IDs.
DEFAULT_CAPS = PeerCaps()

#: A validator scores an NLRI blob in a given mode: 0 when it does not parse
#: cleanly (exact lengths, prefix length in range, no host bits set), 1 when
#: it parses but only implausibly (a path ID of 2**24 or more), 2 when it
#: parses cleanly and plausibly.
Validator = Callable[[bytes, int, int, bool], int]

Segment = tuple[PeerKey, int, str, int, int]


@dataclass(slots=True)
class DecodeContext:
    """Per-BMP-session decoding state."""

    caps: dict[PeerKey, PeerCaps] = field(default_factory=dict)
    #: Peer Up epoch per peer: a new Peer Up starts a new ADD-PATH segment.
    epochs: dict[PeerKey, int] = field(default_factory=dict)
    #: Sticky ADD-PATH decision per (peer, epoch, view, afi, safi).
    add_path_mode: dict[Segment, bool] = field(default_factory=dict)
    #: Segments whose mode an unambiguous message has confirmed.
    confirmed: set[Segment] = field(default_factory=set)
    #: Deviations from the RFCs seen on this session, by name.
    quirks: Counter[str] = field(default_factory=Counter)

    def peer_up(self, key: PeerKey, caps: PeerCaps) -> None:
        self.caps[key] = caps
        self.epochs[key] = self.epochs.get(key, 0) + 1

    def peer_down(self, key: PeerKey) -> None:
        self.caps.pop(key, None)

    def caps_for(self, key: PeerKey) -> PeerCaps:
        caps = self.caps.get(key)
        if caps is None:
            return DEFAULT_CAPS
        return caps

    def resolve_add_path(
        self,
        key: PeerKey,
        view: str,
        afi: int,
        safi: int,
        blobs: tuple[bytes, ...],
        score: Validator,
    ) -> bool:
        """Whether these NLRI blobs carry path IDs.

        The negotiated setting is only the starting expectation: FRR 8.4 never
        sends path IDs in Route Monitoring, GoBGP 3.10 omits them in its dump
        and post-policy. When the blobs parse cleanly only in the other mode,
        the segment switches (sticky) and a quirk is counted. Blobs that parse
        both ways follow the segment's current mode once a message that reads
        better in it has confirmed it; before that, a reading with implausible path
        IDs (``19 c0 00 02 00`` read as path ID 432013314 and 0.0.0.0/0) loses
        to the plain reading (192.0.2.0/25).
        """
        seg: Segment = (key, self.epochs.get(key, 0), view, afi, safi)
        mode = self.add_path_mode.get(seg)
        if mode is None:
            mode = self.caps_for(key).add_path(view, afi, safi)
            self.add_path_mode[seg] = mode
        if not any(blobs):
            return mode
        here = min(score(b, afi, safi, mode) for b in blobs)
        there = min(score(b, afi, safi, not mode) for b in blobs)
        if there == 0 or here > there:
            if here:
                self.confirmed.add(seg)
            return mode
        if here == 0 or (here < there and seg not in self.confirmed):
            self.add_path_mode[seg] = not mode
            if here == 0:
                self.confirmed.add(seg)
            self.quirks["add_path_present" if not mode else "add_path_absent"] += 1
            return not mode
        return mode
