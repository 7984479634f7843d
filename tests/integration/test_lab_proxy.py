"""``pykeepalived lab demo --dataplane proxy``: the seed scenario (VRRP failover, health checks, sorry server,
wlc 20:8 with persistence) with the userspace proxy as both load balancers' data plane, in namespaces the lab
creates and removes."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import require_root


def test_the_seed_demo_runs_on_the_proxy_data_plane() -> None:
    require_root()
    cp = subprocess.run([sys.executable, "-m", "pykeepalived", "lab", "demo", "--dataplane", "proxy"],
                        capture_output=True, text=True, timeout=300)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out
    assert "Demo finished: every step of the seed worked." in out
    assert "data plane proxy" in out  # the status tables say which data plane served
    # wlc 20:8 spreads 56 short-lived clients 40:16, as IPVS does (closed connections count as inactive)
    assert "56 clients (10.0.0.101-156), one request each: rs1 40 (71%), rs2 16 (29%)" in out
