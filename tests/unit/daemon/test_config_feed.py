"""The configuration the supervisor hands its children (daemon.config_feed): at start and on reload, the
supervisor's parse, never the file; each child its part; only the newest of queued ones applied."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pykeepalived.config import load_config
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model import Config
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
    path = tmp_path / "keepalived.conf"
    path.write_text(services(3, weight=1))
    cfg = load_config(str(path)).config
    assert cfg is not None
    sup = Supervisor(cfg, DaemonOptions(config_file=str(path)))
    parent, child_end = config_feed.channel()
    sup.children["checkers"] = Child("checkers", proc=SimpleNamespace(returncode=None), feed=parent)  # type: ignore[arg-type]
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
