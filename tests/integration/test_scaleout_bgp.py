"""N active pykeepalived nodes behind ECMP, announced by BGP through FRR (issue 18), in lab namespaces.

A router (FRR zebra+bgpd, L4 multipath hash) peers with three load balancers, each running its own zebra+bgpd and
pykeepalived (nftables data plane, ``lb_algo mh``, full NAT, ``bgp_announce``); four real servers behind.  See
:mod:`pykeepalived.lab.scaleout` for the addresses and the BGP timers (keepalive 1 s, hold 3 s).
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
from tests.conftest import require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

ALL = {so.lb_edge(1), so.lb_edge(2), so.lb_edge(3)}
#: a killed pykeepalived's route leaves the router within this (the tun device dies with the process; zebra
#: and bgpd react to the route's deletion at once; no BGP timer is involved)
CRASH_WITHDRAW_BOUND = 1.0
#: requests in flight when the router's next hops change may fail: Linux's hash-threshold multipath moves some
#: flows between the surviving nodes too, and a node that did not see a connection start has no NAT state for it
#: (full NAT: its reply would come from another address; the real server resets it)
REHASH_WINDOW = 0.2
Row = tuple[float, str, str | None, str | None]


def only_at(failed: list[Row], t: float) -> bool:
    return all(abs(r[0] - t) <= REHASH_WINDOW for r in failed)


@pytest.fixture(scope="module")
def lab() -> Iterator[so.ScaleoutLab]:
    require_root()
    if so.find_frr("bgpd") is None or so.find_frr("zebra") is None:
        pytest.skip("FRR's zebra/bgpd not installed (apt-get install frr)")
    s = so.ScaleoutLab()
    try:
        s.up()
        s.wait_nexthops(ALL, timeout=60)
        yield s
    finally:
        for lb in ("lb1", "lb2", "lb3"):
            log = s.workdir / f"{lb}.log"
            if log.exists():
                print(f"--- {lb}\n" + log.read_text(errors="replace")[-2000:])
        s.close()


def requests(lab: so.ScaleoutLab, rounds: int = 4) -> list[Row]:
    out = lab.lab.run("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "client", "--rounds",
                                 str(rounds), "--sources", str(lab.sources)], timeout=300).stdout
    return [tuple(json.loads(line)) for line in out.splitlines()]  # type: ignore[misc]


def background(lab: so.ScaleoutLab, duration: float) -> subprocess.Popen[str]:
    """The client for ``duration`` seconds, writing to a file (a pipe nobody reads would stall it)."""
    out = lab.workdir / "client.out"
    return lab.lab.popen("client", [sys.executable, "-m", "pykeepalived.lab.scaleout", "client", "--duration",
                                    str(duration), "--sources", str(lab.sources), "--out", str(out)],
                         stdout=subprocess.DEVNULL)


def collect(proc: subprocess.Popen[str], lab: so.ScaleoutLab) -> list[Row]:
    proc.wait(timeout=120)
    lab.lab.processes.remove(proc)
    text = (lab.workdir / "client.out").read_text()
    return [tuple(json.loads(line)) for line in text.splitlines()]  # type: ignore[misc]


def mapping(rows: list[Row]) -> dict[str, str]:
    """source address -> real server; fails if one source reached two real servers (nodes disagree)."""
    seen: dict[str, set[str]] = {}
    for _, src, rs, _node in rows:
        if rs is not None:
            seen.setdefault(src, set()).add(rs)
    split = {s: r for s, r in seen.items() if len(r) > 1}
    assert not split, f"sources that reached several real servers: {split}"
    return {s: next(iter(r)) for s, r in seen.items()}


def test_every_node_announces_and_ecmp_spreads_flows_over_all_three(lab: so.ScaleoutLab) -> None:
    rows = requests(lab)
    assert all(r[2] is not None for r in rows), [r for r in rows if r[2] is None][:5]
    per_node = Counter(r[3] for r in rows)
    print("requests per node:", dict(per_node))
    assert set(per_node) == {so.lb_back(1), so.lb_back(2), so.lb_back(3)}
    assert min(per_node.values()) >= len(rows) / 3 * 0.5
    # each source address reached one real server, whichever node ECMP chose for each of its connections
    m = mapping(rows)
    assert len(m) == lab.sources and len(set(m.values())) == lab.real_servers


def test_a_killed_pykeepalived_is_withdrawn_at_once_and_flows_keep_their_real_server(
        lab: so.ScaleoutLab) -> None:
    before = mapping(requests(lab, rounds=2))
    bg = background(lab, 6.0)
    time.sleep(2.0)
    t_kill = lab.kill_lb("lb2")
    t_gone = lab.wait_nexthops(ALL - {so.lb_edge(2)}, timeout=10, poll=0.002)
    rows = collect(bg, lab)
    withdraw = t_gone - t_kill
    failed = [r for r in rows if r[2] is None]
    print(f"kill -9 of lb2's pykeepalived -> route gone from the router in {withdraw * 1000:.1f} ms; "
          f"{len(rows)} requests, {len(failed)} failed")
    for r in failed:
        print(f"  failed: started {r[0] - t_kill:+.3f} s after the kill, from {r[1]}: {r[3]}")
    assert withdraw < CRASH_WITHDRAW_BOUND
    # lb2's data plane stays in its kernel (as keepalived's would): requests it still got were served; only
    # connections in flight at the moment the router's next hops changed can fail
    assert only_at(failed, t_gone)
    after_rows = [r for r in rows if r[0] > t_gone + 0.05]
    assert so.lb_back(2) not in {r[3] for r in after_rows}
    assert mapping(rows) == before  # every flow kept its real server, moved or not
    # back again: the route returns once the checkers have run
    t_start = time.monotonic()
    lab.start_lb("lb2")
    t_back = lab.wait_nexthops(ALL, timeout=30)
    print(f"lb2 restarted -> announced again after {t_back - t_start:.2f} s")
    assert mapping(requests(lab, rounds=2)) == before


def test_a_stopping_node_withdraws_before_its_data_plane_goes(lab: so.ScaleoutLab) -> None:
    bg = background(lab, 5.0)
    time.sleep(1.5)
    t0 = time.monotonic()
    lab.stop_lb("lb3")
    t_stopped = time.monotonic()
    rows = collect(bg, lab)
    failed = [r for r in rows if r[2] is None]
    t_last = max(r[0] for r in rows if r[3] == so.lb_back(3))
    print(f"SIGTERM of lb3: stopped in {t_stopped - t0:.2f} s, last request through lb3 started "
          f"{(t_last - t0) * 1000:.0f} ms after the signal; {len(rows)} requests, {len(failed)} failed")
    assert so.router_nexthops(lab.lab) == ALL - {so.lb_edge(3)}
    # withdrawn, then the data plane kept for withdraw_delay (0.5 s): nothing new reaches lb3 by then
    assert t_last < t_stopped - 0.3
    assert only_at(failed, t_last)
    lab.start_lb("lb3")
    lab.wait_nexthops(ALL, timeout=30)


def test_a_lost_node_is_withdrawn_by_the_hold_timer(lab: so.ScaleoutLab) -> None:
    """The node itself goes (its cable to the router pulled): nothing on it can withdraw; the router's hold timer
    (3 s) takes the route down, and requests ECMP sends there fail until then."""
    bg = background(lab, 8.0)
    time.sleep(1.5)
    t_cut = time.monotonic()
    lab.lab.set_port("lb1", "eth0", False)
    try:
        t_gone = lab.wait_nexthops(ALL - {so.lb_edge(1)}, timeout=15, poll=0.01)
        rows = collect(bg, lab)
    finally:
        lab.lab.set_port("lb1", "eth0", True)
    failed = [r for r in rows if r[2] is None]
    last_fail = max((r[0] for r in failed), default=t_cut)
    print(f"lb1 cut off -> withdrawn by the router after {t_gone - t_cut:.2f} s (hold {so.HOLD} s); "
          f"{len(failed)} of {len(rows)} requests failed, the last {last_fail - t_cut:.2f} s after the cut")
    assert t_gone - t_cut <= so.HOLD + 0.5
    assert last_fail <= t_gone + 0.1  # requests fail only while the router still sends some to lb1
    ok = [r for r in rows if r[0] > t_gone + 1.0]
    assert ok and all(r[2] is not None for r in ok)
    lab.wait_nexthops(ALL, timeout=30)


def test_real_server_loss_moves_only_its_own_flows_on_every_node(lab: so.ScaleoutLab) -> None:
    before = mapping(requests(lab, rounds=2))
    lab.stop_web("rs2")
    try:
        deadline = time.monotonic() + 15
        while True:  # every node has taken rs2 out: no request reaches it, and none fails
            rows = requests(lab, rounds=2)
            if all(r[2] not in (None, "rs2") for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        after = mapping(rows)
        moved = [s for s in before if before[s] != after.get(s)]
        print(f"rs2 lost: {len(moved)} of {len(before)} sources changed real server "
              f"({sum(1 for s in before if before[s] == 'rs2')} were on rs2)")
        assert all(before[s] == "rs2" for s in moved)
        assert len(moved) / len(before) <= 1 / lab.real_servers + 0.05 + 0.1  # 64 sources: sampling slack
    finally:
        lab.start_web("rs2")


def test_quorum_loss_withdraws_on_every_node_and_quorum_back_announces(lab: so.ScaleoutLab) -> None:
    """Every real server down: every node loses quorum (1) and withdraws; one back: all announce again."""
    for i in range(1, lab.real_servers + 1):
        lab.stop_web(f"rs{i}")
    t0 = time.monotonic()
    try:
        t_gone = lab.wait_nexthops(set(), timeout=20, poll=0.01)
        print(f"all real servers down -> VIP withdrawn by every node after {t_gone - t0:.2f} s "
              f"(delay_loop 1 s, connect_timeout 1 s)")
    finally:
        for i in range(1, lab.real_servers + 1):
            lab.start_web(f"rs{i}")
    t1 = time.monotonic()
    t_back = lab.wait_nexthops(ALL, timeout=20, poll=0.01)
    print(f"real servers back -> announced by every node after {t_back - t1:.2f} s")
