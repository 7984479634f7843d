"""SNMP error traps against Debian's net-snmp, in the lab's namespaces: bad VRRP adverts from a peer make
pykeepalived send RFC 2787 vrrpTrapAuthFailure and RFC 6527 vrrpv3NotifyProtoError with the varbinds
keepalived 2.2.7 sends in the same scenario (tests/data/snmp/keepalived-2.2.7-error-traps.txt, captured by
scripts/capture-keepalived-snmp-error-traps); the reference also holds both instances' new-master traps, sent
when they take over a few seconds in (no valid advert comes)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.snmp_errors import AUTH_FAILURE_TRAP, PROTO_ERROR_TRAP, received_traps, run_scenario
from pykeepalived.lab.topology import Lab, two_node_lan
from tests.conftest import data_path, require_binary, require_root


@pytest.fixture
def lan() -> Iterator[Lab]:
    require_root()
    for tool in ("snmpd", "snmptrapd", "snmpwalk"):
        require_binary(tool)
    with two_node_lan() as lab:
        yield lab


def test_bad_adverts_send_keepalived_error_traps(lan: Lab, tmp_path: Path) -> None:
    """From node b: VRRPv2 adverts with the wrong password (vrrpTrapAuthFailure: the peer's address and
    authFailure(3)), VRRPv3 adverts with TTL 64 (vrrpv3NotifyProtoError: ipTtlError(1)); the RFC 6527 table's
    vrrpv3StatisticsProtoErrReason shows the last reason."""
    conf = tmp_path / "a.conf"
    argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-f", str(conf), "-p", str(tmp_path / "a.pid"),
            "--dataplane", "nftables"]
    got = run_scenario(lan, tmp_path, argv)
    reference = data_path("snmp", "keepalived-2.2.7-error-traps.txt").read_text().splitlines()
    assert got == reference, (tmp_path / "a.log").read_text(errors="replace")[-3000:]
    # every one received says the same (the peer keeps sending the same two bad adverts)
    traps = (tmp_path / "snmp" / "traps.log").read_text()
    for oid in (AUTH_FAILURE_TRAP, PROTO_ERROR_TRAP):
        each = received_traps(traps, oid)
        assert each and all(binds == each[0] for binds in each), each
