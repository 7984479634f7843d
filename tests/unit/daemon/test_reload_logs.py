"""A reload's own log lines (keepalived's Activating line per checker: tens of thousands at the largest sites) are
written once the new table is applied, so they do not delay it; none is lost, and their order is kept."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess

from .test_counters_on_demand import CountingDataPlane


def conf(weight: int) -> str:
    servers = "".join(f" real_server 192.168.0.{k} 80 {{\n  weight {weight if k == 1 else 1}\n"
                      "  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n" for k in range(1, 4))
    return f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n delay_loop 60\n{servers}}}\n"


async def test_the_activating_lines_come_after_the_reloaded_table(caplog: pytest.LogCaptureFixture) -> None:
    first, second = load_config_text(conf(1)).config, load_config_text(conf(5)).config
    assert first is not None and second is not None
    proc = CheckerProcess(first, CheckerOptions(reconcile_interval=30), dataplane=CountingDataPlane(None))  # type: ignore[arg-type]
    proc._start_runner(first)
    tick = asyncio.create_task(proc._tick())
    try:
        proc._dirty.set()
        while proc.reconciles < 1:
            await asyncio.sleep(0.01)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pykeepalived"):
            proc.reload(second)
            assert not [r for r in caplog.records if "Activating" in r.getMessage()]  # held
            while proc.reconciles < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
        lines = [r.getMessage() for r in caplog.records]
    finally:
        tick.cancel()
        assert proc.runner is not None
        await proc.runner.stop()
    op = next(i for i, line in enumerate(lines) if line.startswith("edit dest"))
    activating = [i for i, line in enumerate(lines) if line.startswith("Activating healthchecker")]
    assert len(activating) == 3 and min(activating) > op, lines
    assert [lines[i].split()[4] for i in activating] == ["[192.168.0.1]:tcp:80", "[192.168.0.2]:tcp:80",
                                                        "[192.168.0.3]:tcp:80"]
