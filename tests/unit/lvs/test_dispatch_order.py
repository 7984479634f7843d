"""Hashing schedulers' slot tables do not depend on the order destinations come in (issue 18: N active nodes
must send a flow to the same real server whatever order each node configured, added or read them in)."""

from __future__ import annotations

import itertools

import pytest

from pykeepalived.lvs.dataplane.dispatch import plan_dispatch
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey

DESTS = [Destination(DestKey.of(f"192.168.5.{12 + i}", 80), i + 1) for i in range(4)]


@pytest.mark.parametrize("scheduler", ["mh", "sh", "dh"])
def test_every_order_of_the_same_destinations_gives_the_same_slots(scheduler: str) -> None:
    key = ServiceKey.inet("tcp", "10.99.0.5", 80)
    tables = {plan_dispatch(Service(key, scheduler, destinations=tuple(p)), {})
              for p in itertools.permutations(DESTS)}
    assert len(tables) == 1
