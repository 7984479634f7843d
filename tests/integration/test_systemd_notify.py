"""What systemd hears from the daemon on $NOTIFY_SOCKET (a Type=notify unit), with the real daemon in a namespace.

The test binds the datagram socket systemd would, starts ``pykeepalived -n -s NS`` with ``NOTIFY_SOCKET`` (and
``WATCHDOG_USEC``) set, and reads the messages: READY=1 only once the VIP is on the interface and the checker's
table is in the kernel, WATCHDOG=1 every half period, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.topology import Lab
from tests.conftest import require_root

VIP = "10.78.0.5"
CONF = f"""global_defs {{
  vrrp_garp_master_delay 1
}}
vrrp_instance VI_SD {{
  state MASTER
  interface kasd0
  virtual_router_id 78
  priority 150
  advert_int 1
  version 3
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
"""
VS = """virtual_server 10.78.0.5 80 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.78.0.9 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    with Lab() as lab:
        lab.add_node("a")
        lab.run("a", ["ip", "link", "add", "kasd0", "type", "veth", "peer", "name", "kasd1"])
        for ifname in ("kasd0", "kasd1"):
            lab.run("a", ["ip", "link", "set", ifname, "up"])
        yield lab


def vip_in(lab: Lab) -> bool:
    return f"{VIP}/24" in lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "kasd0"]).stdout


def table_in(lab: Lab) -> bool:
    return lab.run("a", ["nft", "list", "table", "ip", "pykeepalived"], check=False).returncode == 0


def start(lab: Lab, tmp_path: Path, conf: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    (tmp_path / "keepalived.conf").write_text(conf)
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-D", "-s", lab.ns("a"),
            "-f", str(tmp_path / "keepalived.conf"), "-p", str(tmp_path / "main.pid"),
            "-r", str(tmp_path / "vrrp.pid"), "-c", str(tmp_path / "checkers.pid")]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    log.close()
    return proc


def next_message(sock: socket.socket, timeout: float, skip_watchdog: bool = True) -> dict[str, str]:
    """The next datagram as KEY=value fields (WATCHDOG=1 pings skipped unless asked for)."""
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"no notify message within {timeout} s") from None
        got = dict(line.split("=", 1) for line in data.decode().splitlines())
        if not (skip_watchdog and got == {"WATCHDOG": "1"}):
            return got


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(15)


def test_ready_only_once_the_vip_and_the_table_are_in_place_then_reload_watchdog_stop(lab: Lab,
                                                                                       tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    started = time.monotonic()
    proc = start(lab, tmp_path, CONF + VS, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    try:
        ready = next_message(sock, 20)
        ready_after = time.monotonic() - started
        vip, table = vip_in(lab), table_in(lab)
        log = (tmp_path / "daemon.log").read_text()
        assert ready.get("READY") == "1", ready
        assert vip, f"READY=1 before the VIP was in place\n{log}"
        assert table, f"READY=1 before the checker's table was in place\n{log}"
        assert "Entering MASTER STATE" in log
        # the instance starts in BACKUP and becomes MASTER one advert interval later: READY waited for it
        assert ready_after > 1.0

        pings = 0
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            if next_message(sock, 1.0, skip_watchdog=False) == {"WATCHDOG": "1"}:
                pings += 1
        assert 3 <= pings <= 7  # every 0.2 s

        proc.send_signal(signal.SIGHUP)
        reloading = next_message(sock, 10)
        assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
        assert next_message(sock, 10)["READY"] == "1"
        assert vip_in(lab)

        proc.send_signal(signal.SIGTERM)
        assert next_message(sock, 10) == {"STOPPING": "1"}
        assert stop(proc) == 0
        assert not vip_in(lab)
        assert "NOTIFY_SOCKET" not in log  # nothing logged about the socket: it worked
    finally:
        stop(proc)
        sock.close()


def test_an_abstract_notify_socket_is_reached_from_inside_the_daemons_namespace(lab: Lab, tmp_path: Path) -> None:
    name = f"pykeepalived-sd-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())  # abstract names are per network namespace: this one is the root's
    backup = CONF.replace("state MASTER", "state BACKUP").replace("priority 150", "priority 50")
    proc = start(lab, tmp_path, backup, {"NOTIFY_SOCKET": "@" + name})
    try:
        assert next_message(sock, 20)["READY"] == "1"
        assert not vip_in(lab)  # a BACKUP is ready in BACKUP
        proc.send_signal(signal.SIGTERM)
        assert next_message(sock, 10) == {"STOPPING": "1"}
        assert stop(proc) == 0
    finally:
        stop(proc)
        sock.close()


def test_a_notify_socket_nobody_listens_on_does_not_stop_the_daemon(lab: Lab, tmp_path: Path) -> None:
    proc = start(lab, tmp_path, CONF, {"NOTIFY_SOCKET": str(tmp_path / "gone"), "WATCHDOG_USEC": "200000"})
    try:
        deadline = time.monotonic() + 20
        while not vip_in(lab):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # a few failed watchdog pings
        assert proc.poll() is None
        assert stop(proc) == 0
        log = (tmp_path / "daemon.log").read_text()
        assert log.count("systemd notify socket") == 1, log
    finally:
        stop(proc)
