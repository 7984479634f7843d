"""BFD detection time of pykeepalived against the RFC 5880 §6.8.4 bound, FRR's bfdd as the peer.

Run (root, bounded; a lab of network namespaces is created and removed; needs Debian's frr):
``python bench/bfd_detection.py [--trials 10] [--cases 50x3,20x3,10x3] [--methods nft,stop]``.

Each case ``IxM`` configures both sides with min_rx = min_tx = I ms and multiplier M, so the negotiated
detection time (the bound) is M x I.  Each trial cuts the path — ``nft``: FRR's packets dropped by an
nftables rule in pykeepalived's own namespace; ``stop``: bfdd stopped with SIGSTOP — and measures, on the
BFD process's own monotonic clock, the time from the last valid packet received to the session going Down
(the quantity the bound is about), then restores the path and waits for the session to be Up and quiet.
Printed: every trial, then per case min / median / max of (detected - bound), how many trials came
within the bound plus 1, 5 and 25 ms, how many came early (never expected) and how many cuts were spoilt by
the session flapping by itself (then run again).  The baseline, in the same lab: FRR's bfdd detecting
pykeepalived (its BFD process stopped with SIGSTOP), timed on the wire at bfdd's interface from our last
packet to bfdd's first packet saying Down (``--peer-trials``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pykeepalived.lab import bfd_peer as bp
from pykeepalived.lab.measure import Sniffer
from pykeepalived.lab.topology import Lab


def run_case(interval_ms: int, mult: int, trials: int, methods: list[str], workdir: Path,
             peer_trials: int) -> tuple[list[bp.Trial], list[bp.Trial]]:
    """Our detections (``trials``), then bfdd's detections of us (``peer_trials``), in one lab."""
    lab = Lab()
    results: list[bp.Trial] = []
    peer: list[bp.Trial] = []
    try:
        bp.bfd_pair(lab)
        frr = bp.FrrBfdd(lab, "frr", bp.frr_conf(interval_ms, mult)).start()
        py = bp.PyBfd(lab, "py", workdir / f"py-{interval_ms}x{mult}", bp.py_conf(interval_ms, mult)).start()
        sniffer = Sniffer(lab, "frr")
        try:
            py.wait_state("Up", 15.0)
            time.sleep(1.5)
            for i in range(trials):
                t = bp.detection_trial(lab, py, frr, methods[i % len(methods)])
                print("  " + t.line(), flush=True)
                results.append(t)
            for _ in range(peer_trials):
                t = bp.peer_detection_trial(lab, py, sniffer, interval_ms * mult / 1000)
                print("  " + t.line(), flush=True)
                peer.append(t)
        finally:
            sniffer.close()
            py.stop()
            frr.stop()
    finally:
        lab.close()
    return results, peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--cases", default="50x3,20x3,10x3")
    ap.add_argument("--methods", default="nft,stop")
    ap.add_argument("--peer-trials", type=int, default=None,
                    help="trials of FRR's bfdd detecting us, the baseline (default: as many as --trials)")
    args = ap.parse_args(argv)
    if bp.find_bfdd() is None:
        print("FRR's bfdd is not installed (apt-get install frr)", file=sys.stderr)
        return 2
    methods = args.methods.split(",")
    summary = []
    with tempfile.TemporaryDirectory(prefix="pk-bfd-bench-") as tmp:
        for case in args.cases.split(","):
            interval, mult = (int(x) for x in case.split("x"))
            print(f"case {case}: min_rx = min_tx = {interval} ms, multiplier {mult}, bound {interval * mult} ms",
                  flush=True)
            peer_trials = args.trials if args.peer_trials is None else args.peer_trials
            results, peer = run_case(interval, mult, args.trials, methods, Path(tmp), peer_trials)
            for who, trials in (("pykeepalived", results), ("FRR bfdd", peer)):
                if not trials:
                    continue
                late = [(t.detected_after - t.bound) * 1000 for t in trials]
                within = {s: sum(x <= s for x in late) for s in (1, 5, 25)}
                early = sum(x < -0.5 for x in late)
                flaps = sum(t.flaps for t in trials)
                summary.append((case, who, interval * mult, late, within, early, len(trials), flaps))
    print("\ncase     detector      bound  trials  late by (ms) min / median / max    within +1 / +5 / +25 ms"
          "   early  flaps")
    for case, who, bound, late, within, early, n, flaps in summary:
        print(f"{case:8s} {who:12s} {bound:4d} ms  {n:5d}   {min(late):+6.2f} / {statistics.median(late):+6.2f} / "
              f"{max(late):+6.2f}        {within[1]:3d} / {within[5]:3d} / {within[25]:3d}"
              f"          {early:5d}  {flaps}")
    print("(FRR bfdd: the same bound, bfdd detecting pykeepalived's BFD process stopped; its last packet and bfdd's "
          "Down packet timed by the kernel on bfdd's interface)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
