"""A conformance harness for the kernel data planes: the seed topology in network namespaces.

client 10.0.0.100 -> VIP 10.0.0.5:80 on lb1 -> rs1 192.168.0.12:80 / rs2 192.168.0.13:80 (each a
``webserver.py`` answering with its name).  The data plane runs in lb1's namespace through
:func:`call_in_netns`; used for nftables on this machine and for IPVS inside the ip_vs VM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pykeepalived.lab.netns import call_in_netns
from pykeepalived.lab.topology import Lab, seed_topology
from pykeepalived.lvs.dataplane.contract import Capabilities, DataPlane
from pykeepalived.lvs.model import DestKey, ServiceKey

T = TypeVar("T")
INTEGRATION = Path(__file__).resolve().parents[1] / "integration"

HOLD_OPEN = """
import http.client, sys
c = http.client.HTTPConnection("10.0.0.5", 80, timeout=5)
line = "first"
while line:
    c.request("GET", "/")
    print(c.getresponse().read().decode().strip(), flush=True)
    line = sys.stdin.readline()
"""


class HeldConnection:
    """A keep-alive HTTP connection from the client namespace, one request per ``ask``."""

    def __init__(self, lab: Lab) -> None:
        self.proc = lab.popen("client", [sys.executable, "-c", HOLD_OPEN], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        self._first = True

    def ask(self) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if not self._first:
            self.proc.stdin.write("again\n")
            self.proc.stdin.flush()
        self._first = False
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


class LabHarness:
    def __init__(self, lab: Lab, new: Callable[[], DataPlane]) -> None:
        self.lab = lab
        self.new = new
        probe = new()
        self.capabilities: Capabilities = probe.capabilities
        self.service = ServiceKey.inet("tcp", "10.0.0.5", 80)
        self.servers = {DestKey.of("192.168.0.12", 80): "rs1", DestKey.of("192.168.0.13", 80): "rs2"}
        self.address_range = ("10.0.1.1", "10.0.1.8")
        self.ports = (80, 443)

    def run(self, fn: Callable[[Callable[[], DataPlane]], T]) -> T:
        return call_in_netns(self.lab.ns("lb1"), fn, self.new)

    def requests(self, count: int) -> dict[str, int]:
        out = self.lab.run("client", [sys.executable, str(INTEGRATION / "httpclient.py"), "http://10.0.0.5/",
                                      str(count)], timeout=120)
        return dict(json.loads(out.stdout))

    def connect(self) -> HeldConnection:
        return HeldConnection(self.lab)


@contextmanager
def seed_lab() -> Iterator[Lab]:
    """The seed topology with the VIP on lb1 and both web servers answering."""
    with seed_topology() as lab:
        lab.add_address("lb1", "eth0", "10.0.0.5/24")
        lab.add_address("lb1", "eth1", "192.168.0.1/24")
        for node in ("rs1", "rs2"):
            proc = lab.popen(node, [sys.executable, str(INTEGRATION / "webserver.py"), node],
                             stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lab
