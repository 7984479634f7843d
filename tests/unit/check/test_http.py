"""HTTP check core: request bytes, keepalived's response reading, URL rules, and the asyncio client."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.check.http import (
    ErrorKind,
    ResponseParser,
    UrlSpec,
    _status_code_scan,
    analyse,
    build_request,
    client_ssl_context,
    evaluate_url,
    extract_content_length,
    extract_status_code,
    host_header,
    http_get,
    normalise_protocol,
    select_virtualhost,
)
from tests.conftest import data_path

# ------------------------------------------------------------------------------------------------ request

REQ = (
    b"GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n"
)


@pytest.mark.parametrize("protocol, minor, conn", [
    ("1.0", 0, b""),
    ("1.0C", 0, b"Connection: close\r\n"),
    ("1.1", 1, b"Connection: close\r\n"),
])
@pytest.mark.parametrize("vhost, ip, port, host", [
    (None, "127.0.0.1", 80, b"127.0.0.1:80"),
    (None, "192.168.0.12", 8080, b"192.168.0.12:8080"),
    ("www.example.test", "192.168.0.12", 8080, b"www.example.test"),
    (None, "::1", 443, b"[::1]:443"),
    (None, "2001:db8:0:0::12", 80, b"[2001:db8::12]:80"),  # printed as inet_ntop does
    ("v6.example.test", "2001:db8::12", 80, b"v6.example.test"),  # a vhost never gets brackets or a port
])
def test_request_bytes(protocol, minor, conn, vhost, ip, port, host):
    req = build_request("/a/b?x=1", host_header(vhost, ip, port), protocol)
    assert req == REQ % (b"/a/b?x=1", minor, conn, host)


# which genhash options produced each captured request (port 9001/9002/9003 were the capture servers)
CAPTURES = {
    "genhash-req-ok-0.bin": ("/a/b?x=1", None, 9001, "1.0"),
    "genhash-req-ok-1.bin": ("/", "www.example.test", 9001, "1.1"),
    "genhash-req-ok-2.bin": ("/", None, 9001, "1.0C"),
    "genhash-req-ok-3.bin": ("/", None, 9001, "1.0"),
    "genhash-req-nolen-0.bin": ("/", None, 9002, "1.0"),
    "genhash-req-empty-0.bin": ("/", None, 9003, "1.0"),
    "genhash-req-empty-1.bin": ("/", None, 9003, "1.0"),
}


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_request_matches_genhash_capture(name):
    path, vhost, port, protocol = CAPTURES[name]
    captured = data_path("keepalived-2.2.7-captures", name).read_bytes()
    assert build_request(path, host_header(vhost, "127.0.0.1", port), protocol) == captured


def test_protocol_spellings_and_vhost_precedence():
    assert [normalise_protocol(p) for p in ("1.0", "1.0c", "1.0C", "1.1")] == ["1.0", "1.0C", "1.0C", "1.1"]
    with pytest.raises(ValueError):
        normalise_protocol("2")
    assert select_virtualhost(None, "checker", "rs", "vs") == "checker"
    assert select_virtualhost("url", "checker", "rs", "vs") == "url"
    assert select_virtualhost(None, None, None, "vs") == "vs"
    assert select_virtualhost(None, None, None, None) is None


def test_request_truncated_like_snprintf():
    req = build_request("/" + "x" * 3000, "h", "1.0")
    assert len(req) == 2047 and not req.endswith(b"\r\n\r\n")


# ------------------------------------------------------------------------------------------------ parsing


def test_content_length_caps_digest():
    p = analyse(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA-IGNORED")
    assert p.status == 200 and p.content_length == 3
    assert p.body == b"abc" and p.md5 == "900150983cd24fb0d6963f7d28e17f72"
    assert p.rx_bytes == 16 and p.length_mismatch


def test_missing_content_length_digests_everything():
    p = analyse(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nhello keepalived\n")
    assert p.content_length is None
    assert p.md5 == "e05003f6b7448aa2c2497bb671696f04"


def test_digest_is_of_body_only_and_survives_chunking():
    raw = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n0123456789trailing"
    whole = analyse(raw)
    pieces = analyse([raw[i : i + 3] for i in range(0, len(raw), 3)])
    assert whole.md5 == pieces.md5 == hashlib.md5(b"0123456789").hexdigest()
    assert whole.header == pieces.header == b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n"


def test_no_header_terminator_is_no_data():
    p = analyse(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n")
    assert p.header is None and p.status is None
    assert evaluate_url(p, UrlSpec("/")).reason == "Read, no data received from "
    assert analyse(b"").header is None


def test_header_larger_than_keepalived_buffer_reads_as_no_data():
    p = analyse(b"HTTP/1.0 200 OK\r\nX: " + b"a" * 5000 + b"\r\n\r\nbody")
    assert p.header is None


def test_content_length_is_case_sensitive_and_first_match():
    assert extract_content_length(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\n") is None
    assert extract_content_length(b"X-Content-Length: 2\r\nContent-Length: 9\r\n\r\n") == 2
    assert extract_content_length(b"Content-Length:  12\r\n") == 12
    assert extract_content_length(b"Content-Length: 12x\r\n") is None
    assert extract_content_length(b"Content-Length:\r\n") == 0  # strtoul finds no digits, ends at CR
    assert extract_content_length(b"Content-Length: -1\r\n") is None  # strtoul gives ULONG_MAX
    assert extract_content_length(b"\0Content-Length: 3\r\n") is None  # strstr stops at NUL


@pytest.mark.parametrize("line, code", [
    (b"HTTP/1.0 200 OK\r\n\r\n", 200),
    (b"HTTP/1.1 404 Not Found\r\n\r\n", 404),
    (b"HTTP/1.0 200\r\n\r\n", 0),  # keepalived needs a space after the code
    (b"HTTP/1.0 2000 OK\r\n\r\n", 0),
    (b"HTTP/1.0  200 OK\r\n\r\n", 0),
    (b"HTTP/1.0\r\n200 OK\r\n\r\n", 0),
    (b"garbage\r\n\r\n", 0),
    (b"HTTP/1.0 +20 OK\r\n\r\n", 20),  # strtoul accepts a sign
])
def test_status_code_parsing(line, code):
    assert extract_status_code(line) == code
    assert analyse(line).status == (code or None)


@given(st.lists(st.sampled_from([b"HTTP/1.0", b"HTTP/1.1", b" ", b"  ", b"\t", b"\r", b"\n", b"+", b"-", b"0",
                                 b"2", b"20", b"200", b"404", b"9999", b"OK", b"x"]), max_size=8),
       st.binary(max_size=8))
def test_status_code_fast_path_is_the_scan(parts, tail):
    """The quick path for the usual status line gives what keepalived's character scan gives, for any input."""
    buf = b"".join(parts) + tail
    assert extract_status_code(buf) == _status_code_scan(buf)


def test_parser_steps_follow_keepalived_reads():
    parser = ResponseParser()
    s1 = parser.feed(b"HTTP/1.0 200 OK\r\n")
    assert not s1.was_extracted and s1.header is None
    s2 = parser.feed(b"Content-Length: 4\r\n\r\n")
    assert s2.header is not None and s2.digested == b""
    s3 = parser.feed(b"abcdef")
    assert s3.was_extracted and s3.digested == b"abcd"
    assert parser.feed(b"gh").digested == b""
    assert parser.result().rx_bytes == 8
    big = ResponseParser()
    steps = list(big.feed_all(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 10000))
    assert [len(s.data) for s in steps] == [4095, 4095, 1829]


# ------------------------------------------------------------------------------------------------ evaluation

OK = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_default_status_set_even_with_digest():
    p = analyse(b"HTTP/1.0 302 Found\r\n\r\nhello")
    assert evaluate_url(p, UrlSpec("/", digest=hashlib.md5(b"hello").hexdigest())) == (
        evaluate_url(p, UrlSpec("/")))
    assert not evaluate_url(p, UrlSpec("/")).ok
    assert evaluate_url(p, UrlSpec("/", status_codes=((302, 302),))).ok
    assert evaluate_url(analyse(b"HTTP/1.0 299 X\r\n\r\n"), UrlSpec("/")).ok


def test_digest_any_case():
    p = analyse(OK)
    good = hashlib.md5(b"hello").hexdigest()
    assert evaluate_url(p, UrlSpec("/", digest=good.upper())).reason == "MD5 digest"
    bad = evaluate_url(p, UrlSpec("/", digest="0" * 32))
    assert not bad.ok and bad.reason == "MD5 digest error to"
    assert evaluate_url(p, UrlSpec("/")).reason == "HTTP status code"


def test_regex_and_no_match():
    p = analyse(OK)
    assert evaluate_url(p, UrlSpec("/", regex="h.l+o")).reason == "Regex match"
    assert not evaluate_url(p, UrlSpec("/", regex="bye")).ok
    assert evaluate_url(p, UrlSpec("/", regex="bye", regex_no_match=True)).ok
    assert not evaluate_url(p, UrlSpec("/", regex="hello", regex_no_match=True)).ok
    assert evaluate_url(p, UrlSpec("/", regex="HELLO", regex_options=("caseless",))).ok


def test_regex_sees_header_when_body_came_with_it():
    # keepalived matches its first buffer from the start, header included, when body bytes came with it
    assert evaluate_url(analyse(OK), UrlSpec("/", regex="200 OK")).ok
    only_header_first = analyse([b"HTTP/1.0 200 OK\r\n\r\n", b"body"])
    assert only_header_first.regex_subject == b"body"
    assert not evaluate_url(only_header_first, UrlSpec("/", regex="200 OK")).ok


def test_regex_offsets():
    p = analyse([b"HTTP/1.0 200 OK\r\n\r\n", b"0123456789"])
    assert evaluate_url(p, UrlSpec("/", regex="5", regex_min_offset=5)).ok
    assert not evaluate_url(p, UrlSpec("/", regex="5", regex_min_offset=6)).ok
    assert evaluate_url(p, UrlSpec("/", regex="5", regex_max_offset=5)).ok
    assert not evaluate_url(p, UrlSpec("/", regex="5", regex_max_offset=4)).ok


# ------------------------------------------------------------------------------------------------ client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_ctx)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def respond(payload: bytes, *, delay: float = 0.0, pause_after: int | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if delay:
            await asyncio.sleep(delay)
        if pause_after is None:
            writer.write(payload)
        else:
            writer.write(payload[:pause_after])
            await writer.drain()
            await asyncio.sleep(5)
            writer.write(payload[pause_after:])
        await writer.drain()
        writer.close()

    return handler


def req(port: int, path: str = "/") -> bytes:
    return build_request(path, host_header(None, "127.0.0.1", port))


async def test_get_ok_and_request_seen_by_server():
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(OK)
        await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        chunks = []
        r = await http_get("127.0.0.1", port, req(port, "/x"), timeout=2, on_chunk=chunks.append)
    assert r.ok and r.error is None and r.eof_clean
    assert r.parsed.md5 == hashlib.md5(b"hello").hexdigest()
    assert r.raw == OK and b"".join(c.data for c in chunks) == OK
    assert seen == [req(port, "/x")]
    assert r.connect_time is not None and r.elapsed >= r.connect_time


async def test_reply_in_pieces_and_larger_than_one_read():
    """Edge-triggered reads drain the socket: a 600 kB body (more than one 256 kB recv) sent in pieces with pauses
    is read whole, digested whole and ends on the server's close, as with one piece."""
    body = os.urandom(600_000)
    head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    reply = head + body

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for i in range(0, len(reply), 150_000):
            writer.write(reply[i : i + 150_000])
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()

    server, port = await serve(handler)
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2)
    assert r.ok and r.eof_clean and r.raw == reply
    assert r.parsed.md5 == hashlib.md5(body).hexdigest() == analyse(reply).md5


async def test_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = await http_get("127.0.0.1", port, req(port), timeout=2)
    assert r.error is ErrorKind.REFUSED and r.message == "Connection failed"


async def test_slow_server_hits_first_read_timeout():
    server, port = await serve(respond(OK, delay=5))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=0.3)
    assert r.error is ErrorKind.FIRST_READ_TIMEOUT and r.message == "Timeout WEB read"
    assert 0.25 < r.elapsed < 2


async def test_stall_mid_reply_hits_read_timeout():
    server, port = await serve(respond(OK, pause_after=20))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=0.3)
    assert r.error is ErrorKind.READ_TIMEOUT and r.message == "Timeout HTTP read"
    assert r.raw == OK[:20]


async def test_server_closing_without_data():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    server, port = await serve(handler)
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2)
    assert r.error is ErrorKind.NO_DATA and r.eof_clean


async def test_server_closing_mid_header():
    server, port = await serve(respond(b"HTTP/1.0 200 OK\r\nContent-"))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2)
    assert r.error is ErrorKind.NO_DATA and r.parsed.header is None


async def test_reset_is_read_error():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        writer.transport.abort()

    server, port = await serve(handler)
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2)
    assert r.error is ErrorKind.READ_ERROR and r.message == "Read error with"


async def test_bind_and_fwmark():
    server, port = await serve(respond(OK))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2, bind=("127.0.0.1", 0))
        assert r.ok
        r = await http_get("127.0.0.1", port, req(port), timeout=2, bind=("::1", 0))
        assert r.error is ErrorKind.SOCKET and r.os_error is not None
        r = await http_get("127.0.0.1", port, req(port), timeout=2, fwmark=7)
        assert r.ok if os.geteuid() == 0 else r.error is ErrorKind.SOCKET


# ------------------------------------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate (cryptography is installed here; openssl CLI not needed)."""
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
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "cert.pem", d / "key.pem"


def server_ctx(cert_files: tuple[Path, Path], sni_seen: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_files)

    def on_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    ctx.sni_callback = on_sni
    return ctx


@pytest.mark.parametrize("sni", [None, "sni.example.test"])
async def test_tls_get_with_and_without_sni(cert_files, sni):
    seen: list[str | None] = []
    server, port = await serve(respond(OK), server_ctx(cert_files, seen))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2, ssl_context=client_ssl_context(),
                           server_hostname=sni)
    assert r.ok, r
    assert r.parsed.md5 == hashlib.md5(b"hello").hexdigest()
    assert r.eof_clean  # asyncio's server sends close_notify
    assert seen == [sni]


async def test_tls_unclean_close_still_hashes(cert_files):
    seen: list[str | None] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        writer.transport.abort()  # TCP FIN, no close_notify

    server, port = await serve(handler, server_ctx(cert_files, seen))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2, ssl_context=client_ssl_context())
    assert r.ok and not r.eof_clean


async def test_tls_clean_close_without_data_is_ssl_read_error(cert_files):
    seen: list[str | None] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    server, port = await serve(handler, server_ctx(cert_files, seen))
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2, ssl_context=client_ssl_context())
    assert r.error is ErrorKind.TLS_READ_ERROR and r.message == "SSL read error from"


async def test_tls_against_plain_server_is_handshake_error():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.0 400 Bad\r\n\r\nnot tls")
        await writer.drain()
        writer.close()

    server, port = await serve(handler)
    async with server:
        r = await http_get("127.0.0.1", port, req(port), timeout=2, ssl_context=client_ssl_context())
    assert r.error is ErrorKind.TLS_HANDSHAKE
