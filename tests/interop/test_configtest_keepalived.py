"""``pykeepalived -t`` and Debian's ``keepalived -t`` (2.2.7) exit alike on tests/data/configtest/*.conf.

Both run as root inside one private network namespace holding lo, eth0 and eth1 (a veth pair, all
up), with config id ``lb1`` -- the conditions the cases' recorded expectations come from.  The
namespace is this module's own and is deleted afterwards; nothing is sent anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary, require_root

pytestmark = [pytest.mark.interop, pytest.mark.root]

CASES = Path(__file__).resolve().parents[1] / "data" / "configtest"
PYKEEPALIVED = [sys.executable, "-c", "import sys; from pykeepalived.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    require_root()
    require_binary("keepalived")
    name = f"pkct{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
                       check=True)
        for dev in ("lo", "eth0", "eth1"):
            subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run_t(namespace: str, argv: list[str], path: Path) -> tuple[int, str]:
    p = subprocess.run(["ip", "netns", "exec", namespace, *argv, "-t", "-i", "lb1", "-f", str(path)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.glob("*.conf")))
def test_both_config_tests_exit_alike(namespace: str, case: str) -> None:
    path = CASES / case
    k_rc, k_out = run_t(namespace, ["keepalived"], path)
    p_rc, p_out = run_t(namespace, PYKEEPALIVED, path)
    assert p_rc == k_rc, f"keepalived {k_rc}:\n{k_out}\npykeepalived {p_rc}:\n{p_out}"
