"""The one HTTP/1.x GET mechanism behind HTTP_GET, SSL_GET and ``genhash``.

keepalived's checker (``check_http.c``, ``check_ssl.c``, ``lib/html.c`` in 2.2.7) sends a fixed request
template, reads the reply until EOF in reads of at most 4095 bytes, finds the header end, and digests the
body (capped at ``Content-Length``) as it arrives.  Several observable quirks follow from that reading
loop (a header larger than 4095 bytes reads as "no data", ``Content-Length:`` is found by a
case-sensitive search of the whole first buffer, a status line without a reason phrase has status 0), so
this module reproduces the loop itself rather than using a general HTTP parser:

* :func:`build_request` / :func:`host_header` — the exact request bytes;
* :class:`ResponseParser` — the pure, incremental reading loop (one :meth:`~ResponseParser.feed` per
  ``read()`` keepalived would make), and :func:`analyse` for a whole reply;
* :func:`evaluate_url` — status set, MD5 digest and regex rules of one ``url`` block;
* :class:`HttpGet` — the callback client (a non-blocking socket on the checkers' private epoll, no
  coroutine per check; TLS through a memory BIO so that SSL_read-sized chunks and close_notify are
  visible, as they are to keepalived), and :func:`http_get`, the same behind a future.

What a backend sends is bounded here where keepalived is not (a backend is untrusted input).  The
body is digested as it streams and never held: a checker keeps no copy of the reply at all, and
:func:`http_get`/:func:`analyse` keep at most :data:`KEEP_PREFIX` bytes of it (``raw``, ``body``,
``regex_subject``) for their callers.
The url's regex runs over the stream in windows (:class:`RegexScan`: each read plus a carry-over of
the previous :data:`REGEX_CARRY` bytes, the size of keepalived's buffer), the way keepalived runs PCRE2
with ``PCRE2_PARTIAL_HARD`` over its 4095-byte buffers.  A GET reads at most :data:`READ_BUDGET` bytes
per wake-up before giving the event loop back, and ends by one overall deadline (connect_timeout x
:data:`HTTP_STEPS`: connect with the TLS handshake, write, read — keepalived's own worst case for a
reply that comes within one read timeout), so an endless body or a byte dripped every half second
fails with keepalived's read-timeout message instead of running for ever.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import functools
import hashlib
import re
import socket
import ssl
from _socket import socket as _raw_socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from pykeepalived.check.net import (
    CONNECT_FAIL,
    EPOLL_EXCHANGE,
    EPOLLERR_HUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDHUP,
    STREAM_NONBLOCK,
    TCP_QUICKACK,
    Deadline,
    Poller,
    poller_for,
)
from pykeepalived.config.model_lvs import Url

HttpProtocol = Literal["1.0", "1.0C", "1.1"]

#: keepalived's receive buffer is 4096 bytes, one kept for a terminating NUL.
MAX_READ = 4095
#: keepalived formats the request into a 2048-byte buffer with snprintf (longer requests are truncated).
MAX_REQUEST = 2047
#: keepalived's genhash default timeout: ``UINT_MAX`` microseconds.
GENHASH_DEFAULT_TIMEOUT = 0xFFFFFFFF / 1_000_000
#: a GET's overall deadline is this many connect_timeouts from the connect (keepalived's steps: connect with the TLS
#: handshake, write the request, read the reply)
HTTP_STEPS = 3
#: bytes a GET reads from its socket per wake-up of the event loop before it lets the other callbacks run
READ_BUDGET = 16 * 1024
#: at most this much of a reply is kept for a caller that asked for it (``raw``, ``body``, ``regex_subject``)
KEEP_PREFIX = 1024 * 1024
#: bytes of the stream already searched that the regex sees again with the next batch (keepalived's buffer)
REGEX_CARRY = MAX_READ
#: the regex searches the stream in batches of at least this many new bytes (each search also covers the carry)
REGEX_BATCH = 16 * 1024

_ULONG_MAX = (1 << 64) - 1
#: epoll events that say the reply has ended: the peer's FIN, or an error / hang-up
_ENDED = EPOLLRDHUP | EPOLLERR_HUP
_C_SPACE = b" \t\n\v\f\r"
_HEADER_END = b"\r\n\r\n"
#: an empty buffer for what a parser or a GET does not keep (never written to: a real one is made when needed)
_NOTHING = bytearray()


# --------------------------------------------------------------------------------------------------------
# Request


def normalise_protocol(value: str) -> HttpProtocol:
    """Map keepalived's spellings (``1.0``, ``1.0c``, ``1.0C``, ``1.1``) to one value."""
    if value == "1.0":
        return "1.0"
    if value in ("1.0c", "1.0C"):
        return "1.0C"
    if value == "1.1":
        return "1.1"
    raise ValueError(f"invalid HTTP protocol version '{value}'")


def select_virtualhost(*candidates: str | None) -> str | None:
    """First configured vhost in keepalived's order: url > checker > real server > virtual server.

    For the TLS SNI name keepalived uses url > checker > virtual server (the real server's vhost is skipped).
    """
    for c in candidates:
        if c:
            return c
    return None


def _ntop(ip: str) -> tuple[int, str]:
    """Address family and inet_ntop text of an IP, as keepalived prints a parsed address."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        return family, socket.inet_ntop(family, socket.inet_pton(family, ip))
    except OSError:
        return family, ip


def host_header(vhost: str | None, ip: str, port: int) -> str:
    """Value of the Host header: the vhost alone, else ``ip:port`` (``[ip]:port`` for IPv6, RFC 2732)."""
    if vhost:
        return vhost
    family, text = _ntop(ip)
    if family == socket.AF_INET6:
        return f"[{text}]:{port}"
    return f"{text}:{port}"


def build_request(path: str, host_header: str, protocol: HttpProtocol = "1.0") -> bytes:
    """The exact bytes keepalived sends (``request_template`` in check_http.c)."""
    minor = 1 if protocol == "1.1" else 0
    connection = "Connection: close\r\n" if protocol in ("1.0C", "1.1") else ""
    text = (f"GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n"
            f"{connection}Host: {host_header}\r\n\r\n")
    return text.encode("utf-8", "surrogateescape")[:MAX_REQUEST]


# --------------------------------------------------------------------------------------------------------
# Response parsing (lib/html.c semantics)


def _strtoul(buf: bytes, pos: int) -> tuple[int, int]:
    """C ``strtoul(.., 10)`` on ``buf[pos:]`` (NUL-terminated): (value, end index)."""
    n = len(buf)
    i = pos
    while i < n and buf[i] in _C_SPACE:
        i += 1
    negative = False
    if i < n and buf[i] in b"+-":
        negative = buf[i] == 0x2D
        i += 1
    start = i
    value = 0
    while i < n and 0x30 <= buf[i] <= 0x39:
        value = value * 10 + buf[i] - 0x30
        i += 1
    if i == start:
        return 0, pos
    if value > _ULONG_MAX:
        return _ULONG_MAX, i
    if negative:
        value = (-value) & _ULONG_MAX
    return value, i


def extract_status_code(buf: bytes) -> int:
    """Status code as keepalived reads it: 3 digits between the first space and a following space, else 0."""
    m = _STATUS_FAST.match(buf)
    if m is not None:
        return int(m[1])  # the usual "HTTP/1.x NNN ": what the C-like scan gives, faster
    return _status_code_scan(buf)


#: what :func:`_status_code_scan` reads when it finds three digits and a space: up to the first space (no CR
#: before it), three ASCII digits, a space
_STATUS_FAST = re.compile(rb"[^ \r]* ([0-9]{3}) ")


def _status_code_scan(buf: bytes) -> int:
    """keepalived's ``extract_status_code`` step by step (any input)."""
    n = len(buf)
    i = 0
    while i < n and buf[i] not in (0x20, 0x0D):
        i += 1
    if i >= n or buf[i] != 0x20:
        return 0
    i += 1
    if i + 3 >= n or buf[i] == 0x20 or buf[i + 3] != 0x20:
        return 0
    value, end = _strtoul(buf, i)
    if end != i + 3:
        return 0
    value &= 0xFFFFFFFF  # returned through a C int
    return value - (1 << 32) if value >= 1 << 31 else value


def extract_content_length(buf: bytes) -> int | None:
    """``Content-Length:`` (case-sensitive, first occurrence anywhere in the buffer, strstr stops at NUL)."""
    nul = buf.find(b"\0")
    at = (buf if nul < 0 else buf[:nul]).find(b"Content-Length:")
    if at < 0:
        return None
    value, end = _strtoul(buf, at + len(b"Content-Length:"))
    if end < len(buf) and buf[end] not in (0, 0x0D, 0x0A):
        return None
    if value == _ULONG_MAX:
        return None
    return value


class ReadStep(NamedTuple):
    """What one read did: used by genhash to print its verbose dumps as keepalived does."""

    data: bytes
    #: the header had already been found before this read
    was_extracted: bool
    #: the header block (up to and including CRLF CRLF) if it was completed by this read
    header: bytes | None
    #: body bytes of this read that went into the MD5 (capped at Content-Length)
    digested: bytes


class Parsed(NamedTuple):
    """A reply as keepalived understood it."""

    #: header block including the terminating CRLF CRLF; None when no terminator was seen ("no data")
    header: bytes | None
    #: status code (None when there was no header or keepalived's parse gave 0)
    status: int | None
    #: Content-Length as keepalived read it (None = absent/unparseable)
    content_length: int | None
    #: body bytes that were digested (at most Content-Length; at most :data:`KEEP_PREFIX` of them are kept)
    body: bytes
    #: all body bytes received (not capped); keepalived logs a mismatch with content_length
    rx_bytes: int
    #: hex MD5 of ``body``
    md5: str
    #: what keepalived's regex sees: the body, prefixed by the header when the first body bytes came in the
    #: same read as the end of the header (keepalived matches that first buffer from its start); at most
    #: :data:`KEEP_PREFIX` bytes of it, and only when the parser was asked to keep it
    regex_subject: bytes
    #: the verdict of the regex the parser streamed (:class:`RegexScan`); None when it had none
    regex_matched: bool | None = None

    @property
    def length_mismatch(self) -> bool:
        return self.content_length is not None and self.content_length != self.rx_bytes


class RegexScan:
    """A url's regex run over a stream without keeping it; pure.

    keepalived matches each 4095-byte read with ``PCRE2_PARTIAL_HARD`` and keeps the start of a partial
    match for the next read.  Python's ``re`` has no partial matching, so the same is had with a window:
    the new bytes (gathered into batches of :data:`REGEX_BATCH`, so the carry is not searched again for
    every read) are searched together with the last :data:`REGEX_CARRY` bytes already seen (plus one byte
    of context, so ``^``, ``\\b`` and lookbehinds see what precedes them), and a match that reaches the
    end of the window is only accepted once more data (or the end, ``final``) shows it is complete, as a
    hard partial match would be.  Memory is bounded by the carry, one batch and one read; what is lost
    is what keepalived loses too: a match longer than the window.  Offsets are counted from the start
    of the subject (``regex_min_offset`` / ``regex_max_offset``).
    """

    __slots__ = ("_base", "_max", "_min", "_pattern", "_pending", "_skip", "_win", "done", "matched")

    def __init__(self, pattern: re.Pattern[bytes], min_offset: int = 0, max_offset: int | None = None) -> None:
        self._pattern = pattern
        self._min = min_offset
        self._max = max_offset
        self._win = b""
        #: new bytes not searched yet (less than REGEX_BATCH)
        self._pending = bytearray()
        #: subject offset of ``_win[0]``
        self._base = 0
        #: leading bytes of ``_win`` that are context only (already tried as match starts)
        self._skip = 0
        self.done = False
        self.matched = False

    @classmethod
    def for_url(cls, url: Url) -> RegexScan | None:
        pattern = compiled_regex(url)
        return None if pattern is None else cls(pattern, url.regex_min_offset, url.regex_max_offset)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.done:
            return
        pending = self._pending
        if not final and len(pending) + len(chunk) < REGEX_BATCH:
            pending += chunk
            return
        if pending:
            pending += chunk
            chunk = bytes(pending)
            pending.clear()
        self._search(chunk, final)

    def _search(self, chunk: bytes, final: bool) -> None:
        win = self._win + chunk if self._win else chunk
        n = len(win)
        base = self._base
        pos = max(self._skip, self._min - base)
        if self._max is not None and base + pos > self._max:
            self.done = True  # no acceptable start is left
            return
        m = self._pattern.search(win, pos) if pos <= n else None
        if m is not None and (final or m.end() < n):
            self.done = True
            self.matched = self._max is None or base + m.start() <= self._max
            return
        if final:
            self.done = True
            return
        # keep what a match still in progress may need: from its start if that fits in the carry, else
        # the carry (keepalived: "Regex partial match preserve too large - discarding")
        keep = n - REGEX_CARRY
        if m is not None and m.start() > keep:
            keep = m.start()
        keep = min(max(keep, pos), n)
        if keep <= self._skip:
            self._win = win  # the window is still short: keep it all
            return
        ctx = keep - 1
        self._win = win[ctx:]
        self._base = base + ctx
        self._skip = 1

    def finish(self) -> bool:
        """The verdict once the stream has ended."""
        self.feed(b"", final=True)
        return self.matched


class ResponseParser:
    """keepalived's response reading loop, one :meth:`feed` per ``read()``; pure (no I/O, no clock).

    ``keep_regex_subject`` / ``keep_body``: keep the first :data:`KEEP_PREFIX` bytes of the regex subject /
    of the digested body (for :func:`analyse` and its tests; a checker and genhash keep neither).
    ``keep_digest``: a checker whose url has no digest skips the MD5 (reported as ``""``).  ``regex``:
    the url whose regex is matched as the reply streams (:class:`RegexScan`), giving
    :attr:`Parsed.regex_matched`.  Nothing here grows with the length of the reply beyond those prefixes.
    """

    __slots__ = ("_buf", "_keep_body", "_md5", "_regex", "_scan", "_subject", "body", "content_length",
                 "header", "rx_bytes", "status")

    def __init__(self, *, keep_regex_subject: bool = True, keep_digest: bool = True, keep_body: bool = True,
                 regex: Url | None = None) -> None:
        #: the start of a header that did not fit in one read (rare: made when needed)
        self._buf = _NOTHING
        self._md5 = hashlib.md5() if keep_digest else None
        self._regex = keep_regex_subject
        self._keep_body = keep_body
        self._scan = RegexScan.for_url(regex) if regex is not None else None
        self._subject = bytearray() if keep_regex_subject else _NOTHING
        self.body = bytearray() if keep_body and keep_digest else _NOTHING
        self.header: bytes | None = None
        self.status: int | None = None
        self.content_length: int | None = None
        self.rx_bytes = 0

    @property
    def extracted(self) -> bool:
        return self.header is not None

    def read_size(self) -> int:
        """Bytes keepalived's next read() asks for; 0 means its buffer is full, which it takes for EOF."""
        return MAX_READ if self.header is not None else MAX_READ - len(self._buf)

    def _digest(self, chunk: bytes) -> bytes:
        cl = self.content_length
        if cl is None:
            part = chunk
        elif cl > self.rx_bytes:
            part = chunk[: cl - self.rx_bytes]
        else:
            part = b""
        if part and self._md5 is not None:
            self._md5.update(part)
            if self._keep_body and len(self.body) < KEEP_PREFIX:
                self.body += part[: KEEP_PREFIX - len(self.body)]
        return part

    def _match(self, data: bytes) -> None:
        if self._regex and len(self._subject) < KEEP_PREFIX:
            self._subject += data[: KEEP_PREFIX - len(self._subject)]
        if self._scan is not None:
            self._scan.feed(data)

    def feed(self, data: bytes) -> ReadStep:
        """Process one read of at most :meth:`read_size` bytes."""
        was_extracted = self.header is not None
        digested = self.absorb(data)
        return ReadStep(data, was_extracted, None if was_extracted else self.header, digested)

    def absorb(self, data: bytes) -> bytes:
        """:meth:`feed` without the :class:`ReadStep` (a checker does not look at it): returns the bytes
        of this read that were digested."""
        if self.header is not None:
            digested = self._digest(data)
            self.rx_bytes += len(data)
            if self._regex or self._scan is not None:
                self._match(data)
            return digested
        if self._buf:
            self._buf += data
            buf = bytes(self._buf)
        else:  # the usual case: the whole header in the first read
            buf = data
        end = buf.find(_HEADER_END)
        if end < 0:
            if not self._buf:
                self._buf = bytearray(data)
            return b""
        if self._buf:
            self._buf = _NOTHING
        end += len(_HEADER_END)
        status = extract_status_code(buf)
        self.status = status or None
        self.content_length = extract_content_length(buf)
        self.header = buf[:end]
        rest = buf[end:]
        digested = self._digest(rest)
        self.rx_bytes = len(rest)
        if rest and (self._regex or self._scan is not None):
            self._match(buf)
        return digested

    def result(self) -> Parsed:
        return Parsed(
            header=self.header,
            status=self.status,
            content_length=self.content_length,
            body=bytes(self.body) if self.body else b"",
            rx_bytes=self.rx_bytes,
            md5=self._md5.hexdigest() if self._md5 is not None else "",
            regex_subject=bytes(self._subject) if self._subject else b"",
            regex_matched=self._scan.finish() if self._scan is not None else None,
        )

    def feed_all(self, data: bytes) -> Iterable[ReadStep]:
        """Split data that arrived at once into keepalived's reads; stops when keepalived would see EOF."""
        pos = 0
        while pos < len(data):
            n = self.read_size()
            if n == 0:
                return
            yield self.feed(data[pos : pos + n])
            pos += n


def analyse(raw: bytes | Iterable[bytes]) -> Parsed:
    """Parse a whole reply; an iterable gives the chunks as they arrived (the split can matter)."""
    parser = ResponseParser()
    chunks = [raw] if isinstance(raw, bytes | bytearray) else raw
    for chunk in chunks:
        if parser.read_size() == 0:
            break
        for _ in parser.feed_all(bytes(chunk)):
            pass
    return parser.result()


# --------------------------------------------------------------------------------------------------------
# URL evaluation


#: PCRE2 option names keepalived accepts in ``regex_options`` that Python's ``re`` can express.
REGEX_FLAGS: dict[str, re.RegexFlag] = {
    "caseless": re.IGNORECASE,
    "dotall": re.DOTALL,
    "extended": re.VERBOSE,
    "multiline": re.MULTILINE,
}


#: the former name of a url spec: HTTP_GET/SSL_GET urls are the config model's :class:`Url` (kept for importers)
UrlSpec = Url


@functools.lru_cache(maxsize=1024)
def _compile(regex: str, options: tuple[str, ...]) -> re.Pattern[bytes]:
    flags = re.RegexFlag(0)
    for name in options:
        flags |= REGEX_FLAGS.get(name, re.RegexFlag(0))
    return re.compile(regex.encode("utf-8", "surrogateescape"), flags)


def compiled_regex(url: Url) -> re.Pattern[bytes] | None:
    """The url's regex compiled once (Python ``re`` on bytes; :func:`regex_matches` lists PCRE2 differences)."""
    return None if url.regex is None else _compile(url.regex, url.regex_options)


class UrlVerdict(NamedTuple):
    ok: bool
    #: keepalived's words: on failure the log fragment ("HTTP status code error to", "MD5 digest error to",
    #: "Regex match failed", "Read, no data received from "), on success what passed ("HTTP status code",
    #: "MD5 digest", "Regex match") for "<reason> success to [ip]:tcp:port url(path)"
    reason: str


def regex_matches(parsed: Parsed, url: Url) -> bool:
    """Whether the url's regex matches what keepalived would have matched.

    The verdict of the parser's own :class:`RegexScan` when it streamed this url's regex; otherwise the kept
    ``regex_subject`` is scanned the same way.  Differences from keepalived (PCRE2, streamed with
    PCRE2_PARTIAL_HARD over 4095-byte windows): Python ``re`` syntax instead of PCRE2 (``\\K``,
    ``(*VERB)``s, recursion and Unicode properties are not available); only the ``caseless``, ``dotall``,
    ``extended`` and ``multiline`` options are honoured; a match still open when the reply ends counts
    (keepalived's hard partial match at EOF does not).
    """
    if parsed.regex_matched is not None:
        return parsed.regex_matched
    scan = RegexScan.for_url(url)
    if scan is None:
        return False
    subject = parsed.regex_subject
    for pos in range(0, len(subject), MAX_READ):
        scan.feed(subject[pos : pos + MAX_READ])
        if scan.done:
            break
    return scan.finish()


_NO_DATA = UrlVerdict(False, "Read, no data received from ")
_BAD_STATUS = UrlVerdict(False, "HTTP status code error to")
_BAD_DIGEST = UrlVerdict(False, "MD5 digest error to")
_NO_MATCH = UrlVerdict(False, "Regex match failed")
_STATUS_OK = UrlVerdict(True, "HTTP status code")
_DIGEST_OK = UrlVerdict(True, "MD5 digest")
_MATCH_OK = UrlVerdict(True, "Regex match")


def evaluate_url(parsed: Parsed, url: Url) -> UrlVerdict:
    """keepalived's checks in order: data, status code, digest, regex (``http_handle_response``)."""
    if parsed.header is None:
        return _NO_DATA
    status = parsed.status
    if status is None:
        return _BAD_STATUS
    for lo, hi in url.status_codes:  # (Url.accepts_status, without a generator per check)
        if lo <= status <= hi:
            break
    else:
        return _BAD_STATUS
    verdict = _STATUS_OK
    if url.digest:
        if parsed.md5 != url.digest.lower():
            return _BAD_DIGEST
        verdict = _DIGEST_OK
    if url.regex is not None:
        if regex_matches(parsed, url) == url.regex_no_match:
            return _NO_MATCH
        verdict = _MATCH_OK
    return verdict


# --------------------------------------------------------------------------------------------------------
# Client


class ErrorKind(enum.Enum):
    """Why a GET produced no usable reply, with keepalived's message (what genhash prints)."""

    SOCKET = "WEB socket bind failed. Rescheduling"
    #: socket() itself failed (EMFILE, ENFILE, ENOBUFS): keepalived reschedules with no verdict
    NO_SOCKET = "WEB connection fail to create socket. Rescheduling."
    UNREACHABLE = "HTTP_CHECK - network unreachable"
    REFUSED = "Connection failed"
    CONNECT_TIMEOUT = "Timeout connecting"
    TLS_HANDSHAKE = "SSL handshake/communication error connecting to"
    WRITE_TIMEOUT = "Timeout WEB write"
    SEND = "Cannot send get request to"
    FIRST_READ_TIMEOUT = "Timeout WEB read"
    READ_TIMEOUT = "Timeout HTTP read"
    TLS_READ_TIMEOUT = "Timeout SSL read"
    READ_ERROR = "Read error with"
    TLS_READ_ERROR = "SSL read error from"
    NO_DATA = "no data received from remote webserver"

    @property
    def message(self) -> str:
        return self.value


_SO_MARK = getattr(socket, "SO_MARK", 36)


class HttpResult(NamedTuple):
    """Outcome of one GET: the raw reply, keepalived's reading of it, timing, and the failure if any."""

    raw: bytes
    parsed: Parsed
    error: ErrorKind | None
    #: the reply ended by an orderly close (FIN, or TLS close_notify); keepalived dumps the digest only then
    eof_clean: bool
    #: seconds from the start of connect() to connected (None if never connected)
    connect_time: float | None
    #: seconds from the start of connect() to the end
    elapsed: float
    #: the OSError behind a socket/connect/read failure, for logs
    os_error: OSError | None = None
    #: keepalived's own log line about a failed socket set-up (``Checker bind failed: ...``), if any
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error else None


OnChunk = Callable[[ReadStep], None]


HttpCallback = Callable[["HttpResult | Exception"], None]

_EMPTY_PARSED = ResponseParser().result()
_HAS_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK")
#: TLS: ciphertext read per recv (the plaintext is still split into keepalived-sized reads by ``tls.read``)
_RECV_SIZE = READ_BUDGET


@dataclass(frozen=True, slots=True)
class GetPlan:
    """Everything about a GET that does not change from one attempt to the next (made once per url)."""

    ip: str
    port: int
    request: bytes
    #: keepalived's connect_timeout, applied to each step
    timeout: float
    ssl_context: ssl.SSLContext | None = None
    #: the SNI name (None: no SNI)
    server_hostname: str | None = None
    bind: tuple[str, int] | None = None
    fwmark: int | None = None
    keep_regex_subject: bool = True
    keep_digest: bool = True
    #: keep the first KEEP_PREFIX bytes of the reply (``raw``) and of the digested body
    keep_raw: bool = True
    #: the url whose regex is matched as the reply streams (:attr:`Parsed.regex_matched`)
    regex: Url | None = None
    #: TCP_QUICKACK off: the handshake's last ACK rides on the request (a checker's saving).  genhash turns
    #: it off as keepalived's genhash never sets it: delayed ACKs change how a server's small writes are
    #: coalesced (Nagle), so its ``-v`` dumps would split where keepalived's do not
    delayed_ack: bool = True

    #: the socket's family and the address it connects to (derived, made once per plan)
    family: int = field(init=False, repr=False, compare=False)
    addr: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", socket.AF_INET6 if ":" in self.ip else socket.AF_INET)
        object.__setattr__(self, "addr", (self.ip, self.port))


class HttpGet:
    """One GET driven by callbacks on a :class:`~.net.Poller`: no Task, no transport, no loop handles.

    ``callback`` gets the :class:`HttpResult` (or an unexpected exception) from the loop, never from the
    constructor.  The socket is registered once, edge-triggered (:data:`~.net.EPOLL_EXCHANGE`): the
    connect completes on the first writable event, and reads drain until EAGAIN or EOF.  A checker
    plans ``keep_raw=False`` / ``keep_digest=False`` when it needs neither the reply bytes nor the MD5.
    Every step has its own timeout, started when the step starts: connect (the TLS handshake shares
    the connect deadline, as in keepalived), then the wait for the first reply bytes, then each later
    read; one timer entry serves them all (it re-arms itself when the deadline moved on).  No step
    goes past the GET's one overall deadline (``budget``, a :class:`~.net.Deadline`: connect_timeout
    x :data:`HTTP_STEPS`), which ends an endless or dripping reply with the read timeout's message.
    A wake-up reads at most :data:`READ_BUDGET` bytes; the rest is read on the loop's next turn.  The phases,
    reads and error classification are those of asyncio's selector transport driving a Protocol,
    which this replaces.
    """

    __slots__ = ("budget", "callback", "connect_time", "deadline", "done", "fd", "got_bytes", "loop", "on_chunk",
                 "parser", "phase", "plan", "poller", "raw", "resume", "sock", "t0", "timer_armed", "tls", "tls_in",
                 "tls_out", "token", "wbuf")

    def __init__(self, loop: asyncio.AbstractEventLoop, poller: Poller, plan: GetPlan, callback: HttpCallback,
                 on_chunk: OnChunk | None = None) -> None:
        self.loop = loop
        self.poller = poller
        self.plan = plan
        self.callback = callback
        self.on_chunk = on_chunk
        self.t0 = t0 = poller.clock()
        self.budget = budget = Deadline(t0, plan.timeout, HTTP_STEPS)
        #: when the current step times out
        self.deadline = budget.step_end(t0)
        self.done = False
        self.token = 0
        self.timer_armed = False
        #: reads go on from the loop's next turn (0: no; 1: yes; 2: yes, and the peer's FIN or an error was seen)
        self.resume = 0
        self.connect_time: float | None = None
        self.phase = "connect"
        self.got_bytes = False
        self.tls: ssl.SSLObject | None = None  # (tls_in / tls_out are set with it)
        self.parser: ResponseParser | None = None
        #: the first KEEP_PREFIX bytes of the reply (only when the plan keeps them)
        self.raw = bytearray() if plan.keep_raw else _NOTHING
        #: what the socket did not take yet (rarely anything: made when needed)
        self.wbuf = _NOTHING
        self.sock: _raw_socket | None = None
        self.fd = -1
        try:
            sock = _raw_socket(plan.family, STREAM_NONBLOCK)
        except OSError as e:  # out of descriptors: not the server's fault, so no verdict on it
            self._fail_soon(ErrorKind.NO_SOCKET, e, f"socket(): {e.strerror or e}")
            return
        if not _HAS_NONBLOCK:
            sock.setblocking(False)
        stage = 0  # what failed, for keepalived's log line: 1 the fwmark, 2 the bind
        try:
            # as haproxy's checks do: the handshake's last ACK is not sent alone but rides on the request,
            # one packet less per check for both ends (the server sees the same bytes)
            if plan.delayed_ack:
                sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 0)
            if plan.fwmark:
                stage = 1
                sock.setsockopt(socket.SOL_SOCKET, _SO_MARK, plan.fwmark)
            if plan.bind is not None:
                stage = 2
                sock.bind(plan.bind)
        except OSError as e:
            sock.close()
            what = ("Socket set-up failed", f"Error setting fwmark {plan.fwmark} to socket", "Checker bind failed")
            self._fail_soon(ErrorKind.SOCKET, e, f"{what[stage]}: {e.strerror or e}")
            return
        try:
            rc = sock.connect_ex(plan.addr)
        except BaseException:
            sock.close()
            raise
        if rc == 0:
            self.phase = "request"  # connected already: a writable event before _connected runs is no connect
            self._own(sock)
            loop.call_soon(self._connected)
        elif rc != errno.EINPROGRESS:
            sock.close()
            kind = ErrorKind.UNREACHABLE if rc in CONNECT_FAIL else ErrorKind.SOCKET
            self._fail_soon(kind, OSError(rc, errno.errorcode.get(rc, str(rc))))
        else:
            self._own(sock)
            self._arm()  # one timer for the attempt: it re-arms itself when a later step moved the deadline

    # -- plumbing

    def _own(self, sock: _raw_socket) -> None:
        self.sock = sock
        fd = self.fd = sock.fileno()
        poller = self.poller
        poller.epoll.register(fd, EPOLL_EXCHANGE)  # (poller.register, inline)
        poller.handlers[fd] = self._on_events

    def _close(self) -> None:
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.poller.handlers.pop(self.fd, None)  # (poller.forget, inline)
            sock.close()

    def _fail_soon(self, kind: ErrorKind, exc: OSError | None, detail: str = "") -> None:
        self.done = True
        result = HttpResult(b"", _EMPTY_PARSED, kind, False, None, self.poller.clock() - self.t0, exc, detail)
        self.loop.call_soon(self.callback, result)

    def _fail(self, kind: ErrorKind, exc: OSError | None) -> None:
        self.done = True
        self.token += 1
        self._close()
        self.callback(HttpResult(b"", _EMPTY_PARSED, kind, False, None, self.poller.clock() - self.t0, exc))

    def _crash(self, exc: Exception) -> None:
        if not self.done:
            self.done = True
            self.token += 1
            self._close()
            self.callback(exc)

    def cancel(self) -> None:
        """Abandon the GET: the socket is closed and the callback never runs."""
        self.done = True
        self.token += 1
        self._close()

    def _step(self) -> None:
        """A step starts now: its deadline is ``now + timeout``, but never past the GET's end."""
        end = self.poller.clock() + self.plan.timeout  # (Deadline.step_end, inline: once or twice per check)
        budget_end = self.budget.end
        self.deadline = end if end < budget_end else budget_end

    def _arm(self) -> None:
        """Arm the attempt's one timer at a deadline just set (``now + timeout``), on the timeout's lane
        (at the overall end, which is not ``now + timeout``: on the heap)."""
        if not self.timer_armed:
            self.timer_armed = True
            timeout = self.plan.timeout
            if self.deadline >= self.budget.end:
                self.poller.timers.add(self.deadline, HttpGet._on_timer, self)
            else:
                self.poller.timers.add_after(timeout, HttpGet._on_timer, self, now=self.deadline - timeout)

    def _on_timer(self) -> None:
        # (the entry is the unbound method and the GET: no bound method allocated per entry; a GET has at most
        # one entry pending, so done is all it needs to look at)
        if self.done:
            return
        self.timer_armed = False
        if self.phase == "connect":
            self._connect_outcome()
            return
        if self.poller.clock() < self.deadline:  # deadline moved on: re-arm instead of rescheduling per read
            self.timer_armed = True  # (at a deadline set a while ago: the heap, not the lane)
            self.poller.timers.add(self.deadline, HttpGet._on_timer, self)
            return
        if self.phase == "handshake":
            self._finish(ErrorKind.CONNECT_TIMEOUT)
        elif self.phase == "request":
            self._finish(ErrorKind.WRITE_TIMEOUT)
        elif not self.got_bytes:
            self._finish(ErrorKind.FIRST_READ_TIMEOUT)
        else:
            self._finish(ErrorKind.TLS_READ_TIMEOUT if self.tls else ErrorKind.READ_TIMEOUT)

    def _on_events(self, events: int) -> None:
        try:
            if self.phase == "connect":
                # writable without an error is a completed connect; only an error needs SO_ERROR
                if events & EPOLLERR_HUP == 0 and self.sock is not None:
                    self._connected()
                else:
                    self._connect_outcome()
                return
            if events & EPOLLOUT and self.wbuf:
                self._flush_wbuf()
            if events & (EPOLLIN | EPOLLERR_HUP) and not self.done:
                hup = events & _ENDED
                if not self.resume:
                    self._read(hup != 0, hup == EPOLLRDHUP)
                elif hup:  # the reads already go on next turn: they will go to the end
                    self.resume = 2
        except Exception as e:
            self._crash(e)

    # -- connect (keepalived's classification of the outcome)

    def _connect_outcome(self, err: int | None = None) -> None:
        sock = self.sock
        if sock is None:
            return
        if err is None:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            self._connected()
            return
        if err == errno.EINPROGRESS:  # the deadline fired first
            self._fail(ErrorKind.CONNECT_TIMEOUT, None)
            return
        exc = OSError(err, errno.errorcode.get(err, str(err)))
        self._fail(ErrorKind.CONNECT_TIMEOUT if err == errno.ETIMEDOUT else ErrorKind.REFUSED, exc)

    def _connected(self) -> None:
        if self.done:
            return
        try:
            self.connect_time = self.poller.clock() - self.t0
            plan = self.plan
            self.parser = ResponseParser(keep_regex_subject=plan.keep_regex_subject, keep_digest=plan.keep_digest,
                                         keep_body=plan.keep_raw, regex=plan.regex)
            if plan.ssl_context is not None:
                self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
                self.tls = plan.ssl_context.wrap_bio(self.tls_in, self.tls_out, server_side=False,
                                                     server_hostname=plan.server_hostname)
            self.phase = "handshake" if self.tls else "request"
            if plan.timeout <= 0:
                # keepalived registers the write step with a zero timeout: it expires before the socket is polled
                self._finish(ErrorKind.WRITE_TIMEOUT)
                return
            if self.tls is not None:
                self._arm()
                self._handshake()
                return
            # plain HTTP: _send(), _write() and _step() inline (every check goes through here)
            self.phase = "response"
            sock = self.sock
            request = plan.request
            if sock is not None and request:
                try:
                    n = sock.send(request)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError as e:  # a transport reports a write error as the connection lost, from the loop
                    self._stop_io()
                    self.loop.call_soon(self._lost, e)
                    n = len(request)
                if n < len(request):
                    self.wbuf = bytearray(request[n:])
            now = self.poller.clock()
            end = now + plan.timeout
            budget_end = self.budget.end
            self.deadline = end if end < budget_end else budget_end
            if not self.timer_armed:
                self._arm()
        except Exception as e:
            self._crash(e)

    # -- the socket as a transport would drive it

    def _write(self, data: bytes) -> None:
        """Send what the socket takes now; the rest goes on the next writable event (edge-triggered)."""
        sock = self.sock
        if sock is None or not data:
            return
        if self.wbuf:
            self.wbuf += data
            return
        try:  # the usual case: the socket takes it all at once, nothing is buffered
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:  # a transport reports a write error as the connection lost, from the loop
            self._stop_io()
            self.loop.call_soon(self._lost, e)
            return
        if n < len(data):
            self.wbuf = bytearray(data[n:])

    def _flush_wbuf(self) -> None:
        assert self.sock is not None
        try:
            n = self.sock.send(self.wbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # a transport reports a write error as the connection lost, from the loop
            self._stop_io()
            self._lost(e)
            return
        del self.wbuf[:n]

    def _stop_io(self) -> None:
        if self.sock is not None:
            self.poller.unregister(self.fd)

    def _read(self, ended: bool, fin: bool = False) -> None:
        """Read what is there (edge-triggered: until EAGAIN); ``ended``: the peer's FIN or an error was
        reported with this event, so the reads go on to the EOF or the error now, not on another wake-up.
        Data that comes after a short read raises a new event.  At most :data:`READ_BUDGET` bytes are read
        per wake-up: a socket that is never drained (a peer that always has more) is read on from the
        loop's next turn, after the other sockets, timers and signals have had theirs.  ``fin``: the event
        reported the peer's FIN and no error."""
        budget = READ_BUDGET
        while not self.done:
            sock = self.sock
            if sock is None:
                return
            # keepalived reads at most what its 4096-byte buffer has room for, each read on its own;
            # reading more at once and splitting it later would cut the reads (genhash -v's dumps)
            # where the data's arrival happened to stop, not where keepalived's reads do
            parser = self.parser
            if self.tls is not None or parser is None:
                size = _RECV_SIZE
            else:  # (parser.read_size(), inline)
                size = MAX_READ if parser.header is not None else MAX_READ - len(parser._buf)
            if size == 0:
                self._finish(None, clean=True)
                return
            try:
                data = sock.recv(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._stop_io()
                self._lost(e)
                return
            if not data:
                self._eof()
                return
            if parser is not None and self.tls is None and self.on_chunk is None and not self.plan.keep_raw:
                # a checker's plain GET (the hot path): one read of at most read_size() bytes is one of
                # keepalived's reads as it stands, so it goes to the parser whole (what _data/_consume do)
                self.got_bytes = True
                end = self.poller.clock() + self.plan.timeout  # (self._step(), inline)
                budget_end = self.budget.end
                self.deadline = end if end < budget_end else budget_end
                parser.absorb(data)
            else:
                self._data(data)
            if len(data) < size:
                if fin and not self.done and self.tls is None and self.sock is not None:
                    # the peer's FIN (and no error) came with this event and this read was short, so all the
                    # data before the FIN is read: the next read() can only return the EOF (a system call less)
                    self._finish(None, clean=True)  # (what _eof does without TLS)
                    return
                if not ended:
                    return
            budget -= len(data)
            if budget <= 0:
                if not self.done:
                    self.resume = 2 if ended else 1
                    self.loop.call_soon(self._read_on, self.token)
                return

    def _read_on(self, token: int) -> None:
        if token != self.token or self.done:
            return
        ended = self.resume == 2
        self.resume = 0
        try:
            self._read(ended)
        except Exception as e:
            self._crash(e)

    def _finish(self, error: ErrorKind | None, clean: bool = False, exc: OSError | None = None) -> None:
        if self.done:
            return
        self.done = True
        self.token += 1
        self._close()
        parser = self.parser
        assert parser is not None
        if error is None and parser.header is None:
            error = ErrorKind.NO_DATA
        self.callback(HttpResult(bytes(self.raw), parser.result(), error, clean, self.connect_time,
                                 self.poller.clock() - self.t0, exc))

    def _flush_tls(self) -> None:
        assert self.tls_out is not None
        data = self.tls_out.read()
        if data:
            self._write(data)

    def _handshake(self) -> None:
        assert self.tls is not None
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls()
            return
        except (ssl.SSLError, OSError) as e:
            self._flush_tls()
            self._finish(ErrorKind.TLS_HANDSHAKE, exc=e)
            return
        self._flush_tls()
        self._send()

    def _send(self) -> None:
        self.phase = "response"
        try:
            if self.tls is not None:
                self.tls.write(self.plan.request)
                self._flush_tls()
            else:
                self._write(self.plan.request)
        except (ssl.SSLError, OSError) as e:
            self._finish(ErrorKind.SEND, exc=e)
            return
        self._step()
        if not self.timer_armed:
            self._arm()
        if self.tls is not None and self.tls_in is not None and (self.tls_in.pending or self.tls.pending()):
            self._read_tls()

    def _data(self, data: bytes) -> None:
        if self.done:
            return
        if self.tls is not None:
            assert self.tls_in is not None
            self.tls_in.write(data)
            if self.phase == "handshake":
                self._handshake()
                return
            if not self.got_bytes:
                self.got_bytes = True
                self._step()
            self._read_tls()
            return
        self.got_bytes = True
        self._step()
        self._consume(data)

    def _consume(self, data: bytes) -> None:
        """Hand data to the parser in keepalived-sized reads."""
        parser = self.parser
        assert parser is not None
        pos = 0
        while pos < len(data):
            n = parser.read_size()
            if n == 0:  # keepalived's buffer is full: read() returns 0, which it handles as EOF
                self._finish(None, clean=True)
                return
            piece = data[pos : pos + n] if pos or n < len(data) else data
            pos += n
            if self.plan.keep_raw and len(self.raw) < KEEP_PREFIX:
                self.raw += piece[: KEEP_PREFIX - len(self.raw)]
            if self.on_chunk is not None:
                self.on_chunk(parser.feed(piece))
            else:
                parser.absorb(piece)

    def _read_tls(self) -> None:
        assert self.tls is not None and self.parser is not None
        while not self.done:
            n = self.parser.read_size()
            if n == 0:
                self._finish(None, clean=True)
                return
            try:
                data = self.tls.read(n)
            except ssl.SSLWantReadError:
                self._flush_tls()
                return
            except ssl.SSLZeroReturnError:
                data = b""
            except (ssl.SSLError, OSError):
                # keepalived hands any other SSL error (an EOF without close_notify too) to the response
                # handler as the end of the reply
                self._finish(None, clean=False)
                return
            if not data:  # close_notify (SSL_ERROR_ZERO_RETURN): keepalived dumps the digest, and with no
                # header seen it reports an SSL read error rather than "no data"
                self._finish(None if self.parser.extracted else ErrorKind.TLS_READ_ERROR, clean=True)
                return
            self._step()
            self._consume(data)

    def _eof(self) -> None:
        if self.done:
            return
        if self.tls is not None:
            assert self.tls_in is not None
            self.tls_in.write_eof()
            if self.phase == "handshake":
                self._handshake()
            else:
                self._read_tls()
            if not self.done:
                self._finish(None, clean=False)
        else:
            self._finish(None, clean=True)

    def _lost(self, exc: Exception | None) -> None:
        if self.done:
            return
        if self.phase == "handshake":
            self._finish(ErrorKind.TLS_HANDSHAKE, exc=exc if isinstance(exc, OSError) else None)
        elif self.tls is not None:
            self._finish(None, clean=False)
        else:
            self._finish(ErrorKind.READ_ERROR, exc=exc if isinstance(exc, OSError) else None)


def client_ssl_context() -> ssl.SSLContext:
    """TLS context like keepalived's SSL_GET default: any certificate is accepted (no verification)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def http_get(
    ip: str,
    port: int,
    request: bytes,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    bind: tuple[str, int] | None = None,
    fwmark: int | None = None,
    on_chunk: OnChunk | None = None,
    keep: bool = True,
    delayed_ack: bool = True,
) -> HttpResult:
    """Connect, (TLS handshake), send ``request``, read until EOF; never raises for network failures.

    ``timeout`` applies to each step as keepalived's ``connect_timeout`` does: connect (and TLS handshake),
    then the wait for the first reply bytes, then each later read; the whole GET ends by
    ``timeout`` x :data:`HTTP_STEPS`.  ``server_hostname`` is the SNI name (None: no SNI).  ``on_chunk``
    sees every read as keepalived's 4095-byte reads would split it.  ``keep``: the result carries the
    first :data:`KEEP_PREFIX` bytes of the reply, body and regex subject (genhash keeps none).
    ``delayed_ack``: :attr:`GetPlan.delayed_ack` (genhash: False, as keepalived's genhash).
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[HttpResult] = loop.create_future()

    def done(r: HttpResult | Exception) -> None:
        if fut.done():
            return
        if isinstance(r, Exception):
            fut.set_exception(r)
        else:
            fut.set_result(r)

    plan = GetPlan(ip, port, request, timeout, ssl_context, server_hostname, bind, fwmark,
                   keep_regex_subject=keep, keep_raw=keep, delayed_ack=delayed_ack)
    get = HttpGet(loop, poller_for(loop), plan, done, on_chunk)
    try:
        return await fut
    except asyncio.CancelledError:
        get.cancel()
        raise
