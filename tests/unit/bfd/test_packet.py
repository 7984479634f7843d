"""BFD Control packet codec: round trips and every check of RFC 5880 §6.8.6 (plus keepalived's two)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.bfd.packet import HEADER_LEN, ControlPacket, Diag, Reason, Rejected, State, decode


def raw(*, version: int = 1, diag: int = 0, state: int = 1, flags: int = 0, mult: int = 3, length: int = 24,
        my: int = 7, your: int = 0, tx: int = 1_000_000, rx: int = 1_000_000, echo: int = 0,
        extra: bytes = b"") -> bytes:
    return struct.pack("!BBBBIIIII", (version << 5) | diag, (state << 6) | flags, mult, length,
                       my, your, tx, rx, echo) + extra


def test_encode_is_the_rfc_layout() -> None:
    pkt = ControlPacket(state=State.UP, my_discr=0x01020304, your_discr=0x0A0B0C0D, diag=Diag.TIME_EXPIRED,
                        detect_mult=5, desired_min_tx=10_000, required_min_rx=20_000, poll=True)
    data = pkt.encode()
    assert len(data) == HEADER_LEN
    assert data[0] == (1 << 5) | 1  # version 1, diag 1
    assert data[1] == (3 << 6) | 0x20  # Up, P
    assert data[2:4] == bytes([5, 24])
    assert data[4:24] == struct.pack("!IIIII", 0x01020304, 0x0A0B0C0D, 10_000, 20_000, 0)


@given(
    state=st.sampled_from(list(State)), diag=st.sampled_from(list(Diag)),
    my=st.integers(1, 2**32 - 1), your=st.integers(1, 2**32 - 1), mult=st.integers(1, 255),
    tx=st.integers(0, 2**32 - 1), rx=st.integers(0, 2**32 - 1), echo=st.integers(0, 2**32 - 1),
    pf=st.sampled_from([(False, False), (True, False), (False, True)]),
    cpi=st.booleans(), demand=st.booleans(),
)
def test_round_trip(state: State, diag: Diag, my: int, your: int, mult: int, tx: int, rx: int, echo: int,
                    pf: tuple[bool, bool], cpi: bool, demand: bool) -> None:
    pkt = ControlPacket(state=state, my_discr=my, your_discr=your, diag=diag, detect_mult=mult,
                        desired_min_tx=tx, required_min_rx=rx, required_min_echo_rx=echo, poll=pf[0],
                        final=pf[1], control_plane_independent=cpi, demand=demand)
    assert decode(pkt.encode()) == pkt


@given(st.binary(max_size=64))
def test_decode_never_raises(data: bytes) -> None:
    assert isinstance(decode(data), ControlPacket | Rejected)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (raw()[:23], Reason.TOO_SHORT),
        (b"", Reason.TOO_SHORT),
        (raw(version=0), Reason.BAD_VERSION),
        (raw(version=2), Reason.BAD_VERSION),
        (raw(length=23), Reason.BAD_LENGTH),
        (raw(flags=0x04, length=25, extra=b"\0"), Reason.BAD_LENGTH),  # A bit: at least 26
        (raw(length=25), Reason.LENGTH_BEYOND_PAYLOAD),
        (raw(mult=0), Reason.ZERO_DETECT_MULT),
        (raw(flags=0x01), Reason.MULTIPOINT),
        (raw(my=0), Reason.ZERO_MY_DISCR),
        (raw(state=2, your=0), Reason.ZERO_YOUR_DISCR_NOT_DOWN),
        (raw(state=3, your=0), Reason.ZERO_YOUR_DISCR_NOT_DOWN),
        (raw(your=9, flags=0x30), Reason.POLL_AND_FINAL),
        (raw(diag=9), Reason.BAD_DIAG),
        (raw(diag=31), Reason.BAD_DIAG),
    ],
)
def test_every_check_rejects(data: bytes, reason: Reason) -> None:
    got = decode(data)
    assert isinstance(got, Rejected) and got.reason is reason


def test_checks_run_in_the_rfc_order() -> None:
    # bad version and zero multiplier and zero discriminator: the version is checked first
    got = decode(raw(version=3, mult=0, my=0))
    assert isinstance(got, Rejected) and got.reason is Reason.BAD_VERSION
    got = decode(raw(mult=0, my=0))
    assert isinstance(got, Rejected) and got.reason is Reason.ZERO_DETECT_MULT


def test_accepted_corner_cases() -> None:
    # Down and AdminDown may carry Your Discriminator 0; bytes beyond Length are not part of the packet
    assert isinstance(decode(raw(state=1, your=0)), ControlPacket)
    assert isinstance(decode(raw(state=0, your=0)), ControlPacket)
    assert isinstance(decode(raw(extra=b"pad")), ControlPacket)
    # an authentication section is decoded (the session drops it: no authentication in use)
    got = decode(raw(flags=0x04, length=26, extra=b"\x01\x02"))
    assert isinstance(got, ControlPacket) and got.auth and got.length == 26
