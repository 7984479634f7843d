"""The BFD session core on a virtual clock: handshake, detection exactly at the RFC 5880 §6.8.4 bound, the
Poll/Final sequence of §6.8.3, jitter bounds of §6.8.7, idle_tx while not Up, drops counted per reason."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from pykeepalived.bfd.packet import ControlPacket, Diag, Reason, State
from pykeepalived.bfd.session import (
    AdminDown,
    AdminUp,
    ChangeParameters,
    DetectionTimeChanged,
    Dropped,
    PacketReceived,
    SendPacket,
    Session,
    SessionConfig,
    Sessions,
    Start,
    StateChanged,
    TimerFired,
)

MS = 1_000


class Fixed:
    """A jitter source that always reduces by the same fraction."""

    def __init__(self, fraction: float = 0.0) -> None:
        self.fraction = fraction
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return min(max(self.fraction, a), b)


def session(name: str = "a", discr: int = 1, **kw: object) -> Session:
    return Session(SessionConfig(name=name, local_discr=discr, **kw), rng=Fixed())  # type: ignore[arg-type]


def sent(actions: list) -> list[ControlPacket]:
    return [a.packet for a in actions if isinstance(a, SendPacket)]


def changes(actions: list) -> list[StateChanged]:
    return [a for a in actions if isinstance(a, StateChanged)]


class Wire:
    """Two sessions joined by a lossless, zero-delay link; time moves only when the test says so."""

    def __init__(self, a: Session, b: Session) -> None:
        self.a, self.b = a, b
        self.now = 0.0
        self.log: list[tuple[float, str, ControlPacket]] = []
        self.cut = False
        self.changes: list[tuple[float, str, StateChanged]] = []

    def _deliver(self, src: Session, actions: list) -> None:
        dst = self.b if src is self.a else self.a
        self.changes += [(self.now, src.config.name, c) for c in changes(actions)]
        for pkt in sent(actions):
            self.log.append((self.now, src.config.name, pkt))
            if not self.cut:
                self._deliver(dst, dst.handle(self.now, PacketReceived(pkt, 255)))

    def start(self) -> None:
        first = [(s, s.handle(self.now, Start())) for s in (self.a, self.b)]
        for s, actions in first:
            self._deliver(s, actions)

    def run_until(self, end: float) -> None:
        while True:
            deadlines = [(d, s) for s in (self.a, self.b) if (d := s.next_deadline()) is not None]
            if not deadlines:
                self.now = end
                return
            at, s = min(deadlines, key=lambda x: x[0])
            if at > end:
                self.now = end
                return
            self.now = at
            self._deliver(s, s.handle(at, TimerFired()))


def established(**kw: object) -> Wire:
    w = Wire(session("a", 1, **kw), session("b", 2, **kw))
    w.start()
    w.run_until(5.0)
    assert w.a.state is State.UP and w.b.state is State.UP
    return w


# -- start, handshake, idle_tx -------------------------------------------------------------------------


def test_active_session_sends_down_at_once_then_at_idle_tx() -> None:
    s = session(min_tx=10 * MS, idle_tx=1_000 * MS)
    pkts = sent(s.handle(0.0, Start()))
    assert len(pkts) == 1
    p = pkts[0]
    assert p.state is State.DOWN and p.your_discr == 0 and p.my_discr == 1
    assert p.desired_min_tx == 1_000_000  # not Up: idle_tx, never below 1 s
    assert p.required_min_rx == 10 * MS and p.detect_mult == 5
    assert s.next_deadline() == pytest.approx(1.0)


def test_idle_tx_is_never_below_one_second_while_not_up() -> None:
    s = session(idle_tx=1_000 * MS)
    s.handle(0.0, Start())
    assert s.desired_min_tx == 1_000_000
    s2 = session(idle_tx=2_000 * MS)
    s2.handle(0.0, Start())
    assert s2.desired_min_tx == 2_000_000 and s2.next_deadline() == pytest.approx(2.0)


def test_passive_session_waits_for_the_peer() -> None:
    s = session(passive=True)
    assert s.handle(0.0, Start()) == [] and s.next_deadline() is None
    peer = ControlPacket(state=State.DOWN, my_discr=99, detect_mult=3)
    actions = s.handle(0.5, PacketReceived(peer, 255))
    assert [c.new for c in changes(actions)] == [State.INIT]
    assert s.next_deadline() is not None  # now it may send


def test_three_way_handshake_reaches_up_on_both_sides() -> None:
    w = Wire(session("a", 1), session("b", 2))
    w.start()
    assert w.a.state is State.INIT and w.b.state is State.INIT  # each saw the other's Down
    w.run_until(1.0)  # idle_tx: 1 s, no jitter from Fixed(0)
    assert w.a.state is State.UP and w.b.state is State.UP
    assert w.a.remote_discr == 2 and w.b.remote_discr == 1
    assert w.a.local_diag is Diag.NO_DIAG


def test_up_runs_a_poll_sequence_then_the_fast_interval() -> None:
    w = established(min_tx=10 * MS, min_rx=10 * MS, multiplier=3)
    assert not w.a.poll and not w.b.poll  # the poll answered by a Final
    polls = [p for _, _, p in w.log if p.poll]
    finals = [p for _, _, p in w.log if p.final]
    assert polls and finals and not any(p.poll and p.final for _, _, p in w.log)
    assert w.a.tx_interval == 10 * MS and w.a.detection_time == 30 * MS
    # once Up, the packets go every 10 ms (no jitter from Fixed(0))
    times = [t for t, who, p in w.log if who == "a" and t > 1.0 and not p.final]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert gaps == {0.01}


# -- detection time (RFC 5880 §6.8.4) ------------------------------------------------------------------


def up_session(min_rx: int, remote_tx: int, remote_mult: int, now: float = 10.0) -> Session:
    s = session(min_rx=min_rx, min_tx=10 * MS)
    s.handle(0.0, Start())
    s.handle(now - 0.002, PacketReceived(ControlPacket(state=State.DOWN, my_discr=7, detect_mult=remote_mult,
                                                       desired_min_tx=remote_tx, required_min_rx=10 * MS), 255))
    s.handle(now, PacketReceived(ControlPacket(state=State.UP, my_discr=7, your_discr=1,
                                               detect_mult=remote_mult, desired_min_tx=remote_tx,
                                               required_min_rx=10 * MS), 255))
    assert s.state is State.UP
    return s


@pytest.mark.parametrize(
    ("min_rx", "remote_tx", "mult", "expected"),
    [
        (10 * MS, 50 * MS, 3, 150 * MS),  # the remote's Desired Min TX is the larger
        (100 * MS, 10 * MS, 3, 300 * MS),  # our Required Min RX is the larger
        (20 * MS, 20 * MS, 5, 100 * MS),
        (300 * MS, 300 * MS, 1, 300 * MS),
    ],
)
def test_detection_time_is_remote_mult_times_the_larger_interval(min_rx: int, remote_tx: int, mult: int,
                                                                  expected: int) -> None:
    s = up_session(min_rx, remote_tx, mult)
    assert s.detection_time == expected


def test_detection_exactly_at_the_bound() -> None:
    s = up_session(10 * MS, 50 * MS, 3, now=10.0)
    bound = 10.0 + 150 * MS / 1_000_000
    assert s.next_deadline() is not None
    just_before = s.handle(bound - 1e-9, TimerFired())
    assert s.state is State.UP and not changes(just_before)
    actions = s.handle(bound, TimerFired())
    assert changes(actions) == [StateChanged(State.UP, State.DOWN, Diag.TIME_EXPIRED, False)]
    assert s.remote_discr == 0 and s.local_diag is Diag.TIME_EXPIRED
    # the packets after that say Down, with the diagnostic, and go at idle_tx again
    assert s.tx_interval == 1_000_000


def test_every_valid_packet_restarts_detection() -> None:
    s = up_session(10 * MS, 50 * MS, 3, now=10.0)
    pkt = ControlPacket(state=State.UP, my_discr=7, your_discr=1, detect_mult=3, desired_min_tx=50 * MS,
                        required_min_rx=10 * MS)
    s.handle(10.1, PacketReceived(pkt, 255))
    s.handle(10.2, TimerFired())
    assert s.state is State.UP
    s.handle(10.25 - 1e-9, TimerFired())
    assert s.state is State.UP
    s.handle(10.25, TimerFired())
    assert s.state is State.DOWN


def test_init_expires_too() -> None:
    s = session(min_rx=10 * MS)
    s.handle(0.0, Start())
    s.handle(1.0, PacketReceived(ControlPacket(state=State.DOWN, my_discr=7, detect_mult=3,
                                               desired_min_tx=1_000_000, required_min_rx=10 * MS), 255))
    assert s.state is State.INIT
    s.handle(4.0, TimerFired())  # 3 x 1 s
    assert s.state is State.DOWN and s.local_diag is Diag.TIME_EXPIRED


def test_wire_detection_after_the_link_is_cut() -> None:
    w = established(min_tx=10 * MS, min_rx=10 * MS, multiplier=3)
    last_from_b = max(t for t, who, _ in w.log if who == "b")
    w.cut = True
    w.run_until(6.0)
    assert w.a.state is State.DOWN and w.a.local_diag is Diag.TIME_EXPIRED
    # a went down exactly one detection time (3 x 10 ms) after b's last packet
    [(when, _, change)] = [c for c in w.changes if c[1] == "a" and c[0] > last_from_b]
    assert change == StateChanged(State.UP, State.DOWN, Diag.TIME_EXPIRED, False)
    assert when == last_from_b + 0.030


# -- Poll / Final (§6.5, §6.8.3) -----------------------------------------------------------------------


def test_poll_is_answered_by_a_final_at_once() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    deadline = s.next_deadline()
    poll = ControlPacket(state=State.UP, my_discr=7, your_discr=1, detect_mult=3, desired_min_tx=10 * MS,
                         required_min_rx=10 * MS, poll=True)
    pkts = sent(s.handle(10.001, PacketReceived(poll, 255)))
    assert len(pkts) == 1 and pkts[0].final and not pkts[0].poll
    assert s.next_deadline() == deadline  # the periodic timer did not move


def test_increase_of_min_tx_waits_for_the_final() -> None:
    w = established(min_tx=10 * MS, min_rx=10 * MS, multiplier=3)
    w.cut = True  # hold the Final back
    acts = w.a.handle(w.now, ChangeParameters(min_tx=100 * MS))
    assert not changes(acts)
    assert w.a.poll and w.a.desired_min_tx == 100 * MS
    assert w.a.tx_interval == 10 * MS  # still the old interval until the sequence ends
    final = ControlPacket(state=State.UP, my_discr=2, your_discr=1, detect_mult=3, desired_min_tx=10 * MS,
                          required_min_rx=10 * MS, final=True)
    w.a.handle(w.now + 0.012, PacketReceived(final, 255))
    assert not w.a.poll and w.a.tx_interval == 100 * MS


def test_periodic_packets_carry_poll_until_the_final() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    s.handle(10.0, ChangeParameters(min_tx=20 * MS))
    pkts = sent(s.handle(10.02, TimerFired()))
    assert pkts and all(p.poll and not p.final for p in pkts)
    final = ControlPacket(state=State.UP, my_discr=7, your_discr=1, detect_mult=3, desired_min_tx=10 * MS,
                          required_min_rx=10 * MS, final=True)
    s.handle(10.021, PacketReceived(final, 255))
    pkts = sent(s.handle(10.05, TimerFired()))
    assert pkts and not any(p.poll for p in pkts)


def test_reduced_min_rx_keeps_the_old_detection_time_until_the_final() -> None:
    s = up_session(100 * MS, 10 * MS, 3)
    assert s.detection_time == 300 * MS
    acts = s.handle(10.0, ChangeParameters(min_rx=10 * MS))
    assert s.poll and s.detection_time == 300 * MS and not [a for a in acts if isinstance(a, DetectionTimeChanged)]
    final = ControlPacket(state=State.UP, my_discr=7, your_discr=1, detect_mult=3, desired_min_tx=10 * MS,
                          required_min_rx=10 * MS, final=True)
    acts = s.handle(10.01, PacketReceived(final, 255))
    assert s.detection_time == 30 * MS
    assert DetectionTimeChanged(30 * MS, 300 * MS) in acts


def test_increased_min_rx_counts_at_once() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    s.handle(10.0, ChangeParameters(min_rx=50 * MS))
    assert s.detection_time == 150 * MS and s.poll


# -- jitter (§6.8.7) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mult", "low"), [(3, 0.75), (1, 0.75), (5, 0.75)])
def test_jitter_bounds(mult: int, low: float) -> None:
    rng = random.Random(1234)
    s = Session(SessionConfig(name="j", local_discr=1, multiplier=mult, min_tx=100 * MS, min_rx=100 * MS),
                rng=rng)
    s.handle(0.0, Start())
    now = 0.0
    gaps = []
    for _ in range(2000):
        at = s.next_deadline()
        assert at is not None
        gaps.append(at - now)
        now = at
        s.handle(now, TimerFired())
    high = 0.90 if mult == 1 else 1.0
    assert min(gaps) >= low * 1.0 - 1e-9 and max(gaps) <= high * 1.0 + 1e-9
    # the range is used, not a single point
    assert max(gaps) - min(gaps) > 0.1


def test_jitter_asks_for_ten_to_twentyfive_percent_when_mult_is_one() -> None:
    rng = Fixed(0.0)
    s = Session(SessionConfig(name="j", local_discr=1, multiplier=1), rng=rng)
    s.handle(0.0, Start())
    assert rng.calls[-1] == (0.10, 0.25)
    assert s.next_deadline() == pytest.approx(0.9)
    rng3 = Fixed(0.0)
    s3 = Session(SessionConfig(name="j", local_discr=1, multiplier=3), rng=rng3)
    s3.handle(0.0, Start())
    assert rng3.calls[-1] == (0.0, 0.25)


# -- state machine corners -----------------------------------------------------------------------------


def test_neighbour_down_takes_an_up_session_down() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    down = ControlPacket(state=State.DOWN, my_discr=7, your_discr=1, detect_mult=3, diag=Diag.TIME_EXPIRED)
    acts = s.handle(10.005, PacketReceived(down, 255))
    assert changes(acts) == [StateChanged(State.UP, State.DOWN, Diag.NEIGHBOR_DOWN, False)]


def test_neighbour_admin_down_is_not_a_path_failure() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    ad = ControlPacket(state=State.ADMIN_DOWN, my_discr=7, your_discr=1, detect_mult=3, diag=Diag.ADMIN_DOWN)
    acts = s.handle(10.005, PacketReceived(ad, 255))
    assert changes(acts) == [StateChanged(State.UP, State.DOWN, Diag.NEIGHBOR_DOWN, True)]
    assert s.next_deadline() is not None  # still sending Down


def test_admin_down_sends_admin_down_then_stops_and_drops() -> None:
    s = up_session(10 * MS, 10 * MS, 3)
    acts = s.handle(10.0, AdminDown())
    assert changes(acts)[0].new is State.ADMIN_DOWN
    assert sent(acts)[0].state is State.ADMIN_DOWN and sent(acts)[0].diag is Diag.ADMIN_DOWN
    now = 10.0
    while (at := s.next_deadline()) is not None:
        now = at
        s.handle(now, TimerFired())
    assert now < 15.0  # it stops after a detection time's worth of packets
    pkt = ControlPacket(state=State.UP, my_discr=7, your_discr=1, detect_mult=3)
    assert s.handle(20.0, PacketReceived(pkt, 255)) == [Dropped(Reason.ADMIN_DOWN)]
    acts = s.handle(21.0, AdminUp())
    assert changes(acts)[0].new is State.DOWN and sent(acts)[0].state is State.DOWN


def test_remote_min_rx_zero_stops_periodic_packets() -> None:
    s = session()
    s.handle(0.0, Start())
    pkt = ControlPacket(state=State.DOWN, my_discr=7, detect_mult=3, required_min_rx=0)
    s.handle(0.1, PacketReceived(pkt, 255))
    assert s.tx_interval is None
    # the detection timer still runs (Init)
    assert s.next_deadline() is not None
    s.handle(s.next_deadline(), TimerFired())  # type: ignore[arg-type]
    assert s.next_deadline() is None


# -- the receive table: drops counted per reason -------------------------------------------------------


def table() -> tuple[Sessions, Session]:
    t = Sessions()
    s = session("x", 1, min_rx=10 * MS)
    t.add(s, "10.0.0.2", "10.0.0.1")
    s.handle(0.0, Start())
    return t, s


def good(**kw: object) -> bytes:
    base = {"state": State.DOWN, "my_discr": 7, "detect_mult": 3}
    return ControlPacket(**{**base, **kw}).encode()  # type: ignore[arg-type]


def test_table_routes_by_addresses_then_by_discriminator() -> None:
    t, s = table()
    r = t.receive(0.1, good(), "10.0.0.2", "10.0.0.1", 255)
    assert r.session is s and s.state is State.INIT
    r = t.receive(0.2, good(state=State.UP, your_discr=1), "10.0.0.99", None, 255)
    assert r.session is s and s.state is State.UP  # by Your Discriminator, whatever the address


@pytest.mark.parametrize(
    ("data", "source", "ttl", "reason"),
    [
        (b"\x20" * 10, "10.0.0.2", 255, Reason.TOO_SHORT),
        (good()[:3] + bytes([25]) + good()[4:], "10.0.0.2", 255, Reason.LENGTH_BEYOND_PAYLOAD),
        (good(detect_mult=0), "10.0.0.2", 255, Reason.ZERO_DETECT_MULT),
        (good(your_discr=12345), "10.0.0.2", 255, Reason.NO_SESSION),
        (good(), "10.0.0.3", 255, Reason.NO_SESSION),
        (good(), "10.0.0.2", 254, Reason.TTL),
        (good(), "10.0.0.2", 1, Reason.TTL),
    ],
)
def test_table_drops_and_counts(data: bytes, source: str, ttl: int, reason: Reason) -> None:
    t, s = table()
    r = t.receive(0.1, data, source, "10.0.0.1", ttl)
    assert Dropped(reason) in r.actions
    assert t.drops[reason] + s.drops[reason] == 1
    assert s.state is State.DOWN


def test_auth_bit_is_dropped_by_the_session() -> None:
    t, s = table()
    data = bytearray(good())
    data[1] |= 0x04
    data[3] = 26
    r = t.receive(0.1, bytes(data) + b"\x01\x02", "10.0.0.2", "10.0.0.1", 255)
    assert r.actions == [Dropped(Reason.AUTH)] and s.drops[Reason.AUTH] == 1


def test_max_hops_relaxes_the_ttl_check() -> None:
    s = Session(SessionConfig(name="m", local_discr=1, ttl=255, max_hops=2), rng=Fixed())
    assert s.accepts_ttl(253) and not s.accepts_ttl(252)
    off = replace(s.config, max_hops=255)
    assert Session(off, rng=Fixed()).accepts_ttl(1)


def test_table_rejects_duplicates_and_removes() -> None:
    t, s = table()
    with pytest.raises(ValueError, match="already present"):
        t.add(session("x", 5), "10.0.0.9")
    assert t.remove("x") is s and len(t) == 0
    r = t.receive(0.1, good(), "10.0.0.2", "10.0.0.1", 255)
    assert r.session is None
