"""keepalived's ``lvs_flush`` and ``lvs_flush_on_stop`` in the checker process: the operator's explicit request to
empty the whole shared table (IPVS) at the daemon's start and at its stop (keepalived 2.2.7's start_check and
clear_services).  Without them only the daemon's own services are touched (issue 13); ``-I`` leaves the table
alone on stop; a checker process the supervisor restarted after it died does not flush (the table holds the
health state it takes over)."""

from __future__ import annotations

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lvs.dataplane.contract import Capabilities
from pykeepalived.lvs.model import Forward


class RecordingDataPlane:
    """Records release() calls; the table is shared (IPVS-like) or the data plane's own."""

    name = "recording"

    def __init__(self, shared: bool) -> None:
        self.capabilities = Capabilities(
            forwarding=frozenset({Forward.NAT}), protocols=frozenset({"tcp"}), schedulers=frozenset({"rr"}),
            native_persistence=True, service_counters=True, shared_table=shared, needs_root=True)
        self.releases: list[bool] = []

    def release(self, *, everything: bool = False) -> None:
        self.releases.append(everything)


def process(global_lines: str, dp: RecordingDataPlane, **options: object) -> CheckerProcess:
    cfg = load_config_text(f"global_defs {{\n{global_lines}\n}}\n").config
    assert cfg is not None
    return CheckerProcess(cfg, CheckerOptions(**options), dataplane=dp)  # type: ignore[arg-type]


@pytest.mark.parametrize(("lines", "shared", "options", "expected"), [
    ("  lvs_flush", True, {}, [True]),
    ("  lvs_flush", True, {"daemon_start": False}, []),  # restarted after a crash: the table is its state
    ("  lvs_flush", False, {}, []),  # nothing of anyone else's in a table of its own
    ("", True, {}, []),
])
def test_lvs_flush_empties_the_shared_table_at_the_daemon_s_start_only(
        lines: str, shared: bool, options: dict[str, object], expected: list[bool]) -> None:
    dp = RecordingDataPlane(shared)
    process(lines, dp, **options)._flush_at_start()
    assert dp.releases == expected


@pytest.mark.parametrize(("lines", "options", "expected"), [
    ("", {}, [False]),  # its own services only
    ("  lvs_flush_on_stop", {}, [True]),  # keepalived's LVS_FLUSH_FULL: the whole table
    ("  lvs_flush_on_stop VS", {}, [False]),  # each virtual server: what it owns
    ("  lvs_flush_on_stop", {"dont_release_ipvs": True}, []),  # -I: the table stays
])
def test_stop_releases_its_own_services_or_everything_with_lvs_flush_on_stop(
        lines: str, options: dict[str, object], expected: list[bool]) -> None:
    dp = RecordingDataPlane(True)
    process(lines, dp, **options)._release_at_stop()
    assert dp.releases == expected


async def test_only_the_children_started_with_the_daemon_are_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor's environment for a child: DAEMON_START_ENV "1" at the daemon's start, "0" for a child
    it restarts (or a reload adds); the checker child reads it into ``CheckerOptions.daemon_start``."""
    import asyncio

    from pykeepalived.daemon import supervisor as sup
    from pykeepalived.daemon.child import DAEMON_START_ENV
    from pykeepalived.daemon.options import DaemonOptions

    seen: list[str] = []

    class Exited:
        pid, returncode = 4242, 0

        async def wait(self) -> int:
            await asyncio.sleep(3600)
            return 0

    async def fake_exec(*argv: str, env: dict[str, str], **kw: object) -> Exited:
        seen.append(env[DAEMON_START_ENV])
        return Exited()

    monkeypatch.setattr(asyncio, "create_subprocess_exec", fake_exec)
    cfg = load_config_text("global_defs {\n  lvs_flush\n}\n").config
    assert cfg is not None
    s = sup.Supervisor(cfg, DaemonOptions(config_file="keepalived.conf"), notifier=None)
    first, again = sup.Child("checkers"), sup.Child("checkers")
    await s._spawn(first, at_start=True)
    await s._spawn(again)
    for c in (first, again):
        assert c.waiter is not None
        c.waiter.cancel()
    assert seen == ["1", "0"]
