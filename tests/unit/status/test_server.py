"""The control socket end to end: a ControlServer on a unix socket in tmp_path with a fake get_snapshot,
read by the ``status`` command's own client (and by aiohttp over the optional TCP listener)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pykeepalived.lvs.conntrack_watch import ConntrackUse
from pykeepalived.status import cli
from pykeepalived.status.server import (
    ControlServer,
    ControlSocketInUse,
    control_path_for,
    parse_listen,
)
from pykeepalived.status.snapshot import Snapshot

from .conftest import degraded_snapshot, seed_snapshot


def run_cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="pykeepalived status")
    cli.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args(list(argv)), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def arun_cli(*argv: str) -> tuple[int, str, str]:
    """The CLI client is blocking (stdlib): run it off the loop that serves the socket."""
    return await asyncio.to_thread(run_cli, *argv)


@pytest.fixture
def ctl(tmp_path: Path) -> str:
    return str(tmp_path / "pk.ctl")


# ------------------------------------------------------------------------------------ paths


def test_control_path_rule() -> None:
    assert control_path_for(None) == "/run/keepalived.ctl"  # keepalived's pid file is the default
    assert control_path_for("/run/pykeepalived.pid") == "/run/pykeepalived.ctl"
    assert control_path_for("/tmp/lab/lb1.pid") == "/tmp/lab/lb1.ctl"
    assert control_path_for("/tmp/lab/lb1") == "/tmp/lab/lb1.ctl"


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9650") == ("127.0.0.1", 9650)
    assert parse_listen("[::1]:9650") == ("::1", 9650)
    with pytest.raises(ValueError):
        parse_listen("9650")


# ------------------------------------------------------------------------------------ CLI <-> server


def _with_conntrack(make: Callable[[], Snapshot], entries: int) -> Callable[[], Snapshot]:
    return lambda: dataclasses.replace(make(), conntrack=ConntrackUse(entries, 262_144))


async def test_status_text_end_to_end(ctl: str) -> None:
    async with ControlServer(_with_conntrack(seed_snapshot, 1_234), ctl):
        assert stat.S_IMODE(os.stat(ctl).st_mode) == 0o600
        code, out, err = await arun_cli("--control", ctl)
    assert (code, err) == (0, "")
    assert out.startswith("pykeepalived 0.1.0 pid 4242, config /etc/keepalived/keepalived.conf, "
                          "data plane nftables, up 1h02m05s\n")
    assert "VI_1           eth0         51  MASTER  150            10.0.0.3     10.0.0.5/24" in out
    assert "VI_GW          eth1         52  BACKUP  90 (base 100)  192.168.0.3  192.168.0.1/24" in out
    # the ipvsadm part is byte-identical to the renderer's (and so to ipvsadm -Ln)
    assert ("IP Virtual Server version 1.2.1 (size=4096)\n"
            "Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
            "TCP  10.0.0.5:80 wlc persistent 50\n"
            "  -> 192.168.0.12:80              Masq    20     3          1         \n"
            "  -> 192.168.0.13:80              Masq    8      0          2         \n") in out
    assert "    192.168.0.12:80  alive  weight 20" in out
    assert out.endswith("\nConnection tracking: 1,234 of 262,144 entries (0%)\n")
    assert not os.path.exists(ctl)  # removed on stop


async def test_status_via_pid_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "lb1.pid"
    async with ControlServer(seed_snapshot, control_path_for(str(pid_file))):
        code, out, _ = await arun_cli("-p", str(pid_file), "--stats")
    assert code == 0
    assert "TCP  10.0.0.5:80                       168     6300     6050   434000  7280000" in out


async def test_status_json_and_degraded_text(ctl: str) -> None:
    degraded = _with_conntrack(degraded_snapshot, 240_000)
    async with ControlServer(degraded, ctl):
        code, out, _ = await arun_cli("--control", ctl, "--json")
        assert code == 0
        assert Snapshot.from_json(out) == degraded()
        assert json.loads(out)["virtual_services"][0]["quorum"]["up"] is False
        code, out, _ = await arun_cli("--control", ctl, "--rate", "--exact")
    assert code == 0
    assert "VI_1           eth0         51  FAULT (eth0 down)" in out
    assert "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS" in out
    assert "quorum DOWN (alive weight 0, quorum 10, hysteresis 2)" in out
    assert "    192.168.0.13:80   down       weight 8" in out
    assert "sorry server 192.168.0.200:80 in use" in out
    assert ("Connection tracking: 240,000 of 262,144 entries (92%) - near its limit: once full, new connections "
            "are dropped (nf_conntrack_max)") in out


async def test_async_snapshot_source(ctl: str) -> None:
    async def get() -> Snapshot:
        await asyncio.sleep(0)
        return seed_snapshot()

    async with ControlServer(get, ctl):
        code, out, _ = await arun_cli("--control", ctl, "--json")
    assert code == 0 and Snapshot.from_json(out) == seed_snapshot()


async def test_snapshot_failure_is_a_500_not_a_crash(ctl: str) -> None:
    calls = 0

    def flaky() -> Snapshot:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("checker table locked")
        return seed_snapshot()

    async with ControlServer(flaky, ctl):
        code, _, err = await arun_cli("--control", ctl)
        assert code == cli.EXIT_UNKNOWN
        assert "answered HTTP 500" in err and "checker table locked" in err
        code, _, _ = await arun_cli("--control", ctl)
        assert code == 0


# ------------------------------------------------------------------------------------ no daemon


def test_no_daemon_says_where_it_looked(tmp_path: Path) -> None:
    pid_file = tmp_path / "nothing.pid"
    code, out, err = run_cli("-p", str(pid_file))
    assert code == cli.EXIT_NOT_RUNNING and out == ""
    assert f"no daemon answers on control socket {tmp_path}/nothing.ctl (from pid file {pid_file})" in err
    assert "pykeepalived status -p PIDFILE" in err and "--control PATH" in err


def test_stale_pid_file_and_dead_socket(tmp_path: Path) -> None:
    pid_file = tmp_path / "dead.pid"
    pid_file.write_text("999999999\n")  # no such process
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "dead.ctl"))  # a socket file nobody listens on
    dead.close()
    code, _, err = run_cli("-p", str(pid_file))
    assert code == cli.EXIT_DEAD_PIDFILE
    assert "Connection refused" in err and "left over from a daemon that is no longer running" in err


def test_live_pid_without_socket(tmp_path: Path) -> None:
    pid_file = tmp_path / "live.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    code, _, err = run_cli("-p", str(pid_file))
    assert code == cli.EXIT_UNKNOWN
    assert f"Process {os.getpid()} from {pid_file} is running but does not answer" in err


# ------------------------------------------------------------------------------------ socket hygiene


async def test_stale_socket_is_replaced_live_one_refused(ctl: str, tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(ctl)
    stale.close()
    async with ControlServer(seed_snapshot, ctl):
        second = ControlServer(seed_snapshot, ctl)
        with pytest.raises(ControlSocketInUse, match="another daemon"):
            await second.start()
        await second.stop()  # a daemon's cleanup after a failed start must not remove the other's socket
        assert os.path.exists(ctl)
        code, _, _ = await arun_cli("--control", ctl)  # the first one is untouched
        assert code == 0
    regular = tmp_path / "file.ctl"
    regular.write_text("not a socket")
    with pytest.raises(FileExistsError):
        await ControlServer(seed_snapshot, str(regular)).start()
    assert regular.read_text() == "not a socket"


# ------------------------------------------------------------------------------------ HTTP endpoints


async def test_tcp_listener_metrics_dashboard_and_text(ctl: str) -> None:
    async with ControlServer(seed_snapshot, ctl, tcp=("127.0.0.1", 0)) as server:
        base = f"http://127.0.0.1:{server.tcp_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=")
                metrics = await r.text()
            async with http.get(f"{base}/") as r:
                assert r.status == 200 and r.content_type == "text/html"
                page = await r.text()
            async with http.get(f"{base}/ipvsadm?stats") as r:
                table = await r.text()
            async with http.get(f"{base}/status") as r:
                assert Snapshot.from_json(await r.text()) == seed_snapshot()

    samples = {}
    for fam in text_string_to_metric_families(metrics):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def get(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert get("pykeepalived_vrrp_state", instance="VI_1", state="MASTER") == 1
    assert get("pykeepalived_vrrp_state", instance="VI_1", state="BACKUP") == 0
    assert get("pykeepalived_vrrp_effective_priority", instance="VI_GW") == 90
    assert get("pykeepalived_vrrp_advert_sent_total", instance="VI_1") == 314
    rs1 = {"service": "TCP 10.0.0.5:80", "destination": "192.168.0.12:80"}
    assert get("pykeepalived_lvs_destination_weight", **rs1) == 20
    assert get("pykeepalived_lvs_destination_active_connections", **rs1) == 3
    assert get("pykeepalived_lvs_destination_inactive_connections", **rs1) == 1
    assert get("pykeepalived_lvs_destination_connections_total", **rs1) == 120
    assert get("pykeepalived_lvs_destination_out_bytes_total", **rs1) == 5_200_000
    assert get("pykeepalived_lvs_destination_health", health="alive", **rs1) == 1
    assert get("pykeepalived_lvs_destination_up", **rs1) == 1
    assert get("pykeepalived_lvs_service_quorum_up", service="TCP 10.0.0.5:80") == 1
    assert get("pykeepalived_start_time_seconds") == 1_700_000_000.0

    assert 'src="dashboard/app.js"' in page and 'id="lbs"' in page  # status.dashboard's page
    assert "http://" not in page and "https://" not in page  # no external assets
    assert table.splitlines()[3] == (
        "TCP  10.0.0.5:80                       168     6300     6050   434000  7280000")


async def test_metrics_follow_the_daemon_at_scrape_time(ctl: str) -> None:
    current = [seed_snapshot()]
    async with ControlServer(lambda: current[0], ctl, tcp=("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.tcp_port}/metrics"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as r:
                before = await r.text()
            current[0] = degraded_snapshot()
            async with http.get(url) as r:
                after = await r.text()
    key = ('pykeepalived_lvs_destination_health'
           '{destination="192.168.0.13:80",health="down",service="TCP 10.0.0.5:80"}')
    assert f"{key} 0.0" in before and f"{key} 1.0" in after
    assert 'pykeepalived_vrrp_state{instance="VI_1",state="FAULT"} 1.0' in after


# ------------------------------------------------------------------------------- hostile clients


async def test_idle_tcp_clients_cannot_starve_the_daemon(ctl: str) -> None:
    """300 idle connections to the --listen port: at most the gate's limit are held, the rest are closed
    at once and counted, and both the unix socket and a new TCP client are still answered."""
    from pykeepalived.status.server import ConnectionGate

    gate = ConnectionGate(limit=16, first_byte_timeout=0.5)
    async with ControlServer(seed_snapshot, ctl, tcp=("127.0.0.1", 0), gate=gate) as server:
        idle = []
        for _ in range(300):
            idle.append(await asyncio.open_connection("127.0.0.1", server.tcp_port))
        await asyncio.sleep(0.1)
        assert gate.active <= 16 and gate.refused >= 300 - 16
        code, out, _err = await arun_cli("--control", ctl)
        assert code == 0 and "VI_1" in out
        await asyncio.sleep(0.7)  # the idle ones are closed after first_byte_timeout
        assert gate.active == 0 and gate.idle_closed == 16
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{server.tcp_port}/status") as r:
            assert r.status == 200
        for _reader, writer in idle:
            writer.close()


async def test_a_control_socket_that_cannot_be_opened_is_retried_not_fatal(tmp_path: Path) -> None:
    """A directory that cannot hold the socket (here: a missing one) is logged and retried in the
    background; once it can be made, the socket is served."""
    from pykeepalived.status import server as srv

    where = tmp_path / "later" / "x.ctl"
    old = srv.RETRY_DELAY
    srv.RETRY_DELAY = 0.05
    try:
        control = ControlServer(seed_snapshot, str(where))
        assert await control.start_or_retry() is False
        where.parent.mkdir()
        for _ in range(100):
            if where.exists():
                break
            await asyncio.sleep(0.05)
        code, out, _err = await arun_cli("--control", str(where))
        assert code == 0 and "VI_1" in out
        await control.stop()
    finally:
        srv.RETRY_DELAY = old
