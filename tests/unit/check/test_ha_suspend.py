"""ha_suspend: address counts per virtual server and what keepalived 2.2.7 does when they change.

The pure core (``check.ha_suspend``) is driven with hand-made address events; the adapter
(``check.ha_suspend_watch``) with a fake address watch and a real, started :class:`Runner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from pykeepalived.check.ha_suspend import (
    HaSuspend,
    LocalAddress,
    SetCheckersEnabled,
    needs_ha_suspend,
)
from pykeepalived.check.ha_suspend_watch import HaSuspendWatcher
from pykeepalived.check.runner import Runner
from pykeepalived.check.state import Event, Log, vs_id
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model import Config
from pykeepalived.vrrp.addresses import AddressChange

VIP = "[10.0.0.5]:tcp:80"
RS1, RS2 = "[192.168.0.1]:tcp:80", "[192.168.0.2]:tcp:80"
VS_ID = (VIP, "TCP")


def config(text: str) -> Config:
    return load_config_text(text).config


def vs_block(head: str, *, ha_suspend: bool = True, checks: int = 1,
             rss: tuple[str, ...] = ("192.168.0.1", "192.168.0.2")) -> str:
    check = "TCP_CHECK { connect_timeout 1 }\n" * checks
    real = "".join(f" real_server {rs} 80 {{\n {check} }}\n" for rs in rss)
    return (f"virtual_server {head} {{\n protocol TCP\n delay_loop 3\n"
            f" {'ha_suspend' if ha_suspend else ''}\n{real}}}\n")


def core(text: str) -> HaSuspend:
    c = config(text)
    return HaSuspend(c.lvs.virtual_servers, c.lvs.virtual_server_groups)


def addr(cidr: str, ifindex: int = 2) -> LocalAddress:
    return LocalAddress.of(ifindex, cidr)


def logs(actions: list) -> list[str]:
    return [a.text for a in actions if isinstance(a, Log)]


def sets(actions: list) -> list[SetCheckersEnabled]:
    return [a for a in actions if isinstance(a, SetCheckersEnabled)]


LO = addr("127.0.0.1/8", 1)


# ------------------------------------------------------------------------------------- start-up


def test_start_without_the_address_deactivates_every_checker_of_the_vs() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    out = hs.start([LO, addr("192.168.0.10/24")])
    assert logs(out) == [f"Deactivating healthchecker for service {RS1} for VS {VIP}",
                         f"Deactivating healthchecker for service {RS2} for VS {VIP}"]
    assert sets(out) == [SetCheckersEnabled(VS_ID, False)]
    assert hs.count(VS_ID) == 0 and not hs.enabled(VS_ID)


def test_start_with_the_address_activates() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    out = hs.start([LO, addr("10.0.0.5/32")])
    assert logs(out) == [f"Activating healthchecker for service {RS1} for VS {VIP}",
                         f"Activating healthchecker for service {RS2} for VS {VIP}"]
    assert sets(out) == [SetCheckersEnabled(VS_ID, True)]
    assert hs.count(VS_ID) == 1


def test_start_logs_one_line_per_checker_and_activates_vs_without_ha_suspend() -> None:
    hs = core(vs_block("10.0.0.5 80", checks=2) + vs_block("10.0.0.6 80", ha_suspend=False))
    out = hs.start([])
    assert logs(out) == [
        f"Deactivating healthchecker for service {RS1} for VS {VIP}",
        f"Deactivating healthchecker for service {RS1} for VS {VIP}",
        f"Deactivating healthchecker for service {RS2} for VS {VIP}",
        f"Deactivating healthchecker for service {RS2} for VS {VIP}",
        f"Activating healthchecker for service {RS1} for VS [10.0.0.6]:tcp:80",
        f"Activating healthchecker for service {RS2} for VS [10.0.0.6]:tcp:80",
    ]
    assert sets(out) == [SetCheckersEnabled(VS_ID, False)]  # the other VS is never touched


def test_needs_ha_suspend_only_when_a_vs_asks() -> None:
    c = config(vs_block("10.0.0.5 80", ha_suspend=False))
    assert not needs_ha_suspend(c.lvs.virtual_servers)
    assert not HaSuspend(c.lvs.virtual_servers).needed
    assert needs_ha_suspend(config(vs_block("10.0.0.5 80")).lvs.virtual_servers)


# ------------------------------------------------------------------------------------- events


def test_address_added_activates_and_removed_suspends() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    hs.start([LO])
    out = hs.added(addr("10.0.0.5/32"))
    assert logs(out) == [f"Activating healthchecker for service {RS1} for VS {VIP}",
                         f"Activating healthchecker for service {RS2} for VS {VIP}"]
    assert sets(out) == [SetCheckersEnabled(VS_ID, True)]
    out = hs.removed(addr("10.0.0.5/32"))
    assert logs(out) == [f"Suspending healthchecker for service {RS1} for VS {VIP}",
                         f"Suspending healthchecker for service {RS2} for VS {VIP}"]
    assert sets(out) == [SetCheckersEnabled(VS_ID, False)]


def test_same_address_twice_suspends_only_when_the_last_one_goes() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    hs.start([addr("10.0.0.5/32", 2)])
    assert hs.added(addr("10.0.0.5/32", 3)) == []  # already active: nothing to say
    assert hs.count(VS_ID) == 2
    assert hs.removed(addr("10.0.0.5/32", 2)) == []
    assert hs.count(VS_ID) == 1 and hs.enabled(VS_ID)
    out = hs.removed(addr("10.0.0.5/32", 3))
    assert sets(out) == [SetCheckersEnabled(VS_ID, False)] and hs.count(VS_ID) == 0


def test_same_address_with_two_prefixes_on_one_interface_counts_twice() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    hs.start([addr("10.0.0.5/24"), addr("10.0.0.5/32")])
    assert hs.count(VS_ID) == 2
    assert hs.removed(addr("10.0.0.5/24")) == []
    assert sets(hs.removed(addr("10.0.0.5/32"))) == [SetCheckersEnabled(VS_ID, False)]


def test_repeated_newaddr_and_unknown_deladdr_do_not_skew_the_count() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    hs.start([])
    hs.added(addr("10.0.0.5/32"))
    assert hs.added(addr("10.0.0.5/32")) == []  # e.g. a flags or lifetime update
    assert hs.count(VS_ID) == 1
    assert hs.removed(addr("10.0.0.5/32", 7)) == []  # never seen on that interface
    assert hs.count(VS_ID) == 1
    assert sets(hs.removed(addr("10.0.0.5/32"))) == [SetCheckersEnabled(VS_ID, False)]
    assert hs.removed(addr("10.0.0.5/32")) == [] and hs.count(VS_ID) == 0


def test_other_addresses_and_vs_without_ha_suspend_are_untouched() -> None:
    hs = core(vs_block("10.0.0.5 80") + vs_block("10.0.0.6 80", ha_suspend=False))
    hs.start([])
    assert hs.added(addr("10.0.0.7/32")) == []
    assert hs.added(addr("10.0.0.6/32")) == []
    assert hs.removed(addr("10.0.0.6/32")) == []
    assert hs.count(("[10.0.0.6]:tcp:80", "TCP")) == 0


def test_families_are_kept_apart() -> None:
    v6 = "[fd00::5]:tcp:80"
    hs = core(vs_block("10.0.0.5 80") + vs_block("fd00::5 80", rss=("fd01::1",)))
    hs.start([])
    out = hs.added(addr("fd00::5/64"))
    assert sets(out) == [SetCheckersEnabled((v6, "TCP"), True)]
    assert logs(out) == [f"Activating healthchecker for service [fd01::1]:tcp:80 for VS {v6}"]
    # an IPv4-mapped form is another family's address
    assert hs.added(addr("::ffff:10.0.0.5/128")) == []
    assert hs.count(VS_ID) == 0


def test_group_members_and_ranges_match_but_not_other_addresses() -> None:
    text = ("virtual_server_group G {\n 10.0.0.1-10 80\n 10.0.1.0/30 80\n 10.0.2.7 443\n}\n"
            + vs_block("group G"))
    hs = core(text)
    gid = ("[G]:0", "TCP")
    hs.start([])
    assert not hs.enabled(gid)
    for a in ("10.0.0.11/32", "10.0.0.0/32", "10.0.1.4/32", "10.0.2.8/32", "10.1.0.5/32"):
        assert hs.added(addr(a)) == [], a
    assert sets(hs.added(addr("10.0.0.10/32"))) == [SetCheckersEnabled(gid, True)]
    assert hs.added(addr("10.0.1.3/32")) == []
    assert hs.added(addr("10.0.2.7/24")) == []
    assert hs.count(gid) == 3
    assert hs.removed(addr("10.0.0.10/32")) == [] and hs.removed(addr("10.0.1.3/32")) == []
    out = hs.removed(addr("10.0.2.7/24"))
    assert logs(out)[0] == f"Suspending healthchecker for service {RS1} for VS [G]:0"


def test_ipv6_group_matches_its_ipv6_members_only() -> None:
    text = "virtual_server_group G {\n fd00::1 80\n}\n" + vs_block("group G", rss=("fd01::1",))
    hs = core(text)
    hs.start([])
    assert hs.added(addr("10.0.0.1/32")) == []
    assert sets(hs.added(addr("fd00::1/128"))) == [SetCheckersEnabled(("[G]:0", "TCP"), True)]


def test_fwmark_vs_has_its_ha_suspend_cleared_by_the_parser() -> None:
    c = config("virtual_server fwmark 5 {\n ha_suspend\n"
               " real_server 192.168.0.1 80 {\n TCP_CHECK { connect_timeout 1 }\n }\n}\n")
    hs = HaSuspend(c.lvs.virtual_servers)
    assert not hs.needed
    assert logs(hs.start([])) == ["Activating healthchecker for service [192.168.0.1]:none:80 for VS FWM 5"]


def test_events_before_start_only_fill_the_address_set() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    assert hs.added(addr("10.0.0.5/32")) == []
    assert sets(hs.start(hs.addresses)) == [SetCheckersEnabled(VS_ID, True)]
    assert hs.count(VS_ID) == 1


def test_resync_applies_the_difference_after_lost_events() -> None:
    hs = core(vs_block("10.0.0.5 80"))
    hs.start([LO, addr("10.0.0.5/32")])
    out = hs.resync([LO])
    assert sets(out) == [SetCheckersEnabled(VS_ID, False)]
    assert logs(out)[0].startswith("Suspending")
    assert sets(hs.resync([LO, addr("10.0.0.5/32", 4)])) == [SetCheckersEnabled(VS_ID, True)]
    assert hs.resync([LO, addr("10.0.0.5/32", 4)]) == []


def test_reload_starts_a_new_core_from_the_old_addresses() -> None:
    old = core(vs_block("10.0.0.9 80"))
    old.start([addr("10.0.0.5/32")])
    new = core(vs_block("10.0.0.5 80"))
    assert sets(new.start(old.addresses)) == [SetCheckersEnabled(VS_ID, True)]


# ------------------------------------------------------------------------------------- adapter


class FakeWatch:
    """An AddressWatch whose dump and events the test supplies."""

    def __init__(self, dump: list[AddressChange]) -> None:
        self.dump = dump
        self.events: asyncio.Queue[AddressChange] = asyncio.Queue()
        self.opened = 0
        self.closed = 0

    async def open(self) -> list[AddressChange]:
        self.opened += 1
        return list(self.dump)

    async def changes(self) -> AsyncGenerator[AddressChange, None]:
        while True:
            yield await self.events.get()

    def close(self) -> None:
        self.closed += 1


def change(added: bool, cidr: str, ifindex: int = 2) -> AddressChange:
    a = LocalAddress.of(ifindex, cidr)
    return AddressChange(added, a.address, a.ifindex)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def runner_for(text: str) -> Runner:
    c = config(text)
    r = Runner(c.lvs.virtual_servers, on_events=lambda ev: None, groups=c.lvs.virtual_server_groups)
    r.start()
    return r


async def test_watcher_holds_checkers_until_the_dump_then_follows_events() -> None:
    seen: list[Event] = []
    watches: list[FakeWatch] = []

    def factory() -> FakeWatch:
        watches.append(FakeWatch([change(True, "127.0.0.1/8", 1)]))
        return watches[-1]

    w = HaSuspendWatcher(seen.extend, watch_factory=factory)  # type: ignore[arg-type]
    runner = runner_for(vs_block("10.0.0.5 80") + vs_block("10.0.0.6 80", ha_suspend=False))
    try:
        w.attach(runner)
        vs5 = [j for j in runner.jobs if j.vs.id == VS_ID]
        vs6 = [j for j in runner.jobs if j.vs.id != VS_ID]
        assert vs5 and not any(j.enabled for j in vs5)  # held before the dump is in
        assert all(j.enabled for j in vs6)
        await settle()
        assert w.watching and len(watches) == 1
        assert [e.text for e in seen if isinstance(e, Log)][:1] == [
            f"Deactivating healthchecker for service {RS1} for VS {VIP}"]
        assert len(seen) == 4

        watches[0].events.put_nowait(change(True, "10.0.0.5/32"))
        await settle()
        assert all(j.enabled for j in vs5)
        assert isinstance(seen[-1], Log) and seen[-1].text.startswith("Activating")

        watches[0].events.put_nowait(change(False, "10.0.0.5/32"))
        await settle()
        assert not any(j.enabled for j in vs5) and all(j.enabled for j in vs6)
        assert isinstance(seen[-1], Log) and seen[-1].text.startswith("Suspending")

        # reload: a new runner gets the state from the live address set at once, logs again
        watches[0].events.put_nowait(change(True, "10.0.0.5/32"))
        await settle()
        seen.clear()
        await runner.stop()
        runner = runner_for(vs_block("10.0.0.5 80"))
        w.attach(runner)
        assert all(j.enabled for j in runner.jobs)
        assert [e.text for e in seen if isinstance(e, Log)] == [
            f"Activating healthchecker for service {RS1} for VS {VIP}",
            f"Activating healthchecker for service {RS2} for VS {VIP}"]
        assert len(watches) == 1  # no second netlink socket

        # reload without ha_suspend: the watch stops, lines are still logged
        await runner.stop()
        runner = runner_for(vs_block("10.0.0.5 80", ha_suspend=False))
        seen.clear()
        w.attach(runner)
        await settle()
        assert not w.watching and watches[0].closed
        assert len(seen) == 2 and all(j.enabled for j in runner.jobs)
    finally:
        await w.close()
        await runner.stop()


async def test_watcher_opens_nothing_without_ha_suspend() -> None:
    seen: list[Event] = []

    def factory() -> FakeWatch:
        raise AssertionError("no address watch may be opened")

    w = HaSuspendWatcher(seen.extend, watch_factory=factory)  # type: ignore[arg-type]
    runner = runner_for(vs_block("10.0.0.5 80", ha_suspend=False))
    try:
        w.attach(runner)
        await settle()
        assert not w.watching
        assert [e.text for e in seen if isinstance(e, Log)] == [
            f"Activating healthchecker for service {RS1} for VS {VIP}",
            f"Activating healthchecker for service {RS2} for VS {VIP}"]
    finally:
        await w.close()
        await runner.stop()


async def test_watcher_reopens_and_resyncs_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import pykeepalived.check.ha_suspend_watch as mod

    monkeypatch.setattr(mod, "RETRY_DELAY", 0.01)
    seen: list[Event] = []
    dumps = [[change(True, "10.0.0.5/32")], []]

    class Failing(FakeWatch):
        async def changes(self) -> AsyncGenerator[AddressChange, None]:
            if self.opened == 1:
                raise OSError(105, "No buffer space available")
            async for ch in super().changes():
                yield ch

        async def open(self) -> list[AddressChange]:
            self.dump = dumps[self.opened]
            return await super().open()

    watch = Failing([])
    w = HaSuspendWatcher(seen.extend, watch_factory=lambda: watch)  # type: ignore[arg-type,return-value]
    runner = runner_for(vs_block("10.0.0.5 80"))
    try:
        w.attach(runner)
        await settle()
        for _ in range(100):
            if watch.opened == 2:
                break
            await asyncio.sleep(0.01)
        await settle()
        assert watch.opened == 2
        # the second dump lacks the VIP: suspended by the resync
        assert not any(j.enabled for j in runner.jobs)
        assert isinstance(seen[-1], Log) and seen[-1].text.startswith("Suspending")
    finally:
        await w.close()
        await runner.stop()


def test_vs_id_matches_the_runner_ids() -> None:
    c = config(vs_block("10.0.0.5 80"))
    assert vs_id(c.lvs.virtual_servers[0]) == VS_ID


def test_a_reload_reuses_the_texts_of_the_virtual_servers_it_kept_and_makes_the_others() -> None:
    from pykeepalived.check.ha_suspend import HaSuspend
    from pykeepalived.config.loader import load_config_text

    def vss(port: int) -> tuple:
        text = "".join(f"virtual_server 10.0.0.{i} 80 {{\n protocol TCP\n real_server 192.168.0.{i} {port} {{\n"
                       "  TCP_CHECK {\n   connect_timeout 1\n  }\n }\n}\n" for i in (1, 2))
        return load_config_text(text).config.lvs.virtual_servers

    old_vss = vss(80)
    old = HaSuspend(old_vss)
    changed = vss(81)
    new = HaSuspend((old_vss[0], changed[1]), previous=old)
    assert new._all[0].checkers is old._all[0].checkers  # kept: the very texts
    assert new._all[1].checkers == ["[192.168.0.2]:tcp:81"]  # changed: made again
    assert [a.text for a in new.start(()) if hasattr(a, "text")] == [
        "Activating healthchecker for service [192.168.0.1]:tcp:80 for VS [10.0.0.1]:tcp:80",
        "Activating healthchecker for service [192.168.0.2]:tcp:81 for VS [10.0.0.2]:tcp:80"]
