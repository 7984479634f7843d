"""Virtual routes with MPLS and ILA encapsulations against a kernel that has them (run inside the VM by
``test_ipvs_in_vm.py``; the host's kernel lacks them, where the ``lwt`` case of
``tests/integration/test_virtual_routes_rules.py`` skips saying so).

The same comparison as that case: Debian's keepalived 2.2.7, then pykeepalived, with the same
``virtual_routes``; the kernel's route tables while MASTER equal, everything removed on BACKUP and at stop.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pykeepalived.lab.topology import Lab
from tests.integration import test_virtual_routes_rules as routes
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]


@pytest.fixture(scope="module", autouse=True)
def _lwt_modules() -> None:
    """The stock kernel builds these encapsulations as modules, which nothing loads by itself."""
    for module in ("mpls_iptunnel", "ila"):
        subprocess.run(["modprobe", module], check=True, capture_output=True)


def test_mpls_and_ila_routes_installed_and_removed_as_keepalived_does(lan: tuple[Lab, Path]) -> None:
    routes.test_routes_and_rules_installed_and_removed_as_keepalived_does(lan, "lwt")
