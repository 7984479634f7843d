"""Script security at run time: users, PATH search, symlinks, and keepalived's unsafe-path rules.

Tests that chown files to ``nobody`` need root; they skip elsewhere (outside CI).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import script_security as security
from pykeepalived.config.model import Script
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.notify.security import Status, check_script

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT and not os.environ.get("CI"), reason="needs root (chown)")


def nobody() -> tuple[int, int]:
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def make_script(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def gd(**kw: Any) -> GlobalDefs:
    base: dict[str, Any] = {"script_user": "root"}
    base.update(kw)
    return GlobalDefs(**base)


@pytest.fixture
def safe_dir(tmp_path: Path) -> Path:
    """A directory whose whole path is root-owned and not writable by others (tmp_path is, as root)."""
    for comp in security._components(str(tmp_path)):
        st = os.lstat(comp)
        sticky = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        if st.st_uid != 0 or (not sticky and st.st_mode & stat.S_IWOTH):
            pytest.skip(f"{comp} is not a safe directory on this machine")
    return tmp_path


# ------------------------------------------------------------------------------------------- safe


@needs_root
def test_root_owned_safe_script_passes(safe_dir: Path) -> None:
    script = make_script(safe_dir / "notify.sh")
    v = check_script(Script((str(script), "arg one")), gd(enable_script_security=True))
    assert v.run and v.status is Status.OK and not v.insecure
    assert v.argv == (str(script), "arg one")
    assert v.path == os.path.realpath(script)
    assert v.user is not None and (v.user.uid, v.user.gid) == (0, 0)
    assert v.needs_protection
    assert v.messages == ()


@needs_root
def test_sticky_world_writable_directory_is_exempt(safe_dir: Path) -> None:
    d = safe_dir / "sticky"
    d.mkdir()
    d.chmod(0o1777)
    v = check_script([str(make_script(d / "s.sh"))], gd(enable_script_security=True))
    assert v.run and v.status is Status.OK


# ------------------------------------------------------------------------------------------- unsafe


@needs_root
def test_world_writable_directory_refused_under_script_security(safe_dir: Path) -> None:
    d = safe_dir / "ww"
    d.mkdir()
    d.chmod(0o777)
    script = make_script(d / "notify.sh")
    v = check_script([str(script)], gd(enable_script_security=True))
    assert not v.run and v.status is Status.INSECURE and v.insecure
    assert v.path is None
    assert f"Unsafe permissions found for script '{script}' - disabling." in v.messages


@needs_root
def test_world_writable_directory_allowed_with_warning_without_script_security(safe_dir: Path) -> None:
    d = safe_dir / "ww"
    d.mkdir()
    d.chmod(0o777)
    script = make_script(d / "notify.sh")
    v = check_script([str(script)], gd())
    assert v.run and v.status is Status.INSECURE and v.insecure
    assert v.path == str(script)
    assert v.messages == (f"Unsafe permissions found for script '{script}'.",)


@needs_root
def test_script_owned_by_nobody_refused_under_script_security(safe_dir: Path) -> None:
    script = make_script(safe_dir / "mine.sh")
    os.chown(script, *nobody())
    refused = check_script(Script((str(script),)), gd(enable_script_security=True))
    assert not refused.run and refused.status is Status.INSECURE
    assert refused.messages == (f"Unsafe permissions found for script '{script}' - disabling.",)
    allowed = check_script(Script((str(script),)), gd())
    assert allowed.run and allowed.insecure
    assert allowed.messages == (f"Unsafe permissions found for script '{script}'.",)


@needs_root
def test_group_writable_only_matters_for_a_non_root_group(safe_dir: Path) -> None:
    root_group = make_script(safe_dir / "g0.sh", 0o775)
    assert check_script([str(root_group)], gd(enable_script_security=True)).status is Status.OK
    other = make_script(safe_dir / "g1.sh", 0o775)
    os.chown(other, 0, nobody()[1])
    v = check_script([str(other)], gd(enable_script_security=True))
    assert not v.run and v.status is Status.INSECURE


@needs_root
def test_script_run_as_non_root_user_skips_the_path_walk(safe_dir: Path) -> None:
    """keepalived only protects scripts that run as root; a script run as nobody is not walked."""
    d = safe_dir / "ww"
    d.mkdir()
    d.chmod(0o777)
    script = make_script(d / "n.sh")
    v = check_script(Script((str(script),), user="nobody"), gd(enable_script_security=True))
    assert v.run and v.status is Status.OK and not v.needs_protection
    assert v.user is not None and (v.user.uid, v.user.gid) == nobody()


@needs_root
def test_setuid_root_script_is_protected_even_for_another_user(safe_dir: Path) -> None:
    d = safe_dir / "ww"
    d.mkdir()
    d.chmod(0o777)
    script = make_script(d / "suid.sh", 0o4755)
    v = check_script(Script((str(script),), user="nobody"), gd(enable_script_security=True))
    assert v.needs_protection and not v.run and v.status is Status.INSECURE


def test_not_executable_is_disabled(tmp_path: Path) -> None:
    script = make_script(tmp_path / "plain.sh", 0o644)
    me = pwd.getpwuid(os.geteuid())
    v = check_script([str(script)], gd(script_user=me.pw_name))
    assert not v.run and v.status is Status.NOT_EXECUTABLE
    assert v.messages == (
        f"WARNING - script '{script}' is not executable for uid:gid {me.pw_uid}:{me.pw_gid} - disabling.",)


def test_system_form_is_not_checked() -> None:
    v = check_script(["</etc/passwd"], gd(enable_script_security=True))
    assert v.run and v.status is Status.SYSTEM


# ------------------------------------------------------------------------------------------- PATH


def test_path_search_resolves_bare_names(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    script = make_script(bindir / "mycheck")
    v = check_script(["mycheck", "-v"], gd(), env_path=f"{tmp_path}/empty:{bindir}")
    assert v.run
    assert v.argv == (str(script), "-v")
    assert f"WARNING - script `mycheck` resolved by path search to `{script}`. Please specify full path." \
        in v.messages


def test_path_search_missing_and_not_executable(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    make_script(bindir / "noexec", 0o644)
    missing = check_script(["nosuchscript"], gd(), env_path=str(bindir))
    assert not missing.run and missing.status is Status.MISSING
    assert missing.messages == ("Cannot find script nosuchscript in path - disabling",)
    noexec = check_script(["noexec"], gd(), env_path=str(bindir))
    assert not noexec.run
    assert noexec.messages == ("Permissions failure for script noexec in path - disabling",)


def test_missing_absolute_script(tmp_path: Path) -> None:
    v = check_script([str(tmp_path / "gone.sh")], gd())
    assert not v.run and v.status is Status.MISSING
    assert v.messages == (f"Script {tmp_path}/gone.sh cannot be accessed - No such file or directory",)


# ------------------------------------------------------------------------------------------- symlinks


@needs_root
def test_symlink_runs_the_real_path_unless_use_symlink_paths(safe_dir: Path) -> None:
    real = make_script(safe_dir / "real" / "check.sh")
    link = safe_dir / "check-link"
    link.symlink_to(real)
    v = check_script([str(link), "x"], gd(enable_script_security=True))
    assert v.run and v.status is Status.OK
    assert v.path == str(real)
    assert v.argv == (str(link), "x")  # the program still sees the name it was configured with
    w = check_script([str(link)], gd(enable_script_security=True), use_symlink_paths=True)
    assert w.run and w.path == str(link)


@needs_root
def test_symlink_into_an_unsafe_directory_is_refused(safe_dir: Path) -> None:
    d = safe_dir / "ww"
    d.mkdir()
    d.chmod(0o777)
    real = make_script(d / "check.sh")
    link = safe_dir / "check-link"
    link.symlink_to(real)
    v = check_script([str(link)], gd(enable_script_security=True))
    assert not v.run and v.status is Status.INSECURE
    assert f"Unsafe permissions found for script '{real}' - disabling." in v.messages


@needs_root
def test_symlink_owned_by_nobody_is_unsafe(safe_dir: Path) -> None:
    real = make_script(safe_dir / "check.sh")
    link = safe_dir / "check-link"
    link.symlink_to(real)
    os.lchown(link, *nobody())
    v = check_script([str(link)], gd(enable_script_security=True))
    assert not v.run
    assert f"Unsafe permissions found for script '{link}' - disabling." in v.messages


@needs_root
def test_root_owned_directory_symlink_in_path_is_accepted(safe_dir: Path) -> None:
    """e.g. /bin -> usr/bin on merged-/usr systems (keepalived 2.4 would say 'Wrong file type')."""
    real = make_script(safe_dir / "usr" / "bin" / "check.sh")
    (safe_dir / "bin").symlink_to("usr/bin")
    v = check_script([str(safe_dir / "bin" / "check.sh")], gd(enable_script_security=True))
    assert v.run and v.status is Status.OK and v.path == str(real)


def test_dot_segments_are_cleaned(tmp_path: Path) -> None:
    script = make_script(tmp_path / "a" / "s.sh")
    v = check_script([f"{tmp_path}/a/../a/./s.sh"], gd())
    assert v.argv[0] == str(script)


# ------------------------------------------------------------------------------------------- users


def test_unknown_script_user_ignores_the_script(tmp_path: Path) -> None:
    script = make_script(tmp_path / "s.sh")
    v = check_script(Script((str(script),), user="no_such_user_xyz"), gd(), kind="vrrp_script")
    assert not v.run and v.status is Status.NO_USER
    assert v.messages == ("Script user 'no_such_user_xyz' does not exist",
                          f"Invalid user/group for vrrp_script script {script} - ignoring")


def test_unknown_group(tmp_path: Path) -> None:
    script = make_script(tmp_path / "s.sh")
    v = check_script(Script((str(script),), user="root", group="no_such_group_xyz"), gd())
    assert not v.run and v.messages[0] == "Script group 'no_such_group_xyz' does not exist"


def test_default_user_is_keepalived_script_or_us(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = make_script(tmp_path / "s.sh")
    monkeypatch.setattr(security, "DEFAULT_SCRIPT_USER", "no_such_user_xyz")
    v = check_script([str(script)], GlobalDefs(), our_uid=0, our_gid=0)
    assert v.user is not None and (v.user.uid, v.user.gid) == (0, 0)
    # under script security a missing keepalived_script user (and no script_user) disables the script
    s = check_script([str(script)], GlobalDefs(enable_script_security=True))
    assert not s.run and s.status is Status.NO_USER
    assert "Unable to set default user no_such_user_xyz for script" in s.messages
    # ... unless the script names its user
    assert check_script(Script((str(script),), user="root"), GlobalDefs(enable_script_security=True)).user


def test_default_user_keepalived_script_when_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = make_script(tmp_path / "s.sh")
    monkeypatch.setattr(security, "DEFAULT_SCRIPT_USER", "nobody")
    v = check_script([str(script)], GlobalDefs(enable_script_security=True))
    assert v.user is not None and v.user.user == "nobody"


def test_supplementary_groups_with_leading_colon() -> None:
    who, msgs = security.user_ids("root", ":root")
    assert who is not None and who.groups is not None and 0 in who.groups and not msgs
    plain, _ = security.user_ids("root", "root")
    assert plain is not None and plain.groups is None


def test_is_executable_is_keepalived_s_rule(tmp_path: Path) -> None:
    f = make_script(tmp_path / "x", 0o701)
    st = os.stat(f)
    assert security.is_executable(st, 0, 0)  # root: any x bit
    assert security.is_executable(st, st.st_uid, 12345)  # owner: u+x
    assert security.is_executable(st, 4242, 4242)  # others: o+x
    os.chmod(f, 0o710)
    st = os.stat(f)
    assert not security.is_executable(st, 4242, 4242)
    assert security.is_executable(st, 4242, st.st_gid)
