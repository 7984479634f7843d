"""Checkers under attack by malicious backends (issue 13), run by hand: ``python3 bench/hostile_backends.py``.

For each checker kind, ``--checks`` checks run at once against backends that send without a pause (an endless
well-formed reply, or garbage), from their own process on 127.0.0.1 (``tests/unit/check/hostile.py``; they
exit by themselves).  Printed per phase: checks that failed / ran, the slowest check against its deadline
(connect_timeout x the dialogue's steps), the event loop's longest stall (CPU time of the loop's thread
between two turns of a 5 ms probe task; the wall-clock lateness of that task beside it, which also counts the
machine's other tenants), and this process's peak RSS as a ratio of its idle RSS (measured once the checks
are built, before the attack).  Every phase must end with every check failed by its deadline.
About a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.check.hostile import LoopWatch, backend, make_cert, rss_bytes
from tests.unit.check.test_hostile_backends import UdpPing

from pykeepalived.check.probes import CHECK_STEPS, Probe, build_probe
from pykeepalived.check.probes.http import ssl_context_for
from pykeepalived.check.state import Result
from pykeepalived.config.loader import load_config_text

DIGEST = hashlib.md5(b"x").hexdigest()
PHASES: list[tuple[str, str, str, str]] = [
    # (label, backend kind, mode, checker block with {t})
    ("HTTP_GET digest, endless body", "http", "endless",
     f"HTTP_GET {{{{\n connect_timeout {{t}}\n url {{{{\n path /\n digest {DIGEST}\n }}}}\n }}}}"),
    ("HTTP_GET regex, endless body", "http", "endless",
     "HTTP_GET {{\n connect_timeout {t}\n url {{\n path /\n regex \"<p>(sick|down)</p>\"\n }}\n }}"),
    ("HTTP_GET digest+regex, endless", "http", "endless",
     f"HTTP_GET {{{{\n connect_timeout {{t}}\n url {{{{\n path /\n digest {DIGEST}\n regex \"sick\"\n }}}}\n }}}}"),
    ("SSL_GET digest, endless body", "ssl", "endless",
     f"SSL_GET {{{{\n connect_timeout {{t}}\n url {{{{\n path /\n digest {DIGEST}\n }}}}\n }}}}"),
    ("SMTP_CHECK, endless 220-", "smtp", "endless", "SMTP_CHECK {{\n connect_timeout {t}\n }}"),
    ("SMTP_CHECK, garbage", "smtp", "garbage", "SMTP_CHECK {{\n connect_timeout {t}\n }}"),
    ("DNS_CHECK, foreign replies", "dns", "endless", "DNS_CHECK {{\n connect_timeout {t}\n name ok.test\n }}"),
    ("DNS_CHECK, garbage", "dns", "garbage", "DNS_CHECK {{\n connect_timeout {t}\n name ok.test\n }}"),
    ("PING_CHECK, foreign replies", "ping", "endless", "PING_CHECK {{\n connect_timeout {t}\n }}"),
]
STEPS = {"http": CHECK_STEPS["HTTP_GET"], "ssl": CHECK_STEPS["SSL_GET"], "smtp": CHECK_STEPS["SMTP_CHECK"],
         "dns": CHECK_STEPS["DNS_CHECK"], "ping": CHECK_STEPS["PING_CHECK"]}


def probe(kind: str, port: int, checker: str, t: float, loop: asyncio.AbstractEventLoop) -> Probe:
    text = (f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n lb_algo rr\n"
            f" real_server 127.0.0.1 {port} {{\n{checker.format(t=t)}\n }}\n}}\n")
    vs = load_config_text(text).config.lvs.virtual_servers[0]
    rs = vs.real_servers[0]
    if kind == "ping":
        return UdpPing(port, rs.checkers[0], loop)
    ctx = ssl_context_for(None) if kind == "ssl" else None
    return build_probe(vs, rs, rs.checkers[0], loop, ssl_context=ctx)


async def attempt(p: Probe) -> tuple[Result, float]:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Result] = loop.create_future()
    t0 = loop.time()
    p.start(fut.set_result)
    r = await fut
    return r, loop.time() - t0


async def phase(label: str, kind: str, mode: str, checker: str, n: int, t: float,
                cert: tuple[Path, Path]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = STEPS[kind] * t
    ports_wanted = n if kind in ("http", "ssl") else 1
    with backend(kind, mode, lifetime=deadline + 20, ports=ports_wanted, max_conns=n + 10,
                 cert=cert if kind == "ssl" else None) as ports:
        probes = [probe(kind, ports[i % len(ports)], checker, t, loop) for i in range(n)]
        gc.collect()
        idle = rss_bytes()
        with LoopWatch() as watch:
            outcomes = await asyncio.gather(*(attempt(p) for p in probes))
    failed = sum(not r.ok for r, _ in outcomes)
    slowest = max(e for _, e in outcomes)
    ok = failed == n and slowest <= deadline + 0.5
    print(f"{label:34} {failed:4}/{n:<4} {slowest:6.2f} s / {deadline:5.2f} s  "
          f"{watch.worst_stall * 1000:6.1f} ms {watch.worst_lag * 1000:7.1f} ms  "
          f"{idle / 2**20:6.1f} MiB -> {watch.peak_rss / 2**20:6.1f} MiB  x{watch.peak_rss / idle:4.2f}"
          f"{'' if ok else '  <-- FAIL'}")
    return ok


async def main(n: int, t: float) -> int:
    with tempfile.TemporaryDirectory() as d:
        cert = make_cert(Path(d))
        print(f"{n} checks per phase, connect_timeout {t} s; backends on 127.0.0.1 in their own process")
        print(f"{'phase':34} {'failed':>9}  {'slowest / deadline':>18}  {'stall':>8} {'(wall)':>10}  "
              f"{'RSS idle -> peak':>22}  ratio")
        ok = True
        t_start = time.monotonic()
        for label, kind, mode, checker in PHASES:
            ok &= await phase(label, kind, mode, checker, n, t, cert)
        print(f"total {time.monotonic() - t_start:.0f} s: {'all checks failed by their deadline' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--checks", type=int, default=100, help="checks at once per phase (at most 190)")
    ap.add_argument("--timeout", type=float, default=1.5, help="connect_timeout, seconds")
    a = ap.parse_args()
    sys.exit(asyncio.run(main(min(a.checks, 190), a.timeout)))
