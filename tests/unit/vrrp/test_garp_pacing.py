"""vrrp.garp: the GARP/NA pacing and the NA Router flag's freshness, with the time as an argument."""

from __future__ import annotations

import pytest

from pykeepalived.vrrp.garp import GNA_ROUTER_RECHECK, GarpPacer, RouterFlags


def test_frames_on_one_interface_are_spaced_by_its_interval() -> None:
    p = GarpPacer(garp_interval=0.5, gna_interval=0.2)
    assert p.wait("eth0", True, 100.0) == 0  # nothing sent yet
    p.sent("eth0", 100.0)
    assert p.wait("eth0", True, 100.1) == pytest.approx(0.4)
    assert p.wait("eth0", False, 100.1) == pytest.approx(0.1)  # an NA waits vrrp_gna_interval
    assert p.wait("eth0", True, 100.5) == 0 and p.wait("eth0", True, 101.0) == 0
    assert p.wait("eth1", True, 100.1) == 0  # other interfaces are not held back


def test_without_an_interval_nothing_waits() -> None:
    p = GarpPacer()
    p.sent("eth0", 5.0)
    assert p.wait("eth0", True, 5.0) == 0 and p.wait("eth0", False, 5.0) == 0


def test_router_flag_is_re_read_when_stale_or_forced() -> None:
    f = RouterFlags()
    assert f.stale("eth0", 0.0) and not f.router("eth0")
    f.update("eth0", 10.0, True)
    assert f.router("eth0")
    assert not f.stale("eth0", 10.0 + GNA_ROUTER_RECHECK - 0.001)
    assert f.stale("eth0", 10.0 + GNA_ROUTER_RECHECK)
    assert f.stale("eth0", 10.5, force=True)  # becoming MASTER reads it again
