"""N active load balancers behind ECMP, announced by BGP through FRR (issue 18): the lab topology and its parts.

::

    client 10.0.0.100-163 --cli-- router (FRR zebra+bgpd, AS 65000, ECMP with an L4 hash)
                                   | eth0 10.30.0.1
                                 --edge--
        lb1 10.30.0.11   lb2 10.30.0.12   lb3 10.30.0.13     (FRR zebra+bgpd, AS 65001; pykeepalived, nftables)
        eth1 192.168.0.2  192.168.0.3     192.168.0.4
                                 --back--
        rs1 192.168.0.12  rs2 .13  rs3 .14  rs4 .15       (HTTP on port 80: "rsN <peer address>")

Each load balancer runs pykeepalived (checker only: ``-C``, the nftables data plane) with ``lb_algo mh`` and a
``bgp_announce`` block; its bgpd has ``network 10.99.0.5/32`` and announces it while the tether route
(:mod:`pykeepalived.announce.tether`) exists.  Forwarding is full NAT: the data plane DNATs to the real server and
a masquerade rule of the lab's own (table ``pk_scaleout_snat``) rewrites the source to the node's back address, so
replies return through the node that holds the connection's conntrack state.  A real server answers with its name
and the address it saw, which is the node that carried the request: the per-node counter.

Every FRR daemon runs inside its node with its config, pid file, vty socket and zserv socket in a private
directory; every process is stopped by PID.  BGP timers: keepalive 1 s, hold 3 s, connect retry 1 s,
advertisement interval 0.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from . import netns as nsmod
from .running import Proc, RunningLab, _in_netns, _stop_procs
from .topology import Lab

VIP = "10.99.0.5"
ROUTER_EDGE = "10.30.0.1"
ROUTER_AS, LB_AS = 65000, 65001
CLIENT_BASE = ipaddress.ip_address("10.0.0.100")
#: BGP timers (seconds) on every session of the lab
KEEPALIVE, HOLD = 1, 3
FRR_DIRS = ("/usr/lib/frr", "/usr/libexec/frr")
SNAT_TABLE = "pk_scaleout_snat"
#: ``lab scaleout up`` / ``down`` without ``--prefix``
DEFAULT_PREFIX = "pkscale-"
#: prefixes of ``lab scaleout demo`` carry the demo's pid, so ``lab scaleout down`` can tell an interrupted one
DEMO_TAG = "pkscaledemo"
MAX_LBS = 9


def lb_edge(i: int) -> str:
    return f"10.30.0.{10 + i}"


def lb_back(i: int) -> str:
    return f"192.168.0.{1 + i}"


def rs_addr(i: int) -> str:
    return f"192.168.0.{11 + i}"


def client_sources(n: int) -> list[str]:
    return [str(CLIENT_BASE + k) for k in range(n)]


def find_frr(daemon: str) -> str | None:
    for d in FRR_DIRS:
        p = os.path.join(d, daemon)
        if os.access(p, os.X_OK):
            return p
    return None


def build_topology(lab: Lab, lbs: int = 3, real_servers: int = 4, sources: int = 64) -> None:
    lab.add_bridge("cli")
    lab.add_bridge("edge")
    lab.add_bridge("back")
    lab.add_node("router", forwarding=True, sysctls={"net.ipv4.fib_multipath_hash_policy": 1})
    lab.connect("router", "eth0", "edge", [f"{ROUTER_EDGE}/24"])
    lab.connect("router", "eth1", "cli", ["10.0.0.1/24"])
    lab.add_node("client")
    lab.connect("client", "eth0", "cli", [f"{a}/24" for a in client_sources(sources)])
    lab.add_route("client", "default", via="10.0.0.1")
    for i in range(1, lbs + 1):
        name = f"lb{i}"
        lab.add_node(name, forwarding=True)
        lab.connect(name, "eth0", "edge", [f"{lb_edge(i)}/24"])
        lab.connect(name, "eth1", "back", [f"{lb_back(i)}/24"])
        lab.add_route(name, "default", via=ROUTER_EDGE)
        snat = (f"table ip {SNAT_TABLE} {{\n chain post {{ type nat hook postrouting priority srcnat; "
                f"oifname \"eth1\" ct status dnat masquerade; }}\n}}\n")
        subprocess.run(["ip", "netns", "exec", lab.ns(name), "nft", "-f", "-"], input=snat, text=True, check=True)
    for i in range(1, real_servers + 1):
        lab.add_node(f"rs{i}")
        lab.connect(f"rs{i}", "eth0", "back", [f"{rs_addr(i)}/24"])


def router_bgpd_conf(lbs: int) -> str:
    lines = ["hostname router", "log stdout", f"router bgp {ROUTER_AS}", f" bgp router-id {ROUTER_EDGE}",
             " no bgp ebgp-requires-policy", " no bgp default ipv4-unicast", f" timers bgp {KEEPALIVE} {HOLD}"]
    for i in range(1, lbs + 1):
        lines += [f" neighbor {lb_edge(i)} remote-as {LB_AS}", f" neighbor {lb_edge(i)} timers connect 1",
                  f" neighbor {lb_edge(i)} advertisement-interval 0"]
    lines += [" address-family ipv4 unicast", "  maximum-paths 16"]
    lines += [f"  neighbor {lb_edge(i)} activate" for i in range(1, lbs + 1)]
    lines += [" exit-address-family", ""]
    return "\n".join(lines)


def lb_bgpd_conf(i: int, prefixes: Sequence[str] = (f"{VIP}/32",)) -> str:
    return "\n".join([
        f"hostname lb{i}", "log stdout", f"router bgp {LB_AS}", f" bgp router-id {lb_edge(i)}",
        " no bgp ebgp-requires-policy", " no bgp default ipv4-unicast", " bgp network import-check",
        f" timers bgp {KEEPALIVE} {HOLD}",
        f" neighbor {ROUTER_EDGE} remote-as {ROUTER_AS}", f" neighbor {ROUTER_EDGE} timers connect 1",
        f" neighbor {ROUTER_EDGE} advertisement-interval 0",
        " address-family ipv4 unicast", f"  neighbor {ROUTER_EDGE} activate",
        *[f"  network {p}" for p in prefixes],
        " exit-address-family", ""])


def lb_keepalived_conf(i: int, real_servers: int = 4, *, delay_loop: float = 1.0) -> str:
    rs = "\n".join(
        f"    real_server {rs_addr(k)} 80 {{\n        weight 1\n        TCP_CHECK {{\n"
        f"            connect_timeout 1\n        }}\n    }}" for k in range(1, real_servers + 1))
    return f"""global_defs {{
    router_id lb{i}
}}
virtual_server {VIP} 80 {{
    delay_loop {delay_loop:g}
    lb_algo mh
    lb_kind NAT
    protocol TCP
{rs}
}}
bgp_announce {{
    device pka0
    withdraw_delay 0.5
}}
"""


#: conntrackd's multicast group on the back network (``--pickup``)
SYNC_GROUP, SYNC_PORT = "225.0.0.50", 3780


def conntrackd_conf(i: int, directory: Path) -> str:
    """Active-active state sync for node ``i`` (``lab scaleout up --pickup``): conntrackd in NOTRACK mode with
    both caches off, so every node's connections (their NAT bindings included) are written straight into every
    other node's conntrack table over multicast on the back network.  A connection that ECMP moves to another
    node then matches the entry there and keeps its translation: its packets go on to the same real server
    from the same source address, whose node (the one that opened it, still up) takes the replies back.  The
    edge network (BGP) and loopback are left out."""
    d = directory
    return f"""Sync {{
    Mode NOTRACK {{
        DisableInternalCache on
        DisableExternalCache on
    }}
    Multicast {{
        IPv4_address {SYNC_GROUP}
        Group {SYNC_PORT}
        IPv4_interface {lb_back(i)}
        Interface eth1
        SndSocketBuffer 1249280
        RcvSocketBuffer 1249280
        Checksum on
    }}
}}
General {{
    HashSize 8192
    HashLimit 65536
    LogFile {d / f"conntrackd-lb{i}.log"}
    Syslog off
    LockFile {d / f"conntrackd-lb{i}.lock"}
    UNIX {{
        Path {d / f"conntrackd-lb{i}.ctl"}
    }}
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    Filter From Userspace {{
        Protocol Accept {{
            TCP
        }}
        Address Ignore {{
            IPv4_address 127.0.0.1
            IPv4_address 10.30.0.0/24
        }}
    }}
}}
"""


class Frr:
    """The files of one lab node's zebra + bgpd, in a directory of their own (the daemons drop to the frr user,
    which must write there: 0777 inside the lab's 0755 state directory).  The processes are the lab's."""

    def __init__(self, node: str, directory: Path, bgpd_conf: str | None = None) -> None:
        self.node, self.dir = node, directory
        if bgpd_conf is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.dir.chmod(0o777)
            for name, text in (("zebra.conf", f"hostname {node}\n"), ("bgpd.conf", bgpd_conf)):
                (self.dir / name).write_text(text)
                (self.dir / name).chmod(0o644)

    def argv(self, daemon: str) -> list[str]:
        """``zebra`` or ``bgpd`` in the foreground with every socket and file in :attr:`dir`."""
        exe = find_frr(daemon)
        if exe is None:
            raise FileNotFoundError(f"FRR's {daemon} is not installed (apt-get install frr)")
        d = self.dir
        return [exe, "-f", str(d / f"{daemon}.conf"), "-i", str(d / f"{daemon}.pid"), "--vty_socket", str(d),
                "-z", str(d / "zserv.api"), "-P", "0", "--log", f"file:{d / f'{daemon}.log'}"]

    def vtysh_argv(self, command: str) -> list[str]:
        return ["vtysh", "--vty_socket", str(self.dir), "-c", command]

    def log(self, daemon: str = "bgpd") -> str:
        p = self.dir / f"{daemon}.log"
        return p.read_text(errors="replace") if p.exists() else ""


def nexthops_in(ns: str, prefix: str = VIP) -> set[str]:
    """The next hops namespace ``ns``'s kernel holds for ``prefix`` (what ECMP spreads over)."""
    out = nsmod.run(["ip", "-n", ns, "-j", "route", "show", f"{prefix}/32"], check=False).stdout
    hops: set[str] = set()
    for r in json.loads(out or "[]"):
        if "gateway" in r:
            hops.add(r["gateway"])
        for nh in r.get("nexthops", ()):
            if "gateway" in nh:
                hops.add(nh["gateway"])
    return hops


def router_nexthops(lab: Lab, prefix: str = VIP) -> set[str]:
    """The next hops the router's kernel holds for ``prefix``."""
    return nexthops_in(lab.ns("router"), prefix)


@dataclass
class ScaleoutLab(RunningLab):
    """The lab and its processes, recorded in a state directory (:class:`~pykeepalived.lab.running.RunningLab`):
    ``lab scaleout up`` leaves it running and ``lab scaleout down`` (another process) stops exactly what it
    started; :meth:`close` (the tests, the demo) does the same from this process."""

    KIND: ClassVar[str] = "scaleout"
    COMMAND: ClassVar[str] = "lab scaleout"
    DEFAULT_PREFIX: ClassVar[str] = DEFAULT_PREFIX
    DEMO_TAG: ClassVar[str] = DEMO_TAG
    FIRST: ClassVar[tuple[str, ...]] = tuple(f"lb{i}" for i in range(1, MAX_LBS + 1))

    prefix: str = field(default_factory=nsmod.unique_prefix)
    lbs: int = 3
    real_servers: int = 4
    sources: int = 64
    #: connection pickup: conntrackd on every node shares the connections' state (see conntrackd_conf)
    pickup: bool = False

    @property
    def workdir(self) -> Path:
        return self.dir

    @property
    def everyone(self) -> set[str]:
        """The router's next hops when every node announces."""
        return {lb_edge(i) for i in range(1, self.lbs + 1)}

    def frr(self, node: str) -> Frr:
        return Frr(node, self.dir / "frr" / node)

    def up(self, wait: float = 60.0) -> ScaleoutLab:
        """Topology, real servers, FRR everywhere, pykeepalived on every node; returns when the router has a
        route to the VIP through every node (``wait`` seconds at most)."""
        if not 1 <= self.lbs <= MAX_LBS:
            raise ValueError(f"lbs must be 1..{MAX_LBS}")
        self.prepare()
        self.lab = Lab(self.prefix)
        build_topology(self.lab, self.lbs, self.real_servers, self.sources)
        for i in range(1, self.real_servers + 1):
            self.start_web(f"rs{i}")
        self.start_frr("router", router_bgpd_conf(self.lbs))
        for i in range(1, self.lbs + 1):
            if self.pickup:
                self.start_conntrackd(i)
            self.start_frr(f"lb{i}", lb_bgpd_conf(i))
            self.start_lb(f"lb{i}")
        self.wait_nexthops(self.everyone, timeout=wait)
        return self

    def start_conntrackd(self, i: int) -> None:
        """conntrackd on lb``i`` (:func:`conntrackd_conf`); the node's TCP tracking made liberal, as conntrackd's
        documentation asks of nodes that take over connections in the middle (their windows were seen elsewhere)."""
        assert self.lab is not None
        node = f"lb{i}"
        nsmod.set_sysctls(self.ns(node), {"net.netfilter.nf_conntrack_tcp_be_liberal": 1})
        conf = self.dir / f"conntrackd-{node}.conf"
        conf.write_text(conntrackd_conf(i, self.dir))
        exe = shutil.which("conntrackd")
        if exe is None:
            raise FileNotFoundError("conntrackd is not installed (apt-get install conntrackd)")
        self._popen(f"conntrackd-{node}", node, [exe, "-C", str(conf)])
        deadline = time.monotonic() + 10
        while not (self.dir / f"conntrackd-{node}.ctl").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node}: conntrackd did not open its control socket")
            time.sleep(0.05)

    def start_frr(self, node: str, bgpd_conf: str) -> None:
        frr = Frr(node, self.dir / "frr" / node, bgpd_conf)
        self._popen(f"zebra-{node}", node, frr.argv("zebra"))
        deadline = time.monotonic() + 10
        while not (frr.dir / "zserv.api").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node}: zebra did not open its zserv socket")
            time.sleep(0.05)
        self._popen(f"bgpd-{node}", node, frr.argv("bgpd"))

    def vtysh(self, node: str, command: str) -> str:
        return nsmod.run(nsmod.exec_argv(self.ns(node), self.frr(node).vtysh_argv(command)), check=False).stdout

    def start_web(self, name: str) -> None:
        """The real server ``name`` (rs1..): HTTP on port 80 answering ``name <peer address>``."""
        self._popen(f"web-{name}", name, [sys.executable, "-m", "pykeepalived.lab.scaleout", "serve", name])

    def stop_web(self, name: str) -> None:
        self._stop(f"web-{name}", grace=2)

    def conf_path(self, lb: str) -> Path:
        return self.dir / f"{lb}.conf"

    def pid_file(self, lb: str) -> Path:
        return self.dir / f"{lb}.pid"

    def start_lb(self, lb: str) -> None:
        i = int(lb[2:])
        self.conf_path(lb).write_text(lb_keepalived_conf(i, self.real_servers))
        argv = [sys.executable, "-m", "pykeepalived.cli", "-f", str(self.conf_path(lb)), "-n", "-l", "-C",
                "-p", str(self.pid_file(lb)), "--dataplane", "nftables"]
        self._popen(lb, lb, argv)

    def daemon_pids(self, lb: str) -> list[int]:
        """The supervisor and its checker child (pid files), so a kill reaches both at once."""
        pids = []
        for path in (self.pid_file(lb), self.dir / f"{lb}_checkers.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text().split()[0]))
        proc = self.procs.get(lb)
        if proc is not None and proc.pid not in pids:
            pids.append(proc.pid)
        return pids

    def kill_lb(self, lb: str) -> float:
        """kill -9 of lb's pykeepalived (supervisor and checker, frozen first); returns the monotonic time."""
        pids = [p for p in self.daemon_pids(lb) if _in_netns(p, self.ns(lb))]
        t = time.monotonic()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        self._forget(lb)
        return t

    def stop_lb(self, lb: str) -> None:
        self._stop(lb, grace=10)

    def nexthops(self) -> set[str]:
        return nexthops_in(self.ns("router"))

    def wait_nexthops(self, want: set[str], timeout: float = 30.0, poll: float = 0.005) -> float:
        """Until the router's route to the VIP has exactly ``want`` as next hops; returns the monotonic time."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self.nexthops() == want:
                return now
            if now > deadline:
                raise TimeoutError(f"router next hops {sorted(self.nexthops())}, wanted {sorted(want)}")
            time.sleep(poll)

    def failure_logs(self) -> list[Path]:
        return [self.log_path(f"lb{i}") for i in range(1, self.lbs + 1)]

    def stop_processes(self, procs: Sequence[Proc]) -> None:
        """pykeepalived first (SIGTERM: each withdraws its route, then releases its data plane); then check that
        the router has no route to the VIP left (BGP withdrawals, not the namespaces' removal, took it away);
        then FRR (bgpd before zebra) and the real servers."""
        daemons = [p for p in procs if p.name in self.FIRST]
        _stop_procs(daemons, grace=10.0)
        router = self.ns("router")
        if router in nsmod.list_netns() and any(p.name == "bgpd-router" and p.alive() for p in procs):
            t0 = time.monotonic()
            while (left := nexthops_in(router)) and time.monotonic() < t0 + HOLD + 2:
                time.sleep(0.05)
            if left:
                self.problems.append(f"the router still had a route to {VIP}/32 via {', '.join(sorted(left))} "
                                     f"{HOLD + 2} s after pykeepalived stopped")
            else:
                self.notes.append(f"no route to {VIP}/32 left on the router ({router}) once pykeepalived had "
                                  f"stopped (waited {time.monotonic() - t0:.2f} s more), before FRR and the "
                                  "namespaces went")
        rest = [p for p in procs if p not in daemons]
        _stop_procs([p for p in rest if p.name.startswith("bgpd-")])
        _stop_procs([p for p in rest if not p.name.startswith("bgpd-")])


# ------------------------------------------------------------------------------------- server and client

class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: the client closes first, so TIME_WAIT stays on the client and never on a real server, where
    # connections from several clients masqueraded to one node address would meet it (PAWS drops their SYNs)
    protocol_version = "HTTP/1.1"
    name = "rs"

    def do_GET(self) -> None:
        body = f"{self.name} {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(name: str, port: int = 80) -> None:
    _Handler.name = name
    class Server(ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024  # the default 5 overflows under 8 clients: a dropped SYN is a 1 s timeout

    with Server(("0.0.0.0", port), _Handler) as srv:
        srv.serve_forever()


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def one_request(src: str, vip: str = VIP, port: int = 80, timeout: float = 1.0) -> tuple[str, str] | str:
    """A GET from ``src`` on a new connection, closed by us once the reply is in: (real server, node back
    address), or the error's name."""
    import socket

    try:
        with socket.create_connection((vip, port), timeout=timeout, source_address=(src, 0)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
            data = b""
            while not _complete(data):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return type(e).__name__
    text = data.decode(errors="replace")
    if not text.startswith("HTTP/1.1 200"):
        return "bad reply"
    name, _, peer = text.split("\r\n\r\n", 1)[-1].strip().partition(" ")
    return name, peer


def client(sources: Sequence[str], duration: float, rounds: int, workers: int = 8, out: Any = None) -> None:
    """Requests over ``sources`` for ``duration`` seconds or ``rounds`` passes, ``workers`` threads each with its
    own share of the sources (a request that hangs does not stop the others); one JSON line per request:
    ``[t, src, rs, node]`` (``rs`` null on failure, ``node`` then the error; ``t`` monotonic, one clock with the
    caller's) on ``out`` (stdout by default; give a file when nobody reads the pipe while the client runs)."""
    import threading

    out = out if out is not None else sys.stdout

    lock = threading.Lock()
    end = time.monotonic() + duration if duration > 0 else None

    def work(mine: Sequence[str]) -> None:
        n = 0
        while (end is None and n < rounds) or (end is not None and time.monotonic() < end):
            for src in mine:
                t = time.monotonic()
                r = one_request(src)
                ok = isinstance(r, tuple)
                line = json.dumps([t, src, r[0] if ok else None, r[1] if ok else r]) + "\n"
                with lock:
                    out.write(line)
            n += 1

    threads = [threading.Thread(target=work, args=(sources[k::workers],)) for k in range(min(workers, len(sources)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.flush()


def held(sources: Sequence[str], duration: float, interval: float = 0.1, out: Any = None,
         vip: str = VIP, port: int = 80) -> None:
    """One long-lived HTTP/1.1 connection per source for ``duration`` seconds, a GET on it every ``interval``:
    one JSON line per request, ``[t, src, rs, node, sport]`` (the first four as :func:`client` writes them;
    ``node``: the address the real server saw, the node whose NAT state the connection has; ``rs`` null and
    ``node`` the error's name on failure, after which that connection is given up: a long-lived connection
    that broke stays broken; ``sport``: the connection's source port)."""
    import socket
    import threading

    out = out if out is not None else sys.stdout
    lock = threading.Lock()
    end = time.monotonic() + duration

    def write(t: float, src: str, rs: str | None, node: str, sport: int = 0) -> None:
        with lock:
            out.write(json.dumps([t, src, rs, node, sport]) + "\n")

    def work(src: str) -> None:
        try:
            s = socket.create_connection((vip, port), timeout=2.0, source_address=(src, 0))
        except OSError as e:
            write(time.monotonic(), src, None, type(e).__name__)
            return
        sport = s.getsockname()[1]
        with s:
            while (t := time.monotonic()) < end:
                try:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
                    data = b""
                    while not _complete(data):
                        chunk = s.recv(4096)
                        if not chunk:
                            raise ConnectionResetError("closed")
                        data += chunk
                except OSError as e:
                    write(t, src, None, type(e).__name__, sport)
                    return
                name, _, peer = data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip().partition(" ")
                write(t, src, name, peer, sport)
                time.sleep(max(0.0, interval - (time.monotonic() - t)))

    threads = [threading.Thread(target=work, args=(src,)) for src in sources]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pykeepalived.lab.scaleout")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("name")
    s.add_argument("--port", type=int, default=80)
    c = sub.add_parser("client")
    c.add_argument("--sources", type=int, default=64)
    c.add_argument("--duration", type=float, default=0.0)
    c.add_argument("--rounds", type=int, default=1)
    c.add_argument("--out", help="write the lines to this file (default: stdout)")
    h = sub.add_parser("held", help="long-lived connections, one per source, a request on each every --interval")
    h.add_argument("--sources", type=int, default=24)
    h.add_argument("--duration", type=float, default=6.0)
    h.add_argument("--interval", type=float, default=0.1)
    h.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.cmd == "serve":
        serve(a.name, a.port)
    elif a.cmd == "held":
        with open(a.out, "w") as f:
            held(client_sources(a.sources), a.duration, a.interval, out=f)
    else:
        if a.out:
            with open(a.out, "w") as f:
                client(client_sources(a.sources), a.duration, a.rounds, out=f)
        else:
            client(client_sources(a.sources), a.duration, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------------------------------------------------------------------ the demo

def _spread(s: ScaleoutLab, rounds: int = 2) -> tuple[dict[str, int], dict[str, str], int]:
    assert s.lab is not None
    out = s.lab.run("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "client", "--rounds",
                               str(rounds), "--sources", str(s.sources)], timeout=300).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    nodes = {f"lb{i}": sum(1 for r in rows if r[3] == lb_back(i)) for i in range(1, s.lbs + 1)}
    first: dict[str, str] = {}
    for r in rows:
        if r[2] is not None:
            first.setdefault(r[1], r[2])
    return nodes, first, sum(1 for r in rows if r[2] is None)


HELD_CONNECTIONS = 24


def held_summary(path: Path, node: str, pickup: bool) -> str:
    """What happened to the long-lived connections (:func:`held`) that ``node`` had opened."""
    conns: dict[str, list[list[Any]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        conns.setdefault(row[1], []).append(row)
    mine = [rows for rows in conns.values() if rows[0][3] == node]
    broken = sum(1 for rows in mine if rows[-1][2] is None)
    others = sum(1 for rows in conns.values() if rows[0][3] != node and rows[-1][2] is None)
    text = (f"long-lived connections opened through lb2: {len(mine)}, went on through the others: "
            f"{len(mine) - broken}, reset: {broken}; on the other nodes: {len(conns) - len(mine)}, broken: {others}")
    if broken and not pickup:
        text += (" (the surviving nodes had no state for them; 'lab scaleout demo --pickup' runs conntrackd, which "
                 "shares it)")
    return text


def demo(s: ScaleoutLab, out: Any = None) -> None:
    """``pykeepalived lab scaleout demo``: build the lab, show the routes, the spread, a node killed and
    returning; the caller removes everything (``s.down()``, also on Ctrl-C)."""
    out = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    say(f"Building in namespaces {s.prefix}* (state in {s.dir}): router (FRR, ECMP) + lb1..lb{s.lbs} (FRR + "
        f"pykeepalived, nftables mh, full NAT{', conntrackd' if s.pickup else ''}) + rs1..rs{s.real_servers} ...")
    t0 = time.monotonic()
    s.up()
    assert s.lab is not None
    everyone = s.everyone
    say(f"All {s.lbs} nodes announce {VIP}/32 ({time.monotonic() - t0:.1f} s after the start). The router's route:")
    say(s.lab.run("router", ["ip", "route", "show", f"{VIP}/32"]).stdout.rstrip())
    nodes, before, failed = _spread(s)
    say(f"{sum(nodes.values())} requests from {s.sources} client addresses: per node {nodes}, failed {failed}")
    say(f"each client address reached one real server through whichever node: "
        f"{dict(sorted(Counter(before.values()).items()))}")
    held_out = s.dir / "held.out"
    say(f"{HELD_CONNECTIONS} long-lived connections (one per client address, a request every 0.1 s), then kill -9 "
        "of lb2's pykeepalived ...")
    held_proc = s.lab.popen("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "held", "--sources",
                                       str(HELD_CONNECTIONS), "--duration", "6", "--out", str(held_out)],
                            stdout=subprocess.DEVNULL)
    time.sleep(2.5)
    t = s.kill_lb("lb2")
    t_gone = s.wait_nexthops(everyone - {lb_edge(2)}, timeout=15, poll=0.002)
    say(f"lb2's route left the router {1000 * (t_gone - t):.0f} ms later (its tun device died with the process)")
    held_proc.wait(timeout=60)
    s.lab.processes.remove(held_proc)
    say(held_summary(held_out, lb_back(2), s.pickup))
    nodes, after, failed = _spread(s)
    moved = sum(1 for k in before if after.get(k) != before[k])
    say(f"per node {nodes}, failed {failed}; client addresses that changed real server: {moved}")
    say("lb2's pykeepalived started again ...")
    t = time.monotonic()
    s.start_lb("lb2")
    s.wait_nexthops(everyone, timeout=30)
    say(f"announced again after {time.monotonic() - t:.1f} s")
    nodes, again, failed = _spread(s)
    say(f"per node {nodes}, failed {failed}; changed real server: "
        f"{sum(1 for k in before if again.get(k) != before[k])}")
