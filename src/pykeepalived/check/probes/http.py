"""HTTP_GET / SSL_GET (keepalived's ``check_http.c`` and ``check_ssl.c``): one url per attempt.

The GET itself, request bytes, reading loop, digest, regex and the step timeouts under the attempt's
one deadline (:data:`~pykeepalived.check.http.HTTP_STEPS` connect_timeouts: connect with the TLS
handshake, write, read), is :class:`pykeepalived.check.http.HttpGet`, which ``genhash`` shares; this
module turns the config into its plans and its outcome into keepalived's verdict.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from pykeepalived.check import http
from pykeepalived.check.net import Poller, poller_for
from pykeepalived.check.probes.common import Done, Kind, Setup, verdict
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import HttpCheck, RealServer, SslConfig, Url, VirtualServer, format_trio

#: verdicts reached before keepalived compares Content-Length with the bytes received
_BEFORE_LENGTH_CHECK = frozenset({"Read, no data received from ", "HTTP status code error to"})


class HttpProbe:
    """HTTP_GET / SSL_GET through :class:`pykeepalived.check.http.HttpGet`: one url per attempt, as keepalived does.

    Which url is the health state's business (:attr:`~pykeepalived.check.state.CheckerState.url_it`, read through
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
            self._loop.call_soon(self._finish, verdict(True))
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
        error = r.error
        if error is not None:
            if error is http.ErrorKind.SOCKET or error is http.ErrorKind.NO_SOCKET:  # keepalived: "Rescheduling",
                self._finish(Result(False, reason=error.message, note=r.detail, skip=True))  # no verdict
            else:
                self._finish(verdict(False, error.message))
            return
        spec = self.requests[self._index][1]
        url = http.evaluate_url(r.parsed, spec)
        result = verdict(url.ok, url.reason)
        parsed = r.parsed
        cl = parsed.content_length
        if url.reason not in _BEFORE_LENGTH_CHECK and \
                (0 if cl is None else cl - parsed.rx_bytes) != self._mismatch[self._index]:
            note = self._length_note(self._index, spec, parsed)
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


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: HttpCheck) -> HttpProbe:
    return HttpProbe(checker, rs, vs, setup.loop, setup.ssl_context, setup.url_index)


KIND = Kind(HttpCheck, ("HTTP_GET", "SSL_GET"), steps=http.HTTP_STEPS, build=build)
