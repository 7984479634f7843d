"""The configuration the supervisor hands its children (daemon.config_feed): at start and on reload, the
supervisor's parse, never the file; each child its part; only the newest of queued ones applied."""

from __future__ import annotations

import asyncio
import pickle
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pykeepalived.config import load_config
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model import Config
from pykeepalived.config.model_lvs import VirtualServer
from pykeepalived.daemon import config_feed
from pykeepalived.daemon.config_feed import ConfigFeed
from pykeepalived.daemon.options import DaemonOptions
from pykeepalived.daemon.supervisor import Child, Supervisor

VRRP = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.200.16
    }
}
"""


def services(n: int, weight: int = 1) -> str:
    return "".join(f"virtual_server 10.1.{i // 250}.{i % 250 + 1} 80 {{\n  delay_loop 6\n  protocol TCP\n"
                   f"  real_server 192.168.0.{i % 250 + 1} 8080 {{\n    weight {weight}\n"
                   "    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n" for i in range(n))


def weight(config: Config) -> int:
    return config.lvs.virtual_servers[0].real_servers[0].weight


async def until(cond: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def supervised_checkers(tmp_path: Path) -> tuple[Path, Supervisor, Child, socket.socket]:
    """A supervisor of a 3-service file with a running checker child's record and its channel: (the file, the
    supervisor, the child's record, the child's end of the channel)."""
    path = tmp_path / "keepalived.conf"
    path.write_text(services(3, weight=1))
    cfg = load_config(str(path)).config
    assert cfg is not None
    sup = Supervisor(cfg, DaemonOptions(config_file=str(path)))
    parent, child_end = config_feed.channel()
    child = Child("checkers", proc=SimpleNamespace(returncode=None), feed=parent)  # type: ignore[arg-type]
    sup.children["checkers"] = child
    return path, sup, child, child_end


def test_the_codec_gives_back_an_equal_configuration_and_the_vrrp_part_holds_no_virtual_server() -> None:
    cfg = load_config_text(VRRP + services(300), interfaces={"eth0"}).config
    assert cfg is not None
    assert config_feed.decode(config_feed.encode(cfg)) == cfg
    vrrp = config_feed.part_for("vrrp", cfg)
    assert vrrp.lvs.virtual_servers == () and vrrp.vrrp == cfg.vrrp and vrrp.global_defs == cfg.global_defs
    assert config_feed.part_for("checkers", cfg) is cfg
    # the VRRP child's part does not grow with the virtual servers
    small = load_config_text(VRRP, interfaces={"eth0"}).config
    assert small is not None
    assert len(config_feed.encode(vrrp)) < 1.2 * len(config_feed.encode(small))
    assert len(config_feed.encode(vrrp)) * 50 < len(config_feed.encode(cfg))


async def test_a_child_on_reload_takes_the_supervisors_configuration_without_reading_the_file(tmp_path: Path) -> None:
    path, sup, child, child_end = supervised_checkers(tmp_path)
    parent = child.feed
    assert parent is not None
    feed = ConfigFeed(child_end)
    got: list[Config] = []

    def apply(new: Config) -> None:
        got.append(new)

    feed.follow(apply)
    try:
        path.write_text(services(3, weight=7))
        ok, _ = await sup.reload()
        assert ok
        # broken once the supervisor parsed it (a keyword without its parameter: the file cannot be used)
        path.write_text(services(3, weight=9).replace("delay_loop 6", "delay_loop", 1))
        await until(lambda: got)
        assert weight(got[0]) == 7 and got[0] == sup.config
        # a reload of the broken file sends nothing: the child keeps the configuration it runs
        ok, _ = await sup.reload()
        assert not ok
        await asyncio.sleep(0.2)
        assert len(got) == 1
    finally:
        await feed.close()
        parent.close()


async def test_configurations_queued_while_the_child_was_busy_are_applied_newest_only() -> None:
    parent, child_end = config_feed.channel()
    for w in (2, 3, 4):
        cfg = load_config_text(services(2, weight=w)).config
        assert cfg is not None
        config_feed.send(parent, config_feed.encode(cfg))
    feed = ConfigFeed(child_end)
    got: list[int] = []

    async def apply(new: Config) -> None:
        got.append(weight(new))

    feed.follow(apply)
    try:
        await until(lambda: feed.applied)
        await asyncio.sleep(0.1)
        assert got == [4]
    finally:
        await feed.close()
        parent.close()


def test_a_reload_is_pickled_against_the_last_configuration_unchanged_virtual_servers_as_references() -> None:
    before = load_config_text(services(200, weight=1)).config
    assert before is not None
    changed = services(200, weight=1).replace("weight 1", "weight 5", 1) + services(201)[-170:].replace(
        "10.1.0.201", "10.2.0.1")  # one weight changed, one service added
    after = load_config_text(changed).config
    assert after is not None and len(after.lvs.virtual_servers) == 201
    whole = config_feed.encode(after)
    delta = config_feed.encode(after, before)
    assert len(delta) * 20 < len(whole)
    got = config_feed.decode(delta, before)
    assert got == after
    olds = before.lvs.virtual_servers
    news = got.lvs.virtual_servers
    # the child's own objects for what did not change (its checkers hold them), new ones for the rest
    assert news[0] is not olds[0] and news[0] == after.lvs.virtual_servers[0]
    assert all(n is o for n, o in zip(news[1:200], olds[1:200], strict=True))
    assert news[200] == after.lvs.virtual_servers[200]
    # against no base (or the wrong one) it cannot be read
    with pytest.raises(pickle.UnpicklingError):
        config_feed.decode(delta)


def test_a_reload_finds_the_base_virtual_servers_by_name_without_hashing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing a virtual server walks all its real servers (0.2 s a reload at 37,298 of them): the delta finds
    the base's by what names them, also when they moved in the file, and a same-named one that changed goes
    whole."""
    text = services(20)
    before = load_config_text(text).config
    assert before is not None
    blocks = text.split("virtual_server ")[1:]
    moved = "".join("virtual_server " + b for b in [*blocks[10:], *blocks[:10]]).replace(
        "10.1.0.20 80 {\n  delay_loop 6", "10.1.0.20 80 {\n  delay_loop 7")  # the last one also changed
    after = load_config_text(moved).config
    assert after is not None

    def no_hash(self: object) -> int:
        raise AssertionError("a whole virtual server was hashed")

    monkeypatch.setattr(VirtualServer, "__hash__", no_hash)
    got = config_feed.decode(config_feed.encode(after, before), before)
    olds = {vs.address: vs for vs in before.lvs.virtual_servers}
    for vs in got.lvs.virtual_servers:
        if str(vs.address) == "10.1.0.20":
            assert vs is not olds[vs.address] and vs.delay_loop == 7
        else:
            assert vs is olds[vs.address]


async def test_the_child_decodes_each_queued_message_against_the_one_before_and_applies_the_newest() -> None:
    parent, child_end = config_feed.channel()
    configs = [load_config_text(services(3, weight=w)).config for w in (2, 3, 4)]
    assert all(c is not None for c in configs)
    config_feed.send(parent, config_feed.encode(configs[0]), 1, 0)
    feed = ConfigFeed(child_end)
    first = feed.first()
    assert first == configs[0]
    # two reloads queue while the child is busy: the second is pickled against the first
    config_feed.send(parent, config_feed.encode(configs[1], configs[0]), 2, 1)
    config_feed.send(parent, config_feed.encode(configs[2], configs[1]), 3, 2)
    got: list[Config] = []

    feed.follow(got.append)
    try:
        await until(lambda: feed.applied)
        await asyncio.sleep(0.1)
        assert got == [configs[2]]
        # the virtual servers that did not change in the last reload are the objects of the one before it
        assert got[0].lvs.virtual_servers[1] is not configs[2].lvs.virtual_servers[1]
    finally:
        await feed.close()
        parent.close()


async def test_a_child_out_of_step_asks_for_the_whole_configuration_and_the_supervisor_sends_it(
        tmp_path: Path) -> None:
    path, sup, child, child_end = supervised_checkers(tmp_path)
    parent = child.feed
    assert parent is not None
    asyncio.get_running_loop().add_reader(parent.fileno(), sup._feed_readable, child, parent)
    # the supervisor believes the child holds a configuration the child never decoded
    child.sent, child.sent_generation = load_config_text(services(3, weight=3)).config, 7
    feed = ConfigFeed(child_end)
    got: list[Config] = []
    feed.follow(got.append)
    try:
        path.write_text(services(3, weight=5))
        ok, _ = await sup.reload()
        assert ok
        # the delta named base 7, which this child does not have: it asked, and got the whole one
        await until(lambda: got)
        assert weight(got[0]) == 5 and got[0] == sup.config
        assert child.sent is not None and child.sent == sup.config and child.sent_generation == sup.generation
        # from then on reloads are deltas again, against what it now holds
        path.write_text(services(3, weight=5).replace("weight 5", "weight 6", 1))
        ok, _ = await sup.reload()
        assert ok
        await until(lambda: len(got) == 2)
        assert weight(got[1]) == 6
        assert got[1].lvs.virtual_servers[1] is got[0].lvs.virtual_servers[1]
    finally:
        asyncio.get_running_loop().remove_reader(parent.fileno())
        await feed.close()
        parent.close()


async def test_a_reload_takes_the_unchanged_services_as_the_last_load_built_them(tmp_path: Path) -> None:
    """The supervisor keeps its block cache from reload to reload: the services a reload did not change are
    the running configuration's own objects (its parse skipped, its delta to the checkers a reference)."""
    path, sup, child, child_end = supervised_checkers(tmp_path)

    def quiet(weight: int) -> str:  # (services without a scheduler and a method are reported, so not kept)
        return services(3, weight=weight).replace("protocol TCP\n", "protocol TCP\n  lb_algo rr\n  lb_kind NAT\n")

    path.write_text(quiet(1))
    try:
        ok, _ = await sup.reload()  # the first reload parses all and keeps them
        assert ok and sup.blocks.reused == 0
        before = sup.config.lvs.virtual_servers
        path.write_text(quiet(1).replace("weight 1", "weight 4", 1))
        ok, _ = await sup.reload()
        assert ok and sup.blocks.reused == 2
        after = sup.config.lvs.virtual_servers
        assert after[0] is not before[0] and weight(sup.config) == 4
        assert after[1] is before[1] and after[2] is before[2]
        assert sup.config == load_config(str(path)).config
    finally:
        assert child.feed is not None
        child.feed.close()
        child_end.close()
