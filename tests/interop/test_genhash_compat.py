"""Our genhash against Debian's keepalived 2.2.7 ``/usr/bin/genhash``, byte for byte.

Both programs run as subprocesses against test servers on 127.0.0.1 that this module starts; stdout, stderr,
exit code and the request bytes each one sent are compared.  Only the ``Global response time`` number is
masked.  (Not compared: ``--url``/``--protocol`` etc. missing their argument as the *last* word — keepalived
2.2.7 reads its long-option table at index -1 there and sometimes crashes.)
"""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_binary

pytestmark = pytest.mark.interop

HELLO = b"hello keepalived\n"


def reply(body: bytes, status: bytes = b"200 OK", extra: bytes = b"", length: bool = True) -> bytes:
    head = b"HTTP/1.0 " + status + b"\r\nServer: test\r\nContent-type: text/plain\r\n" + extra
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


NOT_FOUND = b"<!DOCTYPE HTML>\n<html><body><h1>Error response</h1><p>Error code: 404</p></body></html>\n"

#: path -> list of (pause before sending, bytes); None = close without sending
SCRIPTS: dict[str, list[tuple[float, bytes]] | None] = {
    "/ok": [(0, reply(HELLO))],
    "/multi/u": [(0, reply(b"second url"))],
    "/short-len": [(0, reply(b"abc", extra=b"Content-Length: 3\r\n", length=False) + b"EXTRA-IGNORED")],
    "/no-len": [(0, reply(b"body without a length\n", length=False))],
    "/404": [(0, reply(NOT_FOUND, status=b"404 File not found"))],
    "/empty": None,
    "/split": [(0, reply(b"", extra=b"Content-Length: 10\r\n", length=False)), (0.15, b"hello"),
               (0.15, b"world")],
    "/hdr-split": [(0, b"HTTP/1.0 200 OK\r\n"), (0.15, b"X: y\r\n\r\nbody")],
    "/big": [(0, reply(bytes(range(256)) * 40))],
    # larger than one loopback delivery (64 KiB): the reads must split where keepalived's 4095-byte reads do
    "/big70k": [(0, reply(bytes((i * 7) & 0xFF for i in range(70_000))))],
    "/big-header": [(0, b"HTTP/1.0 200 OK\r\nX: " + b"a" * 5000 + b"\r\n\r\nbody")],
    "/no-header-end": [(0, b"garbage without a header end")],
    "/nul": [(0, b"HTTP/1.0 200 OK\r\nX: a\0b\r\n\r\nbinary\0body\xff")],
    "/slow": [(1.5, reply(HELLO))],
}


@dataclass
class Servers:
    plain: int
    tls: int
    closed: int
    requests: list[bytes]
    sni: list[str | None]


def _handle(conn: socket.socket, requests: list[bytes], tls_ctx: ssl.SSLContext | None) -> None:
    clean = False
    try:
        conn.settimeout(5)
        if tls_ctx is not None:
            conn = tls_ctx.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        requests.append(data)
        path = data.split(b" ")[1].decode()
        clean = path.startswith("/clean")
        script = SCRIPTS.get(path.removeprefix("/clean"), [(0, reply(b"unknown path"))])
        if path.endswith("/rst"):
            conn.sendall(reply(b"abc", length=False))
            time.sleep(0.1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            return
        for pause, payload in script or []:
            time.sleep(pause)
            conn.sendall(payload)
        if clean and isinstance(conn, ssl.SSLSocket):
            conn.settimeout(0.3)
            conn.unwrap()  # close_notify
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def _serve(lst: socket.socket, requests: list[bytes], tls_ctx: ssl.SSLContext | None) -> None:
    while True:
        try:
            conn, _ = lst.accept()
        except OSError:
            return
        threading.Thread(target=_handle, args=(conn, requests, tls_ctx), daemon=True).start()


def _self_signed(d: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rs.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "cert.pem", d / "key.pem"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    requests: list[bytes] = []
    sni: list[str | None] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_self_signed(tmp_path_factory.mktemp("tls")))
    ctx.sni_callback = lambda _s, name, _c: sni.append(name)  # type: ignore[assignment,misc,func-returns-value]
    socks = []
    for tls in (None, ctx):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(16)
        socks.append(lst)
        threading.Thread(target=_serve, args=(lst, requests, tls), daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    ports = [s.getsockname()[1] for s in (*socks, closed)]
    yield Servers(*ports, requests=requests, sni=sni)
    for s in (*socks, closed):
        s.close()


OURS = "import sys; from pykeepalived.check.genhash import main; sys.exit(main(sys.argv[1:], 'genhash'))"
MASK = re.compile(rb"(Global response time for \[.*\] = )\d+( usecs)")


def run_both(args: list[str], servers: Servers) -> bytes:
    genhash = require_binary("genhash")
    outcomes = []
    # argv[0] is "genhash" for both, so the usage lines agree
    runs = ((genhash, ["genhash", *args]), (sys.executable, [sys.executable, "-c", OURS, *args]))
    for executable, argv in runs:
        servers.requests.clear()
        servers.sni.clear()
        p = subprocess.run(argv, executable=executable, capture_output=True, timeout=20)
        time.sleep(0.02)  # let the server thread record the request
        outcomes.append((p.returncode, MASK.sub(rb"\1N\2", p.stdout), p.stderr, list(servers.requests),
                         list(servers.sni)))
    ref, ours = outcomes
    assert ours[0] == ref[0], "exit code"
    assert ours[2].decode(errors="replace") == ref[2].decode(errors="replace"), "stderr"
    assert ours[1].decode(errors="replace") == ref[1].decode(errors="replace"), "stdout"
    assert ours[3] == ref[3], "request bytes"
    assert ours[4] == ref[4], "SNI"
    return ref[1]


PLAIN_CASES = {
    "ok": ["-u", "/ok"],
    "ok-verbose": ["-v", "-u", "/ok"],
    "content-length-shorter-than-body": ["-u", "/short-len"],
    "content-length-shorter-verbose": ["-v", "-u", "/short-len"],
    "no-content-length-verbose": ["-v", "-u", "/no-len"],
    "404-is-hashed": ["-u", "/404"],
    "404-verbose": ["-v", "-u", "/404"],
    "empty-reply": ["-u", "/empty"],
    "empty-reply-verbose": ["-v", "-u", "/empty"],
    "vhost-http11-verbose": ["-v", "-V", "www.example.test", "-P", "1.1", "-u", "/ok"],
    "http10-connection-close": ["-P", "1.0C", "-u", "/ok"],
    "http10c-lowercase-vhost": ["-P", "1.0c", "-V", "myhost", "-u", "/ok"],
    "body-in-later-reads-verbose": ["-v", "-u", "/split"],
    "header-over-two-reads-verbose": ["-v", "-u", "/hdr-split"],
    "big-body-4095-byte-reads-verbose": ["-v", "-u", "/big"],
    "body-over-64k-verbose": ["-v", "-u", "/big70k"],
    "header-larger-than-buffer-verbose": ["-v", "-u", "/big-header"],
    "no-header-end-verbose": ["-v", "-u", "/no-header-end"],
    "nul-in-header-verbose": ["-v", "-u", "/nul"],
    "reset-is-read-error-verbose": ["-v", "-u", "/rst"],
    "last-url-wins-long-options": ["--verbose", "--url", "/ok", "--url=/multi/u", "--fwmark", "7"],
    "first-read-timeout": ["-t", "1", "-u", "/slow"],
}


@pytest.mark.parametrize("name", sorted(PLAIN_CASES))
def test_plain(servers: Servers, name: str) -> None:
    run_both(["-s", "127.0.0.1", "-p", str(servers.plain), *PLAIN_CASES[name]], servers)


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_connection_refused(servers: Servers, verbose: list[str]) -> None:
    run_both([*verbose, "-s", "127.0.0.1", "-p", str(servers.closed), "-u", "/"], servers)


TLS_CASES = {
    "tls-unclean-close-verbose": ["-S", "-v", "-u", "/ok"],
    "tls-close-notify-verbose": ["-S", "-v", "-u", "/clean/ok"],
    "tls-sni-vhost-verbose": ["-S", "-I", "-V", "sni.example.test", "-v", "-u", "/clean/no-len"],
    "tls-vhost-without-sni": ["-S", "-V", "sni.example.test", "-u", "/ok"],
    "tls-sni-without-vhost": ["-S", "-I", "-u", "/ok"],
    "tls-empty-unclean": ["-S", "-u", "/empty"],
    "tls-empty-close-notify-verbose": ["-S", "-v", "-u", "/clean/empty"],
    "tls-big-verbose": ["-S", "-v", "-u", "/clean/big"],
}


@pytest.mark.parametrize("name", sorted(TLS_CASES))
def test_tls(servers: Servers, name: str) -> None:
    out = run_both(["-s", "127.0.0.1", "-p", str(servers.tls), *TLS_CASES[name]], servers)
    if "-v" in TLS_CASES[name]:
        # keepalived dumps the final digest only after a close_notify
        assert (b"HTML hash resulting" in out) == ("/clean/" in TLS_CASES[name][-1])


USAGE_CASES = {
    "no-arguments": [],
    "help": ["-h"],
    "help-with-others": ["-s", "127.0.0.1", "-p", "1", "-u", "/", "-h"],
    "unknown-short": ["-x", "-y", "-s", "127.0.0.1"],
    "unknown-long-after-operand": ["foo", "--bad", "-p", "2"],
    "ambiguous-long": ["--use", "-s", "127.0.0.1", "-p", "2"],
    "missing-short-argument": ["-s", "127.0.0.1", "-p", "1", "-u"],
    "not-an-ip": ["-s", "localhost", "-p", "1", "-u", "/"],
    "bad-port": ["-s", "127.0.0.1", "-p", "65536", "-u", "/"],
    "bad-protocol": ["-P", "2", "-s", "127.0.0.1"],
    "bad-timeout": ["-s", "127.0.0.1", "-p", "1", "-u", "/", "-t", "5x"],
    "bad-fwmark": ["-m", "-1", "-s", "127.0.0.1"],
    "unexpected-operands": ["foo", "-s", "127.0.0.1", "bar", "-p", "1", "-u", "/", "baz"],
    "missing-url": ["-s", "127.0.0.1", "-p", "1"],
}


@pytest.mark.parametrize("name", sorted(USAGE_CASES))
def test_usage_errors(servers: Servers, name: str) -> None:
    run_both(USAGE_CASES[name], servers)
