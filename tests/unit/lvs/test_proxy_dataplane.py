"""The proxy data plane end to end on loopback, without root: real workers, real backends on 127.0.0.x."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lvs.dataplane.contract import DataPlane
from pykeepalived.lvs.dataplane.proxy import ProxyDataPlane
from pykeepalived.lvs.dataplane.proxy.dispatch import Unsupported
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import diff

_vips = itertools.count(20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Tcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Udp(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class Backend:
    """A real server answering each read (TCP) or datagram (UDP) with its tag followed by the data."""

    def __init__(self, addr: str, proto: str = "tcp") -> None:
        tag = f"{addr}:".encode()
        self.tag = tag

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if proto == "udp":
                    data, sock = self.request
                    sock.sendto(tag + data, self.client_address)
                    return
                while data := self.request.recv(65536):
                    self.request.sendall(tag + data)

        cls = _Tcp if proto == "tcp" else _Udp
        self.server = cls((addr, 0), Handler)
        self.port = self.server.server_address[1]
        self.key = DestKey.of(addr, self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made: list[Backend] = []
    yield made
    for b in made:
        b.close()


def make(backends: list[Backend], proto: str = "tcp", n: int = 2) -> list[Backend]:
    new = [Backend(f"127.0.0.{11 + i}", proto) for i in range(n)]
    backends.extend(new)
    return new


@pytest.fixture
def plane(tmp_path: object) -> Iterator[ProxyDataPlane]:
    dp = ProxyDataPlane(str(tmp_path), workers=2)
    dp.open()
    yield dp
    dp.release()


def vip() -> tuple[str, int]:
    return f"127.0.0.{next(_vips)}", free_port()


def service(proto: str, addr: tuple[str, int], dests: list[Destination], scheduler: str = "rr",
            **kw: object) -> Service:
    return Service(ServiceKey.inet(proto, *addr), scheduler, destinations=tuple(dests), **kw)  # type: ignore[arg-type]


def reconcile(dp: DataPlane, *services: Service) -> None:
    desired = dp.canonical(Table(tuple(services)))
    dp.apply(diff(desired, dp.observe()))
    assert diff(desired, dp.observe()) == []


def ask(addr: tuple[str, int], data: bytes = b"ping", src: str = "127.0.0.1") -> bytes:
    with socket.create_connection(addr, timeout=5, source_address=(src, 0)) as c:
        c.sendall(data)
        return c.recv(65536)


def udp_ask(addr: tuple[str, int], data: bytes = b"ping", src: str = "127.0.0.1") -> tuple[bytes, tuple[str, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind((src, 0))
        s.sendto(data, addr)
        reply, frm = s.recvfrom(65536)
        return reply, frm


def test_is_a_data_plane_that_needs_no_root() -> None:
    dp = ProxyDataPlane("/nonexistent", workers=1)
    assert isinstance(dp, DataPlane)
    assert not dp.capabilities.needs_root
    assert dp.capabilities.protocols == frozenset({"tcp", "udp"})


def test_tcp_round_robin_reaches_every_real_server_and_counts_exactly(plane: ProxyDataPlane,
                                                                       backends: list[Backend]) -> None:
    b1, b2 = make(backends)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key), Destination(b2.key)]))
    seen = set()
    for i in range(10):
        reply = ask(v, b"x" * (i + 1))
        seen.add(reply.split(b":")[0] + b":")
    assert seen == {b"127.0.0.11:", b"127.0.0.12:"}
    time.sleep(0.2)  # the last connections' ends reach the workers
    c = plane.counters()
    stats = [c.dests[(ServiceKey.inet("tcp", *v), b.key)].stats for b in (b1, b2)]
    assert sum(s.conns for s in stats) == 10
    assert sum(s.inbytes for s in stats) == sum(range(1, 11))
    assert sum(s.outbytes for s in stats) == sum(range(1, 11)) + 10 * len(b"127.0.0.11:")
    assert all(s.inpkts >= 1 and s.outpkts >= 1 for s in stats)
    assert all(d.active == 0 for d in c.dests.values())


def test_udp_is_forwarded_and_answered_from_the_virtual_address(plane: ProxyDataPlane,
                                                                backends: list[Backend]) -> None:
    b1, b2 = make(backends, "udp")
    v = vip()
    reconcile(plane, service("udp", v, [Destination(b1.key), Destination(b2.key)]))
    tags = set()
    for i in range(6):
        reply, frm = udp_ask(v, b"d" * 10, src=f"127.0.1.{i + 1}")
        assert frm == v
        tags.add(reply[:11])
    assert tags == {b"127.0.0.11:", b"127.0.0.12:"}
    c = plane.counters()
    stats = [d.stats for d in c.dests.values()]
    assert sum(s.conns for s in stats) == 6
    assert sum(s.inpkts for s in stats) == 6 and sum(s.outpkts for s in stats) == 6
    assert sum(s.inbytes for s in stats) == 60 and sum(s.outbytes for s in stats) == 60 + 6 * 11
    assert sum(d.inactive for d in c.dests.values()) == 6  # UDP flows count as inactive, as in IPVS


def test_weights_split_new_connections(tmp_path: object, backends: list[Backend]) -> None:
    dp = ProxyDataPlane(str(tmp_path), workers=1)  # one worker: one wrr rotation, exact shares
    dp.open()
    try:
        b1, b2 = make(backends)
        v = vip()
        reconcile(dp, service("tcp", v, [Destination(b1.key, 3), Destination(b2.key, 1)], "wrr"))
        tags = [ask(v)[:11] for _ in range(40)]
        assert tags.count(b"127.0.0.11:") == 30 and tags.count(b"127.0.0.12:") == 10
    finally:
        dp.release()


def test_persistence_keeps_a_client_on_one_server_across_workers(plane: ProxyDataPlane,
                                                                 backends: list[Backend]) -> None:
    b1, b2 = make(backends)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key), Destination(b2.key)], "rr",
                             persistence_timeout=60))
    for client in ("127.0.2.1", "127.0.2.2", "127.0.2.3"):
        tags = {ask(v, src=client)[:11] for _ in range(12)}  # source ports vary: both workers would see them
        assert len(tags) == 1, client
    assert sum(d.persistent for d in plane.counters().dests.values()) == 3


def test_drain_keeps_established_connections_and_sends_new_ones_elsewhere(plane: ProxyDataPlane,
                                                                         backends: list[Backend]) -> None:
    b1, b2 = make(backends)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key), Destination(b2.key)]))
    established = []
    for _ in range(4):
        c = socket.create_connection(v, timeout=5)
        c.sendall(b"hello")
        established.append((c, c.recv(100)[:11]))
    assert {tag for _, tag in established} == {b"127.0.0.11:", b"127.0.0.12:"}
    assert sum(d.active for d in plane.counters().dests.values()) == 4
    reconcile(plane, service("tcp", v, [Destination(b1.key, 0), Destination(b2.key)]))
    assert {ask(v)[:11] for _ in range(6)} == {b"127.0.0.12:"}
    reconcile(plane, service("tcp", v, [Destination(b2.key)]))  # b1 removed: its connections go on
    for c, tag in established:
        c.sendall(b"again")
        assert c.recv(100) == tag + b"again"
        c.close()


def test_sorry_server_is_a_destination_like_any_other(plane: ProxyDataPlane, backends: list[Backend]) -> None:
    b1, sorry = make(backends)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key)]))
    assert ask(v)[:11] == b"127.0.0.11:"
    reconcile(plane, service("tcp", v, [Destination(sorry.key)]))  # quorum down: the checker swaps in the sorry server
    assert {ask(v)[:11] for _ in range(4)} == {b"127.0.0.12:"}


def test_a_new_contract_object_adopts_the_running_workers(tmp_path: object, backends: list[Backend]) -> None:
    b1, b2 = make(backends)
    v = vip()
    svc = service("tcp", v, [Destination(b1.key, 2), Destination(b2.key, 1)], "wlc", persistence_timeout=30,
                  persistence_netmask=24)
    first = ProxyDataPlane(str(tmp_path), workers=2)
    first.open()
    try:
        reconcile(first, svc)
        conn = socket.create_connection(v, timeout=5)
        conn.sendall(b"before")
        tag = conn.recv(100)[:11]
        pids = first.worker_pids()
        first.close()  # the checker process goes away; the workers stay

        second = ProxyDataPlane(str(tmp_path), workers=4)  # adopts the running workers, at their number
        second.open()
        assert second.worker_pids() == pids
        assert diff(second.canonical(Table((svc,))), second.observe()) == []
        conn.sendall(b"after")
        assert conn.recv(100) == tag + b"after"
        assert sum(d.stats.conns for d in second.counters().dests.values()) == 1
        conn.close()
    finally:
        ProxyDataPlane(str(tmp_path)).release()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_dead_worker_is_started_again_with_the_table(plane: ProxyDataPlane, backends: list[Backend]) -> None:
    (b1,) = make(backends, n=1)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key)]))
    victim = plane.worker_pids()[1]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.waitpid(victim, os.WNOHANG)[0] == victim:
                break
        except ChildProcessError:
            break
        time.sleep(0.02)
    observed = plane.observe()
    assert plane.worker_pids()[1] != victim
    assert diff(plane.canonical(Table((service("tcp", v, [Destination(b1.key)]),))), observed) == []
    assert all(ask(v)[:11] == b"127.0.0.11:" for _ in range(8))


def test_fwmark_and_direct_routing_are_refused(plane: ProxyDataPlane) -> None:
    with pytest.raises(Unsupported, match="firewall-mark"):
        plane.apply(diff(Table((Service(ServiceKey.mark(5), "rr"),)), Table()))
    assert plane.observe() == Table()


class _Tcp6(_Tcp):
    address_family = socket.AF_INET6


def test_ipv6_service_with_persistence(plane: ProxyDataPlane) -> None:
    servers = []
    try:
        for tag in (b"six-a:", b"six-b:"):
            class Handler(socketserver.BaseRequestHandler):
                reply = tag

                def handle(self) -> None:
                    while data := self.request.recv(65536):
                        self.request.sendall(self.reply + data)

            s = _Tcp6(("::1", 0), Handler)
            threading.Thread(target=s.serve_forever, daemon=True).start()
            servers.append(s)
        dests = [Destination(DestKey.of("::1", s.server_address[1])) for s in servers]
        v = ("::1", free_port())
        reconcile(plane, service("tcp", v, dests, "rr", persistence_timeout=30, persistence_netmask=64))
        tags = set()
        for _ in range(10):
            with socket.create_connection(v, timeout=5) as c:
                c.sendall(b"x")
                tags.add(c.recv(100)[:6])
        assert len(tags) == 1  # one client network, one real server, whichever worker accepted
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_a_refused_real_server_closes_the_client_connection(plane: ProxyDataPlane) -> None:
    dead = DestKey.of("127.0.0.19", free_port())  # nothing listens there
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(dead)]))
    with socket.create_connection(v, timeout=5) as c:
        c.sendall(b"anyone?")
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
    time.sleep(0.2)
    (counters,) = plane.counters().dests.values()
    assert counters.active == 0 and counters.stats.conns == 1


def test_a_runtime_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match="mode 0700"):
        ProxyDataPlane(str(shared), workers=1).open()


def test_release_without_running_workers_starts_none(tmp_path: Path) -> None:
    dp = ProxyDataPlane(str(tmp_path / "never"), workers=1)
    dp.release()
    assert not (tmp_path / "never").exists()


def test_udp_flows_end_with_their_service(plane: ProxyDataPlane, backends: list[Backend]) -> None:
    (b1,) = make(backends, "udp", n=1)
    v = vip()
    reconcile(plane, service("udp", v, [Destination(b1.key)]))
    assert udp_ask(v)[0] == b"127.0.0.11:ping"
    assert sum(d.inactive for d in plane.counters().dests.values()) == 1
    reconcile(plane)  # service deleted
    assert plane.observe() == Table()
    reconcile(plane, service("udp", v, [Destination(b1.key)]))  # and back: a fresh flow, answered again
    assert udp_ask(v)[0] == b"127.0.0.11:ping"
    assert sum(d.inactive for d in plane.counters().dests.values()) == 1


def test_persistence_switched_off_and_on_again(plane: ProxyDataPlane, backends: list[Backend]) -> None:
    b1, b2 = make(backends)
    v = vip()
    dests = [Destination(b1.key), Destination(b2.key)]
    reconcile(plane, service("tcp", v, dests, persistence_timeout=30))
    reconcile(plane, service("tcp", v, dests))
    assert {ask(v)[:11] for _ in range(12)} == {b"127.0.0.11:", b"127.0.0.12:"}
    reconcile(plane, service("tcp", v, dests, persistence_timeout=30, persistence_netmask=24))
    assert len({ask(v, src="127.0.3.1")[:11] for _ in range(12)}) == 1


def test_bulk_both_ways_with_a_slow_reader_and_half_close(plane: ProxyDataPlane) -> None:
    """Megabytes each way (reads switch from copying to splice; a slow client backlogs the proxy),
    the client's half-close forwarded, every byte delivered and counted."""
    import hashlib

    pattern = bytes(range(256)) * 12_288  # 3 MiB

    class Sink(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            h = hashlib.sha256()
            while data := self.request.recv(65536):  # until the client's FIN comes through the proxy
                h.update(data)
            self.request.sendall(h.digest() + pattern)

    server = _Tcp(("127.0.0.18", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        v = vip()
        dest = DestKey.of("127.0.0.18", server.server_address[1])
        reconcile(plane, service("tcp", v, [Destination(dest)]))
        sent = os.urandom(2 * 1024 * 1024)
        with socket.create_connection(v, timeout=10) as c:
            c.sendall(sent)
            c.shutdown(socket.SHUT_WR)
            time.sleep(0.5)  # the reply backs up in the proxy meanwhile
            got = bytearray()
            while chunk := c.recv(1 << 20):
                got += chunk
        assert bytes(got[:32]) == hashlib.sha256(sent).digest()
        assert bytes(got[32:]) == pattern
        time.sleep(0.2)
        (c,) = plane.counters().dests.values()
        assert c.stats.inbytes == len(sent) and c.stats.outbytes == 32 + len(pattern)
        assert c.active == 0
    finally:
        server.shutdown()
        server.server_close()


def test_observe_reads_again_only_when_a_worker_table_moved(plane: ProxyDataPlane, tmp_path: Path,
                                                            backends: list[Backend]) -> None:
    (b1,) = make(backends, n=1)
    v = vip()
    reconcile(plane, service("tcp", v, [Destination(b1.key)]))
    first = plane.observe()
    assert plane.observe() is first  # nothing moved: the table read last time
    other = ProxyDataPlane(plane.dir)  # another instance (an operator's tool, a second checker) changes it
    other.apply(diff(other.canonical(Table((service("tcp", v, [Destination(b1.key, 7)]),))), other.observe()))
    other.close()
    (svc,) = plane.observe().services
    assert svc.destinations[0].weight == 7


def test_out_of_descriptors_a_worker_waits_instead_of_spinning(tmp_path: Path, backends: list[Backend]) -> None:
    import resource

    (b1,) = make(backends, n=1)
    dp = ProxyDataPlane(str(tmp_path), workers=1)
    dp.open()
    try:
        v = vip()
        reconcile(dp, service("tcp", v, [Destination(b1.key)]))
        (pid,) = dp.worker_pids()
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 6, hard))  # room for 3 connections

        def cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        held = []
        for _ in range(8):  # more than fit: the rest wait in the listen backlog
            c = socket.create_connection(v, timeout=5)
            held.append(c)
        before = cpu()
        time.sleep(1.5)
        assert cpu() - before < 0.5  # not spinning on a listener it cannot accept from
        for c in held:
            c.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 200, hard))
        deadline = time.monotonic() + 5
        while True:  # served again once descriptors are back (the listener is watched again each second)
            try:
                assert ask(v)[:11] == b"127.0.0.11:"
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        dp.release()


def test_a_port_someone_else_holds_is_refused_by_every_worker_alike(plane: ProxyDataPlane,
                                                                    backends: list[Backend]) -> None:
    (b1,) = make(backends, n=1)
    v = vip()
    squatter = socket.socket()  # no SO_REUSEPORT: nobody may join its port
    squatter.bind(v)
    squatter.listen()
    try:
        pids = plane.worker_pids()
        with pytest.raises(Exception, match="Address already in use"):
            plane.apply(diff(plane.canonical(Table((service("tcp", v, [Destination(b1.key)]),))), plane.observe()))
        assert plane.observe() == Table()
        assert plane.worker_pids() == pids  # the workers agree: none was started again
    finally:
        squatter.close()
    reconcile(plane, service("tcp", v, [Destination(b1.key)]))  # the port is free again: the next reconcile
    assert ask(v)[:11] == b"127.0.0.11:"


def test_rates_are_the_counters_growth_per_second(tmp_path: Path, backends: list[Backend]) -> None:
    (b1,) = make(backends, n=1)
    now = [100.0]
    dp = ProxyDataPlane(str(tmp_path), workers=2, clock=lambda: now[0])
    dp.open()
    try:
        v = vip()
        reconcile(dp, service("tcp", v, [Destination(b1.key)]))
        dp.counters()
        for _ in range(8):
            assert ask(v, b"12345")[:11] == b"127.0.0.11:"
        time.sleep(0.2)
        now[0] += 2.0
        (c,) = dp.counters().dests.values()
        assert c.rates.cps == 4  # 8 connections in 2 s
        assert c.rates.inbps == 8 * 5 // 2 and c.rates.outbps == 8 * (11 + 5) // 2
        assert c.rates.inpps >= 4 and c.rates.outpps >= 4
    finally:
        dp.release()
