"""The conformance suite (suite.py) against the nftables data plane, in network namespaces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import Table
from tests.conftest import require_root

from . import suite
from .lab_harness import LabHarness, seed_lab


@pytest.fixture(scope="module")
def harness() -> Iterator[LabHarness]:
    require_root()
    with seed_lab() as lab:
        h = LabHarness(lab, lambda: NftablesDataPlane(table="pkconformance"))
        yield h
        h.run(lambda new: new().release())


@pytest.fixture(autouse=True)
def empty(harness: LabHarness) -> None:
    suite.clear(harness)


def test_reconcile_converges(harness: LabHarness) -> None:
    @settings(max_examples=25, deadline=None, database=None)
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
