"""The runtime API's answer time under the seed load, against a status read in the same run.

Run (root; the seed lab of network namespaces is built and removed; every loop is bounded):
``python bench/control_api.py [--requests 200] [--connections 16]``.

The seed lab (two pykeepalived daemons, nftables data plane, persistence off) serves wrk through the VIP
(``-c CONNECTIONS``, for the whole run) while this process sends, over lb1's control socket, alternately
``drain`` and ``undrain`` of rs1 (each answered after the checker process has reconciled the data plane)
and, as the baseline, ``GET /status`` (the supervisor merging both children's status documents).  Prints
p50/p90/p99/max of both and the ratio of the p99s; wrk's requests/s and errors over the run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time

from pykeepalived.lab.demo import SeedLab
from pykeepalived.lab.netns import unique_prefix
from pykeepalived.paths import control_path_for
from pykeepalived.status.client import fetch, post


def quantiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p90": q[89] * 1000, "p99": q[98] * 1000, "max": xs[-1] * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200, help="API commands (and as many status reads)")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections through the VIP")
    args = ap.parse_args()
    seed = SeedLab(unique_prefix("pkbapi"), persistence=None)
    try:
        seed.up(wait=30)
        assert seed.lab is not None
        path = control_path_for(str(seed.pid_file("lb1")))
        duration = max(10, args.requests // 10 + 10)
        wrk = seed.lab.popen("client", ["wrk", "-t1", f"-c{args.connections}", f"-d{duration}s",
                                        "http://10.0.0.5/"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        api: list[float] = []
        status: list[float] = []
        for i in range(args.requests):
            body = {"command": "drain" if i % 2 == 0 else "undrain", "service": "10.0.0.5:80",
                    "server": "192.168.0.12:80"}
            t0 = time.perf_counter()
            code, raw = post(path, "/api/v1/command", json.dumps(body).encode())
            api.append(time.perf_counter() - t0)
            assert code == 200, raw
            t0 = time.perf_counter()
            code, _ = fetch(path, "/status")
            status.append(time.perf_counter() - t0)
            assert code == 200
        out, _ = wrk.communicate(timeout=duration + 30)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        a, s = quantiles(api), quantiles(status)
        print(f"seed load: wrk -c{args.connections}: {rps.group(1) if rps else '?'} req/s, "
              f"socket errors: {errors.group(1) if errors else 'none'}, non-2xx: "
              f"{'yes' if 'Non-2xx' in out else 'none'}")
        print(f"{'':22}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}   (ms, {args.requests} each)")
        for name, q in (("drain/undrain (API)", a), ("GET /status", s)):
            print(f"{name:22}" + "".join(f"{q[k]:9.1f}" for k in ("p50", "p90", "p99", "max")))
        print(f"API p99 / status p99 = {a['p99'] / s['p99']:.2f}")
    finally:
        seed.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
