"""The SNMP error-trap scenario: bad VRRP adverts into a node running SNMP with traps on.

Node ``a`` of :func:`~pykeepalived.lab.topology.two_node_lan` runs snmpd + snmptrapd (:class:`NetSnmp`) and the
daemon under test with :func:`error_traps_conf`: a VRRPv2 instance with PASS authentication and a VRRPv3
instance.  Node ``b`` runs :func:`send_bad_adverts` (``python -m pykeepalived.lab.snmp_errors``): once a
second, a VRRPv2 advert for the first with the wrong password (vrrpTrapAuthFailure, authFailure(3)) and a
VRRPv3 advert for the second sent with TTL 64 instead of 255 (vrrpv3NotifyProtoError, ipTtlError(1)).

Used by tests/integration/test_snmp_error_traps.py and ``scripts/capture-keepalived-snmp-error-traps`` (the
same with keepalived 2.2.7, for the reference varbinds).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pykeepalived.lab.snmp import NetSnmp
from pykeepalived.lab.topology import Lab
from pykeepalived.vrrp import packet as pkt

PEER = "10.9.0.2"  # node b's eth0
V2_VRID, V3_VRID = 61, 62
PASSWORD, WRONG_PASSWORD = "secret", "wrong"
BAD_TTL = 64
AUTH_FAILURE_TRAP = ".1.3.6.1.2.1.68.0.2"  # RFC 2787 vrrpTrapAuthFailure
PROTO_ERROR_TRAP = ".1.3.6.1.2.1.207.0.2"  # RFC 6527 vrrpv3NotifyProtoError
#: what the reference shows: the error traps, and the new-master traps both instances send ~3 s in (no valid
#: advert comes), whose vrrpv3StatisticsNewMasterReason keepalived sends as an INTEGER
TRAPS = (("vrrpTrapAuthFailure", AUTH_FAILURE_TRAP), ("vrrpv3NotifyProtoError", PROTO_ERROR_TRAP),
         ("vrrpTrapNewMaster", ".1.3.6.1.2.1.68.0.1"), ("vrrpv3NotifyNewMaster", ".1.3.6.1.2.1.207.0.1"))
PROTO_ERR_REASON = "1.3.6.1.2.1.207.1.2.5.1.6"  # vrrpv3StatisticsProtoErrReason


def error_traps_conf(socket_path: Path, router_id: str = "a") -> str:
    """RFC 2787 and 6527 parts and traps on (keepalived's switches), one VRRPv2 and one VRRPv3 instance."""
    return f"""\
global_defs {{
    router_id {router_id}
    enable_snmp_rfc
    enable_traps
    snmp_socket unix:{socket_path}
}}
vrrp_instance V2 {{
    interface eth0
    virtual_router_id {V2_VRID}
    priority 100
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass {PASSWORD}
    }}
    virtual_ipaddress {{
        10.9.0.{V2_VRID}/24
    }}
}}
vrrp_instance V3 {{
    version 3
    interface eth0
    virtual_router_id {V3_VRID}
    priority 100
    advert_int 1
    virtual_ipaddress {{
        10.9.0.{V3_VRID}/24
    }}
}}
"""


def bad_adverts(src: str = PEER) -> list[bytes]:
    """The two bad packets (whole IPv4 packets, for an IP_HDRINCL socket)."""
    group = str(pkt.VRRP_GROUP4)
    wrong_pass = pkt.Advert.build(version=2, vrid=V2_VRID, priority=200, addresses=[f"10.9.0.{V2_VRID}"],
                                  auth_type=pkt.AUTH_PASS, auth_pass=WRONG_PASSWORD)
    v3 = pkt.Advert.build(version=3, vrid=V3_VRID, priority=200, addresses=[f"10.9.0.{V3_VRID}"])
    return [pkt.encode_ipv4(wrong_pass, src, group, 1), pkt.encode_ipv4(v3, src, group, 2, ttl=BAD_TTL)]


def send_bad_adverts(count: int, interval: float = 1.0, src: str = PEER) -> None:
    """``count`` rounds of :func:`bad_adverts`, ``interval`` apart, out of the interface holding ``src``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
        packets = bad_adverts(src)
        for i in range(count):
            for p in packets:
                s.sendto(p, (str(pkt.VRRP_GROUP4), 0))
            if i + 1 < count:
                time.sleep(interval)
    finally:
        s.close()



def received_traps(log: str, trap_oid: str) -> list[list[str]]:
    """The varbinds (``OID = TYPE: VALUE``; sysUpTime.0 and snmpTrapOID.0 left out) of each trap ``trap_oid``
    in snmptrapd's log (``-On``: a trap's varbinds on one line, tab-separated)."""
    out = []
    for line in log.splitlines():
        binds = [b.strip() for b in line.split("\t")]
        if f".1.3.6.1.6.3.1.1.4.1.0 = OID: {trap_oid}" in binds:
            out.append([b for b in binds if not b.startswith((".1.3.6.1.6.3.1.1.4.1.0 ", ".1.3.6.1.2.1.1.3.0 "))])
    return out


@contextlib.contextmanager
def error_trap_node(lab: Lab, work: Path, daemon_argv: Sequence[str]) -> Iterator[NetSnmp]:
    """snmpd + snmptrapd and the daemon (``daemon_argv``, its config at ``work/a.conf``, written here, its output
    in ``work/a.log``) in node ``a``; everything started here is stopped (by PID) on the way out."""
    snmp = NetSnmp(lab, "a", work / "snmp").start(traps=True)
    procs = []
    try:
        (work / "a.conf").write_text(error_traps_conf(snmp.socket))
        with open(work / "a.log", "wb") as log:
            procs.append(lab.popen("a", list(daemon_argv), stdout=log, stderr=subprocess.STDOUT))
        yield snmp
    finally:
        for proc in reversed(procs):
            lab.stop(proc, 10)
        snmp.stop()


def send_from_b(lab: Lab, count: int, interval: float = 1.0) -> subprocess.Popen[bytes]:
    """:func:`send_bad_adverts` in node ``b`` (``count`` rounds of both bad adverts, ``interval`` apart)."""
    return lab.popen("b", [sys.executable, "-m", "pykeepalived.lab.snmp_errors", "--count", str(count),
                           "--interval", str(interval)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_scenario(lab: Lab, work: Path, daemon_argv: Sequence[str], timeout: float = 20.0) -> list[str]:
    """:func:`error_trap_node` with the bad adverts from ``b``, one round a second; once every trap of
    :data:`TRAPS` came: the first of each error trap, every new-master trap (their varbinds, the interface index
    written ``IFINDEX``) and a walk of vrrpv3StatisticsProtoErrReason, as the lines of the reference file."""
    with error_trap_node(lab, work, daemon_argv) as snmp:
        sender = send_from_b(lab, int(timeout) + 1)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                text = snmp.traps()
                if all(received_traps(text, oid) for _, oid in TRAPS):
                    break
                time.sleep(0.2)
            text = snmp.traps()
            lines = []
            for name, oid in TRAPS:
                got = received_traps(text, oid)
                if oid in (AUTH_FAILURE_TRAP, PROTO_ERROR_TRAP):
                    got = got[:1]
                lines += [f"# {name} ({oid})", *(b for binds in got for b in binds)]
            lines += [f"# walk {PROTO_ERR_REASON} (vrrpv3StatisticsProtoErrReason)", *snmp.walk(PROTO_ERR_REASON)]
            ifindex = lab.run("a", ["cat", "/sys/class/net/eth0/ifindex"]).stdout.strip()
        finally:
            lab.stop(sender, 10)
    return [ln.replace(f".{ifindex}.{V2_VRID}", f".IFINDEX.{V2_VRID}")
            .replace(f".{ifindex}.{V3_VRID}", f".IFINDEX.{V3_VRID}") for ln in lines]


def main() -> None:
    ap = argparse.ArgumentParser(description="send bad VRRP adverts (run in node b of the lab)")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--src", default=PEER)
    a = ap.parse_args()
    send_bad_adverts(a.count, a.interval, a.src)


if __name__ == "__main__":
    main()
