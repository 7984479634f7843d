"""Which traps a change between two snapshots sends, with keepalived 2.2.7's varbinds (pure)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.lab.snmp import snmp_seed_conf
from pykeepalived.snmp import mib
from pykeepalived.snmp.agentx import Integer, IpAddress, ObjectIdentifier, OctetString
from pykeepalived.snmp.service import Parts, Refresh, SnmpService, TrapState, _htons, parts, traps
from pykeepalived.status.changes import ChangeSignal
from pykeepalived.status.snapshot import DaemonInfo, Snapshot, VrrpInstanceStatus

IFACES = {"eth0": mib.Interface(2, b"\x02" * 6, bytes([10, 0, 0, 4])),
          "eth1": mib.Interface(3, b"\x03" * 6, bytes([192, 168, 0, 3]))}


def config(text: str):  # type: ignore[no-untyped-def]
    result = load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0", "eth1"}))
    assert result.config is not None
    return result.config


def snap(state: str) -> Snapshot:
    info = DaemonInfo(pid=1, config_file="k.conf", dataplane="none", started_at=0.0)
    return Snapshot(daemon=info, taken_at=0.0, vrrp=tuple(
        VrrpInstanceStatus(name=n, interface=i, vrid=v, state=state, base_priority=100, effective_priority=100,
                           sync_group="VG1") for n, i, v in (("VI_FRONT", "eth0", 51), ("VI_GATEWAY", "eth1", 52))))


def test_enable_keywords_and_x_select_the_parts() -> None:
    cfg = config(snmp_seed_conf(Path("/run/ax"), "lb2"))
    assert parts(cfg, False) == Parts(vrrp=True, checker=True, rfcv2=True, rfcv3=True, traps=True)
    plain = config("vrrp_instance V {\n  interface eth0\n  virtual_router_id 1\n  priority 100\n}\n")
    assert not parts(plain, False).any
    assert parts(plain, True) == Parts(vrrp=True, checker=True, rfcv2=True, rfcv3=True, traps=False)
    assert parts(plain, True).subtrees() == [mib.GLOBAL, mib.VRRP, mib.CHECK, mib.RFC2787, mib.RFC6527]


def test_backup_to_master_sends_keepalived_and_rfc_traps() -> None:
    cfg = config(snmp_seed_conf(Path("/run/ax"), "lb2"))
    seen = TrapState()
    p = parts(cfg, False)
    first = traps(cfg, snap("BACKUP"), seen, p, IFACES, now=0.0)
    assert [t[0] for t in first] == [(*mib.VRRP, 10, 0, 2)] * 2 + [(*mib.VRRP, 10, 0, 1)]
    assert traps(cfg, snap("BACKUP"), seen, p, IFACES, now=0.0) == []  # no change, no trap
    out = dict(traps(cfg, snap("MASTER"), seen, p, IFACES, now=0.0)[:3])
    rid = ((*mib.GLOBAL, 2, 0), OctetString("lb2"))
    binds = [(vb.oid, vb.value) for vb in out[(*mib.VRRP, 10, 0, 2)]]
    # keepalived names the columns without an instance index
    assert binds == [((*mib.VRRP, 3, 1, 2), OctetString("VI_FRONT")), ((*mib.VRRP, 3, 1, 4), Integer(2)),
                     ((*mib.VRRP, 3, 1, 5), Integer(1)), rid]
    assert [(vb.oid, vb.value) for vb in out[(*mib.RFC2787, 0, 1)]] == [
        ((*mib.RFC2787, 1, 3, 1, 7, 2, 51), IpAddress(bytes([10, 0, 0, 4])))]
    assert [(vb.oid, vb.value) for vb in out[(*mib.RFC6527, 0, 1)]] == [
        ((*mib.RFC6527, 1, 1, 1, 1, 3, 2, 51, 1), OctetString(bytes([10, 0, 0, 4]))),
        ((*mib.RFC6527, 1, 2, 5, 1, 2, 2, 51, 1), Integer(3))]


def test_no_traps_without_enable_traps() -> None:
    cfg = config(snmp_seed_conf(Path("/run/ax"), "lb2").replace("    enable_traps\n", ""))
    assert traps(cfg, snap("MASTER"), TrapState(), parts(cfg, False), IFACES, now=0.0) == []


def test_checker_trap_port_is_byte_swapped_as_keepalived_sends_it() -> None:
    assert _htons(80) == 20480 and _htons(0x1234) == 0x3412
    assert ObjectIdentifier((1, 2)).value == (1, 2)


def test_refresh_at_a_change_after_the_gap_and_every_poll_anyway() -> None:
    """The watcher's schedule on a virtual clock: a full snapshot every POLL whatever happens; on a change one
    of what changed at once, but no sooner than MIN_GAP, or the last one's cost, after the last one began."""
    r = Refresh(poll=1.0, min_gap=0.05)
    assert r.wait(0.0, changed=False) == 0 and r.full(0.0)  # the first: at once, everything
    r.taken(0.0, 0.01, full=True)
    assert r.wait(0.2, changed=False) == pytest.approx(0.8)  # quiet: the fallback poll
    assert r.wait(0.2, changed=True) == 0 and not r.full(0.2)  # a change: at once, what changed
    r.taken(0.2, 0.21, full=False)
    assert r.wait(0.23, changed=True) == pytest.approx(0.02)  # the next change: after the gap
    assert r.wait(0.23, changed=False) == pytest.approx(0.77)  # the fallback poll stays where it was
    r.taken(0.25, 0.45, full=False)  # a slow snapshot (0.2 s): a change waits as long again
    assert r.wait(0.3, changed=True) == pytest.approx(0.15)
    assert r.wait(0.9, changed=True) == 0 and r.wait(1.0, changed=False) == 0 and r.full(1.0)


async def test_a_change_is_trapped_at_once_not_at_the_next_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service on the change signal: the watcher reads the changed status (not the whole) and sends
    the traps within a few milliseconds of the bump, with the fallback poll 30 s away."""
    cfg = config(snmp_seed_conf(Path("/run/ax"), "lb2"))
    state = ["BACKUP"]
    reads: list[str] = []

    async def whole() -> Snapshot:
        reads.append("whole")
        return snap(state[0])

    async def changed() -> Snapshot:
        reads.append("changed")
        return snap(state[0])

    signal = ChangeSignal()
    svc = SnmpService(cfg, whole, snmp_option=False, socket="unix:/nonexistent", changes=signal,
                      changed_snapshot=changed)
    svc.refresh.poll = 30.0
    sent: list[tuple[float, tuple[int, ...], list[Any]]] = []

    async def notify(trap_oid: tuple[int, ...], binds: list[Any]) -> bool:
        sent.append((time.monotonic(), trap_oid, binds))
        return True

    monkeypatch.setattr(svc.agent, "notify", notify)
    monkeypatch.setattr(mib, "read_interfaces", lambda: IFACES)
    svc.agent.connected.set()
    watcher = asyncio.ensure_future(svc._watch())
    try:
        while len(sent) < 3:  # the BACKUP traps of the first (whole) snapshot
            await asyncio.sleep(0.005)
        assert reads == ["whole"]
        state[0] = "MASTER"
        t0 = time.monotonic()
        signal.bump()
        while len(sent) < 4:
            await asyncio.sleep(0.005)
        assert sent[3][0] - t0 < 0.2
        assert [vb.value for vb in sent[3][2]][:2] == [OctetString("VI_FRONT"), Integer(2)]
        assert reads == ["whole", "changed"]
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
