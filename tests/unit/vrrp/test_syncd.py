"""``lvs_sync_daemon``: which IPVS sync-daemon calls each transition of the followed instance makes
(pure), and the follower carrying them out against a fake kernel, or logging once without ip_vs."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from pykeepalived.config.model_global import LvsSyncDaemon
from pykeepalived.lvs.dataplane import ipvs
from pykeepalived.vrrp.fsm import State
from pykeepalived.vrrp.syncd import TO_BACKUP, TO_MASTER, TO_STOP, SyncDaemonFollower, sync_daemon_calls

B, M, F, S, N = State.BACKUP, State.MASTER, State.FAULT, State.STOP, State.INIT


@pytest.mark.parametrize(("old", "new", "calls"), [
    (None, B, TO_BACKUP), (N, B, TO_BACKUP),        # start-up in BACKUP: ipvs_syncd_backup
    (None, F, TO_BACKUP), (N, F, TO_BACKUP),        # start-up in FAULT: the backup thread too
    (None, M, TO_MASTER), (B, M, TO_MASTER), (F, M, TO_MASTER),  # become master: ipvs_syncd_master
    (M, B, TO_BACKUP), (M, F, TO_BACKUP),           # leave master: ipvs_syncd_backup
    (B, F, ()), (F, B, ()),                         # the backup thread keeps running
    (M, S, TO_STOP), (B, S, TO_STOP), (F, S, TO_STOP), (None, S, TO_STOP),  # shutdown: stop both
    (M, M, ()), (B, B, ()), (S, S, ()),
])
def test_calls_per_transition(old: State | None, new: State, calls: tuple[object, ...]) -> None:
    assert sync_daemon_calls(old, new) == calls


def test_the_calls_are_keepalived_s() -> None:
    assert TO_MASTER == (("stop", "backup"), ("start", "master"))
    assert TO_BACKUP == (("stop", "master"), ("start", "backup"))
    assert TO_STOP == (("stop", "master"), ("stop", "backup"))


CFG = LvsSyncDaemon("eth1", instance="VI_1", syncid=7)


class FakeKernel:
    """The kernel's sync threads: start of a running one is EEXIST, stop of a stopped one ESRCH."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.calls: list[tuple[str, int]] = []

    def start(self, state: int, cfg: ipvs.SyncDaemonConfig, sock: object = None) -> None:
        assert cfg.interface == "eth1" and cfg.syncid == 7
        self.calls.append(("start", state))
        if state in self.running:
            raise ipvs.IpvsError("start", errno.EEXIST)
        self.running.add(state)

    def stop(self, state: int, sock: object = None) -> bool:
        self.calls.append(("stop", state))
        if state not in self.running:
            return False
        self.running.discard(state)
        return True


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    k = FakeKernel()
    monkeypatch.setattr(ipvs, "available", lambda **_: ipvs.Availability(True, "test"))
    monkeypatch.setattr(ipvs, "IpvsSocket", lambda: _FakeSocket())
    monkeypatch.setattr(ipvs, "start_sync_daemon", k.start)
    monkeypatch.setattr(ipvs, "stop_sync_daemon", k.stop)
    return k


class _FakeSocket:
    def close(self) -> None:
        pass


def test_follower_drives_the_kernel_through_a_life(kernel: FakeKernel) -> None:
    f = SyncDaemonFollower(CFG, {"VI_1", "VI_2"})
    master, backup = {ipvs.SYNC_MASTER}, {ipvs.SYNC_BACKUP}
    life = [("VI_1", N, set()), ("VI_1", B, backup), ("VI_2", M, backup), ("VI_1", M, master),
            ("VI_1", F, backup), ("VI_1", B, backup), ("VI_1", M, master), ("VI_1", S, set())]

    async def step_by_step() -> None:
        for name, state, running in life:
            f.submit(f.transition(name, state))
            await f.drain(5)
            assert kernel.running == running, (name, state)

    asyncio.run(step_by_step())
    assert f.done == [*TO_BACKUP, *TO_MASTER, *TO_BACKUP, *TO_MASTER, *TO_STOP]


def test_calls_submitted_at_once_run_in_transition_order(kernel: FakeKernel) -> None:
    """The runner submits from its event loop without waiting: the chain keeps the order."""
    f = SyncDaemonFollower(CFG, {"VI_1"})

    async def burst() -> None:
        assert await f.check()
        for state in (B, M, B, M):
            f.submit(f.transition("VI_1", state))
        await f.drain(5)

    asyncio.run(burst())
    assert kernel.running == {ipvs.SYNC_MASTER}
    assert f.done == [*TO_BACKUP, *TO_MASTER, *TO_BACKUP, *TO_MASTER]


def test_without_ip_vs_it_logs_once_and_carries_on(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    asked: list[bool] = []

    def unavailable(**_: object) -> ipvs.Availability:
        asked.append(True)
        return ipvs.Availability(False, "this kernel has no ip_vs")

    monkeypatch.setattr(ipvs, "available", unavailable)
    f = SyncDaemonFollower(CFG, {"VI_1"})
    with caplog.at_level(logging.INFO, logger="pykeepalived.vrrp"):
        for state in (B, M, B, S):
            asyncio.run(f.run(f.transition("VI_1", state)))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "needs the kernel's ip_vs: this kernel has no ip_vs" in lines[0], lines
    assert asked == [True] and f.usable is False


def test_an_unknown_or_missing_instance_disables_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="pykeepalived.vrrp"):
        f = SyncDaemonFollower(LvsSyncDaemon("eth1", instance="VI_9"), {"VI_1"})
        g = SyncDaemonFollower(LvsSyncDaemon("eth1"), {"VI_1"})
    assert f.transition("VI_9", M) == () and g.transition("VI_1", M) == ()
    assert "VRRP instance VI_9 not found" in caplog.text and "names no VRRP instance" in caplog.text
