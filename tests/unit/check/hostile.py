"""Malicious backends for the checkers, in their own process (so they do not share the GIL or the event loop
of the checks they attack), and the probes the tests and ``bench/hostile_backends.py`` measure with.

``python -m tests.unit.check.hostile KIND MODE [--ports N] [--lifetime S] [--cert C --key K]`` listens on
127.0.0.1 only, prints its port numbers on one line, and exits by itself after ``--lifetime`` seconds (or
when its stdin closes, i.e. its parent went away).  At most ``--max-conns`` connections per port.

KIND: ``http``, ``ssl`` (HTTP over TLS), ``smtp`` (stream); ``dns``, ``udp``, ``ping`` (datagrams:
``ping`` answers a PING_CHECK whose socket the test points at a UDP port, standing in for ICMP).
MODE:

* ``endless`` — a well-formed start that never ends, sent without a pause (HTTP: a header without
  Content-Length, then body for ever; SMTP: ``220-`` continuation lines for ever; DNS: replies with
  someone else's id; UDP/PING: foreign replies), as fast as the socket takes them;
* ``drip`` — the same, one byte (one datagram) every 0.5 s;
* ``garbage`` — random printable bytes without a newline, without a pause;
* ``reset`` — the connection is reset (datagrams: the port is closed, ICMP port unreachable);
* ``stall`` — accepted (TLS: not even the handshake) and nothing sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
STREAM_KINDS = ("http", "ssl", "smtp")
DGRAM_KINDS = ("dns", "udp", "ping")
MODES = ("endless", "drip", "garbage", "reset", "stall")
DRIP_INTERVAL = 0.5
BLOCK = 64 * 1024

_rng = random.Random(13)
#: printable bytes, no CR/LF: no header end, no SMTP line
GARBAGE = bytes(_rng.randrange(0x21, 0x7F) for _ in range(BLOCK))
HTTP_HEAD = b"HTTP/1.0 200 OK\r\nServer: hostile\r\nContent-Type: text/html\r\n\r\n"
HTTP_BODY = (b"<p>all is well, nothing to see here</p>\n" * (BLOCK // 40 + 1))[:BLOCK]
SMTP_LINE = b"220-hostile.example.test ESMTP keeps talking\r\n"
SMTP_BLOCK = SMTP_LINE * (BLOCK // len(SMTP_LINE))


def _stream(kind: str, mode: str) -> tuple[bytes, bytes]:
    """(first bytes, block repeated for ever)"""
    if mode == "garbage":
        return b"", GARBAGE
    if kind == "smtp":
        return b"", SMTP_BLOCK
    return HTTP_HEAD, HTTP_BODY


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 8192:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def _handle(conn: socket.socket, kind: str, mode: str, tls: ssl.SSLContext | None, stop_at: float) -> None:
    try:
        conn.settimeout(max(0.1, stop_at - time.monotonic()))
        if mode == "stall":
            time.sleep(max(0.0, stop_at - time.monotonic()))
            return
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        if kind != "smtp":
            _read_request(conn)
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        first, block = _stream(kind, mode)
        if mode == "drip":
            data = first + block
            i = 0
            while time.monotonic() < stop_at:
                conn.sendall(data[i % len(data) : i % len(data) + 1])
                i += 1
                time.sleep(DRIP_INTERVAL)
            return
        if first:
            conn.sendall(first)
        while time.monotonic() < stop_at:
            conn.sendall(block)
    except (OSError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def _serve_stream(lsock: socket.socket, kind: str, mode: str, tls: ssl.SSLContext | None, stop_at: float,
                  max_conns: int) -> None:
    lsock.settimeout(0.2)
    n = 0
    while time.monotonic() < stop_at and n < max_conns:
        try:
            conn, _ = lsock.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        n += 1
        threading.Thread(target=_handle, args=(conn, kind, mode, tls, stop_at), daemon=True).start()


def _dgram_reply(kind: str, mode: str, query: bytes) -> bytes:
    if mode == "garbage":
        return GARBAGE[: _rng.randrange(16, 512)]
    if kind == "dns":
        import dns.message

        try:
            q = dns.message.from_wire(query)
        except Exception:
            return GARBAGE[:64]
        r = dns.message.make_response(q)
        r.id = q.id ^ 0x5A5A  # someone else's reply, and a long one to parse
        if q.question:
            import dns.rrset

            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A",
                                                *(f"192.0.2.{i}" for i in range(1, 80))))
        return r.to_wire()
    if kind == "ping":  # an echo reply (type 0) for another sequence number
        return b"\x00\x00\x00\x00\xff\xff\xff\xff" + b"not yours" * 4
    return b"\xee" * 48


#: sender threads per client of a flood (one Python thread can be slower than the checker's reads)
FLOOD_THREADS = 4


def _flood(sock: socket.socket, addr: tuple[str, int], kind: str, mode: str, query: bytes, stop_at: float) -> None:
    refused = 0
    replies = [_dgram_reply(kind, mode, query) for _ in range(16)]
    i = 0
    while time.monotonic() < stop_at and refused < 20:
        i += 1
        try:
            sock.sendto(replies[i & 15], addr)
        except ConnectionRefusedError:  # the checker closed its socket: ICMP port unreachable
            refused += 1
            time.sleep(0.01)
        except BlockingIOError:
            time.sleep(0.0005)
        except OSError:
            return
        if mode == "drip":
            time.sleep(DRIP_INTERVAL)


def _serve_dgram(sock: socket.socket, kind: str, mode: str, stop_at: float, max_conns: int) -> None:
    sock.settimeout(0.2)
    seen = 0
    while time.monotonic() < stop_at and seen < max_conns:
        try:
            query, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        except OSError:
            continue  # a port unreachable from an earlier flood's peer
        seen += 1
        if mode != "stall":
            for _ in range(1 if mode == "drip" else FLOOD_THREADS):
                threading.Thread(target=_flood, args=(sock, addr, kind, mode, query, stop_at), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("kind", choices=STREAM_KINDS + DGRAM_KINDS)
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--ports", type=int, default=1)
    ap.add_argument("--lifetime", type=float, default=10.0)
    ap.add_argument("--max-conns", type=int, default=200)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args(argv)
    stop_at = time.monotonic() + min(a.lifetime, 600.0)
    tls = None
    if a.kind == "ssl":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.cert, a.key)
    socks = []
    for _ in range(max(1, min(a.ports, 200))):
        if a.kind in STREAM_KINDS:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(256)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    for s in socks:
        if a.kind in STREAM_KINDS:
            target = _serve_stream
            args: tuple[object, ...] = (s, a.kind, a.mode, tls, stop_at, a.max_conns)
        elif a.mode == "reset":
            s.close()  # a closed port: the checker gets ICMP port unreachable
            continue
        else:
            target = _serve_dgram
            args = (s, a.kind, a.mode, stop_at, a.max_conns)
        threading.Thread(target=target, args=args, daemon=True).start()

    def parent_gone() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=parent_gone, daemon=True).start()
    time.sleep(max(0.0, stop_at - time.monotonic()))
    os._exit(0)


@contextmanager
def backend(kind: str, mode: str, *, lifetime: float, ports: int = 1, max_conns: int = 200,
            cert: tuple[Path, Path] | None = None) -> Iterator[list[int]]:
    """Start a hostile backend process; yields its ports; stops it (by its pid) on the way out."""
    argv = [sys.executable, "-m", "tests.unit.check.hostile", kind, mode, "--lifetime", str(lifetime),
            "--ports", str(ports), "--max-conns", str(max_conns)]
    if cert is not None:
        argv += ["--cert", str(cert[0]), "--key", str(cert[1])]
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield [int(p) for p in line.split()]
    finally:
        proc.kill()
        proc.wait(10)
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate and key for the ``ssl`` backend."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return directory / "cert.pem", directory / "key.pem"


def rss_bytes() -> int:
    """This process's resident set size now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class LoopWatch:
    """A task that measures how long the event loop goes without running it (its longest stall), and
    samples this process's RSS meanwhile.

    ``worst_lag`` is wall-clock lateness of a 5 ms sleep; on a shared machine it also counts the time the
    OS gave the CPU to other processes.  ``worst_stall`` is the CPU time the loop's thread spent between
    two turns of this task: what the loop's own callbacks held it for, whatever the machine's load (a
    receive loop that never yields shows up here as seconds).
    """

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.worst_lag = 0.0
        self.worst_stall = 0.0
        self.peak_rss = rss_bytes()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            cpu = time.thread_time()
            await asyncio.sleep(self.period)
            lag = loop.time() - t - self.period
            if lag > self.worst_lag:
                self.worst_lag = lag
            stall = time.thread_time() - cpu
            if stall > self.worst_stall:
                self.worst_stall = stall
            rss = rss_bytes()
            if rss > self.peak_rss:
                self.peak_rss = rss

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


if __name__ == "__main__":
    sys.exit(main())
