"""gc_paused: no collection inside; on the way out what was made joins the oldest generation, unwalked."""

from __future__ import annotations

import gc

import pytest

from pykeepalived import gcpause
from pykeepalived.gcpause import gc_paused, settle_memory


class _Thing:
    pass


@pytest.fixture(autouse=True)
def _nothing_frozen() -> None:
    """Other tests in this process may have frozen objects (the checker's settle_memory): start without."""
    gc.unfreeze()
    gcpause.keeps_frozen = False


def test_what_was_made_joins_the_oldest_generation_and_the_collector_is_back_on() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        things = [_Thing() for _ in range(50_000)]
        assert gc.get_count()[0] >= 50_000  # nothing collected meanwhile
    assert gc.isenabled()
    assert gc.get_count()[0] < 700  # no young generation left to walk at the next allocation
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(t) in oldest for t in things[::997])
    assert gc.get_freeze_count() == 0  # nothing is hidden from the collector for good


def test_only_the_outermost_use_turns_the_collector_back_on() -> None:
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_cycles_made_inside_are_still_collected() -> None:
    with gc_paused():
        a = _Thing()
        a.self = a  # type: ignore[attr-defined]
        del a
    assert gc.collect() >= 1


def test_a_frozen_set_stays_frozen_and_what_was_made_joins_it() -> None:
    settle_memory(full=False)  # a process that keeps its long-lived objects frozen (a child)
    assert gcpause.keeps_frozen
    try:
        before = gc.get_freeze_count()
        assert before > 0
        with gc_paused():
            things = [_Thing() for _ in range(10_000)]
        assert gc.get_freeze_count() >= before + len(things)
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_the_promotion_never_counts_the_frozen_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """``gc.get_freeze_count()`` walks every frozen object (80 ms in a checker holding 37,298 real servers, at
    every configuration a reload hands it): whether the process keeps a frozen set is a flag."""

    def walks(*_: object) -> int:
        raise AssertionError("the frozen set was counted")

    monkeypatch.setattr(gc, "get_freeze_count", walks)
    with gc_paused():
        pass
    settle_memory(full=False)
    with gc_paused():
        pass
