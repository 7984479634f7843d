"""SMTP_CHECK (keepalived's ``check_smtp.c``): 220 banner -> HELO name -> 250 -> QUIT -> 221.

Six steps, each timed by connect_timeout (connect, banner, HELO, its reply, QUIT, its reply); replies are
read into keepalived's 512-byte line buffer (``SMTP_BUFF_MAX``), which a longer line wraps.
"""

from __future__ import annotations

import asyncio
import socket

from pykeepalived.check.net import connect
from pykeepalived.check.probes.common import AsyncProbe, Dialogue, Kind, Setup
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import RealServer, SmtpCheck, VirtualServer

#: keepalived's SMTP line buffer (``SMTP_BUFF_MAX``): a line longer than this without a newline wraps it (cleared)
SMTP_BUFF_MAX = 512


async def _smtp_reply(d: Dialogue, sock: socket.socket, buf: bytearray, until: float) -> int:
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
        data = await d.recv(sock, SMTP_BUFF_MAX - 1 - len(buf), until)
        if not data:
            raise ConnectionError("connection closed by server")
        buf += data


class SmtpProbe(AsyncProbe):
    """SMTP_CHECK: 220 banner -> HELO name -> 250 -> QUIT -> 221."""

    steps = 6
    setup_failed = "SMTP_CHECK socket bind failed. Rescheduling."

    def __init__(self, check: SmtpCheck, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.check = check

    async def attempt(self) -> Result:
        conn = self.check.connection
        d = self.dialogue(conn.connect_timeout)
        sock = await connect(conn, conn.connect_timeout)
        buf = bytearray()
        try:
            for send, expect in ((None, 220), (f"HELO {self.check.helo_name}\r\n", 250), ("QUIT\r\n", 221)):
                if send is not None:
                    await d.send(sock, send.encode())
                code = await _smtp_reply(d, sock, buf, d.step_end())
                if code != expect:
                    return Result(False, reason=f"bad server response code {code} (expected {expect})")
        except TimeoutError:
            return Result(False, reason="timeout")
        finally:
            sock.close()  # an orderly close, as keepalived's (after QUIT the server has closed first)
        return Result(True)


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: SmtpCheck) -> SmtpProbe:
    return SmtpProbe(checker, setup.loop)


KIND = Kind(SmtpCheck, ("SMTP_CHECK",), steps=SmtpProbe.steps, build=build)
