"""SMTP alerts: keepalived's texts, its exact dialogue bytes, policy, timeouts, a real SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from pykeepalived.config.model_global import GlobalDefs, SmtpServer
from pykeepalived.notify import mail
from pykeepalived.notify.mail import MailAlert, Mailer, VrrpAlerts, build_message, group_alert, instance_alert
from pykeepalived.vrrp.fsm import State

# 2021-03-01 09:44:08 UTC, the example in keepalived's smtp.c
NOW = 1614591848.0


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def gdefs(port: int = 25, **kw: Any) -> GlobalDefs:
    base: dict[str, Any] = dict(
        router_id="lb1",
        notification_email=("ops@example.com", "Duty <duty@example.com>"),
        notification_email_from="keepalived@lb1.example.com",
        smtp_server=SmtpServer("127.0.0.1", port),
        smtp_helo_name="lb1.example.com",
        smtp_connect_timeout=1,
    )
    base.update(kw)
    return GlobalDefs(**base)


# ------------------------------------------------------------------------------------------- texts


@pytest.mark.parametrize(
    ("state", "subject", "body"),
    [
        (State.MASTER, "[lb1] VRRP Instance VI_1 - Entering MASTER state",
         "=> VRRP Instance is now owning VRRP VIPs <="),
        (State.BACKUP, "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
         "=> VRRP Instance is no longer owning VRRP VIPs <="),
        (State.FAULT, "[lb1] VRRP Instance VI_1 - Entering FAULT state",
         "=> VRRP Instance is no longer owning VRRP VIPs <="),
        (State.STOP, "[lb1] VRRP Instance VI_1 - Stopping", "=> VRRP Instance stopping <="),
        ("DELETED", "[lb1] VRRP Instance VI_1 - Deleted", "=> VRRP Deleted at reload <="),
    ],
)
def test_instance_alert_texts(state: object, subject: str, body: str) -> None:
    assert instance_alert("lb1", "VI_1", state) == MailAlert(subject, body)


@pytest.mark.parametrize(
    ("state", "subject", "body"),
    [
        ("MASTER", "[lb1] VRRP Group G - Entering MASTER state",
         "=> All VRRP group instances are now in MASTER state <="),
        ("BACKUP", "[lb1] VRRP Group G - Entering BACKUP state",
         "=> All VRRP group instances are now in BACKUP state <="),
        ("FAULT", "[lb1] VRRP Group G - Entering FAULT state",
         "=> All VRRP group instances are now in FAULT state <="),
        ("STOP", "[lb1] VRRP Group G - Stopping", "=> All VRRP group instances are now stopping <="),
    ],
)
def test_group_alert_texts(state: str, subject: str, body: str) -> None:
    assert group_alert("lb1", "G", state) == MailAlert(subject, body)


def test_no_mail_for_init_or_group_deleted() -> None:
    assert instance_alert("lb1", "VI_1", State.INIT) is None
    assert group_alert("lb1", "G", "DELETED") is None


def test_vrrp_policy_smtp_alert_last_state_and_no_email_faults() -> None:
    alerts = VrrpAlerts(gdefs())
    assert alerts.instance("VI_1", State.MASTER, smtp_alert=False) is None
    first = alerts.instance("VI_1", State.MASTER, smtp_alert=True)
    assert first is not None and first.subject.endswith("Entering MASTER state")
    assert alerts.instance("VI_1", State.MASTER, smtp_alert=True) is None  # last_email_state
    assert alerts.instance("VI_1", State.FAULT, smtp_alert=True) is not None

    quiet = VrrpAlerts(gdefs(no_email_faults=True))
    assert quiet.instance("VI_1", State.FAULT, smtp_alert=True) is None
    assert quiet.group("G", "FAULT", smtp_alert=True) is None
    assert quiet.instance("VI_1", State.BACKUP, smtp_alert=True) is not None


def test_group_smtp_alert_default_chain() -> None:
    """A sync group's unset smtp_alert takes smtp_alert_vrrp, else smtp_alert, else off (vrrp.c)."""
    assert VrrpAlerts(gdefs()).group("G", "MASTER", None) is None
    assert VrrpAlerts(gdefs(smtp_alert=True)).group("G", "MASTER", None) is not None
    assert VrrpAlerts(gdefs(smtp_alert=True, smtp_alert_vrrp=False)).group("G", "MASTER", None) is None
    assert VrrpAlerts(gdefs(smtp_alert=False)).group("G", "MASTER", True) is not None


# ------------------------------------------------------------------------------------------- bytes


def test_dialogue_bytes_are_keepalived_s(utc: None) -> None:
    msg = build_message(
        helo="lb1.example.com",
        mail_from="Keepalived <keepalived@lb1.example.com>",
        recipients=["ops@example.com", "Duty <duty@example.com>", "third@example.com"],
        subject="[lb1] VRRP Instance VI_1 - Entering MASTER state",
        body="=> VRRP Instance is now owning VRRP VIPs <=",
        now=NOW,
    )
    assert msg.data == (
        b"HELO lb1.example.com\r\n"
        b"MAIL FROM:<keepalived@lb1.example.com>\r\n"
        b"RCPT TO:<ops@example.com>\r\n"
        b"RCPT TO:<duty@example.com>\r\n"
        b"RCPT TO:<third@example.com>\r\n"
        b"DATA\r\n"
        b"Date: Mon, 01 Mar 2021 09:44:08 +0000\r\n"
        b"From: Keepalived <keepalived@lb1.example.com>\r\n"
        b"Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n"
        b"X-Mailer: Keepalived\r\n"
        b"To: ops@example.com,\r\n Duty <duty@example.com>,\r\n third@example.com\r\n"
        b"\r\n"
        b"=> VRRP Instance is now owning VRRP VIPs <=\r\n"
        b"\r\n.\r\n"
        b"QUIT\r\n"
    )
    assert [s.expect for s in msg.steps] == [250, 250, 250, 250, 250, 354, 250]


def test_helo_localhost_when_unset_and_limits() -> None:
    msg = build_message(helo=None, mail_from="a@b", recipients=["c@d"], subject="s" * 400, body=".x\r\n" + "b" * 600,
                        now=NOW)
    assert msg.steps[0].data == b"HELO localhost\r\n"
    data = msg.steps[-1].data
    assert b"Subject: " + b"s" * mail.MAX_SUBJECT + b"\r\n" in data
    assert b"\r\n..x\r\n" in data  # dot-stuffed, unlike keepalived (which would end the message there)
    assert data.endswith(b"\r\n\r\n.\r\n")


def test_rfc822_date_local_offset() -> None:
    old = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "EST+5"
        time.tzset()
        assert mail.rfc822_date(NOW) == "Mon, 01 Mar 2021 04:44:08 -0500"
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# ------------------------------------------------------------------------------------------- a scripted server


@dataclass
class Scripted:
    """A raw SMTP peer on 127.0.0.1: records every byte, answers per command from ``replies``."""

    replies: dict[str, bytes] = field(default_factory=dict)
    banner: bytes | None = b"220 test ESMTP\r\n"
    received: bytearray = field(default_factory=bytearray)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    DEFAULTS: ClassVar[dict[str, bytes]] = {
        "HELO": b"250 hi\r\n", "MAIL": b"250 ok\r\n", "RCPT": b"250 ok\r\n", "DATA": b"354 go\r\n",
        "BODY": b"250 queued\r\n", "QUIT": b"221 bye\r\n"}

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if self.banner is None:
                await r.read()  # never greet
                return
            w.write(self.banner)
            in_data = False
            while line := await r.readline():
                self.received += line
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        cmd = "BODY"
                    else:
                        continue
                else:
                    cmd = line[:4].decode().upper()
                reply = self.replies.get(cmd, self.DEFAULTS.get(cmd, b"500 what\r\n"))
                if reply == b"":
                    continue  # stay silent
                w.write(reply)
                await w.drain()
                if cmd == "DATA" and reply.startswith(b"354"):
                    in_data = True
                if cmd == "QUIT":
                    break
        finally:
            self.done.set()
            w.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(**kw: Any) -> Scripted:
        peer = Scripted(**kw)
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        servers.append(server)
        peer.port = server.sockets[0].getsockname()[1]
        return peer

    yield start
    for s in servers:
        s.close()


async def test_send_speaks_the_exact_dialogue(scripted: Callable[..., Any], utc: None) -> None:
    peer = await scripted()
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x", "b@y"], subject="[lb1] S", body="=> B <=",
                        now=NOW)
    assert await mail.send("127.0.0.1", peer.port, msg, timeout=2.0)
    await asyncio.wait_for(peer.done.wait(), 2)
    assert bytes(peer.received) == msg.data


async def test_multiline_replies_are_read_to_the_last_line(scripted: Callable[..., Any]) -> None:
    peer = await scripted(banner=b"220-first\r\n220-second\r\n220 ready\r\n",
                          replies={"HELO": b"250-a\r\n250-b\r\n250 c\r\n"})
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x"], subject="s", body="b", now=NOW)
    assert await mail.send("127.0.0.1", peer.port, msg, timeout=2.0)


async def test_rejected_recipient_logs_keepalived_error_and_quits(
    scripted: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    peer = await scripted(replies={"RCPT": b"550 no such user\r\n"})
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x"], subject="s", body="b", now=NOW)
    with caplog.at_level(logging.INFO, "pykeepalived.notify"):
        assert not await mail.send("127.0.0.1", peer.port, msg, timeout=2.0)
    await asyncio.wait_for(peer.done.wait(), 2)
    assert bytes(peer.received).endswith(b"RCPT TO:<a@x>\r\nQUIT\r\n")
    assert f"Error processing RCPT cmd on SMTP server [127.0.0.1]:{peer.port}. SMTP status code = 550" \
        in caplog.messages


async def test_silent_server_times_out_per_step(scripted: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    peer = await scripted(replies={"DATA": b""})
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x"], subject="s", body="b", now=NOW)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, "pykeepalived.notify"):
        assert not await mail.send("127.0.0.1", peer.port, msg, timeout=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5
    assert f"Timeout reading data to remote SMTP server [127.0.0.1]:{peer.port}." in caplog.messages
    await asyncio.wait_for(peer.done.wait(), 2)
    assert bytes(peer.received).endswith(b"DATA\r\nQUIT\r\n")  # keepalived sends QUIT after a timeout


async def test_no_banner_times_out(scripted: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    peer = await scripted(banner=None)
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x"], subject="s", body="b", now=NOW)
    with caplog.at_level(logging.INFO, "pykeepalived.notify"):
        assert not await asyncio.wait_for(mail.send("127.0.0.1", peer.port, msg, timeout=0.3), 3)
    assert f"Timeout reading data to remote SMTP server [127.0.0.1]:{peer.port}." in caplog.messages


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_logs_keepalived_error(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    msg = build_message(helo="lb1", mail_from="kd@lb1", recipients=["a@x"], subject="s", body="b", now=NOW)
    with caplog.at_level(logging.INFO, "pykeepalived.notify"):
        assert not await mail.send("127.0.0.1", port, msg, timeout=1.0)
    assert f"SMTP connection ERROR to [127.0.0.1]:{port}." in caplog.messages


# ------------------------------------------------------------------------------------------- Mailer


async def test_no_mail_unless_recipients_and_server_are_set() -> None:
    for gd in (gdefs(notification_email=()), gdefs(smtp_server=None)):
        m = Mailer(gd)
        assert not m.enabled
        assert not m.alert("[lb1] s", "b")
        await m.close()


async def test_alert_never_blocks_and_queue_is_bounded(scripted: Callable[..., Any]) -> None:
    peer = await scripted(banner=None)  # a server that never answers
    m = Mailer(gdefs(peer.port), queue_size=2, timeout=5.0)
    t0 = time.monotonic()
    assert m.alert("[lb1] one", "b")
    assert m.alert("[lb1] two", "b")
    assert not m.alert("[lb1] three", "b")  # queue full: dropped, not blocked
    assert time.monotonic() - t0 < 0.05
    assert m.dropped == 1
    t0 = time.monotonic()
    await m.close(timeout=0.2)  # gives up on the stuck server
    assert time.monotonic() - t0 < 1.0
    assert not m.alert("[lb1] after close", "b")


async def test_mailer_sends_in_order_with_scripted_server(scripted: Callable[..., Any]) -> None:
    peer = await scripted()
    m = Mailer(gdefs(peer.port))
    for i in range(3):
        m.send_alert(MailAlert(f"[lb1] alert {i}", "=> body <="))
    await m.close(timeout=5)
    assert m.sent == 3 and m.failed == 0
    subjects = [line for line in bytes(peer.received).split(b"\r\n") if line.startswith(b"Subject:")]
    assert subjects == [b"Subject: [lb1] alert 0", b"Subject: [lb1] alert 1", b"Subject: [lb1] alert 2"]


# ------------------------------------------------------------------------------------------- aiosmtpd


class _Sink:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.helos: list[str] = []

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        self.helos.append(hostname)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtpd() -> Iterator[tuple[_Sink, int]]:
    from aiosmtpd.controller import Controller

    sink = _Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_alerts_reach_a_real_smtp_server(smtpd: tuple[_Sink, int]) -> None:
    sink, port = smtpd
    gd = gdefs(port)
    alerts = VrrpAlerts(gd)
    m = Mailer(gd)
    a = alerts.instance("VI_1", State.MASTER, smtp_alert=True)
    g = alerts.group("VG_1", State.MASTER, smtp_alert=True)
    assert a is not None and g is not None
    assert m.send_alert(a) and m.send_alert(g)
    # the checker's MailAlert events go through the same door
    m.alert("[lb1] Realserver [192.168.0.12]:tcp:80 of virtual server [10.0.0.5]:tcp:80 - DOWN",
            "=> TCP CHECK failed on service <=")
    await m.close(timeout=10)
    assert m.sent == 3, (m.sent, m.failed)

    assert sink.helos == ["lb1.example.com"] * 3
    env = sink.envelopes[0]
    assert env.mail_from == "keepalived@lb1.example.com"
    assert env.rcpt_tos == ["ops@example.com", "duty@example.com"]
    msg = email.message_from_bytes(env.original_content, policy=email.policy.compat32)
    assert msg["Subject"] == "[lb1] VRRP Instance VI_1 - Entering MASTER state"
    assert msg["From"] == "keepalived@lb1.example.com"
    assert msg["X-Mailer"] == "Keepalived"
    assert " ".join(msg["To"].split()) == "ops@example.com, Duty <duty@example.com>"
    assert msg["Date"]
    assert msg.get_payload().strip() == "=> VRRP Instance is now owning VRRP VIPs <="

    gmsg = email.message_from_bytes(sink.envelopes[1].original_content)
    assert gmsg["Subject"] == "[lb1] VRRP Group VG_1 - Entering MASTER state"
    assert gmsg.get_payload().strip() == "=> All VRRP group instances are now in MASTER state <="
    rmsg = email.message_from_bytes(sink.envelopes[2].original_content)
    assert rmsg["Subject"].endswith("of virtual server [10.0.0.5]:tcp:80 - DOWN")
