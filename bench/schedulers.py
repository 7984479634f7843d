"""Scheduler throughput: picks per second for 10 and 1,000 destinations, and mh table build time.

Run: ``python bench/schedulers.py [--picks N]``.  Picks use distinct flows (client address and
port vary) and connection counts that are not all equal, so least-connection scans do real work.
The userspace proxy needs one pick per new connection; compare these rates with its
connection rate.
"""

from __future__ import annotations

import argparse
import random
import time
from ipaddress import IPv4Address

from pykeepalived.lvs.schedulers import (
    MH_PRIMES,
    SCHEDULER_NAMES,
    Dest,
    Flow,
    hash_table,
    make_scheduler,
)


def service(n: int, rng: random.Random) -> list[Dest]:
    """n real servers with mixed weights and connection counts."""
    return [
        Dest(
            (IPv4Address(0xC0A80000 + 10 + i), 80),
            weight=rng.randint(1, 10),
            active_conns=rng.randint(0, 50),
            inactive_conns=rng.randint(0, 50),
        )
        for i in range(n)
    ]


def picks_per_second(name: str, dests: list[Dest], flows: list[Flow]) -> float:
    s = make_scheduler(name, ["sh-port"] if name in ("sh", "mh") else (), rng=random.Random(1))
    s.update(dests)
    start = time.perf_counter()
    for i, f in enumerate(flows):
        s.pick(f, dests, now=i * 1e-3)
    return len(flows) / (time.perf_counter() - start)


def build_ms(dests: list[Dest], size: int, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        hash_table("mh", dests, size)
    return (time.perf_counter() - start) / repeat * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--picks", type=int, default=20000, help="flows per scheduler and size")
    args = ap.parse_args()
    rng = random.Random(42)
    flows = [
        Flow(IPv4Address(rng.getrandbits(32)), rng.randint(1024, 65535), "10.0.0.5", 80)
        for _ in range(args.picks)
    ]
    sizes = (10, 1000)
    services = {n: service(n, rng) for n in sizes}
    print(f"picks/s ({args.picks} distinct flows each)")
    print(f"{'scheduler':10}" + "".join(f"{f'{n} dests':>14}" for n in sizes))
    for name in SCHEDULER_NAMES:
        rates = [picks_per_second(name, services[n], flows) for n in sizes]
        print(f"{name:10}" + "".join(f"{r:14,.0f}" for r in rates))

    print("\nmh table build (ms)")
    print(f"{'slots':>8}" + "".join(f"{f'{n} dests':>14}" for n in sizes))
    for size in MH_PRIMES[:7]:
        cells = [
            f"{build_ms(services[n], size, 10 if size < 20000 else 2):14.2f}" if n <= size else f"{'-':>14}"
            for n in sizes
        ]
        print(f"{size:8}" + "".join(cells))


if __name__ == "__main__":
    main()
