"""scripts/install-system-packages: which packages for which job, and the policy-rc.d it may add.

apt-get, dpkg-query and id are stand-ins on PATH (nothing is installed); the stand-in apt-get records its
arguments and whether the policy-rc.d that keeps daemons from starting was in place while it ran.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "install-system-packages"


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "id": "#!/bin/sh\necho 0\n",
        "dpkg-query": "#!/bin/sh\nexit 1\n",  # nothing installed
        "apt-get": f"""#!/bin/sh
echo "$@" >> {tmp_path}/apt.log
if [ "$1" = install ]; then
  if [ -x "$PYKEEPALIVED_POLICY_RC_D" ]; then "$PYKEEPALIVED_POLICY_RC_D"; echo "policy exit $?" >> {tmp_path}/apt.log
  else echo "no policy" >> {tmp_path}/apt.log; fi
  [ -e {tmp_path}/apt-fails ] && exit 100
fi
exit 0
""",
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def run(fakes: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{fakes / 'bin'}:/usr/bin:/bin", "PYKEEPALIVED_POLICY_RC_D": str(fakes / "policy-rc.d")}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30)


def apt_log(fakes: Path) -> list[str]:
    return (fakes / "apt.log").read_text().splitlines()


def test_the_demo_set_is_what_the_demo_needs(fakes: Path) -> None:
    assert run(fakes, "demo").returncode == 0
    install = next(line for line in apt_log(fakes) if line.startswith("install"))
    for pkg in ("iproute2", "nftables", "libnftables1", "python3-venv"):
        assert pkg in install.split()
    for pkg in ("qemu-system-x86", "haproxy", "wrk", "keepalived"):
        assert pkg not in install.split()


def test_the_test_set_is_the_default_and_adds_the_tools(fakes: Path) -> None:
    assert run(fakes).returncode == 0
    install = next(line for line in apt_log(fakes) if line.startswith("install")).split()
    assert {"keepalived", "haproxy", "wrk", "qemu-system-x86", "nftables", "python3-venv"} <= set(install)


def test_daemons_cannot_start_during_the_install_and_the_policy_file_it_added_is_removed(fakes: Path) -> None:
    assert run(fakes, "demo").returncode == 0
    assert "policy exit 101" in apt_log(fakes)
    assert not (fakes / "policy-rc.d").exists()


def test_the_policy_file_is_removed_when_apt_fails(fakes: Path) -> None:
    (fakes / "apt-fails").touch()
    assert run(fakes, "demo").returncode == 100
    assert "policy exit 101" in apt_log(fakes)
    assert not (fakes / "policy-rc.d").exists()


def test_a_policy_file_that_was_there_before_is_left_alone(fakes: Path) -> None:
    mine = fakes / "policy-rc.d"
    mine.write_text("#!/bin/sh\nexit 101\n# the site's own\n")
    mine.chmod(0o755)
    assert run(fakes, "demo").returncode == 0
    assert mine.read_text().endswith("# the site's own\n")


def test_unknown_set_is_refused(fakes: Path) -> None:
    cp = run(fakes, "everything")
    assert cp.returncode == 2 and "usage" in cp.stderr


def test_without_root_nothing_is_installed(fakes: Path) -> None:
    (fakes / "bin" / "id").write_text("#!/bin/sh\necho 1000\n")
    cp = run(fakes, "demo")
    assert cp.returncode == 0 and "not root" in cp.stderr
    assert not (fakes / "apt.log").exists()
    assert os.access(SCRIPT, os.X_OK)
