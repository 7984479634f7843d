"""Tracking arithmetic (keepalived's vrrp/vrrp_track.c) and rise/fall, quorum delays with a virtual clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.config import load_config_text
from pykeepalived.config.model_vrrp import TrackProcess
from pykeepalived.vrrp.fsm import Instance, InstanceParams, PriorityChanged, Start, State
from pykeepalived.vrrp.tracking import (
    Contribution,
    ProcessQuorum,
    ScriptResult,
    Status,
    TrackerRef,
    evaluate,
    file_weighted,
    instance_trackers,
    process_matches,
    weighted,
)

S = TrackerRef("script", "chk", 0)


def ref(weight: int, reverse: bool = False, kind: str = "script") -> TrackerRef:
    return TrackerRef(kind, "chk", weight, reverse)


# -- weights ------------------------------------------------------------------------------------

def test_weight_zero_failure_is_fault_and_reverse_makes_success_the_fault() -> None:
    assert weighted(ref(0), Status.FAILED) == Contribution(fault="track_script chk")
    assert weighted(ref(0), Status.OK) == Contribution()
    assert weighted(ref(0, reverse=True), Status.OK) == Contribution(fault="track_script chk")
    assert weighted(ref(0, reverse=True), Status.FAILED) == Contribution()


def test_positive_weight_adds_while_ok_and_reverse_subtracts_while_ok() -> None:
    assert weighted(ref(10), Status.OK).delta == 10
    assert weighted(ref(10), Status.FAILED).delta == 0
    assert weighted(ref(10, True), Status.OK).delta == -10
    assert weighted(ref(10, True), Status.FAILED).delta == 0


def test_negative_weight_subtracts_while_failed_and_reverse_adds_while_failed() -> None:
    assert weighted(ref(-20), Status.FAILED).delta == -20
    assert weighted(ref(-20), Status.OK).delta == 0
    assert weighted(ref(-20, True), Status.FAILED).delta == 20
    assert weighted(ref(-20, True), Status.OK).delta == 0


def test_a_script_that_has_not_run_counts_neither_way() -> None:
    for w in (0, 10, -10):
        assert weighted(ref(w), Status.INIT) == Contribution()
        assert weighted(ref(w), None) == Contribution()


def test_interfaces_and_processes_are_booleans() -> None:
    assert weighted(ref(5, kind="interface"), True).delta == 5
    assert weighted(ref(0, kind="interface"), False).fault == "track_interface chk"


def test_track_file_value_times_weight() -> None:
    f = TrackerRef("file", "f", 3)
    assert file_weighted(f, 5).delta == 15
    assert file_weighted(f, -5).delta == -15
    assert file_weighted(TrackerRef("file", "f", 3, True), 5).delta == -15
    assert file_weighted(f, 0).delta == 0
    assert file_weighted(f, 100).delta == 253  # capped
    assert file_weighted(TrackerRef("file", "f", 1), -253).delta == -253
    assert file_weighted(TrackerRef("file", "f", 1), -254).fault == "track_file f"
    assert file_weighted(TrackerRef("file", "f", 0), 7).fault == "track_file f"
    assert file_weighted(TrackerRef("file", "f", 0), 0) == Contribution()


def test_evaluate_sums_and_collects_faults_and_clamps_effective() -> None:
    refs = [TrackerRef("script", "up", 10), TrackerRef("script", "down", -20),
            TrackerRef("interface", "eth1", 0), TrackerRef("file", "f", 2)]
    states = {("script", "up"): Status.OK, ("script", "down"): Status.FAILED,
              ("interface", "eth1"): True, ("file", "f"): 4}
    ev = evaluate(200, refs, states)
    assert (ev.total, ev.effective, ev.faults) == (198, 198, frozenset())
    ev = evaluate(250, [TrackerRef("script", "up", 10)], {("script", "up"): Status.OK})
    assert (ev.total, ev.effective) == (260, 254)
    ev = evaluate(5, [TrackerRef("script", "down", -20)], {("script", "down"): Status.FAILED})
    assert (ev.total, ev.effective) == (-15, 1)
    ev = evaluate(100, refs, {**states, ("interface", "eth1"): False})
    assert ev.faults == {"track_interface eth1"}


def test_owner_priority_never_changes_but_faults_still_apply() -> None:
    refs = [TrackerRef("script", "down", -20), TrackerRef("script", "must", 0)]
    ev = evaluate(255, refs, {("script", "down"): Status.FAILED, ("script", "must"): Status.FAILED})
    assert (ev.total, ev.effective) == (255, 255)
    assert ev.faults == {"track_script must"}


def test_fsm_gets_the_total_and_logs_keepalived_words() -> None:
    inst = Instance(InstanceParams("VI_1", 1, priority=200))
    inst.handle(0.0, Start())
    ev = evaluate(200, [TrackerRef("script", "up", 10)], {("script", "up"): Status.OK})
    actions = inst.handle(1.0, PriorityChanged(ev.total))
    assert any(getattr(a, "message", "") == "(VI_1) Changing effective priority from 200 to 210"
               for a in actions)
    assert inst.effective_priority == ev.effective == 210
    assert inst.state is State.BACKUP


@given(base=st.integers(1, 254), weights=st.lists(st.integers(-253, 253), max_size=6),
       oks=st.lists(st.booleans(), min_size=6, max_size=6))
def test_effective_priority_always_in_range(base: int, weights: list[int], oks: list[bool]) -> None:
    refs = [TrackerRef("script", f"s{i}", w) for i, w in enumerate(weights) if w]
    states = {r.key: Status.OK if oks[i] else Status.FAILED for i, r in enumerate(refs)}
    ev = evaluate(base, refs, states)
    assert 1 <= ev.effective <= 254
    assert not ev.faults


# -- rise / fall ----------------------------------------------------------------------------------

def run(sr: ScriptResult, results: str) -> list[Status | None]:
    """``results``: '1' success, '0' failure -> what each run changed."""
    return [sr.record(c == "1") for c in results]


def test_one_success_at_start_is_ok_even_with_rise_3() -> None:
    sr = ScriptResult(rise=3, fall=2)
    assert sr.status is Status.INIT
    assert run(sr, "1") == [Status.OK]


def test_one_failure_at_start_is_failed_even_with_fall_2() -> None:
    sr = ScriptResult(rise=1, fall=2)
    assert run(sr, "0") == [Status.FAILED]


def test_fall_needs_consecutive_failures_and_rise_consecutive_successes() -> None:
    sr = ScriptResult(rise=2, fall=3)
    assert run(sr, "1") == [Status.OK]
    assert run(sr, "001") == [None, None, None]  # two failures, then reset to the top
    assert run(sr, "000") == [None, None, Status.FAILED]
    assert run(sr, "1") == [None]  # one success of two
    assert run(sr, "01") == [None, None]  # a failure in between starts again
    assert run(sr, "1") == [Status.OK]


def test_init_fail_starts_failed_and_needs_rise_successes() -> None:
    sr = ScriptResult(rise=2, fall=1, init_fail=True)
    assert sr.status is Status.FAILED
    assert run(sr, "0") == [None]  # already failed: no second "failed" line
    assert run(sr, "11") == [None, Status.OK]


def test_rise_fall_with_a_virtual_clock_interval() -> None:
    """A script run every 2 s with fall 2 fails the instance 2 intervals after it starts failing."""
    sr = ScriptResult(rise=1, fall=2)
    clock = 0.0
    timeline: list[tuple[float, Status]] = []
    for ok in [True, True, False, False, False, True]:
        change = sr.record(ok)
        if change is not None:
            timeline.append((clock, change))
        clock += 2.0
    assert timeline == [(0.0, Status.OK), (6.0, Status.FAILED), (10.0, Status.OK)]


# -- processes ------------------------------------------------------------------------------------

def test_process_matching_rules() -> None:
    tp = TrackProcess("p", "nginx")
    assert process_matches(tp, "nginx", ["/usr/sbin/nginx", "-g", "daemon off;"])
    assert not process_matches(tp, "nginx-x", ["nginx-x"])
    # comm holds 15 characters: keepalived compares the whole name with it, so a longer one never matches
    long = TrackProcess("p", "kube-controller-manager")
    assert not process_matches(long, "kube-controller", ["kube-controller-manager"])
    assert process_matches(TrackProcess("p", "kube-controller-manager", full_command=True), "kube-controller",
                           ["kube-controller-manager", "--v=2"])
    full = TrackProcess("p", "/usr/sbin/nginx", full_command=True)
    assert process_matches(full, "nginx", ["/usr/sbin/nginx"])
    assert not process_matches(full, "nginx", ["nginx"])
    args = TrackProcess("p", "sleep", args=("100",))
    assert process_matches(args, "sleep", ["sleep", "100"])
    assert not process_matches(args, "sleep", ["sleep", "1000"])
    assert not process_matches(args, "sleep", ["/usr/bin/sleep", "100"])  # with arguments: argv[0], as written
    # keepalived 2.2.7's check_params: initial lets the last configured argument be longer,
    # partial wants the configured arguments as the first ones, whole
    initial = TrackProcess("p", "sleep", args=("3583", "1"), param_match="initial")
    assert process_matches(initial, "sleep", ["sleep", "3583", "17"])
    assert process_matches(initial, "sleep", ["sleep", "3583", "1", "x"])
    assert not process_matches(initial, "sleep", ["sleep", "358", "1"])
    partial = TrackProcess("p", "sleep", args=("3583", "1"), param_match="partial")
    assert not process_matches(partial, "sleep", ["sleep", "3583", "17"])
    assert process_matches(partial, "sleep", ["sleep", "3583", "1", "x"])
    assert not process_matches(TrackProcess("p", "sleep", args=("00",), param_match="partial"),
                               "sleep", ["sleep", "1001"])
    no_args = TrackProcess("p", "sleep", param_match="exact")
    assert process_matches(no_args, "sleep", ["sleep"]) and not process_matches(no_args, "sleep", ["sleep", "1"])


def test_quorum_and_delays_with_a_virtual_clock() -> None:
    q = ProcessQuorum(quorum=2, quorum_max=3, fork_delay=1.0, terminate_delay=2.0)
    assert q.observe(0.0, 2) is True  # first scan decides at once
    assert q.observe(1.0, 1) is None  # below quorum: terminate delay starts
    assert q.next_deadline() == 3.0
    assert q.observe(2.9, 1) is None
    assert q.observe(3.0, 1) is False
    assert q.observe(4.0, 2) is None  # back: fork delay
    assert q.observe(4.5, 4) is None  # above quorum_max: not OK, pending cleared
    assert q.observe(5.0, 3) is None
    assert q.observe(6.0, 3) is True
    assert ProcessQuorum().observe(0.0, 0) is False


# -- references -----------------------------------------------------------------------------------

CONF = """
vrrp_script up { script "/bin/true"; weight 10 }
vrrp_script must { script "/bin/true" }
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  track_script { up
  }
  virtual_ipaddress { 10.0.0.1 }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  track_script {
    up
  }
  virtual_ipaddress { 10.0.0.2 }
}
vrrp_instance C {
  interface eth0
  virtual_router_id 3
  virtual_ipaddress { 10.0.0.3 }
}
vrrp_sync_group G {
  group {
    B
    C
  }
  track_script {
    up weight 5
    must
  }
}
"""


def test_sync_group_weights_apply_to_members_unless_one_is_the_address_owner() -> None:
    """keepalived 2.2.7 (vrrp.c sync_group_tracking_init; the rich reference walk's effective priorities):
    the group's own weights apply to every member; only a member with priority 255 clears them.
    An instance's own weighted trackers in a sync group are what sync_group_tracking_weight is about."""
    text = CONF.replace(";", "\n").replace("{ s", "{\n s").replace(" }\n", "\n}\n")
    cfg = load_config_text(text, interfaces={"eth0"}).config
    assert cfg is not None
    inst = {i.name: i for i in cfg.vrrp.instances}
    group = cfg.vrrp.sync_groups[0]
    assert instance_trackers(inst["A"]) == [TrackerRef("script", "up", 10)]
    c = instance_trackers(inst["C"], group)
    assert c == [TrackerRef("script", "up", 5), TrackerRef("script", "must", 0)]
    assert instance_trackers(inst["C"], group, group_has_owner=True) == [
        TrackerRef("script", "up", 0), TrackerRef("script", "must", 0)]
    from dataclasses import replace

    weighted_group = replace(group, sync_group_tracking_weight=True)
    assert instance_trackers(inst["C"], weighted_group)[0] == TrackerRef("script", "up", 5)


def test_interface_of_a_vip_route_or_rule_loses_its_track_weight() -> None:
    """keepalived tracks the interfaces of an instance's VIPs, routes and rules unweighted, in the same
    entry as a track_interface of that interface: the weight is gone (vrrp.c add_vrrp_to_interface)."""
    text = """
vrrp_instance X {
  interface eth0
  virtual_router_id 9
  virtual_ipaddress {
    10.0.0.9/24
  }
  track_interface {
    eth1 weight 5
    eth2 weight 6
    eth3 weight -3
  }
  virtual_routes {
    10.20.0.0/24 via 10.1.0.1 dev eth1
  }
  virtual_rules {
    from 10.0.0.9 table 100 priority 100 iif eth3
  }
}
"""
    cfg = load_config_text(text, interfaces={"eth0", "eth1", "eth2", "eth3"}).config
    assert cfg is not None
    assert instance_trackers(cfg.vrrp.instances[0]) == [
        TrackerRef("interface", "eth1", 0), TrackerRef("interface", "eth2", 6), TrackerRef("interface", "eth3", 0)]
