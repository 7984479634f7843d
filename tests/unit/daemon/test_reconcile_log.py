"""A data plane that keeps failing does not flood the log: one traceback, then one line a minute."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lvs.model import Table

CONF = """virtual_server 10.0.0.5 80 {
  lb_algo rr
  protocol TCP
  real_server 192.168.0.12 80 {
    weight 1
  }
}
"""


class BrokenDataPlane:
    """Every read fails as a data plane out of descriptors does."""

    name = "broken"

    def claim(self, keys: object) -> None:
        pass

    def canonical(self, table: Table) -> Table:
        return table

    def observe(self) -> Table:
        raise OSError(24, "Too many open files")

    def apply(self, ops: object) -> None:
        raise AssertionError("never reached")


async def test_a_failing_reconcile_is_logged_once_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config_text(CONF, interfaces={"lo"}).config
    assert cfg is not None
    proc = CheckerProcess(cfg, CheckerOptions(reconcile_interval=0.01), dataplane=BrokenDataPlane())  # type: ignore[arg-type]
    proc._start_runner(cfg)
    caplog.set_level(logging.INFO, logger="pykeepalived")
    task = asyncio.get_running_loop().create_task(proc._tick())
    await asyncio.sleep(0.5)  # about 50 reconciles
    task.cancel()
    proc.runner.abandon()  # type: ignore[union-attr]
    failures = [r for r in caplog.records if "Reconcile" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
