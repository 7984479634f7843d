"""Checker scale: 10,000 real servers at delay_loop 1 s, TCP_CHECK then HTTP_GET, with haproxy as reference.

Run (as root, about a minute): ``python bench/checkers.py [--servers 10000] [--window 10]``.

Everything stays on 127.0.0.1.  The targets are one haproxy process (its own config and pid file)
answering ``HTTP/1.0 200`` on ``--ports`` listening ports; each real server is a distinct address
(10.200.x.y:80, never contacted) whose checker connects to 127.0.0.1:<one of the ports>.  A small
"victim" process serves 20 more real servers and is SIGKILLed mid-run to measure detection time
against keepalived's bound (delay_loop + retry × delay_before_retry; refused connects fail at once).

Phases, one after another so they do not share the CPU: pykeepalived TCP in keepalived's dialogue, the same
in haproxy's, haproxy TCP checks, pykeepalived HTTP, haproxy HTTP checks.

TCP_CHECK has two dialogues.  keepalived's completes the handshake (SYN, SYN-ACK, ACK) and closes in order (FIN),
so the server's kernel makes a connection, its listener accepts it, and the checker's side ends in TIME_WAIT;
haproxy's check never sends the last ACK (TCP_QUICKACK off, then an RST), so the server's kernel never makes
the connection.  On loopback the
server's side of that work runs in the checker's own system time, so keepalived's dialogue costs the checker
more kernel CPU whoever implements it.  pykeepalived uses keepalived's by default (a server may want to see the
connection); its haproxy-style phase is the like-for-like comparison of the two implementations, and both ratios
are printed.  The measured checker (this process during pykeepalived's phases,
haproxy's checker process during its own) runs on ``--cpu`` (default 1) and the target on the other CPUs;
everything runs at niceness ``--nice`` (default -10), so other load on a shared machine weighs on both
alike.  Printed per phase: checks/s done, CPU % of one core of the checker process, attempt latency
p50/p99, lateness p50/p99 (start minus due), false failures.  haproxy processes are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.check.probes import Probe
from pykeepalived.check.runner import Runner
from pykeepalived.check.state import Event, RealServerChanged, Result
from pykeepalived.config.loader import load_config_text
from pykeepalived.daemon.checker import settle_memory

DELAY_LOOP = 1.0
RETRY = 1
DELAY_BEFORE_RETRY = 0.5
CONNECT_TIMEOUT = 2.0
VICTIMS = 20
#: haproxy's CPU % of one core for 10,000 TCP / HTTP checks/s, measured on the machine where the issue's target
#: was set; this machine's speed varies, so results are scaled by it
REFERENCE_HAPROXY = {"tcp": 12.0, "http": 26.0}
TICKS = os.sysconf("SC_CLK_TCK")
#: ``--tcp-dialogue``: which TCP_CHECK phases run
DIALOGUES = {"both": ("keepalived", "haproxy"), "keepalived": ("keepalived",), "haproxy": ("haproxy",)}
HALF_OPEN_SUFFIX = " half-open"


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(p) - 1))]


# ----------------------------------------------------------------------------------- processes


#: the CPU(s) the measured checkers run on (empty: not pinned)
CHECKER_AFFINITY: set[int] = set()


def start_haproxy(cfg: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.cfg"
    path.write_text(cfg)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if name != "target" and CHECKER_AFFINITY:
        os.sched_setaffinity(proc.pid, CHECKER_AFFINITY)
    time.sleep(0.5)
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"haproxy ({name}) failed to start:\n{err}")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def target_config(ports: list[int], workdir: Path) -> str:
    binds = "\n".join(f"  bind 127.0.0.1:{p}" for p in ports)
    return f"""global
  maxconn 9000
  pidfile {workdir}/target.pid
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend targets
{binds}
  http-request return status 200 content-type text/html string "<html>pykeepalived bench</html>"
"""


def haproxy_checker_config(n: int, ports: list[int], http: bool, workdir: Path) -> str:
    servers = "\n".join(f"  server s{i} 127.0.0.1:{ports[i % len(ports)]} check" for i in range(n))
    chk = "  option httpchk\n  http-check send meth GET uri / ver HTTP/1.0\n" if http else ""
    return f"""global
  maxconn 4000
  pidfile {workdir}/checker.pid
  nbthread 1
  spread-checks 0
defaults
  mode {"http" if http else "tcp"}
  timeout connect {int(CONNECT_TIMEOUT * 1000)}ms
  timeout check {int(CONNECT_TIMEOUT * 1000)}ms
  timeout client 5s
  timeout server 5s
  default-server inter {int(DELAY_LOOP * 1000)}ms fall {RETRY + 1} rise 1
frontend unused
  bind 127.0.0.1:{free_ports(1)[0]}
  default_backend pool
backend pool
{chk}{servers}
"""


VICTIM_CODE = """
import socket, selectors, sys
sel = selectors.DefaultSelector()
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p))); s.listen(1024); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
        except OSError:
            continue
        try:
            c.settimeout(0.5)
            if c.recv(4096):
                c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\nok")
        except OSError:
            pass
        c.close()
"""


# --------------------------------------------------------------------------------- pykeepalived


class CountingProbe:
    """Wraps a probe to count its failed attempts (bench only: wraps the 20 victims, so that the
    checks against healthy targets run unwrapped and the bench adds no work to them)."""

    def __init__(self, inner: Probe, counter: list[int]) -> None:
        self.inner, self.counter = inner, counter

    def start(self, done: Callable[[Result], None]) -> None:
        def counted(r: Result) -> None:
            if not r.ok:
                self.counter[0] += 1
            done(r)

        self.inner.start(counted)

    def cancel(self) -> None:
        self.inner.cancel()


def keepalived_config(n: int, ports: list[int], victim_ports: list[int], http: bool) -> str:
    check_body = ("HTTP_GET {\n   url {\n    path /\n   }\n" if http else "TCP_CHECK {\n")
    parts = []
    per_vs = 1000
    total = n + len(victim_ports)
    for v in range((total + per_vs - 1) // per_vs):
        parts.append(f"virtual_server 10.100.{v // 250}.{v % 250 + 1} 80 {{\n protocol TCP\n lb_algo rr\n"
                     f" delay_loop {DELAY_LOOP}\n retry {RETRY}\n delay_before_retry {DELAY_BEFORE_RETRY}\n"
                     f" connect_timeout {CONNECT_TIMEOUT}\n")
        for i in range(v * per_vs, min(total, (v + 1) * per_vs)):
            port = ports[i % len(ports)] if i < n else victim_ports[i - n]
            parts.append(f" real_server 10.200.{i // 250}.{i % 250 + 1} 80 {{\n  {check_body}"
                         f"   connect_ip 127.0.0.1\n   connect_port {port}\n  }}\n }}\n")
        parts.append("}\n")
    return "".join(parts)


@dataclass
class PhaseResult:
    name: str
    checks_per_s: float
    cpu_pct: float
    latency_p50_ms: float = float("nan")
    latency_p99_ms: float = float("nan")
    late_p50_ms: float = float("nan")
    late_p99_ms: float = float("nan")
    failures: int = 0
    detection: str = ""

    def line(self) -> str:
        return (f"{self.name:<32} {self.checks_per_s:>9.0f} {self.cpu_pct:>6.1f} "
                f"{self.latency_p50_ms:>8.2f} {self.latency_p99_ms:>8.2f} {self.late_p50_ms:>8.2f} "
                f"{self.late_p99_ms:>8.2f} {self.failures:>6}  {self.detection}")


async def run_pykeepalived(name: str, n: int, ports: list[int], http: bool, window: float,
                           max_in_flight: int, target_pid: int, tcp_half_open: bool = False) -> PhaseResult:
    victim_ports = free_ports(VICTIMS)
    victim = subprocess.Popen([sys.executable, "-c", VICTIM_CODE, *map(str, victim_ports)],
                              stdout=subprocess.PIPE)
    assert victim.stdout is not None
    victim.stdout.readline()
    cfg = load_config_text(keepalived_config(n, ports, victim_ports, http)).config
    loop = asyncio.get_running_loop()
    downs: dict[str, float] = {}
    victim_names = {f"10.200.{i // 250}.{i % 250 + 1}" for i in range(n, n + VICTIMS)}

    def sink(events: list[Event]) -> None:
        now = loop.time()
        for e in events:
            if isinstance(e, RealServerChanged) and not e.alive:
                downs.setdefault(str(e.rs.addr), now)

    extra = {"tcp_half_open": True} if tcp_half_open else {}  # (absent from older runners: A/B runs)
    runner = Runner(cfg.lvs.virtual_servers, on_events=sink, max_in_flight=max_in_flight, **extra)
    runner.start()
    settle_memory()  # as the checker process does after start
    victim_failures = [0]
    for job in runner.jobs:  # false failures = all failed attempts minus those against the victims
        if str(job.rs.addr) in victim_names:
            job.probe = CountingProbe(job.probe, victim_failures)
    try:
        await asyncio.sleep(1.0 + DELAY_LOOP + 1.0)  # bootstrap + warmup spread + settle
        st = runner.stats
        a0, f0 = st.attempts, st.failures
        st.lateness.clear()
        st.durations.clear()
        c0, t0, tc0 = os.times(), loop.time(), proc_cpu(target_pid)
        await asyncio.sleep(window / 2)
        os.kill(victim.pid, signal.SIGKILL)
        killed = loop.time()
        await asyncio.sleep(window / 2)
        c1, t1, tc1 = os.times(), loop.time(), proc_cpu(target_pid)
        attempts, failures = st.attempts - a0, st.failures - f0
        lat, late = list(st.durations), list(st.lateness)
        false_failures = st.failures - victim_failures[0]
        await asyncio.sleep(max(0.0, killed + DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY + 1.0 - loop.time()))
        final_downs = dict(downs)  # stop() below reports everything down; that is not a check result
    finally:
        await runner.stop()
        victim.wait()
    cpu = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0) * 100
    sys_pct = (c1.system - c0.system) / (t1 - t0) * 100
    bound = DELAY_LOOP + RETRY * DELAY_BEFORE_RETRY
    det = sorted(final_downs[a] - killed for a in victim_names if a in final_downs)
    false_downs = sorted(set(final_downs) - victim_names)
    detection = (f"victims down {len(det)}/{VICTIMS}: detection min {det[0]:.3f} max {det[-1]:.3f} s, "
                 f"bound {bound:.1f} s, worst overshoot {max(0.0, det[-1] - bound) * 1000:.0f} ms"
                 if det else "no victim detected")
    if false_downs:
        detection += f"; FALSE DOWNS {len(false_downs)}"
    del failures
    detection += f"; of the CPU, kernel {sys_pct:.1f}%; target server {(tc1 - tc0) / (t1 - t0) * 100:.0f}%"
    return PhaseResult(name, attempts / (t1 - t0), cpu, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3,
                       pct(late, 50) * 1e3, pct(late, 99) * 1e3, false_failures, detection)


def run_haproxy(name: str, n: int, ports: list[int], http: bool, window: float, workdir: Path) -> PhaseResult:
    proc = start_haproxy(haproxy_checker_config(n, ports, http, workdir), workdir, f"checker-{name}")
    try:
        time.sleep(DELAY_LOOP + 2.0)
        c0, t0 = proc_cpu(proc.pid), time.monotonic()
        time.sleep(window)
        c1, t1 = proc_cpu(proc.pid), time.monotonic()
    finally:
        stop(proc)
    return PhaseResult(name, n / DELAY_LOOP, (c1 - c0) / (t1 - t0) * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=10_000)
    ap.add_argument("--ports", type=int, default=100, help="target listening ports on 127.0.0.1")
    ap.add_argument("--window", type=float, default=10.0, help="measurement window per phase, seconds")
    ap.add_argument("--max-in-flight", type=int, default=1024)
    ap.add_argument("--no-haproxy", action="store_true")
    ap.add_argument("--tcp-dialogue", choices=("both", "keepalived", "haproxy"), default="both",
                    help="TCP_CHECK phases: keepalived's dialogue (SYN, SYN-ACK, ACK, FIN: the server's kernel "
                         "makes the connection), haproxy's (SYN, SYN-ACK, RST: it never does), or both (default)")
    ap.add_argument("--only", choices=("tcp", "http"), help="run one checker type only")
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of the bench and every process it starts (as root: shields the measured "
                         "checkers and the target from other load on a shared machine, alike for both)")
    ap.add_argument("--cpu", type=int, default=1,
                    help="the CPU the measured checker runs on, pykeepalived's and haproxy's alike; the target "
                         "server runs on the others (-1: no pinning)")
    args = ap.parse_args()
    if args.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by the target, victims and haproxy
        except OSError as e:
            print(f"(niceness {args.nice} not set: {e})", file=sys.stderr)
    checker_cpus: set[int] | None = None
    if args.cpu >= 0 and len(os.sched_getaffinity(0)) > 1:
        checker_cpus = {args.cpu}
        CHECKER_AFFINITY.update(checker_cpus)
        os.sched_setaffinity(0, os.sched_getaffinity(0) - checker_cpus)  # the target starts off that CPU
    try:  # haproxy wants 2 × maxconn descriptors; root may raise the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (120_000, 120_000))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with tempfile.TemporaryDirectory(prefix="pyka-bench-") as tmp:
        workdir = Path(tmp)
        ports = free_ports(args.ports)
        target = start_haproxy(target_config(ports, workdir), workdir, "target")
        if checker_cpus is not None:
            os.sched_setaffinity(0, checker_cpus)  # pykeepalived's phases run here, haproxy's checker too
        results: list[PhaseResult] = []
        try:
            for http in (False, True):
                if args.only and args.only != ("http" if http else "tcp"):
                    continue
                kind = "HTTP_GET" if http else "TCP_CHECK"
                dialogues = [False] if http else [d == "haproxy" for d in DIALOGUES[args.tcp_dialogue]]
                for half_open in dialogues:
                    name = f"pykeepalived {kind}{HALF_OPEN_SUFFIX if half_open else ''}"
                    results.append(asyncio.run(run_pykeepalived(name, args.servers, ports, http, args.window,
                                                                args.max_in_flight, target.pid, half_open)))
                    print(results[-1].line(), flush=True)
                if not args.no_haproxy:
                    results.append(run_haproxy(f"haproxy {'http' if http else 'tcp'}", args.servers, ports,
                                               http, args.window, workdir))
                    print(results[-1].line(), flush=True)
        finally:
            stop(target)
    print()
    print(f"{args.servers} real servers, delay_loop {DELAY_LOOP} s, retry {RETRY}, delay_before_retry "
          f"{DELAY_BEFORE_RETRY} s, connect_timeout {CONNECT_TIMEOUT} s, max in flight {args.max_in_flight}")
    print(f"{'phase':<32} {'checks/s':>9} {'CPU%':>6} {'lat p50':>8} {'lat p99':>8} {'late p50':>8} "
          f"{'late p99':>8} {'false':>6}  detection")
    for r in results:
        print(r.line())
    by_name = {r.name: r for r in results}
    for name, hap, ref, what in (
            (f"TCP_CHECK{HALF_OPEN_SUFFIX}", "haproxy tcp", REFERENCE_HAPROXY["tcp"],
             "the same dialogue as haproxy's (SYN, SYN-ACK, RST)"),
            ("TCP_CHECK", "haproxy tcp", REFERENCE_HAPROXY["tcp"],
             "keepalived's dialogue (the handshake completed, then FIN) against haproxy's shorter one"),
            ("HTTP_GET", "haproxy http", REFERENCE_HAPROXY["http"], "the same dialogue")):
        ours, theirs = by_name.get(f"pykeepalived {name}"), by_name.get(hap)
        if ours is None or theirs is None or theirs.cpu_pct <= 0:
            continue
        per_check = ours.cpu_pct / ours.checks_per_s
        ratio = per_check / (theirs.cpu_pct / theirs.checks_per_s)
        print(f"{name}, {what}: CPU per check {ratio:.2f} x haproxy's (same run); at the reference machine's "
              f"speed (haproxy {ref:.0f} %) 10,000 checks/s would take {ratio * ref:.1f} % of a core (target < 50 %)")


if __name__ == "__main__":
    main()
