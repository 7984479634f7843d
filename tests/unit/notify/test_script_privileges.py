"""Scripts drop all of root's privileges: uid, gid and supplementary groups; every script kind goes through
script security (issue: ``script_user nobody`` ran scripts as ``uid=65534 gid=0 groups=0``; MISC_CHECK,
notify_up/down and quorum scripts ran as root and a world-writable MISC_CHECK script ran)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.config.model import Script
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.config.model_lvs import MiscCheck
from pykeepalived.daemon.checker import without_refused_misc_checks
from pykeepalived.notify.scripts import ScriptJob, privileges, run_with_timeout
from pykeepalived.notify.security import ScriptPolicy
from tests.conftest import require_root

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory other users can traverse (pytest's own is root-only), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="pk-priv-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _id_script(tmp_path: Path) -> tuple[Path, Path]:
    """A root-owned, safe script that records who it runs as, into a directory nobody may write."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out_dir.chmod(0o777)
    out = out_dir / "id.txt"
    script = tmp_path / "whoami.sh"
    script.write_text(f"#!/bin/sh\n{{ id -u; id -g; id -G; }} > {out}\n")
    script.chmod(0o755)
    return script, out


def _who(out: Path) -> tuple[str, str, str]:
    uid, gid, groups = out.read_text().split("\n")[:3]
    return uid, gid, groups


def test_privileges_always_clear_supplementary_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "getegid", lambda: 0)
    assert privileges(ScriptJob(("/bin/true",), 65534, 65534)) == {"user": 65534, "group": 65534,
                                                                   "extra_groups": [65534]}
    assert privileges(ScriptJob(("/bin/true",), 65534, 100, (100, 27))) == {"user": 65534, "group": 100,
                                                                            "extra_groups": [100, 27]}
    assert privileges(ScriptJob(("/bin/true",))) == {"group": 0, "extra_groups": [0]}


def test_script_user_drops_uid_gid_and_groups(tmp_path: Path) -> None:
    require_root()
    script, out = _id_script(tmp_path)
    policy = ScriptPolicy(GlobalDefs(script_user="nobody"))
    job = policy.job(Script((str(script),)), kind="misc_path")
    assert job is not None
    outcome = asyncio.run(run_with_timeout(job, 5))
    assert outcome.status == 0
    assert _who(out) == (str(NOBODY.pw_uid), str(NOBODY.pw_gid), str(NOBODY.pw_gid))


def test_root_scripts_lose_root_s_supplementary_groups(tmp_path: Path) -> None:
    require_root()
    script, out = _id_script(tmp_path)
    policy = ScriptPolicy(GlobalDefs(script_user="root"))
    job = policy.job(Script((str(script),)))
    assert job is not None

    async def run() -> Any:
        return await run_with_timeout(job, 5)

    os.setgroups([0, 4, 27])  # as root with extra groups (adm, sudo): they must not reach the script
    try:
        assert asyncio.run(run()).status == 0
    finally:
        os.setgroups([0])
    assert _who(out) == ("0", "0", "0")


MISC_CONF = """global_defs {{
  enable_script_security
  script_user {user}
}}
virtual_server 10.0.0.5 80 {{
  lb_algo rr
  protocol TCP
  real_server 192.168.0.12 80 {{
    MISC_CHECK {{
      misc_path "{script}"
    }}
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""


def test_world_writable_misc_check_script_is_removed_not_run(tmp_path: Path) -> None:
    require_root()
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\ntouch /tmp/should-not-run\nexit 0\n")
    script.chmod(0o777)  # world-writable: running it as root would run anyone's code
    cfg = load_config_text(MISC_CONF.format(user="root", script=script), interfaces={"lo"}).config
    assert cfg is not None
    policy = ScriptPolicy(cfg.global_defs)
    vss = without_refused_misc_checks(cfg.lvs.virtual_servers, policy)
    kinds = [type(c).__name__ for c in vss[0].real_servers[0].checkers]
    assert kinds == ["TcpCheck"]  # keepalived's free_checker: the RS is judged by its other checkers
    # and the job the policy would hand out for it is None
    misc = next(c for c in cfg.lvs.virtual_servers[0].real_servers[0].checkers if isinstance(c, MiscCheck))
    assert policy.job(misc.misc_path, kind="misc_path") is None


def test_misc_check_runs_as_script_user(tmp_path: Path) -> None:
    require_root()
    script, out = _id_script(tmp_path)
    cfg = load_config_text(MISC_CONF.format(user="nobody", script=script), interfaces={"lo"}).config
    assert cfg is not None
    policy = ScriptPolicy(cfg.global_defs)
    vss = without_refused_misc_checks(cfg.lvs.virtual_servers, policy)
    misc = next(c for c in vss[0].real_servers[0].checkers if isinstance(c, MiscCheck))
    from pykeepalived.check.probes.misc import MiscProbe

    async def attempt() -> Any:
        probe = MiscProbe(misc, 1, asyncio.get_running_loop(), policy.job(misc.misc_path, kind="misc_path"))
        return await probe.attempt()

    assert asyncio.run(attempt()).ok
    assert _who(out) == (str(NOBODY.pw_uid), str(NOBODY.pw_gid), str(NOBODY.pw_gid))


def test_checker_notify_scripts_go_through_script_security(tmp_path: Path) -> None:
    """notify_up/down and quorum scripts: the checker process's jobs come from the same policy."""
    require_root()
    from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess

    script, _ = _id_script(tmp_path)
    cfg = load_config_text(MISC_CONF.format(user="nobody", script=script), interfaces={"lo"}).config
    assert cfg is not None
    proc = CheckerProcess(cfg, CheckerOptions())
    job = proc._job(Script((str(script),)))
    assert job is not None and (job.uid, job.gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    unsafe = tmp_path / "unsafe.sh"
    unsafe.write_text("#!/bin/sh\nexit 0\n")
    unsafe.chmod(0o777)
    root_cfg = load_config_text(MISC_CONF.format(user="root", script=script), interfaces={"lo"}).config
    assert root_cfg is not None
    assert CheckerProcess(root_cfg, CheckerOptions())._job(Script((str(unsafe),))) is None
