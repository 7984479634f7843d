"""The announce tether in a lab namespace: the routes exist while the holder runs and vanish with it, even on
SIGKILL (what lets the node's routing daemon withdraw a crashed pykeepalived's VIP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pykeepalived.lab.topology import Lab
from tests.conftest import require_root

pytestmark = pytest.mark.root

HOLD = """
import ipaddress, sys, time
from pykeepalived.announce.tether import Tether
from pykeepalived.config.model_announce import AnnounceConfig
t = Tether(AnnounceConfig(device="pkt9"))
t.open()
t.announce(ipaddress.ip_network("10.99.0.5/32"))
t.announce(ipaddress.ip_network("fd99::5/128"))
t.withdraw(ipaddress.ip_network("fd99::5/128"))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        lab.add_node("lb")
        yield lab


def routes(lab: Lab) -> list[str]:
    out = []
    for fam in ("-4", "-6"):
        text = lab.run("lb", ["ip", "-j", fam, "route", "show", "proto", "252"]).stdout
        out += [r["dst"] for r in json.loads(text or "[]")]
    return out


def test_routes_live_and_die_with_the_process_that_holds_the_device(lab: Lab) -> None:
    proc = lab.popen("lb", [sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert routes(lab) == ["10.99.0.5"]
    assert "pkt9" in lab.run("lb", ["ip", "link", "show"]).stdout
    t = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    lab.processes.remove(proc)
    while routes(lab) and time.monotonic() - t < 5:
        time.sleep(0.005)
    print(f"route gone {1000 * (time.monotonic() - t):.1f} ms after SIGKILL")
    assert routes(lab) == []
    assert "pkt9" not in lab.run("lb", ["ip", "link", "show"]).stdout
