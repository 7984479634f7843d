"""Which traps a change between two snapshots sends, with keepalived 2.2.7's varbinds (pure)."""

from __future__ import annotations

from pathlib import Path

from pykeepalived.config import load_config_text
from pykeepalived.lab.snmp import snmp_seed_conf
from pykeepalived.snmp import mib
from pykeepalived.snmp.agentx import Integer, IpAddress, ObjectIdentifier, OctetString
from pykeepalived.snmp.service import Parts, TrapState, _htons, parts, traps
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
    first = traps(cfg, snap("BACKUP"), seen, p, IFACES)
    assert [t[0] for t in first] == [(*mib.VRRP, 10, 0, 2)] * 2 + [(*mib.VRRP, 10, 0, 1)]
    assert traps(cfg, snap("BACKUP"), seen, p, IFACES) == []  # no change, no trap
    out = dict(traps(cfg, snap("MASTER"), seen, p, IFACES)[:3])
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
    assert traps(cfg, snap("MASTER"), TrapState(), parts(cfg, False), IFACES) == []


def test_checker_trap_port_is_byte_swapped_as_keepalived_sends_it() -> None:
    assert _htons(80) == 20480 and _htons(0x1234) == 0x3412
    assert ObjectIdentifier((1, 2)).value == (1, 2)
