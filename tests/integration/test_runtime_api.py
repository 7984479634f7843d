"""The runtime API in the seed lab: ``pykeepalived ctl`` against two running daemons under wrk traffic.

Drain rs1: its established (keep-alive) connections keep working, new connections all go to rs2 once the
command has answered (the checker reconciles before answering); undrain; a weight 20 -> 5 moves the split
to 5:8 within ±5 %; overrides show in ``status`` beside the checkers' verdict, survive a reload and a
crashed-and-restarted checker child, and ``reset`` drops them.  Persistence is off so the split is visible
from one client.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.demo import SeedLab
from pykeepalived.lab.netns import unique_prefix
from tests.conftest import require_binary, require_root

VIP = "10.0.0.5:80"
RS1, RS2 = "192.168.0.12:80", "192.168.0.13:80"

HOLD_OPEN = """
import http.client, sys
c = http.client.HTTPConnection("10.0.0.5", 80, timeout=5)
line = "first"
while line:
    c.request("GET", "/")
    print(c.getresponse().read().decode().strip(), flush=True)
    line = sys.stdin.readline()
"""


@pytest.fixture(scope="module")
def seed() -> Iterator[SeedLab]:
    require_root()
    s = SeedLab(unique_prefix("pkapi"), persistence=None)
    try:
        s.up(wait=30)
        yield s
    finally:
        s.down()


def ctl(seed: SeedLab, *words: str, lb: str = "lb1") -> tuple[int, dict[str, object]]:
    cp = subprocess.run([sys.executable, "-m", "pykeepalived", "ctl", "-p", str(seed.pid_file(lb)), "--json",
                         *words], capture_output=True, text=True, timeout=60)
    return cp.returncode, json.loads(cp.stdout)


def overrides_of(seed: SeedLab) -> dict[str, str]:
    doc = seed.status("lb1") or {}
    out = {}
    for vs in doc.get("virtual_services", []):
        for d in vs["destinations"]:
            out[f"{d['key']['addr']}:{d['key']['port']}"] = f"{d['health']} {d.get('override', '')}".strip()
    return out


def test_drain_under_traffic_then_weight_then_reset(seed: SeedLab) -> None:
    wrk = require_binary("wrk")
    assert seed.lab is not None
    held = seed.lab.popen("client", [sys.executable, "-c", HOLD_OPEN], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    assert held.stdin is not None and held.stdout is not None
    first = held.stdout.readline().strip()
    # keep-alive connections opened before the drain, some of them on rs1, running through it
    load = seed.lab.popen("client", [wrk, "-t1", "-c8", "-d6s", "http://10.0.0.5/"], stdout=subprocess.PIPE,
                          text=True)
    time.sleep(1.5)
    target = RS1 if first == "rs1" else RS2
    other = "rs2" if first == "rs1" else "rs1"
    code, answer = ctl(seed, "drain", VIP, target)
    assert code == 0 and answer["ok"], answer
    after = seed.get(20)
    assert after == {other: 20}, after  # every new connection avoids the drained server at once
    held.stdin.write("again\n")
    held.stdin.flush()
    assert held.stdout.readline().strip() == first  # the established connection still reaches it
    assert overrides_of(seed)[target] == "alive drained"  # the checker still runs under it
    out, _ = load.communicate(timeout=30)
    assert load.returncode == 0 and "Socket errors" not in out and "Non-2xx" not in out, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 100, out  # type: ignore[union-attr]
    held.stdin.close()
    held.wait(timeout=10)

    assert ctl(seed, "undrain", VIP, target)[0] == 0
    assert set(seed.get(14)) == {"rs1", "rs2"}
    code, answer = ctl(seed, "weight", VIP, RS1, "5")
    assert code == 0, answer
    split = seed.get(390)
    assert abs(split["rs1"] / 390 - 5 / 13) <= 0.05 and abs(split["rs2"] / 390 - 8 / 13) <= 0.05, split

    # a reload keeps the override (the server is still configured); so does a checker child's crash
    assert ctl(seed, "reload")[0] == 0
    assert overrides_of(seed)[RS1] == "alive weight 5"
    checker = [p for p in seed.daemon_pids("lb1")
               if "checkers" in Path(f"/proc/{p}/cmdline").read_text().split("\0")[3:4]]
    assert len(checker) == 1
    os.kill(checker[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and overrides_of(seed).get(RS1) != "alive weight 5":
        time.sleep(0.5)
    assert overrides_of(seed)[RS1] == "alive weight 5"

    code, answer = ctl(seed, "reset")
    assert code == 0 and answer["overrides"] == {"servers": [], "disabled_services": [], "instances": []}, answer
    assert overrides_of(seed)[RS1] == "alive"


def test_planned_handover_moves_the_vips_and_restore_takes_them_back(seed: SeedLab) -> None:
    """handover VI_FRONT on lb1: the sync group resigns with priority-0 adverts, lb2 takes both VIPs after
    its skew time and keeps them; the client loses at most what a clean stop costs (the seed test's bound:
    8 probe requests of 0.25 s); restore gives lb1 its priority back and it preempts."""
    probe = seed.start_probe(8, every=0.05, timeout=0.25)
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        code, answer = ctl(seed, "handover", "VI_FRONT")
        assert code == 0 and "VI_GATEWAY" in str(answer["message"]), answer  # the whole sync group
        t_vip = seed.wait_master("lb2", 10)
        time.sleep(2.5)  # lb1 (priority 1 now) must not take it back
        assert seed.vip_holders() == ["lb2"]
        assert set(seed.vrrp_states("lb1").values()) == {"BACKUP"}
    finally:
        probe.stop_event.set()  # type: ignore[attr-defined]
    results = probe.result(20)
    failed = sum(1 for r in results if not r.ok)
    print(f"handover: lb2 holds the VIPs {t_vip - t0:.2f} s after the command; {failed} of {len(results)} "
          "probe requests failed")
    assert failed <= 8, failed
    doc = seed.status("lb1") or {}
    assert doc.get("overrides", {}).get("instances") == ["VI_FRONT", "VI_GATEWAY"]
    assert "handed over (override): VI_FRONT, VI_GATEWAY" in seed.status_text("lb1")
    code, answer = ctl(seed, "handover", "VI_NOPE")
    assert code == 1 and "no vrrp_instance" in str(answer["error"]), answer
    assert ctl(seed, "restore", "VG1")[0] == 0
    seed.wait_master("lb1", 10)


def test_disable_and_errors(seed: SeedLab) -> None:
    assert ctl(seed, "disable", VIP, RS2)[0] == 0
    assert seed.get(10) == {"rs1": 10}
    assert ctl(seed, "enable", VIP, RS2)[0] == 0
    code, answer = ctl(seed, "drain", "10.0.0.9:80", RS1)
    assert code == 1 and "no virtual server tcp:10.0.0.9:80" in str(answer["error"]), answer
    code, answer = ctl(seed, "drain", VIP, "192.168.0.99:80")
    assert code == 1 and "not a real server" in str(answer["error"]), answer
    code, answer = ctl(seed, "drain", "10.0.0.5", RS1)
    assert code == 1 and "ADDRESS:PORT" in str(answer["error"]), answer
    assert set(seed.get(14)) == {"rs1", "rs2"}
