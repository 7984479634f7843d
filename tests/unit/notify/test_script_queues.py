"""Notify script queues under a hung script: killed after a timeout, bounded backlog, STOP never lost."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from pykeepalived.notify.scripts import ScriptJob, ScriptQueues


def _hang(tmp_path: Path) -> ScriptJob:
    pid_file = tmp_path / "hung.pid"
    return ScriptJob(("/bin/sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"))


def _touch(path: Path) -> ScriptJob:
    return ScriptJob(("/bin/sh", "-c", f"echo run >> {path}"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def _until(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_hung_script_is_killed_after_the_timeout_and_the_next_notification_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pykeepalived")
    q = ScriptQueues(order_wait=0.2, timeout=0.5, kill_after=0.2)
    after = tmp_path / "after"
    q.submit("VI_1", [_hang(tmp_path)])
    q.submit("VI_1", [_touch(after)])
    pid_file = tmp_path / "hung.pid"
    assert await _until(lambda: pid_file.exists() and pid_file.read_text().strip(), 2)
    pid = int(pid_file.read_text())
    assert await _until(after.exists, 2)  # order_wait let the next one through
    assert _alive(pid)
    assert await _until(lambda: not _alive(pid), 2)  # then the timeout killed it
    assert q.killed == 1
    assert any(f"(pid {pid}) still running after" in r.getMessage() and "killing it" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]  # the kill is logged
    await q.drain(1)


async def test_the_backlog_behind_a_hung_script_is_bounded_and_counted(tmp_path: Path) -> None:
    q = ScriptQueues(order_wait=30, timeout=30, max_pending=3)
    out = tmp_path / "runs"
    q.submit("VI_1", [_hang(tmp_path)])
    await asyncio.sleep(0.2)  # the worker took the first one and waits behind it
    for _ in range(10):
        q.submit("VI_1", [_touch(out)])
    assert q._queues["VI_1"].qsize() == 3
    assert q.dropped == 7
    await q.drain(2)
    assert await _until(lambda: out.exists() and out.read_text().count("run") == 3, 2)
    os.kill(int((tmp_path / "hung.pid").read_text()), 9)


async def test_queued_stop_notifications_run_at_shutdown_despite_a_hung_script(tmp_path: Path) -> None:
    q = ScriptQueues(order_wait=30, timeout=30)
    stop = tmp_path / "stop"
    q.submit("VI_1", [_hang(tmp_path)])
    await asyncio.sleep(0.2)
    q.submit("VI_1", [_touch(stop)])  # the STOP notification, queued behind the hung script
    t0 = time.monotonic()
    await q.drain(1.0)
    assert time.monotonic() - t0 < 1.5
    assert await _until(stop.exists, 1)
    os.kill(int((tmp_path / "hung.pid").read_text()), 9)
