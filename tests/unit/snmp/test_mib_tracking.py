"""The track_process and BFD tables of KEEPALIVED-MIB from the config and the snapshot (pure; the walk in
tests/integration/test_snmp.py compares them with keepalived 2.2.7's)."""

from __future__ import annotations

from dataclasses import replace

from pykeepalived.snmp import mib
from pykeepalived.snmp.agentx import Gauge32, Integer, OctetString
from pykeepalived.status.snapshot import BfdTrackStatus, Snapshot, TrackProcessStatus
from tests.unit.snmp.test_traps import IFACES, config, snap

CONF = config("""
vrrp_track_process never_tracked {
    process nginx
    quorum_max 0
    delay 1.5
    weight 3 reverse
}
vrrp_track_process p2 {
    process /usr/sbin/sshd -D
    param_match partial
    fork_delay 0.25
}
bfd_instance b_vrrp {
    neighbor_ip 10.0.0.201
    weight -4
    vrrp
}
bfd_instance b_checker {
    neighbor_ip 10.0.0.202
    checker
}
bfd_instance b_both {
    neighbor_ip 10.0.0.203
    weight 7 reverse
}
vrrp_instance VI_FRONT {
    interface eth0
    virtual_router_id 51
    priority 100
    track_process {
        p2 weight 9
    }
    track_bfd {
        b_both weight 1
    }
}
""")
PROC, BFD = (*mib.VRRP, 21, 1), (*mib.VRRP, 18, 1)


def view(s: Snapshot) -> mib.MibView:
    return mib.build(CONF, s, IFACES, started=0.0, rfcv2=False, rfcv3=False)


def test_every_track_process_is_listed_with_keepalived_encodings() -> None:
    v = view(replace(snap("MASTER"), track_processes=(TrackProcessStatus("p2", running=2, quorum=True),)))
    col = {c: [v.get((*PROC, c, i)) for i in (1, 2)] for c in range(2, 15)}
    assert col[2] == [OctetString("never_tracked"), OctetString("p2")]
    assert col[4] == [OctetString(""), OctetString("-D")]
    assert col[5] == [Integer(0), Integer(3)]                   # none; partial
    assert col[7] == [Integer(1), Integer(2)]                   # weight reverse
    assert col[8] == [Gauge32(0), Gauge32(1)]                   # quorum_max 0 makes the quorum 0
    assert col[9] == [Integer(0), Integer(-1)]                  # unset: UINT_MAX as an INTEGER
    assert col[10] == [Gauge32(1_500_000), Gauge32(250_000)]    # microseconds; delay sets both
    assert col[11] == [Gauge32(1_500_000), Gauge32(0)]
    assert col[12] == [Integer(2), Integer(1)]                  # arguments imply the full command
    assert col[13] == [Integer(0), Integer(2)]                  # no status: nothing counted
    assert col[14] == [Integer(2), Integer(1)]


def test_tracked_tables_show_the_objects_own_weights() -> None:
    v = view(snap("MASTER"))
    assert v.get((*mib.VRRP, 20, 1, 3, 1, 1)) == Integer(0)    # p2's own weight, not the 9 it is tracked with
    assert v.get((*mib.VRRP, 17, 1, 2, 1, 1)) == OctetString("b_both")
    assert v.get((*mib.VRRP, 17, 1, 3, 1, 1)) == Integer(7)
    assert v.get((*mib.VRRP, 17, 1, 4, 1, 1)) == Integer(1)


def test_bfd_table_leaves_out_checker_only_instances_and_numbers_the_state() -> None:
    v = view(replace(snap("MASTER"), bfds=(BfdTrackStatus("b_vrrp", False), BfdTrackStatus("b_both", True))))
    assert [v.get((*BFD, 2, i)) for i in (1, 2)] == [OctetString("b_vrrp"), OctetString("b_both")]
    assert v.get((*BFD, 2, 3)).type.name == "NO_SUCH_INSTANCE"
    assert [v.get((*BFD, 3, i)) for i in (1, 2)] == [Integer(0), Integer(1)]
    assert [v.get((*BFD, 4, i)) for i in (1, 2)] == [Integer(-4), Integer(7)]


def test_snapshot_carries_process_and_bfd_state_through_json() -> None:
    s = replace(snap("MASTER"), track_processes=(TrackProcessStatus("p2", 1, True),),
                bfds=(BfdTrackStatus("b_vrrp", True),))
    assert Snapshot.from_json(s.to_json()) == s
