"""VRRP notifications: what a transition of an instance or sync group produces.

As keepalived's vrrp/vrrp_notify.c does: notify scripts (``notify_master`` ..., the generic ``notify`` with
``INSTANCE``/``GROUP`` arguments) in per-instance order, ``notify_fifo`` lines, SMTP alerts.  Running
and ordering scripts is :mod:`pykeepalived.notify.scripts`', writing FIFOs :mod:`pykeepalived.notify.fifo`'s,
mail :mod:`pykeepalived.notify.mail`'s; script security verdicts (:mod:`pykeepalived.notify.security`)
are decided here once per script and config, for notify scripts and vrrp_scripts alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from pykeepalived.notify.fifo import FifoWriter
from pykeepalived.notify.mail import Mailer, VrrpAlerts
from pykeepalived.notify.scripts import ScriptJob, ScriptQueues, spawn
from pykeepalived.notify.security import ScriptPolicy, Verdict

from .fsm import State

if TYPE_CHECKING:
    from pykeepalived.config.model import Script
    from pykeepalived.config.model_global import Fifo, GlobalDefs
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel
    from pykeepalived.config.model_vrrp import VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")

#: how long one notify script may hold up the next notification of the same instance
NOTIFY_ORDER_WAIT = 10.0


class Notifier:
    """VRRP notifications (keepalived's vrrp/vrrp_notify.c): scripts in per-instance order, FIFO lines.

    Ordering and execution are :class:`~pykeepalived.notify.scripts.ScriptQueues`' (one queue per
    instance or sync group); FIFO writing is :class:`~pykeepalived.notify.fifo.FifoWriter`'s.
    This class only knows which scripts and lines a VRRP transition produces.
    """

    def __init__(self, global_defs: GlobalDefs) -> None:
        self.g = global_defs
        self.scripts = ScriptQueues(NOTIFY_ORDER_WAIT)
        self.fifos = FifoWriter()
        self.mailer = Mailer(global_defs)
        self.alerts = VrrpAlerts(global_defs)
        self._fifo_readers: list[asyncio.subprocess.Process] = []
        self.policy = ScriptPolicy(global_defs)

    def reload(self, global_defs: GlobalDefs) -> None:
        """New global_defs (script users, SMTP settings); FIFOs stay as opened at start."""
        self.g = global_defs
        self.mailer.reload(global_defs)
        self.alerts.gd = global_defs
        self.policy.reload(global_defs)

    def verdict(self, script: Script, kind: str = "notify") -> Verdict:
        """Script security (:class:`~pykeepalived.notify.security.ScriptPolicy`), decided once per script."""
        return self.policy.verdict(script, kind)

    def job(self, script: Script | None, *extra: str, kind: str = "notify") -> ScriptJob | None:
        """The job for a configured script plus appended arguments; None when not configured
        or refused by script security."""
        return self.policy.job(script, *extra, kind=kind)

    async def open_fifos(self) -> None:
        """notify_fifo and vrrp_notify_fifo (once if both name the same path), plus their readers."""
        pairs: list[tuple[Fifo | None, Script | None]] = [
            (self.g.notify_fifo, self.g.notify_fifo_script),
            (self.g.vrrp_notify_fifo, self.g.vrrp_notify_fifo_script),
        ]
        for fifo, script in pairs:
            if fifo is None or fifo.path in self.fifos.paths or not self.fifos.open(fifo.path, fifo.user, fifo.group):
                continue
            job = self.job(script, fifo.path)
            if job is not None:
                proc = await spawn(job)
                if proc is not None:
                    self._fifo_readers.append(proc)

    def fifo_line(self, line: str) -> None:
        self.fifos.write(line)

    def instance_state(self, inst: VrrpInstance, state: State | str, priority: int) -> None:
        """Scripts, FIFO line, mail for one instance transition (``"DELETED"`` on reload)."""
        n = inst.notify
        name = state if isinstance(state, str) else state_name(state)
        specific = {"MASTER": n.master, "BACKUP": n.backup, "FAULT": n.fault, "STOP": n.stop,
                    "DELETED": n.deleted}.get(name)
        self.scripts.submit(inst.name, [self.job(specific),
                                        self.job(n.generic, "INSTANCE", inst.name, name, str(priority))])
        self.fifo_line(f'INSTANCE "{inst.name}" {name} {priority}')
        alert = self.alerts.instance(inst.name, name, inst.smtp_alert)
        if alert is not None:
            self.mailer.send_alert(alert)

    def group_state(self, group: SyncGroupModel, state: State) -> None:
        n = group.notify
        name = state_name(state)
        specific = {State.MASTER: n.master, State.BACKUP: n.backup, State.FAULT: n.fault,
                    State.STOP: n.stop}.get(state)
        self.scripts.submit("group:" + group.name,
                            [self.job(specific), self.job(n.generic, "GROUP", group.name, name, "0")])
        self.fifo_line(f'GROUP "{group.name}" {name} 0')
        alert = self.alerts.group(group.name, name, group.smtp_alert)
        if alert is not None:
            self.mailer.send_alert(alert)

    def instance_event(self, inst: VrrpInstance, event: str, priority: int) -> None:
        if event == "MASTER_RX_LOWER_PRI":
            self.scripts.submit(inst.name, [self.job(inst.notify.master_rx_lower_pri)])
        self.fifo_line(f'INSTANCE "{inst.name}" {event} {priority}')

    async def drain(self, timeout: float) -> None:
        """Let queued notifications run (bounded), then stop the FIFO readers and close the FIFOs."""
        await self.scripts.drain(timeout)
        await self.mailer.close(timeout)
        for proc in self._fifo_readers:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        self.fifos.close()


def state_name(state: State) -> str:
    return "STOP" if state is State.STOP else state.name
