"""Memory settling after start and reloads (gcpause.settle_memory, the checker's SettlePolicy)."""

from __future__ import annotations

import gc
import weakref

from pykeepalived.daemon.checker import SettlePolicy
from pykeepalived.gcpause import settle_memory


def test_a_reload_replacing_few_checkers_settles_young_until_the_replaced_reach_the_share_or_the_count() -> None:
    policy = SettlePolicy(share=0.1, every=16)
    # 37,298 checkers, 300 replaced per reload: young settles until 10 % (3,730) were replaced
    fulls = [policy.after_reload(300, 37_298) for _ in range(26)]
    assert fulls[:12] == [False] * 12 and fulls[12]  # 13 x 300 = 3,900 > 3,729.8
    assert not any(fulls[13:25]) and fulls[25]  # counting again from the full one
    # a reload replacing more than the share is a full one at once
    assert SettlePolicy().after_reload(5_000, 37_298)
    # and one every ``every`` reloads whatever they replace
    few = SettlePolicy(every=4)
    assert [few.after_reload(0, 1000) for _ in range(8)] == [False, False, False, True] * 2


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_young_settle_leaves_frozen_cycles_for_the_next_full_one() -> None:
    gc.collect()
    gc.freeze()
    try:
        victim = _Cycle()
        alive = weakref.ref(victim)
        settle_memory(full=False)  # frozen now, with everything else
        del victim  # garbage, but frozen: a young settle does not see it
        settle_memory(full=False)
        assert alive() is not None
        settle_memory(full=True)
        assert alive() is None
    finally:
        gc.unfreeze()
