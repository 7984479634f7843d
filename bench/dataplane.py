"""Kernel data plane throughput: pykeepalived's nftables tables vs one bare nft rule, haproxy and no LB.

Run (root; a lab of network namespaces is created and removed; every wrk run is bounded):
``python bench/dataplane.py [--rounds 3] [--duration 5] [--json FILE]``.

Topology: :func:`~pykeepalived.lab.topology.seed_topology` (client, lb1, lb2, rs1, rs2), with the
VIP 10.0.0.5 and the gateway 192.168.0.1 added by hand on lb1 (no VRRP).  rs1 and rs2 run Debian's
nginx (one worker, sendfile, access log off, from a config file in a temp dir) serving a ~100 B page
and a 100 KB file.  Paths, all through lb1's forwarding:

* ``direct``  client -> rs1's own address, routed through lb1 (no NAT, no conntrack rules), from a
  second client address (see ``DIRECT_SRC``);
* ``bare``    one hand-written rule ``dnat to numgen inc mod 2 map { 0 : rs1, 1 : rs2 }``;
* ``bare1``   one rule ``dnat to rs1``: NAT to a single backend, the fair baseline for ``direct``
  (which reaches rs1 only) and for ``pyk-wlc-p`` (persistence pins the one client to one server);
* ``pyk``     pykeepalived's :class:`~pykeepalived.lvs.dataplane.nftables.NftablesDataPlane`,
  10.0.0.5:80 wrr, rs1/rs2 weight 1 (``pyk-wlc-p``: wlc + persistence_timeout 50 instead);
* ``haproxy`` Debian's haproxy in TCP mode on lb1 (own config file, stopped by PID), roundrobin.

``--proxy`` instead compares the userspace proxy data plane (``--dataplane proxy``,
:class:`~pykeepalived.lvs.dataplane.proxy.ProxyDataPlane`, rr over rs1/rs2, workers started in lb1's
namespace) with haproxy in TCP mode on the same cores in the same run:

* ``proxy1`` / ``haproxy1``: one worker vs ``nbthread 1``, the load balancer pinned to CPU 1, wrk and
  both nginx pinned to CPU 0 (so neither the client nor the backends share the load balancer's core);
* ``proxy2`` / ``haproxy2``: two workers vs ``nbthread 2`` on CPUs 0-1, wrk and nginx unpinned (this
  machine has two cores: every process shares them, as they would on a small load balancer).

and prints proxy/haproxy for each workload.

Workloads (wrk -t1 --latency): ``small`` keep-alive, ``100k`` keep-alive, ``close`` (a new
connection per request, ``Connection: close``).  Rounds interleave the paths (order rotates each
round) and the table shows medians; ratios are of medians, with the median of the per-round
(paired) ratios in brackets.  Conntrack on lb1 is flushed before every path so each starts alike.

Also: the time to apply one real server's weight change in a table of 1,000 services x 10
destinations (median of 10; nft apply alone, and diff + apply), in lb2's namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP, Lab, seed_topology
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.dataplane.proxy import ProxyDataPlane
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff

RS = {"rs1": "192.168.0.12", "rs2": "192.168.0.13"}
LB_FRONT = "10.0.0.3"
#: the direct path's client source: real servers keep TIME_WAIT sockets (nginx closes first) keyed
#: by the client's address and port, and the client's TCP timestamp offset depends on the
#: destination address, so direct (dst rs1) and NAT (dst VIP) connections reusing one 4-tuple at
#: the real server get their SYNs rejected there (PAWS, TcpExtPAWSTimewait) and stall for a
#: retransmit.  A second client address keeps the direct path's 4-tuples apart.
DIRECT_SRC = "10.0.0.101"
SMALL_PAGE = "index.html"
BIG_FILE = "100k.bin"
BIG_SIZE = 100 * 1024

#: workload name -> (url path, connections, extra wrk args)
WORKLOADS: dict[str, tuple[str, int, list[str]]] = {
    "small": ("/", 32, []),
    "100k": (f"/{BIG_FILE}", 8, []),
    "close": ("/", 32, ["-H", "Connection: close"]),
}
PATHS = ["direct", "bare", "bare1", "pyk", "haproxy"]
EXTRA_PATHS = ["pyk-wlc-p"]
#: --proxy: path -> (load balancer CPUs, client/backend CPUs or None for unpinned)
PROXY_PATHS: dict[str, tuple[str, str | None]] = {
    "proxy1": ("1", "0"), "haproxy1": ("1", "0"), "proxy2": ("0-1", None), "haproxy2": ("0-1", None)}

NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 60;
    default_type text/plain;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    scgi_temp_path {d}/scgi;
    uwsgi_temp_path {d}/uwsgi;
    server {{
        listen 80 default_server reuseport backlog=4096;
        root {www};
        index {index};
    }}
}}
"""

HAPROXY_CONF = """\
global
    maxconn 4096
{threads}
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend vip
    bind {vip}:80
    default_backend rs
backend rs
    balance roundrobin
    server rs1 {rs1}:80
    server rs2 {rs2}:80
"""

#: the bare rule's DNAT target: both real servers, or rs1 alone (same backend count as direct)
BARE_TARGETS = {"bare": f"numgen inc mod 2 map {{ 0 : {RS['rs1']}, 1 : {RS['rs2']} }}",
                "bare1": RS["rs1"]}


def bare_rules(target: str) -> str:
    """One table, one nat chain, one rule: the smallest kernel DNAT there is."""
    return (f"table ip dpbench {{\n"
            f"    chain pre {{\n"
            f"        type nat hook prerouting priority -100; policy accept;\n"
            f"        ip daddr {SEED_FRONT_VIP} tcp dport 80 dnat to {target}\n"
            f"    }}\n}}\n")


# -- set-up ---------------------------------------------------------------------------------------

def write_site(root: Path) -> Path:
    www = root / "www"
    www.mkdir()
    body = "pykeepalived bench page: small response for wrk, about one hundred bytes long, see bench/\n"
    (www / SMALL_PAGE).write_text(body)
    (www / BIG_FILE).write_bytes(os.urandom(BIG_SIZE))
    for p in (root, www, *www.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return www


def start_nginx(lab: Lab, node: str, root: Path, www: Path) -> subprocess.Popen[Any]:
    d = root / node
    d.mkdir()
    d.chmod(0o755)
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(d=d, www=www, index=SMALL_PAGE))
    proc = lab.popen(node, ["nginx", "-c", str(conf), "-p", str(d), "-e", str(d / "error.log")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc


def http_get(host: str, path: str = "/", timeout: float = 2.0) -> tuple[int, int]:
    """One HTTP/1.0 GET over a new connection: (status, body length)."""
    with socket.create_connection((host, 80), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), len(body)


def wait_http(lab: Lab, node: str, host: str, deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            status, _ = call_in_netns(lab.ns(node), http_get, host, "/", 0.5)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"no HTTP answer from {host} in {node}")
        time.sleep(0.05)


def flush_conntrack(lab: Lab) -> None:
    lab.run("lb1", ["conntrack", "-F"], check=False)


def backends_seen(lab: Lab, host: str, n: int = 8) -> dict[str, int]:
    """Which real server answered n fresh connections (nginx access logs are off: use ss on rs)."""
    seen: dict[str, int] = {}

    def one() -> None:
        with socket.create_connection((host, 80), timeout=2) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            s.recv(4096)
            local = s.getsockname()
            for node in RS:
                out = lab.run(node, ["ss", "-Htn", "state", "established", "sport", "=", ":80"]).stdout
                if any(f":{local[1]}" in line.split()[-1] for line in out.splitlines() if line.split()):
                    seen[node] = seen.get(node, 0) + 1

    for _ in range(n):
        call_in_netns(lab.ns("client"), one)
    return seen


# -- paths ----------------------------------------------------------------------------------------

def pyk_service(scheduler: str = "wrr", persistence: int = 0) -> Table:
    vip = ServiceKey.inet("tcp", SEED_FRONT_VIP, 80)
    dests = tuple(Destination(DestKey.of(a, 80), 1) for a in RS.values())
    return Table((Service(vip, scheduler, persistence_timeout=persistence, destinations=dests),))


def program_pyk(lab: Lab, table: Table) -> None:
    def work() -> None:
        dp = NftablesDataPlane()
        dp.open()
        dp.apply(diff(table, dp.observe()))

    call_in_netns(lab.ns("lb1"), work)


def remove_pyk(lab: Lab) -> None:
    call_in_netns(lab.ns("lb1"), lambda: NftablesDataPlane().release())


@contextmanager
def path_setup(lab: Lab, path: str, tmp: Path, haproxy_threads: int | None) -> Iterator[str]:
    """Program lb1 for ``path``; yields the host wrk targets; undoes everything afterwards."""
    flush_conntrack(lab)
    if path == "direct":
        yield RS["rs1"]
    elif path in BARE_TARGETS:
        rules = bare_rules(BARE_TARGETS[path])
        subprocess.run(["ip", "netns", "exec", lab.ns("lb1"), "nft", "-f", "-"], input=rules,
                       text=True, check=True, timeout=10)
        try:
            yield SEED_FRONT_VIP
        finally:
            subprocess.run(["ip", "netns", "exec", lab.ns("lb1"), "nft", "delete", "table", "ip", "dpbench"],
                           check=True, timeout=10)
    elif path in ("pyk", "pyk-wlc-p"):
        program_pyk(lab, pyk_service() if path == "pyk" else pyk_service("wlc", 50))
        try:
            yield SEED_FRONT_VIP
        finally:
            remove_pyk(lab)
    elif path in ("haproxy", "haproxy1", "haproxy2"):
        conf = tmp / "haproxy.cfg"
        if path != "haproxy":
            haproxy_threads = int(path[-1])
        threads = f"    nbthread {haproxy_threads}\n" if haproxy_threads else ""
        conf.write_text(HAPROXY_CONF.format(threads=threads, vip=SEED_FRONT_VIP, **RS))
        pin = ["taskset", "-c", PROXY_PATHS[path][0]] if path in PROXY_PATHS else []
        proc = lab.popen("lb1", [*pin, "haproxy", "-db", "-f", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        LB_PIDS[:] = [proc.pid]
        try:
            try:
                wait_http(lab, "client", SEED_FRONT_VIP)
            except RuntimeError:
                err = proc.stderr.read() if proc.poll() is not None and proc.stderr else "(still running)"
                raise RuntimeError(f"haproxy on lb1 does not answer: {err}") from None
            yield SEED_FRONT_VIP
        finally:
            lab.stop(proc)
    elif path in ("proxy1", "proxy2"):
        workers = int(path[-1])
        cpus = [1] if workers == 1 else None  # as haproxy: pinned to CPU 1, or threads free on CPUs 0-1
        rundir = tmp / f"proxy-{path}"

        def start() -> list[int]:
            dp = ProxyDataPlane(str(rundir), workers, cpus=cpus)
            dp.open()
            dp.apply(diff(dp.canonical(pyk_service("rr")), dp.observe()))
            pids = dp.worker_pids()
            dp.close()
            return pids

        LB_PIDS[:] = call_in_netns(lab.ns("lb1"), start)  # workers are forked from a thread in lb1's namespace
        try:
            wait_http(lab, "client", SEED_FRONT_VIP)
            yield SEED_FRONT_VIP
        finally:
            ProxyDataPlane(str(rundir)).release()
            LB_PIDS.clear()
    else:
        raise ValueError(path)
    # no leftovers between paths: nothing of ours may remain in lb1's nftables
    left = subprocess.run(["ip", "netns", "exec", lab.ns("lb1"), "nft", "list", "tables"], capture_output=True,
                          text=True, timeout=10).stdout.strip()
    if left:
        raise RuntimeError(f"lb1 still has nft tables after {path}: {left}")


# -- wrk ------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"bad wrk latency {text!r}")
    return float(m[1]) * _UNITS[m[2]]


def parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    res["rps"] = float(m[1])
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}"] = _ms(m[1]) if m else float("nan")
    m = re.search(r"([0-9]+) requests in", out)
    res["requests"] = float(m[1]) if m else 0.0
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m[1])
    res["errors"] = float(errors)
    return res


def paws_rejects(lab: Lab) -> int:
    """SYNs the real servers refused against a TIME_WAIT socket (should stay 0, see DIRECT_SRC)."""
    total = 0
    for node in RS:
        out = lab.run(node, ["nstat", "-az", "TcpExtPAWSTimewait"]).stdout
        total += sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExtPAWS"))
    return total


def pin_backends(lab: Lab, servers: dict[str, subprocess.Popen[Any]], cpus: str | None) -> None:
    """Pin both nginx (master and workers) to ``cpus`` (None: every CPU)."""
    mask = cpus or f"0-{os.cpu_count() - 1 if os.cpu_count() else 0}"
    for proc in servers.values():
        pids = [proc.pid, *(int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                            text=True).stdout.split())]
        for pid in pids:
            subprocess.run(["taskset", "-a", "-p", "-c", mask, str(pid)], check=True, capture_output=True)


#: the processes of the userspace load balancer under test (haproxy, proxy workers): their CPU time is measured
LB_PIDS: list[int] = []


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (all threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + v[4]
            out.append((sum(v) - idle, sum(v)))
    return out


def run_wrk(lab: Lab, host: str, workload: str, duration: float, cpus: str | None = None) -> dict[str, float]:
    url_path, conns, extra = WORKLOADS[workload]
    pin = ["taskset", "-c", cpus] if cpus else []
    argv = [*pin, "wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--timeout", "2s", "--latency", *extra,
            f"http://{host}{url_path}"]
    paws = paws_rejects(lab)
    before = cpu_times()
    lb_before = process_cpu(LB_PIDS)
    cp = lab.run("client", argv, timeout=duration + 30)
    lb_after = process_cpu(LB_PIDS)
    after = cpu_times()
    res = parse_wrk(cp.stdout)
    #: the load balancer's own CPU time per request (robust to other load on a shared machine)
    res["lb_us"] = 1e6 * (lb_after - lb_before) / res["requests"] if LB_PIDS and res["requests"] else float("nan")
    for i, ((b0, t0), (b1, t1)) in enumerate(zip(before, after, strict=True)):
        res[f"cpu{i}"] = 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
    res["paws"] = float(paws_rejects(lab) - paws)
    return res


# -- weight change in a big table -----------------------------------------------------------------

def big_table() -> Table:
    services = []
    for i in range(1000):
        key = ServiceKey.inet("tcp", f"10.1.{i // 250}.{i % 250 + 1}", 80)
        dests = tuple(Destination(DestKey.of(f"192.168.{1 + j}.{i % 250 + 1}", 80), 1) for j in range(10))
        services.append(Service(key, "wrr", destinations=dests))
    return Table(tuple(services))


def weight_change_times(lab: Lab, repeat: int = 10) -> dict[str, Any]:
    big = big_table()

    def work() -> dict[str, Any]:
        dp = NftablesDataPlane(table="dpbench_big")
        try:
            dp.open()
            t0 = time.perf_counter()
            dp.apply(diff(big, dp.observe()))
            load = time.perf_counter() - t0
            apply_only: list[float] = []
            diff_apply: list[float] = []
            before = big
            for n in range(repeat):
                idx = (n * 97) % 1000
                changed = list(before.services)
                svc = changed[idx]
                changed[idx] = replace(svc, destinations=(
                    replace(svc.destinations[0], weight=svc.destinations[0].weight % 9 + 2),
                    *svc.destinations[1:]))
                after = Table(tuple(changed))
                t0 = time.perf_counter()
                ops = diff(after, before)
                t1 = time.perf_counter()
                dp.apply(ops)
                t2 = time.perf_counter()
                if len(ops) != 1:
                    raise RuntimeError(f"one weight change gave {len(ops)} ops: {ops}")
                apply_only.append(t2 - t1)
                diff_apply.append(t2 - t0)
                before = after
            t0 = time.perf_counter()
            seen = NftablesDataPlane(table="dpbench_big").observe()
            observe = time.perf_counter() - t0
            return {"load_s": load, "observe_s": observe, "apply_s": apply_only, "diff_apply_s": diff_apply,
                    "read_back_matches": seen == before}
        finally:
            dp.release()

    result: dict[str, Any] = call_in_netns(lab.ns("lb2"), work)
    return result


# -- report ---------------------------------------------------------------------------------------

def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def print_table(results: dict[str, dict[str, list[dict[str, float]]]], paths: list[str]) -> None:
    print()
    head = f"{'path':<10}" + "".join(f" | {w + ' req/s':>13} {'p50 ms':>7} {'p99 ms':>7}" for w in WORKLOADS)
    print(head)
    print("-" * len(head))
    for p in paths:
        row = f"{p:<10}"
        for w in WORKLOADS:
            runs = results[p][w]
            row += (f" | {med([r['rps'] for r in runs]):>13,.0f} {med([r['p50'] for r in runs]):>7.2f} "
                    f"{med([r['p99'] for r in runs]):>7.2f}")
        print(row)
    errs = {(p, w): int(sum(r["errors"] for r in results[p][w])) for p in paths for w in WORKLOADS}
    if any(errs.values()):
        print("wrk errors (socket errors + non-2xx, summed over rounds):",
              ", ".join(f"{p}/{w}={n}" for (p, w), n in errs.items() if n))
    paws = {(p, w): int(sum(r["paws"] for r in results[p][w])) for p in paths for w in WORKLOADS}
    if any(paws.values()):
        print("real servers refused SYNs against TIME_WAIT (PAWS; stalls, numbers suspect):",
              ", ".join(f"{p}/{w}={n}" for (p, w), n in paws.items() if n))


def print_ratios(results: dict[str, dict[str, list[dict[str, float]]]],
                 pairs: list[tuple[str, str, float | None]]) -> None:
    print()
    head = f"{'ratio (req/s)':<22}" + "".join(f" | {w:>15}" for w in WORKLOADS) + " | target"
    print(head)
    print("-" * len(head))
    for a, b, target in pairs:
        if a not in results or b not in results:
            continue
        row = f"{a + ' / ' + b:<22}"
        for w in WORKLOADS:
            ra = [r["rps"] for r in results[a][w]]
            rb = [r["rps"] for r in results[b][w]]
            paired = med([x / y for x, y in zip(ra, rb, strict=True) if y])
            ratio = med(ra) / med(rb) if med(rb) else float("nan")
            mark = " " if target is None or ratio >= target else "!"
            row += f" | {ratio:>5.2f}{mark} [{paired:>4.2f}] "
        row += f" | {'>= ' + format(target, '.2f') if target is not None else '-'}"
        print(row)
    print("(ratio of medians, '!' = below target; [median of per-round ratios])")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (bounded)")
    ap.add_argument("--no-extra", action="store_true", help="skip the wlc + persistence column")
    ap.add_argument("--haproxy-threads", type=int, default=None,
                    help="haproxy nbthread (default: haproxy's own, one per CPU)")
    ap.add_argument("--weight-repeat", type=int, default=10)
    ap.add_argument("--json", type=Path, help="write every run's numbers here")
    ap.add_argument("--proxy", action="store_true",
                    help="compare the userspace proxy data plane with haproxy (1 vs 1 and 2 vs 2 cores) only")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of: "
                    + ", ".join(WORKLOADS))
    args = ap.parse_args()
    for w in list(WORKLOADS):
        if w not in args.workloads.split(","):
            del WORKLOADS[w]
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    for tool in ("wrk", "nginx", "haproxy", "nft", "conntrack"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian packages wrk, nginx-light, haproxy, nftables, conntrack)")

    paths = list(PROXY_PATHS) if args.proxy else PATHS + ([] if args.no_extra else EXTRA_PATHS)
    results: dict[str, dict[str, list[dict[str, float]]]] = {p: {w: [] for w in WORKLOADS} for p in paths}
    tmp = Path(tempfile.mkdtemp(prefix="pk-dpbench-"))
    t_start = time.monotonic()
    try:
        with seed_topology() as lab:
            lab.add_address("lb1", "eth0", f"{SEED_FRONT_VIP}/24")
            lab.add_address("lb1", "eth1", f"{SEED_GATEWAY_VIP}/24")
            lab.add_address("client", "eth0", f"{DIRECT_SRC}/24")
            lab.run("client", ["ip", "route", "add", "192.168.0.0/24", "via", LB_FRONT, "src", DIRECT_SRC])
            lab.sysctl("client", {"net.ipv4.ip_local_port_range": "1024 65535", "net.ipv4.tcp_tw_reuse": 1})
            www = write_site(tmp)
            servers = {n: start_nginx(lab, n, tmp, www) for n in RS}
            for n, addr in RS.items():
                try:
                    wait_http(lab, "client", addr)
                except RuntimeError:
                    err = servers[n].stderr.read() if servers[n].poll() is not None and servers[n].stderr else ""
                    raise RuntimeError(f"nginx on {n} did not answer: {err}") from None
            status, size = call_in_netns(lab.ns("client"), http_get, RS["rs1"], f"/{BIG_FILE}")
            assert status == 200 and size == BIG_SIZE, (status, size)
            print(f"lab {lab.prefix}: client -> lb1 (VIP {SEED_FRONT_VIP}) -> rs1/rs2 nginx; "
                  f"wrk -t1 -d{args.duration:g}s, {args.rounds} rounds, "
                  f"connections {', '.join(f'{w}={c}' for w, (_, c, _) in WORKLOADS.items())}")

            # sanity: each path reaches the backends it should
            for p in paths:
                with path_setup(lab, p, tmp, args.haproxy_threads) as host:
                    if p.startswith(("haproxy", "proxy")):
                        seen = {"(full proxy: rs sees lb1's address)": 1}
                    else:
                        seen = backends_seen(lab, host)
                    print(f"  sanity {p:<10} -> {seen}")

            for rnd in range(args.rounds):
                order = paths[rnd % len(paths):] + paths[:rnd % len(paths)]
                for p in order:
                    client_cpus = PROXY_PATHS[p][1] if p in PROXY_PATHS else None
                    pin_backends(lab, servers, client_cpus)
                    with path_setup(lab, p, tmp, args.haproxy_threads) as host:
                        for w in WORKLOADS:
                            r = run_wrk(lab, host, w, args.duration, client_cpus)
                            results[p][w].append(r)
                            busy = " ".join(f"{k} {v:.0f}%" for k, v in r.items() if k.startswith("cpu"))
                            print(f"  round {rnd + 1} {p:<10} {w:<6} {r['rps']:>10,.0f} req/s  "
                                  f"p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  busy: {busy}"
                                  + (f"  LB CPU {r['lb_us']:.1f} us/req" if r["lb_us"] == r["lb_us"] else "")
                                  + (f"  errors {int(r['errors'])}" if r["errors"] else "")
                                  + (f"  PAWS-rejected SYNs {int(r['paws'])}" if r["paws"] else ""), flush=True)

            weights = None if args.proxy else weight_change_times(lab, args.weight_repeat)
            for proc in servers.values():
                lab.stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print_table(results, paths)
    if weights is None:
        print_ratios(results, [("proxy1", "haproxy1", 1.0), ("proxy2", "haproxy2", 1.0)])
        print()
        print("load balancer CPU per request (us, median; lower is better) and haproxy/proxy (>= 1: proxy cheaper)")
        for a, b in (("proxy1", "haproxy1"), ("proxy2", "haproxy2")):
            row = f"  {a + ' vs ' + b:<22}"
            for w in WORKLOADS:
                ua, ub = med([r["lb_us"] for r in results[a][w]]), med([r["lb_us"] for r in results[b][w]])
                row += f" | {w} {ua:.1f} vs {ub:.1f} ({ub / ua:.2f})"
            print(row)
        print("(proxy1/haproxy1: load balancer on CPU 1, wrk and nginx on CPU 0; "
              "proxy2/haproxy2: everything on CPUs 0-1)")
        print(f"total {time.monotonic() - t_start:.0f} s")
        if args.json:
            args.json.write_text(json.dumps({"results": results}, indent=1))
        return
    pairs: list[tuple[str, str, float | None]] = [
        ("pyk", "bare", 0.95), ("pyk", "haproxy", 1.0), ("bare", "direct", None), ("pyk", "direct", None),
        ("haproxy", "direct", None), ("bare1", "direct", None)]
    if "pyk-wlc-p" in results:
        pairs.append(("pyk-wlc-p", "bare1", None))
    print_ratios(results, pairs)
    a_ms = [t * 1e3 for t in weights["apply_s"]]
    d_ms = [t * 1e3 for t in weights["diff_apply_s"]]
    print()
    print(f"weight change, 1,000 services x 10 destinations (median of {len(a_ms)}): "
          f"apply {med(a_ms):.2f} ms (min {min(a_ms):.2f}, max {max(a_ms):.2f}); "
          f"diff + apply {med(d_ms):.2f} ms; target < 10 ms {'ok' if med(a_ms) < 10 else 'MISSED'}")
    print(f"  (initial load of the table {weights['load_s'] * 1e3:.0f} ms, observe() of it "
          f"{weights['observe_s'] * 1e3:.0f} ms, read back equals desired: {weights['read_back_matches']})")
    print(f"total {time.monotonic() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "weights": weights}, indent=1))


if __name__ == "__main__":
    main()
