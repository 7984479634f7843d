"""The kernel side of ``ha_suspend``: netlink address events in, the runner's checkers suspended or resumed.

A thin adapter around the pure :class:`~pykeepalived.check.ha_suspend.HaSuspend`: it takes the
address dump and then the RTM_NEWADDR/RTM_DELADDR events from
:class:`pykeepalived.vrrp.addresses.AddressWatch` (the same pyroute2 mechanism VRRP uses for
links), feeds them to the core, and carries out its answers on the current
:class:`~pykeepalived.check.runner.Runner` (``set_checkers_enabled``) and the process's event sink
(log lines).  The netlink socket is open only while some virtual server has ``ha_suspend``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pykeepalived.check.ha_suspend import Action, HaSuspend, LocalAddress, SetCheckersEnabled
from pykeepalived.check.runner import Runner
from pykeepalived.check.state import Event, Log, vs_id
from pykeepalived.vrrp.addresses import AddressWatch

log = logging.getLogger("pykeepalived.check")

#: first and longest wait before re-opening a failed address watch (seconds)
RETRY_DELAY, MAX_RETRY_DELAY = 1.0, 30.0


class HaSuspendWatcher:
    """Keeps the ``ha_suspend`` checkers of the current runner in step with the host's addresses.

    ``attach(runner)`` right after each ``runner.start()`` (process start and every reload), before
    yielding to the loop; ``await close()`` at stop.  ``on_events`` gets the log lines.
    """

    def __init__(self, on_events: Callable[[list[Event]], None], netns: str | None = None,
                 watch_factory: Callable[[], AddressWatch] | None = None, log_changes: bool = False) -> None:
        self.on_events = on_events
        self.netns = netns
        #: ``-a``: log every address added or removed, as keepalived's checker process does (the watch
        #: then runs whether or not a virtual server has ha_suspend)
        self.log_changes = log_changes
        #: a fresh watch per watching task, so a cancelled task can never close its successor's socket
        self.watch_factory = watch_factory or (lambda: AddressWatch(self.netns))
        self.core: HaSuspend | None = None
        self.runner: Runner | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def watching(self) -> bool:
        """Whether the netlink address watch is running (only when some VS has ha_suspend)."""
        return self._task is not None and not self._task.done()

    def attach(self, runner: Runner) -> None:
        """Apply ha_suspend to a runner that was just started (its first checks are >= 1 s away).

        With a live address set (a reload), the Activating/Deactivating lines and the enabled flags
        are applied at once.  Otherwise the ``ha_suspend`` checkers are held suspended until the
        dump arrives (a few ms), so no check runs on a guess.
        """
        old = self.core
        self.runner = runner
        core = self.core = HaSuspend(runner.virtual_servers, runner.groups, previous=old)
        if not core.needed and not self.log_changes:
            self._stop_watching()
            self._apply(core.start(()))
            return
        if old is not None and old.started and self.watching:
            self._apply(core.start(old.addresses))
            return
        for vs in runner.virtual_servers:
            if vs.ha_suspend:
                runner.set_checkers_enabled(vs_id(vs), False)
        if not self.watching:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ha_suspend")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals

    def _stop_watching(self) -> None:
        if self._task is not None:
            self._task.cancel()  # its finally closes the socket
            self._task = None

    async def _run(self) -> None:
        watch = self.watch_factory()
        delay = RETRY_DELAY
        try:
            while True:
                try:
                    dump = [LocalAddress(c.ifindex, c.address) for c in await watch.open()]
                    core = self.core
                    assert core is not None
                    self._apply(core.resync(dump) if core.started else core.start(dump))
                    delay = RETRY_DELAY
                    async for ch in watch.changes():
                        if self.log_changes:
                            log.info("Netlink reflector reports IP %s %s", ch.address,
                                     "added" if ch.added else "removed")
                        a = LocalAddress(ch.ifindex, ch.address)
                        core = self.core  # a reload may have attached a new runner (and core) meanwhile
                        assert core is not None
                        self._apply(core.added(a) if ch.added else core.removed(a))
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # e.g. ENOBUFS after an event burst: re-dump and resync
                    log.warning("ha_suspend: watching addresses failed (%s); retrying in %g s",
                                e or type(e).__name__, delay)
                    watch.close()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)
        finally:
            watch.close()

    def _apply(self, actions: list[Action]) -> None:
        logs: list[Event] = []
        for a in actions:
            if isinstance(a, Log):
                logs.append(a)
            elif isinstance(a, SetCheckersEnabled) and self.runner is not None:
                self.runner.set_checkers_enabled(a.vs, a.enabled)
        if logs:
            self.on_events(logs)
