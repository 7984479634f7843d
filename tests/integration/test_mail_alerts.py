"""SMTP alerts and VRRP notify/FIFO formats, with a real SMTP server and keepalived's captures.

One pykeepalived daemon on the seed topology's lb1 runs keepalived's own capture experiment
(``tests/data/keepalived-2.2.7-captures/exp1.conf``): VRRP instance VI_1, state
BACKUP, priority 200, tracked scripts ``/bin/true`` weight 10 and ``/bin/false`` weight -20 fall 2,
the generic ``notify "... generic 'a b'"``, ``notify_master "... master-only"``, ``notify_backup``
without arguments, ``notify_stop "... stop-only"`` and ``vrrp_notify_fifo`` — plus the seed's
virtual server and an SMTP server (aiosmtpd, started by the test on the client node
10.0.0.100:2525) as ``smtp_server``.  So:

* the notify arguments and FIFO lines for BACKUP at start, MASTER, and STOP at SIGTERM must equal
  ``notify.log`` and ``fifo.out`` (timestamps aside; scripts of one transition run concurrently in
  keepalived, so their order within a transition is not compared);
* entering MASTER mails ``[lb1] VRRP Instance VI_1 - Entering MASTER state`` (smtp_alert on the
  instance) with keepalived's body and headers;
* rs1's web server stopping mails ``[lb1] Realserver [192.168.0.12]:tcp:80 of virtual server
  [10.0.0.5]:tcp:80 - DOWN`` with the HTTP_GET body (keepalived's core/smtp.c: smtp_alert(), called
  from check/check_http.c).
"""

from __future__ import annotations

import email
import json
import sys
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.lab.demo import REAL_SERVERS, SeedLab
from pykeepalived.lab.netns import unique_prefix
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP, seed_topology
from tests.conftest import data_path
from tests.integration.test_checker_notify import (
    FifoReader,
    notify_args,
    open_fifo,
    prepare,
    teardown,
    wait_for,
)

pytestmark = pytest.mark.root

RS1, RS2 = REAL_SERVERS["rs1"], REAL_SERVERS["rs2"]
SMTP_HOST, SMTP_PORT = "10.0.0.100", 2525
RECIPIENTS = ("alerts@lab.example", "ops@lab.example")
MAIL_FROM = "keepalived@lb1.lab.example"
HELO = "lb1.lab.example"
#: Master_Down_Interval of VRRPv2 at advert_int 1, priority 190 (3.26 s), and slack
MASTER_WITHIN = 3 + (256 - 190) / 256 + 3.0
#: HTTP_GET: delay_loop 2 + retry 1 × (connect_timeout 1 + delay_before_retry 1), and slack
RS_DOWN_WITHIN = 2 + 1 * (1 + 1) + 2.0

SMTP_SERVER = '''\
"""An SMTP server for the lab: every message as one JSON line (HELO, envelope, raw data)."""
import asyncio, json, sys
from aiosmtpd.smtp import SMTP

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Recorder:
    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        return "250 mail.lab.example"

    async def handle_DATA(self, server, session, envelope):
        rec = {"helo": session.host_name, "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "data": envelope.original_content.decode("utf-8", "replace")}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\\n")
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Recorder(), hostname="mail.lab.example"), host, port)
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
'''


def mail_conf(lab: SeedLab, fifo: Path) -> str:
    n = lab.notify_script
    real = "".join(f"""
    real_server {addr} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
""" for addr in (RS1, RS2))
    return f"""global_defs {{
    router_id lb1
    enable_script_security
    script_user root
    notification_email {{
        {RECIPIENTS[0]}
        {RECIPIENTS[1]}
    }}
    notification_email_from {MAIL_FROM}
    smtp_helo_name {HELO}
    smtp_server {SMTP_HOST} {SMTP_PORT}
    smtp_connect_timeout 5
    vrrp_notify_fifo {fifo}
}}

vrrp_script chk_ok {{
    script "/bin/true"
    interval 1
    weight 10
}}

vrrp_script chk_fail {{
    script "/bin/false"
    interval 1
    weight -20
    fall 2
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 200
    advert_int 1
    track_script {{
        chk_ok
        chk_fail
    }}
    virtual_ipaddress {{
        {SEED_FRONT_VIP}/24 dev eth0
        {SEED_GATEWAY_VIP}/24 dev eth1
    }}
    smtp_alert
    notify "{n} generic 'a b'"
    notify_master "{n} master-only"
    notify_backup {n}
    notify_stop "{n} stop-only"
}}

virtual_server {SEED_FRONT_VIP} 80 {{
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
{real}}}
"""


class MailLab:
    def __init__(self, seed: SeedLab, fifo: FifoReader, mails: Path) -> None:
        self.seed, self.fifo, self.mails = seed, fifo, mails

    def messages(self) -> list[dict[str, Any]]:
        try:
            text = self.mails.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def subjects(self) -> list[str]:
        return [str(parse(m)["Subject"]) for m in self.messages()]

    def mail(self, subject: str, timeout: float) -> dict[str, Any]:
        wait_for(lambda: subject in self.subjects(), timeout, f"a mail {subject!r} (got {self.subjects()})")
        return next(m for m in self.messages() if str(parse(m)["Subject"]) == subject)


def parse(m: dict[str, Any]) -> Message:
    return email.message_from_string(m["data"])


@pytest.fixture(scope="module")
def mail_lab() -> Iterator[MailLab]:
    lab = prepare(unique_prefix("pkml"))
    fifo: FifoReader | None = None
    try:
        fifo = FifoReader(open_fifo(lab.dir / "vrrp.fifo"))
        lab.conf_path("lb1").write_text(mail_conf(lab, lab.dir / "vrrp.fifo"))
        server = lab.dir / "smtp_server.py"
        server.write_text(SMTP_SERVER)
        mails = lab.dir / "mails.jsonl"
        lab.lab = seed_topology(lab.prefix)
        smtp = lab._popen("smtp", "client", [sys.executable, "-u", str(server), SMTP_HOST, str(SMTP_PORT),
                                             str(mails)])
        wait_for(lambda: "ready" in Path(smtp.log).read_text(errors="replace"), 10, "the SMTP server")
        lab.start_web("rs1")
        lab.start_web("rs2")
        lab.start_lb("lb1")
        yield MailLab(lab, fifo, mails)
    finally:
        if fifo is not None:
            fifo.close()
        teardown(lab)


def capture_transitions() -> list[list[str]]:
    """notify.log grouped by transition: [[generic BACKUP, notify_backup], [MASTER…], [STOP…]]."""
    lines = data_path("keepalived-2.2.7-captures", "notify.log").read_text().splitlines()
    groups: list[list[str]] = []
    for line in (ln.split(" ", 1)[1] for ln in lines):
        if "INSTANCE" in line:
            groups.append([])
        groups[-1].append(line)
    return groups


def own_transitions(lines: list[str]) -> list[list[str]]:
    """Our notify log grouped the same way (the generic script's line may come second: concurrent)."""
    groups: list[list[str]] = []
    pending: list[str] = []
    for line in lines:
        if "INSTANCE" in line:
            groups.append([line, *pending])
            pending = []
        elif groups and len(groups[-1]) == 1:
            groups[-1].append(line)
        else:
            pending.append(line)
    assert not pending, f"scripts without a generic notify: {pending}"
    return groups


# -- tests ----------------------------------------------------------------------------------------

def test_entering_master_mails_and_notifies_as_keepalived(mail_lab: MailLab) -> None:
    lab = mail_lab.seed
    t0 = time.monotonic()
    lab.wait_master("lb1", MASTER_WITHIN + 2)
    print(f"lb1 MASTER {time.monotonic() - t0:.2f} s after the test started")
    m = mail_lab.mail("[lb1] VRRP Instance VI_1 - Entering MASTER state", 10)
    msg = parse(m)
    assert m["helo"] == HELO
    assert m["mail_from"] == MAIL_FROM
    assert m["rcpt_tos"] == list(RECIPIENTS)
    assert msg["From"] == MAIL_FROM
    assert msg["X-Mailer"] == "Keepalived"
    assert [a.strip() for a in str(msg["To"]).split(",")] == list(RECIPIENTS)
    assert msg["Date"]
    # keepalived's DATA: headers, blank line, the body line, "\r\n\r\n.\r\n" (the server keeps all but ".\r\n")
    assert m["data"].endswith("\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n\r\n"), m["data"]
    print("mails so far:", mail_lab.subjects())


def test_real_server_down_mails_with_keepalived_subject_and_body(mail_lab: MailLab) -> None:
    lab = mail_lab.seed
    lab.wait_table("lb1", {RS1, RS2}, 10)
    time.sleep(3.0)  # past the first checks (bootstrap 1 s + warmup up to delay_loop 2 s)
    lab.stop_web("rs1")
    subject = "[lb1] Realserver [192.168.0.12]:tcp:80 of virtual server [10.0.0.5]:tcp:80 - DOWN"
    m = mail_lab.mail(subject, RS_DOWN_WITHIN)
    assert m["data"].endswith("\r\n\r\n=> CHECK failed on service : HTTP request failed <=\r\n\r\n"), m["data"]
    assert m["rcpt_tos"] == list(RECIPIENTS)
    lab.wait_table("lb1", {RS2}, 2)
    lab.start_web("rs1")
    up = "[lb1] Realserver [192.168.0.12]:tcp:80 of virtual server [10.0.0.5]:tcp:80 - UP"
    m = mail_lab.mail(up, 5)
    assert m["data"].endswith("\r\n\r\n=> CHECK succeed on service <=\r\n\r\n"), m["data"]


def test_notify_arguments_and_fifo_lines_match_keepalived_captures(mail_lab: MailLab) -> None:
    """BACKUP at start, MASTER, STOP at SIGTERM: notify.log and fifo.out, as keepalived 2.2.7 wrote them."""
    lab = mail_lab.seed
    lab.wait_master("lb1", MASTER_WITHIN + 2)
    lab.stop_lb("lb1")
    want_fifo = data_path("keepalived-2.2.7-captures", "fifo.out").read_text()
    wait_for(lambda: len(mail_lab.fifo.read().splitlines()) >= 3, 5, "three VRRP FIFO lines")
    assert mail_lab.fifo.read() == want_fifo
    want = capture_transitions()
    wait_for(lambda: len(notify_args(lab)) >= 6, 5, "six notify scripts")
    got = own_transitions(notify_args(lab))
    print("notify:", got)
    print("mails:", mail_lab.subjects())
    assert [g[0] for g in got] == [g[0] for g in want]  # generic notify: same arguments, same order
    assert [sorted(g) for g in got] == [sorted(g) for g in want]
