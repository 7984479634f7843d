"""Pid files: a live owner blocks a second daemon; a dead or zombie one does not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pykeepalived.daemon.runtime import pid_alive, remove_pid_file, write_pid_file


def test_zombie_is_not_alive_and_does_not_block_a_restart(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:  # the child exits at once; we do not reap it yet: a zombie
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not pid_alive(pid)
        pid_file = tmp_path / "x.pid"
        pid_file.write_text(f"{pid}\n")
        assert write_pid_file(str(pid_file))  # a killed daemon's zombie must not stop the new one
        assert pid_file.read_text() == f"{os.getpid()}\n"
        remove_pid_file(str(pid_file))
        assert not pid_file.exists()
    finally:
        os.waitpid(pid, 0)
    assert not pid_alive(pid)


def test_a_live_owner_blocks_the_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    parent = os.getppid()  # alive, and not us
    pid_file.write_text(f"{parent}\n")
    assert pid_alive(parent)
    assert not write_pid_file(str(pid_file))
    assert pid_file.read_text() == f"{parent}\n"


def test_pid_file_written_through_no_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    pid_file = tmp_path / "x.pid"
    pid_file.symlink_to(victim)
    assert write_pid_file(str(pid_file))
    assert victim.read_text() == "precious\n"
    assert not pid_file.is_symlink() and pid_file.read_text() == f"{os.getpid()}\n"
    remove_pid_file(str(pid_file))
    assert not pid_file.exists() and victim.exists()


def test_a_link_to_another_pid_file_is_not_read_as_ours(tmp_path: Path) -> None:
    """A link named like our pid file but pointing at init's: not a live owner, not removed through."""
    other = tmp_path / "other.pid"
    other.write_text("1\n")
    link = tmp_path / "x.pid"
    link.symlink_to(other)
    assert write_pid_file(str(link))  # pid 1 is alive, but the link is not a pid file of ours
    assert other.read_text() == "1\n"


def test_a_full_disk_refuses_to_start_with_a_reason_not_a_traceback(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    import subprocess

    from tests.conftest import require_root

    require_root()
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], check=True)
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        assert not write_pid_file(str(mnt / "x.pid"))
        assert "Unable to write pid file" in caplog.text and "No space left on device" in caplog.text
        assert sorted(p.name for p in mnt.iterdir()) == ["filler"]  # no temporary file left behind
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
