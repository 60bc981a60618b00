"""The IANA "BMP Statistics Types" registry (RFC 7854 §4.8, RFC 8671 §5, RFC 9972 §3).

Every registered type (0-43) with a short snake_case name, the size of its
value (4: 32-bit counter, 8: 64-bit gauge) and whether the value is per
AFI/SAFI, in which case it is preceded by AFI (2 bytes) and SAFI (1 byte),
so the whole Stat Data is 11 bytes. 65531-65534 are reserved for
experimental use (FRR sends 65531).
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER = 4
GAUGE = 8
#: Size of AFI (2) + SAFI (1) before a per-AFI/SAFI gauge.
AFI_SAFI_SIZE = 3

EXPERIMENTAL_TYPES = range(65531, 65535)


@dataclass(frozen=True, slots=True)
class StatType:
    code: int
    name: str
    #: 4 for a 32-bit counter, 8 for a 64-bit gauge.
    size: int
    #: The value is preceded by AFI (2 bytes) and SAFI (1 byte).
    per_afi: bool
    description: str
    reference: str

    @property
    def length(self) -> int:
        """The Stat Len a well-formed TLV of this type has."""
        return self.size + (AFI_SAFI_SIZE if self.per_afi else 0)

    @property
    def kind(self) -> str:
        return "counter" if self.size == COUNTER else "gauge"


_C, _G = COUNTER, GAUGE

#: The RFC that defined each type: each defined one run of codes.
_REFERENCES = (
    (range(0, 14), "RFC 7854"),
    (range(14, 18), "RFC 8671"),
    (range(18, 44), "RFC 9972"),
)


def _reference(code: int) -> str:
    return next(ref for codes, ref in _REFERENCES if code in codes)


#: The registry as IANA lists it, one row per type:
#: (code, name, size: _C counter / _G gauge, per AFI/SAFI, description).
_REGISTRY: tuple[tuple[int, str, int, bool, str], ...] = (
    (0, "rejected_prefixes", _C, False, "Prefixes rejected by inbound policy"),
    (1, "duplicate_prefix_advertisements", _C, False, "(Known) duplicate prefix advertisements"),
    (2, "duplicate_withdraws", _C, False, "(Known) duplicate withdraws"),
    (3, "cluster_list_loop_updates", _C, False, "Updates invalidated due to CLUSTER_LIST loop"),
    (4, "as_path_loop_updates", _C, False, "Updates invalidated due to AS_PATH loop"),
    (5, "originator_id_updates", _C, False, "Updates invalidated due to ORIGINATOR_ID"),
    (6, "as_confed_loop_updates", _C, False, "Updates invalidated due to a loop in AS_CONFED_SEQUENCE or AS_CONFED_SET"),
    (7, "adj_rib_in_routes", _G, False, "Routes in Adj-RIBs-In"),
    (8, "loc_rib_routes", _G, False, "Routes in Loc-RIB"),
    (9, "adj_rib_in_routes_per_afi", _G, True, "Routes in per-AFI/SAFI Adj-RIB-In"),
    (10, "loc_rib_routes_per_afi", _G, True, "Routes in per-AFI/SAFI Loc-RIB"),
    (11, "treat_as_withdraw_updates", _C, False, "Updates subjected to treat-as-withdraw"),
    (12, "treat_as_withdraw_prefixes", _C, False, "Prefixes subjected to treat-as-withdraw"),
    (13, "duplicate_updates", _C, False, "Duplicate update messages received"),
    (14, "adj_rib_out_pre_routes", _G, False, "Routes in pre-policy Adj-RIB-Out"),
    (15, "adj_rib_out_post_routes", _G, False, "Routes in post-policy Adj-RIB-Out"),
    (16, "adj_rib_out_pre_routes_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out"),
    (17, "adj_rib_out_post_routes_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-Out"),
    (18, "adj_rib_in_pre_routes", _G, False, "Routes in pre-policy Adj-RIB-In"),
    (19, "adj_rib_in_pre_routes_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-In"),
    (20, "adj_rib_in_post_routes", _G, False, "Routes in post-policy Adj-RIB-In"),
    (21, "adj_rib_in_post_routes_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In"),
    (22, "adj_rib_in_pre_rejected_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-In rejected by inbound policy"),
    (23, "adj_rib_in_post_accepted_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In accepted by inbound policy"),
    (24, "primary_routes_per_afi", _G, True, "Routes per-AFI/SAFI selected as primary"),
    (25, "backup_routes_per_afi", _G, True, "Routes per-AFI/SAFI selected as backup"),
    (26, "damping_suppressed_routes_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB suppressed by route damping"),
    (27, "gr_stale_routes_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB stale by Graceful Restart"),
    (28, "llgr_stale_routes_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB stale by Long-Lived GR"),
    (29, "adj_rib_in_post_threshold_headroom", _G, False, "Routes left in post-policy Adj-RIB-In before the received-route threshold"),
    (30, "adj_rib_in_post_threshold_headroom_per_afi", _G, True, "Routes left in per-AFI/SAFI post-policy Adj-RIB-In before the received-route threshold"),
    (31, "license_threshold_headroom", _G, False, "Routes left in post-policy Adj-RIB-In or Loc-RIB before a license route threshold"),
    (32, "license_threshold_headroom_per_afi", _G, True, "Routes left per-AFI/SAFI in post-policy Adj-RIB-In or Loc-RIB before a license threshold"),
    (33, "adj_rib_in_pre_as_path_too_long", _G, False, "Routes in pre-policy Adj-RIB-In rejected for exceeding the maximum AS_PATH length"),
    (34, "adj_rib_in_pre_as_path_too_long_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-In rejected for exceeding the maximum AS_PATH length"),
    (35, "adj_rib_in_post_rpki_invalid_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In invalidated by RPKI ROA"),
    (36, "adj_rib_in_post_rpki_valid_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In validated by RPKI ROA"),
    (37, "adj_rib_in_post_rpki_not_found_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-In with RPKI state NotFound"),
    (38, "adj_rib_out_pre_rejected_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out rejected by outbound policy"),
    (39, "adj_rib_out_pre_as_path_too_long", _G, False, "Routes in pre-policy Adj-RIB-Out filtered for exceeding the maximum AS_PATH length"),
    (40, "adj_rib_out_pre_as_path_too_long_per_afi", _G, True, "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out filtered for exceeding the maximum AS_PATH length"),
    (41, "adj_rib_out_post_rpki_invalid_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-Out invalidated by RPKI ROA"),
    (42, "adj_rib_out_post_rpki_valid_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-Out validated by RPKI ROA"),
    (43, "adj_rib_out_post_rpki_not_found_per_afi", _G, True, "Routes in per-AFI/SAFI post-policy Adj-RIB-Out with RPKI state NotFound"),
)  # fmt: skip

#: The registry, by type code.
STAT_TYPES: dict[int, StatType] = {
    code: StatType(code, name, size, per_afi, description, _reference(code))
    for code, name, size, per_afi, description in _REGISTRY
}

#: Type code by name, for callers that configure by name.
STAT_CODES: dict[str, int] = {t.name: code for code, t in STAT_TYPES.items()}


def stat_type(code: int) -> StatType | None:
    return STAT_TYPES.get(code)


def is_experimental(code: int) -> bool:
    return code in EXPERIMENTAL_TYPES


def stat_name(code: int) -> str:
    """Registered name, ``experimental_<code>`` for 65531-65534, else ``type_<code>``."""
    t = STAT_TYPES.get(code)
    if t is not None:
        return t.name
    if code in EXPERIMENTAL_TYPES:
        return f"experimental_{code}"
    return f"type_{code}"
