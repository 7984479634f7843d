"""DNS_CHECK (keepalived's ``check_dns.c``): one UDP query; pass = a reply with our id and RCODE 0.

Three steps, each timed by connect_timeout: connect, send the query, wait for the reply.  dnspython
builds and parses the messages; replies that are not ours are read, one datagram per wake-up, until
the reply step ends.
"""

from __future__ import annotations

import asyncio
import socket

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from pykeepalived.check.net import connect
from pykeepalived.check.probes.common import AsyncProbe, Kind, Setup
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import DnsCheck, RealServer, VirtualServer, format_trio


class DnsProbe(AsyncProbe):
    """DNS_CHECK: one UDP query (dnspython builds/parses it); pass = reply with our id and RCODE 0."""

    steps = 3

    def __init__(self, check: DnsCheck, loop: asyncio.AbstractEventLoop, name: str = "") -> None:
        super().__init__(loop)
        self.check = check
        self.setup_failed = f"DNS_CHECK ({name}) UDP socket bind failed. Rescheduling."

    async def attempt(self) -> Result:
        conn = self.check.connection
        rdtype = dns.rdatatype.from_text(self.check.query_type.value)
        query = dns.message.make_query(self.check.name or ".", rdtype)
        d = self.dialogue(conn.connect_timeout)
        sock = await connect(conn, conn.connect_timeout, socket.SOCK_DGRAM, conn.connect_port or 53)
        try:
            await d.send(sock, query.to_wire())
            until = d.step_end()
            while True:  # one datagram per wake-up: a flood of foreign replies ends at ``until``
                data = await d.recv(sock, 65535, until)
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


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: DnsCheck) -> DnsProbe:
    return DnsProbe(checker, setup.loop, format_trio(rs.ip, rs.port, vs.protocol))


KIND = Kind(DnsCheck, ("DNS_CHECK",), steps=DnsProbe.steps, build=build)
