"""MISC_CHECK: run a script; its exit status is the verdict, and with misc_dynamic the weight.

As keepalived's ``check_misc.c``: no shell, its own process group; after ``misc_timeout`` SIGTERM to the
group, SIGKILL :data:`MISC_KILL_DELAY` later.  Exit 0 passes; with ``misc_dynamic``, 2..255 passes and
sets the real server's weight to ``status - 2``; anything else fails.
"""

from __future__ import annotations

import asyncio

from pykeepalived.check.probes.common import AsyncProbe, Kind, Setup
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import MiscCheck, RealServer, VirtualServer
from pykeepalived.notify.scripts import ScriptJob, run_with_timeout

MISC_KILL_DELAY = 2.0
"""After misc_timeout: SIGTERM to the process group, SIGKILL this much later (keepalived)."""


class MiscProbe(AsyncProbe):
    """MISC_CHECK: run the script (no shell, own process group), exit status -> pass/fail/weight."""

    def __init__(self, check: MiscCheck, rs_weight: int, loop: asyncio.AbstractEventLoop,
                 job: ScriptJob | None = None) -> None:
        super().__init__(loop)
        self.check = check
        self.rs_weight = rs_weight
        #: what script security allows (uid, gid, groups, resolved path); the daemon never builds a MISC
        #: probe for a refused script (the checker is removed, as keepalived's free_checker)
        self.job = job or ScriptJob(tuple(check.misc_path.argv))

    async def attempt(self) -> Result:
        outcome = await run_with_timeout(self.job, self.check.misc_timeout, MISC_KILL_DELAY)
        status = outcome.status
        if status is None:
            return Result(False, reason="timed out" if outcome.timed_out else outcome.words)
        if status < 0:
            return Result(False, reason=outcome.words)
        if status == 0:
            return Result(True, weight_delta=0 if self.check.misc_dynamic else None)
        if self.check.misc_dynamic and 2 <= status <= 255:
            return Result(True, weight_delta=status - 2 - self.rs_weight)
        return Result(False, reason=outcome.words)


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: MiscCheck) -> MiscProbe:
    job = setup.script_job(checker.misc_path) if setup.script_job is not None else None
    return MiscProbe(checker, rs.weight, setup.loop, job)


KIND = Kind(MiscCheck, ("MISC_CHECK",), steps=None, build=build)
