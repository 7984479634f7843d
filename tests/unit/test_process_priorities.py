"""vrrp_/checker_/bfd_ priority, rt_priority, rlimit_rttime, no_swap and cpu_affinity applied as keepalived's
children apply them (lib/process.c set_process_priorities, set_process_cpu_affinity), read back in a child
process: os.sched_getscheduler, os.getpriority, os.sched_getaffinity, RLIMIT_RTTIME, VmLck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.process import RT_RLIMIT_DEFAULT, Priorities, next_auto_priority

CHILD = """
import json, os, resource, sys
from pykeepalived.process import Priorities, reset_process_priorities, set_process_priorities
kind, p = sys.argv[1], json.loads(sys.argv[2])
p["cpu_affinity"] = tuple(p["cpu_affinity"])
def state():
    lck = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmLck:")]
    return {"policy": os.sched_getscheduler(0), "rt": os.sched_getparam(0).sched_priority,
            "nice": os.getpriority(os.PRIO_PROCESS, 0), "cpus": sorted(os.sched_getaffinity(0)),
            "rttime": list(resource.getrlimit(resource.RLIMIT_RTTIME)), "locked_kb": int(lck[0]) if lck else 0}
before = state()
applied = set_process_priorities(kind, Priorities(**p))
got = state()
reset_process_priorities()  # as the daemon's children before a reload and before they exit
print(json.dumps(dict(got, applied=applied, before=before, reset=state())))
"""

def can_raise_hard_limits() -> bool:
    """CAP_SYS_RESOURCE (bit 24) in this process's effective set (some containers drop it, even for root)."""
    status = Path("/proc/self/status").read_text().splitlines()
    eff = next(line.split()[1] for line in status if line.startswith("CapEff:"))
    return bool(int(eff, 16) >> 24 & 1)


root = pytest.mark.skipif(os.geteuid() != 0, reason="realtime scheduling and mlockall need root")


def in_child(kind: str, p: Priorities) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, json.dumps(asdict(p))], capture_output=True,
                         text=True, check=True, timeout=60)
    return dict(json.loads(out.stdout.splitlines()[-1]), log=out.stderr)


def test_the_settings_are_read_per_process_from_global_defs() -> None:
    cfg = load_config_text("global_defs {\n  vrrp_rt_priority 50\n  vrrp_rlimit_rttime 20000\n  vrrp_no_swap\n"
                           "  vrrp_cpu_affinity 0\n  checker_priority -5\n  bfd_priority 3\n}\n").config
    assert cfg is not None
    g = cfg.global_defs
    assert Priorities.of(g, "vrrp") == Priorities(None, 50, 20000, True, (0,))
    assert Priorities.of(g, "checkers") == Priorities(nice=-5)
    assert Priorities.of(g, "bfd") == Priorities(nice=3)


def test_nothing_configured_changes_nothing() -> None:
    got = in_child("vrrp", Priorities())
    assert got["applied"] == [] and got["policy"] == os.SCHED_OTHER
    assert got["nice"] == os.getpriority(os.PRIO_PROCESS, 0)
    assert got["cpus"] == sorted(os.sched_getaffinity(0))


def test_nice_value() -> None:
    got = in_child("checkers", Priorities(nice=5))
    assert got["nice"] == 5 and got["policy"] == os.SCHED_OTHER
    assert got["reset"] == got["before"]


def test_cpu_affinity() -> None:
    cpu = max(os.sched_getaffinity(0))
    got = in_child("bfd", Priorities(cpu_affinity=(cpu,)))
    assert got["cpus"] == [cpu]


@root
def test_realtime_priority_with_the_default_rttime_limit_and_the_nice_value_ignored() -> None:
    got = in_child("vrrp", Priorities(nice=5, rt_priority=20))
    assert got["policy"] == os.SCHED_RR | os.SCHED_RESET_ON_FORK and got["rt"] == 20
    assert got["rttime"] == [RT_RLIMIT_DEFAULT // 2, RT_RLIMIT_DEFAULT]
    assert got["nice"] == os.getpriority(os.PRIO_PROCESS, 0)  # keepalived: a realtime process keeps its nice
    # reset (before a reload, before exit): standard scheduling and the limit from before; without it the
    # interpreter's teardown outlasted keepalived's 10 ms budget and the kernel SIGKILLed the process (CI, stop 20)
    if can_raise_hard_limits():
        assert got["reset"] == got["before"]
    else:  # the lowered RLIMIT_RTTIME cannot be raised again; it binds realtime tasks only
        assert got["reset"] == dict(got["before"], rttime=got["rttime"])  # type: ignore[arg-type]


@root
def test_realtime_priority_with_a_configured_rttime_limit() -> None:
    got = in_child("vrrp", Priorities(rt_priority=1, rlimit_rttime=50000))
    assert got["policy"] == os.SCHED_RR | os.SCHED_RESET_ON_FORK and got["rt"] == 1 and got["rttime"] == [25000, 50000]


@root
def test_no_swap_locks_the_process_in_memory() -> None:
    got = in_child("vrrp", Priorities(no_swap=True))
    assert got["applied"] == ["mlockall"] and int(got["locked_kb"]) > 0  # type: ignore[call-overload]
    assert got["reset"]["locked_kb"] == 0  # type: ignore[index]


def test_refused_settings_are_logged_as_keepalived_and_do_not_stop_the_process() -> None:
    got = in_child("bfd", Priorities(cpu_affinity=(4095,)))
    assert got["applied"] == [] and "unable to set cpu affinity to bfd process" in str(got["log"])


def test_max_auto_priority_and_its_delay_are_read_from_global_defs() -> None:
    def of(text: str) -> Priorities:
        cfg = load_config_text(f"global_defs {{\n{text}\n}}\n").config
        assert cfg is not None
        return Priorities.of(cfg.global_defs, "vrrp")

    assert (of("").max_auto_priority, of("").min_auto_priority_delay) == (0, 1_000_000)  # keepalived's defaults
    assert of("max_auto_priority 7\nmin_auto_priority_delay 20000") == Priorities(max_auto_priority=7,
                                                                                  min_auto_priority_delay=20000)
    assert of("max_auto_priority").max_auto_priority == 99  # no value: sched_get_priority_max(SCHED_RR)
    assert of("max_auto_priority -1").max_auto_priority == 0  # keepalived's "no notice": never raised either


def test_a_late_process_goes_to_the_lowest_realtime_priority_then_one_up_each_time_to_the_maximum() -> None:
    assert [next_auto_priority(cur, 3) for cur in (0, 1, 2, 3, 7)] == [1, 2, 3, None, None]
    assert next_auto_priority(0, 0) is None  # max_auto_priority 0: never raised


def test_the_sampling_period_follows_min_auto_priority_delay_within_bounds() -> None:
    code = ("from pykeepalived.process import Priorities, set_process_priorities, lateness_period as p\n"
            "a = p()\n"
            "for d in (1000, 200000, 10_000_000):\n"
            "    set_process_priorities('vrrp', Priorities(min_auto_priority_delay=d)); print(p())\n"
            "print(a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert [float(x) for x in out.stdout.split()] == [0.005, 0.05, 0.25, 0.25]


LATE = """
import logging, os, sys
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
from pykeepalived.process import Priorities, raise_priority_when_late, reset_process_priorities, set_process_priorities
set_process_priorities("checkers", Priorities(max_auto_priority=2, min_auto_priority_delay=100000))
for lateness in (0.05, 0.1, 1.25, 0.5, 0.2):
    got = raise_priority_when_late(lateness)
    policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    print("->", got, policy, os.sched_getparam(0).sched_priority)
reset_process_priorities()
print("reset", os.sched_getscheduler(0))
"""


@root
def test_lateness_past_the_delay_is_logged_as_keepalived_and_raises_the_priority_up_to_the_maximum() -> None:
    out = subprocess.run([sys.executable, "-c", LATE], capture_output=True, text=True, check=True,
                         timeout=60).stdout.splitlines()
    out = [line for line in out if "realtime rlimit" not in line]  # without CAP_SYS_RESOURCE (see above)
    rr = os.SCHED_RR
    assert out == [
        "-> None 0 0", "-> None 0 0",  # not past 100 ms (0.1 is not past it either)
        "A thread timer expired 1.250000 seconds ago", "Set realtime priority 1", f"-> 1 {rr} 1",
        "A thread timer expired 0.500000 seconds ago", "Set realtime priority 2", f"-> 2 {rr} 2",
        "A thread timer expired 0.200000 seconds ago", f"-> None {rr} 2",  # at max_auto_priority: logged only
        "reset 0",
    ]


WATCH = """
import asyncio, logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
from pykeepalived import gcpause
from pykeepalived.daemon.child import watch_lateness
from pykeepalived.process import Priorities, reset_process_priorities, set_process_priorities

async def main():
    set_process_priorities("vrrp", Priorities(min_auto_priority_delay=20000))
    task = asyncio.get_running_loop().create_task(watch_lateness())
    async def block(label, before=None):
        await asyncio.sleep(0.05)
        print(label)
        if before is not None:
            before()
        time.sleep(0.1)  # the event loop held for 100 ms
        await asyncio.sleep(0.05)
    await block("plain")
    await block("settle", gcpause.settle_memory)
    await block("reloading", reset_process_priorities)
    await block("reloaded", lambda: set_process_priorities("vrrp", Priorities(min_auto_priority_delay=20000)))
    await block("after")
    task.cancel()

asyncio.run(main())
"""


def test_the_lateness_watch_counts_the_machine_not_the_process_own_reloads_and_memory_settles() -> None:
    out = subprocess.run([sys.executable, "-c", WATCH], capture_output=True, text=True, check=True,
                         timeout=60).stdout.splitlines()
    told = [line.split()[0] if not line.startswith("A thread") else "late" for line in out]
    # a held loop is told; one held by a memory settle, during a reload or across its end is not
    assert told == ["plain", "late", "settle", "reloading", "reloaded", "after", "late"], out
