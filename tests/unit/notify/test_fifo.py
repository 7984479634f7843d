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
