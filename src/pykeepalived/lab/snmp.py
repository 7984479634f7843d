"""net-snmp in a lab node: snmpd as AgentX master on a private socket, snmptrapd, snmpwalk.

Both daemons run inside a lab namespace, listen on that namespace's loopback only and keep their
files (config, persistent state, logs, the AgentX socket) in a private directory; the lab stops
them by PID.  Community ``public`` reads, ``private`` writes (snmpset), both from loopback only.
Walks use numeric OIDs and no MIB files (``-m '' -On``), so nothing depends on MIBs being installed.
Used by the SNMP tests and ``scripts/capture-keepalived-snmp``.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykeepalived.lab.demo import seed_conf
from pykeepalived.lab.topology import Lab

#: the subtrees compared with keepalived: KEEPALIVED-MIB, VRRP-MIB (RFC 2787), VRRPV3-MIB (RFC 6527)
KEEPALIVED_MIB = "1.3.6.1.4.1.9586.100.5"
VRRP_MIB = "1.3.6.1.2.1.68"
VRRPV3_MIB = "1.3.6.1.2.1.207"
SNMP_PORT = 1161
TRAP_PORT = 1162

SNMPD_CONF = """\
# pykeepalived lab: snmpd as AgentX master on a private socket, on this namespace's loopback only
master agentx
agentXSocket unix:{socket}
agentXPerms 0600 0700
agentaddress udp:127.0.0.1:{port}
rocommunity public 127.0.0.1
rwcommunity private 127.0.0.1
trap2sink 127.0.0.1:{trap_port} public
"""

SNMPTRAPD_CONF = """\
disableAuthorization yes
"""


@dataclass
class NetSnmp:
    """snmpd (and optionally snmptrapd) in ``node`` of ``lab``, files under ``workdir``."""

    lab: Lab
    node: str
    workdir: Path
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.workdir / "agentx.sock"

    @property
    def trap_log(self) -> Path:
        return self.workdir / "traps.log"

    def start(self, traps: bool = True, timeout: float = 10.0) -> NetSnmp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "snmpd.conf"
        conf.write_text(SNMPD_CONF.format(socket=self.socket, port=SNMP_PORT, trap_port=TRAP_PORT))
        env_dir = self.workdir / "persist"
        env_dir.mkdir(exist_ok=True)
        if traps:
            tconf = self.workdir / "snmptrapd.conf"
            tconf.write_text(SNMPTRAPD_CONF)
            self.procs.append(self.lab.popen(self.node, [
                "snmptrapd", "-f", "-n", "-On", "-m", "", "-C", "-c", str(tconf), "-Lf", str(self.trap_log),
                "--persistentDir=" + str(env_dir), f"udp:127.0.0.1:{TRAP_PORT}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with open(self.workdir / "snmpd.log", "ab") as log:
            self.procs.append(self.lab.popen(self.node, [
                "snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(self.workdir / "snmpd.log"), "-m", "",
                "--persistentDir=" + str(env_dir), "-p", str(self.workdir / "snmpd.pid")],
                stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"snmpd did not create {self.socket}: {self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        path = self.workdir / "snmpd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def traps(self) -> str:
        return self.trap_log.read_text(errors="replace") if self.trap_log.exists() else ""

    def walk(self, oid: str) -> list[str]:
        """``snmpwalk -v2c`` of ``oid``: one line per variable, numeric OIDs, values as net-snmp prints them."""
        out = self.lab.run(self.node, ["snmpwalk", "-v2c", "-c", "public", "-m", "", "-On", "-Oe", "-t", "3",
                                       "-r", "1", f"udp:127.0.0.1:{SNMP_PORT}", oid], timeout=60)
        return join_continuations(out.stdout.splitlines())

    def get(self, *oids: str) -> list[str]:
        out = self.lab.run(self.node, ["snmpget", "-v2c", "-c", "public", "-m", "", "-On", "-Oe", "-t", "3",
                                       f"udp:127.0.0.1:{SNMP_PORT}", *oids], timeout=30)
        return join_continuations(out.stdout.splitlines())

    def set(self, *assignments: str) -> tuple[int, str]:
        """``snmpset -v2c -c private`` of ``OID TYPE VALUE`` triples (one request, no retry): (exit code,
        what it printed, stdout and stderr)."""
        out = self.lab.run(self.node, ["snmpset", "-v2c", "-c", "private", "-m", "", "-On", "-Oe", "-t", "5",
                                       "-r", "0", f"udp:127.0.0.1:{SNMP_PORT}", *assignments],
                           check=False, timeout=30)
        return out.returncode, (out.stdout + out.stderr).strip()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            self.lab.stop(proc)
        self.procs.clear()


def snmp_seed_conf(socket: Path, lb: str = "lb1") -> str:
    """The seed's config for ``lb`` with every SNMP keyword keepalived has, talking to ``socket``."""
    keywords = ["    enable_snmp_vrrp", "    enable_snmp_checker", "    enable_snmp_rfc", "    enable_traps",
                f"    snmp_socket unix:{socket}"]
    return seed_conf(lb).replace("    script_user root\n", "    script_user root\n" + "\n".join(keywords) + "\n", 1)


_VAR = re.compile(r"^\.\d+(\.\d+)* = ")


def join_continuations(lines: list[str]) -> list[str]:
    """net-snmp prints strings holding newlines over several lines: join them back to one per variable."""
    out: list[str] = []
    for line in lines:
        if _VAR.match(line) or not out:
            out.append(line)
        else:
            out[-1] += "\\n" + line
    return out


_RICH_SCRIPTS = """\
track_file tf1 {
    file "{track_file}"
    weight 3
    init_file 0
}

vrrp_script chk_up {
    script "/bin/true"
    interval 2
    weight 10
    rise 2
    fall 3
}

vrrp_script chk_down {
    script "/bin/false"
    interval 1
    weight -5
}

vrrp_script chk_rev {
    script "/bin/true up"
    interval 3
    weight 4 reverse
}

"""

_RICH_EXTRA = """\
static_ipaddress {
    10.0.0.40/24 dev eth0 label eth0:st
}

static_routes {
    10.40.0.0/24 via 10.0.0.100 dev eth0
}

static_rules {
    from 10.0.0.40 table 140 priority 140
}

vrrp_instance VI_EXTRA {
    state MASTER
    interface eth0
    virtual_router_id 53
    priority 120
    advert_int 1
    virtual_ipaddress {
        10.0.0.6/24 dev eth0
    }
    track_interface {
        eth0 weight -20
        eth1 weight 5
    }
    track_script {
        chk_up
        chk_down weight -7
    }
    track_file {
        tf1 weight 4
    }
    virtual_routes {
        10.20.0.0/24 via 192.168.0.12 dev eth1
        10.21.0.0/16 dev eth0 table 100 metric 5 scope link
        blackhole 10.22.0.0/24
        src 10.0.0.3 10.23.0.0/24 via 10.0.0.100 dev eth0
        10.24.0.0/24 nexthop via 10.0.0.100 dev eth0 weight 2 nexthop via 192.168.0.12 dev eth1
    }
    virtual_rules {
        from 10.0.0.6 table 100 priority 100
        to 10.30.0.0/24 table 100 priority 101
    }
}

virtual_server_group VSG1 {
    10.0.0.7 80
    10.0.0.8-10 80
    fwmark 7
}

virtual_server group VSG1 {
    delay_loop 3
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.0.12 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"""


def snmp_rich_conf(socket: Path, lb: str = "lb1") -> str:
    """:func:`snmp_seed_conf` plus every table of keepalived's MIBs the seed leaves empty.

    The sync group VG1 tracks an interface and a script; a third instance VI_EXTRA (VRID 53, VIP
    10.0.0.6) tracks interfaces and scripts with weights and has virtual routes and rules; there
    are static addresses, routes and rules, three vrrp_scripts (one failing, one with a reverse
    weight), a vrrp_track_file (beside ``socket``, created with 0) tracked by VI_EXTRA and VG1, a
    multipath route, and a virtual_server_group (an address, a range and a fwmark) with one real server.
    """
    text = snmp_seed_conf(socket, lb)
    # keepalived resolves a track_script when it reads it: the scripts come before the sync group
    scripts = _RICH_SCRIPTS.replace("{track_file}", str(socket.parent / "track.file"))
    text = text.replace("vrrp_sync_group VG1 {\n", scripts + "vrrp_sync_group VG1 {\n", 1)
    text = text.replace("        VI_GATEWAY\n    }\n", "        VI_GATEWAY\n    }\n"
                        "    track_interface {\n        eth0\n    }\n"
                        "    track_script {\n        chk_up\n        chk_rev\n    }\n"
                        "    track_file {\n        tf1\n    }\n", 1)
    return text + "\n" + _RICH_EXTRA


#: VI_ROUTES' virtual routes, one a line
_ROUTES = (
    "10.50.0.0/24 via 10.0.0.100 dev eth0 tos 0x10 mtu lock 1400 hoplimit 64 advmss 1360 rtt 300ms"
    " rttvar lock 1000 reordering lock 5 window 65535 cwnd lock 10 ssthresh 20 rto_min 250ms initcwnd 12"
    " initrwnd 14 congctl reno quickack 1 fastopen_no_cookie 1 features ecn realms 3/5",
    "10.51.0.0/24 dev eth0 advmss lock 1200 rtt 2 rttvar 1.5s rto_min lock 1 realms 7 quickack 0"
    " fastopen_no_cookie 0 congctl lock cubic",
    "10.52.0.0/24 dev eth0 hoplimit 32 realms 6/0 ssthresh lock 30",
    "10.53.0.0/24 via 10.0.0.100 dev eth0 encap mpls 100/200",
    "10.54.0.0/24 encap ip id 42 dst 10.0.0.100 src 10.0.0.3 tos AF11 ttl 9 flags 1 dev eth0",
    "2001:db8:50::/64 dev eth0 expires 3600 pref high mtu 1400",
    "2001:db8:51:0:2000::1/128 dev eth0 encap ila 2001:0:0:1 pref 2",
    "2001:db8:52::/64 encap ip6 id 9 dst 2001:db8::9 src 2001:db8::3 tc 0x10 hoplimit 7 dev eth0 pref low",
    "10.55.0.0/24 nexthop via 10.0.0.100 dev eth0 weight 3 realms 2/4 encap mpls 300"
    " nexthop via 192.168.0.12 dev eth1 realms 9 encap ip id 7 dst 192.168.0.13"
    " nexthop via 10.0.0.101 dev eth0 onlink",
    "10.56.0.0/24 dev eth0 no_track",
    "10.57.0.0/24 dev eth0 no_track protocol bird",
)

_ROUTES_EXTRA = """\
static_routes {
    10.58.0.0/24 via 10.0.0.100 dev eth0 window 1000 initcwnd 5 mtu 1300 features ecn
}

vrrp_instance VI_ROUTES {
    state MASTER
    interface eth0
    virtual_router_id 55
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.11/24 dev eth0
    }
    virtual_routes {
{routes}
    }
}
"""


def snmp_routes_conf(socket: Path, lb: str = "lb1") -> str:
    """:func:`snmp_seed_conf` plus routes with every option keepalived's vrrpRouteTable and
    vrrpRouteNextHopTable show: a third instance VI_ROUTES (VRID 55, VIP 10.0.0.11) whose virtual_routes set
    the metrics (with and without ``lock``, times in each unit, values clamped), tos, realms, quickack,
    fastopen_no_cookie, congctl, expires and pref (IPv6), each encapsulation (mpls, ip, ip6, ila), a multipath
    route whose nexthops have realms and encapsulations, and ``no_track`` routes with and without a protocol;
    and a static route with metrics.  Every value is one the kernel accepts (the ILA route needs the ``ila``
    module loaded first)."""
    routes = "\n".join(f"        {route}" for route in _ROUTES)
    return snmp_seed_conf(socket, lb) + "\n" + _ROUTES_EXTRA.replace("{routes}", routes)


#: the process the track walk's vrrp_track_processes look for (started by the capture script and the test)
TRACKED_PROCESS = ("sleep", "3583", "17")

_TRACK_DEFS = """\
vrrp_track_process proc_up {
    process sleep 3583 17
    weight 6
    quorum_max 3
    fork_delay 0.5
    terminate_delay 1.5
}

vrrp_track_process proc_init {
    process sleep 3583 1
    param_match initial
    weight 3 reverse
}

vrrp_track_process proc_part {
    process sleep 3583 1
    param_match partial
    weight 2
}

vrrp_track_process proc_down {
    process pk-no-such-proc
    weight -9
    delay 2
}

bfd_instance bfd_a {
    neighbor_ip 10.0.0.201
    weight -12
}

bfd_instance bfd_b {
    neighbor_ip 10.0.0.202
    weight 5 reverse
    vrrp
}

bfd_instance bfd_chk {
    neighbor_ip 10.0.0.203
    checker
}

"""

_TRACK_EXTRA = """\
vrrp_instance VI_TRACK {
    state MASTER
    interface eth0
    virtual_router_id 54
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.9/24 dev eth0
    }
    track_process {
        proc_up
        proc_init weight 2
        proc_part
        proc_down weight -1
    }
    track_bfd {
        bfd_a
        bfd_b weight 3
    }
}
"""


def snmp_track_conf(socket: Path, lb: str = "lb1") -> str:
    """:func:`snmp_seed_conf` plus the track_process and BFD tables keepalived serves.

    Four vrrp_track_processes (``proc_up`` finds :data:`TRACKED_PROCESS`, which the caller starts;
    ``proc_init`` and ``proc_part`` look for ``sleep 3583 1`` with param_match initial / partial;
    ``proc_down`` looks for a process that does not run) and three bfd_instances without a peer
    (``bfd_chk`` for the checker only); the sync group VG1 tracks ``proc_up``, ``proc_down`` and
    ``bfd_b``, a third instance VI_TRACK (VRID 54, VIP 10.0.0.9) every process and ``bfd_a``, ``bfd_b``.
    """
    text = snmp_seed_conf(socket, lb)
    text = text.replace("vrrp_sync_group VG1 {\n", _TRACK_DEFS + "vrrp_sync_group VG1 {\n", 1)
    text = text.replace("        VI_GATEWAY\n    }\n", "        VI_GATEWAY\n    }\n"
                        "    track_process {\n        proc_up weight 4\n        proc_down\n    }\n"
                        "    track_bfd {\n        bfd_b\n    }\n", 1)
    return text + "\n" + _TRACK_EXTRA


#: SETs tried by ``scripts/capture-keepalived-snmp --set-probe`` against lb2 (BACKUP, lb1 MASTER), in order:
#: (what it tries, assignments).  Refusals first, then the SETs keepalived accepts.
_I = "1.3.6.1.4.1.9586.100.5.2.3.1"
_RS = "1.3.6.1.4.1.9586.100.5.3.4.1"
SET_PROBE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("read-only vrrpInstanceName", (f"{_I}.2.1", "s", "foo")),
    ("vrrpInstanceBasePriority as a string", (f"{_I}.7.1", "s", "200")),
    ("vrrpInstanceBasePriority 0", (f"{_I}.7.1", "i", "0")),
    ("vrrpInstanceBasePriority 256 (low byte 0)", (f"{_I}.7.1", "i", "256")),
    ("vrrpInstanceBasePriority of instance 9 (none)", (f"{_I}.7.9", "i", "100")),
    ("vrrpInstancePreempt 3", (f"{_I}.13.1", "i", "3")),
    ("vrrpInstanceAccept of a VRRPv2 instance", (f"{_I}.27.1", "i", "1")),
    ("vrrpInstancePromoteSecondaries (RWRITE in the MIB)", (f"{_I}.28.1", "i", "1")),
    ("realServerWeight of the sorry server row", (f"{_RS}.7.1.1", "i", "5")),
    ("realServerWeight of real server 9 (none)", (f"{_RS}.7.1.9", "i", "5")),
    ("realServerWeight as a string", (f"{_RS}.7.1.2", "s", "5")),
    ("RFC 2787 vrrpOperPriority", ("1.3.6.1.2.1.68.1.3.1.5.2.51", "i", "200")),
    ("a good and a read-only variable in one request", (f"{_I}.7.2", "i", "120", f"{_I}.2.2", "s", "x")),
    ("vrrpInstanceBasePriority 300 (low byte 44)", (f"{_I}.7.2", "i", "300")),
    ("vrrpInstancePreempt 258 (low byte 2)", (f"{_I}.13.2", "i", "258")),
    ("realServerWeight 260 (low byte 4)", (f"{_RS}.7.1.3", "i", "260")),
    ("realServerWeight 7", (f"{_RS}.7.1.2", "i", "7")),
    ("realServerWeight -1", (f"{_RS}.7.1.3", "i", "-1")),
    ("vrrpInstanceBasePriority 200 (above lb1's 150)", (f"{_I}.7.1", "i", "200")),
)
