"""Reload at scale (issue 16): 2,284 virtual servers, 37,298 real servers, ten reloads under traffic.

Run as root: ``python bench/reload_scale.py [--reloads 10] [--wrk-seconds BOUND] [--load-runs 5]``.
Everything runs in network namespaces this script creates and removes:

    client (10.99.0.100) --veth-- lb (10.99.0.1 front, 10.98.0.1 back) --veth-- backends (10.98.0.2)

The virtual servers are addresses of 10.100.0.0/16 (port 80) routed to ``lb``; their real servers are
addresses of 192.168.0.0/16 (ports 8000 + n) routed to the backends namespace, which holds the whole
/16 as a local route (every address answers) served by one nginx.  pykeepalived runs the generated
configuration with the nftables data plane; two vrrp_instances advertise on ``lb``'s front link, where a
capture in the client namespace times every advert.  During each of ``--reloads`` reloads with changes
(services added and removed, weights and checkers changed, most untouched), wrk (bounded) sends
requests through a sample of the virtual servers.

It prints: failed requests, the time from HUP to the converged table per reload, the operations applied
against the minimum (the diff of the old and new desired tables), the peak RSS of each process, the
largest gap between adverts of each VRRP instance during the reloads, and keepalived 2.2.7's ``-t``
time on the same file beside pykeepalived's load time (each ``--load-runs`` times, every run shown).

The lab puts on one machine what a deployment spreads over several: nginx stands for the real servers and
wrk for the clients, and they take most of the CPU the load balancer would have to itself on its own host.
So the reloads alternate between two settings, both measured in the same run: the load balancer at the lab's
priority (odd reloads: it gets the share of one process among nginx, four wrk and the softirqs of their
traffic), and ahead of the lab's load (even reloads: every thread of the daemon reniced to ``--lb-nice``, as
``Nice=`` in its systemd unit would start it; nginx and wrk keep nice 0).  ``--lb-nice 0`` runs every reload
at the lab's priority.  ``--profile FILE`` records the daemon's processes during the reloads with py-spy
(raw format; py-spy on PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

#: the issue's figures
N_VS, N_RS = 2284, 37298
PREFIX = "pkrs"


@dataclasses.dataclass(frozen=True)
class Layout:
    """What the configuration holds; ``changes`` applied by :func:`mutate`."""

    n_vs: int = N_VS
    n_rs: int = N_RS
    #: service -> server index -> weight, for servers whose weight is not 1
    weights: tuple[tuple[tuple[int, int], int], ...] = ()
    #: services whose checkers were switched (TCP_CHECK <-> HTTP_GET)
    flipped: frozenset[int] = frozenset()
    #: services left out, services added past n_vs
    removed: frozenset[int] = frozenset()
    added: int = 0
    instances: int = 2


def vs_address(i: int) -> str:
    return f"10.100.{i // 250}.{i % 250 + 1}"


def rs_of(lay: Layout, i: int) -> list[tuple[str, int]]:
    """The real servers of service ``i``: 16 or 17 each so that the total is ``n_rs``."""
    base, extra = divmod(lay.n_rs, lay.n_vs)
    count = base + (1 if i % lay.n_vs < extra else 0)
    return [(f"192.168.{j}.{i % 250 + 1}", 8000 + i // 250) for j in range(count)]


def generate(lay: Layout) -> str:
    out = ["global_defs {", "    router_id lb1", "    vrrp_garp_master_delay 1", "    vrrp_garp_master_repeat 1",
           "}"]
    for n in range(lay.instances):
        out += [f"vrrp_instance VI_{n + 1} {{", "    state MASTER", "    interface front0",
                f"    virtual_router_id {n + 51}", "    priority 150", "    advert_int 1",
                "    virtual_ipaddress {", f"        10.99.{n + 1}.1/24", "    }", "}"]
    weights = dict(lay.weights)
    for i in range(lay.n_vs + lay.added):
        if i in lay.removed:
            continue
        out += [f"virtual_server {vs_address(i)} 80 {{", "    delay_loop 6", "    lb_algo wrr",
                "    lb_kind NAT", "    protocol TCP"]
        http = (i % 2 == 0) != (i in lay.flipped)
        for j, (ip, port) in enumerate(rs_of(lay, i)):
            out += [f"    real_server {ip} {port} {{", f"        weight {weights.get((i, j), 1)}"]
            if http:
                out += ["        HTTP_GET {", "            url {", "                path /health",
                        "                status_code 200", "            }", "            connect_timeout 3",
                        "            retry 2", "            delay_before_retry 2", "        }"]
            else:
                out += ["        TCP_CHECK {", "            connect_timeout 3", "            retry 2",
                        "        }"]
            out.append("    }")
        out.append("}")
    return "\n".join(out) + "\n"


def mutate(lay: Layout, step: int, sample: Sequence[int], rng: random.Random) -> Layout:
    """One reload's changes: 5 services removed, 5 added, 20 weights and 10 services' checkers changed;
    the ``sample`` (where the traffic goes) is never touched."""
    alive = [i for i in range(lay.n_vs + lay.added) if i not in lay.removed and i not in sample]
    removed = set(rng.sample(alive, 5))
    alive = [i for i in alive if i not in removed]
    weights = dict(lay.weights)
    for i in rng.sample(alive, 20):
        weights[(i, rng.randrange(16))] = 2 + step % 5
    flipped = set(lay.flipped) ^ set(rng.sample(alive, 10))
    return dataclasses.replace(lay, weights=tuple(sorted(weights.items())), flipped=frozenset(flipped),
                               removed=lay.removed | removed, added=lay.added + 5)


def desired(text: str) -> object:
    """The table this file asks for with every real server healthy (the start-up state)."""
    from pykeepalived.check.state import desired_table
    from pykeepalived.config.loader import load_config_text

    cfg = load_config_text(text, config_id="lb1", interfaces={"lo", "front0"}).config
    assert cfg is not None
    return desired_table(cfg.lvs.virtual_servers, {}, cfg.lvs.virtual_server_groups)


def minimum_ops(old: str, new: str) -> int:
    from pykeepalived.lvs.reconcile import diff

    return len(diff(desired(new), desired(old)))  # type: ignore[arg-type]


# -- config load: keepalived -t beside pykeepalived ------------------------------------------------

LOAD_SNIPPET = """
import resource, sys, time
from pykeepalived.config import load_config
t0, c0 = time.perf_counter(), time.process_time()
r = load_config(sys.argv[1], config_id="lb1")
t1, c1 = time.perf_counter(), time.process_time()
bad = [d for d in r.diagnostics if not d.info]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# a reload's load: the daemon's block cache holds the last load's services (here all unchanged)
from pykeepalived.config.block_cache import BlockCache
cache = BlockCache()
load_config(sys.argv[1], config_id="lb1", block_cache=cache)
t2 = time.perf_counter()
load_config(sys.argv[1], config_id="lb1", block_cache=cache)
print(f"{time.perf_counter() - t2:.3f} {t1 - t0:.3f} {c1 - c0:.3f} {len(bad)} {rss}")
"""


def timed(argv: Sequence[str]) -> tuple[float, float, int, str]:
    """Wall and CPU (user + sys) seconds of a command, its exit code and output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out = proc.stdout.read() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode, out


def compare_load(ns: str | None, path: Path, runs: int) -> None:
    """keepalived -t and pykeepalived's load of ``path``, alternated; in namespace ``ns`` (None: here, which
    only reads files: ``-t`` sends nothing)."""
    from pykeepalived.lab.netns import exec_argv

    def argv(cmd: list[str]) -> list[str]:
        return exec_argv(ns, cmd) if ns is not None else cmd

    rows = []
    for _ in range(runs):  # alternated, same run: the machine is shared
        ka_wall, ka_cpu, rc, out = timed(argv(["keepalived", "-t", "-f", str(path)]))
        if rc != 0:
            print(f"keepalived -t exit {rc}: {out.strip()[:500]}")
        _, _, rc2, out2 = timed(argv([sys.executable, "-c", LOAD_SNIPPET, str(path)]))
        warm, py_wall, py_cpu, n_bad, _rss = out2.split()[-5:] if rc2 == 0 else ("nan",) * 5
        rows.append((ka_wall, ka_cpu, float(py_wall), float(py_cpu), n_bad, float(warm)))
    print(f"config load, {runs} runs alternated (keepalived 2.2.7 `-t -f` whole command; pykeepalived "
          "load_config: read + parse + validate; a reload's: through the daemon's block cache, file unchanged):")
    for n, (kw, kc, pw, pc, bad, rw) in enumerate(rows, 1):
        print(f"  run {n}: keepalived {kw:.3f} s wall / {kc:.3f} s cpu; pykeepalived {pw:.3f} s wall / "
              f"{pc:.3f} s cpu ({bad} errors); ratio wall {pw / kw:.1f}x, cpu {pc / kc:.1f}x; "
              f"a reload's {rw:.3f} s ({rw / kw:.1f}x)")
    ratios = [row[2] / row[0] for row in rows]
    print(f"  ratio (wall) median {statistics.median(ratios):.1f}x, all: "
          + ", ".join(f"{r:.1f}" for r in ratios) + "; goal <= 3x")
    print(f"  a reload's load through the block cache: median {statistics.median(r[5] / r[0] for r in rows):.1f}x "
          "keepalived's -t")


# -- the lab ----------------------------------------------------------------------------------------

NGINX = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx.err warn;
events {{ worker_connections 8192; use epoll; }}
http {{
  access_log off;
  keepalive_timeout 30;
  keepalive_requests 1000000;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{
{listens}
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


@contextlib.contextmanager
def lab_up(work: Path, ports: int) -> Iterator[object]:
    from pykeepalived.lab.topology import Lab

    with Lab() as lab:
        lab.add_node("client")
        lab.add_node("lb", forwarding=True)
        lab.add_node("back")
        lab.add_node("mon")
        lab.add_bridge("front")
        lab.add_bridge("back")
        lab.connect("client", "eth0", "front", ["10.99.0.100/16"])
        lab.connect("mon", "eth0", "front", ["10.99.0.200/16"])
        lab.connect("lb", "front0", "front", ["10.99.0.1/16"])
        lab.connect("lb", "back0", "back", ["10.98.0.1/24"])
        lab.connect("back", "eth0", "back", ["10.98.0.2/24"])
        lab.add_route("client", "10.100.0.0/16", via="10.99.0.1")
        lab.add_route("lb", "192.168.0.0/16", via="10.98.0.2")
        lab.add_route("back", "10.99.0.0/16", via="10.98.0.1")
        lab.run("back", ["ip", "route", "add", "local", "192.168.0.0/16", "dev", "lo"])  # every address answers
        lab.sysctl("back", {"net.core.somaxconn": 8192, "net.ipv4.tcp_max_syn_backlog": 8192})
        # the checks open about 6,000 connections a second from lb, half of them HTTP_GETs closed gracefully as
        # keepalived's are: at conntrack's default 120 s in TIME_WAIT that is some 360,000 entries, past the default
        # nf_conntrack_max of 262,144 (a host-wide limit a namespace cannot raise).  A full table drops new
        # connections, checks and client requests alike ("nf_conntrack: table full" in the kernel log): an
        # operator at this rate sizes conntrack; the lab shortens TIME_WAIT in lb's namespace instead
        lab.sysctl("lb", {"net.netfilter.nf_conntrack_tcp_timeout_time_wait": CT_TIME_WAIT})
        listens = "\n".join(f"    listen {8000 + p} backlog=8192;" for p in range(ports))
        (work / "nginx.conf").write_text(NGINX.format(dir=work, listens=listens))
        lab.popen("back", ["nginx", "-c", str(work / "nginx.conf"), "-g", "daemon off;"])
        yield lab


# -- the run ----------------------------------------------------------------------------------------

#: lb's conntrack TIME_WAIT timeout (s): see lab_up
CT_TIME_WAIT = 10


def conntrack_use(ns: str) -> tuple[int, int]:
    """lb's conntrack table, as the daemon's own watch reads it: entries in use and the most it may hold."""
    from pykeepalived.lab.netns import call_in_netns
    from pykeepalived.lvs.conntrack_watch import read_conntrack_use

    use = call_in_netns(ns, read_conntrack_use)
    return (use.entries, use.limit) if use is not None else (0, 0)


OP_LINE = re.compile(r"\b(add|edit|delete) (service|dest) ")


class LogTail:
    """The daemon's log, read as it grows; every line stamped with the monotonic time it was seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.lines: list[tuple[float, str]] = []
        self._rest = ""

    def poll(self) -> None:
        with open(self.path, errors="replace") as f:
            f.seek(self.pos)
            data = f.read()
            self.pos = f.tell()
        now = time.monotonic()
        parts = (self._rest + data).split("\n")
        self._rest = parts.pop()
        self.lines += [(now, p) for p in parts]

    def ops_since(self, index: int) -> list[float]:
        return [t for t, line in self.lines[index:] if OP_LINE.search(line)]


def wait_ops(tail: LogTail, since: int, minimum: int, quiet: float, timeout: float) -> tuple[int, float | None]:
    """Wait until at least ``minimum`` operations are logged after line ``since`` and none for ``quiet``
    seconds: (operations, monotonic time of the last one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail.poll()
        ops = tail.ops_since(since)
        if len(ops) >= minimum and (not ops or time.monotonic() - ops[-1] >= quiet):
            return len(ops), ops[-1] if ops else None
        time.sleep(0.01)
    ops = tail.ops_since(since)
    return len(ops), ops[-1] if ops else None


WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def stages(tail: LogTail, since: int, t_hup: float) -> str:
    """Where a reload's time went, from the log lines' arrival (10 ms polls) after the HUP."""
    marks: dict[str, float] = {}
    seen_reloading = 0
    for t, line in tail.lines[since:]:
        if line.endswith("Reloading"):
            seen_reloading += 1  # the supervisor's first, then each child's once it has its part
            marks.setdefault("supervisor Reloading" if seen_reloading == 1 else "a child's Reloading", t)
        elif "health checkers kept" in line or "health checkers restart" in line or "servers unchanged" in line:
            marks.setdefault("checkers reconfigured", t)
        elif OP_LINE.search(line):
            marks.setdefault("first operation", t)
            marks["last operation"] = t
    return "stages after HUP: " + ", ".join(f"{k} {v - t_hup:.2f} s" for k, v in
                                            sorted(marks.items(), key=lambda kv: kv[1]))


def wrk_result(out: str) -> tuple[int, int]:
    """(requests, failed) from wrk's output."""
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    failed = sum(int(x) for x in WRK_ERRORS.search(out).groups()) if WRK_ERRORS.search(out) else 0  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return requests, failed + (int(m.group(1)) if m else 0) + (0 if m or requests else 1)


def daemon_pids(pid: int) -> list[int]:
    """The daemon's supervisor ``pid`` and its children."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


def peak_rss(pid: int) -> list[tuple[str, float]]:
    """VmHWM (MB) of ``pid`` and its children, named by their command."""
    out = []
    for p in daemon_pids(pid):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        name = "supervisor" if p == pid else next((c.decode() for c in cmd if c in (b"vrrp", b"checkers", b"bfd")),
                                                   cmd[0].decode())
        kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        out.append((f"{name} ({p})", kb / 1024))
    return out


def renice_daemon(pid: int, nice: int) -> None:
    """Every thread of ``pid`` and of its children at niceness ``nice`` (threads made later inherit it)."""
    for p in daemon_pids(pid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)


def advert_gaps(adverts: Sequence[object], since: float, until: float) -> dict[int, float]:
    by_vrid: dict[int, list[float]] = {}
    for a in adverts:
        if since <= a.t <= until:  # type: ignore[attr-defined]
            by_vrid.setdefault(a.vrid, []).append(a.t)  # type: ignore[attr-defined]
    return {v: max((b - a for a, b in itertools.pairwise(ts)), default=float("inf"))
            for v, ts in sorted(by_vrid.items())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--wrk-seconds", type=int, default=180,
                    help="bound of the traffic of one reload (it stops 1 s after the table converged)")
    ap.add_argument("--load-runs", type=int, default=5, help="keepalived -t / pykeepalived load runs")
    ap.add_argument("--vs", type=int, default=N_VS)
    ap.add_argument("--rs", type=int, default=N_RS)
    ap.add_argument("--sample", type=int, default=4, help="virtual servers wrk goes through")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--lb-nice", type=int, default=-10,
                    help="niceness of the daemon during the even reloads (0: every reload at the lab's priority)")
    ap.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the daemon during the reloads")
    ap.add_argument("--load-only", action="store_true",
                    help="only the config load: keepalived -t beside pykeepalived's load of the generated file")
    args = ap.parse_args()
    if args.load_only:
        if shutil.which("keepalived") is None:
            print("needs keepalived (apt-get install keepalived)")
            return 2
        with tempfile.TemporaryDirectory(prefix="reload_scale.") as tmp:
            conf = Path(tmp) / "keepalived.conf"
            text = generate(Layout(n_vs=args.vs, n_rs=args.rs))
            conf.write_text(text)
            print(f"config: {args.vs} virtual servers, {args.rs} real servers: {text.count(chr(10))} lines, "
                  f"{len(text) / 1e6:.1f} MB")
            compare_load(None, conf, args.load_runs)
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)")
        return 2
    missing = [t for t in ("nginx", "wrk", "keepalived") if shutil.which(t) is None]
    if missing:  # without nginx every request fails and every real server goes down: figures of nothing
        print(f"needs {', '.join(missing)} (apt-get install nginx wrk keepalived; scripts/install-system-packages "
              "test keeps their services from starting)")
        return 2
    from pykeepalived.lab.measure import Sniffer

    rng = random.Random(args.seed)
    lay = Layout(n_vs=args.vs, n_rs=args.rs)
    sample = sorted(rng.sample(range(lay.n_vs), args.sample))
    ports = (lay.n_vs + 5 * args.reloads) // 250 + 1
    with tempfile.TemporaryDirectory(prefix="reload_scale.") as tmp, lab_up(Path(tmp), ports) as lab:
        work = Path(tmp)
        conf = work / "keepalived.conf"
        text = generate(lay)
        conf.write_text(text)
        print(f"config: {lay.n_vs} virtual servers, {lay.n_rs} real servers (TCP_CHECK/HTTP_GET alternate, "
              f"delay_loop 6), {lay.instances} vrrp_instances: {text.count(chr(10))} lines, "
              f"{len(text) / 1e6:.1f} MB")
        compare_load(lab.ns("lb"), conf, args.load_runs)  # type: ignore[attr-defined]

        log_path = work / "daemon.log"
        log_file = open(log_path, "w")  # noqa: SIM115 - handed to the daemon
        daemon = lab.popen("lb", [sys.executable, "-m", "pykeepalived.cli", "-n", "-l", "-f", str(conf),  # type: ignore[attr-defined]
                                  "-p", str(work / "main.pid"), "--dataplane", "nftables"],
                           stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        tail = LogTail(log_path)
        sniffer = Sniffer(lab, "mon")  # type: ignore[arg-type]
        failed_total = requests_total = ct_peak = 0
        try:
            t0 = time.monotonic()
            first = len(desired(text).services) + sum(len(s.destinations) for s in desired(text).services)  # type: ignore[attr-defined]
            n, last = wait_ops(tail, 0, first, quiet=3.0, timeout=600)
            print(f"start: {n} operations (minimum {first}) in {(last or t0) - t0:.1f} s after the daemon started")
            time.sleep(7)  # a full delay_loop of checks
            tail.poll()
            print(f"health after one delay_loop: {sum(1 for _, ln in tail.lines if 'Disabling' in ln or 'DOWN' in ln)}"
                  " real servers went down")
            rows = []
            windows: list[tuple[int, float, float]] = []
            spy = None
            if args.profile:
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(daemon.pid), "--subprocesses", "-r", "250",
                                        "-f", "raw", "-o", args.profile, "--nonblocking"])
                time.sleep(2)
            for r in range(1, args.reloads + 1):
                nice = args.lb_nice if r % 2 == 0 else 0
                renice_daemon(daemon.pid, nice)
                new = mutate(lay, r, sample, rng)
                new_text = generate(new)
                minimum = minimum_ops(text, new_text)
                wrks = []
                for k, i in enumerate(sample):
                    hdr = ["-H", "Connection: close"] if k % 2 else []
                    # runs from before the HUP until after the table converged (stopped by SIGINT, on
                    # which wrk prints its summary), at most ``--wrk-seconds``
                    wrks.append(lab.popen("client", ["timeout", str(args.wrk_seconds + 10), "wrk", "-t1", "-c4",  # type: ignore[attr-defined]
                                                     "-d", f"{args.wrk_seconds}s", "--timeout", "2s", *hdr,
                                                     f"http://{vs_address(i)}/"],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                time.sleep(1.0)
                t_from = time.monotonic()
                conf.write_text(new_text)
                tail.poll()
                since = len(tail.lines)
                t_hup = time.monotonic()
                daemon.send_signal(signal.SIGHUP)
                n, last = wait_ops(tail, since, minimum, quiet=1.5, timeout=120)
                converged = (last - t_hup) if last is not None and n >= minimum else float("nan")
                print("  " + stages(tail, since, t_hup))
                time.sleep(1.0)
                windows.append((nice, t_from, time.monotonic()))
                for w in wrks:
                    w.send_signal(signal.SIGINT)
                outs = [w.communicate(timeout=args.wrk_seconds + 30)[0] for w in wrks]
                got = [wrk_result(o) for o in outs]
                for o, (_, bad) in zip(outs, got, strict=True):
                    if bad:
                        print("  wrk: " + o.strip().replace("\n", "\n  wrk: "))
                req, bad = sum(g[0] for g in got), sum(g[1] for g in got)
                requests_total += req
                failed_total += bad
                rows.append((r, converged, n, minimum, req, bad, nice))
                ct_peak = max(ct_peak, conntrack_use(lab.ns("lb"))[0])  # type: ignore[attr-defined]
                print(f"reload {r} (daemon at nice {nice}): HUP -> converged table {converged:.2f} s; "
                      f"operations {n} (minimum {minimum}); "
                      f"wrk {req} requests, {bad} failed")
                lay, text = new, new_text
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            adverts = sniffer.adverts()
            gaps = [(nice, advert_gaps(adverts, a, b)) for nice, a, b in windows]
            rss = peak_rss(daemon.pid)
            ct_max = conntrack_use(lab.ns("lb"))[1]  # type: ignore[attr-defined]
            from pykeepalived.lab.netns import call_in_netns
            from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
            from pykeepalived.lvs.reconcile import diff

            left_ops = call_in_netns(lab.ns("lb"), lambda: diff(desired(text), NftablesDataPlane().observe()))  # type: ignore[attr-defined, arg-type]
            left = len(left_ops)
            if left:  # keep the daemon's log for a look at what happened (the work directory goes)
                shutil.copy(log_path, Path(tempfile.gettempdir()) / "reload_scale-left.log")
            tail.poll()
            # what the checks said (a reload's own Removing/Adding lines are not these)
            # (a checker that has not run yet goes down at its first failure: "… failed.", no retries)
            health = [ln for _, ln in tail.lines if re.search(r"on service \S+ failed(\.| after)", ln)]
        finally:
            sniffer.close()
            lab.stop(daemon, grace=20)  # type: ignore[attr-defined]
        print("summary:")
        print(f"  failed requests: {failed_total} of {requests_total}")
        for nice in sorted({row[-1] for row in rows}, reverse=True):
            conv = [c for _, c, *_, rn in rows if rn == nice]
            who = "the lab's priority" if nice == 0 else f"nice {nice}, ahead of the lab's load"
            print(f"  HUP -> converged (s), daemon at {who}: " + ", ".join(f"{c:.2f}" for c in conv)
                  + f"; max {max(conv):.2f} (goal < 2 s)")
            worst: dict[int, float] = {}
            for gn, g in gaps:
                if gn == nice:
                    for v, t in g.items():
                        worst[v] = max(worst.get(v, 0.0), t)
            print("  largest advert gap during those reloads (advert_int 1 s): "
                  + ", ".join(f"vrid {v} {t:.3f} s" for v, t in sorted(worst.items())))
        print("  operations applied / minimum: " + ", ".join(f"{n}/{m}" for _, _, n, m, *_ in rows))
        print(f"  table after the last reload: {left} operations from the desired one (all real servers up)")
        for op in left_ops[:10]:
            print(f"    {op}")
        print(f"  real servers the checks took down since start: {len(health)}")
        for ln in health[:10]:
            print(f"    {ln}")
        print(f"  lb's conntrack entries after each reload: at most {ct_peak} of {ct_max} (TIME_WAIT {CT_TIME_WAIT} s)")
        print("  peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
