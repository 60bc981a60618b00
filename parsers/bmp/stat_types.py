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


def _t(code: int, name: str, size: int, per_afi: bool, description: str, ref: str) -> StatType:
    return StatType(code, name, size, per_afi, description, ref)


_C, _G = COUNTER, GAUGE
_R7854, _R8671, _R9972 = "RFC 7854", "RFC 8671", "RFC 9972"

#: The registry, by type code.
STAT_TYPES: dict[int, StatType] = {
    t.code: t
    for t in (
        _t(0, "rejected_prefixes", _C, False, "Prefixes rejected by inbound policy", _R7854),
        _t(
            1,
            "duplicate_prefix_advertisements",
            _C,
            False,
            "(Known) duplicate prefix advertisements",
            _R7854,
        ),
        _t(2, "duplicate_withdraws", _C, False, "(Known) duplicate withdraws", _R7854),
        _t(
            3,
            "cluster_list_loop_updates",
            _C,
            False,
            "Updates invalidated due to CLUSTER_LIST loop",
            _R7854,
        ),
        _t(4, "as_path_loop_updates", _C, False, "Updates invalidated due to AS_PATH loop", _R7854),
        _t(
            5,
            "originator_id_updates",
            _C,
            False,
            "Updates invalidated due to ORIGINATOR_ID",
            _R7854,
        ),
        _t(
            6,
            "as_confed_loop_updates",
            _C,
            False,
            "Updates invalidated due to a loop in AS_CONFED_SEQUENCE or AS_CONFED_SET",
            _R7854,
        ),
        _t(7, "adj_rib_in_routes", _G, False, "Routes in Adj-RIBs-In", _R7854),
        _t(8, "loc_rib_routes", _G, False, "Routes in Loc-RIB", _R7854),
        _t(9, "adj_rib_in_routes_per_afi", _G, True, "Routes in per-AFI/SAFI Adj-RIB-In", _R7854),
        _t(10, "loc_rib_routes_per_afi", _G, True, "Routes in per-AFI/SAFI Loc-RIB", _R7854),
        _t(
            11,
            "treat_as_withdraw_updates",
            _C,
            False,
            "Updates subjected to treat-as-withdraw",
            _R7854,
        ),
        _t(
            12,
            "treat_as_withdraw_prefixes",
            _C,
            False,
            "Prefixes subjected to treat-as-withdraw",
            _R7854,
        ),
        _t(13, "duplicate_updates", _C, False, "Duplicate update messages received", _R7854),
        _t(14, "adj_rib_out_pre_routes", _G, False, "Routes in pre-policy Adj-RIB-Out", _R8671),
        _t(15, "adj_rib_out_post_routes", _G, False, "Routes in post-policy Adj-RIB-Out", _R8671),
        _t(
            16,
            "adj_rib_out_pre_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out",
            _R8671,
        ),
        _t(
            17,
            "adj_rib_out_post_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-Out",
            _R8671,
        ),
        _t(18, "adj_rib_in_pre_routes", _G, False, "Routes in pre-policy Adj-RIB-In", _R9972),
        _t(
            19,
            "adj_rib_in_pre_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-In",
            _R9972,
        ),
        _t(20, "adj_rib_in_post_routes", _G, False, "Routes in post-policy Adj-RIB-In", _R9972),
        _t(
            21,
            "adj_rib_in_post_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In",
            _R9972,
        ),
        _t(
            22,
            "adj_rib_in_pre_rejected_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-In rejected by inbound policy",
            _R9972,
        ),
        _t(
            23,
            "adj_rib_in_post_accepted_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In accepted by inbound policy",
            _R9972,
        ),
        _t(
            24,
            "primary_routes_per_afi",
            _G,
            True,
            "Routes per-AFI/SAFI selected as primary",
            _R9972,
        ),
        _t(25, "backup_routes_per_afi", _G, True, "Routes per-AFI/SAFI selected as backup", _R9972),
        _t(
            26,
            "damping_suppressed_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB suppressed by route damping",
            _R9972,
        ),
        _t(
            27,
            "gr_stale_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB stale by Graceful Restart",
            _R9972,
        ),
        _t(
            28,
            "llgr_stale_routes_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In or Loc-RIB stale by Long-Lived GR",
            _R9972,
        ),
        _t(
            29,
            "adj_rib_in_post_threshold_headroom",
            _G,
            False,
            "Routes left in post-policy Adj-RIB-In before the received-route threshold",
            _R9972,
        ),
        _t(
            30,
            "adj_rib_in_post_threshold_headroom_per_afi",
            _G,
            True,
            "Routes left in per-AFI/SAFI post-policy Adj-RIB-In before the received-route threshold",
            _R9972,
        ),
        _t(
            31,
            "license_threshold_headroom",
            _G,
            False,
            "Routes left in post-policy Adj-RIB-In or Loc-RIB before a license route threshold",
            _R9972,
        ),
        _t(
            32,
            "license_threshold_headroom_per_afi",
            _G,
            True,
            "Routes left per-AFI/SAFI in post-policy Adj-RIB-In or Loc-RIB before a license threshold",
            _R9972,
        ),
        _t(
            33,
            "adj_rib_in_pre_as_path_too_long",
            _G,
            False,
            "Routes in pre-policy Adj-RIB-In rejected for exceeding the maximum AS_PATH length",
            _R9972,
        ),
        _t(
            34,
            "adj_rib_in_pre_as_path_too_long_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-In rejected for exceeding the maximum "
            "AS_PATH length",
            _R9972,
        ),
        _t(
            35,
            "adj_rib_in_post_rpki_invalid_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In invalidated by RPKI ROA",
            _R9972,
        ),
        _t(
            36,
            "adj_rib_in_post_rpki_valid_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In validated by RPKI ROA",
            _R9972,
        ),
        _t(
            37,
            "adj_rib_in_post_rpki_not_found_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-In with RPKI state NotFound",
            _R9972,
        ),
        _t(
            38,
            "adj_rib_out_pre_rejected_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out rejected by outbound policy",
            _R9972,
        ),
        _t(
            39,
            "adj_rib_out_pre_as_path_too_long",
            _G,
            False,
            "Routes in pre-policy Adj-RIB-Out filtered for exceeding the maximum AS_PATH length",
            _R9972,
        ),
        _t(
            40,
            "adj_rib_out_pre_as_path_too_long_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI pre-policy Adj-RIB-Out filtered for exceeding the maximum "
            "AS_PATH length",
            _R9972,
        ),
        _t(
            41,
            "adj_rib_out_post_rpki_invalid_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-Out invalidated by RPKI ROA",
            _R9972,
        ),
        _t(
            42,
            "adj_rib_out_post_rpki_valid_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-Out validated by RPKI ROA",
            _R9972,
        ),
        _t(
            43,
            "adj_rib_out_post_rpki_not_found_per_afi",
            _G,
            True,
            "Routes in per-AFI/SAFI post-policy Adj-RIB-Out with RPKI state NotFound",
            _R9972,
        ),
    )
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
