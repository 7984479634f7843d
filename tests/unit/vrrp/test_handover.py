"""A planned hand-over (``pykeepalived ctl handover``): the MASTER resigns with a priority-0 advert and
holds priority 1, so the peer takes over after its skew and keeps mastership; ``restore`` gives the
configured priority back and VRRP's preempt rule decides."""

from __future__ import annotations

import pytest

from pykeepalived.vrrp.fsm import Handover, PriorityChanged, RemoveVips, SendAdvert, State, TimerFired

from .test_fsm import HIGHER_IP, LOWER_IP, adv, fire, master, started


def test_master_resigns_with_priority_0_and_holds_priority_1() -> None:
    inst, t = master(priority=150)
    out = inst.handle(t + 0.2, Handover(True))
    assert inst.state is State.BACKUP and inst.effective_priority == 1
    assert SendAdvert(0) in out and any(isinstance(a, RemoveVips) for a in out)
    assert inst.stats.pri_zero_sent == 1
    # the peer (priority 100) takes over and keeps it: its adverts are higher than our 1
    out = inst.handle(t + 0.9, adv(LOWER_IP, 100))
    assert inst.state is State.BACKUP and inst.master_address == LOWER_IP
    # trackers may change the total; the hand-over still holds priority 1
    inst.handle(t + 1.0, PriorityChanged(200))
    assert inst.effective_priority == 1 and inst.total_priority == 200


def test_restore_gives_the_configured_priority_back_and_preempt_decides() -> None:
    inst, t = master(priority=150)
    inst.handle(t, Handover(True))
    inst.handle(t + 0.5, adv(LOWER_IP, 100))
    inst.handle(t + 1.0, Handover(False))
    assert inst.effective_priority == 150 and inst.state is State.BACKUP
    # a lower-priority advert is discarded by a preempting backup: its down timer takes it back
    inst.handle(t + 1.5, adv(LOWER_IP, 100))
    fire(inst)
    assert inst.state is State.MASTER


def test_a_backup_handed_over_does_not_preempt() -> None:
    inst = started(priority=200)
    inst.handle(0.1, Handover(True))
    assert inst.state is State.BACKUP and inst.effective_priority == 1
    inst.handle(0.5, adv(HIGHER_IP, 100))
    assert inst.state is State.BACKUP  # 100 > 1: accepted, no preemption


def test_an_address_owner_ignores_handover() -> None:
    inst, t = master(priority=255)
    assert inst.handle(t, Handover(True)) == []
    assert inst.state is State.MASTER and inst.effective_priority == 255


@pytest.mark.parametrize("on", [True, False])
def test_repeating_a_handover_is_a_no_op(on: bool) -> None:
    inst, t = master(priority=150)
    inst.handle(t, Handover(on))
    assert inst.handle(t + 0.1, Handover(on)) == []
    inst.handle(t + 0.2, TimerFired())


def test_a_sync_group_member_moved_to_backup_resigns_too() -> None:
    from pykeepalived.vrrp.fsm import Handover as H
    from pykeepalived.vrrp.sync_group import SyncGroup

    a, t = master(priority=150, name="A")
    b, _ = master(priority=150, name="B", vrid=52)
    group = SyncGroup("G", [a, b])
    for m in (a, b):
        m.mark_handover(True)
    out = group.handle(t + 0.1, "A", H(True))
    sent = [(name, act) for name, act in out if isinstance(act, SendAdvert)]
    assert ("A", SendAdvert(0)) in sent and ("B", SendAdvert(0)) in sent
    group.handle(t + 0.1, "B", H(True))
    assert a.state is b.state is State.BACKUP and a.effective_priority == b.effective_priority == 1
