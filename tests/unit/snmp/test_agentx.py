"""The AgentX codec (RFC 2741) without sockets: what a master sends is decoded and answered from a view."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.snmp import agentx
from pykeepalived.snmp.agent import parse_socket
from pykeepalived.snmp.agentx import (
    FLAG_NETWORK_BYTE_ORDER,
    OID,
    Counter64,
    Gauge32,
    Integer,
    MibView,
    OctetString,
    PduType,
    Reader,
    VarBind,
    VarType,
)

K = (1, 3, 6, 1, 4, 1, 9586, 100, 5)
VIEW = MibView([((*K, 1, 2, 0), OctetString("lb1")), ((*K, 1, 1, 0), OctetString("v")),
                ((*K, 2, 3, 1, 2, 1), OctetString("VI_1")), ((*K, 2, 3, 1, 2, 2), OctetString("VI_2")),
                ((*K, 2, 3, 1, 3, 1), Gauge32(51)), ((*K, 2, 3, 1, 3, 2), Gauge32(52))])


def master_pdu(pdu_type: PduType, ranges: list[tuple[OID, OID, bool]], *, little: bool = True,
               bulk: tuple[int, int] | None = None, packet_id: int = 7) -> bytes:
    """A request as net-snmp's master writes it (its host byte order unless told otherwise)."""
    bo = "<" if little else ">"

    def oid(o: OID, include: bool = False) -> bytes:
        prefix, rest = (o[4], o[5:]) if len(o) > 4 and o[:4] == (1, 3, 6, 1) else (0, o)
        return struct.pack("BBBB", len(rest), prefix, int(include), 0) + struct.pack(f"{bo}{len(rest)}I", *rest)

    payload = struct.pack(f"{bo}HH", *bulk) if bulk else b""
    payload += b"".join(oid(s, inc) + oid(e) for s, e, inc in ranges)
    flags = 0 if little else FLAG_NETWORK_BYTE_ORDER
    return struct.pack(f"{bo}BBBBIIII", 1, pdu_type, flags, 0, 3, 9, packet_id, len(payload)) + payload


def roundtrip(pdu: bytes) -> agentx.Request:
    (req,) = Reader().feed(pdu)
    out = agentx.answer(req, VIEW, uptime=5)
    assert out is not None
    (resp,) = Reader().feed(out)
    assert resp.header.type == PduType.RESPONSE and resp.header.packet_id == req.header.packet_id
    assert resp.header.transaction_id == 9 and resp.header.session_id == 3
    return resp


@pytest.mark.parametrize("little", [True, False])
def test_getnext_walks_in_oid_order_in_either_byte_order(little: bool) -> None:
    resp = roundtrip(master_pdu(PduType.GET_NEXT, [(K, (), False)], little=little))
    assert resp.varbinds == (VarBind((*K, 1, 1, 0), OctetString("v")),)
    resp = roundtrip(master_pdu(PduType.GET_NEXT, [((*K, 2, 3, 1, 2, 2), (), False)], little=little))
    assert resp.varbinds == (VarBind((*K, 2, 3, 1, 3, 1), Gauge32(51)),)


def test_getnext_include_and_end_of_range() -> None:
    resp = roundtrip(master_pdu(PduType.GET_NEXT, [((*K, 1, 2, 0), (), True)]))
    assert resp.varbinds[0].oid == (*K, 1, 2, 0)
    resp = roundtrip(master_pdu(PduType.GET_NEXT, [((*K, 1, 2, 0), (*K, 2), False)]))
    assert resp.varbinds[0].value.type == VarType.END_OF_MIB_VIEW
    assert resp.varbinds[0].oid == (*K, 1, 2, 0)


def test_get_answers_values_and_no_such() -> None:
    resp = roundtrip(master_pdu(PduType.GET, [((*K, 2, 3, 1, 2, 2), (), False), ((*K, 2, 3, 1, 2, 9), (), False),
                                              ((*K, 7, 0), (), False)]))
    assert [vb.value for vb in resp.varbinds] == [OctetString("VI_2"), agentx.Value(VarType.NO_SUCH_INSTANCE),
                                                  agentx.Value(VarType.NO_SUCH_OBJECT)]


def test_getbulk_repeats_until_the_end_of_the_view() -> None:
    resp = roundtrip(master_pdu(PduType.GET_BULK, [(K, (), False), ((*K, 2), (), False)], bulk=(1, 10)))
    names = [vb.oid for vb in resp.varbinds]
    assert names[0] == (*K, 1, 1, 0)  # the non-repeater
    assert names[1:5] == [(*K, 2, 3, 1, 2, 1), (*K, 2, 3, 1, 2, 2), (*K, 2, 3, 1, 3, 1), (*K, 2, 3, 1, 3, 2)]
    assert resp.varbinds[-1].value.type == VarType.END_OF_MIB_VIEW


def test_sets_are_refused() -> None:
    (req,) = Reader().feed(master_pdu(PduType.TEST_SET, []))
    out = agentx.answer(req, VIEW)
    assert out is not None
    (resp,) = Reader().feed(out)
    assert resp.error == agentx.Error.NOT_WRITABLE


def test_reader_reassembles_split_and_joined_pdus() -> None:
    a = master_pdu(PduType.GET_NEXT, [(K, (), False)], packet_id=1)
    b = master_pdu(PduType.GET, [((*K, 1, 2, 0), (), False)], packet_id=2)
    r = Reader()
    stream = a + b
    got = []
    for i in range(0, len(stream), 7):
        got += r.feed(stream[i:i + 7])
    assert [q.header.packet_id for q in got] == [1, 2]


def test_open_register_notify_are_network_byte_order() -> None:
    pdu = agentx.open_pdu(1, (), "Keepalived")
    h = agentx.decode_header(pdu[:20])
    assert h.type == PduType.OPEN and h.flags & FLAG_NETWORK_BYTE_ORDER and h.length == len(pdu) - 20
    reg = agentx.register_pdu(5, 2, K)
    # timeout 0, priority 127, range_subid 0; the subtree with the internet prefix compressed (prefix 4)
    assert reg[20:24] == bytes([0, 127, 0, 0]) and reg[24:28] == bytes([4, 4, 0, 0])
    assert struct.unpack(">4I", reg[28:44]) == (1, 9586, 100, 5)
    note = agentx.notify_pdu(5, 3, [VarBind(agentx.SNMP_TRAP_OID_0, agentx.ObjectIdentifier((*K, 2, 10, 0, 2)))])
    assert agentx.decode_header(note[:20]).session_id == 5


@given(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12), st.integers(-2**31, 2**31 - 1),
       st.binary(max_size=40), st.integers(0, 2**64 - 1))
def test_varbinds_survive_encode_decode(tail: list[int], i: int, data: bytes, c64: int) -> None:
    oid = (1, 3, 6, 1, 2, 1, 68, *tail)
    vbs = [VarBind(oid, Integer(i)), VarBind(oid, OctetString(data)), VarBind(oid, Counter64(c64)),
           VarBind(oid, agentx.IpAddress(b"\x0a\0\0\x05")), VarBind(oid, agentx.ObjectIdentifier(tuple(tail)))]
    req = agentx.Header(PduType.GET, 0, 1, 2, 3, 0)
    (resp,) = Reader().feed(agentx.response_pdu(req, vbs))
    assert list(resp.varbinds) == vbs


def test_socket_syntax_is_net_snmps() -> None:
    assert parse_socket(None) == ("unix", "/var/agentx/master")
    assert parse_socket("unix:/run/ax") == ("unix", "/run/ax")
    assert parse_socket("/run/ax") == ("unix", "/run/ax")
    assert parse_socket("tcp:127.0.0.1:705") == ("tcp", ("127.0.0.1", 705))
    assert parse_socket("localhost:7050") == ("tcp", ("localhost", 7050))
