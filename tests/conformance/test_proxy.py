"""The conformance suite (suite.py) against the proxy data plane, on loopback, without root.

Two real servers on 127.0.0.x answer every GET with their name; the virtual service is 127.0.0.70 on a
high port.  The harness runs the data plane with one worker: the suite's checks expect the exact split
of one scheduler (rr 5/5, wrr 3:1), and with several workers each worker runs its own rotation (see
:mod:`pykeepalived.lvs.dataplane.proxy.engine`), so a split is exact per worker only.  Convergence and
drain do not depend on the split and run with two workers as well.
"""

from __future__ import annotations

import collections
import http.client
import tempfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.lvs.dataplane.contract import Capabilities, DataPlane
from pykeepalived.lvs.dataplane.proxy import ProxyDataPlane
from pykeepalived.lvs.model import DestKey, ServiceKey, Table

from . import suite

T = TypeVar("T")
VIP, VPORT = "127.0.0.70", 18070
SERVERS = {DestKey.of("127.0.0.71", 18071): "rs1", DestKey.of("127.0.0.72", 18072): "rs2"}


class _Named(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = (SERVERS[DestKey.of(*self.server.server_address[:2])] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Held:
    def __init__(self) -> None:
        self.conn = http.client.HTTPConnection(VIP, VPORT, timeout=5)

    def ask(self) -> str:
        self.conn.request("GET", "/")
        return self.conn.getresponse().read().decode().strip()

    def close(self) -> None:
        self.conn.close()


class LoopbackHarness:
    def __init__(self, runtime_dir: str, workers: int) -> None:
        self.dir = runtime_dir
        self.workers = workers
        self.capabilities: Capabilities = ProxyDataPlane.capabilities
        self.service = ServiceKey.inet("tcp", VIP, VPORT)
        self.servers = SERVERS
        self.address_range = ("127.0.1.1", "127.0.1.8")
        self.ports = (18081, 18444)

    def new(self) -> DataPlane:
        return ProxyDataPlane(self.dir, self.workers)

    def run(self, fn: Callable[[Callable[[], DataPlane]], T]) -> T:
        return fn(self.new)

    def requests(self, count: int) -> dict[str, int]:
        seen: collections.Counter[str] = collections.Counter()
        for _ in range(count):
            conn = http.client.HTTPConnection(VIP, VPORT, timeout=2)
            try:
                conn.request("GET", "/", headers={"Connection": "close"})
                seen[conn.getresponse().read().decode().strip()] += 1
            except OSError:
                seen["errors"] += 1
            finally:
                conn.close()
        return dict(seen)

    def connect(self) -> Held:
        return Held()


@pytest.fixture(scope="module")
def real_servers() -> Iterator[None]:
    servers = []
    for key in SERVERS:
        ThreadingHTTPServer.daemon_threads = True
        s = ThreadingHTTPServer((str(key.addr), key.port), _Named)
        Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    yield
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module", params=[1, 2], ids=["1worker", "2workers"])
def harness(request: pytest.FixtureRequest, real_servers: None) -> Iterator[LoopbackHarness]:
    with tempfile.TemporaryDirectory(prefix="pyk-proxy-conf-") as d:
        h = LoopbackHarness(d, request.param)
        yield h
        h.run(lambda new: new().release())


@pytest.fixture(autouse=True)
def empty(harness: LoopbackHarness) -> None:
    suite.clear(harness)


def test_reconcile_converges(harness: LoopbackHarness) -> None:
    @settings(max_examples=25, deadline=None, database=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        tables = suite.tables_for(harness)
        desired: Table = data.draw(tables)
        observed: Table = data.draw(tables)
        suite.check_converges(harness, desired, observed)

    check()


def test_drain_keeps_established_connections(harness: LoopbackHarness) -> None:
    suite.check_drain(harness)


def test_counters_count_known_traffic(harness: LoopbackHarness) -> None:
    if harness.workers > 1:
        pytest.skip("the exact rr split is per worker")
    suite.check_counters(harness)


def test_a_new_instance_adopts_the_table(harness: LoopbackHarness) -> None:
    if harness.workers > 1:
        pytest.skip("the exact wrr split is per worker")
    suite.check_adoption(harness)
