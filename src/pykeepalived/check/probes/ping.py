"""PING_CHECK (keepalived's ``check_ping.c``): one ICMP / ICMPv6 echo; pass = our echo reply.

An unprivileged datagram ping socket, a raw socket as root's fallback.  Three steps, each timed by
connect_timeout: connect, send, wait for the reply; other ICMP packets (a raw socket sees them all)
are read, one per wake-up, until the reply step ends.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct

from pykeepalived.check.net import open_socket, target
from pykeepalived.check.probes.common import AsyncProbe, Kind, Setup
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import PingCheck, RealServer, VirtualServer


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class PingProbe(AsyncProbe):
    """PING_CHECK: ICMP echo over an unprivileged datagram ping socket, raw socket as root's fallback."""

    steps = 3
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
        d = self.dialogue(conn.connect_timeout)
        sock, raw = self._socket()
        PingProbe._seq = (PingProbe._seq + 1) & 0xFFFF
        seq, ident = PingProbe._seq, os.getpid() & 0xFFFF
        payload = b"pykeepalived-ping"
        req_type, rep_type = (128, 129) if v6 else (8, 0)
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        pkt = hdr[:2] + struct.pack("!H", _icmp_checksum(hdr + payload)) + hdr[4:] + payload
        try:
            sock.connect(self._peer())
            await d.send(sock, pkt)
            until = d.step_end()
            while True:  # one packet per wake-up: a raw socket sees every ICMP packet, a flood ends at ``until``
                data = await d.recv(sock, 65535, until)
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


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: PingCheck) -> PingProbe:
    return PingProbe(checker, setup.loop)


KIND = Kind(PingCheck, ("PING_CHECK",), steps=PingProbe.steps, build=build)
