"""``status`` on the nftables data plane while wrk holds connections open through the VIP.

The seed topology (client, lb1, rs1 weight 20, rs2 weight 8); lb1's data plane is driven by a
:class:`~pykeepalived.daemon.checker.CheckerProcess` (without checkers: the table is given), whose
reconcile reads connection counts and counters and whose ``snapshot()`` is what ``pykeepalived
status`` prints: ActiveConn sums to wrk's 20 connections split by weight, ``--stats`` counts them
and their traffic (checked against wrk's own report), ``--rate`` shows the traffic per second, and
once wrk has finished InActConn holds them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config.loader import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab, seed_topology
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.status import ipvsadm
from pykeepalived.status.snapshot import Snapshot
from tests.conftest import require_root

HERE = Path(__file__).parent
VIP = ServiceKey.inet("tcp", "10.0.0.5", 80)
RS1 = DestKey.of("192.168.0.12", 80)
RS2 = DestKey.of("192.168.0.13", 80)
TABLE = Table((Service(VIP, "wrr", destinations=(Destination(RS1, 20), Destination(RS2, 8))),))
CONNECTIONS = 20


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_root()
    with seed_topology() as lab:
        lab.add_address("lb1", "eth0", "10.0.0.5/24")
        lab.add_address("lb1", "eth1", "192.168.0.1/24")
        for node in ("rs1", "rs2"):
            proc = lab.popen(node, [sys.executable, str(HERE / "webserver.py"), node],
                             stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lab
        call_in_netns(lab.ns("lb1"), lambda: NftablesDataPlane().release())


class Daemon:
    """The checker process's data-plane half, run in lb1's namespace (each call on a fresh thread)."""

    def __init__(self, lab: Lab) -> None:
        self.ns = lab.ns("lb1")
        config = load_config_text("global_defs {\n  router_id lb1\n}\n").config

        def make() -> CheckerProcess:
            dp = NftablesDataPlane()
            dp.open()
            return CheckerProcess(config, CheckerOptions(dataplane="nftables"), dataplane=dp)

        self.proc: CheckerProcess = call_in_netns(self.ns, make)

    def reconcile(self) -> Snapshot:
        def work() -> Snapshot:
            self.proc._reconcile_sync(TABLE)
            return self.proc.snapshot()

        snap: Snapshot = call_in_netns(self.ns, work)
        return Snapshot.from_json(snap.to_json())  # as `pykeepalived status` receives it


def per_dest(snap: Snapshot) -> dict[str, Any]:
    (vs,) = snap.virtual_services
    return {str(d.key): d for d in vs.destinations}


def wrk_bytes_read(out: str) -> float:
    m = re.search(r"(\d+) requests in [0-9.]+\w+, ([0-9.]+)([KMG]?B) read", out)
    assert m, out
    return float(m[2]) * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[m[3]]


def test_status_while_wrk_holds_connections_open(lab: Lab) -> None:
    daemon = Daemon(lab)
    idle = daemon.reconcile()
    assert {k: (d.active_conns, d.stats.conns) for k, d in per_dest(idle).items()} == {
        "192.168.0.12:80": (0, 0), "192.168.0.13:80": (0, 0)}

    wrk = lab.popen("client", ["wrk", "-t2", f"-c{CONNECTIONS}", "-d4s", "--timeout", "2s", "http://10.0.0.5/"],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)
        busy = daemon.reconcile()
        time.sleep(1.0)
        busy2 = daemon.reconcile()  # rates: the growth since `busy`, per second
        out, _ = wrk.communicate(timeout=15)
    finally:
        if wrk.poll() is None:
            lab.stop(wrk)
    assert wrk.returncode == 0, out

    # ActiveConn: wrk's 20 connections, split 20:8 by wrr (5:2 cycle -> 14 or 15 : 5 or 6)
    d = per_dest(busy)
    active = {k: x.active_conns for k, x in d.items()}
    assert sum(active.values()) == CONNECTIONS, active
    assert 13 <= active["192.168.0.12:80"] <= 16 and 4 <= active["192.168.0.13:80"] <= 7, active
    # the conntrack table of lb1 (lvs.conntrack_watch), sampled by the reconcile: wrk's connections are in it
    limit = int(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
    assert idle.conntrack is not None and busy.conntrack is not None
    assert idle.conntrack.limit == busy.conntrack.limit == limit
    assert busy.conntrack.entries >= CONNECTIONS, busy.conntrack
    # --stats: Conns are every connection scheduled: the 20, and wrk's start-up probe (a connect that
    # it closes at once, InActConn by now)
    assert {k: x.stats.conns for k, x in d.items()} == {k: x.active_conns + x.inactive_conns for k, x in d.items()}
    assert sum(x.stats.conns for x in d.values()) == CONNECTIONS + 1
    for x in d.values():
        assert x.stats.inpkts > 0 and x.stats.outpkts > 0 and x.stats.outbytes > 0
    # --rate: packets and bytes per second while wrk runs, no new connections
    r = per_dest(busy2)
    for x in r.values():
        assert x.rates.cps == 0 and x.rates.inpps > 0 and x.rates.outpps > 0 and x.rates.outbps > 0, x
    text = ipvsadm.render(busy2, ipvsadm.Mode.RATE)
    assert "TCP  10.0.0.5:80" in text and "-> 192.168.0.12:80" in text

    time.sleep(0.5)  # the FIN exchange of wrk's connections
    after = daemon.reconcile()
    d = per_dest(after)
    assert sum(x.active_conns for x in d.values()) == 0
    # closing / TIME_WAIT: InActConn holds every connection
    assert {k: x.inactive_conns for k, x in d.items()} == {k: x.stats.conns for k, x in d.items()}
    # the final counters against wrk's own report: every response crossed lb1 (IP bytes >= HTTP bytes)
    total_in = sum(x.stats.inpkts for x in d.values())
    total_out = sum(x.stats.outbytes for x in d.values())
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    assert total_in >= requests, (total_in, out)
    assert total_out >= 0.99 * wrk_bytes_read(out), (total_out, out)
    stats_text = ipvsadm.render(after, ipvsadm.Mode.STATS)
    conns_col = {line.split()[1]: int(line.split()[2]) for line in stats_text.splitlines() if "->" in line
                 and line.split()[1][0].isdigit()}
    assert conns_col == {k: x.stats.conns for k, x in d.items()}, stats_text
