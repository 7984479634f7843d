"""The checker's reconcile at rest reads no counters: status/metrics ask for them (at most once per
counters_interval); count-driven schedulers get only what maintain() needs; a data plane that does not
say which schedulers need counts keeps the old behaviour (counters and maintain on every reconcile)."""

from __future__ import annotations

import asyncio

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess
from pykeepalived.lvs.dataplane.contract import Capabilities, maintenance_counts, needs_counts
from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey, Table, TableCounters
from pykeepalived.lvs.reconcile import Op, apply_ops

CONF = "global_defs {\n  router_id test\n}\n"


def table(scheduler: str) -> Table:
    return Table((Service(ServiceKey.inet("tcp", "10.0.0.5", 80), scheduler,
                          destinations=(Destination(DestKey.of("192.168.0.12", 80), 1),)),))


class CountingDataPlane:
    """Holds a table in memory and counts the calls the checker makes."""

    name = "counting"

    def __init__(self, count_schedulers: frozenset[str] | None, *, cheap_counts: bool = True) -> None:
        self.capabilities = Capabilities(
            forwarding=frozenset({Forward.NAT}), protocols=frozenset({"tcp"}), schedulers=frozenset({"rr", "wlc"}),
            native_persistence=False, service_counters=False, shared_table=False, needs_root=False,
            count_schedulers=count_schedulers)
        self.table = Table()
        self.calls: list[str] = []
        if cheap_counts:
            self.maintenance_counts = self._maintenance_counts

    def claim(self, keys: object) -> None:
        pass

    def canonical(self, t: Table) -> Table:
        return t

    def observe(self) -> Table:
        self.calls.append("observe")
        return self.table

    def apply(self, ops: list[Op]) -> None:
        self.calls.append("apply")
        self.table = apply_ops(self.table, ops)

    def counters(self) -> TableCounters:
        self.calls.append("counters")
        return TableCounters()

    def _maintenance_counts(self) -> TableCounters:
        self.calls.append("maintenance_counts")
        return TableCounters()

    def maintain(self, counters: TableCounters) -> None:
        self.calls.append("maintain")


def process(dp: CountingDataPlane, interval: float = 60.0) -> CheckerProcess:
    cfg = load_config_text(CONF).config
    assert cfg is not None
    return CheckerProcess(cfg, CheckerOptions(counters_interval=interval), dataplane=dp)  # type: ignore[arg-type]


async def test_reconcile_at_rest_reads_no_counters_status_reads_them_once_per_interval() -> None:
    dp = CountingDataPlane(frozenset({"wlc"}))
    proc = process(dp)
    for _ in range(3):
        await asyncio.to_thread(proc._reconcile_sync, table("rr"), counters=False)
    assert "counters" not in dp.calls and "maintain" not in dp.calls
    assert proc.counters_at is None
    dp.calls.clear()
    await proc.status()
    await proc.status()  # within counters_interval: the same counters
    assert dp.calls == ["counters", "maintain"]
    proc.counters_at = -1e9  # long ago
    await proc.status()
    assert dp.calls.count("counters") == 2


async def test_count_driven_services_get_only_what_maintain_needs_on_every_reconcile() -> None:
    dp = CountingDataPlane(frozenset({"wlc"}))
    proc = process(dp)
    await asyncio.to_thread(proc._reconcile_sync, table("wlc"), counters=False)
    assert dp.calls == ["observe", "apply", "observe", "maintenance_counts", "maintain"]
    dp.calls.clear()
    await asyncio.to_thread(proc._reconcile_sync, table("wlc"), counters=False)
    assert dp.calls == ["observe", "maintenance_counts", "maintain"]


def test_a_data_plane_that_does_not_say_keeps_counters_and_maintain_on_every_reconcile() -> None:
    dp = CountingDataPlane(None, cheap_counts=False)  # e.g. a data plane written before count_schedulers
    proc = process(dp)
    proc._reconcile_sync(table("rr"), counters=False)
    proc._reconcile_sync(table("rr"), counters=False)
    assert dp.calls.count("counters") == 2 and dp.calls.count("maintain") == 2
    assert needs_counts(dp, table("rr"))  # type: ignore[arg-type]
    dp.calls.clear()
    maintenance_counts(dp)  # type: ignore[arg-type]
    assert dp.calls == ["counters"]  # the default of the optional call
