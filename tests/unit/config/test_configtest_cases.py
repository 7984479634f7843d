"""``pykeepalived -t`` on tests/data/configtest/*.conf gives keepalived 2.2.7's exit status and words.

Each case file records, in its leading comments, what Debian's keepalived 2.2.7 ``-t`` did with it
in a namespace holding lo, eth0 and eth1 (see the README there).  Here the same interfaces are
given as a list, so no root and no keepalived are needed.
"""

from __future__ import annotations

import pwd
import re
from pathlib import Path

import pytest

from pykeepalived.config.loader import load_for_config_test

CASES = Path(__file__).resolve().parents[2] / "data" / "configtest"
INTERFACES = frozenset({"lo", "eth0", "eth1"})


def expectations(path: Path) -> tuple[int, list[str]]:
    """(exit status, messages) from the case's ``! keepalived 2.2.7 -t`` comment lines."""
    text = path.read_text()
    m = re.search(r"^! keepalived 2\.2\.7 -t: exit (\d+)$", text, re.M)
    assert m, f"{path.name} records no exit status"
    return int(m.group(1)), re.findall(r"^! keepalived 2\.2\.7 -t says: (.*)$", text, re.M)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.conf")))
def test_config_test_agrees_with_keepalived(case: str) -> None:
    path = CASES / case
    if case == "default_script_user_absent.conf" and _user_exists("keepalived_script"):
        pytest.skip("recorded on a machine without the keepalived_script user")
    rc, messages = expectations(path)
    result = load_for_config_test(path, config_id="lb1", interfaces=INTERFACES)
    got = [d.message for d in result.diagnostics]
    for message in messages:
        message = message.removeprefix("*** ")  # keepalived's alarm prefix; we print "error:"
        assert message in got, (message, [str(d) for d in result.diagnostics])
    assert result.diagnostics.config_test_exit_code() == rc, [str(d) for d in result.diagnostics]


def test_there_is_a_case_for_each_fixed_class() -> None:
    assert len(list(CASES.glob("*.conf"))) >= 30
