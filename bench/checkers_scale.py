"""Checkers at the size of keepalived's largest reported configuration: 37,298 real servers on one core.

Run (as root, about two minutes): ``python bench/checkers_scale.py [--servers 37298] [--window 30]``.

Two network namespaces this bench creates and removes (prefix ``pkcs<pid>-``), joined by one veth:

* ``be``: the backends.  Every address of 10.200.0.0/16 is local there (one ``local`` route on lo, no
  address per server), and one haproxy (its own config, one thread, CPU 0) listens on 0.0.0.0:80 and
  answers every request with ``HTTP/1.0 200``.  So each real server is a distinct address that
  really answers: 10.200.x.y:80.
* ``chk``: the checker process, pinned to CPU 1.  It runs :class:`pykeepalived.check.runner.Runner`
  directly, with the checker process's own settings (:data:`pykeepalived.daemon.checker.MAX_IN_FLIGHT`
  checks in flight under the descriptor budget, ``settle_memory`` after start), on the configuration
  this bench generates: ``--servers`` real servers in ``--services`` virtual servers, half TCP_CHECK
  and half HTTP_GET (``url { path / status_code 200 }``), delay_loop 6 s, keepalived's defaults for
  connect_timeout and retries, warmup 6 s.  The data plane is not part of it (no reconcile).

After the start-up (bootstrap, warmup and one delay_loop), a window of ``--window`` seconds is measured
in the checker process: checks per second, CPU of the process (user and kernel, % of one core, and
per check), failed attempts (every backend is healthy, so each one is a false failure), real servers
reported down, and the lateness of every check (when it started minus when it was due: p50, p99 and
max).  Every step is bounded in time; the namespaces go away with everything in them, and the
processes started here are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DELAY_LOOP = 6.0
BACKEND_NET = "10.200.0.0/16"
#: bootstrap delay (1 s) + warmup + one full delay_loop before the window opens
SETTLE = 1.0 + DELAY_LOOP
TICKS = os.sysconf("SC_CLK_TCK")


def rs_addr(i: int) -> str:
    return f"10.200.{i // 250}.{i % 250 + 1}"


def keepalived_config(servers: int, services: int, warmup: float) -> str:
    """``servers`` real servers over ``services`` virtual servers; even ones TCP_CHECK, odd ones HTTP_GET."""
    per_vs = -(-servers // services)
    tcp = f"TCP_CHECK {{\n   warmup {warmup:g}\n  }}"
    http = f"HTTP_GET {{\n   url {{\n    path /\n    status_code 200\n   }}\n   warmup {warmup:g}\n  }}"
    parts = []
    for v in range(services):
        lo, hi = v * per_vs, min(servers, (v + 1) * per_vs)
        if lo >= hi:
            break
        parts.append(f"virtual_server 10.100.{v // 250}.{v % 250 + 1} 80 {{\n protocol TCP\n lb_algo rr\n"
                     f" delay_loop {DELAY_LOOP:g}\n")
        for i in range(lo, hi):
            check = tcp if i % 2 == 0 else http
            parts.append(f" real_server {rs_addr(i)} 80 {{\n  {check}\n }}\n")
        parts.append("}\n")
    return "".join(parts)


def backend_config(workdir: Path) -> str:
    return f"""global
  maxconn 9000
  pidfile {workdir}/backend.pid
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend backends
  bind 0.0.0.0:80 backlog 4096
  maxconn 9000
  http-request return status 200 content-type text/html string "<html>pykeepalived scale bench</html>"
"""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, int(p * 10) - 1))]


def proc_cpu(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


# ------------------------------------------------------------------------------ the checker process


async def measure(args: argparse.Namespace) -> dict[str, object]:
    from pykeepalived.check.runner import Runner
    from pykeepalived.check.state import Event, RealServerChanged
    from pykeepalived.config.loader import load_config_text
    from pykeepalived.daemon.checker import FD_HEADROOM, MAX_IN_FLIGHT, in_flight_budget, settle_memory
    from pykeepalived.daemon.runtime import raise_fd_limit

    t_load = time.monotonic()
    cfg = load_config_text(keepalived_config(args.servers, args.services, args.warmup)).config
    assert cfg is not None
    load_s = time.monotonic() - t_load
    loop = asyncio.get_running_loop()
    downs: list[tuple[float, str]] = []
    measuring = [False]

    def sink(events: list[Event]) -> None:
        if measuring[0]:
            downs.extend((loop.time(), str(e.rs.addr)) for e in events
                         if isinstance(e, RealServerChanged) and not e.alive)

    max_in_flight = in_flight_budget(raise_fd_limit(MAX_IN_FLIGHT + FD_HEADROOM))
    t_start = time.monotonic()
    runner = Runner(cfg.lvs.virtual_servers, on_events=sink, max_in_flight=max_in_flight)
    runner.start()
    settle_memory()
    start_s = time.monotonic() - t_start
    try:
        await asyncio.sleep(SETTLE + args.warmup)
        st = runner.stats
        st.lateness.clear()
        st.durations.clear()
        st.max_lateness = 0.0
        st.max_queue = 0
        a0, f0 = st.attempts, st.failures
        measuring[0] = True
        print("window", flush=True)  # the parent measures the backend over the same window
        c0, t0 = os.times(), loop.time()
        await asyncio.sleep(args.window)
        c1, t1 = os.times(), loop.time()
        measuring[0] = False
        attempts, failures = st.attempts - a0, st.failures - f0
        late, lat = list(st.lateness), list(st.durations)
        max_late, max_queue = st.max_lateness, st.max_queue
    finally:
        await runner.stop()
    wall = t1 - t0
    user, system = c1.user - c0.user, c1.system - c0.system
    kinds: dict[str, int] = {}
    for job in runner.jobs:
        name = type(job.probe).__name__
        kinds[name] = kinds.get(name, 0) + 1
    return {
        "servers": args.servers, "services": args.services, "checkers": kinds, "max_in_flight": max_in_flight,
        "config_load_s": load_s, "runner_start_s": start_s, "window_s": wall,
        "checks": attempts, "checks_per_s": attempts / wall, "due_per_s": len(runner.jobs) / DELAY_LOOP,
        "cpu_pct": (user + system) / wall * 100, "user_pct": user / wall * 100, "sys_pct": system / wall * 100,
        "us_per_check": (user + system) / attempts * 1e6 if attempts else float("nan"),
        "false_failures": failures, "rs_down": len(downs),
        "late_p50_ms": pct(late, 50) * 1e3, "late_p99_ms": pct(late, 99) * 1e3, "late_max_ms": max_late * 1e3,
        "attempt_p50_ms": pct(lat, 50) * 1e3, "attempt_p99_ms": pct(lat, 99) * 1e3, "max_queue": max_queue,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.cpu})
    print(json.dumps(asyncio.run(measure(args))), flush=True)


# ------------------------------------------------------------------------------------------ the lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, default=37_298)
    ap.add_argument("--services", type=int, default=2_284)
    ap.add_argument("--window", type=float, default=30.0, help="measurement window, seconds")
    ap.add_argument("--warmup", type=float, default=DELAY_LOOP, help="checkers' warmup, seconds")
    ap.add_argument("--cpu", type=int, default=1, help="the CPU the checker process runs on")
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of the checker process and the backend (shields them from other load on a "
                         "shared machine; the CPU they use is measured either way)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    if not 0 < args.servers <= 250 * 256:
        raise SystemExit("--servers: 1 .. 64000 (10.200.0.0/16, 250 per /24)")
    from pykeepalived.lab import netns

    prefix = netns.check_prefix(f"pkcs{os.getpid()}-")
    chk, be = f"{prefix}chk", f"{prefix}be"
    backend_cpu = 0 if args.cpu != 0 else 1
    budget = SETTLE + args.warmup + args.window + 240.0  # config load, start, stop: generous, but bounded
    backend: subprocess.Popen[bytes] | None = None
    checker: subprocess.Popen[str] | None = None
    try:
        for ns in (chk, be):
            netns.add_netns(ns)
        netns.ip(None, "link", "add", "cs0", "netns", chk, "type", "veth", "peer", "name", "cs1", "netns", be)
        netns.ip_batch(chk, ["link set lo up", "link set cs0 up", "addr add 10.254.0.1/30 dev cs0",
                             f"route add {BACKEND_NET} via 10.254.0.2"])
        netns.ip_batch(be, ["link set lo up", "link set cs1 up", "addr add 10.254.0.2/30 dev cs1",
                            f"route add local {BACKEND_NET} dev lo table local"])
        # ports for 37,298 x 1/6 s of fresh connections; the backend's side of each HTTP check ends in TIME_WAIT
        netns.set_sysctls(chk, {"net.ipv4.ip_local_port_range": "1024 65535"})
        netns.set_sysctls(be, {"net.core.somaxconn": 4096, "net.ipv4.tcp_max_syn_backlog": 8192,
                               "net.ipv4.tcp_max_tw_buckets": 400_000})
        with tempfile.TemporaryDirectory(prefix="pyka-scale-") as tmp:
            workdir = Path(tmp)
            (workdir / "backend.cfg").write_text(backend_config(workdir))
            niced = ["nice", "-n", str(args.nice)]
            backend = netns.popen(be, [*niced, "taskset", "-c", str(backend_cpu), "haproxy", "-db", "-f",
                                       str(workdir / "backend.cfg")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            if backend.poll() is not None:
                err = backend.stderr.read().decode() if backend.stderr else ""
                raise SystemExit(f"backend haproxy failed to start:\n{err}")
            probe = netns.run(netns.exec_argv(chk, ["curl", "-s", "-m", "2", f"http://{rs_addr(args.servers - 1)}/"]),
                              check=False)
            if "scale bench" not in probe.stdout:
                raise SystemExit(f"backend {rs_addr(args.servers - 1)} does not answer: {probe.stderr}")
            argv = [*niced, sys.executable, os.path.abspath(__file__), "--child", "--servers", str(args.servers),
                    "--services", str(args.services), "--window", str(args.window), "--warmup",
                    str(args.warmup), "--cpu", str(args.cpu)]
            print(f"{args.servers} real servers in {args.services} virtual servers, delay_loop {DELAY_LOOP:g} s, "
                  f"warmup {args.warmup:g} s; checker on CPU {args.cpu}, backend haproxy on CPU {backend_cpu} "
                  f"(both nice {args.nice}); "
                  f"window {args.window:g} s after {SETTLE + args.warmup:g} s", flush=True)
            checker = netns.popen(chk, argv, stdout=subprocess.PIPE, text=True)
            assert checker.stdout is not None
            end = time.monotonic() + budget
            ready, _, _ = select.select([checker.stdout], [], [], budget)
            if not ready or checker.stdout.readline().strip() != "window":
                raise SystemExit("checker process did not start its window in time")
            b0, bt0 = proc_cpu(backend.pid), time.monotonic()
            time.sleep(args.window)
            b1, bt1 = proc_cpu(backend.pid), time.monotonic()
            try:
                out, _ = checker.communicate(timeout=max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise SystemExit("checker process did not finish in time") from None
            if checker.returncode != 0 or not out.strip():
                raise SystemExit(f"checker process failed (exit {checker.returncode})")
            r = json.loads(out.strip().splitlines()[-1])
            backend_pct = (sum(b1) - sum(b0)) / (bt1 - bt0) * 100
    finally:
        for proc in (checker, backend):
            if proc is not None:
                netns.stop(proc)
        netns.cleanup_prefix(prefix)

    print(f"checkers: {r['checkers']}; max in flight {r['max_in_flight']}; config load {r['config_load_s']:.2f} s, "
          f"runner start {r['runner_start_s']:.2f} s; peak RSS {r['rss_mib']:.0f} MiB")
    print(f"window {r['window_s']:.1f} s: {r['checks']} checks, {r['checks_per_s']:.0f} checks/s "
          f"(due: {r['due_per_s']:.0f}/s)")
    print(f"CPU of the checker process: {r['cpu_pct']:.1f} % of one core (user {r['user_pct']:.1f} %, kernel "
          f"{r['sys_pct']:.1f} %), {r['us_per_check']:.1f} us per check; backend haproxy {backend_pct:.1f} %")
    print(f"false failures {r['false_failures']}, real servers reported down {r['rs_down']}")
    print(f"lateness (start - due): p50 {r['late_p50_ms']:.2f} ms, p99 {r['late_p99_ms']:.2f} ms, "
          f"max {r['late_max_ms']:.2f} ms; attempt duration p50 {r['attempt_p50_ms']:.2f} ms, "
          f"p99 {r['attempt_p99_ms']:.2f} ms; longest wait for a slot {r['max_queue']} checks")


if __name__ == "__main__":
    main()
