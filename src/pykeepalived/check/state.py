"""Health state of checkers, real servers and virtual servers — sans-I/O, time is an argument.

This module is keepalived 2.2.7's ``tcp_epilog()`` (check_tcp.c; ``epilog()`` / ``timeout_epilog()``
of check_http.c for HTTP_GET/SSL_GET, which walks the urls one attempt at a time) and
``update_svr_checker_state()`` / ``perform_svr_state()`` / ``update_quorum_state()`` /
``do_rs_notifies()`` / ``do_vs_notifies()`` (check/ipwrapper.c) done once for every checker type: the
runner feeds it one :class:`Result` per attempt and it answers with the next run time and the
:data:`Event` list (log lines, scripts to run, FIFO lines, mail alerts, and the semantic changes the
data plane cares about).  :func:`desired_table` turns config + health into the data plane's desired
:class:`~pykeepalived.lvs.model.Table`.

A pure core: nothing here imports asyncio, socket, time or an adapter (the events are plain data the
checker process executes: :class:`MailAlert` goes to :class:`pykeepalived.notify.mail.Mailer`), so
tests walk a virtual clock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from pykeepalived.config.model import Script
from pykeepalived.config.model_lvs import (
    BfdCheck,
    Checker,
    CheckTiming,
    FileCheck,
    HttpCheck,
    MiscCheck,
    RealServer,
    VirtualServer,
    VirtualServerGroup,
    format_trio,
)
from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey, Table

BOOTSTRAP_DELAY = 1.0
"""keepalived's BOOTSTRAP_DELAY: every checker first runs 1 s (+ warmup jitter) after start."""

IPVS_WEIGHT_LIMIT = 2**31 - 1
IPVS_WEIGHT_FAULT = -(2**31)
"""A FILE_CHECK contribution at or below this marks the checker down (keepalived's IPVS_WEIGHT_FAULT)."""

FILE_CHECK_TIMING = CheckTiming(delay_loop=1.0, retry=0, delay_before_retry=1.0, warmup=0.0)
"""FILE_CHECK has no timing keywords: it acts on the first change (retry 0); the runner polls the file."""

VsId = tuple[str, str]
"""How a virtual server is named in health maps: (FMT_VS text, protocol) — stable across reloads."""


def vs_id(vs: VirtualServer) -> VsId:
    return (vs.describe(), vs.protocol.value if vs.protocol is not None else "")


def rs_key(rs: RealServer) -> DestKey:
    return DestKey(rs.ip, rs.port)


def real_weight(effective: int) -> int:
    """keepalived's real_weight(): the weight IPVS can take, clamped to 0..INT32_MAX."""
    return max(0, min(IPVS_WEIGHT_LIMIT, effective))


def checker_timing(checker: Checker) -> CheckTiming | None:
    """The scheduling knobs of a polled checker (None: BFD, which is not polled)."""
    if isinstance(checker, FileCheck):
        return FILE_CHECK_TIMING
    return getattr(checker, "timing", None)


# ------------------------------------------------------------------------------------ results/events


@dataclass(frozen=True, slots=True)
class Result:
    """What one attempt of one checker found.

    ``weight_delta`` is the checker's dynamic contribution to its real server's weight
    (misc_dynamic: ``status - 2 - configured weight``; FILE_CHECK: ``value × weight``);
    None leaves it as is.  ``reason`` is for logs (e.g. ``exited with status 1``, ``timed out``).
    """

    ok: bool
    weight_delta: int | None = None
    reason: str = ""
    #: a line the checker itself logs before the verdict (HTTP: a Content-Length mismatch)
    note: str = ""
    #: the attempt could not even start (socket, bind or a local connect error): keepalived logs
    #: ``reason`` and tries again after delay_loop, leaving the checker's state alone -- so checkers
    #: bound to an address this host does not hold (yet) do not take servers down
    skip: bool = False


@dataclass(frozen=True, slots=True)
class Log:
    text: str


@dataclass(frozen=True, slots=True)
class RunScript:
    """A notify_up/notify_down/quorum_up/quorum_down script, run with its configured argv only (keepalived's
    ``notify_exec``: no arguments are added, unlike VRRP's notify scripts).

    ``wait`` is set for shutdown notifies (omega), which keepalived waits for up to 1 s.
    """

    script: Script
    why: str
    wait: float | None = None


@dataclass(frozen=True, slots=True)
class FifoLine:
    line: str


@dataclass(frozen=True, slots=True)
class MailAlert:
    """An SMTP alert to send (``smtp_alert``): the full subject (``[router_id] …``) and the body line.

    Plain data: the checker process hands it to :meth:`pykeepalived.notify.mail.Mailer.send_alert`."""

    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class CheckerChanged:
    vs: VsId
    rs: DestKey
    index: int
    up: bool


@dataclass(frozen=True, slots=True)
class RealServerChanged:
    vs: VsId
    rs: DestKey
    alive: bool


@dataclass(frozen=True, slots=True)
class WeightChanged:
    vs: VsId
    rs: DestKey
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class QuorumChanged:
    vs: VsId
    up: bool


Event = (
    Log | RunScript | FifoLine | MailAlert
    | CheckerChanged | RealServerChanged | WeightChanged | QuorumChanged
)
TABLE_EVENTS = (RealServerChanged, WeightChanged, QuorumChanged)
"""Events after which the desired table may differ (the daemon re-reconciles on these)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Global knobs the state logic needs (from global_defs)."""

    router_id: str = ""
    no_checker_emails: bool = False
    rs_init_notifies: bool = False
    checker_log_all_failures: bool = False


# ------------------------------------------------------------------------------------------ texts


@dataclass(frozen=True, slots=True)
class _Texts:
    up: str
    down: str
    down_retries: str
    mail_up: str
    mail_down: str


#: keepalived 2.2.7 says "HTTP request failed", for SSL_GET too (check_http.c; "HTTP/SSL" is not in its binary)
_HTTP_FAILED = "=> CHECK failed on service : HTTP request failed <="

_TEXTS: dict[str, _Texts] = {
    "TCP_CHECK": _Texts("TCP connection to {rs} success.", "TCP_CHECK on service {rs} failed.",
                        "TCP_CHECK on service {rs} failed after {n} retries.",
                        "=> TCP CHECK succeed on service <=", "=> TCP CHECK failed on service <="),
    "HTTP_GET": _Texts("Remote Web server {rs} succeed on service.", "HTTP_CHECK on service {rs} failed.",
                       "HTTP_CHECK on service {rs} failed after {n} retries.",
                       "=> CHECK succeed on service <=", _HTTP_FAILED),
    "SSL_GET": _Texts("Remote Web server {rs} succeed on service.", "HTTP_CHECK on service {rs} failed.",
                      "HTTP_CHECK on service {rs} failed after {n} retries.",  # check_http.c's words for both
                      "=> CHECK succeed on service <=", _HTTP_FAILED),
    "SMTP_CHECK": _Texts("Remote SMTP server {rs} succeed on service.", "SMTP_CHECK on service {rs} failed.",
                         "SMTP_CHECK on service {rs} failed after {n} retries.",
                         "=> CHECK succeed on service <=", "=> CHECK failed on service <="),
    "DNS_CHECK": _Texts("DNS_CHECK ({rs}) succeed.", "DNS_CHECK ({rs}) {reason}",
                        "DNS_CHECK ({rs}) {reason} after {n} retries",
                        "=> DNS_CHECK: succeed on service <=", "=> DNS_CHECK: failed on service <="),
    "UDP_CHECK": _Texts("UDP connection to {rs} success.", "UDP_CHECK on service {rs} failed.",
                        "UDP_CHECK on service {rs} failed after {n} retries.",
                        "=> UDP CHECK succeed on service <=", "=> UDP CHECK failed on service <="),
    "PING_CHECK": _Texts("ICMP connection to {rs} success.", "ICMP CHECK on service {rs} failed.",
                         "ICMP CHECK on service {rs} of {vs} failed after {n} retries.",
                         "=> ICMP CHECK succeed on service <=", "=> ICMP CHECK failed on service <="),
    "FILE_CHECK": _Texts("FILE_CHECK {label} for {rs} of VS {vs} is up.",
                         "FILE_CHECK {label} for {rs} of VS {vs} is down.",
                         "FILE_CHECK {label} for {rs} of VS {vs} is down.",
                         "=> FILE CHECK succeed on service <=", "=> FILE CHECK failed on service <="),
}  # fmt: skip


def _misc_message(
    c: CheckerState, rs: str, vs: str, ok: bool, reason: str, last_retry: bool
) -> tuple[str, str]:
    """check_misc.c's log line and mail body (``succeeded|failed|timed out`` + retry wording)."""
    head = f"Misc check for [{rs} VS {vs}] by [{c.label}]"
    if ok:
        return f"{head} succeeded.", "=> MISC CHECK succeeded on service <="
    verb = "timed out" if reason == "timed out" else "failed"
    if c.retry == 0:
        tail = " with retry disabled"
    elif last_retry:
        tail = f" after {c.retry} {'retry' if c.retry == 1 else 'retries'}"
    elif c.retry_it == 1:
        tail = f", will do {c.retry} {'retry' if c.retry == 1 else 'retries'}"
    else:
        tail = f" on retry {c.retry_it - 1}/{c.retry}"
    paren = f" ({reason})" if reason and verb == "failed" else ""
    return f"{head} {verb}{tail}{paren}.", f"=> MISC CHECK {verb} on service <="


# ---------------------------------------------------------------------------------------- checker


@dataclass(slots=True)
class CheckerState:
    """One checker's retry state (keepalived's checker_t): ``is_up``, ``has_run``, ``retry_it``.

    ``retry_it`` starts at ``retry`` so the first failure after start marks the checker down at
    once; alpha checkers start down.  ``from_start`` (MISC_CHECK) measures the next run from
    the attempt's start rather than its end.
    """

    kind: str
    timing: CheckTiming
    label: str = ""
    from_start: bool = False
    is_up: bool = True
    has_run: bool = False
    retry_it: int = 0
    cur_weight: int = 0
    #: the configured checker minus what keepalived's compare functions ignore (timing): a checker
    #: equal to this on reload takes over this state (``migrate_checkers``)
    identity: object = None
    #: HTTP_GET / SSL_GET: the urls' paths, fetched one per attempt (empty: the generic epilog)
    url_paths: tuple[str, ...] = ()
    fast_recovery: bool = False
    #: the url the next attempt fetches
    url_it: int = 0
    #: the url that failed while the checker is down (keepalived's ``failed_url``)
    failed_url: int | None = None

    def __post_init__(self) -> None:
        self.is_up = not self.timing.alpha
        self.retry_it = self.timing.retry

    @property
    def retry(self) -> int:
        return self.timing.retry

    def first_run(self, now: float, rand: float) -> float:
        """``now + BOOTSTRAP_DELAY + warmup × rand`` with ``rand`` in [0, 1] (the caller's random)."""
        return now + BOOTSTRAP_DELAY + self.timing.warmup * rand

    def next_run(self, now: float, started: float | None, delay: float) -> float:
        base = started if self.from_start and started is not None else now
        return max(now, base + delay)


def checker_state(checker: Checker) -> CheckerState | None:
    """The state for one configured checker (BFD_CHECK: fed by the BFD process's events, never polled)."""
    if isinstance(checker, BfdCheck):
        return CheckerState(kind=checker.type, timing=replace(_NO_TIMING, alpha=checker.alpha), label=checker.name,
                            identity=checker)
    timing = checker_timing(checker)
    if timing is None:
        return None
    label = ""
    if isinstance(checker, MiscCheck):
        label = checker.misc_path.argv[0] if checker.misc_path.argv else ""
    elif isinstance(checker, FileCheck):
        label = checker.track_file
    if isinstance(checker, HttpCheck):
        return CheckerState(kind=checker.type, timing=timing, identity=_identity(checker),
                            url_paths=tuple(u.path for u in checker.urls), fast_recovery=checker.fast_recovery)
    return CheckerState(kind=checker.type, timing=timing, label=label, identity=_identity(checker),
                        from_start=isinstance(checker, MiscCheck))


_NO_TIMING = CheckTiming(delay_loop=0.0, retry=0, delay_before_retry=0.0, warmup=0.0)


def _identity(checker: Checker) -> object:
    """What must be equal for a reloaded checker to keep its state: everything but the timing (and, for
    HTTP, the options keepalived's ``compare_http_check`` does not look at)."""
    if isinstance(checker, HttpCheck):
        return replace(checker, timing=_NO_TIMING, fast_recovery=False)
    if isinstance(checker, FileCheck | BfdCheck):
        return checker
    return replace(checker, timing=_NO_TIMING)  # type: ignore[arg-type]  # every other kind has a timing


# ------------------------------------------------------------------------------------ real server


@dataclass(slots=True)
class RealServerState:
    """keepalived's real_server_t runtime fields: alive, failed-checker count, effective weight."""

    config: RealServer
    checkers: list[CheckerState]
    alive: bool = False
    num_failed: int = 0
    effective_weight: int = 0
    #: FMT_RS text, ``[ip]:proto:port`` (computed once: it is in every log line)
    name: str = ""

    @property
    def key(self) -> DestKey:
        return rs_key(self.config)

    @property
    def weight(self) -> int:
        """The weight IPVS gets while the server is alive."""
        return real_weight(self.effective_weight)


# --------------------------------------------------------------------------------- virtual server


class VirtualServerState:
    """All health state of one virtual server: its real servers, quorum and sorry server.

    ``start(now)`` performs keepalived's init_service_vs (non-alpha RS alive before their first
    check, quorum evaluated, sorry server added if quorum is down); ``record()`` is the epilog of
    one attempt; ``stop()`` the omega shutdown notifies.  Every method returns the events.
    """

    def __init__(self, vs: VirtualServer, settings: Settings | None = None) -> None:
        self.config = vs
        self.settings = settings or Settings()
        self.id: VsId = vs_id(vs)
        self.name = vs.describe()
        self.quorum_up = False
        self.sorry_alive = False
        self.started = False
        self.servers: dict[DestKey, RealServerState] = {}
        #: :meth:`destinations` and :meth:`services` as last made, and what they were made of
        self._dest_signature: tuple[bool, list[bool], list[int]] | None = None
        self._dests: tuple[Destination, ...] = ()
        self._services_of: tuple[tuple[Destination, ...] | None, VirtualServerGroup | None] = (None, None)
        self._services: tuple[tuple[ServiceKey, Service], ...] = ()
        for rs in vs.real_servers:
            checkers = [c for c in (checker_state(ch) for ch in rs.checkers) if c is not None]
            r = RealServerState(config=rs, checkers=checkers, effective_weight=rs.weight,
                                name=format_trio(rs.ip, rs.port, vs.protocol))
            r.num_failed = sum(1 for c in checkers if not c.is_up)
            self.servers[r.key] = r

    # -- formatting

    def _fmt_rs(self, r: RealServerState) -> str:
        return r.name

    def _fmt_sorry(self) -> str:
        s = self.config.sorry_server
        assert s is not None
        return format_trio(s.ip, s.port or self.config.port, self.config.protocol)

    def _rs_mail(self, r: RealServerState, up: bool, body: str) -> MailAlert:
        return MailAlert(f"[{self.settings.router_id}] Realserver {self._fmt_rs(r)} of virtual server "
                         f"{self.name} - {'UP' if up else 'DOWN'}", body)

    # -- keepalived's ipwrapper.c

    def weight_sum(self) -> int:
        return sum(r.weight for r in self.servers.values() if r.alive)

    def _rs_notifies(self, r: RealServerState, ev: list[Event], stopping: bool = False) -> None:
        script = r.config.notify_up if r.alive else r.config.notify_down
        if script is not None:
            ev.append(RunScript(script, "notify_up" if r.alive else "notify_down", 1.0 if stopping else None))
        ev.append(FifoLine(f"RS {self._fmt_rs(r)} {self.name} {'UP' if r.alive else 'DOWN'}\n"))

    def _vs_notifies(self, ev: list[Event], init: bool, threshold: int, weight_sum: int,
                     stopping: bool = False) -> None:
        ev.append(QuorumChanged(self.id, self.quorum_up))
        if stopping and not self.config.omega:
            return
        up = self.quorum_up
        script = self.config.quorum_up if up else self.config.quorum_down
        if script is not None:
            ev.append(RunScript(script, "quorum_up" if up else "quorum_down", 1.0 if stopping else None))
        ev.append(FifoLine(f"VS {self.name} {'UP' if up else 'DOWN'}\n"))
        if self.config.smtp_alert:
            if stopping:
                body = "=> Shutting down <="
            else:
                what = ("Starting with quorum up" if init else "Gained quorum") if up else \
                    ("Starting with quorum down" if init else "Lost quorum")
                q, h = self.config.quorum, self.config.hysteresis
                body = f"=> {what} {q}+{h}={threshold} <= {weight_sum} <="
            ev.append(MailAlert(f"[{self.settings.router_id}] Virtualserver {self.name} - "
                                f"{'UP' if up else 'DOWN'}", body))

    def _quorum_pool(self, ev: list[Event], add: bool) -> None:
        ev.append(Log(f"{'Adding alive servers to' if add else 'Removing alive servers from'} "
                      f"the pool for VS {self.name}"))

    def _update_quorum(self, ev: list[Event], init: bool) -> None:
        vs = self.config
        ws = self.weight_sum()
        threshold = vs.quorum + (-1 if self.quorum_up else 1) * vs.hysteresis
        sorry = vs.sorry_server
        if not self.quorum_up and ws >= threshold:
            self.quorum_up = True
            ev.append(Log(f"Gained quorum {vs.quorum}+{vs.hysteresis}={threshold} <= {ws} "
                          f"for VS {self.name}"))
            if sorry is not None and self.sorry_alive:
                ev.append(Log(f"{'Disabling' if sorry.inhibit else 'Removing'} sorry server "
                              f"{self._fmt_sorry()} from VS {self.name}"))
                self.sorry_alive = False
                self._quorum_pool(ev, True)
            self._vs_notifies(ev, init, threshold, ws)
        elif (self.quorum_up and (ws == 0 or ws < threshold)) or \
                (init and not self.quorum_up and sorry is not None and not self.sorry_alive):
            self.quorum_up = False
            ev.append(Log(f"{'Starting with quorum down' if init else 'Lost quorum'} "
                          f"{vs.quorum}-{vs.hysteresis}={threshold} > {ws} for VS {self.name}"))
            if sorry is not None and not self.sorry_alive:
                ev.append(Log(f"{'Enabling' if sorry.inhibit else 'Adding'} sorry server "
                              f"{self._fmt_sorry()} to VS {self.name}"))
                self._quorum_pool(ev, False)
                self.sorry_alive = True
            self._vs_notifies(ev, init, threshold, ws)

    def _perform_svr_state(self, r: RealServerState, alive: bool, ev: list[Event]) -> None:
        if r.alive == alive:
            return
        inhibit = r.config.inhibit_on_failure
        verb = ("Enabl" if inhibit else "Add") if alive else ("Disabl" if inhibit else "Remov")
        prep = "of" if inhibit else ("to" if alive else "from")
        ev.append(Log(f"{verb}ing service {self._fmt_rs(r)} {prep} VS {self.name}"))
        r.alive = alive
        ev.append(RealServerChanged(self.id, r.key, alive))
        self._rs_notifies(r, ev)
        self._update_quorum(ev, False)

    def _update_svr_checker_state(self, r: RealServerState, idx: int, alive: bool, ev: list[Event]) -> None:
        c = r.checkers[idx]
        if c.is_up == alive:
            if not c.has_run:
                if c.timing.alpha or not alive:
                    self._rs_notifies(r, ev)
                c.has_run = True
            return
        c.has_run = True
        if alive:
            if r.num_failed <= 1:
                self._perform_svr_state(r, True, ev)
        elif r.num_failed == 0:
            self._perform_svr_state(r, False, ev)
        c.is_up = alive
        r.num_failed += -1 if alive else 1
        r.num_failed = max(0, r.num_failed)
        ev.append(CheckerChanged(self.id, r.key, idx, alive))

    def _update_weight(self, r: RealServerState, new: int, ev: list[Event]) -> None:
        old_w, new_w = r.weight, real_weight(new)
        r.effective_weight = new
        if old_w != new_w:
            ev.append(Log(f"Changing weight from {old_w} to {new_w} for {'' if r.alive else 'in'}active "
                          f"service {self._fmt_rs(r)} of VS {self.name}"))
            ev.append(WeightChanged(self.id, r.key, old_w, new_w))
            self._update_quorum(ev, False)

    # -- public API

    def start(self, now: float, known_down: Collection[DestKey] = ()) -> list[Event]:
        """init_service_vs: RS with no failed checkers are alive at once; quorum (and sorry) evaluated.

        ``known_down``: real servers the data plane holds out of the pool although they are configured in
        it (the checker process was restarted after a crash and found its table): they start as alpha ones
        do, down until each of their checkers has passed, so a dead server is not put back before a check
        has even run."""
        ev: list[Event] = []
        self.started = True
        for key in known_down:
            r = self.servers.get(key)
            if r is not None and r.checkers:
                for c in r.checkers:
                    c.is_up = False
                r.num_failed = len(r.checkers)
        for r in self.servers.values():
            self._start_rs(r, ev)
        self._update_quorum(ev, True)
        return ev

    def take_over(self, old: VirtualServerState, kept: Collection[DestKey] = ()) -> list[Event]:
        """Reload of a virtual server that was already configured, instead of :meth:`start`.

        keepalived's ``clear_diff_rs`` / ``migrate_checkers`` / ``init_service_rs``: real servers no
        longer configured are removed (with their down notifies); those still there keep their alive
        flag and take the newly configured weight (plus the dynamic part of the checkers they keep),
        and each checker equal to an old one of the same real server (same type and
        options; timing may differ) keeps its up/down state, has-run flag and retry count (clipped
        to the new ``retry``), so a reload neither re-adds a dead server nor drops a live one.  A real
        server that is new, or whose checkers are all new, starts as at start-up.  ``kept``: real servers
        whose state object this one already holds, the old one's (unchanged configuration: their checks
        go on as scheduled), left as they are.
        """
        ev: list[Event] = []
        self.started = True
        self.quorum_up = old.quorum_up
        self.sorry_alive = old.sorry_alive and old.config.sorry_server == self.config.sorry_server
        for key, gone in old.servers.items():
            if key not in self.servers:
                ev.append(Log(f"service {gone.name} no longer exist"))
                old._clear_rs(gone, ev, stopping=False)
        old._update_vs_notifies(ev)
        for key, r in self.servers.items():
            if key in kept:
                continue
            prev = old.servers.get(key)
            if prev is None:
                self._start_rs(r, ev)
            else:
                self._migrate_rs(prev, r, ev)
        self._update_quorum(ev, True)
        return ev

    def removed(self) -> list[Event]:
        """Reload without this virtual server (``clear_service_vs`` not stopping): its servers go, with notifies."""
        ev: list[Event] = [Log(f"Removing Virtual Server {self.name}")]
        for r in self.servers.values():
            self._clear_rs(r, ev, stopping=False)
        self.sorry_alive = False
        self._update_vs_notifies(ev)
        return ev

    def _clear_rs(self, r: RealServerState, ev: list[Event], stopping: bool) -> None:
        """``clear_service_rs``: out of the pool; an alive server's down notifies (on shutdown only with omega)."""
        inhibited = r.config.inhibit_on_failure and not r.alive
        if r.alive or inhibited or stopping:  # "set" (in the pool), or shutting down
            ev.append(Log(f"{'Shutting down' if stopping else 'Removing'} {'(inhibited) ' if inhibited else ''}"
                          f"service {r.name} from VS {self.name}"))
        if not r.alive:
            return
        r.alive = False
        ev.append(RealServerChanged(self.id, r.key, False))
        if stopping and not self.config.omega:
            return
        self._rs_notifies(r, ev, stopping=stopping)
        if r.config.smtp_alert:
            ev.append(self._rs_mail(r, False, "=> Shutting down <=" if stopping else "=> Removing <="))

    def _update_vs_notifies(self, ev: list[Event]) -> None:
        """``update_vs_notifies`` (not stopping): quorum lost because servers were removed."""
        threshold = self.config.quorum - self.config.hysteresis
        ws = self.weight_sum()
        if self.quorum_up and (ws == 0 or ws < threshold):
            self.quorum_up = False
            self._vs_notifies(ev, False, threshold, ws)

    def _start_rs(self, r: RealServerState, ev: list[Event]) -> None:
        """``init_service_rs`` for one server: in the pool at once unless a checker starts failed (alpha)."""
        if r.num_failed == 0 and not r.alive:
            r.alive = True
            ev.append(RealServerChanged(self.id, r.key, True))
            if self.settings.rs_init_notifies:
                self._rs_notifies(r, ev)

    def _migrate_rs(self, o: RealServerState, r: RealServerState, ev: list[Event]) -> None:
        """``migrate_checkers`` for a real server present before and after a reload."""
        r.alive = o.alive
        # the weight is the new configuration's (keeping the old effective weight left a changed weight
        # out of the data plane until the next restart); a kept checker's misc_dynamic part stays on it
        r.effective_weight = r.config.weight
        for c in r.checkers:
            c.is_up = True  # on reload keepalived does not pre-set alpha checkers down nor retry_it = retry
            c.retry_it = 0
            prev = next((p for p in o.checkers if p.kind == c.kind and p.identity == c.identity), None)
            if prev is None:
                continue
            if prev.has_run:
                c.is_up = prev.is_up
            c.has_run = prev.has_run
            if prev.retry_it and c.retry:
                c.retry_it = c.retry - 1 if prev.retry_it >= c.retry else prev.retry_it
            c.cur_weight = prev.cur_weight
            r.effective_weight += c.cur_weight
        failed = sum(1 for c in r.checkers if c.has_run and not c.is_up)
        if failed or (not r.alive and not any(c.has_run for c in r.checkers)):
            for c in r.checkers:
                if not c.has_run:
                    if c.timing.alpha:
                        c.is_up = False
                    c.retry_it = c.retry  # one failure is enough
        r.num_failed = sum(1 for c in r.checkers if not c.is_up)
        if r.num_failed == 0 and not r.alive:
            self._perform_svr_state(r, True, ev)
        elif r.num_failed and r.alive:
            self._perform_svr_state(r, False, ev)

    def record(self, rs: DestKey, index: int, now: float, result: Result,
               started: float | None = None) -> tuple[float, list[Event]]:
        """The epilog of one attempt (``tcp_epilog`` & co): returns (next run time, events)."""
        return self.record_for(self.servers[rs], index, now, result, started)

    def record_for(self, r: RealServerState, index: int, now: float, result: Result,
                   started: float | None = None) -> tuple[float, list[Event]]:
        """:meth:`record` for a real server's state already at hand (the runner keeps it per job)."""
        c = r.checkers[index]
        if result.ok and c.is_up and c.has_run and not result.note and not result.skip \
                and result.weight_delta is None:
            # the steady state of a healthy server, thousands of times a second: what the full epilog
            # below does for it (no event, retries reset, next url, delay_loop), without the rest
            c.retry_it = 0
            if c.url_paths:
                if c.failed_url is not None:
                    ev: list[Event] = []
                    return c.next_run(now, started, self._http_epilog(r, index, result, ev)), ev
                c.url_it = 0 if c.url_it == len(c.url_paths) - 1 else c.url_it + 1
            if c.from_start:
                return c.next_run(now, started, c.timing.delay_loop), []
            return now + c.timing.delay_loop, []  # (next_run: max(now, now + delay_loop))
        ev = [Log(result.note)] if result.note else []
        if result.skip:
            ev.append(Log(result.reason))
            return c.next_run(now, started, c.timing.delay_loop), ev
        if c.url_paths:
            return c.next_run(now, started, self._http_epilog(r, index, result, ev)), ev
        ok = result.ok
        fmt_rs = self._fmt_rs(r)
        texts = _TEXTS.get(c.kind)
        if ok and result.weight_delta is not None and result.weight_delta != c.cur_weight:
            new = r.effective_weight - c.cur_weight + result.weight_delta
            c.cur_weight = result.weight_delta
            self._update_weight(r, new, ev)
        if ok or ((c.is_up or not c.has_run) and c.retry_it >= c.retry):
            c.retry_it = 0
            delay = c.timing.delay_loop
            was_up, was_alive = c.is_up, r.alive
            if ok and (not c.is_up or not c.has_run):
                if c.kind == "MISC_CHECK":
                    text, mail = _misc_message(c, fmt_rs, self.name, True, result.reason, False)
                else:
                    assert texts is not None
                    text, mail = texts.up.format(rs=fmt_rs, vs=self.name, label=c.label), texts.mail_up
                ev.append(Log(text))
                self._update_svr_checker_state(r, index, True, ev)
                if r.config.smtp_alert and not was_up and \
                        (was_alive != r.alive or not self.settings.no_checker_emails):
                    ev.append(self._rs_mail(r, True, mail))
            elif not ok and (c.is_up or not c.has_run):
                if c.kind == "MISC_CHECK":
                    text, mail = _misc_message(c, fmt_rs, self.name, False, result.reason, True)
                else:
                    assert texts is not None
                    tmpl = texts.down_retries if c.retry and c.has_run else texts.down
                    text = tmpl.format(rs=fmt_rs, vs=self.name, n=c.retry, label=c.label,
                                       reason=result.reason or "failed")
                    mail = texts.mail_down
                ev.append(Log(text))
                if c.cur_weight:  # a failure drops the dynamic contribution (silently, as keepalived)
                    r.effective_weight -= c.cur_weight
                    c.cur_weight = 0
                self._update_svr_checker_state(r, index, False, ev)
                if r.config.smtp_alert and was_up and \
                        (was_alive != r.alive or not self.settings.no_checker_emails):
                    ev.append(self._rs_mail(r, False, mail))
        elif c.is_up:
            delay = c.timing.delay_before_retry
            c.retry_it += 1
            if self.settings.checker_log_all_failures or c.timing.log_all_failures:
                if c.kind == "MISC_CHECK":
                    ev.append(Log(_misc_message(c, fmt_rs, self.name, False, result.reason, False)[0]))
                else:
                    why = f": {result.reason}" if result.reason else ""
                    n = f"(retry {c.retry_it}/{c.retry})"
                    ev.append(Log(f"{c.kind} on service {fmt_rs} failed{why} {n}."))
        else:
            delay = c.timing.delay_loop
        c.has_run = True
        return c.next_run(now, started, delay), ev

    def _http_epilog(self, r: RealServerState, index: int, result: Result, ev: list[Event]) -> float:
        """check_http.c's ``timeout_epilog()`` / ``epilog()``: returns the delay before the next attempt.

        One url per attempt: a success moves on to the next url (after delay_loop) and the checker is
        up once all have passed in a row; a failure retries the same url every delay_before_retry and
        after retry+1 failures the checker is down and that url is polled every max(delay_before_retry,
        delay_loop); when it passes, all urls are walked again before the checker is up (so recovery
        takes one delay_loop more than with TCP_CHECK).  ``fast_recovery`` skips the delay while the
        checker has not run yet, or is down with no failed url.  ``result.reason`` is keepalived's
        message: the failure (``Timeout connecting``, ``HTTP status code error to`` ...) or what passed
        (``HTTP status code``, ``MD5 digest``, ``Regex match``).
        """
        c = r.checkers[index]
        t = c.timing
        texts = _TEXTS[c.kind]
        if result.ok:  # epilog(REGISTER_CHECKER_NEW)
            if not c.is_up:
                ev.append(Log(f"{result.reason} success to {r.name} url({c.url_paths[c.url_it]})"))
            passed_all = c.url_it == len(c.url_paths) - 1
            c.url_it = 0 if passed_all else c.url_it + 1
            c.retry_it = 0
            if passed_all and c.failed_url is None:
                if not c.is_up or not c.has_run:
                    ev.append(Log(texts.up.format(rs=r.name)))
                    was_up, was_alive = c.is_up, r.alive
                    self._update_svr_checker_state(r, index, True, ev)
                    if not was_up and r.config.smtp_alert and \
                            (was_alive != r.alive or not self.settings.no_checker_emails):
                        ev.append(self._rs_mail(r, True, texts.mail_up))
                    c.has_run = True
            elif c.failed_url is not None:  # the failed url passes again: walk them all from the first
                c.failed_url = None
                c.url_it = 0
            delay = t.delay_loop
            if not c.has_run:
                c.retry_it = c.retry
        else:
            if c.is_up or not c.has_run:  # timeout_epilog: retry (else already known dead: no retry)
                if self.settings.checker_log_all_failures or t.log_all_failures:
                    ev.append(Log(f"{result.reason} server {r.name}."))
                c.has_run = True
                c.retry_it += 1  # epilog(REGISTER_CHECKER_RETRY)
                if c.retry_it > c.retry:
                    if c.is_up:
                        tmpl = texts.down_retries if c.retry else texts.down
                        ev.append(Log(tmpl.format(rs=r.name, n=c.retry_it - 1)))
                        was_alive = r.alive
                        self._update_svr_checker_state(r, index, False, ev)
                        if r.config.smtp_alert and (was_alive != r.alive or not self.settings.no_checker_emails):
                            ev.append(self._rs_mail(r, False, texts.mail_down))
                    c.failed_url = c.url_it
            delay = max(t.delay_before_retry, t.delay_loop) if c.failed_url is not None else t.delay_before_retry
        if c.fast_recovery and (not c.has_run or (not c.is_up and c.failed_url is None)):
            delay = 0.0
        return delay

    def bfd_event(self, r: RealServerState, index: int, up: bool) -> list[Event]:
        """A BFD session this real server's BFD_CHECK ``index`` follows went up or down (keepalived's
        check_bfd.c ``bfd_check_handle_event``): the verdict goes straight to update_svr_checker_state,
        no retry; nothing happens when the checker already says so (and has run)."""
        c = r.checkers[index]
        ev: list[Event] = []
        if up == c.is_up and c.has_run:
            return ev
        ev.append(Log(f"BFD check of [{c.label}] RS({self._fmt_rs(r)}) is {'UP' if up else 'DOWN'}"))
        was_up, was_alive = c.is_up, r.alive
        self._update_svr_checker_state(r, index, up, ev)
        if r.config.smtp_alert and (was_alive != r.alive or not self.settings.no_checker_emails) \
                and up != was_up:
            ev.append(self._rs_mail(r, up, f"=> BFD CHECK {c.label} {'succeeded' if up else 'failed'} on service <="))
        return ev

    def stop(self) -> list[Event]:
        """Shutdown (clear_service_vs): RS/VS down notifies, FIFO and mails only with omega."""
        ev: list[Event] = []
        for r in self.servers.values():
            self._clear_rs(r, ev, stopping=True)
        self.quorum_up = False
        self.sorry_alive = False
        self._vs_notifies(ev, False, self.config.quorum - self.config.hysteresis, 0, stopping=True)
        return ev

    # -- views

    def destinations(self) -> tuple[Destination, ...]:
        """The real servers (and sorry server) the data plane should hold for this VS: alive ones with their
        weight, inhibited ones (inhibit_on_failure) with weight 0, and the sorry server while quorum is down.

        Made again only when what it is made of changed (the sorry server's state, each real server's alive
        flag and effective weight): the desired table is asked for on every reconcile, and at 37,000 real
        servers making it all each time was a tenth of the checker process's CPU at rest."""
        servers = self.servers.values()
        signature = (self.sorry_alive, [r.alive for r in servers], [r.effective_weight for r in servers])
        if signature == self._dest_signature:
            return self._dests
        vs = self.config
        sorry = vs.sorry_server
        sorry_active = sorry is not None and self.sorry_alive
        out: dict[DestKey, Destination] = {}
        for r in servers:
            rs = r.config
            inhibit = rs.inhibit_on_failure
            if sorry_active:
                if not inhibit:
                    continue
                weight = 0
            elif r.alive:
                weight = r.weight
            elif inhibit:
                weight = 0
            else:
                continue
            key = r.key
            out[key] = Destination(key, weight, Forward(rs.forwarding.method.value),
                                   rs.uthreshold or 0, rs.lthreshold or 0)
        if sorry is not None and (sorry_active or sorry.inhibit):
            key = DestKey(sorry.ip, sorry.port or vs.port)
            out[key] = Destination(key, 1 if sorry_active else 0, Forward(sorry.forwarding.method.value))
        self._dests = tuple(out[k] for k in sorted(out, key=DestKey.sort_key))
        self._dest_signature = signature
        return self._dests

    def services(self, groups: Mapping[str, VirtualServerGroup]) -> tuple[tuple[ServiceKey, Service], ...]:
        """This VS's services in the desired table, each with its key (a group expands to several); made
        again only when its destinations or its group changed."""
        vs = self.config
        dests = self.destinations()
        group = groups.get(vs.group) if vs.group is not None else None
        if dests is self._services_of[0] and group is self._services_of[1]:
            return self._services
        self._services = tuple(
            (key, Service(key=key, scheduler=vs.lvs_sched, flags=frozenset(vs.sched_flags),
                          persistence_timeout=vs.persistence_timeout, persistence_netmask=_netmask(vs),
                          destinations=dests))
            for key in service_keys(vs, groups))
        self._services_of = (dests, group)
        return self._services


# ----------------------------------------------------------------------------------- desired table


def service_keys(vs: VirtualServer, groups: Mapping[str, VirtualServerGroup]) -> Iterator[ServiceKey]:
    """The data-plane services one virtual_server stands for (a group expands to several)."""
    proto = vs.protocol.value.lower() if vs.protocol is not None else "tcp"
    family = 6 if vs.ip_family.value == "inet6" else 4
    if vs.fwmark is not None:
        yield ServiceKey.mark(vs.fwmark, family)
    elif vs.address is not None:
        yield ServiceKey.inet(proto, vs.address, vs.port)
    elif vs.group is not None and vs.group in groups:
        g = groups[vs.group]
        for entry in g.addresses:
            first, last = int(entry.first), int(entry.last)
            for n in range(first, last + 1):
                yield ServiceKey.inet(proto, ipaddress.ip_address(n) if entry.first.version == 4
                                      else ipaddress.IPv6Address(n), entry.port)
        for fw in g.fwmarks:
            fam = family if fw.family is None else (6 if fw.family.value == "inet6" else 4)
            yield ServiceKey.mark(fw.fwmark, fam)


def _netmask(vs: VirtualServer) -> int | None:
    g = vs.persistence_granularity
    if g is None:
        return None
    if isinstance(g, int):
        return g
    return ipaddress.IPv4Network(f"0.0.0.0/{g}").prefixlen


def desired_table(virtual_servers: Iterable[VirtualServer], health: Mapping[VsId, VirtualServerState],
                  groups: Iterable[VirtualServerGroup] = ()) -> Table:
    """The data plane's desired state from config + health.

    A virtual server missing from ``health`` is taken in its start-up state (non-alpha RS in,
    alpha RS out, sorry server if quorum is down), so the table is right before the first check.
    """
    gmap = {g.name: g for g in groups}
    services: dict[ServiceKey, Service] = {}
    for vs in virtual_servers:
        st = health.get(vs_id(vs))
        if st is None:
            st = VirtualServerState(vs)
            st.start(0.0)
        services.update(st.services(gmap))
    return Table(tuple(services[k] for k in sorted(services, key=ServiceKey.sort_key)))
