"""The checker types: each performs ONE attempt and reports a :class:`~.state.Result`.

The runner owns scheduling, retries, timeouts between attempts and all state; a probe only knows
how to look once.  Every probe has ``start(done)`` and ``cancel()``: TCP_CHECK is pure callbacks
(it runs thousands of times a second), the others are small coroutines wrapped by
:class:`AsyncProbe`.  Each network step times out after ``connect_timeout`` counted from the
moment the step starts (connect, then each read), never from when the check was due, and the whole
attempt ends by one overall deadline, ``connect_timeout`` x the steps of its dialogue
(:class:`~.net.Deadline`, :data:`~.net.CHECK_STEPS`; table below), so a backend
that streams without pause or drips a byte at a time fails the check instead of holding it.  Receive
loops read one bounded piece per wake-up of the event loop (:func:`~.net.recv_by`) and keep bounded
buffers (SMTP: keepalived's 512-byte line buffer, which wraps; HTTP: see :mod:`.http`).

=============  =====  ==================================================  ===========================
checker        steps  keepalived's per-step timeouts                      deadline, connect_timeout 5
=============  =====  ==================================================  ===========================
TCP_CHECK      1      connect                                             5 s
HTTP_GET/SSL   3      connect (+ TLS handshake), write, read the reply    15 s
SMTP_CHECK     6      connect, banner, HELO, reply, QUIT, reply           30 s
DNS/UDP/PING   3      connect, send, read the reply                       15 s
MISC_CHECK     -      ``misc_timeout`` (then SIGTERM, SIGKILL 2 s later)  ``misc_timeout`` + 2 s
=============  =====  ==================================================  ===========================

:func:`build_probe` is the single place that maps the config model to probes.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import struct
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import dns.message
import dns.rcode
import dns.rdatatype

from pykeepalived.check import http
from pykeepalived.check.net import (
    CHECK_STEPS,
    CONNECT_FAIL,
    EPOLLERR_HUP,
    EPOLLOUT,
    LINGER_RESET,
    STREAM_NONBLOCK,
    TCP_QUICKACK,
    Deadline,
    Poller,
    SetupError,
    connect,
    family_of,
    open_socket,
    poller_for,
    recv_by,
    reset_close,
    target,
)
from pykeepalived.check.state import IPVS_WEIGHT_FAULT, Result
from pykeepalived.config.model import Script
from pykeepalived.config.model_lvs import (
    BfdCheck,
    CheckConnection,
    Checker,
    DnsCheck,
    FileCheck,
    HttpCheck,
    MiscCheck,
    PingCheck,
    RealServer,
    SmtpCheck,
    SslConfig,
    TcpCheck,
    UdpCheck,
    Url,
    VirtualServer,
    format_trio,
)
from pykeepalived.config.model_vrrp import TrackFile
from pykeepalived.notify.scripts import ScriptJob, run_with_timeout

Done = Callable[[Result], None]


class Probe(Protocol):
    def start(self, done: Done) -> None: ...

    def cancel(self) -> None: ...


class UnsupportedChecker(Exception):
    """A checker type this implementation cannot run (BFD_CHECK); the message says so plainly."""


# ----------------------------------------------------------------------------------------- TCP


#: shared results of the hot path (Result is frozen): no allocation per successful check
TCP_OK = Result(True)
TCP_SETUP_FAILED = "TCP socket bind failed. Rescheduling."
_FAILURES: dict[str, Result] = {}


def _failure(reason: str) -> Result:
    r = _FAILURES.get(reason)
    if r is None:
        r = _FAILURES[reason] = Result(False, reason=reason)
    return r


def _errno_reason(err: int) -> Result:
    return _failure(errno.errorcode.get(err, str(err)))


class TcpProbe:
    """TCP_CHECK: success = connected within connect_timeout; closed at once with RST.

    Pure callbacks on the loop's :class:`~.net.Poller`: one socket, one epoll registration and one
    timer entry per attempt; the SO_LINGER 0 close sends an RST, so nobody keeps a TIME_WAIT.  The
    connect timeout starts at ``connect()``.  A socket that cannot be set up (bindto an address
    this host does not hold) gives no verdict, as in keepalived (:attr:`.state.Result.skip`).

    ``half_open`` (off by default: keepalived completes the handshake, and a server may want to see
    the connection) closes the way haproxy's TCP check does: TCP_QUICKACK off delays our final ACK and
    the RST goes first, so the server never accept()s -- less work on both sides of loopback.
    """

    __slots__ = ("_addr", "_attempt", "_conn", "_done", "_family", "_fd", "_half_open", "_loop", "_on_expire",
                 "_on_ready", "_plain", "_poller", "_sock", "_timeout")

    def __init__(self, conn: CheckConnection, loop: asyncio.AbstractEventLoop, half_open: bool = False) -> None:
        self._conn = conn
        self._addr = target(conn)
        self._family = family_of(conn)
        self._plain = not (conn.fwmark or conn.bind_if or conn.bindto is not None or conn.bind_port)
        self._timeout = conn.connect_timeout
        self._half_open = half_open
        self._loop = loop
        self._poller: Poller | None = None
        self._sock: socket.socket | None = None
        self._done: Done | None = None
        self._fd = -1
        self._attempt = 0
        self._on_ready = self._ready
        self._on_expire = self._expire

    def _socket(self) -> socket.socket:
        sock = socket.socket(self._family, STREAM_NONBLOCK) if self._plain else open_socket(self._conn)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            if self._half_open:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 0)
        except OSError:
            sock.close()
            raise
        return sock

    def start(self, done: Done) -> None:
        loop = self._loop
        try:
            sock = self._socket()
        except OSError as e:  # keepalived: log, try again after delay_loop, no verdict
            note = e.detail if isinstance(e, SetupError) else f"Checker bind failed: {e.strerror or e}"
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, note=note, skip=True))
            return
        try:
            rc = sock.connect_ex(self._addr)
        except OSError as e:
            sock.close()
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, note=e.strerror or str(e), skip=True))
            return
        if rc == errno.EINPROGRESS:
            poller = self._poller
            if poller is None:
                poller = self._poller = poller_for(loop)
            fd = self._fd = sock.fileno()
            self._sock = sock
            self._done = done
            self._attempt += 1
            poller.register(fd, EPOLLOUT, self._on_ready)
            poller.timers.add_after(self._timeout, self._on_expire, self._attempt)
            return
        sock.close()
        if rc == 0 or rc in CONNECT_FAIL:
            loop.call_soon(done, TCP_OK if rc == 0 else _errno_reason(rc))
        else:  # a local error (keepalived's connect_error): no verdict
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, skip=True))

    def _ready(self, events: int) -> None:
        sock = self._sock
        done = self._done
        if sock is None or done is None:
            return
        self._sock = self._done = None
        assert self._poller is not None
        self._poller.forget(self._fd)
        # EPOLLOUT alone is a completed connect; the error is only fetched when there is one
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if events & EPOLLERR_HUP else 0
        sock.close()  # SO_LINGER 0: RST
        done(TCP_OK if err == 0 else _errno_reason(err))

    def _expire(self, attempt: int) -> None:
        sock = self._sock
        done = self._done
        if attempt != self._attempt or sock is None or done is None:
            return
        self._sock = self._done = None
        assert self._poller is not None
        self._poller.forget(self._fd)
        sock.close()
        done(_failure("connect timeout"))

    def cancel(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = self._done = None
        if self._poller is not None:
            self._poller.forget(self._fd)
        sock.close()


# --------------------------------------------------------------------------------- async probes


class AsyncProbe:
    """A probe whose one attempt is a coroutine; exceptions are failures, never crashes.

    ``setup_failed``: for the checkers where keepalived gives no verdict when the socket cannot be set
    up (:class:`~.net.SetupError`), the line it logs before trying again after delay_loop.
    """

    setup_failed = ""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Task[Result] | None = None

    def attempt(self) -> Coroutine[Any, Any, Result]:
        raise NotImplementedError

    def start(self, done: Done) -> None:
        task = self._loop.create_task(self.attempt())
        self._task = task

        def finished(t: asyncio.Task[Result]) -> None:
            self._task = None
            if t.cancelled():
                done(Result(False, reason="cancelled"))
            elif (exc := t.exception()) is not None:
                if isinstance(exc, SetupError) and self.setup_failed:
                    done(Result(False, reason=self.setup_failed, note=exc.detail, skip=True))
                else:
                    done(Result(False, reason=str(exc) or type(exc).__name__))
            else:
                done(t.result())

        task.add_done_callback(finished)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


# ---------------------------------------------------------------------------------------- HTTP


HTTP_OK = Result(True)
_HTTP_RESULTS: dict[tuple[bool, str], Result] = {}
#: verdicts reached before keepalived compares Content-Length with the bytes received
_BEFORE_LENGTH_CHECK = frozenset({"Read, no data received from ", "HTTP status code error to"})


def _http_result(ok: bool, reason: str) -> Result:
    """Results are immutable and their messages few: one object per (ok, message)."""
    r = _HTTP_RESULTS.get((ok, reason))
    if r is None:
        r = _HTTP_RESULTS[(ok, reason)] = Result(ok, reason=reason)
    return r


class HttpProbe:
    """HTTP_GET / SSL_GET through :class:`.http.HttpGet`: one url per attempt, as keepalived does.

    Which url is the health state's business (:attr:`.state.CheckerState.url_it`, read through
    ``url_index`` when the attempt starts).  The result's ``reason`` is keepalived's message: the
    failure, or on success what passed (``HTTP status code``, ``MD5 digest``, ``Regex match``).
    Callbacks only: no coroutine per check.
    """

    def __init__(self, check: HttpCheck, rs: RealServer, vs: VirtualServer,
                 loop: asyncio.AbstractEventLoop, ssl_context: ssl.SSLContext | None,
                 url_index: Callable[[], int] | None = None) -> None:
        self._loop = loop
        self._poller: Poller | None = None
        conn = check.connection
        self.url_index = url_index or (lambda: 0)
        ip = str(conn.connect_ip)
        any_addr = "::" if conn.connect_ip.version == 6 else "0.0.0.0"
        bind = (str(conn.bindto) if conn.bindto else any_addr, conn.bind_port) \
            if conn.bindto is not None or conn.bind_port else None
        self.requests: list[tuple[http.GetPlan, Url]] = []
        for url in check.urls:
            vhost = http.select_virtualhost(url.virtualhost, check.virtualhost, rs.virtualhost,
                                            vs.virtualhost)
            sni = http.select_virtualhost(url.virtualhost, check.virtualhost, vs.virtualhost)
            req = http.build_request(url.path, http.host_header(vhost, ip, conn.connect_port),
                                     http.normalise_protocol(check.http_protocol.value))
            plan = http.GetPlan(ip, conn.connect_port, req, conn.connect_timeout,
                                ssl_context if check.ssl else None, sni if check.enable_sni else None, bind,
                                conn.fwmark or None, keep_regex_subject=False,
                                keep_digest=bool(url.digest), keep_raw=False,
                                regex=url if url.regex is not None else None)
            self.requests.append((plan, url))
        self._done: Done | None = None
        self._get: http.HttpGet | None = None
        self._index = 0
        self._on_result = self._got
        #: per url, the last Content-Length minus bytes received (keepalived's ``len_mismatch``)
        self._mismatch = [0] * len(self.requests)
        self._rs_name = format_trio(rs.ip, rs.port, vs.protocol)
        self._vs_name = vs.describe()

    def start(self, done: Done) -> None:
        if self._poller is None:
            self._poller = poller_for(self._loop)
        self._done = done
        if not self.requests:
            self._loop.call_soon(self._finish, HTTP_OK)
            return
        self._index = index = min(self.url_index(), len(self.requests) - 1)
        self._get = http.HttpGet(self._loop, self._poller, self.requests[index][0], self._on_result)

    def _finish(self, result: Result) -> None:
        done = self._done
        self._done = None
        self._get = None
        if done is not None:
            done(result)

    def _got(self, r: http.HttpResult | Exception) -> None:
        self._get = None
        if self._done is None:
            return
        if isinstance(r, Exception):
            self._finish(Result(False, reason=str(r) or type(r).__name__))
            return
        if r.error in (http.ErrorKind.SOCKET, http.ErrorKind.NO_SOCKET):  # keepalived: "Rescheduling", no verdict
            self._finish(Result(False, reason=r.message or "", note=r.detail, skip=True))
            return
        if not r.ok:
            self._finish(_http_result(False, r.message or ""))
            return
        spec = self.requests[self._index][1]
        verdict = http.evaluate_url(r.parsed, spec)
        result = _http_result(verdict.ok, verdict.reason)
        if verdict.reason not in _BEFORE_LENGTH_CHECK:
            note = self._length_note(self._index, spec, r.parsed)
            if note:
                result = Result(result.ok, reason=result.reason, note=note)
        self._finish(result)

    def _length_note(self, index: int, spec: Url, parsed: http.Parsed) -> str:
        """keepalived logs a Content-Length that differs from the bytes received, once per difference and url."""
        diff = 0 if parsed.content_length is None else parsed.content_length - parsed.rx_bytes
        if diff == self._mismatch[index]:
            return ""
        self._mismatch[index] = diff
        if not diff:
            return ""
        return (f"http_check for RS {self._rs_name} VS {self._vs_name} url {spec.virtualhost or ''}{spec.path}: "
                f"content_length ({parsed.content_length}) does not match received bytes ({parsed.rx_bytes})")

    def cancel(self) -> None:
        self._done = None
        if self._get is not None:
            self._get.cancel()
            self._get = None


def ssl_context_for(cfg: SslConfig | None) -> ssl.SSLContext:
    """The global ``SSL {}`` client context: no peer verification, optional client certificate."""
    ctx = http.client_ssl_context()
    if cfg is not None:
        if cfg.ca:
            ctx.load_verify_locations(cfg.ca)
        if cfg.certificate:
            ctx.load_cert_chain(cfg.certificate, cfg.key, cfg.password)
    return ctx


# ---------------------------------------------------------------------------------------- MISC


MISC_KILL_DELAY = 2.0
"""After misc_timeout: SIGTERM to the process group, SIGKILL this much later (keepalived)."""


class MiscProbe(AsyncProbe):
    """MISC_CHECK: run the script (no shell, own process group), exit status -> pass/fail/weight (§3.5)."""

    def __init__(self, check: MiscCheck, rs_weight: int, loop: asyncio.AbstractEventLoop,
                 job: ScriptJob | None = None) -> None:
        super().__init__(loop)
        self.check = check
        self.rs_weight = rs_weight
        #: what script security allows (uid, gid, groups, resolved path); the daemon never builds a MISC
        #: probe for a refused script (the checker is removed, as keepalived's free_checker)
        self.job = job or ScriptJob(tuple(check.misc_path.argv))

    async def attempt(self) -> Result:
        outcome = await run_with_timeout(self.job, self.check.misc_timeout, MISC_KILL_DELAY)
        status = outcome.status
        if status is None:
            return Result(False, reason="timed out" if outcome.timed_out else outcome.words)
        if status < 0:
            return Result(False, reason=outcome.words)
        if status == 0:
            return Result(True, weight_delta=0 if self.check.misc_dynamic else None)
        if self.check.misc_dynamic and 2 <= status <= 255:
            return Result(True, weight_delta=status - 2 - self.rs_weight)
        return Result(False, reason=outcome.words)


# ---------------------------------------------------------------------------------------- SMTP


#: keepalived's SMTP line buffer (``SMTP_BUFF_MAX``): a line longer than this without a newline wraps it (cleared)
SMTP_BUFF_MAX = 512


async def _smtp_reply(loop: asyncio.AbstractEventLoop, sock: socket.socket, buf: bytearray,
                      until: float) -> int:
    """The code of the next complete (possibly multi-line ``250-…``) reply by loop time ``until``; -1 if
    malformed.  ``buf`` never holds more than keepalived's 512 bytes; one read per wake-up."""
    while True:
        while (nl := buf.find(b"\n")) >= 0:
            line = bytes(buf[:nl]).rstrip(b"\r")
            del buf[:nl + 1]
            if line[3:4] == b"-":
                continue
            return int(line[:3]) if line[:3].isdigit() else -1
        if len(buf) >= SMTP_BUFF_MAX - 1:  # keepalived: "SMTP_CHECK Buffer overflow reading from server"
            buf.clear()
        data = await recv_by(loop, sock, SMTP_BUFF_MAX - 1 - len(buf), until)
        if not data:
            raise ConnectionError("connection closed by server")
        buf += data


class SmtpProbe(AsyncProbe):
    """SMTP_CHECK: 220 banner -> HELO name -> 250 -> QUIT -> 221."""

    setup_failed = "SMTP_CHECK socket bind failed. Rescheduling."

    def __init__(self, check: SmtpCheck, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.check = check

    async def attempt(self) -> Result:
        conn = self.check.connection
        loop = self._loop
        d = Deadline(loop.time(), conn.connect_timeout, CHECK_STEPS["SMTP_CHECK"])
        sock = await connect(conn, conn.connect_timeout)
        buf = bytearray()
        try:
            for send, expect in ((None, 220), (f"HELO {self.check.helo_name}\r\n", 250), ("QUIT\r\n", 221)):
                if send is not None:
                    async with asyncio.timeout_at(d.step_end(loop.time())):
                        await loop.sock_sendall(sock, send.encode())
                code = await _smtp_reply(loop, sock, buf, d.step_end(loop.time()))
                if code != expect:
                    return Result(False, reason=f"bad server response code {code} (expected {expect})")
        except TimeoutError:
            return Result(False, reason="timeout")
        finally:
            reset_close(sock)
        return Result(True)


# ----------------------------------------------------------------------------------------- DNS


class DnsProbe(AsyncProbe):
    """DNS_CHECK: one UDP query (dnspython builds/parses it); pass = reply with our id and RCODE 0."""

    def __init__(self, check: DnsCheck, loop: asyncio.AbstractEventLoop, name: str = "") -> None:
        super().__init__(loop)
        self.check = check
        self.setup_failed = f"DNS_CHECK ({name}) UDP socket bind failed. Rescheduling."

    async def attempt(self) -> Result:
        conn = self.check.connection
        rdtype = dns.rdatatype.from_text(self.check.query_type.value)
        query = dns.message.make_query(self.check.name or ".", rdtype)
        loop = self._loop
        d = Deadline(loop.time(), conn.connect_timeout, CHECK_STEPS["DNS_CHECK"])
        sock = await connect(conn, conn.connect_timeout, socket.SOCK_DGRAM, conn.connect_port or 53)
        try:
            async with asyncio.timeout_at(d.step_end(loop.time())):
                await loop.sock_sendall(sock, query.to_wire())
            until = d.step_end(loop.time())
            while True:  # one datagram per wake-up: a flood of foreign replies ends at ``until``
                data = await recv_by(loop, sock, 65535, until)
                try:
                    reply = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    continue
                if reply.id == query.id:
                    break
        except TimeoutError:
            return Result(False, reason="timeout")
        except ConnectionRefusedError:
            return Result(False, reason="port unreachable")
        finally:
            sock.close()
        if reply.rcode() != dns.rcode.NOERROR:
            return Result(False, reason=f"RCODE {dns.rcode.to_text(reply.rcode())}")
        return Result(True)


# ----------------------------------------------------------------------------------------- UDP


def reply_matches(reply: bytes, pattern: str | None) -> bool:
    """``require_reply`` pattern: hex nibbles, ``x`` = any nibble, compared up to the shorter length."""
    if not pattern:
        return True
    return all(a in ("x", b) for a, b in zip(pattern.lower(), reply.hex(), strict=False))


class UdpProbe(AsyncProbe):
    """UDP_CHECK: an ICMP unreachable fails; silence until connect_timeout passes (unless require_reply)."""

    def __init__(self, check: UdpCheck, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.check = check
        self.payload = bytes.fromhex(check.payload) if check.payload else None

    async def attempt(self) -> Result:
        c = self.check
        conn = c.connection
        loop = self._loop
        d = Deadline(loop.time(), conn.connect_timeout, CHECK_STEPS["UDP_CHECK"])
        sock = await connect(conn, conn.connect_timeout, socket.SOCK_DGRAM)
        try:
            async with asyncio.timeout_at(d.step_end(loop.time())):
                await loop.sock_sendall(sock, self.payload if self.payload is not None else os.urandom(16))
            reply = await recv_by(loop, sock, 65535, d.step_end(loop.time()))
        except TimeoutError:
            return Result(not c.require_reply, reason="no reply" if c.require_reply else "")
        except ConnectionRefusedError:
            return Result(False, reason="port unreachable")
        finally:
            sock.close()
        if not c.require_reply:
            return Result(True)
        if not c.min_reply_length <= len(reply) <= c.max_reply_length:
            return Result(False, reason=f"reply length {len(reply)}")
        if not reply_matches(reply, c.reply_pattern):
            return Result(False, reason="reply data mismatch")
        return Result(True)


# ---------------------------------------------------------------------------------------- PING


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class PingProbe(AsyncProbe):
    """PING_CHECK: ICMP echo over an unprivileged datagram ping socket, raw socket as root's fallback."""

    _seq = 0

    def __init__(self, check: PingCheck, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.check = check

    def _peer(self) -> tuple[str, int] | tuple[str, int, int, int]:
        return target(self.check.connection, 0)

    def _socket(self) -> tuple[socket.socket, bool]:
        conn = self.check.connection
        proto = socket.IPPROTO_ICMPV6 if conn.connect_ip.version == 6 else socket.IPPROTO_ICMP
        try:
            return open_socket(conn, socket.SOCK_DGRAM, proto), False
        except PermissionError:
            return open_socket(conn, socket.SOCK_RAW, proto), True

    async def attempt(self) -> Result:
        conn = self.check.connection
        v6 = conn.connect_ip.version == 6
        loop = self._loop
        d = Deadline(loop.time(), conn.connect_timeout, CHECK_STEPS["PING_CHECK"])
        sock, raw = self._socket()
        PingProbe._seq = (PingProbe._seq + 1) & 0xFFFF
        seq, ident = PingProbe._seq, os.getpid() & 0xFFFF
        payload = b"pykeepalived-ping"
        req_type, rep_type = (128, 129) if v6 else (8, 0)
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        pkt = hdr[:2] + struct.pack("!H", _icmp_checksum(hdr + payload)) + hdr[4:] + payload
        try:
            sock.connect(self._peer())
            async with asyncio.timeout_at(d.step_end(loop.time())):
                await loop.sock_sendall(sock, pkt)
            until = d.step_end(loop.time())
            while True:  # one packet per wake-up: a raw socket sees every ICMP packet, a flood ends at ``until``
                data = await recv_by(loop, sock, 65535, until)
                if raw and not v6 and data:
                    data = data[(data[0] & 0x0F) * 4:]
                if len(data) < 8 or data[0] != rep_type:
                    continue
                # datagram ping sockets rewrite the id; the kernel only delivers our own replies
                r_id, r_seq = struct.unpack("!HH", data[4:8])
                if r_seq == seq and (not raw or r_id == ident):
                    return Result(True)
        except TimeoutError:
            return Result(False, reason="timeout")
        finally:
            sock.close()


# ---------------------------------------------------------------------------------------- FILE


def read_track_file(path: str) -> int:
    """The value in a tracked file as keepalived reads it (leading integer; unreadable/garbage = 0)."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).split()
    except OSError:
        return 0
    if not text:
        return 0
    try:
        return int(text[0])
    except ValueError:
        return 0


class FileProbe:
    """FILE_CHECK: value × weight is the weight contribution; weight 0 means non-zero = down."""

    def __init__(self, check: FileCheck, track: TrackFile | None, loop: asyncio.AbstractEventLoop) -> None:
        self.path = track.file if track is not None else check.track_file
        weight = check.weight if check.weight is not None else (track.weight if track is not None else 1)
        reverse = check.reverse if check.weight is not None else (track.weight_reverse if track else False)
        self.weight = -weight if reverse else weight
        self._loop = loop

    def evaluate(self, value: int) -> Result:
        if self.weight == 0:
            return Result(value == 0, reason=f"value {value}")
        contribution = value * self.weight
        if contribution <= IPVS_WEIGHT_FAULT:
            return Result(False, reason=f"value {value}")
        return Result(True, weight_delta=contribution)

    def start(self, done: Done) -> None:
        self._loop.call_soon(done, self.evaluate(read_track_file(self.path)))

    def cancel(self) -> None:
        pass


# -------------------------------------------------------------------------------------- mapping


def build_probe(vs: VirtualServer, rs: RealServer, checker: Checker, loop: asyncio.AbstractEventLoop, *,
                ssl_context: ssl.SSLContext | None = None,
                track_files: Mapping[str, TrackFile] | None = None, tcp_half_open: bool = False,
                url_index: Callable[[], int] | None = None,
                script_job: Callable[[Script], ScriptJob | None] | None = None) -> Probe:
    """The probe for one configured checker (raises :class:`UnsupportedChecker` for BFD_CHECK).

    ``script_job`` is the process's script security (a MISC_CHECK script runs only as it allows)."""
    match checker:
        case TcpCheck():
            return TcpProbe(checker.connection, loop, tcp_half_open)
        case HttpCheck():
            return HttpProbe(checker, rs, vs, loop, ssl_context, url_index)
        case MiscCheck():
            return MiscProbe(checker, rs.weight, loop,
                             script_job(checker.misc_path) if script_job is not None else None)
        case SmtpCheck():
            return SmtpProbe(checker, loop)
        case DnsCheck():
            return DnsProbe(checker, loop, format_trio(rs.ip, rs.port, vs.protocol))
        case UdpCheck():
            return UdpProbe(checker, loop)
        case PingCheck():
            return PingProbe(checker, loop)
        case FileCheck():
            return FileProbe(checker, (track_files or {}).get(checker.track_file), loop)
        case BfdCheck():
            raise UnsupportedChecker(f"BFD_CHECK ({checker.name}) is not supported by pykeepalived")
    raise UnsupportedChecker(f"{getattr(checker, 'type', type(checker).__name__)} is not supported")
