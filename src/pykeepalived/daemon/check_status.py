"""The checkers' part of the status snapshot: one :class:`~pykeepalived.status.snapshot.CheckStatus` per
configured checker of a real server, from what :class:`~pykeepalived.check.runner.Runner` keeps on each
job (attempts, failures, the last attempt's end and duration, the duration histogram) and the checker's
verdict in its retry state."""

from __future__ import annotations

import time

from pykeepalived.check.runner import Job, Runner
from pykeepalived.check.state import VsId
from pykeepalived.config.model_lvs import BfdCheck, Checker, FileCheck, MiscCheck, RealServer
from pykeepalived.lvs.model import DestKey
from pykeepalived.status.snapshot import CheckStatus, DurationHistogram


def check_target(rs: RealServer, checker: Checker) -> str:
    """What the checker looks at: connect_ip:connect_port (the real server unless set), the script, the
    tracked file, or the bfd_instance."""
    if isinstance(checker, MiscCheck):
        return " ".join(checker.misc_path.argv)
    if isinstance(checker, FileCheck):
        return checker.track_file
    if isinstance(checker, BfdCheck):
        return checker.name
    conn = getattr(checker, "connection", None)
    if conn is not None:
        ip = str(conn.connect_ip)
        return f"[{ip}]:{conn.connect_port}" if ":" in ip else f"{ip}:{conn.connect_port}"
    return str(rs.ip)


def check_statuses(runner: Runner) -> dict[tuple[VsId, DestKey], tuple[CheckStatus, ...]]:
    """Per (virtual server, real server): its checkers' status, in configuration order."""
    jobs: dict[tuple[VsId, DestKey, int], Job] = {(j.vs.id, j.rs, j.index): j for j in runner.jobs}
    # loop-clock times of the jobs to unix time: one offset for all
    offset = time.time() - runner.clock()
    bounds = runner.duration_bounds
    out: dict[tuple[VsId, DestKey], tuple[CheckStatus, ...]] = {}
    for st in runner.health.values():
        for key, server in st.servers.items():
            checks = []
            for index, (cstate, checker) in enumerate(zip(server.checkers, server.config.checkers, strict=False)):
                job = jobs.get((st.id, key, index))
                up = cstate.is_up if cstate.has_run else None
                status = CheckStatus(kind=cstate.kind, target=check_target(server.config, checker), up=up)
                if job is not None and job.attempts:
                    status = CheckStatus(
                        kind=status.kind, target=status.target, up=up,
                        last_run=None if job.ended is None else job.ended + offset,
                        last_duration=job.last_duration, attempts=job.attempts, failures=job.failures,
                        durations=DurationHistogram(bounds, tuple(job.hist), job.hist_sum))
                checks.append(status)
            out[(st.id, key)] = tuple(checks)
    return out
