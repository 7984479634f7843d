"""ha_suspend: a virtual server's checkers run only while its address is configured on the host.

One pykeepalived daemon (checkers only, ``-C``) in its own network namespace, with two virtual
servers whose TCP_CHECKs hit real listeners in that namespace that count connections:

* ``10.77.0.100:80`` has ``ha_suspend``; its address is not on any interface at start, so its
  checker is deactivated and makes no connection at all, while the other VS is checked;
* ``ip addr add`` of the VIP starts its checks within delay_loop;
* the VIP on two interfaces counts twice: removing one copy keeps the checks going;
* removing the last copy suspends them (``Suspending healthchecker ...``): no more connections.

Only the test's own namespace is touched; it is deleted at the end.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab import netns
from pykeepalived.lab.measure import wait_for
from pykeepalived.vrrp.io import open_socket
from tests.conftest import require_root

pytestmark = pytest.mark.root

RS_IP, VIP, OTHER_VIP = "10.77.0.1", "10.77.0.100", "10.77.0.101"
SUSPENDABLE_PORT, CONTROL_PORT = 8080, 8081
DELAY_LOOP = 1.0
#: scheduling and polling slack on a small shared machine
SLACK = 1.0

SUSPENDABLE = f"service [{RS_IP}]:tcp:{SUSPENDABLE_PORT} for VS [{VIP}]:tcp:80"
CONTROL = f"service [{RS_IP}]:tcp:{CONTROL_PORT} for VS [{OTHER_VIP}]:tcp:80"

CONF = f"""global_defs {{
    router_id hs
}}

virtual_server {VIP} 80 {{
    delay_loop {DELAY_LOOP:g}
    warmup 0
    lb_algo rr
    lb_kind NAT
    protocol TCP
    ha_suspend
    real_server {RS_IP} {SUSPENDABLE_PORT} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}

virtual_server {OTHER_VIP} 80 {{
    delay_loop {DELAY_LOOP:g}
    warmup 0
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server {RS_IP} {CONTROL_PORT} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"""


class Listener:
    """A TCP listener inside the namespace that accepts and counts every connection (the checks)."""

    def __init__(self, ns: str, port: int) -> None:
        self.sock = open_socket(socket.AF_INET, socket.SOCK_STREAM, 0, ns)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((RS_IP, port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Node:
    def __init__(self, ns: str, log: Path, suspendable: Listener, control: Listener) -> None:
        self.ns, self.log = ns, log
        self.suspendable, self.control = suspendable, control

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ip(self, *args: str) -> None:
        netns.ip(self.ns, *args)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    require_root()
    ns = netns.unique_prefix("pkhs") + "lb"
    listeners: list[Listener] = []
    proc: subprocess.Popen[bytes] | None = None
    netns.add_netns(ns)
    try:
        # two interfaces (a veth pair, both ends here) to hold the VIP once or twice
        netns.ip_batch(ns, ["link set lo up", "link add v0 type veth peer name v1",
                            "link set v0 up", "link set v1 up", f"addr add {RS_IP}/24 dev v0"])
        listeners = [Listener(ns, SUSPENDABLE_PORT), Listener(ns, CONTROL_PORT)]
        conf = tmp_path / "keepalived.conf"
        conf.write_text(CONF)
        log = tmp_path / "daemon.log"
        argv = [sys.executable, "-m", "pykeepalived.cli", "-f", str(conf), "-n", "-l", "-C",
                "-p", str(tmp_path / "hs.pid"), "--dataplane", "nftables"]
        with open(log, "ab") as out:
            proc = netns.popen(ns, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=str(tmp_path))
        yield Node(ns, log, *listeners)
    finally:
        if proc is not None:
            netns.stop(proc, grace=5)
        for listener in listeners:
            listener.close()
        netns.del_netns(ns)
        assert ns not in netns.list_netns(), "namespace left behind"
        with contextlib.suppress(OSError):
            print((tmp_path / "daemon.log").read_text(errors="replace")[-4000:])


def test_checks_run_only_while_the_vs_address_is_on_the_host(node: Node) -> None:
    # start: the VIP is nowhere, so the ha_suspend VS's checker is deactivated; the other one runs
    wait_for(lambda: f"Deactivating healthchecker for {SUSPENDABLE}" in node.text(), 20, "Deactivating line")
    assert f"Activating healthchecker for {CONTROL}" in node.text()
    wait_for(lambda: node.control.count >= 3, 1 + 3 * DELAY_LOOP + SLACK, "three checks of the other VS")
    assert node.suspendable.count == 0, "a suspended checker connected"

    # the VIP arrives (e.g. VRRP made this node MASTER): checks start within delay_loop
    t = time.monotonic()
    node.ip("addr", "add", f"{VIP}/32", "dev", "v0")
    t_first = wait_for(lambda: node.suspendable.count >= 1, DELAY_LOOP + SLACK + 1, "first check after add")
    print(f"first check {t_first - t:.2f} s after the VIP was added (delay_loop {DELAY_LOOP:g} s)")
    assert t_first - t <= DELAY_LOOP + SLACK
    wait_for(lambda: f"Activating healthchecker for {SUSPENDABLE}" in node.text(), 2, "Activating line")

    # the same VIP on a second interface counts twice: losing one copy keeps the checks going
    node.ip("addr", "add", f"{VIP}/32", "dev", "v1")
    node.ip("addr", "del", f"{VIP}/32", "dev", "v0")
    before = node.suspendable.count
    wait_for(lambda: node.suspendable.count >= before + 2, 2 * DELAY_LOOP + SLACK, "checks with one copy left")
    assert "Suspending healthchecker" not in node.text()

    # the last copy goes (the other node took the VIP): suspended, no more connections
    node.ip("addr", "del", f"{VIP}/32", "dev", "v1")
    wait_for(lambda: f"Suspending healthchecker for {SUSPENDABLE}" in node.text(), 2, "Suspending line")
    time.sleep(0.3)  # an attempt already in flight completes normally
    frozen, control = node.suspendable.count, node.control.count
    time.sleep(3 * DELAY_LOOP)
    assert node.suspendable.count == frozen, "checks continued while the VIP was absent"
    assert node.control.count >= control + 2, "the other virtual server must keep being checked"
    assert "Traceback" not in node.text()
