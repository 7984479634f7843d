"""BFD Control packet codec (RFC 5880 §4.1), sans-I/O: bytes in, bytes out.

The packet checks that need only the bytes (RFC 5880 §6.8.6, in its order, plus keepalived's two extra
ones from its bfd/bfd.c: bfd_check_packet(): Poll and Final both set, an unknown diagnostic) live in
:func:`decode`; it never raises on input from the wire: it returns a :class:`ControlPacket` or a
:class:`Rejected` naming the first check that failed, so the receiver can count drops per reason.  The
checks that need a session (Your Discriminator lookup, TTL/GTSM, the A bit against the session's
authentication, AdminDown) are the session table's (:mod:`pykeepalived.bfd.session`).

Intervals are in microseconds, as on the wire.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

VERSION: Final = 1
#: the mandatory section; with the A bit the authentication section follows (at least 2 more bytes)
HEADER_LEN: Final = 24
AUTH_MIN_LEN: Final = 26
#: RFC 5881 §4: Control packets to 3784, from a source port in 49152-65535, TTL/hop limit 255 (§5)
CONTROL_PORT: Final = 3784
SOURCE_PORT_MIN: Final = 49152
SOURCE_PORT_MAX: Final = 65535
TTL: Final = 255

_HEADER = struct.Struct("!BBBBIIIII")

_P, _F, _C, _A, _D, _M = 0x20, 0x10, 0x08, 0x04, 0x02, 0x01


class State(enum.IntEnum):
    """bfd.SessionState (RFC 5880 §4.1 Sta)."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3

    @property
    def label(self) -> str:
        """keepalived's BFD_STATE_STR."""
        return ("AdminDown", "Down", "Init", "Up")[self.value]


class Diag(enum.IntEnum):
    """bfd.LocalDiag (RFC 5880 §4.1 Diag)."""

    NO_DIAG = 0
    TIME_EXPIRED = 1
    ECHO_FAILED = 2
    NEIGHBOR_DOWN = 3
    FORWARDING_RESET = 4
    PATH_DOWN = 5
    CONCAT_PATH_DOWN = 6
    ADMIN_DOWN = 7
    REVERSE_CONCAT_PATH_DOWN = 8

    @property
    def label(self) -> str:
        """keepalived's BFD_DIAG_STR wording."""
        return _DIAG_LABELS[self.value]


_DIAG_LABELS = (
    "No Diagnostic", "Control Detection Time Expired", "Echo Function Failed", "Neighbor Signaled Session Down",
    "Forwarding Plane Reset", "Path Down", "Concatenated Path Down", "Administratively Down",
    "Reverse Concatenated Path Down",
)


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One BFD Control packet (without authentication: pykeepalived, like keepalived, has none)."""

    state: State
    my_discr: int
    your_discr: int = 0
    diag: Diag = Diag.NO_DIAG
    detect_mult: int = 3
    desired_min_tx: int = 1_000_000
    required_min_rx: int = 1_000_000
    required_min_echo_rx: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    auth: bool = False
    demand: bool = False
    multipoint: bool = False
    version: int = VERSION
    #: the Length field (HEADER_LEN unless decoded from a packet that says otherwise)
    length: int = HEADER_LEN

    def encode(self) -> bytes:
        flags = (
            (self.state.value << 6)
            | (_P if self.poll else 0)
            | (_F if self.final else 0)
            | (_C if self.control_plane_independent else 0)
            | (_A if self.auth else 0)
            | (_D if self.demand else 0)
            | (_M if self.multipoint else 0)
        )
        return _HEADER.pack(
            ((self.version & 0x7) << 5) | (int(self.diag) & 0x1F),
            flags,
            self.detect_mult,
            HEADER_LEN,
            self.my_discr,
            self.your_discr,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        )


class Reason(enum.Enum):
    """Why a received packet was dropped: the checks of RFC 5880 §6.8.6 in its order, then keepalived's
    extra ones, then the session table's."""

    TOO_SHORT = "datagram shorter than the mandatory section"
    BAD_VERSION = "version is not 1"
    BAD_LENGTH = "Length field below the minimum (24, 26 with the A bit)"
    LENGTH_BEYOND_PAYLOAD = "Length field beyond the UDP payload"
    ZERO_DETECT_MULT = "Detect Mult is zero"
    MULTIPOINT = "Multipoint bit set"
    ZERO_MY_DISCR = "My Discriminator is zero"
    ZERO_YOUR_DISCR_NOT_DOWN = "Your Discriminator is zero and State is not Down or AdminDown"
    POLL_AND_FINAL = "both Poll and Final set"
    BAD_DIAG = "unknown diagnostic code"
    # the session table's (pykeepalived.bfd.session.Sessions)
    NO_SESSION = "no session for Your Discriminator / addresses"
    TTL = "TTL/hop limit below the GTSM bound"
    AUTH = "A bit set but no authentication in use"
    ADMIN_DOWN = "session is AdminDown"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str = ""


def decode(data: bytes) -> ControlPacket | Rejected:
    """A received UDP payload as a packet, or why it must be discarded (RFC 5880 §6.8.6)."""
    if len(data) < HEADER_LEN:
        return Rejected(Reason.TOO_SHORT, f"{len(data)} bytes")
    b0, flags, mult, length, my_d, your_d, tx, rx, echo = _HEADER.unpack_from(data)
    version, diag = b0 >> 5, b0 & 0x1F
    if version != VERSION:
        return Rejected(Reason.BAD_VERSION, str(version))
    auth = bool(flags & _A)
    if length < (AUTH_MIN_LEN if auth else HEADER_LEN):
        return Rejected(Reason.BAD_LENGTH, str(length))
    if length > len(data):
        return Rejected(Reason.LENGTH_BEYOND_PAYLOAD, f"{length} > {len(data)}")
    if mult == 0:
        return Rejected(Reason.ZERO_DETECT_MULT)
    if flags & _M:
        return Rejected(Reason.MULTIPOINT)
    if my_d == 0:
        return Rejected(Reason.ZERO_MY_DISCR)
    state = State(flags >> 6)
    if your_d == 0 and state not in (State.DOWN, State.ADMIN_DOWN):
        return Rejected(Reason.ZERO_YOUR_DISCR_NOT_DOWN, state.label)
    if flags & _P and flags & _F:
        return Rejected(Reason.POLL_AND_FINAL)
    if diag > max(Diag):
        return Rejected(Reason.BAD_DIAG, str(diag))
    return ControlPacket(
        state=state, my_discr=my_d, your_discr=your_d, diag=Diag(diag), detect_mult=mult,
        desired_min_tx=tx, required_min_rx=rx, required_min_echo_rx=echo,
        poll=bool(flags & _P), final=bool(flags & _F), control_plane_independent=bool(flags & _C),
        auth=auth, demand=bool(flags & _D), multipoint=False, version=version, length=length,
    )
