"""``pykeepalived lab scaleout up`` leaves the lab running; ``lab scaleout down``, from another process, stops exactly
what ``up`` started and removes it (issue 18, item 5).

Root and FRR: skipped only outside CI when FRR is missing (CI installs frr).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pykeepalived.lab import netns as nsmod
from pykeepalived.lab import scaleout as so
from pykeepalived.lab.running import Proc
from tests.conftest import IN_CI, require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]


def lab_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pykeepalived", "lab", "scaleout", *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def prefix() -> Iterator[str]:
    require_root()
    if so.find_frr("bgpd") is None or so.find_frr("zebra") is None:
        if IN_CI:
            pytest.fail("FRR's zebra/bgpd are not installed; CI must install frr")
        pytest.skip("FRR's zebra/bgpd not installed (apt-get install frr)")
    p = nsmod.unique_prefix("pkslc")
    try:
        yield p
    finally:  # whatever the test did, nothing of ours is left
        so.ScaleoutLab.attach(p).down()


def test_up_leaves_it_running_and_down_removes_exactly_it(prefix: str) -> None:
    up = lab_cli("up", "--prefix", prefix)
    print(up.stdout, up.stderr)
    assert up.returncode == 0
    lab = so.ScaleoutLab.attach(prefix)
    # up printed how to reach it
    assert f"ip netns exec {lab.ns('router')} vtysh --vty_socket {lab.frr('router').dir} -c 'show ip route'" \
        in up.stdout
    assert f"pykeepalived lab scaleout down --prefix {prefix}" in up.stdout
    # the command has exited; the lab runs on: three ECMP next hops on the router
    assert so.nexthops_in(lab.ns("router")) == {so.lb_edge(1), so.lb_edge(2), so.lb_edge(3)}
    routes = lab.vtysh("router", f"show ip route {so.VIP}/32")
    assert all(f"* {so.lb_edge(i)}, via eth0" in routes for i in (1, 2, 3)), routes
    # a request through the VIP, from the client namespace
    out = subprocess.run(nsmod.exec_argv(lab.ns("client"), [
        sys.executable, "-m", "pykeepalived.lab.scaleout", "client", "--sources", "16"]),
        capture_output=True, text=True, timeout=60).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 16 and all(r[2] is not None for r in rows), rows
    assert {r[3] for r in rows} <= {so.lb_back(i) for i in (1, 2, 3)}
    # what up recorded: every process alive, each in its own node's namespace
    procs = [Proc(**p) for p in json.loads((lab.dir / "state.json").read_text())["procs"]]
    assert len(procs) == 4 + 2 * 4 + 3  # real servers, zebra+bgpd on router and nodes, pykeepalived
    assert all(p.alive() for p in procs)

    down = lab_cli("down", "--prefix", prefix)
    print(down.stdout, down.stderr)
    assert down.returncode == 0
    assert f"checked: no route to {so.VIP}/32 left on the router" in down.stdout
    assert not [n for n in nsmod.list_netns() if n.startswith(prefix)]
    assert not [p for p in procs if p.alive()]
    assert not lab.dir.exists()
    # the root namespace never had (and has not now) a route to the VIP
    root = subprocess.run(["ip", "-j", "route", "show", f"{so.VIP}/32"], capture_output=True, text=True).stdout
    assert json.loads(root or "[]") == []
    # a second down finds nothing
    again = lab_cli("down", "--prefix", prefix)
    assert again.returncode == 0 and "Nothing to remove" in again.stdout


def test_up_refuses_when_the_lab_is_up_already(prefix: str) -> None:
    nsmod.add_netns(f"{prefix}router")  # what a running lab would hold
    up = lab_cli("up", "--prefix", prefix, timeout=60)
    assert up.returncode == 1
    assert f"namespaces {prefix}* exist already" in up.stdout
    assert f"pykeepalived lab scaleout down --prefix {prefix}" in up.stdout
    # the refusal did not remove someone's lab: it touched nothing (the fixture removes the namespace)
    assert f"{prefix}router" in nsmod.list_netns()
