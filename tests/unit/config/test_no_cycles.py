"""A configuration load leaves no cyclic garbage: what it made is freed by reference counting when dropped.

The loader makes its objects with the garbage collector paused and then moves them to the oldest generation
(``pykeepalived.gcpause``), which only full collections walk: a cycle among them (the reader and its
definitions' functions, a checker's draft and its real server's) would keep a whole read alive until one
comes, doubling the supervisor's peak memory at a large reload (measured: 474 -> 1,021 MB).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from pykeepalived.config import load_config

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "data" / "keepalived-samples").glob("keepalived.conf*"))

ALL_CHECKERS = """
global_defs {
    router_id lb1
}
vrrp_script chk { script "/bin/true" }
vrrp_instance VI_1 {
    state MASTER
    interface lo
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 10.0.0.5/24 }
    track_script { chk }
}
virtual_server_group G { 10.0.0.6 80 }
virtual_server group G {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.0.1 80 {
        TCP_CHECK { connect_timeout 3 }
        HTTP_GET { url { path / status_code 200 } }
        SMTP_CHECK { host { connect_ip 192.168.0.9 } }
        MISC_CHECK { misc_path "/bin/true" }
        DNS_CHECK { name example.com }
        UDP_CHECK { }
        PING_CHECK { }
    }
}
"""


@pytest.mark.parametrize("path", [*SAMPLES, "all-checkers"], ids=lambda p: getattr(p, "name", str(p)))
def test_a_load_leaves_no_cycle_behind(path: Path | str, tmp_path: Path) -> None:
    if path == "all-checkers":
        path = tmp_path / "keepalived.conf"
        path.write_text(ALL_CHECKERS)
    assert isinstance(path, Path)
    gc.collect()
    result = load_config(path, config_id="lb1", interfaces={"lo", "eth0", "eth1"})
    del result
    assert gc.collect() == 0
