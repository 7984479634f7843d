"""The checker process never runs more checks at once than it may open descriptors."""

from __future__ import annotations

import subprocess
import sys

from pykeepalived.daemon.checker import FD_HEADROOM, MAX_IN_FLIGHT, in_flight_budget


def test_in_flight_budget_leaves_headroom() -> None:
    assert in_flight_budget(20_000) == MAX_IN_FLIGHT
    assert in_flight_budget(1024) == 1024 - FD_HEADROOM
    assert in_flight_budget(100) == 16  # a floor: checks still run, late rather than never


def test_soft_limit_is_raised_within_the_hard_limit() -> None:
    """A soft limit of 512 (hard 4096) is raised to what the checker wants, as keepalived does."""
    code = ("import resource; from pykeepalived.daemon.runtime import raise_fd_limit;"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 4096));"
            "print(raise_fd_limit(1280), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1280", "1280"]
    # wanting more than the hard limit: an unprivileged process gets the hard limit
    code_over = ("import os, resource; from pykeepalived.daemon.runtime import raise_fd_limit;"
                 "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 1000));"
                 "os.setuid(65534) if os.getuid() == 0 else None;"
                 "print(raise_fd_limit(5000), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", code_over], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1000", "1000"]
