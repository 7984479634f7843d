"""The reconciler's property test against the real nftables data plane (issue 8: the same
expectations for every data plane).

Random desired/observed pairs from tests/unit/lvs/test_reconcile.py, restricted to what the
nftables data plane supports (NAT forwarding): the kernel is first brought to ``observed`` (from
whatever the previous example left), then one apply of ``diff(desired, observed)`` converges — a
fresh data-plane object reads back exactly ``desired``, finds nothing to do, and the kernel holds
exactly one chain/map per service and one set of counters per destination (no leaks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings

from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab
from pykeepalived.lvs.dataplane.nftables import NftablesDataPlane
from pykeepalived.lvs.model import Forward, Table
from pykeepalived.lvs.reconcile import diff
from tests.conftest import require_root
from tests.unit.lvs.test_reconcile import tables


def nat_only(table: Table) -> Table:
    return Table(tuple(replace(s, destinations=tuple(replace(d, forward=Forward.NAT) for d in s.destinations))
                       for s in table.services))


nat_tables = tables.map(nat_only)


@pytest.fixture(scope="module")
def lb() -> Iterator[str]:
    require_root()
    with Lab() as lab:
        lab.add_node("lb", forwarding=True)
        yield lab.ns("lb")
        call_in_netns(lab.ns("lb"), lambda: NftablesDataPlane().release())


def kernel_objects(dp: NftablesDataPlane) -> dict[str, Any]:
    """What our ip table holds: chain and map names, and the counter sets' elements."""
    chains: set[str] = set()
    maps: set[str] = set()
    counters: dict[str, list[Any]] = {}
    for obj in dp.nft.json("list table ip pykeepalived"):
        if "chain" in obj:
            chains.add(obj["chain"]["name"])
        elif "map" in obj:
            maps.add(obj["map"]["name"])
        elif "set" in obj:
            counters[obj["set"]["name"]] = [e["elem"]["val"] for e in obj["set"].get("elem", [])]
    return {"chains": chains, "maps": maps, "counters": counters}


@settings(max_examples=40, deadline=None)
@given(desired=nat_tables, observed=nat_tables)
def test_one_apply_converges_on_the_kernel(lb: str, desired: Table, observed: Table) -> None:
    def work() -> dict[str, Any]:
        setup = NftablesDataPlane()
        setup.open()
        setup.apply(diff(observed, setup.observe()))
        dp = NftablesDataPlane()  # a daemon that finds `observed` in the kernel
        out: dict[str, Any] = {"observed": dp.observe()}
        ops = diff(desired, out["observed"])
        dp.apply(ops)
        fresh = NftablesDataPlane()
        out["after"] = fresh.observe()
        out["again"] = diff(desired, out["after"])
        out["counters"] = set(fresh.counters().dests)
        out["kernel"] = kernel_objects(fresh)
        return out

    got = call_in_netns(lb, work)
    assert got["observed"] == observed
    assert got["after"] == desired
    assert got["again"] == []
    pairs = {(s.key, d.key) for s in desired.services for d in s.destinations}
    assert got["counters"] == pairs
    kernel = got["kernel"]
    n_services = len(desired.services)
    assert len([c for c in kernel["chains"] if c.startswith("vs_")]) == n_services
    assert len([m for m in kernel["maps"] if m.startswith("dst_")]) == n_services
    assert len([m for m in kernel["maps"] if m.startswith("persist_")]) == sum(
        1 for s in desired.services if s.persistence_timeout)
    assert len(kernel["counters"].get("conns", [])) == len(pairs)
    assert len(kernel["counters"].get("traffic", [])) == 2 * len(pairs)


def test_strategy_is_restricted_to_nat() -> None:
    @settings(max_examples=50)
    @given(nat_tables)
    def check(table: Table) -> None:
        assert all(d.forward is Forward.NAT for s in table.services for d in s.destinations)

    check()


