"""BFD_CHECK's input: the BFD process's event stream (:mod:`pykeepalived.bfd.watch`) fed to the runner.

keepalived's checker process reads ``bfd_event_t`` records from a pipe and hands each to every BFD_CHECK
naming that ``bfd_instance`` (check/check_bfd.c); here :class:`BfdFeed` reads the stream and calls
:meth:`pykeepalived.check.runner.Runner.bfd_event`.  A reload replaces the runner: :meth:`BfdFeed.attach`
gives the new one every session's last verdict, so a BFD_CHECK added by the reload starts from the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pykeepalived.bfd.watch import BfdWatch
from pykeepalived.check.runner import Runner

log = logging.getLogger("pykeepalived")


class BfdFeed:
    """Feeds one runner at a time (the current one) from ``BfdWatch(path, role="checker")``."""

    def __init__(self, path: str) -> None:
        self.watch = BfdWatch(path, role="checker")
        self.runner: Runner | None = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, runner: Runner) -> None:
        """``runner`` is the current one: it gets every session's last known verdict now."""
        self.runner = runner
        for name, up in self.watch.states.items():
            runner.bfd_event(name, up)

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await self.watch.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            async for ev in self.watch:
                if ev.sent:
                    log.debug("Received BFD event: instance %s is in state %s (delivered in %d usec)",
                              ev.name, ev.state, max(0, int((time.time() - ev.sent) * 1e6)))
                if self.runner is not None:
                    self.runner.bfd_event(ev.name, ev.up)
        except asyncio.CancelledError:
            raise
        except Exception:  # the checkers keep running; BFD verdicts are no longer followed
            log.exception("BFD event watch failed; BFD_CHECK verdicts are no longer updated")

