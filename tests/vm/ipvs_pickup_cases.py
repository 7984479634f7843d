"""Connection pickup across active load balancers (issue 18, item 4; run inside the ip_vs VM by
``test_ipvs_in_vm.py``): established TCP connections of a lost node go on through the others.

Namespaces inside the VM::

    client 10.1.0.100 --- router 10.1.0.1 | 10.2.0.1 --- LAN --- lb1 10.2.0.11  lb2 .12  lb3 .13  (VIP on lo)
                                                            \\-- rs1 10.2.0.21  rs2 .22          (VIP on lo)

The router reaches the VIP 10.9.9.9 by an ECMP route over the three load balancers, hashing on the L4
5-tuple (``net.ipv4.fib_multipath_hash_policy=1``), so the client's connections are spread over them.
Each load balancer holds the same IPVS service (pykeepalived's IPVS data plane, the destinations added in
the same order), forwarding by DR to the real servers, which hold the VIP on lo (arp_ignore=1,
arp_announce=2) and answer the client directly through the router.  Each real server echoes every line
of a connection with its own name.

The client opens ``CONNS`` connections (each from a port of its own) and sends two lines on each; then the
node carrying most of them is lost: its nexthop leaves the router's route, its IPVS table is flushed
(``ipvsadm -C``), its sync threads stop and its LAN link goes down.  The client sends one more line on
every connection.  Counted per case (printed, and asserted):

1. ``mh`` (mh-port) with ``net.ipv4.vs.sloppy_tcp=1`` on the nodes, no sync: the survivors schedule the
   lost node's connections from their first mid-stream packet to the same real server (same mh table on
   every node) -- every connection goes on, on the same real server;
2. ``rr`` without sloppy_tcp, the kernel's sync daemon on every node as master and backup (what
   keepalived's ``lvs_sync_daemon IF`` without a VRRP instance runs): the survivors held the lost node's
   connections (origin ``SYNC`` in ``/proc/net/ip_vs_conn_sync``) before the loss -- every connection goes on;
3. control, ``rr`` with neither: the survivors know none of the lost node's connections and reset them.

Everything happens in the lab's namespaces, removed at the end; processes are stopped by PID.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab
from pykeepalived.lvs.dataplane import ipvs
from pykeepalived.lvs.dataplane.ipvs import IpvsDataPlane, SyncDaemonConfig
from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff

VIP = "10.9.9.9"
CLIENT = "10.1.0.100"
LBS = {"lb1": "10.2.0.11", "lb2": "10.2.0.12", "lb3": "10.2.0.13"}
RSS = {"rs1": "10.2.0.21", "rs2": "10.2.0.22"}
#: connections per case (small: every one is a Python socket under TCG)
CONNS = 30
SYNC = SyncDaemonConfig("eth0", syncid=7)
DR_SYSCTLS = {"net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2,
              "net.ipv4.conf.eth0.arp_ignore": 1, "net.ipv4.conf.eth0.arp_announce": 2}

ECHO = """
import socket, sys, threading
name = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 80)); srv.listen(128)
print("ready", flush=True)
def serve(c):
    with c:
        f = c.makefile("rb")
        for line in f:
            c.sendall(name.encode() + b" " + line)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

#: opens the connections, then on each line of stdin sends that word on every connection and prints
#: {port: "<real server>" | "reset" | "timeout" | "eof" | "error N"} as one JSON line
CLIENT_PROG = """
import json, socket, sys
vip, base, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = {}
for port in range(base, base + n):
    s = socket.socket(); s.bind((sys.argv[4], port)); s.settimeout(10); s.connect((vip, 80)); conns[port] = s
print("connected", flush=True)
for word in sys.stdin:
    out = {}
    for port, s in conns.items():
        if s is None:
            out[port] = "closed"
            continue
        try:
            s.settimeout(3)
            s.sendall(word.encode())
            data = s.recv(200)
            out[port] = data.split()[0].decode() if data else "eof"
        except ConnectionResetError:
            out[port] = "reset"
        except TimeoutError:
            out[port] = "timeout"
        except OSError as e:
            out[port] = f"error {e.errno}"
        if out[port] not in ("rs1", "rs2"):
            s.close()
            conns[port] = None
    print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    assert ipvs.available(), "these cases need a kernel with ip_vs (run them through test_ipvs_in_vm.py)"
    with Lab() as lab:
        lab.add_bridge("front")
        lab.add_bridge("lan")
        lab.add_node("client")
        lab.connect("client", "eth0", "front", [f"{CLIENT}/24"])
        lab.add_route("client", "default", via="10.1.0.1")
        lab.add_node("router", forwarding=True, sysctls={"net.ipv4.fib_multipath_hash_policy": 1})
        lab.connect("router", "eth0", "front", ["10.1.0.1/24"])
        lab.connect("router", "eth1", "lan", ["10.2.0.1/24"])
        for name, addr in (LBS | RSS).items():
            lab.add_node(name, forwarding=name in LBS)
            lab.connect(name, "eth0", "lan", [f"{addr}/24"])
            lab.sysctl(name, DR_SYSCTLS)
            lab.add_address(name, "lo", f"{VIP}/32")
            lab.add_route(name, "default", via="10.2.0.1")
        for name in RSS:
            proc = lab.popen(name, [sys.executable, "-c", ECHO, name], stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lab


def route_over(lab: Lab, nodes: list[str]) -> None:
    hops = [w for n in nodes for w in ("nexthop", "via", LBS[n])]
    lab.run("router", ["ip", "route", "replace", f"{VIP}/32", *hops])


def program(lab: Lab, node: str, table: Table) -> None:
    def work() -> None:
        with IpvsDataPlane() as dp:
            dp.apply(diff(table, dp.observe()))

    call_in_netns(lab.ns(node), work)


def service(scheduler: str) -> Table:
    flags = frozenset({"mh-port"}) if scheduler == "mh" else frozenset()
    dests = tuple(Destination(DestKey.of(a, 80), 1, Forward.DR) for a in RSS.values())
    return Table((Service(ServiceKey.inet("tcp", VIP, 80), scheduler, flags, destinations=dests),))


def sync_threads(lab: Lab, node: str, on: bool) -> None:
    """Master and backup threads together, as the checker process runs them for ``lvs_sync_daemon eth0 id 7``
    (the same function; the last case here runs the daemon itself), or none."""
    call_in_netns(lab.ns(node), ipvs.run_both_sync_daemons, SYNC if on else None)


def restore(lab: Lab) -> None:
    """Every node back on the LAN (a node lost in an earlier case lost its default route with its link)."""
    route_over(lab, list(LBS))
    for n in LBS:
        lab.run(n, ["ip", "link", "set", "eth0", "up"])
        lab.run(n, ["ip", "route", "replace", "default", "via", "10.2.0.1"])


def conn_origins(lab: Lab, node: str, ports: range) -> dict[int, str]:
    """The node's IPVS entries for the client's ``ports``: port -> ``LOCAL`` or ``SYNC``."""
    text = lab.run(node, ["cat", "/proc/net/ip_vs_conn_sync"]).stdout
    client = f"{int(ipaddress.IPv4Address(CLIENT)):08X}"
    out = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 9 and f[0] == "TCP" and f[1] == client and int(f[2], 16) in ports:
            out[int(f[2], 16)] = f[8].upper()
    return out


@dataclass
class Outcome:
    lost: str
    #: port -> the node that carried it before the loss
    carried_by: dict[int, str]
    #: port -> the real server before, and what the line after the loss got
    before: dict[int, str]
    after: dict[int, str]
    #: ports of the lost node's connections the survivors held as synced entries before the loss
    synced: set[int]

    def on_lost(self) -> list[int]:
        return [p for p, n in self.carried_by.items() if n == self.lost]

    def went_on(self, ports: list[int]) -> list[int]:
        return [p for p in ports if self.after[p] == self.before[p]]

    def summary(self, case: str) -> str:
        lost = self.on_lost()
        others = [p for p in self.carried_by if p not in lost]
        return (f"{case}: {len(self.carried_by)} connections {dict(sorted(Counter(self.carried_by.values()).items()))};"
                f" lost {self.lost}: {len(lost)} connections, {len(self.synced)} synced to the survivors before,"
                f" {len(self.went_on(lost))} went on on the same real server,"
                f" {sum(self.after[p] == 'reset' for p in lost)} reset;"
                f" survivors' {len(others)}: {len(self.went_on(others))} went on")


def run_case(lab: Lab, base: int, scheduler: str, sloppy: bool, sync: bool) -> Outcome:
    ports = range(base, base + CONNS)
    restore(lab)  # (the RSTs of case 3 need a survivor's default route)
    for n in LBS:
        lab.sysctl(n, {"net.ipv4.vs.sloppy_tcp": int(sloppy)})
        program(lab, n, service(scheduler))
        sync_threads(lab, n, sync)
    client = lab.popen("client", [sys.executable, "-c", CLIENT_PROG, VIP, str(base), str(CONNS), CLIENT],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    try:
        assert client.stdout.readline().strip() == "connected"

        def send(word: str) -> dict[int, str]:
            client.stdin.write(word + "\n")  # type: ignore[union-attr]
            client.stdin.flush()  # type: ignore[union-attr]
            return {int(k): v for k, v in json.loads(client.stdout.readline()).items()}  # type: ignore[union-attr]

        send("hello")
        before = send("again")  # >= 3 packets in: the master sync thread sends each connection
        assert set(before.values()) <= set(RSS), before
        if sync:
            time.sleep(3)  # the master thread sends its buffer at least every 2 s
        origins = {n: conn_origins(lab, n, ports) for n in LBS}
        carried_by = {p: n for n, o in origins.items() for p, origin in o.items() if origin == "LOCAL"}
        assert sorted(carried_by) == list(ports), origins
        lost = max(LBS, key=lambda n: sum(v == n for v in carried_by.values()))
        synced = {p for n in LBS if n != lost for p, o in origins[n].items()
                  if o == "SYNC" and carried_by[p] == lost}
        # the loss: out of the route, table flushed, sync threads stopped, link down
        route_over(lab, [n for n in LBS if n != lost])
        lab.run(lost, ["ipvsadm", "-C"])
        sync_threads(lab, lost, False)
        lab.run(lost, ["ip", "link", "set", "eth0", "down"])
        after = send("after")
        return Outcome(lost, carried_by, before, after, synced)
    finally:
        lab.stop(client)
        for n in LBS:
            sync_threads(lab, n, False)


def test_mh_with_sloppy_tcp_picks_up_the_lost_nodes_connections_without_sync(lab: Lab) -> None:
    out = run_case(lab, 20000, "mh", sloppy=True, sync=False)
    print(out.summary("mh + sloppy_tcp"))
    lost = out.on_lost()
    assert lost and out.synced == set()
    assert out.went_on(list(out.carried_by)) == list(out.carried_by), out.after


def test_rr_with_the_sync_daemon_picks_up_the_lost_nodes_connections(lab: Lab) -> None:
    out = run_case(lab, 20100, "rr", sloppy=False, sync=True)
    print(out.summary("rr + sync daemon"))
    lost = out.on_lost()
    assert lost and out.synced == set(lost), out.summary("rr + sync daemon")
    assert out.went_on(list(out.carried_by)) == list(out.carried_by), out.after


def test_rr_without_sync_or_sloppy_tcp_resets_the_lost_nodes_connections(lab: Lab) -> None:
    """The control: the same loss breaks every connection the lost node carried."""
    out = run_case(lab, 20200, "rr", sloppy=False, sync=False)
    print(out.summary("rr, no sync (control)"))
    lost = out.on_lost()
    assert lost and out.went_on(lost) == []
    assert {out.after[p] for p in lost} == {"reset"}, out.after


CHECKER_CONF = """global_defs {
  lvs_sync_daemon eth0 id 9
}
virtual_server 10.9.9.9 8080 {
  lvs_sched rr
  lvs_method DR
  protocol TCP
  real_server 10.2.0.21 8080 {
  }
}
"""


def test_the_checker_process_runs_both_sync_threads_for_lvs_sync_daemon_without_an_instance(
        lab: Lab, tmp_path: Path) -> None:
    """What cases 2 drove by hand, the daemon does: ``lvs_sync_daemon eth0 id 9`` (no VRRP instance) has the
    checker process start the master and the backup thread, and stop both when it stops, as keepalived's."""
    from pykeepalived.lab.measure import wait_for

    restore(lab)

    def daemons() -> str:
        return lab.run("lb1", ["ipvsadm", "-L", "--daemon"]).stdout

    conf = tmp_path / "keepalived.conf"
    conf.write_text(CHECKER_CONF)
    log = tmp_path / "daemon.log"
    argv = [sys.executable, "-m", "pykeepalived.cli", "-f", str(conf), "-n", "-l", "-C",
            "-p", str(tmp_path / "k.pid"), "--dataplane", "ipvs"]
    with open(log, "ab") as out:
        proc = lab.popen("lb1", argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=str(tmp_path))
    try:
        wait_for(lambda: "backup sync daemon (mcast=eth0, syncid=9" in daemons(), 90, "both sync threads", step=0.5)
        assert "master sync daemon (mcast=eth0, syncid=9" in daemons()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert daemons() == ""
        assert "Starting IPVS master and backup sync daemons on eth0 (syncid 9)" in log.read_text()
    except AssertionError as e:
        raise AssertionError(f"{e}\n{log.read_text(errors='replace')[-3000:]}") from e
    finally:
        lab.stop(proc)
