"""SNMP error traps against Debian's net-snmp, in the lab's namespaces: bad VRRP adverts from a peer make
pykeepalived send RFC 2787 vrrpTrapAuthFailure and RFC 6527 vrrpv3NotifyProtoError with the varbinds
keepalived 2.2.7 sends in the same scenario (tests/data/snmp/keepalived-2.2.7-error-traps.txt, captured by
scripts/capture-keepalived-snmp-error-traps); the reference also holds both instances' new-master traps, sent
when they take over a few seconds in (no valid advert comes).  As keepalived, one trap per bad advert, as it
comes; unlike keepalived, a flood of them is cut at the rate limit (snmp.service.ERROR_TRAP_BURST per instance
and kind in ERROR_TRAP_INTERVAL), the rest counted and logged."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.snmp_errors import (
    AUTH_FAILURE_TRAP,
    PROTO_ERROR_TRAP,
    TRAPS,
    error_trap_node,
    received_traps,
    run_scenario,
    send_from_b,
)
from pykeepalived.lab.topology import Lab, two_node_lan
from pykeepalived.snmp.service import ERROR_TRAP_BURST, ERROR_TRAP_INTERVAL
from tests.conftest import data_path, require_binary, require_root


@pytest.fixture
def lan() -> Iterator[Lab]:
    require_root()
    for tool in ("snmpd", "snmptrapd", "snmpwalk"):
        require_binary(tool)
    with two_node_lan() as lab:
        yield lab


def daemon_argv(work: Path) -> list[str]:
    return [sys.executable, "-m", "pykeepalived", "-n", "-l", "-f", str(work / "a.conf"), "-p", str(work / "a.pid"),
            "--dataplane", "nftables"]


def test_bad_adverts_send_keepalived_error_traps(lan: Lab, tmp_path: Path) -> None:
    """From node b: VRRPv2 adverts with the wrong password (vrrpTrapAuthFailure: the peer's address and
    authFailure(3)), VRRPv3 adverts with TTL 64 (vrrpv3NotifyProtoError: ipTtlError(1)); the RFC 6527 table's
    vrrpv3StatisticsProtoErrReason shows the last reason."""
    got = run_scenario(lan, tmp_path, daemon_argv(tmp_path))
    reference = data_path("snmp", "keepalived-2.2.7-error-traps.txt").read_text().splitlines()
    assert got == reference, (tmp_path / "a.log").read_text(errors="replace")[-3000:]
    # every one received says the same (the peer keeps sending the same two bad adverts)
    traps = (tmp_path / "snmp" / "traps.log").read_text()
    for oid in (AUTH_FAILURE_TRAP, PROTO_ERROR_TRAP):
        each = received_traps(traps, oid)
        assert each and all(binds == each[0] for binds in each), each


def sent(lab: Lab, count: int, interval: float) -> None:
    """:func:`send_from_b`, waited for."""
    sender = send_from_b(lab, count, interval)
    try:
        sender.wait(30)
    finally:
        lab.stop(sender)


def test_each_bad_advert_gets_its_own_trap_and_a_flood_is_cut_at_the_rate_limit(lan: Lab, tmp_path: Path) -> None:
    """Five rounds of the two bad adverts 50 ms apart: five traps of each kind, as keepalived sends one per bad
    packet (they were one per second of status polling).  Then 300 rounds 5 ms apart: the traps stop at
    ERROR_TRAP_BURST of each kind in the interval, and the log counts the ones not sent."""
    with error_trap_node(lan, tmp_path, daemon_argv(tmp_path)) as snmp:
        deadline = time.monotonic() + 20
        while not all(received_traps(snmp.traps(), oid) for _, oid in TRAPS[2:]):  # settled: both MASTER
            assert time.monotonic() < deadline, snmp.traps()
            time.sleep(0.1)
        t0 = time.monotonic()
        sent(lan, 5, 0.05)

        def counts() -> tuple[int, int]:
            text = snmp.traps()
            return len(received_traps(text, AUTH_FAILURE_TRAP)), len(received_traps(text, PROTO_ERROR_TRAP))

        while counts() != (5, 5) and time.monotonic() < t0 + 5:
            time.sleep(0.02)
        time.sleep(0.3)  # and no more
        assert counts() == (5, 5)
        sent(lan, 300, 0.005)  # ~400 bad adverts a second, for under a second
        time.sleep(1.5)
        assert time.monotonic() - t0 < ERROR_TRAP_INTERVAL  # one rate-limit interval: the first burst counts
        assert counts() == (ERROR_TRAP_BURST, ERROR_TRAP_BURST)
        log = (tmp_path / "a.log").read_text(errors="replace")
        # counted: over the rate limit, or beyond the bad adverts each snapshot describes (how many of each
        # depends on how fast they came)
        line = re.search(r"SNMP: (\d+) error traps .* not sent so far", log)
        assert line and int(line.group(1)) > 0, log[-3000:]
