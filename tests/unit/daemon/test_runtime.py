"""Pid files: a live owner blocks a second daemon; a dead or zombie one does not."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
