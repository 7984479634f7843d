"""VRRP stability under CPU load: no spurious transitions at advert_int 0.05 (run by hand, bounded).

Two pykeepalived VRRP processes (VRRPv3, advert_int 0.05, priorities 150 and 100) in a two-node lab
LAN, while a CPU burner keeps both cores busy (one busy-loop process per core, at the same
priority as the daemons) for ``--duration`` seconds.  Counts every "Entering MASTER/BACKUP/FAULT
STATE" after the initial election and every advert the sniffer saw from the backup (a backup that
sends adverts has gone master).  Beside them, the longest wake-up lateness of a probe process (the
machine's own stalls), and for a gap above two adverts, when it came and what the probe saw then.
Baseline in the same run: the same measurement for keepalived 2.2.7 (``--keepalived``, default on
when installed).

    python bench/vrrp_stability.py --duration 600

``--priorities`` applies keepalived's process settings to both nodes (``vrrp_rt_priority 50`` -- SCHED_RR,
above the burners -- and ``vrrp_no_swap``; ``--global LINE`` adds any other global_defs line), as a
production configuration would: keepalived 2.2.7 gets the same configuration.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from pykeepalived.lab.measure import Sniffer, elect, node, node_ip, vrrp_conf
from pykeepalived.lab.topology import two_node_lan


def burn(until: float) -> None:
    x = 0
    while time.time() < until:
        x = (x * 31 + 7) % 1_000_003


def probe(until: float, rt_priority: int, out: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """The machine's own stalls, as a baseline for the daemons' advert gaps: a process that sleeps 5 ms at a
    time (at the daemons' SCHED_RR priority when they have one) and records how late it wakes.  A late wake-up
    here too says the whole machine (the VM's host) stalled, not the daemon."""
    if rt_priority:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(rt_priority))
    late: list[tuple[float, float]] = []
    worst = 0.0
    while (now := time.monotonic()) < until:
        time.sleep(0.005)
        lateness = time.monotonic() - now - 0.005
        worst = max(worst, lateness)
        if lateness > 0.02:
            late.append((now, lateness))
    out.put((worst, late[:50]))


def measure(kind: str, duration: float, advert: float, global_extra: tuple[str, ...] = (),
            rt_priority: int = 0) -> dict[str, float]:
    with two_node_lan() as lab, tempfile.TemporaryDirectory() as tmp:
        a = node(lab, Path(tmp), "a", kind, vrrp_conf(prio=150, advert=advert, global_extra=global_extra)).start()
        b = node(lab, Path(tmp), "b", kind, vrrp_conf(prio=100, advert=advert, global_extra=global_extra)).start()
        try:
            elect(lab, "a", "b", 10)
            time.sleep(1.0)
            base_a, base_b = a.log(), b.log()
            sniffer = Sniffer(lab, "client")
            t0 = time.monotonic()
            burners = [multiprocessing.Process(target=burn, args=(time.time() + duration,))
                       for _ in range(multiprocessing.cpu_count())]
            stalls: multiprocessing.SimpleQueue = multiprocessing.SimpleQueue()  # type: ignore[type-arg]
            prober = multiprocessing.Process(target=probe, args=(t0 + duration, rt_priority, stalls))
            for p in (*burners, prober):
                p.start()
            for p in (*burners, prober):
                p.join(duration + 30)
            elapsed = time.monotonic() - t0
            probe_worst, probe_late = stalls.get()
            from_b = len(sniffer.adverts(src=node_ip("b"), since=t0))
            from_a = sniffer.adverts(src=node_ip("a"), since=t0)
            sniffer.close()
            gaps = [(y.t - x.t, x.t) for x, y in itertools.pairwise(from_a)]
            worst_gap, at = max(gaps, default=(0.0, t0))
            if worst_gap > 2 * advert:  # when, and what the probe saw around it
                near = [f"{ms * 1000:.1f} ms at +{t - t0:.2f} s" for t, ms in probe_late if abs(t - at) < 1.0]
                print(f"  {kind}: longest gap {worst_gap * 1000:.1f} ms at +{at - t0:.2f} s; the probe's stalls "
                      f"within 1 s: {', '.join(near) or 'none'}")
            transitions = sum(
                log.count(f"Entering {s} STATE") - base.count(f"Entering {s} STATE")
                for log, base in ((a.log(), base_a), (b.log(), base_b))
                for s in ("MASTER", "BACKUP", "FAULT"))
            return {"seconds": elapsed, "transitions": transitions, "adverts_from_backup": from_b,
                    "adverts_from_master": len(from_a), "expected": elapsed / advert,
                    "max_gap_ms": worst_gap * 1000, "probe_ms": probe_worst * 1000,
                    "down_interval_ms": (3 * advert + (256 - 100) * advert / 256) * 1000}
        finally:
            a.stop()
            b.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--advert", type=float, default=0.05)
    ap.add_argument("--no-keepalived", action="store_true")
    ap.add_argument("--priorities", action="store_true", help="vrrp_rt_priority 50 and vrrp_no_swap on both nodes")
    ap.add_argument("--global", dest="global_extra", action="append", default=[], metavar="LINE",
                    help="a global_defs line for both nodes (repeatable)")
    args = ap.parse_args()
    extra = tuple(args.global_extra) + (("vrrp_rt_priority 50", "vrrp_no_swap") if args.priorities else ())
    kinds = ["py"] + ([] if args.no_keepalived or not shutil.which("keepalived") else ["ka"])
    print(f"VRRPv3 advert_int {args.advert}, {args.duration:.0f} s with every core busy"
          + (f"; global_defs: {', '.join(extra)}" if extra else ""))
    print(f"{'impl':12} {'seconds':>8} {'transitions':>11} {'backup adverts':>14} {'master adverts':>14} "
          f"{'of expected':>11} {'max gap ms':>10} {'bound ms':>8} {'probe ms':>8}")
    for kind in kinds:
        r = measure(kind, args.duration, args.advert, extra, 50 if args.priorities else 0)
        name = "pykeepalived" if kind == "py" else "keepalived"
        print(f"{name:12} {r['seconds']:8.1f} {r['transitions']:11.0f} {r['adverts_from_backup']:14.0f} "
              f"{r['adverts_from_master']:14.0f} {r['adverts_from_master'] / r['expected']:11.3f} "
              f"{r['max_gap_ms']:10.1f} {r['down_interval_ms']:8.1f} {r['probe_ms']:8.1f}")


if __name__ == "__main__":
    main()
