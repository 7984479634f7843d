"""UDP_CHECK (keepalived's ``check_udp.c``): send a payload; an ICMP unreachable fails.

Three steps, each timed by connect_timeout: connect, send, wait for the reply.  Without
``require_reply`` silence until the reply step ends passes; with it, the reply's length and
``reply_pattern`` decide.
"""

from __future__ import annotations

import asyncio
import os
import socket

from pykeepalived.check.net import connect
from pykeepalived.check.probes.common import AsyncProbe, Kind, Setup
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import RealServer, UdpCheck, VirtualServer


def reply_matches(reply: bytes, pattern: str | None) -> bool:
    """``require_reply`` pattern: hex nibbles, ``x`` = any nibble, compared up to the shorter length."""
    if not pattern:
        return True
    return all(a in ("x", b) for a, b in zip(pattern.lower(), reply.hex(), strict=False))


class UdpProbe(AsyncProbe):
    """UDP_CHECK: an ICMP unreachable fails; silence until connect_timeout passes (unless require_reply)."""

    steps = 3

    def __init__(self, check: UdpCheck, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.check = check
        self.payload = bytes.fromhex(check.payload) if check.payload else None

    async def attempt(self) -> Result:
        c = self.check
        conn = c.connection
        d = self.dialogue(conn.connect_timeout)
        sock = await connect(conn, conn.connect_timeout, socket.SOCK_DGRAM)
        try:
            await d.send(sock, self.payload if self.payload is not None else os.urandom(16))
            reply = await d.recv(sock, 65535, d.step_end())
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


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: UdpCheck) -> UdpProbe:
    return UdpProbe(checker, setup.loop)


KIND = Kind(UdpCheck, ("UDP_CHECK",), steps=UdpProbe.steps, build=build)
