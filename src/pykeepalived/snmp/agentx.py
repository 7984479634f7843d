"""AgentX (RFC 2741) as a subagent needs it, without I/O: encode what we send, decode what the master sends.

Only the subagent's side: Open, Close, Register, Notify, Ping and Response are built here; Get, GetNext
and GetBulk are decoded and answered by :func:`answer` from a :class:`MibView` (a sorted OID -> value
table).  The Set phases (TestSet with its varbinds, CommitSet, UndoSet, CleanupSet: RFC 2741 7.2.4) are
decoded here and run by the adapter, which asks its owner to test and to apply them.  PDUs are written
in network byte order (the NETWORK_BYTE_ORDER flag set) and read in whichever order the master's flag
says.  :class:`Reader` splits a byte stream into PDUs; the asyncio adapter is :mod:`pykeepalived.snmp.agent`.
"""

from __future__ import annotations

import bisect
import enum
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

OID = tuple[int, ...]

HEADER_LEN = 20
VERSION = 1
FLAG_INSTANCE_REGISTRATION = 0x01
FLAG_NON_DEFAULT_CONTEXT = 0x08
FLAG_NETWORK_BYTE_ORDER = 0x10
INTERNET = (1, 3, 6, 1)
SYS_UPTIME_0: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID_0: OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)


class PduType(enum.IntEnum):
    OPEN = 1
    CLOSE = 2
    REGISTER = 3
    UNREGISTER = 4
    GET = 5
    GET_NEXT = 6
    GET_BULK = 7
    TEST_SET = 8
    COMMIT_SET = 9
    UNDO_SET = 10
    CLEANUP_SET = 11
    NOTIFY = 12
    PING = 13
    INDEX_ALLOCATE = 14
    INDEX_DEALLOCATE = 15
    ADD_AGENT_CAPS = 16
    REMOVE_AGENT_CAPS = 17
    RESPONSE = 18


class VarType(enum.IntEnum):
    INTEGER = 2
    OCTET_STRING = 4
    NULL = 5
    OBJECT_IDENTIFIER = 6
    IP_ADDRESS = 64
    COUNTER32 = 65
    GAUGE32 = 66
    TIME_TICKS = 67
    OPAQUE = 68
    COUNTER64 = 70
    NO_SUCH_OBJECT = 128
    NO_SUCH_INSTANCE = 129
    END_OF_MIB_VIEW = 130


class Error(enum.IntEnum):
    NO_ERROR = 0
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18
    OPEN_FAILED = 256
    NOT_OPEN = 257
    PARSE_ERROR = 266
    REQUEST_DENIED = 267
    PROCESSING_ERROR = 268


class CloseReason(enum.IntEnum):
    OTHER = 1
    PARSE_ERROR = 2
    PROTOCOL_ERROR = 3
    TIMEOUTS = 4
    SHUTDOWN = 5
    BY_MANAGER = 6


class AgentXError(ValueError):
    """A PDU we cannot parse."""


@dataclass(frozen=True, slots=True)
class Value:
    type: VarType
    value: int | bytes | OID | None = None


def Integer(v: int) -> Value:
    return Value(VarType.INTEGER, v)


def OctetString(v: bytes | str) -> Value:
    return Value(VarType.OCTET_STRING, v.encode() if isinstance(v, str) else v)


def Gauge32(v: int) -> Value:
    return Value(VarType.GAUGE32, max(0, min(v, 0xFFFFFFFF)))


def Counter32(v: int) -> Value:
    return Value(VarType.COUNTER32, v & 0xFFFFFFFF)


def Counter64(v: int) -> Value:
    return Value(VarType.COUNTER64, v & 0xFFFFFFFFFFFFFFFF)


def TimeTicks(v: int) -> Value:
    return Value(VarType.TIME_TICKS, v & 0xFFFFFFFF)


def IpAddress(v: bytes) -> Value:
    return Value(VarType.IP_ADDRESS, bytes(v))


def ObjectIdentifier(v: OID) -> Value:
    return Value(VarType.OBJECT_IDENTIFIER, tuple(v))


@dataclass(frozen=True, slots=True)
class VarBind:
    oid: OID
    value: Value


@dataclass(frozen=True, slots=True)
class SearchRange:
    start: OID
    end: OID
    include: bool


@dataclass(frozen=True, slots=True)
class Header:
    type: PduType
    flags: int
    session_id: int
    transaction_id: int
    packet_id: int
    length: int

    @property
    def byte_order(self) -> str:
        return ">" if self.flags & FLAG_NETWORK_BYTE_ORDER else "<"


@dataclass(frozen=True, slots=True)
class Request:
    """A Get / GetNext / GetBulk / Set phase / Response from the master."""

    header: Header
    ranges: tuple[SearchRange, ...] = ()
    non_repeaters: int = 0
    max_repetitions: int = 0
    # Response only
    error: int = 0
    index: int = 0
    varbinds: tuple[VarBind, ...] = ()


def oid_parse(text: str) -> OID:
    return tuple(int(p) for p in text.strip(".").split(".") if p)


def oid_text(oid: OID) -> str:
    return ".".join(str(p) for p in oid)


# -- encoding ------------------------------------------------------------------------------------------

def _enc_oid(oid: OID, include: bool = False) -> bytes:
    prefix = 0
    subids = list(oid)
    if len(oid) >= 5 and oid[:4] == INTERNET and 0 < oid[4] < 256:
        prefix, subids = oid[4], list(oid[5:])
    return struct.pack(">BBBB", len(subids), prefix, int(include), 0) + struct.pack(f">{len(subids)}I", *subids)


def _enc_octets(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data + b"\0" * (-len(data) % 4)


def _enc_value(v: Value) -> bytes:
    t = v.type
    if t in (VarType.INTEGER,):
        assert isinstance(v.value, int)
        return struct.pack(">i", v.value)
    if t in (VarType.COUNTER32, VarType.GAUGE32, VarType.TIME_TICKS):
        assert isinstance(v.value, int)
        return struct.pack(">I", v.value)
    if t == VarType.COUNTER64:
        assert isinstance(v.value, int)
        return struct.pack(">Q", v.value)
    if t in (VarType.OCTET_STRING, VarType.IP_ADDRESS, VarType.OPAQUE):
        assert isinstance(v.value, bytes)
        return _enc_octets(v.value)
    if t == VarType.OBJECT_IDENTIFIER:
        assert isinstance(v.value, tuple)
        return _enc_oid(v.value)
    return b""


def _enc_varbind(vb: VarBind) -> bytes:
    return struct.pack(">HH", vb.value.type, 0) + _enc_oid(vb.oid) + _enc_value(vb.value)


def _pdu(pdu_type: PduType, session_id: int, transaction_id: int, packet_id: int, payload: bytes,
         flags: int = 0) -> bytes:
    return struct.pack(">BBBBIIII", VERSION, pdu_type, flags | FLAG_NETWORK_BYTE_ORDER, 0, session_id,
                       transaction_id, packet_id, len(payload)) + payload


def open_pdu(packet_id: int, ident: OID, descr: str, timeout: int = 0) -> bytes:
    return _pdu(PduType.OPEN, 0, 0, packet_id, struct.pack(">B3x", timeout) + _enc_oid(ident)
                + _enc_octets(descr.encode()))


def close_pdu(session_id: int, packet_id: int, reason: CloseReason = CloseReason.SHUTDOWN) -> bytes:
    return _pdu(PduType.CLOSE, session_id, 0, packet_id, struct.pack(">B3x", reason))


def register_pdu(session_id: int, packet_id: int, subtree: OID, priority: int = 127, timeout: int = 0) -> bytes:
    return _pdu(PduType.REGISTER, session_id, 0, packet_id,
                struct.pack(">BBBx", timeout, priority, 0) + _enc_oid(subtree))


def notify_pdu(session_id: int, packet_id: int, varbinds: Sequence[VarBind]) -> bytes:
    return _pdu(PduType.NOTIFY, session_id, 0, packet_id, b"".join(_enc_varbind(vb) for vb in varbinds))


def ping_pdu(session_id: int, packet_id: int) -> bytes:
    return _pdu(PduType.PING, session_id, 0, packet_id, b"")


def response_pdu(req: Header, varbinds: Sequence[VarBind], error: int = 0, index: int = 0,
                 uptime: int = 0) -> bytes:
    payload = struct.pack(">IHH", uptime & 0xFFFFFFFF, error, index) + b"".join(_enc_varbind(vb) for vb in varbinds)
    return _pdu(PduType.RESPONSE, req.session_id, req.transaction_id, req.packet_id, payload)


# -- decoding ------------------------------------------------------------------------------------------

def decode_header(data: bytes) -> Header:
    if len(data) < HEADER_LEN:
        raise AgentXError("short header")
    version, pdu_type, flags, _ = data[:4]
    if version != VERSION:
        raise AgentXError(f"AgentX version {version}")
    bo = ">" if flags & FLAG_NETWORK_BYTE_ORDER else "<"
    session_id, transaction_id, packet_id, length = struct.unpack(bo + "IIII", data[4:20])
    try:
        kind = PduType(pdu_type)
    except ValueError:
        raise AgentXError(f"unknown PDU type {pdu_type}") from None
    return Header(kind, flags, session_id, transaction_id, packet_id, length)


class _Cursor:
    def __init__(self, data: bytes, bo: str) -> None:
        self.data, self.pos, self.bo = data, 0, bo

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AgentXError("PDU truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(self.bo + fmt, self.take(struct.calcsize(self.bo + fmt)))

    def oid(self) -> tuple[OID, bool]:
        n, prefix, include, _ = self.take(4)
        subids = self.unpack(f"{n}I") if n else ()
        oid = (*INTERNET, prefix, *subids) if prefix else tuple(subids)
        return oid, bool(include)

    def octets(self) -> bytes:
        (n,) = self.unpack("I")
        out = self.take(n)
        self.take(-n % 4)
        return out

    def value(self, t: int) -> Value:
        vt = VarType(t)
        if vt == VarType.INTEGER:
            return Value(vt, self.unpack("i")[0])
        if vt in (VarType.COUNTER32, VarType.GAUGE32, VarType.TIME_TICKS):
            return Value(vt, self.unpack("I")[0])
        if vt == VarType.COUNTER64:
            return Value(vt, self.unpack("Q")[0])
        if vt in (VarType.OCTET_STRING, VarType.IP_ADDRESS, VarType.OPAQUE):
            return Value(vt, self.octets())
        if vt == VarType.OBJECT_IDENTIFIER:
            return Value(vt, self.oid()[0])
        return Value(vt)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def decode(header: Header, payload: bytes) -> Request:
    """The payload of a PDU the master sent (after :func:`decode_header`)."""
    c = _Cursor(payload, header.byte_order)
    try:
        if header.flags & FLAG_NON_DEFAULT_CONTEXT and header.type not in (PduType.RESPONSE,):
            c.octets()
        if header.type == PduType.RESPONSE:
            _uptime, error, index = c.unpack("IHH")
            vbs = []
            while not c.done:
                t, _ = c.unpack("HH")
                oid, _inc = c.oid()
                vbs.append(VarBind(oid, c.value(t)))
            return Request(header, error=error, index=index, varbinds=tuple(vbs))
        non_rep = max_rep = 0
        if header.type == PduType.GET_BULK:
            non_rep, max_rep = c.unpack("HH")
        if header.type == PduType.TEST_SET:
            vbs = []
            while not c.done:
                t, _ = c.unpack("HH")
                oid, _inc = c.oid()
                vbs.append(VarBind(oid, c.value(t)))
            return Request(header, varbinds=tuple(vbs))
        ranges = []
        if header.type in (PduType.GET, PduType.GET_NEXT, PduType.GET_BULK):
            while not c.done:
                start, include = c.oid()
                end, _ = c.oid()
                ranges.append(SearchRange(start, end, include))
        return Request(header, tuple(ranges), non_rep, max_rep)
    except (struct.error, ValueError) as e:
        raise AgentXError(str(e)) from None


@dataclass
class Reader:
    """Bytes in, whole PDUs out (the stream may split or join them anywhere)."""

    buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Request]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER_LEN:
            header = decode_header(bytes(self.buf[:HEADER_LEN]))
            if len(self.buf) < HEADER_LEN + header.length:
                break
            payload = bytes(self.buf[HEADER_LEN:HEADER_LEN + header.length])
            del self.buf[:HEADER_LEN + header.length]
            out.append(decode(header, payload))
        return out


# -- answering -----------------------------------------------------------------------------------------

class MibView:
    """A sorted table of OID -> value: what a walk of our subtrees returns."""

    def __init__(self, items: Iterable[tuple[OID, Value]] = ()) -> None:
        table: dict[OID, Value] = {}
        for oid, value in items:
            table.setdefault(oid, value)  # the first value given for an OID wins
        self.oids: list[OID] = sorted(table)
        self.values: list[Value] = [table[o] for o in self.oids]

    def __len__(self) -> int:
        return len(self.oids)

    def get(self, oid: OID) -> Value:
        i = bisect.bisect_left(self.oids, oid)
        if i < len(self.oids) and self.oids[i] == oid:
            return self.values[i]
        # an instance below an object we serve is missing (a neighbour shares the column), else the object is
        column = oid[:-1]
        if any(0 <= j < len(self.oids) and self.oids[j][:len(column)] == column for j in (i - 1, i)):
            return Value(VarType.NO_SUCH_INSTANCE)
        return Value(VarType.NO_SUCH_OBJECT)

    def next(self, rng: SearchRange) -> VarBind:
        i = (bisect.bisect_left if rng.include else bisect.bisect_right)(self.oids, rng.start)
        if i < len(self.oids) and (not rng.end or self.oids[i] < rng.end):
            return VarBind(self.oids[i], self.values[i])
        return VarBind(rng.start, Value(VarType.END_OF_MIB_VIEW))


def answer(req: Request, view: MibView, uptime: int = 0) -> bytes | None:
    """The Response to a request from the master (None for what needs no answer)."""
    h = req.header
    if h.type == PduType.GET:
        return response_pdu(h, [VarBind(r.start, view.get(r.start)) for r in req.ranges], uptime=uptime)
    if h.type == PduType.GET_NEXT:
        return response_pdu(h, [view.next(r) for r in req.ranges], uptime=uptime)
    if h.type == PduType.GET_BULK:
        n = min(req.non_repeaters, len(req.ranges))
        out = [view.next(r) for r in req.ranges[:n]]
        repeaters = list(req.ranges[n:])
        for _ in range(req.max_repetitions):
            if not repeaters:
                break
            row = [view.next(r) for r in repeaters]
            out += row
            if all(vb.value.type == VarType.END_OF_MIB_VIEW for vb in row):
                break
            repeaters = [SearchRange(vb.oid, r.end, False) for vb, r in zip(row, repeaters, strict=True)]
        return response_pdu(h, out, uptime=uptime)
    if h.type == PduType.TEST_SET:  # a subagent that takes no SET (its owner answers them otherwise)
        return response_pdu(h, [], error=Error.NOT_WRITABLE, index=1, uptime=uptime)
    if h.type in (PduType.COMMIT_SET, PduType.UNDO_SET, PduType.CLEANUP_SET):
        return None if h.type == PduType.CLEANUP_SET else response_pdu(h, [], uptime=uptime)
    return None


def test_varbinds(varbinds: Sequence[VarBind], test: Callable[[VarBind], int]) -> tuple[int, int]:
    """TestSet: (error, 1-based index of the varbind that failed), (0, 0) when every one passes."""
    for i, vb in enumerate(varbinds, 1):
        err = test(vb)
        if err:
            return err, i
    return Error.NO_ERROR, 0
