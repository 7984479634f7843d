"""Each checker type against real servers these tests start on 127.0.0.1 (port 0 / a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from pykeepalived.check.probes import Probe, build_probe
from pykeepalived.check.probes.udp import reply_matches
from pykeepalived.check.runner import Runner, unsupported_checkers
from pykeepalived.check.state import Log, MailAlert, Result, rs_key
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_lvs import RealServer, VirtualServer


def config(rs_ip: str, rs_port: int, checker: str, vs_extra: str = "", rs_extra: str = "") -> VirtualServer:
    text = (f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n lb_algo rr\n{vs_extra}\n"
            f" real_server {rs_ip} {rs_port} {{\n{rs_extra}\n{checker}\n }}\n}}\n")
    return load_config_text(text).config.lvs.virtual_servers[0]


async def once(vs: VirtualServer, index: int = 0, url: int = 0) -> Result:
    """Run one attempt of the RS's checker ``index`` (HTTP: of its url ``url``) and return its result."""
    loop = asyncio.get_running_loop()
    rs: RealServer = vs.real_servers[0]
    probe: Probe = build_probe(vs, rs, rs.checkers[index], loop, url_index=lambda: url)
    fut: asyncio.Future[Result] = loop.create_future()
    probe.start(fut.set_result)
    return await asyncio.wait_for(fut, 15)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- TCP


def tcp(port: int, timeout: float = 0.5) -> VirtualServer:
    return config("127.0.0.1", port, f"TCP_CHECK {{\n connect_timeout {timeout}\n }}")


async def test_tcp_up_and_refused() -> None:
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]
        assert (await once(tcp(port))).ok
    r = await once(tcp(port))
    assert not r.ok and "refused" in r.reason.lower()


async def test_tcp_check_completes_the_handshake_and_closes_in_order_as_keepalived() -> None:
    """keepalived's TCP_CHECK (SO_LINGER 5 s, then close()): the server gets a connection that ends with a
    FIN, read as end of file, never a reset; haproxy's dialogue (``half_open``) resets before the server
    could accept it."""
    loop = asyncio.get_running_loop()
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        ls.settimeout(2)
        port = ls.getsockname()[1]
        assert (await once(tcp(port))).ok
        conn, _ = ls.accept()
        with conn:
            conn.settimeout(2)
            assert conn.recv(1) == b""  # a reset would raise ConnectionResetError
        vs = tcp(port)
        rs = vs.real_servers[0]
        half_open = build_probe(vs, rs, rs.checkers[0], loop, tcp_half_open=True)
        fut: asyncio.Future[Result] = loop.create_future()
        half_open.start(fut.set_result)
        assert (await asyncio.wait_for(fut, 5)).ok
        await asyncio.sleep(0.05)
        ls.settimeout(0.2)
        try:
            conn, _ = ls.accept()
        except TimeoutError:
            return  # never established on the server's side
        with conn, pytest.raises(ConnectionResetError):
            conn.settimeout(2)
            conn.recv(1)


async def test_tcp_timeout_with_full_backlog() -> None:
    """Loopback never drops SYNs, except to a listener whose accept queue is full.

    ``listen(0)`` with one un-accepted connection queued makes Linux drop every further SYN
    (LISTENOVERFLOWS), so the checker's connect hangs until connect_timeout: a timeout on
    127.0.0.1 without firewall rules or namespaces.
    """
    with socket.socket() as ls, socket.socket() as filler:
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        filler.connect(("127.0.0.1", port))
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        r = await once(tcp(port, timeout=0.4))
        elapsed = time.monotonic() - t0
    assert not r.ok
    assert 0.35 < elapsed < 1.0


async def test_bindto_an_address_not_on_this_host_gives_no_verdict() -> None:
    """keepalived: "Checker bind failed: ..." then "TCP socket bind failed. Rescheduling." / "WEB socket bind
    failed. Rescheduling", and the checker's state is left alone (a backup whose checkers bind to the VIP)."""
    port = free_port()
    tcp = await once(config("127.0.0.1", port, "TCP_CHECK {\n connect_timeout 1\n bindto 192.0.2.77\n }"))
    assert tcp.skip and tcp.reason == "TCP socket bind failed. Rescheduling."
    assert tcp.note == "Checker bind failed: Cannot assign requested address"
    web = await once(config("127.0.0.1", port, "HTTP_GET {\n connect_timeout 1\n bindto 192.0.2.77\n"
                                                " url {\n path /\n }\n }"))
    assert web.skip and web.reason == "WEB socket bind failed. Rescheduling"
    assert web.note == "Checker bind failed: Cannot assign requested address"
    smtp = await once(config("127.0.0.1", port, "SMTP_CHECK {\n connect_timeout 1\n bindto 192.0.2.77\n }"))
    assert smtp.skip and smtp.reason == "SMTP_CHECK socket bind failed. Rescheduling."
    assert smtp.note == "Checker bind failed: Cannot assign requested address"
    dns_ = await once(config("127.0.0.1", port, "DNS_CHECK {\n connect_timeout 1\n bindto 192.0.2.77\n }"))
    assert dns_.skip and dns_.reason == f"DNS_CHECK ([127.0.0.1]:tcp:{port}) UDP socket bind failed. Rescheduling."
    # keepalived's UDP_CHECK counts the same set-up error as a failed check
    udp = await once(config("127.0.0.1", port, "UDP_CHECK {\n connect_timeout 1\n bindto 192.0.2.77\n }"))
    assert not udp.ok and not udp.skip


async def test_tcp_bindto_source_address() -> None:
    seen: list[str] = []
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        ls.setblocking(False)
        port = ls.getsockname()[1]
        vs = config("127.0.0.1", port, "TCP_CHECK {\n connect_timeout 1\n bindto 127.0.0.2\n }")
        assert (await once(vs)).ok
        conn, addr = ls.accept()
        seen.append(addr[0])
        conn.close()
    assert seen == ["127.0.0.2"]


# ------------------------------------------------------------------------------------------ HTTP


@contextlib.asynccontextmanager
async def http_server(routes: dict[str, bytes | Callable[[], None] | None]) -> AsyncIterator[int]:
    """path -> raw reply bytes; None = accept and never answer; b"" = close at once."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ")[1].decode()
            reply = routes.get(path, b"HTTP/1.0 404 Not Found\r\n\r\n")
            if reply is None:
                await asyncio.sleep(30)
            elif isinstance(reply, bytes):
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


BODY = b"<html>hello</html>\n"
OK_REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


def http_check(port: int, urls: str, timeout: float = 1.0) -> VirtualServer:
    return config("127.0.0.1", port, f"HTTP_GET {{\n connect_timeout {timeout}\n{urls}\n }}")


async def test_http_status_and_digest() -> None:
    digest = hashlib.md5(BODY).hexdigest()
    routes: dict[str, bytes | Callable[[], None] | None] = {
        "/ok": OK_REPLY, "/teapot": b"HTTP/1.0 418 I'm a teapot\r\n\r\n"}
    async with http_server(routes) as port:
        assert (await once(http_check(port, "url {\n path /ok\n }"))).ok
        r = await once(http_check(port, f"url {{\n path /ok\n digest {digest}\n }}"))
        assert r.ok and r.reason == "MD5 digest"
        r = await once(http_check(port, f"url {{\n path /ok\n digest {'0' * 32}\n }}"))
        assert not r.ok and r.reason == "MD5 digest error to"
        r = await once(http_check(port, "url {\n path /missing\n }"))
        assert not r.ok and r.reason == "HTTP status code error to"
        assert (await once(http_check(port, "url {\n path /teapot\n status_code 418\n }"))).ok
        # one url per attempt: the one the health state points at
        two = http_check(port, "url {\n path /ok\n }\n url {\n path /missing\n }")
        assert (await once(two, url=0)).ok
        r = await once(two, url=1)
        assert not r.ok and r.reason == "HTTP status code error to"


async def test_http_digest_is_of_body_capped_at_content_length() -> None:
    reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more"
    async with http_server({"/": reply}) as port:
        digest = hashlib.md5(b"hello").hexdigest()
        assert (await once(http_check(port, f"url {{\n path /\n digest {digest}\n }}"))).ok


async def test_http_content_length_mismatch_is_logged_once_per_difference() -> None:
    """keepalived's ``http_check for RS … content_length (N) does not match received bytes (M)``: once per
    difference per url, only for a reply whose status passed."""
    reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more"
    async with http_server({"/": reply, "/gone": b"HTTP/1.0 404 Nope\r\nContent-Length: 1\r\n\r\n"}) as port:
        vs = http_check(port, "url {\n path /\n }\n url {\n path /gone\n }")
        rs = vs.real_servers[0]
        loop = asyncio.get_running_loop()
        url = [0]
        probe = build_probe(vs, rs, rs.checkers[0], loop, url_index=lambda: url[0])

        async def attempt() -> Result:
            fut: asyncio.Future[Result] = loop.create_future()
            probe.start(fut.set_result)
            return await asyncio.wait_for(fut, 15)

        first = await attempt()
        assert first.ok and first.note == (f"http_check for RS [127.0.0.1]:tcp:{port} VS [10.0.0.5]:tcp:80 url /: "
                                           "content_length (5) does not match received bytes (15)")
        assert (await attempt()).note == ""  # the same difference again: not repeated
        url[0] = 1
        assert (await attempt()).note == ""  # status failed first: no length check


async def test_http_slow_server_hits_connect_timeout() -> None:
    async with http_server({"/slow": None}) as port:
        t0 = time.monotonic()
        r = await once(http_check(port, "url {\n path /slow\n }", timeout=0.3))
        assert not r.ok and "Timeout" in r.reason
        assert 0.25 < time.monotonic() - t0 < 1.5


async def test_http_server_closing_early() -> None:
    async with http_server({"/close": b""}) as port:
        r = await once(http_check(port, "url {\n path /close\n }"))
        assert not r.ok


# ------------------------------------------------------------------------------------------ SMTP


async def test_smtp_dialogue_with_aiosmtpd() -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    port = free_port()
    ctl = aiosmtpd.Controller(object(), hostname="127.0.0.1", port=port)
    await asyncio.to_thread(ctl.start)
    try:
        vs = config("127.0.0.1", port, "SMTP_CHECK {\n connect_timeout 2\n helo_name me.example\n }")
        assert (await once(vs)).ok
    finally:
        await asyncio.to_thread(ctl.stop)


async def test_smtp_multiline_and_bad_banner() -> None:
    async def good(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-first line\r\n220 ready\r\n")
        assert (await reader.readline()).startswith(b"HELO ")
        writer.write(b"250-hello\r\n250-PIPELINING\r\n250 OK\r\n")
        await reader.readline()
        writer.write(b"221 bye\r\n")
        await writer.drain()
        writer.close()

    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 go away\r\n")
        await writer.drain()
        writer.close()

    for handler, ok in ((good, True), (bad, False)):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r = await once(config("127.0.0.1", port, "SMTP_CHECK {\n connect_timeout 1\n }"))
        server.close()
        assert r.ok is ok, r


# ------------------------------------------------------------------------------------------- DNS


class DnsServer(asyncio.DatagramProtocol):
    """Answers every query: NOERROR, except NXDOMAIN for names starting with 'bad'."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        q = dns.message.from_wire(data)
        resp = dns.message.make_response(q)
        if q.question[0].name.to_text().startswith("bad"):
            resp.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(resp.to_wire(), addr)  # type: ignore[attr-defined]


async def test_dns_check() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(DnsServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        assert (await once(config("127.0.0.1", port, "DNS_CHECK {\n connect_timeout 1\n type A\n"
                                  " name ok.example\n }"))).ok
        assert (await once(config("127.0.0.1", port, "DNS_CHECK {\n connect_timeout 1\n }"))).ok  # SOA .
        r = await once(config("127.0.0.1", port, "DNS_CHECK {\n connect_timeout 1\n name bad.example\n }"))
        assert not r.ok and "NXDOMAIN" in r.reason
    finally:
        transport.close()
    r = await once(config("127.0.0.1", port, "DNS_CHECK {\n connect_timeout 0.5\n }"))
    assert not r.ok


# ------------------------------------------------------------------------------------------- UDP


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"\x0a\x0b" + data, addr)  # type: ignore[attr-defined]


async def test_udp_check_without_and_with_require_reply() -> None:
    loop = asyncio.get_running_loop()
    closed_port = free_port(socket.SOCK_DGRAM)
    r = await once(config("127.0.0.1", closed_port, "UDP_CHECK {\n connect_timeout 0.5\n }"))
    assert not r.ok and "unreachable" in r.reason  # ICMP port unreachable
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        assert (await once(config("127.0.0.1", port, "UDP_CHECK {\n connect_timeout 0.3\n }"))).ok
        assert not (await once(config("127.0.0.1", port, "UDP_CHECK {\n connect_timeout 0.3\n"
                                      " require_reply\n }"))).ok
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        ok = "UDP_CHECK {\n connect_timeout 0.5\n payload 01020304\n require_reply 0aXb0102\n }"
        assert (await once(config("127.0.0.1", port, ok))).ok
        bad = "UDP_CHECK {\n connect_timeout 0.5\n payload 01020304\n require_reply 0aXbff\n }"
        r = await once(config("127.0.0.1", port, bad))
        assert not r.ok and "mismatch" in r.reason
        short = "UDP_CHECK {\n connect_timeout 0.5\n payload 01\n require_reply\n min_reply_length 10\n }"
        assert not (await once(config("127.0.0.1", port, short))).ok
    finally:
        transport.close()


def test_reply_pattern_wildcards() -> None:
    assert reply_matches(b"\x0a\xbc", "0axc")
    assert reply_matches(b"\x0a", "0axcff")  # up to the shorter length
    assert not reply_matches(b"\x0a\xbc", "0b")


# ------------------------------------------------------------------------------------------ MISC


def script(tmp_path: Path, name: str, body: str) -> str:
    p = tmp_path / name
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(p)


async def test_misc_exit_codes_and_dynamic_weight(tmp_path: Path) -> None:
    def misc(body: str, extra: str = "") -> VirtualServer:
        path = script(tmp_path, f"s{abs(hash(body + extra))}.sh", body)
        return config("127.0.0.1", 80, f"MISC_CHECK {{\n misc_path \"{path} arg\"\n {extra}\n }}",
                      rs_extra="weight 3")

    assert (await once(misc("exit 0"))).ok
    r = await once(misc("exit 1"))
    assert not r.ok and r.reason == "exited with status 1"
    assert not (await once(misc("exit 10"))).ok  # without misc_dynamic any non-zero fails
    r = await once(misc("exit 10", "misc_dynamic"))
    assert r.ok and r.weight_delta == 10 - 2 - 3
    r = await once(misc('[ "$1" = arg ] && exit 0; exit 1'))
    assert r.ok  # argv passed without a shell in between


async def test_misc_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    path = script(tmp_path, "slow.sh", f"sleep 30 & echo $! > {marker}\nwait")
    vs = config("127.0.0.1", 80, f"MISC_CHECK {{\n misc_path {path}\n misc_timeout 1\n }}")
    t0 = time.monotonic()
    r = await once(vs)
    assert not r.ok and r.reason == "timed out"
    assert time.monotonic() - t0 < 2.5
    child = int(marker.read_text())
    await asyncio.sleep(0.1)
    try:  # gone, or a zombie waiting for whoever inherited it
        state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z", "X")


# ------------------------------------------------------------------------------------------ PING


async def test_ping_localhost() -> None:
    vs = config("127.0.0.1", 80, "PING_CHECK {\n connect_timeout 1\n }")
    r = await once(vs)
    assert r.ok, r


# ------------------------------------------------------------------------------------------ FILE


async def test_file_check(tmp_path: Path) -> None:
    f = tmp_path / "weight"
    text = (f"track_file tf {{\n file {f}\n weight 2\n}}\n"
            "virtual_server 10.0.0.5 80 {\n protocol TCP\n real_server 127.0.0.1 80 {\n weight 1\n"
            "  FILE_CHECK {\n track_file tf\n }\n }\n}\n")
    cfg = load_config_text(text).config
    vs = cfg.lvs.virtual_servers[0]
    loop = asyncio.get_running_loop()
    tracks = {t.name: t for t in cfg.vrrp.track_files}
    probe = build_probe(vs, vs.real_servers[0], vs.real_servers[0].checkers[0], loop, track_files=tracks)
    for content, expected in (("5\n", Result(True, weight_delta=10)), ("0", Result(True, weight_delta=0))):
        f.write_text(content)
        fut: asyncio.Future[Result] = loop.create_future()
        probe.start(fut.set_result)
        assert (await fut) == expected


async def test_bfd_check_is_fed_by_bfd_events() -> None:
    """BFD_CHECK runs no probe: the BFD process's Up/Down is the checker's verdict at once (no retry), with
    keepalived's log line and SMTP alert (check_bfd.c's bfd_check_handle_event)."""
    text = ("bfd_instance b1 {\n neighbor_ip 127.0.0.1\n}\n"
            "virtual_server 10.0.0.5 80 {\n protocol TCP\n real_server 127.0.0.1 80 {\n smtp_alert\n"
            "  BFD_CHECK {\n name b1\n }\n }\n}\n")
    vs = load_config_text(text).config.lvs.virtual_servers[0]
    assert unsupported_checkers([vs]) == []
    events: list[object] = []
    runner = Runner([vs], on_events=events.extend)
    runner.start()
    key = rs_key(vs.real_servers[0])

    def present() -> bool:
        return any(d.key == key for s in runner.desired_table().services for d in s.destinations)

    try:
        assert runner.jobs == [] and present()  # nothing polled; not alpha: up until BFD says otherwise
        events.clear()
        runner.bfd_event("b1", False)
        assert not present()
        logs = [e.text for e in events if isinstance(e, Log)]
        assert "BFD check of [b1] RS([127.0.0.1]:tcp:80) is DOWN" in logs
        mails = [e for e in events if isinstance(e, MailAlert)]
        assert len(mails) == 1 and mails[0].body == "=> BFD CHECK b1 failed on service <="
        events.clear()
        runner.bfd_event("b1", False)  # no change, no word
        assert events == []
        runner.bfd_event("other", True)
        assert events == []
        runner.bfd_event("b1", True)
        assert present()
        assert "BFD check of [b1] RS([127.0.0.1]:tcp:80) is UP" in [e.text for e in events if isinstance(e, Log)]
        assert [e.body for e in events if isinstance(e, MailAlert)] == ["=> BFD CHECK b1 succeeded on service <="]
    finally:
        await runner.stop()


async def test_bfd_checks_of_kept_servers_follow_their_session_after_a_reload() -> None:
    """A reload in place keeps the BFD_CHECKs of the real servers it keeps: in an untouched virtual server,
    and beside a changed real server of the same virtual server."""
    def config(port: int) -> tuple[VirtualServer, ...]:
        def rs(ip: str, p: int, bfd: str) -> str:
            return f" real_server {ip} {p} {{\n  BFD_CHECK {{\n name {bfd}\n }}\n }}\n"

        return load_config_text(
            "bfd_instance b1 {\n neighbor_ip 127.0.0.1\n}\nbfd_instance b2 {\n neighbor_ip 127.0.0.2\n}\n"
            f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n{rs('127.0.0.1', 80, 'b1')}}}\n"
            f"virtual_server 10.0.0.6 80 {{\n protocol TCP\n{rs('127.0.0.2', 80, 'b2')}"
            f"{rs('127.0.0.3', port, 'b2')}}}\n"
        ).config.lvs.virtual_servers

    before, after = config(80), config(81)
    runner = Runner(before, on_events=lambda events: None)
    runner.start()

    def present(ip: str) -> bool:
        return any(str(d.key.addr) == ip for s in runner.desired_table().services for d in s.destinations)

    try:
        runner.reconfigure((before[0], after[1]))  # the first untouched, the second with one server changed
        runner.bfd_event("b1", False)
        runner.bfd_event("b2", False)
        assert not present("127.0.0.1") and not present("127.0.0.2") and not present("127.0.0.3")
        runner.bfd_event("b2", True)
        assert present("127.0.0.2") and present("127.0.0.3")
    finally:
        await runner.stop()


# ---------------------------------------------------------------------------------- runner, end-to-end


async def test_runner_removes_dead_server_within_bound_and_restores_it() -> None:
    """delay_loop 0.3, retry 1, delay_before_retry 0.2: down within 0.3 + 0.2 (+ slack) of dying."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    port = ls.getsockname()[1]
    vs = config("127.0.0.1", port, "TCP_CHECK {\n connect_timeout 0.3\n retry 1\n delay_before_retry 0.2\n"
                " warmup 0\n }", vs_extra=" delay_loop 0.3")
    runner = Runner([vs], on_events=lambda ev: None)
    loop = asyncio.get_running_loop()
    runner.start()
    key = rs_key(vs.real_servers[0])

    def present() -> bool:
        return any(d.key == key for s in runner.desired_table().services for d in s.destinations)

    try:
        await asyncio.sleep(1.4)  # bootstrap 1 s + first check
        assert present()
        ls.close()
        died = loop.time()
        while present():
            await asyncio.sleep(0.01)
            assert loop.time() - died < 2.0
        detect = loop.time() - died
        assert detect <= 0.3 + 0.2 + 0.1
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(64)
        healed = loop.time()
        while not present():
            await asyncio.sleep(0.01)
            assert loop.time() - healed < 1.0
    finally:
        await runner.stop()
        ls.close()
