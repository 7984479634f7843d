"""Soak of the seed: wrk through the VIP while load balancers and web servers fail at random.

Run (root; bounded; everything happens in network namespaces that are removed afterwards):
``python bench/soak.py --duration 600 [--seed N] [--json]``.  The CI variant is
``tests/integration/test_seed_soak.py`` (60 s).

What runs: the seed (:class:`pykeepalived.lab.demo.SeedLab`: lb1/lb2 pykeepalived, rs1/rs2 and the sorry
server), wrk from the client in successive 5-second runs (``wrk -t1 -c4 --timeout 1s``, 5 ms between
requests on a connection, niced), and every
1.5-4 s a random event: lb1 or lb2 crashes (kill -9 of all its daemon processes and its cables pulled, as
a dead machine), stops cleanly (SIGTERM), loses its VRRP child or its checker child (kill -9; the supervisor
must restart it), or loses its supervisor (kill -9; its children must stop by themselves, and it is started
again); rs1 or rs2 loses its web server.  Each broken part comes back 2-6 s later; at most two are broken at
once.  Meanwhile both load balancers' addresses are sampled every 50 ms over netlink.

What must hold (checked by the test, reported here):

* no daemon crash: no ``Traceback`` and no unexpected ``child process(N) exited`` in the logs, and no
  daemon we did not stop ever exits;
* never both load balancers holding a VIP (10.0.0.5 or 192.168.0.1) for longer than one advert interval;
* after everything is restored the client gets pages again, and after stopping nothing is left:
  no namespaces with the run's prefix, none of the processes alive, no state directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pykeepalived.lab import netns as nsmod
from pykeepalived.lab.demo import (
    ADVERT_INT,
    LBS,
    REAL_SERVERS,
    URL,
    InNetns,
    Proc,
    SeedLab,
)
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP

VIPS = (SEED_FRONT_VIP, SEED_GATEWAY_VIP)
SAMPLE_EVERY = 0.05
WRK_CHUNK = 5


# -- who holds the VIPs: a netlink address dump every 50 ms in each lb's namespace ----------------

_RTM_GETADDR, _NLMSG_DONE, _NLMSG_ERROR = 22, 3, 2
_NLM_F_REQUEST, _NLM_F_DUMP = 1, 0x300
_IFA_ADDRESS, _IFA_LOCAL = 1, 2


def ipv4_addresses(sock: socket.socket, seq: int) -> set[str]:
    """Every IPv4 address in the socket's namespace (RTM_GETADDR dump; no subprocess)."""
    req = struct.pack("=IHHII", 16 + 8, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0)
    sock.send(req + struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0))
    out: set[str] = set()
    while True:
        data = sock.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, mtype, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
            if mtype in (_NLMSG_DONE, _NLMSG_ERROR) or length < 16:
                return out
            a = off + 16 + 8
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if atype in (_IFA_ADDRESS, _IFA_LOCAL) and alen == 8:
                    out.add(socket.inet_ntoa(data[a + 4:a + 8]))
                a += (alen + 3) & ~3
            off += (length + 3) & ~3


def sample_vips(stop: threading.Event, every: float) -> list[tuple[float, frozenset[str]]]:
    """Run inside an lb's namespace: (monotonic time, VIPs held) every ``every`` s until ``stop``."""
    samples: list[tuple[float, frozenset[str]]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:  # NETLINK_ROUTE
        sock.bind((0, 0))
        sock.settimeout(1.0)
        seq = 0
        while not stop.is_set():
            seq += 1
            t = time.monotonic()
            with contextlib.suppress(OSError):
                held = ipv4_addresses(sock, seq) & set(VIPS)
                samples.append((t, frozenset(held)))
            stop.wait(max(0.0, every - (time.monotonic() - t)))
    return samples


def held_intervals(samples: list[tuple[float, frozenset[str]]], vip: str) -> list[tuple[float, float]]:
    """Intervals during which ``vip`` was held, each stretched to the next sample that saw it gone."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    for t, held in samples:
        if vip in held and start is None:
            start = t
        elif vip not in held and start is not None:
            out.append((start, t))
            start = None
    if start is not None and samples:
        out.append((start, samples[-1][0]))
    return out


def longest_overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """The longest stretch during which both interval lists cover the same moment."""
    best = 0.0
    for s1, e1 in a:
        for s2, e2 in b:
            best = max(best, min(e1, e2) - max(s1, s2))
    return best


# -- wrk ------------------------------------------------------------------------------------------

_WRK_REQ = re.compile(r"(\d+) requests in")
_WRK_ERR = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass
class WrkTotals:
    runs: int = 0
    requests: int = 0
    socket_errors: int = 0
    non_2xx: int = 0

    def add(self, text: str) -> None:
        self.runs += 1
        if m := _WRK_REQ.search(text):
            self.requests += int(m[1])
        if m := _WRK_ERR.search(text):
            self.socket_errors += sum(int(x) for x in m.groups())
        if m := _WRK_NON2XX.search(text):
            self.non_2xx += int(m[1])


#: wrk's pause between requests on one connection (ms): 4 connections make at most ~800 requests/s,
#: load enough for the data plane without starving a shared 2-core machine
WRK_SCRIPT = "function delay()\n  return 5\nend\n"


def wrk_loop(seed: SeedLab, stop: threading.Event, totals: WrkTotals) -> None:
    """wrk in 5-second runs until ``stop`` (each run bounded by -d; the last may outlive stop by < 5 s)."""
    assert seed.lab is not None
    script = seed.dir / "soak.lua"
    script.write_text(WRK_SCRIPT)
    while not stop.is_set():
        argv = ["nice", "-n", "10", "wrk", "-t1", "-c4", f"-d{WRK_CHUNK}s", "--timeout", "1s",
                "-s", str(script), URL]
        t = time.monotonic()
        proc = seed.lab.popen("client", argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=WRK_CHUNK + 10)
        except subprocess.TimeoutExpired:
            seed.lab.stop(proc)
            continue
        if proc in seed.lab.processes:
            seed.lab.processes.remove(proc)
        totals.add(out)
        if time.monotonic() - t < 1.0:  # wrk gives up at once when its first connect fails
            stop.wait(0.5)


# -- the chaos ------------------------------------------------------------------------------------

@dataclass
class SoakReport:
    duration: float
    seed: int
    prefix: str
    events: list[str] = field(default_factory=list)
    wrk: WrkTotals = field(default_factory=WrkTotals)
    samples: int = 0
    overlap: dict[str, float] = field(default_factory=dict)  # VIP -> longest time both lbs held it
    crashes: list[str] = field(default_factory=list)
    final_answers: dict[str, int] = field(default_factory=dict)
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        w = self.wrk
        lines = [
            f"soak {self.duration:.0f} s (seed {self.seed}, prefix {self.prefix}): {len(self.events)} events",
            f"  wrk: {w.requests} requests in {w.runs} runs, {w.socket_errors} socket errors, {w.non_2xx} non-2xx",
            f"  VIP samples: {self.samples}; longest time both lbs held a VIP: "
            + ", ".join(f"{v} {s:.3f} s" for v, s in self.overlap.items())
            + f" (limit: one advert interval, {ADVERT_INT:g} s)",
            f"  daemon crashes: {len(self.crashes)}" + "".join(f"\n    {c}" for c in dict.fromkeys(self.crashes)),
            f"  after restoring everything, the client got: {self.final_answers}",
            f"  left behind after stop: {self.leftovers or 'nothing'}",
        ]
        return "\n".join(lines)


class Chaos:
    """Breaks and restores parts of the seed at random; knows which daemon exits it caused."""

    def __init__(self, seed: SeedLab, rng: random.Random, log: Callable[[str], None]) -> None:
        self.seed, self.rng, self.log = seed, rng, log
        self.broken: dict[str, float] = {}  # part -> when to restore it
        self.child_kills = {lb: 0 for lb in LBS}

    def step(self, now: float) -> None:
        for part, when in sorted(self.broken.items()):
            if when <= now:
                self.restore(part)
        candidates = [p for p in (*LBS, *REAL_SERVERS) if p not in self.broken]
        if len(self.broken) < 2 and candidates:
            part = self.rng.choice(candidates)
            self.break_(part, now)

    def break_(self, part: str, now: float) -> None:
        s = self.seed
        if part in REAL_SERVERS:
            s.stop_web(part)
            self.log(f"{part}: web server stopped")
        else:
            how = self.rng.choice(("crash", "term", "child"))
            if how == "crash":
                s.crash_lb(part)
                self.log(f"{part}: crashed (kill -9 of its daemons {sorted(s.last_killed)}, cables pulled)")
            elif how == "term":
                s.stop_lb(part)
                self.log(f"{part}: stopped (SIGTERM)")
            else:  # one of its processes: the VRRP child, the checker child or the supervisor
                pids = s.daemon_pids(part)
                which = self.rng.choice(("vrrp", "checkers", "parent"))
                index = {"parent": 0, "vrrp": 1, "checkers": 2}[which]
                if len(pids) <= index:
                    return
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pids[index], 9)
                if which != "parent":
                    self.child_kills[part] += 1
                    self.log(f"{part}: {which} child {pids[index]} killed (kill -9); the supervisor must restart it")
                    return  # nothing to restore: the supervisor does it
                # its children get SIGTERM (parent death signal) and stop cleanly; restored by a new start
                self.log(f"{part}: supervisor {pids[0]} killed (kill -9); its children must stop by themselves")
        self.broken[part] = now + self.rng.uniform(2.0, 6.0)

    def restore(self, part: str) -> None:
        s = self.seed
        del self.broken[part]
        if part in REAL_SERVERS:
            s.start_web(part)
            self.log(f"{part}: web server started")
            return
        s.unplug(part, up=True)
        s.start_lb(part)
        self.log(f"{part}: back (cables in, pykeepalived started)")

    def restore_all(self) -> None:
        for part in list(self.broken):
            self.restore(part)


def daemon_crashes(seed: SeedLab, child_kills: dict[str, int]) -> list[str]:
    """Tracebacks and unexpected child exits in the lbs' logs (our own VRRP-child kills excepted)."""
    found: list[str] = []
    for lb in LBS:
        try:
            text = seed.log_path(lb).read_text(errors="replace")
        except FileNotFoundError:
            continue
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if "Traceback" in line:  # the log line before it says what failed, the block says where
                block = [lines[i - 1]] if i else []
                for nxt in lines[i:i + 40]:
                    block.append(nxt)
                    if nxt and not nxt.startswith((" ", "Traceback")) and nxt is not line:
                        break
                found.append(f"{lb}: " + "\n".join(block[1:] if len(block) > 1 else block))
        exits = [line for line in text.splitlines() if "child process(" in line and "exited with status" in line]
        ours = [e for e in exits if e.rstrip().endswith("status -9")][: child_kills.get(lb, 0)]
        found += [f"{lb}: {e}" for e in exits if e not in ours]
    return found


def run_soak(duration: float, *, rng_seed: int | None = None, prefix: str | None = None,
             log: Callable[[str], None] = print, keep_logs: Path | None = None) -> SoakReport:
    """The soak (see the module docstring); always tears the lab down, and reports what was left."""
    rng_seed = rng_seed if rng_seed is not None else random.randrange(1 << 30)
    seed = SeedLab(prefix or nsmod.unique_prefix("pksoak"))
    seed.web_nice = 10
    report = SoakReport(duration, rng_seed, seed.prefix)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        line = f"[{time.monotonic() - t0:6.1f}s] {msg}"
        report.events.append(line)
        log(line)

    stop = threading.Event()
    samplers: dict[str, InNetns] = {}
    wrk: threading.Thread | None = None
    try:
        seed.up(wait=30)
        say("seed up: lb1 MASTER, rs1 and rs2 in the table")
        for lb in LBS:
            samplers[lb] = InNetns(seed.ns(lb), sample_vips, stop, SAMPLE_EVERY)
            samplers[lb].start()
        wrk = threading.Thread(target=wrk_loop, args=(seed, stop, report.wrk), daemon=True)
        wrk.start()
        chaos = Chaos(seed, random.Random(rng_seed), say)
        end = t0 + duration
        expected_down: set[str] = set()
        while time.monotonic() < end:
            chaos.step(time.monotonic())
            expected_down = {p for p in chaos.broken if p in LBS}
            for lb in LBS:  # a daemon we did not stop must still run
                proc = seed.procs.get(lb)
                if lb not in expected_down and (proc is None or not proc.alive()):
                    report.crashes.append(f"{lb}: daemon exited on its own")
                    say(f"{lb}: daemon exited on its own! starting it again")
                    seed.start_lb(lb)
            time.sleep(min(rng_wait(chaos.rng), max(0.0, end - time.monotonic())))
        chaos.restore_all()
        seed.wait_master("lb1", 20)
        for lb in LBS:
            seed.wait_table(lb, set(REAL_SERVERS.values()), 15)
        report.final_answers = dict(seed.get(20, sources=seed.add_clients(20, first=231)))
        say(f"everything restored; 20 new clients got {report.final_answers}")
        report.crashes += daemon_crashes(seed, chaos.child_kills)
    finally:
        stop.set()
        if wrk is not None:
            wrk.join(WRK_CHUNK + 12)
        samples: dict[str, list[tuple[float, frozenset[str]]]] = {}
        for lb, sampler in samplers.items():
            with contextlib.suppress(Exception):
                samples[lb] = sampler.result(5)
        report.samples = sum(len(v) for v in samples.values())
        if len(samples) == 2:
            for vip in VIPS:
                report.overlap[vip] = longest_overlap(held_intervals(samples["lb1"], vip),
                                                      held_intervals(samples["lb2"], vip))
        procs = list(seed.procs.values())
        if keep_logs is not None and seed.dir.exists():
            keep_logs.mkdir(parents=True, exist_ok=True)
            for f in seed.dir.glob("*.log"):
                shutil.copy(f, keep_logs / f.name)
        seed.down()
        report.leftovers = {k: v for k, v in leftovers_after(seed, procs).items() if v}
    return report


def rng_wait(rng: random.Random) -> float:
    return rng.uniform(1.5, 4.0)


def leftovers_after(seed: SeedLab, procs: list[Proc]) -> dict[str, list[str]]:
    """Namespaces with the prefix, our processes still alive, the state directory."""
    return {
        "namespaces": [n for n in nsmod.list_netns() if n.startswith(seed.prefix)],
        "processes": [f"{p.name} {p.pid}" for p in procs if p.alive()],
        "state": [str(seed.dir)] if seed.dir.exists() else [],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0, help="seconds of chaos (default 600)")
    p.add_argument("--seed", type=int, default=None, help="random seed (printed; reuse it to replay)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                   help="copy the daemons', web servers' and notify logs here before the lab is removed")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/soak.py needs root (network namespaces)", file=sys.stderr)
        return 4
    report = run_soak(args.duration, rng_seed=args.seed, keep_logs=args.keep_logs)
    print(json.dumps(asdict(report), indent=1) if args.json else report.summary())
    ok = (not report.crashes and not report.leftovers
          and all(v <= ADVERT_INT for v in report.overlap.values())
          and report.final_answers.get("errors", 0) == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
