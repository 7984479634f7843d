"""vrrp_/checker_/bfd_ priority, rt_priority, rlimit_rttime, no_swap and cpu_affinity applied as keepalived's
children apply them (lib/process.c set_process_priorities, set_process_cpu_affinity), read back in a child
process: os.sched_getscheduler, os.getpriority, os.sched_getaffinity, RLIMIT_RTTIME, VmLck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.process import RT_RLIMIT_DEFAULT, Priorities

CHILD = """
import json, os, resource, sys
from pykeepalived.process import Priorities, set_process_priorities
kind, p = sys.argv[1], json.loads(sys.argv[2])
p["cpu_affinity"] = tuple(p["cpu_affinity"])
applied = set_process_priorities(kind, Priorities(**p))
lck = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmLck:")]
print(json.dumps({"applied": applied, "policy": os.sched_getscheduler(0),
                  "rt": os.sched_getparam(0).sched_priority, "nice": os.getpriority(os.PRIO_PROCESS, 0),
                  "cpus": sorted(os.sched_getaffinity(0)), "rttime": resource.getrlimit(resource.RLIMIT_RTTIME),
                  "locked_kb": int(lck[0]) if lck else 0}))
"""

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


def test_cpu_affinity() -> None:
    cpu = max(os.sched_getaffinity(0))
    got = in_child("bfd", Priorities(cpu_affinity=(cpu,)))
    assert got["cpus"] == [cpu]


@root
def test_realtime_priority_with_keepalived_s_default_rttime_limit_and_the_nice_value_ignored() -> None:
    got = in_child("vrrp", Priorities(nice=5, rt_priority=20))
    assert got["policy"] == os.SCHED_RR | os.SCHED_RESET_ON_FORK and got["rt"] == 20
    assert got["rttime"] == [RT_RLIMIT_DEFAULT // 2, RT_RLIMIT_DEFAULT]
    assert got["nice"] == os.getpriority(os.PRIO_PROCESS, 0)  # keepalived: a realtime process keeps its nice


@root
def test_realtime_priority_with_a_configured_rttime_limit() -> None:
    got = in_child("vrrp", Priorities(rt_priority=1, rlimit_rttime=50000))
    assert got["policy"] == os.SCHED_RR | os.SCHED_RESET_ON_FORK and got["rt"] == 1 and got["rttime"] == [25000, 50000]


@root
def test_no_swap_locks_the_process_in_memory() -> None:
    got = in_child("vrrp", Priorities(no_swap=True))
    assert got["applied"] == ["mlockall"] and int(got["locked_kb"]) > 0  # type: ignore[call-overload]


def test_refused_settings_are_logged_as_keepalived_and_do_not_stop_the_process() -> None:
    got = in_child("bfd", Priorities(cpu_affinity=(4095,)))
    assert got["applied"] == [] and "unable to set cpu affinity to bfd process" in str(got["log"])
