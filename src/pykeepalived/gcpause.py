"""Making a large number of objects at once (a configuration read, a configuration received by a child)
without the cyclic garbage collector walking them again and again.

With the collector on, every 700 new container objects start a young-generation collection that walks
every young object, so a 37,298-real-server load spends much of its time collecting objects that are all
alive and acyclic.  With it off for the duration and simply re-enabled, the first allocation afterwards
starts one collection of the millions of objects made meanwhile (0.5 s for that load).  Instead, on the
way out, what was made is moved straight into the oldest generation (``gc.freeze`` then ``gc.unfreeze``:
two list splices), where it is walked only by the rare full collections, as long-lived objects are.
Nothing is hidden from the collector for good: cycles among them are still found by the next full one (in a
process that keeps a frozen set, by its next unfreeze and collection).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off inside; on exit (outermost use only), what was made joins the oldest generation."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            promote_to_oldest()
            gc.enable()


def settle_memory(full: bool = True) -> None:
    """Collect, then freeze what is left (the configuration, the imported modules and the process's
    long-lived objects) out of the garbage collector's view.  Called by each child once it is ready and
    after each reload.

    * The checker process: at thousands of checks a second, collections that walk every object are a visible
      share of the CPU.
    * The VRRP and BFD processes: a collection of the oldest generation walks every object the process holds
      (some 60,000 after the imports, about 30 ms); at advert_int 0.02 s (a master-down interval of 72 ms)
      such a pause on a busy core is a missed advert, or a spurious transition.  Frozen, a full collection
      walks only what came since.

    ``full`` also collects what was frozen before (a reload's replaced objects, some in reference cycles): a
    walk of every object, about a second at 37,000 real servers.  Without it only what came since the last
    freeze is collected (the checker's :class:`~pykeepalived.daemon.checker.SettlePolicy` chooses)."""
    global settles, keeps_frozen
    settles += 1
    keeps_frozen = True
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


#: how many :func:`settle_memory` calls this process made: a deliberate pause, which the lateness watch of the
#: children (``daemon.child.watch_lateness``) does not count as the machine being slow
settles = 0
#: whether this process keeps its long-lived objects frozen (it called :func:`settle_memory`); a flag, because
#: ``gc.get_freeze_count()`` walks the whole frozen set (80 ms in a checker process holding 37,000 real servers)
keeps_frozen = False


def promote_to_oldest() -> None:
    """Move every tracked object into the oldest generation without walking them.

    A process that keeps long-lived objects frozen (the checker process's ``settle_memory``) keeps them so:
    there what was made is frozen with them (``gc.unfreeze`` would hand the whole frozen set back to the
    collector), until that process's next settle sorts it out.  Both moves are list splices."""
    gc.freeze()
    if not keeps_frozen:
        gc.unfreeze()
