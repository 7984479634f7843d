"""Aggregate requests/s through 1, 2 and 3 active nodes behind ECMP (issue 18), in the scaleout lab.

The nodes not in the run are stopped (SIGTERM: they withdraw first); wrk in the client namespace keeps
``--connections`` HTTP/1.1 connections to the VIP, spread over the announcing nodes by the router's L4 hash.
Prints requests/s for each count and the ratio to one node.  On this 2-core machine every process (wrk, the
router, the nodes' forwarding, four Python real servers) shares the same two cores, so the real servers and the
cores bound the total, not the nodes: the ratio says whether adding nodes costs or gains anything here, not
what N machines would do.

    python bench/scaleout.py [--duration 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from pykeepalived.lab import scaleout as so


def wrk(lab: so.ScaleoutLab, duration: float, connections: int) -> tuple[float, int]:
    out = lab.lab.run("client", ["wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", "--timeout", "2s",
                                 f"http://{so.VIP}/"], timeout=duration + 60).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (float(m.group(1)) if m else 0.0), (sum(int(x) for x in errors.groups()) if errors else 0)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=64)
    a = p.parse_args()
    if os.geteuid() != 0 or so.find_frr("bgpd") is None:
        print("needs root and FRR (apt-get install frr)", file=sys.stderr)
        return 2
    results: dict[int, tuple[float, int]] = {}
    with so.ScaleoutLab() as lab:
        lab.up()
        everyone = {so.lb_edge(i) for i in (1, 2, 3)}
        lab.wait_nexthops(everyone, timeout=60)
        for n in (3, 2, 1):
            if n < 3:
                lab.stop_lb(f"lb{n + 1}")
            lab.wait_nexthops({so.lb_edge(i) for i in range(1, n + 1)}, timeout=30)
            results[n] = wrk(lab, a.duration, a.connections)
    base = results[1][0] or 1.0
    print(f"cores: {os.cpu_count()}, wrk -t2 -c{a.connections} -d{a.duration:g}s through {so.VIP}")
    for n in (1, 2, 3):
        rps, errs = results[n]
        print(f"{n} node(s): {rps:9.0f} requests/s  ratio {rps / base:4.2f}  socket errors {errs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
