"""The VRRP state machine under a virtual clock: exact keepalived 2.2.7 timings, no sleeping."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.vrrp.fsm import (
    Action,
    AddVips,
    AdvertReceived,
    Event,
    FaultCleared,
    FaultSet,
    Instance,
    InstanceParams,
    Log,
    Notify,
    NotifyEvent,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    SendGarps,
    Start,
    State,
    Stop,
    TimerFired,
    compare_addresses,
)

OURS = ip_address("10.0.0.3")
LOWER_IP = ip_address("10.0.0.2")
HIGHER_IP = ip_address("10.0.0.4")
VIPS = ("10.0.0.5/32",)


def make(**kw: Any) -> Instance:
    base: dict[str, Any] = {"name": "VI_1", "vrid": 51, "primary_address": OURS, "vips": VIPS}
    base.update(kw)
    return Instance(InstanceParams(**base))


def started(now: float = 0.0, **kw: Any) -> Instance:
    inst = make(**kw)
    inst.handle(now, Start())
    return inst


def fire(inst: Instance) -> tuple[float, list[Action]]:
    t = inst.next_deadline()
    assert t is not None
    return t, inst.handle(t, TimerFired())


def master(now: float = 0.0, **kw: Any) -> tuple[Instance, float]:
    kw.setdefault("garp_master_delay", 0)
    inst = started(now, **kw)
    t, _ = fire(inst)
    assert inst.state is State.MASTER
    return inst, t


def at(inst: Instance) -> int | None:
    """The next deadline in integer microseconds, for exact comparisons."""
    t = inst.next_deadline()
    return None if t is None else round(t * 1_000_000)


def logs(actions: list[Action]) -> list[str]:
    return [a.message for a in actions if isinstance(a, Log)]


def adv(src: Any, prio: int, interval: float = 1.0) -> AdvertReceived:
    return AdvertReceived(src, prio, interval)


# ------------------------------------------------------------------------------------------- timers


def test_v2_prio_190_master_down_timer_is_3257812_usecs() -> None:
    inst = started(priority=190)
    assert inst.ms_down_timer == 3_257_812
    assert inst.next_deadline() == 3.257812


def test_v2_prio_100_backup_becomes_master_at_3_609375() -> None:
    inst = make()
    actions = inst.handle(0.0, Start())
    assert actions == [
        RemoveVips(VIPS),
        Log("(VI_1) Entering BACKUP STATE (init)"),
        Notify(State.BACKUP, 100, "init"),
    ]
    t, actions = fire(inst)
    assert t == 3.609375
    assert inst.state is State.MASTER
    assert actions == [
        Log("(VI_1) Receive advertisement timeout", detail=True),
        SendAdvert(100),
        Log("(VI_1) Entering MASTER STATE"),
        AddVips(VIPS),
        SendGarps(VIPS, 5, "master"),
        Notify(State.MASTER, 100, "timeout"),
    ]


def test_start_time_offsets_every_deadline() -> None:
    inst = started(1000.5, priority=150)
    assert at(inst) == 1_003_914_062


def test_v2_skew_is_independent_of_advert_int() -> None:
    inst = started(advert_int=2)
    assert inst.ms_down_timer == 6_609_375


@pytest.mark.parametrize(
    ("advert_int", "down_us"),
    [(1.0, 3_609_375), (0.1, 360_937), (0.05, 180_468), (0.01, 30_000 + 6093)],
)
def test_v3_down_timer_scales_skew_with_the_interval(advert_int: float, down_us: int) -> None:
    inst = started(version=3, advert_int=advert_int)
    assert inst.ms_down_timer == down_us
    assert inst.next_deadline() == down_us / 1e6


def test_backup_takes_over_one_skew_after_priority_0() -> None:
    inst = started()
    inst.handle(1.0, adv(HIGHER_IP, 150))
    assert inst.next_deadline() == 4.609375
    actions = inst.handle(2.0, adv(HIGHER_IP, 0))
    assert inst.next_deadline() == 2.609375
    assert Log("(VI_1) Backup received priority 0 advertisement", detail=True) in actions
    t, actions = fire(inst)
    assert t == 2.609375 and inst.state is State.MASTER and SendAdvert(100) in actions
    assert inst.stats.pri_zero_rcvd == 1


def test_master_adverts_every_advert_int_from_the_first_one() -> None:
    inst, t0 = master(advert_int=2)
    assert inst.next_deadline() == t0 + 2
    for k in range(1, 4):
        t, actions = fire(inst)
        assert round(t * 1e6) == round(t0 * 1e6) + 2_000_000 * k
        assert actions == [SendAdvert(100)]
    assert inst.stats.advert_sent == 4


def test_late_wakeup_rearms_from_now_without_a_burst() -> None:
    inst, t0 = master()
    actions = inst.handle(t0 + 5.5, TimerFired())
    assert actions == [SendAdvert(100)]
    assert inst.next_deadline() == t0 + 6.5


def test_v3_backup_adopts_master_interval_and_restores_its_own_as_master() -> None:
    inst = started(version=3, advert_int=1.0)
    inst.handle(0.5, adv(HIGHER_IP, 150, 0.1))
    assert inst.master_adver_int == 100_000
    assert at(inst) == 500_000 + 360_937
    t, _ = fire(inst)
    assert inst.state is State.MASTER and t == 0.860937
    assert inst.master_adver_int == 1_000_000
    assert at(inst) == 1_860_937


def test_v3_master_adopts_higher_masters_interval_when_leaving() -> None:
    inst, t0 = master(version=3)
    inst.handle(t0 + 0.25, adv(HIGHER_IP, 200, 0.5))
    assert inst.state is State.BACKUP
    # 3 * 0.5 s + (256-100) * 50cs / 256
    assert inst.ms_down_timer == 1_500_000 + 304_687
    assert at(inst) == 3_609_375 + 250_000 + 1_804_687


# ------------------------------------------------------------------------------------------- BACKUP rx


def test_backup_accepts_equal_priority_and_restarts_the_down_timer() -> None:
    inst = started()
    inst.handle(2.0, adv(LOWER_IP, 100))
    assert inst.state is State.BACKUP
    assert inst.next_deadline() == 5.609375
    assert inst.master_address == LOWER_IP and inst.master_priority == 100
    assert inst.stats.advert_rcvd == 1


def test_backup_discards_lower_priority_and_keeps_its_timer() -> None:
    inst = started(priority=150)
    actions = inst.handle(1.0, adv(HIGHER_IP, 100))
    assert actions == [Log("(VI_1) received lower priority (100) advert from 10.0.0.4 - discarding")]
    assert at(inst) == 3_414_062  # skew (256-150)/256 s truncated to µs, as keepalived
    inst.handle(2.0, adv(HIGHER_IP, 100))
    assert at(inst) == 3_414_062
    t, _ = fire(inst)
    assert t == 3.414062 and inst.state is State.MASTER


def test_nopreempt_backup_accepts_lower_priority() -> None:
    inst = started(priority=150, nopreempt=True)
    actions = inst.handle(1.0, adv(HIGHER_IP, 100))
    assert actions == []
    assert at(inst) == 4_414_062


def test_preempt_delay_holds_back_then_lets_the_down_timer_run() -> None:
    inst = started(priority=150, preempt_delay=10)
    for k in range(13):  # the prio-100 master adverts at 0.5, 1.5, ... until we take over
        t = 0.5 + k
        if at(inst) <= t * 1_000_000:  # type: ignore[operator]
            break
        inst.handle(t, adv(HIGHER_IP, 100))
        assert inst.state is State.BACKUP
    # adverts up to 9.5 are accepted (delay started at 0.5, ends 10.5); from 10.5 on they are discarded
    assert at(inst) == 9_500_000 + 3_414_062
    t_master, _ = fire(inst)
    assert t_master == 12.914062 and inst.state is State.MASTER


def test_preempt_delay_is_stopped_by_a_higher_priority_advert() -> None:
    inst = started(priority=150, preempt_delay=10)
    inst.handle(0.5, adv(HIGHER_IP, 100))  # starts the delay (until 10.5)
    actions = inst.handle(1.0, adv(HIGHER_IP, 200))
    assert Log("(VI_1) stop preempt delay", detail=True) in actions
    inst.handle(1.5, adv(HIGHER_IP, 100))  # restarts it: until 11.5
    inst.handle(10.6, adv(HIGHER_IP, 100))
    assert at(inst) == 10_600_000 + 3_414_062


# ------------------------------------------------------------------------------------------- MASTER rx


def test_master_yields_to_higher_priority_without_priority_0() -> None:
    inst, t0 = master()
    now = t0 + 0.5
    actions = inst.handle(now, adv(HIGHER_IP, 150))
    assert inst.state is State.BACKUP
    assert actions == [
        Log("(VI_1) Master received advert from 10.0.0.4 with higher priority 150, ours 100"),
        Log("(VI_1) Entering BACKUP STATE"),
        RemoveVips(VIPS),
        Notify(State.BACKUP, 100, "higher_priority"),
    ]
    assert inst.next_deadline() == now + 3.609375
    assert inst.stats.release_master == 1 and inst.stats.pri_zero_sent == 0


def test_equal_priority_higher_ip_wins() -> None:
    inst, t0 = master()
    actions = inst.handle(t0 + 0.5, adv(HIGHER_IP, 100))
    assert inst.state is State.BACKUP
    assert logs(actions)[0] == (
        "(VI_1) Master received advert from 10.0.0.4 with same priority 100 but higher IP address than ours"
    )


def test_equal_priority_lower_ip_loses_and_master_reasserts() -> None:
    inst, t0 = master()
    now = t0 + 0.5
    actions = inst.handle(now, adv(LOWER_IP, 100))
    assert inst.state is State.MASTER
    assert actions[:2] == [
        Log("(VI_1) Received advert from 10.0.0.2 with lower priority 100, ours 100, forcing new election"),
        SendAdvert(100),
    ]
    assert NotifyEvent("MASTER_RX_LOWER_PRI", 100) in actions
    assert inst.next_deadline() == now + 1.0  # advert timer restarted


def test_addresses_compare_numerically_within_a_family() -> None:
    assert compare_addresses(ip_address("10.0.0.10"), ip_address("10.0.0.9")) == 1
    assert compare_addresses(ip_address("fe80::a"), ip_address("fe80::9")) == 1
    assert compare_addresses(ip_address("10.0.0.1"), ip_address("fe80::1")) == 0
    assert compare_addresses(ip_address("10.0.0.1"), None) == 0


def test_master_lower_priority_sends_advert_and_garp_rounds() -> None:
    inst, t0 = master(garp_lower_prio_repeat=2, garp_lower_prio_delay=5)
    actions = inst.handle(t0 + 0.5, adv(HIGHER_IP, 50))
    assert actions == [
        Log("(VI_1) Received advert from 10.0.0.4 with lower priority 50, ours 100, forcing new election"),
        SendAdvert(100),
        SendGarps(VIPS, 2, "lower-prio"),
        NotifyEvent("MASTER_RX_LOWER_PRI", 100),
    ]
    delayed = [a for k in range(6) for a in inst.handle(t0 + 1.5 + k, TimerFired())]
    assert SendGarps(VIPS, 2, "lower-prio-delayed") in delayed
    assert delayed.index(SendGarps(VIPS, 2, "lower-prio-delayed")) == 5  # after the adverts up to t0+5.5


def test_lower_prio_no_advert_neither_sends_nor_restarts_the_timer() -> None:
    inst, t0 = master(lower_prio_no_advert=True, garp_lower_prio_repeat=0)
    actions = inst.handle(t0 + 0.5, adv(HIGHER_IP, 50))
    assert actions == [
        Log("(VI_1) Received advert from 10.0.0.4 with lower priority 50, ours 100"),
        NotifyEvent("MASTER_RX_LOWER_PRI", 100),
    ]
    assert inst.next_deadline() == t0 + 1.0


def test_master_answers_priority_0_at_once() -> None:
    inst, t0 = master()
    actions = inst.handle(t0 + 0.25, adv(HIGHER_IP, 0))
    assert actions[0] == SendAdvert(100) and inst.state is State.MASTER
    assert inst.next_deadline() == t0 + 1.25


def test_higher_prio_send_advert_sends_one_before_yielding() -> None:
    inst, t0 = master(higher_prio_send_advert=True)
    actions = inst.handle(t0 + 0.5, adv(HIGHER_IP, 150))
    assert actions[0] == SendAdvert(100) and inst.state is State.BACKUP


# ------------------------------------------------------------------------------------------- owner / priority


def test_owner_in_state_master_becomes_master_immediately() -> None:
    inst = make(priority=255, initial_state=State.MASTER)
    assert inst.handle(10.0, Start()) == [RemoveVips(VIPS)]
    t, actions = fire(inst)
    assert t == 10.000001
    assert inst.state is State.MASTER and SendAdvert(255) in actions


def test_owner_priority_is_never_changed_by_tracking() -> None:
    inst = started(priority=255)
    assert inst.handle(1.0, PriorityChanged(100)) == []
    assert inst.effective_priority == 255
    assert inst.skew() == 3906  # VRRP_TIMER_SKEW with 256 - 255


def test_master_below_255_outside_a_sync_group_waits_the_full_down_timer() -> None:
    inst = started(priority=200, initial_state=State.MASTER)
    assert inst.next_deadline() == 3.21875


def test_master_below_255_in_a_sync_group_waits_one_interval() -> None:
    inst = make(priority=200, initial_state=State.MASTER, sync_group="G")
    inst.handle(0.0, Start(group_state=State.BACKUP))
    assert inst.next_deadline() == 1.003906


def test_priority_change_in_backup_moves_the_down_timer_by_the_skew_difference() -> None:
    inst = started()
    actions = inst.handle(1.0, PriorityChanged(190))
    assert actions == [Log("(VI_1) Changing effective priority from 100 to 190")]
    assert inst.next_deadline() == 3.257812
    assert inst.ms_down_timer == 3_257_812


def test_priority_is_clamped_to_1_254() -> None:
    inst = started(notify_priority_changes=True)
    assert inst.handle(1.0, PriorityChanged(300))[-1] == NotifyEvent("BACKUP_PRIORITY", 254)
    assert inst.effective_priority == 254
    inst.handle(1.0, PriorityChanged(-20))
    assert inst.effective_priority == 1
    assert inst.handle(1.0, PriorityChanged(0)) == []


def test_priority_change_in_master_shows_in_the_next_advert() -> None:
    inst, t0 = master()
    inst.handle(t0 + 0.5, PriorityChanged(120))
    _, actions = fire(inst)
    assert actions == [SendAdvert(120)]


def test_two_owners_the_receiver_backs_off_to_254() -> None:
    inst, t0 = master(priority=255, initial_state=State.MASTER)
    actions = inst.handle(t0 + 0.5, adv(LOWER_IP, 255))
    assert inst.state is State.BACKUP and inst.effective_priority == 254
    assert "CONFIGURATION ERROR" in logs(actions)[0]


# ------------------------------------------------------------------------------------------- FAULT / STOP


def test_fault_from_master_sends_two_priority_0_adverts_and_drops_vips() -> None:
    inst, t0 = master()
    sent = inst.stats.advert_sent
    actions = inst.handle(t0 + 0.5, FaultSet("eth0 down"))
    assert actions == [
        Log("(VI_1) Entering FAULT STATE"),
        SendAdvert(0),
        SendAdvert(0),
        Log("(VI_1) sent 0 priority", detail=True),
        RemoveVips(VIPS),
        Notify(State.FAULT, 100, "fault"),
    ]
    assert inst.state is State.FAULT and inst.next_deadline() is None
    assert inst.stats.advert_sent == sent + 2 and inst.stats.pri_zero_sent == 1
    assert inst.handle(t0 + 1, adv(HIGHER_IP, 150)) == []


def test_fault_needs_every_reason_cleared_and_returns_to_backup_with_full_timer() -> None:
    inst = started()
    assert inst.handle(1.0, FaultSet("eth0"))[0] == Log("(VI_1) Entering FAULT STATE")
    assert inst.handle(1.5, FaultSet("chk_http")) == []
    assert inst.handle(2.0, FaultCleared("eth0")) == []
    assert inst.state is State.FAULT
    actions = inst.handle(3.0, FaultCleared("chk_http"))
    assert actions == [Log("(VI_1) Entering BACKUP STATE"), Notify(State.BACKUP, 100, "fault_cleared")]
    assert inst.next_deadline() == 6.609375


def test_start_with_a_fault_enters_fault_init() -> None:
    inst = make()
    inst.handle(0.0, FaultSet("eth0"))
    actions = inst.handle(0.0, Start())
    assert Log("(VI_1) Entering FAULT STATE (init)") in actions
    assert Notify(State.FAULT, 100, "init") in actions
    assert inst.next_deadline() is None
    inst.handle(1.0, FaultCleared("eth0"))
    assert inst.state is State.BACKUP and inst.next_deadline() == 4.609375


def test_stop_from_master_sends_priority_0_and_notifies_stop() -> None:
    inst, t0 = master()
    actions = inst.handle(t0 + 0.5, Stop())
    assert actions == [
        SendAdvert(0),
        Log("(VI_1) sent 0 priority", detail=True),
        RemoveVips(VIPS),
        Notify(State.STOP, 100, "stop"),
    ]
    assert inst.next_deadline() is None
    assert inst.handle(t0 + 1, adv(HIGHER_IP, 150)) == []


def test_stop_from_backup_only_notifies() -> None:
    inst = started()
    assert inst.handle(1.0, Stop()) == [Notify(State.STOP, 100, "stop")]


# ------------------------------------------------------------------------------------------- GARP


def test_garp_schedule_repeat_delay_and_refresh() -> None:
    inst, t0 = master(
        garp_master_repeat=2, garp_master_delay=0.5, garp_master_refresh=10, garp_master_refresh_repeat=3
    )
    assert t0 == 3.609375
    t, actions = fire(inst)
    assert (t, actions) == (t0 + 0.5, [SendGarps(VIPS, 2, "master-delayed")])
    refreshes = []
    for _ in range(25):
        t, actions = fire(inst)
        assert actions[0] == SendAdvert(100)
        if SendGarps(VIPS, 3, "refresh") in actions:
            refreshes.append(t)
    assert refreshes == [t0 + 10, t0 + 20]


def test_delayed_garp_is_dropped_when_no_longer_master() -> None:
    inst, t0 = master(garp_master_delay=2)
    inst.handle(t0 + 0.5, adv(HIGHER_IP, 150))
    assert inst.next_deadline() == t0 + 0.5 + 3.609375
    assert not any(isinstance(a, SendGarps) for a in inst.handle(t0 + 2, TimerFired()))


def test_no_garps_without_vips() -> None:
    _, actions = fire(started(vips=()))
    assert not any(isinstance(a, SendGarps) for a in actions)


# ------------------------------------------------------------------------------------------- properties

_events = st.one_of(
    st.builds(
        AdvertReceived,
        st.sampled_from([LOWER_IP, OURS, HIGHER_IP]),
        st.integers(0, 255),
        st.sampled_from([0.05, 0.1, 1.0, 2.0]),
    ),
    st.builds(TimerFired),
    st.builds(PriorityChanged, st.integers(-300, 400)),
    st.builds(FaultSet, st.sampled_from(["a", "b"])),
    st.builds(FaultCleared, st.sampled_from(["a", "b"])),
    st.just(Stop()),
    st.just(Start()),
)


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([2, 3]),
    priority=st.sampled_from([1, 100, 200, 254, 255]),
    initial=st.sampled_from([State.BACKUP, State.MASTER]),
    nopreempt=st.booleans(),
    preempt_delay=st.sampled_from([0.0, 2.5]),
    lower_prio_no_advert=st.booleans(),
    steps=st.lists(st.tuples(st.floats(0, 5, allow_nan=False), _events), max_size=40),
)
def test_random_event_sequences_keep_the_invariants(
    version: int,
    priority: int,
    initial: State,
    nopreempt: bool,
    preempt_delay: float,
    lower_prio_no_advert: bool,
    steps: list[tuple[float, Event]],
) -> None:
    inst = make(
        version=version,
        priority=priority,
        initial_state=initial,
        nopreempt=nopreempt,
        preempt_delay=preempt_delay,
        lower_prio_no_advert=lower_prio_no_advert,
        garp_master_delay=0.7,
        garp_master_refresh=2.0,
    )
    vips_on = False
    now = 0.0
    inst.handle(now, Start())

    def apply(actions: list[Action]) -> None:
        nonlocal vips_on
        for a in actions:
            if isinstance(a, AddVips):
                assert not vips_on
                vips_on = True
            elif isinstance(a, RemoveVips):
                vips_on = False
            elif isinstance(a, SendAdvert):
                assert 0 <= a.priority <= 255
            elif isinstance(a, SendGarps):
                assert vips_on
        assert vips_on == (inst.state is State.MASTER) == inst.vips_set
        assert 1 <= inst.effective_priority <= 255
        if inst.state in (State.FAULT, State.STOP, State.INIT):
            assert inst._sands is None
        if inst.state is State.BACKUP or inst.state is State.MASTER:
            assert inst._sands is not None
        if inst.faults and inst.state is not State.STOP:
            assert inst.state in (State.FAULT, State.INIT)

    for gap, event in steps:
        target = now + gap
        # An on-time adapter: every deadline before the next event is fired when it is due.
        while (d := inst.next_deadline()) is not None and d <= target:
            now = max(now, d)
            apply(inst.handle(now, TimerFired()))
            nxt = inst.next_deadline()
            assert nxt is None or nxt > now
        now = target
        apply(inst.handle(now, event))
