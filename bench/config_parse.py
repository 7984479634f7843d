"""Config load time: parse + validate 1,000 virtual servers x 10 real servers (HTTP_GET) + 255 VRRP instances.

Run: ``python bench/config_parse.py [--vs N] [--rs N] [--instances N] [--profile] [--keep-gc]``.
Prints the config size, the load time (best of ``--repeat`` runs, each on a fresh read of the
file) and the process's peak RSS.  Target on the development machine: under 1 s and 150 MB.
``--profile`` prints the 25 most expensive functions (cumulative) of one extra run.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import tempfile
import time
from pathlib import Path

from pykeepalived.config import load_config
from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.preprocess import read_config


def generate(n_vs: int, n_rs: int, n_instances: int) -> str:
    """A realistic big config: global_defs, VRRP instances with VIPs, HTTP_GET-checked services."""
    out = ["global_defs {", "    router_id bench", "}"]
    for i in range(n_instances):
        out += [
            f"vrrp_instance VI_{i} {{",
            "    state BACKUP",
            "    interface eth0",
            f"    virtual_router_id {i % 255 + 1}",
            f"    priority {100 + i % 100}",
            "    advert_int 1",
            "    virtual_ipaddress {",
            f"        10.{200 + i // 250}.{i % 250}.1/24",
            "    }",
            "}",
        ]
    for v in range(n_vs):
        out += [
            f"virtual_server 10.0.{v // 250}.{v % 250 + 1} 80 {{",
            "    delay_loop 6",
            "    lvs_sched wrr",
            "    lvs_method NAT",
            "    protocol TCP",
        ]
        for r in range(n_rs):
            out += [
                f"    real_server 192.168.{v // 25}.{(v % 25) * 10 + r + 1} 8080 {{",
                "        weight 1",
                "        HTTP_GET {",
                "            url {",
                "                path /health",
                "                status_code 200",
                "            }",
                "            connect_timeout 3",
                "            retry 3",
                "            delay_before_retry 3",
                "        }",
                "    }",
            ]
        out.append("}")
    return "\n".join(out) + "\n"


def load(path: Path, keep_gc: bool) -> tuple[float, int]:
    """Seconds to load ``path`` and the number of diagnostics.

    ``load_config`` pauses the cyclic GC itself; ``keep_gc`` only leaves it on around the call.
    """
    if not keep_gc:
        gc.disable()
    try:
        start = time.perf_counter()
        result = load_config(path, config_id="bench", interfaces={"lo", "eth0"})
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    assert result.config is not None
    return elapsed, len([d for d in result.diagnostics if not d.info])


def read_only(path: Path) -> float:
    """Seconds for just the reader (file -> logical lines): the baseline the parser adds to."""
    gc.disable()
    try:
        start = time.perf_counter()
        read_config(path, Diagnostics(), config_id="bench")
        return time.perf_counter() - start
    finally:
        gc.enable()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vs", type=int, default=1000)
    ap.add_argument("--rs", type=int, default=10)
    ap.add_argument("--instances", type=int, default=255)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep-gc", action="store_true", help="leave the cyclic GC on during the load")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    text = generate(args.vs, args.rs, args.instances)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_text(text)
        lines = text.count("\n")
        print(
            f"config: {args.vs} virtual servers x {args.rs} real servers (HTTP_GET), "
            f"{args.instances} vrrp_instances: {lines} lines, {len(text) / 1e6:.1f} MB"
        )
        rss_before = peak_rss_mb()
        times = []
        for _ in range(args.repeat):
            elapsed, n_diags = load(path, args.keep_gc)
            times.append(elapsed)
        peak_mb = peak_rss_mb()
        reads = [read_only(path) for _ in range(args.repeat)]
        print(
            f"load_config (read + parse + validate, gc {'on' if args.keep_gc else 'off'}): "
            f"best {min(times):.3f} s, worst {max(times):.3f} s over {args.repeat} runs; "
            f"{n_diags} diagnostics"
        )
        print(
            f"  of which reading (read_config alone): best {min(reads):.3f} s; "
            f"parse + validate: ~{min(times) - min(reads):.3f} s"
        )
        print(f"peak RSS: {peak_mb:.0f} MB ({rss_before:.0f} MB before the first load)")
        print(
            f"targets: < 1 s {'OK' if min(times) < 1 else 'MISSED'}, "
            f"< 150 MB {'OK' if peak_mb < 150 else 'MISSED'}"
        )
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(load_config, path, config_id="bench", interfaces={"lo", "eth0"})
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
