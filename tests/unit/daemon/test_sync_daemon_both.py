"""``lvs_sync_daemon IF`` naming no VRRP instance: as keepalived 2.2.7's checker process
(``checker_ipvs_syncd_needed``, ``IPVS_MASTER_BACKUP``), pykeepalived's checker process runs the kernel's master and
backup sync threads together from its start to its stop -- what several active load balancers behind ECMP need
(each sends its connections and receives the others'; tests/vm/ipvs_pickup_cases.py shows the pickup).  One that
names an instance stays the VRRP process's (tests/unit/vrrp/test_syncd.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.config.model_global import LvsSyncDaemon
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lvs.dataplane import ipvs
from tests.unit.vrrp.test_syncd import FakeKernel, _FakeSocket


class NamedDataPlane:
    def __init__(self, name: str) -> None:
        self.name = name


def process(line: str, dp_name: str = "ipvs") -> CheckerProcess:
    cfg = load_config_text(f"global_defs {{\n  {line}\n}}\n").config
    assert cfg is not None
    return CheckerProcess(cfg, CheckerOptions(), dataplane=NamedDataPlane(dp_name))  # type: ignore[arg-type]


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> list[ipvs.SyncDaemonConfig | None]:
    calls: list[ipvs.SyncDaemonConfig | None] = []
    monkeypatch.setattr(ipvs, "run_both_sync_daemons", lambda cfg, sock=None: calls.append(cfg))
    return calls


def test_without_an_instance_the_checker_runs_both_threads_from_start_to_stop(
        both: list[ipvs.SyncDaemonConfig | None]) -> None:
    p = process("lvs_sync_daemon eth1 id 7 port 8849")
    syncd = p.config.global_defs.lvs_sync_daemon
    p._sync_daemons(None, syncd)  # start
    p._sync_daemons(syncd, None)  # stop
    assert both == [ipvs.SyncDaemonConfig("eth1", 7, port=8849), None]


def test_with_an_instance_it_is_the_vrrp_process_s(both: list[ipvs.SyncDaemonConfig | None]) -> None:
    p = process("lvs_sync_daemon eth1 VI_1 id 7")
    syncd = p.config.global_defs.lvs_sync_daemon
    p._sync_daemons(None, syncd)
    p._sync_daemons(syncd, None)
    assert both == []


def test_other_data_planes_have_no_sync_daemon(both: list[ipvs.SyncDaemonConfig | None],
                                               caplog: pytest.LogCaptureFixture) -> None:
    p = process("lvs_sync_daemon eth1 id 7", "nftables")
    with caplog.at_level(logging.WARNING):
        p._sync_daemons(None, p.config.global_defs.lvs_sync_daemon)
    assert both == [] and "needs the ipvs data plane (this one is nftables)" in caplog.text


def test_a_reload_that_changes_it_restarts_both(both: list[ipvs.SyncDaemonConfig | None]) -> None:
    p = process("lvs_sync_daemon eth1 id 7")
    new = load_config_text("global_defs {\n  lvs_sync_daemon eth1 id 8\n}\n").config
    assert new is not None

    async def reload() -> None:
        p.reload(new)
        assert p._syncd_task is not None
        await p._syncd_task

    asyncio.run(reload())
    assert both == [ipvs.SyncDaemonConfig("eth1", 8)]
    # to one that follows an instance: the checker's threads stop, the VRRP process takes over
    p._sync_daemons(LvsSyncDaemon("eth1", syncid=8), LvsSyncDaemon("eth1", "VI_1", 8))
    assert both[-1] is None


def test_run_both_stops_what_runs_then_starts_master_and_backup(monkeypatch: pytest.MonkeyPatch) -> None:
    k = FakeKernel()
    monkeypatch.setattr(ipvs, "IpvsSocket", lambda: _FakeSocket())
    monkeypatch.setattr(ipvs, "start_sync_daemon", k.start)
    monkeypatch.setattr(ipvs, "stop_sync_daemon", k.stop)
    cfg = ipvs.SyncDaemonConfig("eth1", 7)
    k.running = {ipvs.SYNC_BACKUP}  # left by a previous run
    ipvs.run_both_sync_daemons(cfg)
    assert k.running == {ipvs.SYNC_MASTER, ipvs.SYNC_BACKUP}
    assert k.calls == [("stop", ipvs.SYNC_MASTER), ("stop", ipvs.SYNC_BACKUP),
                       ("start", ipvs.SYNC_MASTER), ("start", ipvs.SYNC_BACKUP)]
    ipvs.run_both_sync_daemons(None)
    assert k.running == set()
