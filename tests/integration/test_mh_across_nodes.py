"""Consistent choice across nodes (issue 18): two independent nftables data planes, programmed through different
histories, send each of 10,000 flows to the same real server.

Node A programs four real servers (weights 1..4) at once; node B starts with rs2 missing and the others in
another order, then gets rs2 (as when rs2 failed its first check on B only), its configuration listing the real
servers in reverse order.  The mh table is built from the destinations in address order, so both hold the same.
Each node's client (same address on both sides) sends one UDP datagram from each of 10,000 source ports to the
VIP (``mh-port``: the source port is hashed too); the real server each flow went to is read from the node's
conntrack table (the reply tuple's source).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest

from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff
from tests.conftest import require_root

pytestmark = pytest.mark.root

VIP = ServiceKey.inet("udp", "10.6.0.5", 53)
RS = [DestKey.of(f"192.168.5.{11 + i}", 53) for i in range(1, 5)]
FLOWS = 10_000
SEND = f"""
import socket
for port in range(20000, 20000 + {FLOWS}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.5.0.100", port))
    s.sendto(b"x", ("10.6.0.5", 53))
    s.close()
"""


WEIGHT = {d: i + 1 for i, d in enumerate(RS)}


def service(dests: list[DestKey]) -> Service:
    return Service(VIP, "mh", frozenset({"mh-port"}),
                   destinations=tuple(Destination(d, WEIGHT[d]) for d in dests))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        for side in ("a", "b"):
            lab.add_bridge(f"f{side}")
            lab.add_bridge(f"k{side}")
            lab.add_node(f"c{side}")
            lab.connect(f"c{side}", "eth0", f"f{side}", ["10.5.0.100/24"])
            lab.add_route(f"c{side}", "default", via="10.5.0.1")
            lab.add_node(f"lb{side}", forwarding=True)
            lab.connect(f"lb{side}", "eth0", f"f{side}", ["10.5.0.1/24"])
            lab.connect(f"lb{side}", "eth1", f"k{side}", ["192.168.5.1/24"])
        yield lab
        for side in ("a", "b"):
            call_in_netns(lab.ns(f"lb{side}"), lambda: NftablesDataPlane().release())


def program(lab: Lab, node: str, *tables: Table) -> None:
    def work() -> None:
        dp = NftablesDataPlane()
        dp.open()
        for t in tables:
            dp.apply(diff(t, dp.observe()))
        dp.close()

    call_in_netns(lab.ns(node), work)


def flows(lab: Lab, side: str) -> dict[int, str]:
    lab.run(f"c{side}", [sys.executable, "-c", SEND], timeout=120)
    out = lab.run(f"lb{side}", ["conntrack", "-L", "-p", "udp"], timeout=60).stdout
    got = {}
    for line in out.splitlines():
        m = re.search(r"src=10\.5\.0\.100 dst=10\.6\.0\.5 sport=(\d+) dport=53 .*?src=(\S+) dst=", line)
        if m:
            got[int(m.group(1))] = m.group(2)
    return got


def test_two_nodes_with_different_histories_map_10000_flows_identically(lab: Lab) -> None:
    if subprocess.run(["which", "conntrack"], capture_output=True).returncode != 0:
        pytest.skip("conntrack not installed")
    program(lab, "lba", Table((service(RS),)))
    late = [RS[3], RS[2], RS[0]]
    program(lab, "lbb", Table((service(late),)), Table((service(RS[::-1]),)))
    a, b = flows(lab, "a"), flows(lab, "b")
    assert len(a) == len(b) == FLOWS
    differ = [p for p in a if a[p] != b[p]]
    share = Counter(a.values())
    print(f"{FLOWS} flows, {len(differ)} mapped differently; per real server {dict(share)}")
    assert not differ
    for d in RS:  # weights 1..4: shares 0.1 .. 0.4
        assert abs(share[str(d.addr)] / FLOWS - WEIGHT[d] / 10) < 0.03
