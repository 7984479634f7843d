"""FifoWriter: one line per write, exactly one newline, whoever the caller is."""

from __future__ import annotations

import os
from pathlib import Path

from pykeepalived.notify.fifo import FifoWriter


def test_each_line_ends_with_exactly_one_newline(tmp_path: Path) -> None:
    path = str(tmp_path / "fifo")
    w = FifoWriter()
    assert w.open(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        w.write('INSTANCE "VI_1" MASTER 100')
        w.write("VS [10.0.0.5]:tcp:80 UP\n")
        assert os.read(reader, 4096) == b'INSTANCE "VI_1" MASTER 100\nVS [10.0.0.5]:tcp:80 UP\n'
    finally:
        os.close(reader)
        w.close()


def _as_nobody_fifo(path: Path) -> None:
    import pwd

    os.mkfifo(path, 0o644)
    pw = pwd.getpwnam("nobody")
    os.chown(path, pw.pw_uid, pw.pw_gid)


def test_a_fifo_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    from tests.conftest import require_root

    require_root()
    path = tmp_path / "fifo"
    _as_nobody_fifo(path)
    w = FifoWriter()
    assert not w.open(str(path))
    assert w.paths == []
    # unless that user is the one the configuration names for it
    assert w.open(str(path), "nobody")
    w.close()
    assert path.exists()  # not ours to remove: we did not create it


def test_a_symlink_is_not_followed_and_a_regular_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real-fifo"
    os.mkfifo(target, 0o600)
    link = tmp_path / "fifo"
    link.symlink_to(target)
    w = FifoWriter()
    assert not w.open(str(link))
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert not w.open(str(plain))
    assert plain.read_text() == "x"


def test_a_fifo_it_created_is_removed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    w = FifoWriter()
    assert w.open(str(path))
    assert (os.stat(path).st_mode & 0o777) == 0o644 & ~_umask()
    w.close()
    assert not path.exists()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_a_fifo_that_cannot_be_opened_yet_is_tried_again_before_later_writes(tmp_path: Path) -> None:
    """An optional facility that fails logs and retries: the FIFO's directory appears after start."""
    now = [0.0]
    w = FifoWriter(clock=lambda: now[0])
    path = tmp_path / "later" / "fifo"
    assert not w.open(str(path))
    w.write("INSTANCE VI_1 MASTER 100")  # too early: not retried yet
    assert w.paths == []
    path.parent.mkdir()
    now[0] = 1.5
    w.write('INSTANCE "VI_1" BACKUP 100')
    assert w.paths == [str(path)]
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        w.write('INSTANCE "VI_1" MASTER 100')
        # the write that reopened it went in too (the FIFO is held open read-write, as keepalived does)
        assert os.read(reader, 4096) == b'INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\n'
    finally:
        os.close(reader)
        w.close()
