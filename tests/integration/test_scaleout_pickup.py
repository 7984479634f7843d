"""Connection pickup with N active nodes (issue 18): conntrackd shares every node's connections, NAT included.

The scaleout lab (:mod:`pykeepalived.lab.scaleout`) with ``pickup=True``: conntrackd on every load balancer, in
NOTRACK mode with both caches off, writes each node's conntrack entries straight into the other nodes' tables
over multicast on the back network.  Long-lived HTTP/1.1 connections (one per client address, a request every
0.1 s) run while lb1's pykeepalived is killed: the router moves lb1's flows to lb2 and lb3 (and, by Linux's
hash-threshold multipath, some of lb2's to lb3), and every connection must go on without an error, on the same
real server.  The control, in the same lab: with conntrackd stopped, connections that were on the killed node
are reset, so the first test would fail if the state sync did not work.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from pykeepalived.lab import scaleout as so
from tests.conftest import require_binary, require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

#: long-lived connections, one per client address, and how long they run (the kill is 3 s in)
CONNECTIONS, DURATION, KILL_AT = 24, 8.0, 3.0
Row = tuple[float, str, str | None, str, int]


@pytest.fixture(scope="module")
def lab() -> Iterator[so.ScaleoutLab]:
    require_root()
    require_binary("conntrackd")
    if so.find_frr("bgpd") is None or so.find_frr("zebra") is None:
        pytest.skip("FRR's zebra/bgpd not installed (apt-get install frr)")
    s = so.ScaleoutLab(pickup=True)
    try:
        s.up()
        yield s
    finally:
        for name in ("lb1", "conntrackd-lb1", "conntrackd-lb2"):
            log = s.log_path(name)
            if log.exists():
                print(f"--- {name}\n" + log.read_text(errors="replace")[-1500:])
        s.close()


def run_through_a_kill(lab: so.ScaleoutLab, victim: str = "lb1") -> tuple[list[Row], float]:
    """Long-lived connections while ``victim``'s pykeepalived is killed; returns the rows and the time the
    router's route lost the victim; then brings the victim back."""
    assert lab.lab is not None
    out = lab.workdir / "held.out"
    proc = lab.lab.popen("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "held", "--sources",
                                    str(CONNECTIONS), "--duration", str(DURATION), "--out", str(out)],
                         stdout=subprocess.DEVNULL)
    time.sleep(KILL_AT)
    t_kill = lab.kill_lb(victim)
    t_gone = lab.wait_nexthops(lab.everyone - {so.lb_edge(int(victim[2:]))}, timeout=10, poll=0.002)
    proc.wait(timeout=60)
    lab.lab.processes.remove(proc)
    rows = _rows(out)
    print(f"kill -9 of {victim}'s pykeepalived: route gone {1000 * (t_gone - t_kill):.0f} ms later; "
          f"{len(rows)} requests on {len({r[1] for r in rows})} connections")
    lab.start_lb(victim)
    lab.wait_nexthops(lab.everyone, timeout=30)
    return rows, t_gone


def _rows(path: object) -> list[Row]:
    text = path.read_text() if path.exists() else ""  # type: ignore[attr-defined]
    return [tuple(json.loads(line)) for line in text.splitlines() if line.endswith("]")]  # type: ignore[misc]


def per_connection(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r[1], []).append(r)
    return out


def test_long_lived_connections_of_a_killed_node_go_on_through_the_others(lab: so.ScaleoutLab) -> None:
    rows, t_gone = run_through_a_kill(lab)
    conns = per_connection(rows)
    first_node = {src: rs[0][3] for src, rs in conns.items()}
    print("connections per node (the real server sees the node that opened it):", dict(Counter(first_node.values())))
    on_victim = [src for src, node in first_node.items() if node == so.lb_back(1)]
    assert len(conns) == CONNECTIONS and on_victim, "every connection opened, some of them through lb1"
    errors = [r for r in rows if r[2] is None]
    assert errors == [], f"{len(errors)} failed requests: {errors[:5]}"
    for src, rs in conns.items():
        assert len({r[2] for r in rs}) == 1, f"{src} changed real server"
        after = [r for r in rs if r[0] > t_gone + 0.5]
        assert len(after) >= 10, f"{src} ({first_node[src]}) stopped after the kill: {len(after)} requests"
    print(f"{len(on_victim)} connections opened through lb1 went on through lb2/lb3 after its route left, and "
          f"the {CONNECTIONS - len(on_victim)} on the surviving nodes (some of which the router's hash-threshold "
          "multipath moves between them) too: 0 errors, no real server changed")


def test_without_the_state_sync_the_killed_nodes_connections_are_reset(lab: so.ScaleoutLab) -> None:
    """The control: the same kill with conntrackd stopped everywhere."""
    for i in range(1, lab.lbs + 1):
        lab._stop(f"conntrackd-lb{i}", grace=5)
    rows, _ = run_through_a_kill(lab)
    conns = per_connection(rows)
    on_victim = [src for src, rs in conns.items() if rs[0][3] == so.lb_back(1)]
    broken = [src for src in on_victim if conns[src][-1][2] is None]
    print(f"without conntrackd: {len(broken)} of the {len(on_victim)} connections opened through lb1 were broken")
    assert on_victim and broken == on_victim
