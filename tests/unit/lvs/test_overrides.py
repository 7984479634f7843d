"""Runtime overrides on top of the health checkers' table (lvs.overrides)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.overrides import (
    OverrideError,
    Overrides,
    apply,
    format_service,
    parse_server,
    parse_service,
)

VIP = ServiceKey.inet("tcp", "10.0.0.5", 80)
RS1, RS2 = DestKey.of("192.168.0.12", 80), DestKey.of("192.168.0.13", 80)
TABLE = Table((Service(VIP, "wrr", destinations=(Destination(RS1, 20), Destination(RS2, 8))),))


def weights(table: Table) -> dict[DestKey, int]:
    return {d.key: d.weight for s in table.services for d in s.destinations}


def test_no_override_is_the_same_table() -> None:
    assert apply(TABLE, Overrides()) is TABLE


def test_drain_is_weight_zero_and_undrain_restores() -> None:
    ov = Overrides().with_server(VIP, RS1, drained=True)
    assert weights(apply(TABLE, ov)) == {RS1: 0, RS2: 8}
    assert weights(apply(TABLE, ov.with_server(VIP, RS1, drained=False))) == {RS1: 20, RS2: 8}
    assert not ov.with_server(VIP, RS1, drained=False)  # nothing left: the override is gone


def test_weight_applies_while_up_and_drain_wins() -> None:
    ov = Overrides().with_server(VIP, RS1, weight=5)
    assert weights(apply(TABLE, ov)) == {RS1: 5, RS2: 8}
    assert weights(apply(TABLE, ov.with_server(VIP, RS1, drained=True))) == {RS1: 0, RS2: 8}
    inhibited = Table((Service(VIP, "wrr", destinations=(Destination(RS1, 0), Destination(RS2, 8))),))
    assert weights(apply(inhibited, ov)) == {RS1: 0, RS2: 8}  # a failed server stays out


def test_a_down_server_stays_out_whatever_its_override() -> None:
    down = Table((Service(VIP, "wrr", destinations=(Destination(RS2, 8),)),))
    assert weights(apply(down, Overrides().with_server(VIP, RS1, weight=50))) == {RS2: 8}


def test_disable_removes_the_server_or_the_service() -> None:
    assert weights(apply(TABLE, Overrides().with_server(VIP, RS2, disabled=True))) == {RS1: 20}
    assert apply(TABLE, Overrides().with_service(VIP, True)).services == ()
    assert apply(TABLE, Overrides().with_service(VIP, True).with_service(VIP, False)) == TABLE


def test_prune_keeps_what_still_exists() -> None:
    other = ServiceKey.inet("tcp", "10.0.0.6", 80)
    ov = Overrides().with_server(VIP, RS1, drained=True).with_server(VIP, RS2, weight=3) \
        .with_service(other, True)
    kept = ov.prune([(VIP, [RS1])])
    assert set(kept.servers) == {(VIP, RS1)} and kept.disabled_services == frozenset()


def test_names_parse_as_operators_type_them() -> None:
    assert parse_service("10.0.0.5:80") == VIP
    assert parse_service("tcp:10.0.0.5:80") == VIP
    assert parse_service("UDP:10.0.0.5:53") == ServiceKey.inet("udp", "10.0.0.5", 53)
    assert parse_service("[2001:db8::1]:443") == ServiceKey.inet("tcp", "2001:db8::1", 443)
    assert parse_service("fwm 7") == parse_service("fwm:7") == ServiceKey.mark(7)
    assert parse_server("[fd00::12]:80") == DestKey.of("fd00::12", 80)
    for bad in ("10.0.0.5", "10.0.0.5:http", "2001:db8::1:80", "fwm x", "fwm 0", "nothost:80", "1.2.3.4:70000"):
        with pytest.raises(OverrideError):
            parse_service(bad)


@given(st.sampled_from(["tcp", "udp", "sctp"]), st.ip_addresses(), st.integers(0, 65535))
def test_format_and_parse_are_inverse(protocol: str, addr: object, port: int) -> None:
    key = ServiceKey.inet(protocol, str(addr), port)
    assert parse_service(format_service(key)) == key


def test_json_round_trip() -> None:
    ov = Overrides().with_server(VIP, RS1, drained=True, weight=4).with_service(ServiceKey.mark(3), True)
    assert Overrides.from_json(ov.to_json()) == ov


def test_a_weight_until_reload_goes_over_the_lasting_one_and_a_reload_drops_it() -> None:
    """What an SNMP SET of realServerWeight leaves: keepalived 2.2.7's reload puts the configured weight back
    (set_effective_weights); a lasting ``ctl weight`` outlives the reload, and ends the one until reload."""
    ov = Overrides().with_server(VIP, RS1, weight=5).with_server(VIP, RS1, reload_weight=7) \
        .with_server(VIP, RS2, reload_weight=3)
    assert weights(apply(TABLE, ov)) == {RS1: 7, RS2: 3}
    assert ov.server(VIP, RS1).describe() == "weight 7 until reload, weight 5"
    assert weights(apply(TABLE, ov.reloaded())) == {RS1: 5, RS2: 8}
    assert set(ov.reloaded().servers) == {(VIP, RS1)}  # nothing left of RS2's
    assert Overrides.from_json(ov.to_json()) == ov
    assert Overrides().reloaded() == Overrides() and ov.reloaded().reloaded() == ov.reloaded()
