"""Runs the ``CASES`` below against a real kernel's IPVS (and ipvlan): directly when this kernel has ip_vs,
else in one VM.

This machine's kernel has no ip_vs, so the cases run inside a throw-away QEMU VM booting Debian's stock
kernel (``scripts/run-in-vm``; the host's file system is shared read-only, so this checkout and its
Python run unchanged).  One VM start runs the whole module; its output is shown on failure.
In CI (CI=true) this never skips: a missing VM script or qemu is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO, require_root

#: the IPVS cases, the data-plane conformance suite against IPVS, mh across nodes (3,000 flows against the
#: kernel's choice per measurement), connection pickup across three active nodes (mh + sloppy_tcp, the sync
#: daemon, and the control), use_ipvlan (this kernel has no ipvlan either) and virtual routes with MPLS and ILA
#: encapsulations (nor these): one VM start for all
CASES = ("tests/vm/ipvs_cases.py", "tests/vm/ipvs_conformance.py", "tests/vm/ipvs_mh_cases.py",
         "tests/vm/ipvs_pickup_cases.py", "tests/vm/vmac_ipvlan_cases.py", "tests/vm/lwt_routes_cases.py")
#: the whole VM run (boot included) must finish well within this; measured ~1-2 min under TCG
VM_TIMEOUT = 600


def _kernel_has_ip_vs() -> bool:
    return Path("/proc/net/ip_vs").exists() or Path("/sys/module/ip_vs").exists()


@pytest.mark.vm
@pytest.mark.timeout(VM_TIMEOUT + 60)
def test_ipvs_data_plane_against_a_real_kernel() -> None:
    require_root()
    pytest_argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CASES]
    if _kernel_has_ip_vs():
        argv = pytest_argv
    else:
        script = REPO / "scripts" / "run-in-vm"
        assert os.access(script, os.X_OK), f"{script} is part of the repository and must be executable"
        argv = [str(script), "--timeout", str(VM_TIMEOUT), "--", *pytest_argv]
    t0 = time.monotonic()
    cp = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=VM_TIMEOUT + 30,
                        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    elapsed = time.monotonic() - t0
    output = cp.stdout + cp.stderr
    print(output)
    print(f"ipvs cases: {elapsed:.0f} s wall ({'direct' if argv is pytest_argv else 'one VM start'})")
    if cp.returncode in (124, 125) and not IN_CI and argv is not pytest_argv:
        pytest.skip(f"the ip_vs VM could not run here (exit {cp.returncode}):\n{output[-2000:]}")
    assert cp.returncode == 0, f"ipvs cases failed (exit {cp.returncode}):\n{output[-6000:]}"
