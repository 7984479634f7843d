"""SMTP alerts, byte for byte as keepalived sends them (``keepalived/core/smtp.c``).

Two halves:

* pure: which VRRP transitions produce a mail and with which subject/body
  (:class:`VrrpAlerts`, keepalived's ``vrrp_smtp_notifier`` / ``vrrp_sync_smtp_notifier``), and the
  exact SMTP dialogue for one alert (:func:`build_message`) — HELO, MAIL FROM, one RCPT TO per
  recipient, DATA with keepalived's headers (``Date`` / ``From`` / ``Subject`` / ``X-Mailer`` /
  folded ``To``), QUIT.  Real-server and virtual-server subjects/bodies are built by the checker
  state logic (:mod:`pykeepalived.check.state`, a pure core that imports nothing from here), whose
  :class:`pykeepalived.check.state.MailAlert` events :meth:`Mailer.send_alert` takes as any :class:`Alert`.
* asyncio: :func:`send` speaks the dialogue with ``smtp_connect_timeout`` as the deadline of every
  step, and :class:`Mailer` queues alerts and sends them in the background (never blocking the
  caller), logging failures with keepalived's wording.

keepalived opens one connection per alert, all at once; here a single worker sends them one after
another, so the SMTP server receives alerts in the order they were raised, and a bounded queue
keeps a dead mail server from growing memory without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import pwd
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pykeepalived.config.model_global import GlobalDefs

log = logging.getLogger("pykeepalived.notify")

#: keepalived's MAX_HEADERS_LENGTH / MAX_BODY_LENGTH (C buffers, so one byte less of text)
MAX_SUBJECT = 255
MAX_BODY = 511
#: alerts waiting to be sent; more are dropped (with a log line) while the server is unreachable
QUEUE_SIZE = 100
#: how long :meth:`Mailer.close` waits for queued alerts by default
CLOSE_TIMEOUT = 5.0

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class MailAlert:
    """One alert: the full subject (``[router_id] …``) and the body line."""

    subject: str
    body: str


class Alert(Protocol):
    """Anything with a subject and a body (the checker's MailAlert events qualify)."""

    @property
    def subject(self) -> str: ...

    @property
    def body(self) -> str: ...


# ---------------------------------------------------------------------------------------- VRRP texts


#: vrrp_smtp_notifier: state -> (subject tail, body)
INSTANCE_TEXTS: dict[str, tuple[str, str]] = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
    "DELETED": ("Deleted", "=> VRRP Deleted at reload <="),
}
#: vrrp_sync_smtp_notifier: state -> (subject tail, body); a group has no DELETED mail
GROUP_TEXTS: dict[str, tuple[str, str]] = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}


def _state_name(state: object) -> str:
    """``State.MASTER``, ``"MASTER"`` … -> ``"MASTER"`` (the FSM enum and plain names both work)."""
    name = getattr(state, "name", state)
    return str(name).upper()


def instance_alert(router_id: str, instance: str, state: object) -> MailAlert | None:
    """The mail keepalived sends when VRRP instance ``instance`` enters ``state`` (None: no mail)."""
    texts = INSTANCE_TEXTS.get(_state_name(state))
    if texts is None:
        return None
    return MailAlert(f"[{router_id}] VRRP Instance {instance} - {texts[0]}", texts[1])


def group_alert(router_id: str, group: str, state: object) -> MailAlert | None:
    """The mail keepalived sends when sync group ``group`` enters ``state`` (None: no mail)."""
    texts = GROUP_TEXTS.get(_state_name(state))
    if texts is None:
        return None
    return MailAlert(f"[{router_id}] VRRP Group {group} - {texts[0]}", texts[1])


def mail_configured(gd: GlobalDefs) -> bool:
    """keepalived sends nothing unless ``notification_email`` and ``smtp_server`` are both set."""
    return bool(gd.notification_email) and gd.smtp_server is not None


def vrrp_smtp_alert(value: bool | None, gd: GlobalDefs) -> bool:
    """An instance's or sync group's ``smtp_alert``: its own, else ``smtp_alert_vrrp``, else ``smtp_alert``.

    keepalived resolves this once at startup (vrrp.c); instances arrive already resolved from the
    config loader, sync groups may still say None.
    """
    if value is not None:
        return value
    return next((v for v in (gd.smtp_alert_vrrp, gd.smtp_alert) if v is not None), False)


class VrrpAlerts:
    """Which VRRP state changes produce a mail: pure, remembers the last state mailed per subject.

    keepalived mails a transition when the instance's (or group's) ``smtp_alert`` is on, the new
    state differs from the last state mailed (``last_email_state``), and, with ``no_email_faults``,
    the state is not FAULT.  The caller passes DELETED only when the instance has
    ``notify_deleted`` (otherwise keepalived reports a removed instance as FAULT).
    """

    def __init__(self, gd: GlobalDefs) -> None:
        self.gd = gd
        self._last: dict[tuple[str, str], str] = {}

    @property
    def router_id(self) -> str:
        return self.gd.router_id or socket.gethostname()

    def instance(self, name: str, state: object, smtp_alert: bool | None) -> MailAlert | None:
        """The alert for instance ``name`` entering ``state``, or None."""
        if not self._wanted(("i", name), state, smtp_alert):
            return None
        alert = instance_alert(self.router_id, name, state)
        if alert is not None:
            self._last[("i", name)] = _state_name(state)
        return alert

    def group(self, name: str, state: object, smtp_alert: bool | None) -> MailAlert | None:
        """The alert for sync group ``name`` entering ``state``, or None."""
        if not self._wanted(("g", name), state, smtp_alert):
            return None
        alert = group_alert(self.router_id, name, state)
        if alert is not None:
            self._last[("g", name)] = _state_name(state)
        return alert

    def forget(self, name: str) -> None:
        """Drop what was remembered about an instance or group removed on reload."""
        self._last.pop(("i", name), None)
        self._last.pop(("g", name), None)

    def _wanted(self, key: tuple[str, str], state: object, smtp_alert: bool | None) -> bool:
        s = _state_name(state)
        if not vrrp_smtp_alert(smtp_alert, self.gd):
            return False
        if self.gd.no_email_faults and s == "FAULT":
            return False
        return self._last.get(key) != s


# ---------------------------------------------------------------------------------------- message


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the dialogue and the reply code keepalived expects (``SMTP_FSM``)."""

    name: str
    data: bytes
    expect: int


@dataclass(frozen=True, slots=True)
class Message:
    """The whole dialogue for one alert, after the server's 220 banner, up to (not including) QUIT."""

    steps: tuple[Step, ...]

    @property
    def data(self) -> bytes:
        """Everything the client writes, in order, QUIT included (for tests and debugging)."""
        return b"".join(s.data for s in self.steps) + QUIT.data


#: the server's greeting keepalived waits for, and the closing command
BANNER = Step("(E)SMTP", b"", 220)
QUIT = Step("QUIT", b"QUIT\r\n", 221)


def rfc822_date(now: float) -> str:
    """``Mon, 01 Mar 2021 09:44:08 +0000`` in local time (strftime ``%a, %d %b %Y %H:%M:%S %z``, C locale)."""
    t = datetime.datetime.fromtimestamp(now).astimezone()
    offset = t.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} {sign}{hh:02d}{mm:02d}")


def envelope_address(addr: str) -> str:
    """``Name <a@b>`` -> ``<a@b>`` (from the last ``<``), ``a@b`` -> ``<a@b>``: keepalived's rule."""
    if addr.endswith(">") and "<" in addr:
        return addr[addr.rindex("<"):]
    return f"<{addr}>"


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def build_message(
    *,
    helo: str | None,
    mail_from: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    now: float,
) -> Message:
    """keepalived's dialogue for one alert.

    ``helo`` None gives ``HELO localhost``.  Subject and body are cut to keepalived's buffer
    sizes.  One deliberate difference: a body line starting with ``.`` is dot-stuffed (keepalived
    would send it as is, and the server would cut the message there); keepalived's own bodies
    never start with a dot, so their bytes are unchanged.
    """
    subject = _one_line(subject)[:MAX_SUBJECT]
    body = body[:MAX_BODY]
    body = "\r\n".join("." + line if line.startswith(".") else line for line in body.split("\r\n"))
    to = "".join(("" if i == 0 else ",\r\n") + " " + addr for i, addr in enumerate(recipients))
    data = (
        f"Date: {rfc822_date(now)}\r\n"
        f"From: {mail_from}\r\n"
        f"Subject: {subject}\r\n"
        "X-Mailer: Keepalived\r\n"
        f"To:{to}\r\n"
        "\r\n"
        f"{body}\r\n"
        "\r\n.\r\n"
    )
    steps = [
        Step("HELO", f"HELO {helo or 'localhost'}\r\n".encode(), 250),
        Step("MAIL", f"MAIL FROM:{envelope_address(mail_from)}\r\n".encode(), 250),
        *(Step("RCPT", f"RCPT TO:{envelope_address(a)}\r\n".encode(), 250) for a in recipients),
        Step("DATA", b"DATA\r\n", 354),
        Step("BODY", data.encode("utf-8", "replace"), 250),
    ]
    return Message(tuple(steps))


# ---------------------------------------------------------------------------------------- sending


def format_server(host: str, port: int) -> str:
    """``FMT_SMTP_HOST``: ``[addr]:port``."""
    return f"[{host}]:{port}"


async def _read_reply(reader: asyncio.StreamReader) -> int | None:
    """The code of the last line of a (possibly multi-line) reply; None if the server closed."""
    while True:
        line = await reader.readline()
        if not line.endswith(b"\n"):
            return None
        if len(line) > 3 and line[3:4] == b"-":
            continue
        try:
            return int(line[:3])
        except ValueError:
            continue  # keepalived ignores lines it cannot read a code from


async def send(host: str, port: int, message: Message, timeout: float) -> bool:
    """Speak ``message``'s dialogue with the server; True when the server accepted the mail.

    ``timeout`` bounds each step (connect, banner, every command's reply), as
    ``smtp_connect_timeout`` does in keepalived.  Failures are logged with keepalived's wording.
    """
    server = format_server(host, port)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        log.info("Timeout opening connection to remote SMTP server %s.", server)
        return False
    except OSError:
        log.info("SMTP connection ERROR to %s.", server)
        return False
    with contextlib.suppress(Exception):
        sock = writer.get_extra_info("peername")
        if sock:
            server = format_server(sock[0], sock[1])
    log.debug("Remote SMTP server %s connected.", server)
    sent = False
    try:
        for step in (BANNER, *message.steps):
            try:
                async with asyncio.timeout(timeout):
                    if step.data:
                        writer.write(step.data)
                        await writer.drain()
            except (OSError, TimeoutError):
                log.info("Cannot send data to remote SMTP server %s.", server)
                return False
            try:
                async with asyncio.timeout(timeout):
                    code = await _read_reply(reader)
            except TimeoutError:
                log.info("Timeout reading data to remote SMTP server %s.", server)
                break
            except ValueError:  # a reply line longer than the stream's limit
                log.info("Received buffer from remote SMTP server %s overflow our get read buffer length.", server)
                break
            except OSError:
                log.info("Error reading data from remote SMTP server %s.", server)
                break
            if code is None:
                log.info("Remote SMTP server %s has closed the connection.", server)
                return False
            if code != step.expect:
                log.info("Error processing %s cmd on SMTP server %s. SMTP status code = %d",
                         step.name, server, code)
                break
            if step.name == "BODY":
                sent = True
                log.debug("SMTP alert successfully sent.")
        await _quit(reader, writer, server, timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return sent


async def _quit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: str, timeout: float) -> None:
    try:
        writer.write(QUIT.data)
        async with asyncio.timeout(timeout):
            await writer.drain()
            code = await _read_reply(reader)
    except TimeoutError:
        log.info("Timeout reading data to remote SMTP server %s.", server)
        return
    except (OSError, ValueError):
        return
    if code is not None and code != QUIT.expect:
        log.info("Error processing QUIT cmd on SMTP server %s. SMTP status code = %d", server, code)


def local_name() -> str | None:
    """keepalived's ``get_local_name()``: the canonical name of this host (None if unknown).

    Blocking (a resolver lookup): :class:`Mailer` calls it off the event loop, once.
    """
    node = socket.gethostname()
    try:
        infos = socket.getaddrinfo(node, None, flags=socket.AI_CANONNAME)
    except OSError:
        return None
    return next((i[3] for i in infos if i[3]), None)


def default_from(name: str | None) -> str | None:
    """keepalived's default ``notification_email_from``: ``<login of our uid>@<local name>``."""
    if not name:
        return None
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None
    return f"{user}@{name}"


class Mailer:
    """Sends alerts in the background: :meth:`alert` queues and returns at once.

    Alerts go out one at a time, in the order they were raised.  When the queue is full the new
    alert is dropped and logged.  :meth:`close` lets queued alerts go out, bounded by a timeout.
    ``timeout`` overrides ``smtp_connect_timeout`` (tests).
    """

    def __init__(self, global_defs: GlobalDefs, *, queue_size: int = QUEUE_SIZE,
                 timeout: float | None = None) -> None:
        self.gd = global_defs
        self._timeout = timeout
        self._queue: asyncio.Queue[tuple[MailAlert, float] | None] = asyncio.Queue(queue_size)
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._local: tuple[str | None] | None = None
        #: counters for the status view and tests
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def reload(self, global_defs: GlobalDefs) -> None:
        """Use a new configuration (queued alerts go out with it)."""
        self.gd = global_defs

    @property
    def enabled(self) -> bool:
        return mail_configured(self.gd)

    def alert(self, subject: str, body: str) -> bool:
        """Queue one alert (subject already carries ``[router_id]``); False if not queued."""
        return self.send_alert(MailAlert(subject, body))

    def send_alert(self, alert: Alert) -> bool:
        """Queue an alert object (e.g. the checker's MailAlert events); False if not queued."""
        if self._closed or not self.enabled:
            return False
        try:
            self._queue.put_nowait((MailAlert(alert.subject, alert.body), _now()))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("SMTP alert queue full - dropping alert '%s'", alert.subject)
            return False
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="smtp-alerts")
        return True

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop accepting alerts, send what is queued (at most ``timeout`` seconds), then stop."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        done, _ = await asyncio.wait([worker], timeout=timeout)
        if not done:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            left = self._queue.qsize()
            if left:
                log.info("Discarding %d unsent SMTP alert(s) on shutdown", left)

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            alert, when = item
            try:
                ok = await self._deliver(alert, when)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop later alerts
                log.exception("SMTP alert '%s' failed", alert.subject)
                ok = False
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    async def _deliver(self, alert: MailAlert, when: float) -> bool:
        gd = self.gd
        if not mail_configured(gd):
            return False
        assert gd.smtp_server is not None
        helo, mail_from = gd.smtp_helo_name, gd.notification_email_from
        if helo is None or mail_from is None:
            name = await self._local_name()
            helo = helo or name  # keepalived: smtp_helo_name defaults to the local name, else localhost
            mail_from = mail_from or default_from(name) or "keepalived@localhost"
        message = build_message(helo=helo, mail_from=mail_from, recipients=gd.notification_email,
                                subject=alert.subject, body=alert.body, now=when)
        timeout = self._timeout if self._timeout is not None else float(max(1, gd.smtp_connect_timeout))
        return await send(gd.smtp_server.host, gd.smtp_server.port, message, timeout)

    async def _local_name(self) -> str | None:
        if self._local is None:
            self._local = (await asyncio.to_thread(local_name),)
        return self._local[0]


def _now() -> float:
    return time.time()
