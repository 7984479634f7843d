"""Failover time of pykeepalived against the protocol bound and against keepalived 2.2.7, same run.

Run (root, bounded; a lab of network namespaces is created and removed):
``python bench/failover.py [--trials 5] [--impl py,ka] [--cases v2-1,v3-0.1,v3-0.05]``.

Each trial: node a (priority 150) is master, node b (priority 100) backup, both running the same
implementation; a client probes the VIP over TCP every 5 ms.  Then the master either *crashes*
(SIGKILL of the VRRP process and its switch port cut at once: the host is gone) or *stops*
(SIGTERM: priority-0 advert).  Measured from an AF_PACKET capture on b with kernel timestamps:

* takeover = b's first advert - a's last advert (the quantity RFC 5798 bounds:
  3 × advert + skew after a crash, skew after a priority-0 advert);
* recovery = first TCP answer from b - the moment of the kill (what a client sees).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.lab.measure import (
    VIP,
    Node,
    Prober,
    Sniffer,
    down_bound,
    elect,
    node_ip,
    skew,
    start_servers,
    takeover,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab, two_node_lan

CASES = {"v2-1": (2, 1.0), "v3-0.1": (3, 0.1), "v3-0.05": (3, 0.05)}
IMPLS = {"py": "pykeepalived", "ka": "keepalived 2.2.7"}


@dataclass
class Trial:
    takeover: float
    recovery: float | None


def one_trial(lab: Lab, tmp: Path, impl: str, version: int, advert: float, mode: str, n: int) -> Trial:
    d = tmp / f"{impl}-{version}-{advert}-{mode}-{n}"
    (d / "a").mkdir(parents=True)
    (d / "b").mkdir()
    a = Node(lab, "a", impl, vrrp_conf(prio=150, version=version, advert=advert), d / "a")
    b = Node(lab, "b", impl, vrrp_conf(prio=100, version=version, advert=advert), d / "b")
    sn = Sniffer(lab, "b")
    bound = down_bound(version, advert, 100) if mode == "crash" else skew(version, advert, 100)
    try:
        a.start()
        elect(lab, "a", "b", 3 * down_bound(version, advert, 150) + 3)
        b.start()
        wait_for(lambda: "Entering BACKUP STATE (init)" in b.log(), 10, "b started")
        time.sleep(3 * advert + 0.2)  # b has heard the master: its down timer runs from a's adverts
        prober = Prober(lab, duration=bound + 1.5, every=0.005).start()
        time.sleep(0.3 + 0.37 * advert)  # not in phase with the adverts
        if mode == "crash":
            t0 = a.signal(signal.SIGKILL)
            lab.set_port("a", "eth0", False)
        else:
            t0 = a.signal(signal.SIGTERM)
        tk = takeover(sn, node_ip("a"), node_ip("b"), t0, bound + 5)
        prober.finish()
        back = prober.first_ok_from("b", t0)
        return Trial(tk.seconds, None if back is None else back - t0)
    finally:
        sn.close()
        b.stop()
        if mode == "crash":
            a.reap()
            lab.set_port("a", "eth0", True)
        a.stop()
        for node in ("a", "b"):
            lab.run(node, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"{statistics.median(values) * 1e3:8.1f} {min(values) * 1e3:8.1f} {max(values) * 1e3:8.1f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--impl", default="py,ka")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--modes", default="crash,stop")
    args = p.parse_args()
    impls = args.impl.split(",")
    rows: list[str] = []
    header = (f"{'implementation':18} {'case':8} {'mode':5} {'bound ms':>9} "
              f"| {'takeover ms med/min/max':>26} | {'over bound med':>14} "
              f"| {'client recovery ms med/min/max':>26}")
    with two_node_lan() as lab, tempfile.TemporaryDirectory(prefix="pkbench-") as tmp_s:
        tmp = Path(tmp_s)
        start_servers(lab)
        for case in args.cases.split(","):
            version, advert = CASES[case]
            for mode in args.modes.split(","):
                bound = down_bound(version, advert, 100) if mode == "crash" else skew(version, advert, 100)
                for impl in impls:
                    trials: list[Trial] = []
                    for n in range(args.trials):
                        with contextlib.suppress(AssertionError):
                            trials.append(one_trial(lab, tmp, impl, version, advert, mode, n))
                    tks = [t.takeover for t in trials]
                    recs = [t.recovery for t in trials if t.recovery is not None]
                    over = f"{(statistics.median(tks) - bound) * 1e3:+10.1f} ms" if tks else "-"
                    row = (f"{IMPLS[impl]:18} {case:8} {mode:5} {bound * 1e3:9.1f} | {ms(tks):>26} "
                           f"| {over:>14} | {ms(recs):>26}   ({len(trials)}/{args.trials} trials)")
                    rows.append(row)
                    print(row, flush=True)
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
