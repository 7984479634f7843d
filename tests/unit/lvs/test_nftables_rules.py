"""Golden tests of the nft text the nftables data plane generates, and of its counter read-back.

:func:`~pykeepalived.lvs.dataplane.nftables.service_commands` is pure (no kernel), so each case
compares the exact batch with a file in ``nft_golden/``.  After an intended change, regenerate
with ``PYKEEPALIVED_UPDATE_GOLDEN=1 pytest tests/unit/lvs/test_nftables_rules.py`` and review the
diff.  That the kernel accepts every golden batch is checked in
tests/integration/test_nftables_dataplane.py (``test_golden_batches_are_accepted_by_the_kernel``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.lvs.dataplane.dispatch import MH_SIZE
from pykeepalived.lvs.dataplane.nftables import (
    NftablesDataPlane,
    UnsupportedByDataplane,
    assign_dest_ids,
    delete_service_commands,
    parse_counters,
    rates_between,
    service_commands,
)
from pykeepalived.lvs.model import ConnCounts, Destination, DestKey, Forward, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff
from pykeepalived.status.snapshot import Counters, Rates

GOLDEN = Path(__file__).parent / "nft_golden"
UPDATE = bool(os.environ.get("PYKEEPALIVED_UPDATE_GOLDEN"))

VIP = ServiceKey.inet("tcp", "10.0.0.5", 80)
RS1 = DestKey.of("192.168.0.12", 80)
RS2 = DestKey.of("192.168.0.13", 80)
RS3 = DestKey.of("192.168.0.14", 8080)


def _svc(scheduler: str, *dests: tuple[DestKey, int], key: ServiceKey = VIP, **kw: Any) -> Service:
    return Service(key, scheduler, destinations=tuple(Destination(k, w) for k, w in dests), **kw)


@dataclass(frozen=True)
class Case:
    """One golden batch: ``service_commands(service, sid, ids, counts, previous=…)``."""

    service: Service
    sid: int = 1
    counts: dict[tuple[ServiceKey, DestKey], ConnCounts] = field(default_factory=dict)
    previous: Service | None = None
    previous_ids: dict[DestKey, int] = field(default_factory=dict)

    def ids(self) -> dict[DestKey, int]:
        return assign_dest_ids(self.service, self.previous_ids)

    def commands(self) -> list[str]:
        return service_commands(self.service, self.sid, self.ids(), self.counts,
                                previous=self.previous, previous_ids=self.previous_ids)


V6 = ServiceKey.inet("tcp", "2001:db8::5", 80)
V6_RS1 = DestKey.of("2001:db8:1::12", 80)
V6_RS2 = DestKey.of("2001:db8:1::13", 80)

CASES: dict[str, Case] = {
    # the seed's virtual server: 20 and 8 -> one wrr cycle of 7 slots (gcd 4)
    "wrr_weights": Case(_svc("wrr", (RS1, 20), (RS2, 8)), sid=3),
    # count-driven: rs1 already has 10 active + 5 inactive, so the next picks favour rs2
    "wlc_counts": Case(_svc("wlc", (RS1, 20), (RS2, 8)),
                       counts={(VIP, RS1): ConnCounts(10, 5), (VIP, RS2): ConnCounts(0, 0)}),
    # source hashing over address and port; rs3 listens on another port
    "sh_port": Case(_svc("sh", (RS1, 1), (RS2, 1), (RS3, 2), flags=frozenset({"sh-port"}))),
    # Maglev: a 251-slot table
    "mh": Case(_svc("mh", (RS1, 1), (RS2, 2), (RS3, 1))),
    # persistence: clients of one /24 stick to one real server for 50 s
    "persistence_mask": Case(_svc("rr", (RS1, 1), (RS2, 1), persistence_timeout=50, persistence_netmask=24)),
    # a fwmark service whose real servers keep the packet's port: the map holds addresses only
    "fwmark_portless": Case(_svc("wrr", (DestKey.of("192.168.0.12", 0), 2), (DestKey.of("192.168.0.13", 0), 1),
                                 key=ServiceKey.mark(7))),
    # weight 0: in the destination map (existing connections continue) but never scheduled
    "weight_zero": Case(_svc("wrr", (RS1, 0), (RS2, 1))),
    # every weight 0: no dispatch rule at all (new connections fall through to the VIP)
    "all_weights_zero": Case(_svc("wlc", (RS1, 0), (RS2, 0))),
    # IPv6, persistent with a /64 granularity
    "ipv6": Case(_svc("wrr", (V6_RS1, 3), (V6_RS2, 1), key=V6, persistence_timeout=300, persistence_netmask=64),
                 sid=2),
    # a rewrite: rs2 leaves (its counters go with it), rs3 joins with a fresh id, persistence ends
    "rewrite": Case(_svc("wrr", (RS1, 20), (RS3, 8)),
                    previous=_svc("wrr", (RS1, 20), (RS2, 8), persistence_timeout=50),
                    previous_ids={RS1: 1, RS2: 2}),
}


def _check_golden(name: str, lines: list[str]) -> None:
    path = GOLDEN / f"{name}.nft"
    text = "\n".join(lines) + "\n"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with PYKEEPALIVED_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name}: nft text differs from {path}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_service_batch_matches_golden(name: str) -> None:
    _check_golden(name, CASES[name].commands())


def test_delete_batch_matches_golden() -> None:
    case = CASES["persistence_mask"]
    _check_golden("delete", delete_service_commands(case.service, case.sid, case.ids()))


def test_golden_files_have_no_strays() -> None:
    expected = {f"{n}.nft" for n in CASES} | {"delete.nft"}
    assert {p.name for p in GOLDEN.iterdir()} == expected


# -- properties the golden files are expected to show (so a regeneration cannot silently break them) --

def _rule(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def _slot_marks(rule: str) -> list[int]:
    table = rule.split("map {", 1)[1].rsplit("}", 1)[0]
    return [int(pair.split(":")[1]) for pair in table.split(",")]


def test_wrr_slots_follow_the_weights() -> None:
    marks = _slot_marks(_rule(CASES["wrr_weights"].commands(), "numgen inc mod"))
    assert len(marks) == 7 and marks.count(3 << 16 | 1) == 5 and marks.count(3 << 16 | 2) == 2


def test_wlc_slots_prefer_the_less_loaded_server() -> None:
    marks = _slot_marks(_rule(CASES["wlc_counts"].commands(), "numgen inc mod"))
    assert marks[0] == (1 << 16 | 2)  # rs2: 0 connections; rs1's overhead is 10*256+5


def test_hash_tables_have_the_scheduler_sizes() -> None:
    sh = _rule(CASES["sh_port"].commands(), "jhash")
    assert "jhash ip saddr . tcp sport mod 256" in sh
    mh = _rule(CASES["mh"].commands(), "jhash")
    marks = _slot_marks(mh)
    assert f"mod {MH_SIZE} " in mh and len(marks) == MH_SIZE
    assert abs(marks.count(1 << 16 | 2) / MH_SIZE - 0.5) < 0.05  # weight 2 of 4: about half the table


def test_weight_zero_is_mapped_but_never_scheduled() -> None:
    lines = CASES["weight_zero"].commands()
    assert "65537 comment" in _rule(lines, "add element ip pykeepalived dst_1")
    assert set(_slot_marks(_rule(lines, "numgen"))) == {1 << 16 | 2}
    assert not any("ct mark set" in line for line in CASES["all_weights_zero"].commands())


def test_every_destination_gets_counters_and_removed_ones_lose_them() -> None:
    lines = CASES["rewrite"].commands()
    assert CASES["rewrite"].ids() == {RS1: 1, RS3: 3}  # rs2's id 2 is not reused at once
    assert "delete element ip pykeepalived conns { 65538 }" in lines
    assert "delete element ip pykeepalived traffic { original . 65538, reply . 65538 }" in lines
    assert "add element ip pykeepalived conns { 65537, 65539 }" in lines
    assert "delete map ip pykeepalived persist_1" in lines


def test_non_nat_destinations_are_refused() -> None:
    svc = Service(VIP, "wrr", destinations=(Destination(RS1, 1, Forward.DR),))
    with pytest.raises(UnsupportedByDataplane, match="DR"):
        service_commands(svc, 1, {RS1: 1})


# -- counters ----------------------------------------------------------------------------------

def _set(name: str, elems: list[Any], family: str = "ip", table: str = "pykeepalived") -> dict[str, Any]:
    return {"set": {"family": family, "name": name, "table": table, "elem": elems}}


def _elem(val: Any, packets: int, nbytes: int) -> dict[str, Any]:
    return {"elem": {"val": val, "counter": {"packets": packets, "bytes": nbytes}}}


LIST_SETS = [
    {"metainfo": {"version": "1.0.6"}},
    _set("conns", [_elem(65537, 7, 420), _elem(65538, 3, 180)]),
    _set("traffic", [_elem({"concat": ["original", 65537]}, 50, 4000),
                     _elem({"concat": ["reply", 65537]}, 40, 90000),
                     _elem({"concat": ["original", 65538]}, 20, 1600)]),
    _set("conns", [_elem(65537, 99, 1)], family="ip6"),
    _set("conns", [_elem(65537, 1000, 1)], table="someone-else"),
    _set("other", [_elem(65537, 1000, 1)]),
]


def test_parse_counters_reads_conns_and_both_directions() -> None:
    got = parse_counters(LIST_SETS)
    assert got == {(4, 65537): Counters(7, 50, 40, 4000, 90000),
                   (4, 65538): Counters(3, 20, 0, 1600, 0),
                   (6, 65537): Counters(99, 0, 0, 0, 0)}


def test_rates_are_growth_per_second_over_the_last_interval() -> None:
    before = {"a": Counters(10, 100, 80, 10_000, 50_000), "gone": Counters(1, 1, 1, 1, 1),
              "reset": Counters(50, 50, 50, 50, 50)}
    after = {"a": Counters(14, 300, 240, 30_000, 250_000), "new": Counters(2, 4, 4, 400, 800),
             "reset": Counters(1, 2, 2, 2, 2)}
    assert rates_between(before, after, 2.0) == {
        "a": Rates(2, 100, 80, 10_000, 100_000),
        "new": Rates(1, 2, 2, 200, 400),  # appeared during the interval: counts from zero
        "reset": Rates(0, 1, 1, 1, 1),  # went down (re-created): counts from zero
    }
    assert rates_between(before, after, 0.0) == {}


class FakeNft:
    """Answers ``list sets`` with the next prepared document; records other batches."""

    def __init__(self, documents: list[list[dict[str, Any]]]) -> None:
        self.documents = documents
        self.batches: list[str] = []

    def json(self, command: str) -> list[dict[str, Any]]:
        assert command == "list sets"
        return self.documents.pop(0)

    def run(self, commands: str, *, json_output: bool = False) -> str:
        self.batches.append(commands)
        return ""

    def generation(self) -> int | None:
        return None  # unknown: the data plane reads in full every time


def _clock(times: list[float]) -> Callable[[], float]:
    it = iter(times)
    return lambda: next(it)


def test_data_plane_counters_and_rates_per_destination() -> None:
    first = [_set("conns", [_elem(65537, 1, 60)]),
             _set("traffic", [_elem({"concat": ["original", 65537]}, 10, 1000)])]
    second = [_set("conns", [_elem(65537, 5, 300), _elem(65538, 2, 120)]),
              _set("traffic", [_elem({"concat": ["original", 65537]}, 30, 3000),
                               _elem({"concat": ["reply", 65537]}, 20, 8000)])]
    nft = FakeNft([first, second])
    dp = NftablesDataPlane(nft, conntrack=lambda: [], clock=_clock([100.0, 102.0]))  # type: ignore[arg-type]
    dp.apply(diff(Table((_svc("wrr", (RS1, 1), (RS2, 1)),)), Table()))
    assert dp.traffic_rates() == {}  # one sample is not a rate yet
    assert dp.traffic() == {(VIP, RS1): Counters(1, 10, 0, 1000, 0), (VIP, RS2): Counters()}
    assert dp.traffic_rates() == {}
    assert dp.traffic() == {(VIP, RS1): Counters(5, 30, 20, 3000, 8000), (VIP, RS2): Counters(2, 0, 0, 0, 0)}
    assert dp.traffic_rates() == {(VIP, RS1): Rates(2, 10, 10, 1000, 4000), (VIP, RS2): Rates(1, 0, 0, 0, 0)}
