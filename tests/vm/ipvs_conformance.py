"""The conformance suite (tests/conformance/suite.py) against the IPVS data plane.

Runs inside the ip_vs VM (``tests/vm/test_ipvs_in_vm.py`` starts it once for this module and
``ipvs_cases.py``), or directly where the kernel has ip_vs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.lvs.dataplane import ipvs
from pykeepalived.lvs.dataplane.ipvs import IpvsDataPlane
from pykeepalived.lvs.model import Table
from tests.conformance import suite
from tests.conformance.lab_harness import LabHarness, seed_lab


@pytest.fixture(scope="module")
def harness() -> Iterator[LabHarness]:
    assert ipvs.available(), "these cases need a kernel with ip_vs (run them through test_ipvs_in_vm.py)"
    with seed_lab() as lab:
        yield LabHarness(lab, lambda: IpvsDataPlane(scoped=True))


@pytest.fixture(autouse=True)
def empty(harness: LabHarness) -> None:
    harness.run(lambda new: subprocess.run(["ipvsadm", "-C"], check=True))


def test_reconcile_converges(harness: LabHarness) -> None:
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        tables = suite.tables_for(harness)
        desired: Table = data.draw(tables)
        observed: Table = data.draw(tables)
        suite.check_converges(harness, desired, observed)

    check()


def test_counters_count_known_traffic(harness: LabHarness) -> None:
    suite.check_counters(harness)


def test_drain_keeps_established_connections(harness: LabHarness) -> None:
    suite.check_drain(harness)


def test_a_new_instance_adopts_the_table(harness: LabHarness) -> None:
    suite.check_adoption(harness)
