"""SNMP SET without sockets: keepalived's writable objects, its refusals, its low-byte values, and the
subagent's TestSet / CommitSet / UndoSet / CleanupSet handling (RFC 2741 7.2.4)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from pykeepalived.lab.snmp import snmp_seed_conf
from pykeepalived.lvs.model import DestKey, Service, ServiceKey
from pykeepalived.snmp import agentx, mib, writes
from pykeepalived.snmp.agent import Subagent
from pykeepalived.snmp.agentx import Error, Integer, OctetString, PduType, VarBind
from pykeepalived.status.snapshot import DaemonInfo, DestinationStatus, Snapshot, VirtualServiceStatus
from tests.unit.snmp.test_traps import IFACES, config, snap

CONF = config(snmp_seed_conf(Path("/x.sock")))
SNAP = snap("MASTER")
VIEW = mib.build(CONF, SNAP, IFACES, started=0.0)
INST = (*mib.VRRP, 3, 1)
RS = (*mib.CHECK, 4, 1)


@pytest.mark.parametrize(("oid", "value", "error"), [
    ((*INST, 2, 1), OctetString("foo"), Error.NOT_WRITABLE),        # vrrpInstanceName: read-only
    ((*INST, 7, 1), OctetString("200"), Error.WRONG_TYPE),
    ((*INST, 7, 1), Integer(0), Error.WRONG_VALUE),
    ((*INST, 7, 1), Integer(256), Error.WRONG_VALUE),                # keepalived reads the low byte: 0
    ((*INST, 7, 9), Integer(100), Error.NOT_WRITABLE),               # no instance 9
    ((*INST, 13, 1), Integer(3), Error.WRONG_VALUE),
    ((*INST, 27, 1), Integer(1), Error.NOT_WRITABLE),                # accept of a VRRPv2 instance
    ((*INST, 28, 1), Integer(1), Error.NOT_WRITABLE),                # RWRITE in the MIB, no handler
    ((*RS, 7, 1, 1), Integer(5), Error.NOT_WRITABLE),             # the sorry server's row has no weight
    ((*RS, 7, 1, 9), Integer(5), Error.NOT_WRITABLE),
    ((*RS, 7, 1, 2), OctetString("5"), Error.WRONG_TYPE),
    ((*mib.RFC2787, 1, 3, 1, 5, 2, 51), Integer(200), Error.NOT_WRITABLE),
    ((*INST, 7, 1), Integer(300), Error.NO_ERROR),
    ((*INST, 13, 2), Integer(258), Error.NO_ERROR),
    ((*RS, 7, 1, 3), Integer(-1), Error.NO_ERROR),
])
def test_keepalived_takes_or_refuses_a_set(oid: agentx.OID, value: agentx.Value, error: Error) -> None:
    assert writes.test(CONF, VIEW, VarBind(oid, value)) == error


def test_vrrpv3_accept_is_no_access() -> None:
    cfg = config(snmp_seed_conf(Path("/x.sock")).replace("    advert_int 1\n", "    advert_int 1\n    version 3\n"))
    view = mib.build(cfg, SNAP, IFACES, started=0.0)
    assert writes.test(cfg, view, VarBind((*INST, 27, 1), Integer(1))) == Error.NO_ACCESS


def test_the_low_byte_is_the_value_as_keepalived_reads_it() -> None:
    assert writes.plan(CONF, SNAP, VarBind((*INST, 7, 2), Integer(300))) == writes.Write(
        "priority", 44, instance="VI_GATEWAY")
    assert writes.plan(CONF, SNAP, VarBind((*INST, 13, 1), Integer(258))) == writes.Write(
        "preempt", 0, instance="VI_FRONT")
    assert writes.plan(CONF, SNAP, VarBind((*INST, 13, 1), Integer(1))).value == 1
    assert writes.plan(CONF, SNAP, VarBind((*INST, 7, 2), Integer(300)), exact=True).value == 300


def test_a_weight_names_the_real_server_in_each_service_of_its_virtual_server() -> None:
    svc = Service(ServiceKey.inet("tcp", "10.0.0.5", 80))
    dest = DestinationStatus(key=DestKey.of("192.168.0.13", 80), weight=8)
    s = Snapshot(daemon=DaemonInfo(pid=1, config_file="k", dataplane="nftables", started_at=0.0), taken_at=0.0,
                 virtual_services=(VirtualServiceStatus(service=svc, destinations=(dest,)),))
    # row 1 is the sorry server: row 3 is the second real server
    assert writes.plan(CONF, s, VarBind((*RS, 7, 1, 3), Integer(260))) == writes.Write(
        "weight", 4, services=("tcp:10.0.0.5:80",), server="192.168.0.13:80")
    shown = mib.build(CONF, s, IFACES, started=0.0)
    assert shown.get((*RS, 7, 1, 3)) == Integer(8)
    over = Snapshot(daemon=s.daemon, taken_at=0.0, virtual_services=(VirtualServiceStatus(
        service=svc, destinations=(DestinationStatus(key=dest.key, weight=8, override="weight 4"),)),))
    assert mib.build(CONF, over, IFACES, started=0.0).get((*RS, 7, 1, 3)) == Integer(4)


class Recorder:
    """A Setter that refuses one OID and records commits and undos."""

    def __init__(self, refuse: agentx.OID | None = None, fail_commit: bool = False) -> None:
        self.refuse, self.fail_commit = refuse, fail_commit
        self.done: list[tuple[str, tuple[VarBind, ...]]] = []

    def test(self, vb: VarBind) -> int:
        return Error.NOT_WRITABLE if vb.oid == self.refuse else 0

    async def commit(self, varbinds: Sequence[VarBind]) -> int:
        self.done.append(("commit", tuple(varbinds)))
        return 1 if self.fail_commit else 0

    async def undo(self, varbinds: Sequence[VarBind]) -> int:
        self.done.append(("undo", tuple(varbinds)))
        return 0


def set_pdu(pdu_type: PduType, varbinds: Sequence[VarBind] = (), transaction: int = 5) -> agentx.Request:
    """A Set phase as the master sends it (little-endian, its host order), decoded."""
    payload = b""
    for vb in varbinds:
        rest = vb.oid[5:]
        payload += struct.pack("<HH", vb.value.type, 0) + struct.pack("BBBB", len(rest), vb.oid[4], 0, 0)
        payload += struct.pack(f"<{len(rest)}I", *rest)
        v = vb.value.value
        if isinstance(v, bytes):
            payload += struct.pack("<I", len(v)) + v + b"\0" * (-len(v) % 4)
        else:
            assert isinstance(v, int)
            payload += struct.pack("<i", v)
    head = struct.pack("<BBBBIIII", 1, pdu_type, 0, 0, 9, transaction, 3, len(payload))
    [req] = agentx.Reader().feed(head + payload)
    return req


def reply(out: bytes | None) -> tuple[int, int]:
    assert out is not None
    [resp] = agentx.Reader().feed(out)
    return resp.error, resp.index


def test_set_phases_test_every_varbind_then_commit_or_undo() -> None:
    a, b = VarBind((*INST, 7, 1), Integer(200)), VarBind((*INST, 2, 1), OctetString("x"))

    async def go() -> None:
        rec = Recorder(refuse=b.oid)
        agent = Subagent("unix:/nowhere", [mib.VRRP], setter=rec)
        test = set_pdu(PduType.TEST_SET, [a])
        assert test.varbinds == (a,)
        assert reply(await agent._set_phase(test, rec)) == (0, 0)
        assert reply(await agent._set_phase(set_pdu(PduType.COMMIT_SET), rec)) == (0, 0)
        assert rec.done == [("commit", (a,))]
        assert await agent._set_phase(set_pdu(PduType.CLEANUP_SET), rec) is None
        # the second varbind is refused: nothing is committed, the error names it (index 2)
        assert reply(await agent._set_phase(set_pdu(PduType.TEST_SET, [a, b], 6), rec)) == (
            Error.NOT_WRITABLE, 2)
        assert await agent._set_phase(set_pdu(PduType.CLEANUP_SET, transaction=6), rec) is None
        assert rec.done == [("commit", (a,))]
        # a commit the daemon does not take is commitFailed; the master then sends UndoSet
        failing = Recorder(fail_commit=True)
        assert reply(await agent._set_phase(set_pdu(PduType.TEST_SET, [a], 7), failing)) == (0, 0)
        assert reply(await agent._set_phase(set_pdu(PduType.COMMIT_SET, transaction=7), failing))[0] == \
            Error.COMMIT_FAILED
        assert reply(await agent._set_phase(set_pdu(PduType.UNDO_SET, transaction=7), failing)) == (0, 0)
        assert [d[0] for d in failing.done] == ["commit", "undo"]

    asyncio.run(go())


def test_without_a_setter_every_set_is_not_writable() -> None:
    out = agentx.answer(set_pdu(PduType.TEST_SET, [VarBind((*INST, 7, 1), Integer(200))]), VIEW)
    assert reply(out) == (Error.NOT_WRITABLE, 1)


def test_track_file_values_are_read_as_keepalived_reads_them(tmp_path: Path) -> None:
    files = {"a": " 12 apples\n", "b": "-3", "c": "x7"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    conf = "".join(f'track_file {n} {{\n    file "{tmp_path / n}"\n}}\n' for n in (*files, "missing"))
    cfg = config(conf)
    assert mib.read_track_files(cfg) == {"a": 12, "b": -3, "c": 0, "missing": 0}
    view = mib.build(cfg, SNAP, IFACES, started=0.0, track_files=mib.read_track_files(cfg))
    assert view.get((*mib.VRRP, 13, 1, 4, 1)) == Integer(12)
    assert view.get((*mib.VRRP, 13, 1, 3, 4)) == OctetString(str(tmp_path / "missing"))


def test_route_and_rule_options_fill_their_columns() -> None:
    cfg = config("""
static_routes {
    10.50.0.0/24 nexthop via 10.0.0.1 dev eth0 weight 3 onlink nexthop via 10.0.0.2 dev eth1
    blackhole 10.51.0.0/24 table 200 protocol static no_track
}
static_rules {
    from 10.0.0.9/32 fwmark 0x10/0xff tos 8 table 100 priority 10
    to 10.9.0.0/16 goto 20 priority 11
}
""")
    view = mib.build(cfg, SNAP, IFACES, started=0.0)
    route, nh, rule = (*mib.VRRP, 7, 1), (*mib.VRRP, 11, 1), (*mib.VRRP, 8, 1)
    assert view.get((*route, 10, 0, 1)) == Integer(2)        # multipath
    assert view.get((*nh, 3, 0, 1, 2)) == OctetString(bytes([10, 0, 0, 2]))
    assert view.get((*nh, 6, 0, 1, 1)) == agentx.Gauge32(3)
    assert view.get((*nh, 7, 0, 1, 1)) == Integer(1)          # onlink
    assert view.get((*route, 10, 0, 2)) == Integer(3)        # blackhole
    assert view.get((*route, 13, 0, 2)) == agentx.Gauge32(200)
    assert view.get((*route, 18, 0, 2)) == Integer(5)        # static(4) + 1 (kept: the route is not tracked)
    assert view.get((*rule, 16, 0, 1)) == agentx.Gauge32(16)
    assert view.get((*rule, 17, 0, 1)) == agentx.Gauge32(255)
    assert view.get((*rule, 15, 0, 1)) == agentx.Gauge32(8)
    assert view.get((*rule, 2, 0, 2)) == OctetString("to")
