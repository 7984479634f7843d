"""The supervisor's respawn policy and the configuration it hands a respawned child."""

from __future__ import annotations

import os

from pykeepalived.config import load_config_text
from pykeepalived.daemon import config_feed
from pykeepalived.daemon.config_feed import CONFIG_FD_ENV, ConfigFeed
from pykeepalived.daemon.supervisor import restart_delay

CONF = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.200.16
    }
}
"""


def test_restart_delay_is_keepalived_s() -> None:
    """calc_restart_delay: at once after a minute's run; else 0, 1, 2, 4 ... 32, then 60 s, never more."""
    waits, pending = [], 0.0
    for _ in range(9):
        wait, pending = restart_delay(5.0, pending)
        waits.append(wait)
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert restart_delay(61.0, 60.0) == (0.0, 0.0)


def test_a_respawned_child_gets_the_running_configuration_not_the_file(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config_text(CONF, interfaces={"eth0"}).config
    assert cfg is not None
    parent, child_end = config_feed.channel()
    config_feed.send(parent, config_feed.encode(cfg))  # queued before the child starts, as _spawn does
    monkeypatch.setenv(config_feed.CONFIG_FD_ENV, str(child_end.detach()))
    feed = ConfigFeed.inherited()
    assert feed is not None
    assert CONFIG_FD_ENV not in os.environ  # read once; not passed on to scripts the child runs
    assert feed.first() == cfg
    feed.sock.close()
    parent.close()


def test_no_handed_configuration_means_the_file(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(CONFIG_FD_ENV, raising=False)
    assert ConfigFeed.inherited() is None
    monkeypatch.setenv(CONFIG_FD_ENV, "not-a-number")
    assert ConfigFeed.inherited() is None


def test_a_static_block_alone_runs_the_vrrp_child_as_keepalived_does() -> None:
    """keepalived's have_vrrp_config: a vrrp_instance, or a static_ipaddress / static_routes / static_rules."""
    from pykeepalived.daemon.options import DaemonOptions
    from pykeepalived.daemon.supervisor import wanted_children

    for block in ("static_ipaddress {\n  10.1.0.1/24 dev eth0\n}\n", "static_routes {\n  10.2.0.0/24 dev eth0\n}\n",
                  "static_rules {\n  from 10.3.0.0/24 table 5 preference 100\n}\n"):
        cfg = load_config_text(block, interfaces={"eth0"}).config
        assert cfg is not None
        assert wanted_children(cfg, DaemonOptions("k.conf")) == ["vrrp"], block
        assert wanted_children(cfg, DaemonOptions("k.conf", check_only=True)) == []
    empty = load_config_text("global_defs {\n}\n", interfaces={"eth0"}).config
    assert empty is not None and wanted_children(empty, DaemonOptions("k.conf")) == []
