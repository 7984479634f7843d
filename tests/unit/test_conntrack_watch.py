"""The conntrack watch: a warning once the table passes 90 % of its limit, a notice once back under 80 %."""

from __future__ import annotations

import logging
from pathlib import Path

from pykeepalived.lvs.conntrack_watch import ConntrackUse, ConntrackWatch, read_conntrack_use


def test_the_watch_warns_once_per_crossing_and_says_when_the_table_is_back() -> None:
    watch = ConntrackWatch()
    said = [watch.sample(ConntrackUse(n, 1000)) for n in (100, 899, 900, 990, 1000, 850, 801, 799, 850, 950)]
    assert [s[0] if s else None for s in said] == [None, None, logging.WARNING, None, None, None, None,
                                                   logging.INFO, None, logging.WARNING]
    warning = said[2]
    assert warning is not None and "900 of 1000 entries (90%)" in warning[1]
    assert "nf_conntrack_max" in warning[1] and "nf_conntrack_tcp_timeout_time_wait" in warning[1]
    back = said[7]
    assert back is not None and back[1] == "conntrack table back to 799 of 1000 entries (80%)"


def test_no_table_or_no_limit_says_nothing() -> None:
    watch = ConntrackWatch()
    assert watch.sample(None) is None and watch.sample(ConntrackUse(5, 0)) is None and not watch.warned


def test_the_table_is_read_from_the_kernels_two_files(tmp_path: Path) -> None:
    assert read_conntrack_use(tmp_path) is None  # conntrack not loaded: no files
    (tmp_path / "nf_conntrack_count").write_text("1234\n")
    (tmp_path / "nf_conntrack_max").write_text("262144\n")
    use = read_conntrack_use(tmp_path)
    assert use == ConntrackUse(1234, 262144) and round(use.share, 4) == 0.0047
