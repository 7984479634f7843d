"""SNMP against Debian's net-snmp: snmpd as AgentX master, snmpwalk, snmptrapd (all inside the lab's namespaces).

* a walk of KEEPALIVED-MIB, VRRP-MIB and VRRPV3-MIB answered by pykeepalived has the OIDs and values of
  keepalived 2.2.7's walk with the same config (tests/data/snmp/keepalived-2.2.7-walk.txt, README there),
  also with a config that fills every other table keepalived serves (keepalived-2.2.7-walk-rich.txt), with
  one that fills the track_process and BFD tables (keepalived-2.2.7-walk-track.txt) and with one whose routes
  set every option the route and nexthop tables show (keepalived-2.2.7-walk-routes.txt);
* a failover makes the new master send keepalived's traps, which snmptrapd receives;
* SETs (snmpset through snmpd): keepalived's refusals and accepted values one by one
  (tests/data/snmp/keepalived-2.2.7-set.txt), a weight that reaches the data plane, and a base priority
  above the master's that makes the backup take over.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.lab.demo import seed_conf
from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.snmp import (
    KEEPALIVED_MIB,
    SET_PROBE,
    TRACKED_PROCESS,
    VRRP_MIB,
    VRRPV3_MIB,
    NetSnmp,
    snmp_rich_conf,
    snmp_routes_conf,
    snmp_seed_conf,
    snmp_track_conf,
)
from pykeepalived.lab.topology import Lab, seed_topology
from pykeepalived.status.client import fetch, post
from pykeepalived.status.snapshot import Snapshot
from tests.conftest import data_path, require_binary, require_root

#: OIDs whose values depend on the run, not on the config (see tests/data/snmp/README.md)
MASKED = {
    ".1.3.6.1.4.1.9586.100.5.1.1.0": "version string",
    ".1.3.6.1.2.1.68.1.3.1.2.": "interface MAC (random per lab)",
    ".1.3.6.1.2.1.68.1.3.1.13.": "up-time",
    ".1.3.6.1.2.1.207.1.1.1.1.5.": "interface MAC (random per lab)",
    ".1.3.6.1.2.1.207.1.1.1.1.12.": "up-time",
    ".1.3.6.1.2.1.68.2.4.1.2.": "adverts received so far (run length)",
    ".1.3.6.1.2.1.207.1.2.5.1.3.": "adverts received so far (run length)",
    ".1.3.6.1.4.1.9586.100.5.2.13.1.3.": "the track_file's path (in the run's private directory)",
}
STATE = ".1.3.6.1.4.1.9586.100.5.2.3.1.4."
RS_UP = ".1.3.6.1.4.1.9586.100.5.3.3.1.21.1"


def masked(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        oid, _, value = line.partition(" = ")
        if any(oid == m or (m.endswith(".") and oid.startswith(m)) for m in MASKED):
            value = "<masked>"
        out.append(f"{oid} = {value.rstrip()}")
    return out


def daemon(lab: Lab, node: str, work: Path, conf: str, *extra: str) -> subprocess.Popen[Any]:
    path = work / f"{node}.conf"
    path.write_text(conf)
    log = open(work / f"{node}.log", "wb")  # noqa: SIM115 - closed with the lab's processes
    return lab.popen(node, [sys.executable, "-m", "pykeepalived", "-n", "-l", "-f", str(path),
                            "-p", str(work / f"{node}.pid"), "--dataplane", "nftables", *extra],
                     stdout=log, stderr=subprocess.STDOUT)


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def seed(tmp_path: Path) -> Iterator[tuple[Lab, Path]]:
    require_root()
    for tool in ("snmpd", "snmpwalk", "snmptrapd", "snmpset"):
        require_binary(tool)
    with seed_topology(sorry_server=False) as lab:
        for rs in ("rs1", "rs2"):
            lab.popen(rs, [sys.executable, "-m", "pykeepalived.lab.web", "serve", rs],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield lab, tmp_path


def test_walk_matches_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    lab, work = seed
    snmp = NetSnmp(lab, "lb1", work / "snmp").start()
    try:
        daemon(lab, "lb1", work, snmp_seed_conf(snmp.socket))

        def settled() -> list[str] | None:
            lines = snmp.walk(KEEPALIVED_MIB)
            states = [ln for ln in lines if ln.startswith(STATE)]
            up = [ln for ln in lines if ln.startswith(RS_UP + " ")]
            ok = len(states) == 2 and all(ln.endswith("INTEGER: 2") for ln in states) and up \
                and up[0].endswith("Gauge32: 2")
            return lines if ok else None

        lines = wait_for(settled, 40, "lb1 MASTER with both real servers up, seen over SNMP")
        lines += snmp.walk(VRRP_MIB) + snmp.walk(VRRPV3_MIB)
        reference = data_path("snmp", "keepalived-2.2.7-walk.txt").read_text().splitlines()
        assert masked(lines) == masked(reference)
        # the same answers one by one (GET), and in bulk (GETBULK through snmpbulkwalk)
        assert snmp.get(".1.3.6.1.4.1.9586.100.5.2.3.1.2.2") == [
            '.1.3.6.1.4.1.9586.100.5.2.3.1.2.2 = STRING: "VI_GATEWAY"']
        bulk = lab.run("lb1", ["snmpbulkwalk", "-v2c", "-c", "public", "-m", "", "-On", "-Oe",
                               "udp:127.0.0.1:1161", KEEPALIVED_MIB]).stdout.splitlines()
        assert len(bulk) == len([ln for ln in reference if ln.startswith("." + KEEPALIVED_MIB)])
    finally:
        snmp.stop()


def walk_until_equal(snmp: NetSnmp, reference_file: str, timeout: float = 40.0) -> tuple[list[str], list[str]]:
    """The masked reference walk and ours, walked again until they are equal or ``timeout`` has passed (the
    daemon's state settles: masters elected, checks and scripts run)."""
    reference = masked(data_path("snmp", reference_file).read_text().splitlines())
    deadline = time.monotonic() + timeout
    while True:
        got = masked(snmp.walk(KEEPALIVED_MIB) + snmp.walk(VRRP_MIB) + snmp.walk(VRRPV3_MIB))
        if got == reference or time.monotonic() >= deadline:
            return reference, got
        time.sleep(0.5)


def test_rich_walk_matches_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """keepalived-2.2.7-walk-rich.txt: vrrp_scripts and their results, tracked interfaces and scripts of an
    instance and of a sync group (with keepalived's weights in the effective priorities), static and virtual
    addresses, routes and rules, a virtual_server_group with an address, a range and a fwmark."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb1", work / "snmp").start(traps=False)
    try:
        daemon(lab, "lb1", work, snmp_rich_conf(snmp.socket))
        # settled: three masters, both real servers and the group's up, the scripts' verdicts in
        reference, got = walk_until_equal(snmp, "keepalived-2.2.7-walk-rich.txt")
        assert got == reference
    finally:
        snmp.stop()


def test_routes_walk_matches_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """keepalived-2.2.7-walk-routes.txt: vrrpRouteTable with every metric (locks, times in each unit and
    clamped, advmss shown only beside hoplimit), tos, realms, quickack 0 shown true, congctl, IPv6 expires and
    pref, each encapsulation (MPLS labels and the ILA locator read back as keepalived reads them), ``no_track``
    routes without a protocol column, and vrrpRouteNextHopTable with realms but no encapsulation columns."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb1", work / "snmp").start(traps=False)
    try:
        daemon(lab, "lb1", work, snmp_routes_conf(snmp.socket))
        reference, got = walk_until_equal(snmp, "keepalived-2.2.7-walk-routes.txt")
        assert got == reference, "\n".join(difflib.unified_diff(reference, got, lineterm=""))
    finally:
        snmp.stop()


def test_track_walk_matches_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """keepalived-2.2.7-walk-track.txt: four vrrp_track_processes (exact, param_match initial and partial,
    and one for a process that never runs) and bfd_instances without a peer (one for the checker only, absent
    from vrrpBfdTable), tracked by an instance and by the sync group, with keepalived's weights in the
    effective priorities.  keepalived in a network namespace counts no process (README there), so the walk
    is first compared with no tracked process running; then the ``sleep`` the capture started is started
    here: the exact and initial matches count it and gain their quorum, the partial one (``3583 1``, whole
    words) does not, as keepalived 2.2.7's check_params decides."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb1", work / "snmp").start(traps=False)
    try:
        daemon(lab, "lb1", work, snmp_track_conf(snmp.socket))
        reference, got = walk_until_equal(snmp, "keepalived-2.2.7-walk-track.txt")
        assert got == reference, "\n".join(difflib.unified_diff(reference, got, lineterm=""))
        lab.popen("lb1", list(TRACKED_PROCESS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = f"{KEEPALIVED_MIB}.2.21.1"
        want = [f".{proc}.13.1 = INTEGER: 1", f".{proc}.13.2 = INTEGER: 1",    # vrrpProcessCurProc
                f".{proc}.13.3 = INTEGER: 0",
                f".{proc}.14.1 = INTEGER: 1", f".{proc}.14.2 = INTEGER: 1",    # vrrpProcessResult: true
                f".{proc}.14.3 = INTEGER: 2"]
        wait_for(lambda: snmp.get(*(w.split(" = ")[0] for w in want)) == want, 10,
                 "proc_up and proc_init to count the sleep and gain their quorum, proc_part not")
    finally:
        snmp.stop()


def test_backup_walk_matches_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """lb2 BACKUP (lb1 MASTER without SNMP): keepalived-2.2.7-walk-backup.txt, same masks."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=False)
    try:
        daemon(lab, "lb1", work, seed_conf("lb1"))
        daemon(lab, "lb2", work, snmp_seed_conf(snmp.socket, "lb2"))

        def settled() -> list[str] | None:
            lines = snmp.walk(KEEPALIVED_MIB)
            states = [ln for ln in lines if ln.startswith(STATE)]
            up = [ln for ln in lines if ln.startswith(RS_UP + " ")]
            ok = len(states) == 2 and all(ln.endswith("INTEGER: 1") for ln in states) and up \
                and up[0].endswith("Gauge32: 2")
            return lines if ok else None

        lines = wait_for(settled, 40, "lb2 BACKUP with both real servers up, seen over SNMP")
        # lb1's adverts: the RFC tables show the master's address (a fixed pause lost that race under load)
        wait_for(lambda: any(ln.startswith(".1.3.6.1.2.1.68.1.3.1.7.") and not ln.endswith(" 0.0.0.0")
                             for ln in snmp.walk(VRRP_MIB)), 15, "lb2 to learn lb1's address from its adverts")
        lines = snmp.walk(KEEPALIVED_MIB) + snmp.walk(VRRP_MIB) + snmp.walk(VRRPV3_MIB)
        reference = data_path("snmp", "keepalived-2.2.7-walk-backup.txt").read_text().splitlines()
        assert masked(lines) == masked(reference)
    finally:
        snmp.stop()


def lb2_backup_with_traps(lab: Lab, work: Path, snmp: NetSnmp) -> subprocess.Popen[Any]:
    """lb1 (MASTER, no SNMP) and lb2 (SNMP with traps) running, lb2 BACKUP and its first traps received;
    returns lb1's process."""
    lb1 = daemon(lab, "lb1", work, seed_conf("lb1"))
    daemon(lab, "lb2", work, snmp_seed_conf(snmp.socket, "lb2"))

    def backup() -> bool:
        states = [ln for ln in snmp.walk(KEEPALIVED_MIB + ".2.3.1.4") if ln.startswith(STATE)]
        return len(states) == 2 and all(ln.endswith("INTEGER: 1") for ln in states)

    wait_for(backup, 30, "lb2 BACKUP")
    wait_for(lambda: "9586.100.5.2.10.0.2" in snmp.traps(), 10, "lb2's first traps (BACKUP)")
    return lb1


def test_failover_sends_keepalived_traps_to_snmptrapd(seed: tuple[Lab, Path]) -> None:
    """lb2 (BACKUP, SNMP and traps on) takes over when lb1 stops: snmptrapd in lb2 gets its traps."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=True)
    try:
        lb1 = lb2_backup_with_traps(lab, work, snmp)
        lab.stop(lb1, 10)
        text = wait_for(lambda: (t := snmp.traps()) and re.search(
            r'9586\.100\.5\.2\.3\.1\.4 = INTEGER: 2', t) and "68.0.1" in t and "207.0.1" in t and t, 15,
            "the new master's traps")
        # vrrpInstanceStateChange for each instance (state master(2), initial state backup(1)), the sync
        # group's vrrpSyncGroupStateChange, RFC 2787 vrrpTrapNewMaster and RFC 6527 vrrpv3NotifyNewMaster
        for name in ("VI_FRONT", "VI_GATEWAY", "VG1"):
            assert f'"{name}"' in text
        assert re.search(r'\.1\.3\.6\.1\.6\.3\.1\.1\.4\.1\.0 = OID: \.1\.3\.6\.1\.4\.1\.9586\.100\.5\.2\.10\.0\.1',
                         text)
        assert re.search(r"\.1\.3\.6\.1\.2\.1\.68\.1\.3\.1\.7\.\d+\.51 = IpAddress: 10\.0\.0\.4", text)
        assert '.1.3.6.1.4.1.9586.100.5.1.2.0 = STRING: "lb2"' in text
    finally:
        snmp.stop()


#: the most a trap may lag the change it reports: keepalived sends it at the change; a snapshot poll
#: (POLL = 1 s) made it up to a second
TRAP_LATENCY = 0.3


def test_failover_trap_reaches_snmptrapd_at_once(seed: tuple[Lab, Path]) -> None:
    """lb2 takes over when lb1 stops: vrrpInstanceStateChange(master) reaches snmptrapd within TRAP_LATENCY of
    lb2's transition (its status' last_transition), not at the next poll of the status."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=True)
    try:
        lb1 = lb2_backup_with_traps(lab, work, snmp)
        master = re.compile(r'\.1\.3\.6\.1\.4\.1\.9586\.100\.5\.2\.3\.1\.2 = STRING: "VI_FRONT"\t'
                            r'\.1\.3\.6\.1\.4\.1\.9586\.100\.5\.2\.3\.1\.4 = INTEGER: 2')
        assert not master.search(snmp.traps())
        lb1.terminate()  # priority 0: lb2 takes over after its skew time
        deadline = time.monotonic() + 15
        size = -1
        while time.monotonic() < deadline:  # the trap log watched every 2 ms: when the trap is seen
            now_size = snmp.trap_log.stat().st_size if snmp.trap_log.exists() else 0
            if now_size != size:
                size = now_size
                seen_at = time.time()
                if master.search(snmp.traps()):
                    break
            time.sleep(0.002)
        else:
            raise AssertionError("no vrrpInstanceStateChange(master) for VI_FRONT: " + snmp.traps()[-2000:])
        status, body = fetch(str(work / "lb2.ctl"), "/status")
        assert status == 200
        front = next(v for v in Snapshot.from_json(body).vrrp if v.name == "VI_FRONT")
        assert front.state == "MASTER" and front.last_transition is not None
        latency = seen_at - front.last_transition
        print(f"failover -> snmptrapd: {latency * 1000:.1f} ms")
        assert 0 <= latency <= TRAP_LATENCY, latency
        lab.stop(lb1, 10)
    finally:
        snmp.stop()


def dataplane_weights(lab: Lab, node: str) -> dict[str, int]:
    """server -> weight in ``node``'s nftables data plane, as it reads its table back."""
    from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane

    def read() -> dict[str, int]:
        return {f"{d.key.addr}:{d.key.port}": d.weight for svc in NftablesDataPlane().observe().services
                for d in svc.destinations}

    return call_in_netns(lab.ns(node), read)  # type: ignore[no-any-return]


def backup_with_snmp(lab: Lab, work: Path, snmp: NetSnmp) -> None:
    """lb1 MASTER without SNMP, lb2 BACKUP answering SNMP, both real servers up."""
    daemon(lab, "lb1", work, seed_conf("lb1"))
    daemon(lab, "lb2", work, snmp_seed_conf(snmp.socket, "lb2"))

    def settled() -> bool:
        lines = snmp.walk(KEEPALIVED_MIB)
        states = [ln for ln in lines if ln.startswith(STATE)]
        up = [ln for ln in lines if ln.startswith(RS_UP + " ")]
        return len(states) == 2 and all(ln.endswith("INTEGER: 1") for ln in states) and bool(up) \
            and up[0].endswith("Gauge32: 2")

    wait_for(settled, 40, "lb2 BACKUP with both real servers up, seen over SNMP")


def test_snmp_set_answers_as_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """SET_PROBE on lb2 (BACKUP): every refusal with keepalived's error, every accepted value with its low
    byte taken as keepalived takes it, and 6 s later the same instance and weight columns as
    keepalived-2.2.7-set.txt (lb2 stays BACKUP: VI_GATEWAY, at 44 and without preemption, keeps seeing
    lb1's higher adverts, so the sync group cannot go MASTER).  The weights reach the data plane."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=False)
    try:
        backup_with_snmp(lab, work, snmp)
        lines = []
        for what, assignments in SET_PROBE:
            rc, text = snmp.set(*assignments)
            lines += [f"# {what}: snmpset {' '.join(assignments)}", f"rc={rc}", *text.splitlines()]
        time.sleep(6)
        lines.append("# after the SETs, 6 s later")
        lines += snmp.walk(KEEPALIVED_MIB + ".2.3.1") + snmp.walk(KEEPALIVED_MIB + ".3.4.1.7")
        reference = data_path("snmp", "keepalived-2.2.7-set.txt").read_text().splitlines()
        want = masked(reference[:reference.index("# ipvsadm -Ln")])
        assert masked(lines) == want, "\n".join(difflib.unified_diff(want, masked(lines), lineterm=""))
        # keepalived's ipvsadm -Ln there: 192.168.0.12:80 weight 7, 192.168.0.13:80 weight 255
        assert dataplane_weights(lab, "lb2") == {"192.168.0.12:80": 7, "192.168.0.13:80": 255}
    finally:
        snmp.stop()


def test_snmp_set_base_priority_above_the_master_takes_over(seed: tuple[Lab, Path]) -> None:
    """Both of lb2's instances (sync group VG1) SET to priority 200, above lb1's 150: lb2 preempts and
    becomes MASTER, lb1 goes BACKUP; the effective priority follows at once."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=False)
    try:
        backup_with_snmp(lab, work, snmp)
        base = f"{KEEPALIVED_MIB}.2.3.1"
        rc, text = snmp.set(f"{base}.7.1", "i", "200", f"{base}.7.2", "i", "200")
        assert rc == 0, text
        assert snmp.get(f".{base}.8.1", f".{base}.8.2") == [
            f".{base}.8.1 = INTEGER: 200", f".{base}.8.2 = INTEGER: 200"]
        wait_for(lambda: all(ln.endswith("INTEGER: 2") for ln in snmp.walk(f"{base}.4")), 15,
                 "lb2 MASTER after its priority went above lb1's")
        lb1 = (work / "lb1.log").read_text(errors="replace")
        assert re.search(r"\(VI_FRONT\) Entering BACKUP STATE", lb1) or "Master received advert" in lb1, lb1[-2000:]
    finally:
        snmp.stop()


def test_snmp_sets_last_until_a_reload_as_keepalived_2_2_7(seed: tuple[Lab, Path]) -> None:
    """keepalived 2.2.7's reload builds its instances and real servers from the configuration again: a base
    priority, a preemption or a real server's weight SET over SNMP is gone after it (restore_vrrp_state keeps
    neither; set_effective_weights puts the configured weight back); a ``ctl weight`` override is not."""
    lab, work = seed
    snmp = NetSnmp(lab, "lb2", work / "snmp").start(traps=False)
    ctl = str(work / "lb2.ctl")
    try:
        backup_with_snmp(lab, work, snmp)
        inst, rs = f"{KEEPALIVED_MIB}.2.3.1", f"{KEEPALIVED_MIB}.3.4.1"
        rc, text = snmp.set(f"{inst}.7.2", "i", "90", f"{inst}.13.2", "i", "2", f"{rs}.7.1.2", "i", "7")
        assert rc == 0, text
        status, body = post(ctl, "/api/v1/command", json.dumps({
            "command": "weight", "service": "10.0.0.5:80", "server": "192.168.0.13:80", "weight": 3}).encode())
        assert status == 200, body
        assert dataplane_weights(lab, "lb2") == {"192.168.0.12:80": 7, "192.168.0.13:80": 3}
        prio_preempt = (f".{inst}.7.2", f".{inst}.13.2")
        assert snmp.get(*prio_preempt) == [f".{inst}.7.2 = INTEGER: 90", f".{inst}.13.2 = INTEGER: 2"]
        status, body = post(ctl, "/api/v1/command", b'{"command": "reload"}')
        assert status == 200, body
        wait_for(lambda: dataplane_weights(lab, "lb2") == {"192.168.0.12:80": 20, "192.168.0.13:80": 3}, 15,
                 "the configured weight of 192.168.0.12 again, the ctl weight of 192.168.0.13 kept")
        wait_for(lambda: snmp.get(*prio_preempt) == [f".{inst}.7.2 = INTEGER: 100", f".{inst}.13.2 = INTEGER: 1"],
                 10, "VI_GATEWAY's configured priority and preemption again")
        assert "weights set until reload (SNMP SET) dropped" in (work / "lb2.log").read_text(errors="replace")
    finally:
        snmp.stop()
