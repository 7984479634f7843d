"""Checkers against malicious backends (issue 13): every check ends by its one deadline with a failure, the event
loop never stalls, and memory does not grow with what a backend sends.

The backends (:mod:`tests.unit.check.hostile`) run in their own process on 127.0.0.1 and exit by themselves.
``connect_timeout`` is 0.6 s, longer than the drip's 0.5 s between bytes, so a drip never trips a per-read
timeout: only the overall deadline (connect_timeout x the dialogue's steps) can end it.  Before the fix an
SMTP/DNS/PING flood froze the loop until the backend went away, an endless or dripping HTTP body ran until
then too, and the HTTP client kept every byte it was sent.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import socket
import stat
from pathlib import Path

import pytest

from pykeepalived.check.http import RegexScan, ResponseParser, UrlSpec
from pykeepalived.check.net import Deadline
from pykeepalived.check.probes import CHECK_STEPS, Probe, build_probe
from pykeepalived.check.probes.http import ssl_context_for
from pykeepalived.check.probes.ping import PingProbe
from pykeepalived.check.state import Result
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_lvs import VirtualServer
from tests.unit.check.hostile import MODES, LoopWatch, backend, make_cert, rss_bytes

T = 0.6
#: the longest the loop may be held by the checks' own callbacks while they are under attack (CPU time of the
#: loop's thread between two turns of a probe task: the machine's other tenants do not count)
MAX_STALL = 0.05
#: slack over a deadline for scheduling on a busy 2-core machine
SLACK = 0.35

CHECKERS = {
    "http": ("HTTP_GET", "HTTP_GET {{\n connect_timeout {t}\n url {{\n path /\n digest {d}\n }}\n }}"),
    "ssl": ("SSL_GET", "SSL_GET {{\n connect_timeout {t}\n url {{\n path /\n regex \"never there\"\n }}\n }}"),
    "smtp": ("SMTP_CHECK", "SMTP_CHECK {{\n connect_timeout {t}\n }}"),
    "dns": ("DNS_CHECK", "DNS_CHECK {{\n connect_timeout {t}\n type A\n name ok.example.test\n }}"),
    "udp": ("UDP_CHECK", "UDP_CHECK {{\n connect_timeout {t}\n payload 01020304\n require_reply 0a0b\n }}"),
    "ping": ("PING_CHECK", "PING_CHECK {{\n connect_timeout {t}\n }}"),
}


def config(port: int, checker: str) -> VirtualServer:
    text = (f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n lb_algo rr\n"
            f" real_server 127.0.0.1 {port} {{\n{checker}\n }}\n}}\n")
    return load_config_text(text).config.lvs.virtual_servers[0]


class UdpPing(PingProbe):
    """PING_CHECK's receive path with its socket pointed at a UDP port (a flood of ICMP needs no raw sender)."""

    def __init__(self, port: int, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.port = port

    def _socket(self) -> tuple[socket.socket, bool]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        return sock, False

    def _peer(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def probe_for(kind: str, port: int, t: float = T) -> Probe:
    loop = asyncio.get_running_loop()
    vs = config(port, CHECKERS[kind][1].format(t=t, d=hashlib.md5(b"x").hexdigest()))
    rs = vs.real_servers[0]
    if kind == "ping":
        return UdpPing(port, rs.checkers[0], loop)
    ctx = ssl_context_for(None) if kind == "ssl" else None
    return build_probe(vs, rs, rs.checkers[0], loop, ssl_context=ctx)


async def attempt(probe: Probe, limit: float = 30.0) -> Result:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Result] = loop.create_future()
    probe.start(fut.set_result)
    return await asyncio.wait_for(fut, limit)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("hostile-tls"))


# ------------------------------------------------------------------------------------------ pure parts


def test_deadline_is_steps_times_connect_timeout_and_no_step_passes_it() -> None:
    d = Deadline(100.0, 5.0, CHECK_STEPS["HTTP_GET"])
    assert d.end == 115.0
    assert d.step_end(100.0) == 105.0  # connect
    assert d.step_end(104.9) == 109.9  # a read step: keepalived's per-step timeout
    assert d.step_end(112.0) == 115.0  # a drip's read at 112 s: cut at the overall deadline
    assert not d.expired(114.999) and d.expired(115.0)
    # virtual clock: a byte every 0.5 s never trips the 5 s per-read timeout, the deadline still comes
    now, reads = 100.0, 0
    while now < d.step_end(now) and not d.expired(now):
        now += 0.5
        reads += 1
    assert now == 115.0 and reads == 30
    assert CHECK_STEPS == {"TCP_CHECK": 1, "HTTP_GET": 3, "SSL_GET": 3, "SMTP_CHECK": 6, "DNS_CHECK": 3,
                           "UDP_CHECK": 3, "PING_CHECK": 3}


def test_parser_keeps_nothing_of_an_endless_body() -> None:
    """A checker's parser (no kept prefixes) fed 40 MB: the digest is of everything, nothing is held."""
    parser = ResponseParser(keep_regex_subject=False, keep_body=False,
                            regex=UrlSpec("/", regex="never (there|here)"))
    parser.feed(b"HTTP/1.0 200 OK\r\n\r\n")
    block = b"abcdefgh" * 512
    md5 = hashlib.md5()
    for _ in range(10_000):
        parser.feed(block)
        md5.update(block)
    p = parser.result()
    assert p.md5 == md5.hexdigest() and p.rx_bytes == 10_000 * len(block)
    assert p.body == b"" and p.regex_subject == b"" and p.regex_matched is False
    scan = parser._scan
    assert scan is not None and len(scan._win) + len(scan._pending) <= 4095 + 1 + 16 * 1024 + len(block)


def test_kept_prefixes_are_bounded() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.0 200 OK\r\n\r\n")
    for _ in range(1000):
        parser.feed(b"z" * 4095)
    p = parser.result()
    assert len(p.body) == len(p.regex_subject) == 1024 * 1024


def _scan(pattern: str, chunks: list[bytes], lo: int = 0, hi: int | None = None) -> bool:
    s = RegexScan.for_url(UrlSpec("/", regex=pattern, regex_min_offset=lo, regex_max_offset=hi))
    assert s is not None
    for c in chunks:
        s.feed(c)
    return s.finish()


def test_regex_scan_finds_matches_across_reads_within_keepalived_buffer() -> None:
    body = b"x" * 10_000 + b"STATUS: healthy." + b"y" * 10_000
    for size in (1, 7, 100, 4095):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert _scan(r"STATUS: \w+\.", chunks)
        assert not _scan("sick", chunks)
        assert _scan("healthy", chunks, lo=10_000, hi=10_008)
        assert not _scan("healthy", chunks, hi=10_007)
        assert not _scan("healthy", chunks, lo=10_009)


def test_regex_scan_anchors_and_end_of_window() -> None:
    # ^ is the start of the subject only, not of a later window; $ at a window's end is not the end
    assert _scan("^abc", [b"abc", b"def"])
    assert not _scan("^def", [b"abc", b"def"])
    assert _scan("(?m)^def", [b"abc\n", b"def"])
    assert not _scan("c$", [b"abc", b"def"])
    assert _scan("f$", [b"abc", b"def"])
    assert _scan(r"(?<=c)d", [b"abc", b"def"])
    # a match longer than the window (keepalived: its buffer) is lost; shorter ones are found across reads
    assert _scan("^a+b", [b"a" * 3000, b"a" * 1000 + b"b"])
    assert not _scan("^a+b", [b"a" * 4000] * 10 + [b"b"])
    assert _scan("a+b", [b"a" * 4000] * 10 + [b"b"])


# ------------------------------------------------------------------------------------ real backends


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(CHECKERS))
async def test_check_fails_by_its_deadline_and_the_loop_keeps_running(kind: str, mode: str,
                                                                      cert: tuple[Path, Path]) -> None:
    steps = CHECK_STEPS[CHECKERS[kind][0]]
    deadline = steps * T
    loop = asyncio.get_running_loop()
    with backend(kind, mode, lifetime=deadline + 6, cert=cert if kind == "ssl" else None) as (port,):
        probe = probe_for(kind, port)
        with LoopWatch() as watch:
            t0 = loop.time()
            r = await attempt(probe)
            elapsed = loop.time() - t0
    assert not r.ok, r
    if mode in ("endless", "drip") and kind != "udp":  # the reply never ends: a timeout, not another error
        assert "imeout" in r.reason, r
    assert elapsed <= deadline + SLACK, (r, elapsed)
    assert watch.worst_stall < MAX_STALL, (watch.worst_stall, watch.worst_lag)


async def test_tcp_check_reads_nothing_and_a_stalled_handshake_fails_by_connect_timeout() -> None:
    """TCP_CHECK only connects: what the backend then sends cannot hold it; a listener whose SYN queue is
    full (the handshake never completes) fails by connect_timeout."""
    vs_text = "TCP_CHECK {{\n connect_timeout {t}\n }}"
    loop = asyncio.get_running_loop()
    with backend("http", "endless", lifetime=5) as (port,):
        vs = config(port, vs_text.format(t=T))
        t0 = loop.time()
        r = await attempt(build_probe(vs, vs.real_servers[0], vs.real_servers[0].checkers[0], loop))
        assert r.ok and loop.time() - t0 < T
    with socket.socket() as ls, socket.socket() as filler:
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        filler.connect(ls.getsockname())
        await asyncio.sleep(0.05)
        vs = config(ls.getsockname()[1], vs_text.format(t=T))
        t0 = loop.time()
        r = await attempt(build_probe(vs, vs.real_servers[0], vs.real_servers[0].checkers[0], loop))
        elapsed = loop.time() - t0
    assert not r.ok and elapsed <= CHECK_STEPS["TCP_CHECK"] * T + SLACK


async def test_misc_script_flooding_stdout_times_out_without_growing_memory(tmp_path: Path) -> None:
    path = tmp_path / "flood.sh"
    path.write_text("#!/bin/sh\nexec yes 'hostile output line that never ends'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    vs = config(80, f"MISC_CHECK {{\n misc_path {path}\n misc_timeout 1\n }}")
    loop = asyncio.get_running_loop()
    gc.collect()
    idle = rss_bytes()
    with LoopWatch() as watch:
        t0 = loop.time()
        r = await attempt(build_probe(vs, vs.real_servers[0], vs.real_servers[0].checkers[0], loop))
        elapsed = loop.time() - t0
    assert not r.ok and r.reason == "timed out"
    assert elapsed < 1 + 2 + SLACK  # misc_timeout, then SIGTERM (SIGKILL 2 s later)
    assert watch.peak_rss - idle < 8 << 20
    assert watch.worst_stall < MAX_STALL


#: the stated bound: a checker process under attack by 100 endless bodies stays under 2x its idle RSS, and
#: its checking code allocates less than this much on top
MAX_GROWTH = 48 << 20


async def test_memory_and_loop_stay_bounded_while_100_backends_send_endless_bodies(cert: tuple[Path, Path]) -> None:
    """100 HTTP_GET checks, each url with a digest and a regex, against 100 backends sending an endless body
    without a Content-Length: each check fails at its deadline; RSS grows by less than MAX_GROWTH."""
    n = 100
    loop = asyncio.get_running_loop()
    digest = hashlib.md5(b"x").hexdigest()
    with backend("http", "endless", lifetime=3 * T + 8, ports=n) as ports:
        probes = []
        for port in ports:
            vs = config(port, f"HTTP_GET {{\n connect_timeout {T}\n url {{\n path /\n digest {digest}\n"
                              f" regex \"<p>sick</p>\"\n }}\n }}")
            probes.append(build_probe(vs, vs.real_servers[0], vs.real_servers[0].checkers[0], loop))
        gc.collect()
        idle = rss_bytes()
        with LoopWatch() as watch:
            t0 = loop.time()
            results = await asyncio.gather(*(attempt(p) for p in probes))
            elapsed = loop.time() - t0
    assert all(not r.ok and r.reason.startswith("Timeout") for r in results), {r.reason for r in results}
    assert elapsed <= 3 * T + SLACK + 0.3
    growth = watch.peak_rss - idle
    assert growth < MAX_GROWTH and watch.peak_rss < 2 * idle, (idle, watch.peak_rss)
    assert watch.worst_stall < MAX_STALL, (watch.worst_stall, watch.worst_lag)


class CountingSink:
    """A binary stdout that keeps only the last bytes written and counts the rest."""

    def __init__(self) -> None:
        self.written = 0
        self.tail = b""

    def write(self, data: bytes) -> int:
        self.written += len(data)
        self.tail = (self.tail + data)[-200:]
        return len(data)

    def flush(self) -> None:
        pass


async def test_genhash_streams_an_endless_page_without_holding_it() -> None:
    """genhash -v against an endless page: every read is dumped as it comes, nothing is kept, and the run ends
    by the GET's deadline (-t x 3) with keepalived's read-timeout line."""
    from pykeepalived.check.genhash import GenhashOptions, fetch

    out, err = CountingSink(), CountingSink()
    with backend("http", "endless", lifetime=3 * T + 6) as (port,):
        opts = GenhashOptions(server="127.0.0.1", port=port, url="/", verbose=True, timeout=T)
        gc.collect()
        idle = rss_bytes()
        loop = asyncio.get_running_loop()
        with LoopWatch() as watch:
            t0 = loop.time()
            await asyncio.wait_for(fetch(opts, out, err), 30)  # type: ignore[arg-type]
            elapsed = loop.time() - t0
    assert out.tail.endswith(b"Timeout HTTP read\n"), out.tail
    assert out.written > 1 << 20  # the dumps streamed out
    assert elapsed <= 3 * T + SLACK
    assert watch.peak_rss - idle < 16 << 20, (idle, watch.peak_rss)
