"""bfd_instance, track_bfd and BFD_CHECK as keepalived 2.2.7 reads them (bfd/bfd_parser.c, vrrp_track.c,
check_bfd.c): the model carries every keyword with keepalived's defaults filled where its end handler fills
them; the messages themselves are checked against keepalived's in tests/data/configtest/bfd_*.conf."""

from __future__ import annotations

import ipaddress

from pykeepalived.bfd.process import session_config
from pykeepalived.config import load_config_text
from pykeepalived.config.loader import LoadResult

IFACES = frozenset({"lo", "eth0"})


def load(text: str) -> LoadResult:
    return load_config_text(text, name="k.conf", config_id="n", interfaces=IFACES)


def errors(result: LoadResult) -> list[str]:
    return [d.message for d in result.diagnostics if not d.info]


def test_every_keyword_is_carried() -> None:
    r = load("bfd_instance b1 {\n neighbour_ip 10.0.0.2\n source_ip 10.0.0.1\n min_rx 10.5\n min_tx 20\n"
             " idle_tx 2000\n multiplier 3\n passive\n hoplimit 250\n max_hops 2\n weight -20 reverse\n vrrp\n}\n")
    assert errors(r) == []
    [b] = r.config.vrrp.bfd_instances  # type: ignore[union-attr]
    assert b.neighbor_ip == ipaddress.ip_address("10.0.0.2") and b.source_ip == ipaddress.ip_address("10.0.0.1")
    assert (b.min_rx, b.min_tx, b.idle_tx, b.multiplier, b.passive) == (10.5, 20.0, 2000.0, 3, True)
    assert (b.ttl, b.max_hops, b.weight, b.weight_reverse, b.vrrp, b.checker) == (250, 2, -20, True, True, False)
    cfg = session_config(b, 1)
    assert (cfg.min_rx, cfg.min_tx, cfg.idle_tx, cfg.multiplier, cfg.ttl, cfg.max_hops) == (
        10_500, 20_000, 2_000_000, 3, 250, 2)


def test_defaults_as_keepalived_fills_them() -> None:
    r = load("bfd_instance a {\n neighbor_ip 10.0.0.2\n}\nbfd_instance b {\n neighbor_ip fd00::2\n max_hops -1\n}\n")
    a, b = r.config.vrrp.bfd_instances  # type: ignore[union-attr]
    assert (a.ttl, a.max_hops, a.vrrp, a.checker) == (255, 0, True, True)
    # IPv6: hop limit 64 (BFD_CONTROL_HOPLIMIT); max_hops -1 is 255 in keepalived's uint8_t, then capped
    assert (b.ttl, b.max_hops) == (64, 64)
    assert errors(r) == ["BFD instance b: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit"]
    c = session_config(a, 1)
    assert (c.min_rx, c.min_tx, c.idle_tx, c.multiplier) == (10_000, 10_000, 1_000_000, 5)


def test_intervals_are_ms_with_three_decimals() -> None:
    r = load("bfd_instance a {\n neighbor_ip 10.0.0.2\n min_rx 1.2345\n min_tx 1.2344\n idle_tx 1e3\n}\n")
    [a] = r.config.vrrp.bfd_instances  # type: ignore[union-attr]
    assert (a.min_rx, a.min_tx, a.idle_tx) == (1.235, 1.234, None)  # rounded as keepalived; 1e3 is no number
    assert errors(r) == [
        "number '1.2345' has too many decimal places",
        "number '1.2344' has too many decimal places",
        "invalid number '1e3'",
        "Configuration error: BFD instance a idle_tx value 1e3 is not valid (must be in range [1000-4294967]), "
        "ignoring",
    ]


def test_track_bfd_sees_only_instances_reporting_to_vrrp() -> None:
    inst = ("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n"
            " virtual_ipaddress {\n  10.0.0.1\n }\n track_bfd {\n  b1 weight 10\n  b2\n }\n}\n")
    r = load("bfd_instance b1 {\n neighbor_ip 10.0.0.2\n}\nbfd_instance b2 {\n neighbor_ip 10.0.0.3\n checker\n}\n"
             + inst)
    assert errors(r) == ["(V) track bfd b2 not found, ignoring..."]
    [v] = r.config.vrrp.instances  # type: ignore[union-attr]
    assert [(t.name, t.weight) for t in v.track.bfds] == [("b1", 10)]
