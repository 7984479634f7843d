"""The nftables data plane's cost at rest: a 10,000-destination table reconciled every 2 s, before and after.

Run (root; one network namespace is created and removed; about 3 minutes, bounded by ``--window``):
``python bench/dataplane_rest.py [--services 1000] [--dests 10] [--window 30] [--schedulers wrr,wlc]
[--before REV] [--json FILE]``.  ``--ipvs`` measures the IPVS data plane the same way (a kernel with
ip_vs: ``scripts/run-in-vm -- python bench/dataplane_rest.py --ipvs``; under the VM's emulated CPU the
absolute figures are slower than on hardware, the ratio is what to read).

The table: ``--services`` virtual services (10.1.x.y:80) x ``--dests`` destinations each, NAT, weight 1,
for each scheduler of ``--schedulers`` (wrr: fixed dispatch; wlc, keepalived's default: dispatch
emulated from conntrack's counts).  Nothing changes while it is measured ("at rest": no traffic, no
health change, no other program committing to the ruleset).

Two loops, each run for ``--window`` seconds on the same kernel table, in the same process, as the
checker process's ``_tick`` does (reconcile, then wait ``reconcile_interval`` = 2 s):

* ``before``: the nftables data plane of commit ``--before`` (loaded from git, the code as it was
  before incremental observation) driven as the checker process drove it then: observe -> diff ->
  (apply -> observe) -> counters() -> maintain(counters), every period;
* ``after``: today's data plane driven by today's ``CheckerProcess._reconcile_sync`` (what the
  periodic reconcile calls: observe from memory while the ruleset's generation has not moved,
  maintain() fed with conntrack's counts only for count-driven schedulers, counters() only when status
  or metrics ask).

Printed per scheduler and loop: CPU seconds per reconcile (median), reconciles done, and CPU seconds
per minute of the loop (the process's CPU time over the window's wall time, x 60); then the CPU of one
status/metrics read (``counters()``: what a Prometheus scrape or ``pykeepalived status`` costs now,
at most once per ``counters_interval``), and the drift repair time after a hand edit of one element.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pykeepalived.config.loader import load_config_text
from pykeepalived.daemon.checker import RECONCILE_INTERVAL, CheckerOptions, CheckerProcess
from pykeepalived.lab.netns import add_netns, call_in_netns, del_netns, ip_batch, unique_prefix
from pykeepalived.lvs.dataplane.ipvs import IpvsDataPlane
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff

REPO = Path(__file__).resolve().parent.parent
#: per data plane: its module, class and the last commit before incremental observation
KINDS = {"nftables": ("src/pykeepalived/lvs/dataplane/nftables.py", "NftablesDataPlane", "9ee0e5b"),
         "ipvs": ("src/pykeepalived/lvs/dataplane/ipvs.py", "IpvsDataPlane", "d995512")}


def big_table(services: int, dests: int, scheduler: str) -> Table:
    out = []
    for i in range(services):
        key = ServiceKey.inet("tcp", f"10.1.{i // 250}.{i % 250 + 1}", 80)
        ds = tuple(Destination(DestKey.of(f"192.168.{1 + j}.{i % 250 + 1}", 80), 1) for j in range(dests))
        out.append(Service(key, scheduler, destinations=ds))
    return Table(tuple(out))


def load_before(kind: str, rev: str) -> ModuleType:
    """The data-plane module as it was at ``rev`` (same package, so its relative imports work)."""
    path = KINDS[kind][0]
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True,
                         text=True, check=True).stdout
    name = f"pykeepalived.lvs.dataplane._{kind}_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "pykeepalived.lvs.dataplane"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
    return mod


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rest_loop(step: Callable[[], None], window: float, interval: float) -> dict[str, Any]:
    """``step`` then a wait of ``interval``, as the checker's tick, for ``window`` seconds of wall time."""
    per: list[float] = []
    c_start, t_start = cpu(), time.monotonic()
    while time.monotonic() - t_start < window:
        c0 = cpu()
        step()
        per.append(cpu() - c0)
        time.sleep(interval)
    wall = time.monotonic() - t_start
    used = cpu() - c_start
    return {"reconciles": len(per), "cpu_per_reconcile": statistics.median(per), "cpu_max": max(per),
            "wall": wall, "cpu": used, "cpu_per_minute": used / wall * 60}


def before_step(dp: Any, desired: Table) -> Callable[[], None]:
    """The checker's _reconcile_sync at BEFORE_REV: a full observe, counters and maintain every period."""

    def step() -> None:
        observed = dp.observe()
        ops = diff(desired, observed)
        if ops:
            dp.apply(ops)
            dp.observe()
        counters = dp.counters()
        dp.maintain(counters)

    return step


def new_dataplane(kind: str, module: Any, table: Table) -> Any:
    if kind == "nftables":
        return module.NftablesDataPlane()
    dp = module.IpvsDataPlane(scoped=True)  # as the daemon runs it
    dp.claim(s.key for s in table.services)
    return dp


def hand_edit(kind: str, dp: Any, desired: Table) -> None:
    """Someone changes one destination by hand (nft / ipvsadm)."""
    svc = desired.services[len(desired.services) // 2]
    if kind == "ipvs":
        d = svc.destinations[0]
        subprocess.run(["ipvsadm", "-e", "-t", f"{svc.key.addr}:{svc.key.port}", "-r", f"{d.key.addr}:{d.key.port}",
                        "-m", "-w", "99"], check=True)
        return
    victim = dp._installed[svc.key]
    mark = (victim.sid << 16) | next(iter(victim.dest_ids.values()))
    edit = (f"delete element ip {dp.table} dst_{victim.sid} {{ {mark} }}\n"
            f'add element ip {dp.table} dst_{victim.sid} {{ {mark} comment "w=99 f=NAT u=0 l=0" '
            f": 192.0.2.1 . 80 }}\n")
    subprocess.run(["nft", "-f", "-"], input=edit, text=True, check=True)


def measure(kind: str, scheduler: str, args: argparse.Namespace, before_mod: ModuleType | None) -> dict[str, Any]:
    table = big_table(args.services, args.dests, scheduler)
    out: dict[str, Any] = {"scheduler": scheduler}
    config = load_config_text("global_defs {\n  router_id bench\n}\n").config
    assert config is not None
    today = sys.modules[(IpvsDataPlane if kind == "ipvs" else NftablesDataPlane).__module__]

    dp = new_dataplane(kind, today, table)
    dp.open()
    desired = dp.canonical(table)
    t0 = time.perf_counter()
    dp.apply(diff(desired, dp.observe()))
    out["load_seconds"] = time.perf_counter() - t0
    proc = CheckerProcess(config, CheckerOptions(dataplane=kind), dataplane=dp)
    try:
        proc._reconcile_sync(desired, counters=False)  # settle: the first maintain plans wlc's dispatch
        out["after"] = rest_loop(lambda: proc._reconcile_sync(desired, counters=False), args.window,
                                 RECONCILE_INTERVAL)
        out["after"]["full_reads"], out["after"]["reads_from_memory"] = dp.reads_full, dp.reads_skipped
        reads = []
        for _ in range(3):
            c0 = cpu()
            proc._read_counters()
            reads.append(cpu() - c0)
        out["status_read_cpu"] = statistics.median(reads)

        # drift: someone changes one element by hand; the next reconcile repairs it
        hand_edit(kind, dp, desired)
        ops_before = proc.ops_applied
        c0, t1 = cpu(), time.perf_counter()
        proc._reconcile_sync(desired, counters=False)
        out["repair"] = {"ops": proc.ops_applied - ops_before, "seconds": time.perf_counter() - t1,
                         "cpu": cpu() - c0}
        assert diff(desired, new_dataplane(kind, today, table).observe()) == [], "hand edit not repaired"

        if before_mod is not None:
            old = new_dataplane(kind, before_mod, table)
            old.open()
            step = before_step(old, desired)
            step()  # settle (adopts the table: no ops)
            out["before"] = rest_loop(step, args.window, RECONCILE_INTERVAL)
    finally:
        dp.release()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--window", type=float, default=30.0, help="seconds of each loop (bounded)")
    ap.add_argument("--schedulers", default="wrr,wlc")
    ap.add_argument("--ipvs", action="store_true", help="the IPVS data plane (needs a kernel with ip_vs)")
    ap.add_argument("--before", default=None, help="git revision of the 'before' data plane ('' to skip; "
                    f"default {', '.join(f'{k} {v[2]}' for k, v in KINDS.items())})")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a network namespace)")
    kind = "ipvs" if args.ipvs else "nftables"
    if args.before is None:
        args.before = KINDS[kind][2]
    before_mod = load_before(kind, args.before) if args.before else None

    ns = unique_prefix("pkrest") + "lb"
    add_netns(ns)
    # IPVS refuses a destination it has no unicast route to: give the real servers' network one
    ip_batch(ns, ["link set lo up", "link add rs0 type veth peer name rs0p", "link set rs0 up", "link set rs0p up",
                  "route add 192.168.0.0/16 dev rs0"])
    results = []
    try:
        for scheduler in args.schedulers.split(","):
            results.append(call_in_netns(ns, measure, kind, scheduler, args, before_mod))
    finally:
        del_netns(ns)

    n = args.services * args.dests
    print(f"{kind} data plane at rest: {args.services} services x {args.dests} destinations = {n:,}; "
          f"reconcile, then wait {RECONCILE_INTERVAL:g} s (the checker's tick); {args.window:g} s per loop; "
          f"before = {args.before or '-'}, after = working tree")
    print(f"{'scheduler':<10} {'loop':<7} {'CPU s/reconcile':>16} {'reconciles':>11} {'CPU s/minute':>13}")
    for r in results:
        for loop in ("before", "after"):
            if loop in r:
                m = r[loop]
                print(f"{r['scheduler']:<10} {loop:<7} {m['cpu_per_reconcile']:>16.4f} {m['reconciles']:>11d} "
                      f"{m['cpu_per_minute']:>13.3f}")
        if "before" in r:
            ratio = r["before"]["cpu_per_minute"] / max(r["after"]["cpu_per_minute"], 1e-9)
            print(f"{r['scheduler']:<10} before/after CPU per minute: {ratio:,.0f}x")
    for r in results:
        a = r["after"]
        print(f"{r['scheduler']}: after: {a['full_reads']} full reads, {a['reads_from_memory']} observe() from memory; "
              f"a status/metrics read (counters()) {r['status_read_cpu']:.3f} s CPU "
              f"(a scrape every 15 s adds {r['status_read_cpu'] * 4:.2f} s/minute); "
              f"hand edit of one element repaired by the next reconcile: {r['repair']['ops']} op(s), "
              f"{r['repair']['seconds'] * 1000:.0f} ms ({r['repair']['cpu']:.3f} s CPU); "
              f"table load {r['load_seconds']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=2))


if __name__ == "__main__":
    main()
