"""The asyncio side of the AgentX subagent: connect to the master agent, register, answer, send traps.

:class:`Subagent` connects to the master's socket (keepalived's ``snmp_socket`` / ``-A`` syntax:
``unix:/path``, ``/path``, ``tcp:host:port`` or ``host:port``; default ``unix:/var/agentx/master``),
opens a session, registers each subtree, and answers Get/GetNext/GetBulk from :attr:`Subagent.view`,
which its owner replaces as the daemon's state changes (a request never waits for a snapshot: the
master gives a subagent one second).  SETs go to its :class:`Setter`, when it has one: TestSet asks
it about each varbind (refusing the request at the first error), CommitSet applies what passed,
UndoSet takes it back, CleanupSet forgets it (RFC 2741 7.2.4); without one every SET is notWritable.
A lost master is retried every few seconds, as net-snmp's subagent does; traps sent while it is away are
dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from pykeepalived.snmp import agentx
from pykeepalived.snmp.agentx import OID, MibView, PduType, VarBind

log = logging.getLogger("pykeepalived.snmp")

DEFAULT_SOCKET = "unix:/var/agentx/master"
#: keepalived's ident in its Open PDU is empty; net-snmp's subagents send their name as description
DESCRIPTION = "Keepalived"
RECONNECT = 5.0
PING_INTERVAL = 120.0  # keepalived: "We check every 2 minutes"


def parse_socket(spec: str | None) -> tuple[str, str | tuple[str, int]]:
    """("unix", path) or ("tcp", (host, port)) from net-snmp's agentx socket syntax."""
    spec = spec or DEFAULT_SOCKET
    if spec.startswith("unix:"):
        return "unix", spec[5:]
    if spec.startswith("/"):
        return "unix", spec
    rest = spec.removeprefix("tcp:")
    host, _, port = rest.rpartition(":")
    return "tcp", (host or "localhost", int(port or 705))


class Setter(Protocol):
    """What the subagent asks about SETs (errors are SNMP error-status numbers, 0 for none)."""

    def test(self, vb: VarBind) -> int: ...

    async def commit(self, varbinds: Sequence[VarBind]) -> int: ...

    async def undo(self, varbinds: Sequence[VarBind]) -> int: ...


SET_PHASES = (PduType.TEST_SET, PduType.COMMIT_SET, PduType.UNDO_SET, PduType.CLEANUP_SET)


class Subagent:
    def __init__(self, socket: str | None, subtrees: Sequence[OID], view: MibView | None = None,
                 setter: Setter | None = None) -> None:
        self.socket = socket
        self.subtrees = list(subtrees)
        self.view = view if view is not None else MibView()
        self.session_id = 0
        self.packet_id = 0
        self.started = time.monotonic()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self.traps_dropped = 0
        self._pending: dict[int, asyncio.Future[agentx.Request]] = {}
        self.setter = setter
        #: the varbinds of SET transactions that passed TestSet, by transaction id (CleanupSet drops them)
        self._sets: dict[int, tuple[VarBind, ...]] = {}

    def uptime(self) -> int:
        """Hundredths of a second since we started (sysUpTime of our responses and traps)."""
        return int((time.monotonic() - self.started) * 100)

    def _next_id(self) -> int:
        self.packet_id = (self.packet_id + 1) & 0xFFFFFFFF
        return self.packet_id

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        kind, where = parse_socket(self.socket)
        if kind == "unix":
            assert isinstance(where, str)
            return await asyncio.open_unix_connection(where)
        assert isinstance(where, tuple)
        return await asyncio.open_connection(*where)

    async def _request(self, pdu: bytes, packet_id: int, timeout: float = 5.0) -> agentx.Request:
        assert self.writer is not None
        fut: asyncio.Future[agentx.Request] = asyncio.get_running_loop().create_future()
        self._pending[packet_id] = fut
        self.writer.write(pdu)
        await self.writer.drain()
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(packet_id, None)

    async def run(self) -> None:
        """Connect, serve, reconnect; until cancelled."""
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except (TimeoutError, OSError, agentx.AgentXError, ConnectionError) as e:
                if failures == 0:
                    log.warning("AgentX master agent %s: %s (retrying every %gs)",
                                self.socket or DEFAULT_SOCKET, e or type(e).__name__, RECONNECT)
                failures += 1
            finally:
                self.connected.clear()
                if self.writer is not None:
                    self.writer.close()
                    self.writer = None
                for fut in self._pending.values():
                    fut.cancel()
                self._pending.clear()
            await asyncio.sleep(RECONNECT)

    async def _session(self) -> None:
        reader, self.writer = await self._connect()
        parser = agentx.Reader()
        reading = asyncio.get_running_loop().create_task(self._read(reader, parser))
        try:
            pid = self._next_id()
            reply = await self._request(agentx.open_pdu(pid, (), DESCRIPTION), pid)
            if reply.error:
                raise agentx.AgentXError(f"Open refused (error {reply.error})")
            self.session_id = reply.header.session_id
            for subtree in self.subtrees:
                pid = self._next_id()
                reply = await self._request(agentx.register_pdu(self.session_id, pid, subtree), pid)
                if reply.error:
                    log.warning("Unable to register %s (AgentX error %d)", agentx.oid_text(subtree), reply.error)
            log.info("AgentX subagent connected to %s", self.socket or DEFAULT_SOCKET)
            self.connected.set()
            while not reading.done():
                await asyncio.wait({reading}, timeout=PING_INTERVAL)
                if not reading.done():
                    pid = self._next_id()
                    await self._request(agentx.ping_pdu(self.session_id, pid), pid)
            reading.result()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    async def _read(self, reader: asyncio.StreamReader, parser: agentx.Reader) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("master agent closed the connection")
            for req in parser.feed(data):
                if req.header.type == PduType.RESPONSE:
                    fut = self._pending.get(req.header.packet_id)
                    if fut is not None and not fut.done():
                        fut.set_result(req)
                    continue
                if req.header.type == PduType.CLOSE:
                    raise ConnectionError("master agent closed the session")
                if req.header.type in SET_PHASES and self.setter is not None:
                    out = await self._set_phase(req, self.setter)
                else:
                    out = agentx.answer(req, self.view, self.uptime())
                if out is not None and self.writer is not None:
                    self.writer.write(out)

    async def _set_phase(self, req: agentx.Request, setter: Setter) -> bytes | None:
        h = req.header
        tid = h.transaction_id
        if h.type == PduType.TEST_SET:
            self._sets.pop(tid, None)
            error, index = agentx.test_varbinds(req.varbinds, setter.test)
            if not error:
                if len(self._sets) >= 16:  # a master that never cleans up: forget the oldest
                    del self._sets[next(iter(self._sets))]
                self._sets[tid] = req.varbinds
            return agentx.response_pdu(h, [], error=error, index=index, uptime=self.uptime())
        if h.type == PduType.CLEANUP_SET:
            self._sets.pop(tid, None)
            return None
        varbinds = self._sets.get(tid, ())
        try:
            if h.type == PduType.COMMIT_SET:
                error = await setter.commit(varbinds)
                error = agentx.Error.COMMIT_FAILED if error else 0
            else:
                error = await setter.undo(varbinds)
                error = agentx.Error.UNDO_FAILED if error else 0
        except Exception:  # the daemon did not take it: the master undoes the others
            log.exception("SNMP SET %s failed", h.type.name)
            error = agentx.Error.COMMIT_FAILED if h.type == PduType.COMMIT_SET else agentx.Error.UNDO_FAILED
        return agentx.response_pdu(h, [], error=error, index=1 if error else 0, uptime=self.uptime())

    async def notify(self, trap_oid: OID, varbinds: Sequence[VarBind]) -> bool:
        """Send one notification (sysUpTime.0, snmpTrapOID.0, then ``varbinds``); False when not connected."""
        if not self.connected.is_set() or self.writer is None:
            self.traps_dropped += 1
            return False
        vbs = [VarBind(agentx.SYS_UPTIME_0, agentx.TimeTicks(self.uptime())),
               VarBind(agentx.SNMP_TRAP_OID_0, agentx.ObjectIdentifier(trap_oid)), *varbinds]
        pid = self._next_id()
        self.writer.write(agentx.notify_pdu(self.session_id, pid, vbs))
        return True

    async def close(self) -> None:
        if self.writer is not None and self.connected.is_set():
            with contextlib.suppress(OSError):
                self.writer.write(agentx.close_pdu(self.session_id, self._next_id()))
                await self.writer.drain()
