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
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .topology import Lab

VIP = "10.99.0.5"
ROUTER_EDGE = "10.30.0.1"
ROUTER_AS, LB_AS = 65000, 65001
CLIENT_BASE = ipaddress.ip_address("10.0.0.100")
#: BGP timers (seconds) on every session of the lab
KEEPALIVE, HOLD = 1, 3
FRR_DIRS = ("/usr/lib/frr", "/usr/libexec/frr")
SNAT_TABLE = "pk_scaleout_snat"


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


class Frr:
    """zebra + bgpd of one lab node, every file under a private directory (the daemons drop to the frr user,
    which must reach it: 0777 inside a 0711 parent; removed by :meth:`stop`)."""

    def __init__(self, lab: Lab, node: str, bgpd_conf: str) -> None:
        self.lab, self.node = lab, node
        self._top = Path(tempfile.mkdtemp(prefix=f"pk-frr-{node}-"))
        self._top.chmod(0o711)
        self.dir = self._top / "run"
        self.dir.mkdir()
        self.dir.chmod(0o777)
        for name, text in (("zebra.conf", f"hostname {node}\n"), ("bgpd.conf", bgpd_conf)):
            (self.dir / name).write_text(text)
            (self.dir / name).chmod(0o644)
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self) -> Frr:
        zebra, bgpd = find_frr("zebra"), find_frr("bgpd")
        if zebra is None or bgpd is None:
            raise FileNotFoundError("FRR's zebra/bgpd are not installed (apt-get install frr)")
        d = self.dir
        common = ["--vty_socket", str(d), "-z", str(d / "zserv.api"), "-P", "0"]
        zargv = [zebra, "-f", str(d / "zebra.conf"), "-i", str(d / "zebra.pid"), *common,
                 "--log", f"file:{d / 'zebra.log'}"]
        bargv = [bgpd, "-f", str(d / "bgpd.conf"), "-i", str(d / "bgpd.pid"), *common,
                 "--log", f"file:{d / 'bgpd.log'}"]
        self.procs.append(self.lab.popen(self.node, zargv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not (d / "zserv.api").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.node}: zebra did not open its zserv socket")
            time.sleep(0.05)
        self.procs.append(self.lab.popen(self.node, bargv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def vtysh(self, command: str) -> str:
        cp = self.lab.run(self.node, ["vtysh", "--vty_socket", str(self.dir), "-c", command], check=False)
        return cp.stdout

    def stop(self) -> None:
        for p in reversed(self.procs):
            self.lab.stop(p, grace=3)
        self.procs.clear()
        shutil.rmtree(self._top, ignore_errors=True)

    def log(self, daemon: str = "bgpd") -> str:
        p = self.dir / f"{daemon}.log"
        return p.read_text(errors="replace") if p.exists() else ""


def router_nexthops(lab: Lab, prefix: str = VIP) -> set[str]:
    """The next hops the router's kernel holds for ``prefix`` (what ECMP spreads over)."""
    out = lab.run("router", ["ip", "-j", "route", "show", f"{prefix}/32"], check=False).stdout
    hops: set[str] = set()
    for r in json.loads(out or "[]"):
        if "gateway" in r:
            hops.add(r["gateway"])
        for nh in r.get("nexthops", ()):
            if "gateway" in nh:
                hops.add(nh["gateway"])
    return hops


@dataclass
class ScaleoutLab:
    """The lab and its processes; :meth:`close` stops everything and removes the namespaces."""

    lbs: int = 3
    real_servers: int = 4
    sources: int = 64
    lab: Lab = field(default_factory=Lab)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pk-scaleout-")))
    frr: dict[str, Frr] = field(default_factory=dict)
    daemons: dict[str, subprocess.Popen[Any]] = field(default_factory=dict)
    webs: list[subprocess.Popen[Any]] = field(default_factory=list)

    def up(self) -> ScaleoutLab:
        build_topology(self.lab, self.lbs, self.real_servers, self.sources)
        for i in range(1, self.real_servers + 1):
            self.webs.append(self.lab.popen(f"rs{i}", [sys.executable, "-m", "pykeepalived.lab.scaleout",
                                                       "serve", f"rs{i}"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.frr["router"] = Frr(self.lab, "router", router_bgpd_conf(self.lbs)).start()
        for i in range(1, self.lbs + 1):
            self.frr[f"lb{i}"] = Frr(self.lab, f"lb{i}", lb_bgpd_conf(i)).start()
            self.start_lb(f"lb{i}")
        return self

    def conf_path(self, lb: str) -> Path:
        return self.workdir / f"{lb}.conf"

    def start_lb(self, lb: str) -> None:
        i = int(lb[2:])
        self.conf_path(lb).write_text(lb_keepalived_conf(i, self.real_servers))
        log = (self.workdir / f"{lb}.log").open("ab")
        argv = [sys.executable, "-m", "pykeepalived.cli", "-f", str(self.conf_path(lb)), "-n", "-l", "-C",
                "-p", str(self.workdir / f"{lb}.pid"), "--dataplane", "nftables"]
        self.daemons[lb] = self.lab.popen(lb, argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=str(self.workdir))
        log.close()

    def daemon_pids(self, lb: str) -> list[int]:
        """The supervisor and its checker child (pid files), so a kill reaches both at once."""
        pids = []
        for path in (self.workdir / f"{lb}.pid", self.workdir / f"{lb}_checkers.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text().split()[0]))
        proc = self.daemons.get(lb)
        if proc is not None and proc.pid not in pids:
            pids.append(proc.pid)
        return pids

    def kill_lb(self, lb: str) -> float:
        """kill -9 of lb's pykeepalived (supervisor and checker, frozen first); returns the monotonic time."""
        pids = self.daemon_pids(lb)
        t = time.monotonic()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        proc = self.daemons.pop(lb, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc in self.lab.processes:
                self.lab.processes.remove(proc)
        return t

    def stop_lb(self, lb: str) -> None:
        proc = self.daemons.pop(lb, None)
        if proc is not None:
            self.lab.stop(proc, grace=10)

    def wait_nexthops(self, want: set[str], timeout: float = 30.0, poll: float = 0.005) -> float:
        """Until the router's route to the VIP has exactly ``want`` as next hops; returns the monotonic time."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if router_nexthops(self.lab) == want:
                return now
            if now > deadline:
                raise TimeoutError(f"router next hops {sorted(router_nexthops(self.lab))}, wanted {sorted(want)}")
            time.sleep(poll)

    def close(self) -> None:
        for lb in list(self.daemons):
            self.stop_lb(lb)
        for f in self.frr.values():
            f.stop()
        for p in self.webs:
            self.lab.stop(p)
        self.lab.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ScaleoutLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    a = p.parse_args(argv)
    if a.cmd == "serve":
        serve(a.name, a.port)
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
    out = s.lab.run("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "client", "--rounds",
                               str(rounds), "--sources", str(s.sources)], timeout=300).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    nodes = {f"lb{i}": sum(1 for r in rows if r[3] == lb_back(i)) for i in range(1, s.lbs + 1)}
    first: dict[str, str] = {}
    for r in rows:
        if r[2] is not None:
            first.setdefault(r[1], r[2])
    return nodes, first, sum(1 for r in rows if r[2] is None)


def demo(out: Any = None) -> int:
    """``pykeepalived lab scaleout demo``: build the lab, show the routes, the spread, a node killed and
    returning, then remove everything (Ctrl-C at any point cleans up)."""
    out = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    s = ScaleoutLab()
    try:
        say("Building: router (FRR, ECMP) + lb1..lb3 (FRR + pykeepalived, nftables mh, full NAT) + rs1..rs4 ...")
        s.up()
        everyone = {lb_edge(i) for i in range(1, s.lbs + 1)}
        t0 = time.monotonic()
        s.wait_nexthops(everyone, timeout=60)
        say(f"All three nodes announce {VIP}/32 ({time.monotonic() - t0:.1f} s). The router's route:")
        say(s.lab.run("router", ["ip", "route", "show", f"{VIP}/32"]).stdout.rstrip())
        nodes, before, failed = _spread(s)
        say(f"{sum(nodes.values())} requests from {s.sources} client addresses: per node {nodes}, failed {failed}")
        say(f"each client address reached one real server through whichever node: "
            f"{dict(sorted(Counter(before.values()).items()))}")
        say("kill -9 of lb2's pykeepalived ...")
        t = s.kill_lb("lb2")
        t_gone = s.wait_nexthops(everyone - {lb_edge(2)}, timeout=15, poll=0.002)
        say(f"lb2's route left the router {1000 * (t_gone - t):.0f} ms later (its tun device died with the process)")
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
        return 0
    finally:
        say("Removing the lab ...")
        s.close()

