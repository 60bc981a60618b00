"""The lab's own pieces that need no root: the independent BMP reader on the
golden captures (numbers from the captures' README) and the config generators."""

from __future__ import annotations

from pathlib import Path

from lab import SpeakerConfig, bird_config, frr_bgpd_config, gobgp_config, lab_neighbors, summarize

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"


def test_bmpwire_frr_basic() -> None:
    s = summarize((CAPTURES / "frr-basic.bmp").read_bytes())
    assert dict(s.types) == {
        "initiation": 1,
        "peer_up": 4,
        "route_monitoring": 238,
        "statistics_report": 26,
        "peer_down": 7,
    }
    assert (s.announced_count("pre"), s.announced_count("post")) == (76, 76)
    assert (s.withdrawn_count("pre"), s.withdrawn_count("post")) == (43, 43)
    assert s.incomplete_tail == 0


def test_bmpwire_gobgp_basic_loc_rib() -> None:
    s = summarize((CAPTURES / "gobgp-basic.bmp").read_bytes())
    assert [s.announced_count(v) for v in ("pre", "post", "loc_rib")] == [80, 76, 96]
    assert [s.withdrawn_count(v) for v in ("pre", "post", "loc_rib")] == [10, 72, 51]


def test_bmpwire_bird_addpath_ids_from_bytes() -> None:
    s = summarize((CAPTURES / "bird-addpath.bmp").read_bytes())
    assert (s.announced_count("pre"), s.announced_count("post")) == (19, 14)
    # BIRD's own path ids (5, 6, then 7), not the ones ExaBGP sent
    assert s.announced["pre"][:2] == ["198.51.100.192/26#5", "192.0.2.0/27#5"]
    assert dict(s.eor) == {"pre": 4, "post": 4}


def test_config_generators() -> None:
    cfg = SpeakerConfig(neighbors=lab_neighbors(), loc_rib=True, stats_interval=5)
    frr = frr_bgpd_config(SpeakerConfig(neighbors=lab_neighbors()), Path("/x/bgpd.log"))
    assert "bgp route-map delay-timer 0" in frr
    assert " neighbor 10.0.1.99 passive" in frr
    assert frr.count("soft-reconfiguration inbound") == 6
    assert "  bmp connect 10.0.9.2 port 11019 min-retry 100 max-retry 1000" in frr
    gobgp = gobgp_config(cfg)
    assert 'route-monitoring-policy = "all"' in gobgp
    assert "statistics-timeout = 15" in gobgp  # gobgpd's minimum
    assert gobgp.count("[[neighbors]]") == 3
    bird = bird_config(cfg, Path("/x/bird.log"))
    assert "protocol bgp peerA from PEERS" in bird
    assert "station address ip 10.0.9.2 port 11019;" in bird
    assert "if net = 198.51.100.192/26 then reject;" in bird
