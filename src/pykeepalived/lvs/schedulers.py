"""The IPVS schedulers as pure objects, decision for decision what the kernel does.

One implementation serves every data plane: the userspace proxy calls ``pick`` per new
connection, the nftables data plane installs ``hash_table`` / ``weighted_sequence`` as maps,
and the ipvs data plane needs none of it but tests compare against it.  Nothing here reads a
clock, a socket or an unseeded random source: time and randomness are arguments, so every
node given the same destinations computes the same tables (as several active load balancers
behind one ECMP router need).

Conventions, matching ``struct ip_vs_service``:

* ``dests`` is the service's destination list *in the kernel's list order*.  The kernel
  inserts a new destination at the head of the list, so after adding real servers one by one
  in config order the list is in reverse config order (``ipvsadm -Ln`` sorts its output and
  does not show this order).  Tables, round-robin sequences and least-connection ties all
  depend on it.
* ``update(dests)`` corresponds to the kernel's add_dest / del_dest / upd_dest hooks: call it
  whenever keys, order or weights change.  Between updates the connection counts and the
  overload flag may change freely; ``pick`` must then be given the same keys in the same order.
  wrr's phase (and rr's cursor) depend on the history of changes: calling update() after each
  single add / delete / edit, as the kernel runs its hooks, reproduces the kernel pick for pick.

Checked against Debian's 6.1 kernel (ipvsadm in the QEMU VM): rr, wrr, sh (+port, +fallback),
dh and mh (+port, +fallback, quiesced and re-weighted servers) chose the same real server as
the kernel for every probed flow.
* Weight 0 quiesces: such a destination keeps its existing connections and its place in the
  hash tables but is never picked for a new connection.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from itertools import chain
from typing import ClassVar, Protocol

IPAddress = IPv4Address | IPv6Address

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

# Scheduler flag bits of ip_vs.h (IP_VS_SVC_F_SCHED1..3), as netlink carries them.
SCHED_FLAG_1 = 0x0008  # sh-fallback / mh-fallback
SCHED_FLAG_2 = 0x0010  # sh-port / mh-port
SCHED_FLAG_3 = 0x0020

_FLAG_NAMES = {
    "flag-1": SCHED_FLAG_1,
    "sh-fallback": SCHED_FLAG_1,
    "mh-fallback": SCHED_FLAG_1,
    "flag-2": SCHED_FLAG_2,
    "sh-port": SCHED_FLAG_2,
    "mh-port": SCHED_FLAG_2,
    "flag-3": SCHED_FLAG_3,
}
# Service flags keepalived lists with the scheduler flags; they do not affect scheduling.
_SERVICE_FLAGS = frozenset({"ops", "hashed"})

# fmt: off
SCHEDULER_NAMES: tuple[str, ...] = (
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
)
# fmt: on

# Kernel build defaults (CONFIG_IP_VS_SH_TAB_BITS=8, CONFIG_IP_VS_DH_TAB_BITS=8,
# CONFIG_IP_VS_MH_TAB_INDEX=12 -> the fifth prime of the list below, 4093).
SH_TABLE_SIZE = 256
DH_TABLE_SIZE = 256
MH_PRIMES: tuple[int, ...] = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)
MH_TABLE_SIZE = 4093

# mh's two fixed hsiphash keys (the kernel's generate_hash_secret): every node derives the
# same permutations, which is what makes the table shareable.
_MH_KEY1 = (2654435761, 2654435761)
_MH_KEY2 = (2654446892, 2654446892)

# lblc / lblcr cache timing (seconds; the kernel counts jiffies).
LBLC_CHECK_INTERVAL = 60.0
LBLC_ENTRY_TIMEOUT = 360.0
LBLC_DEFAULT_EXPIRATION = 24 * 60 * 60.0
_LBLC_FULL_CHECK_EVERY = 30
_LBLC_TAB_BITS = 10
_LBLC_MAX_ENTRIES = (1 << _LBLC_TAB_BITS) * 16

_PORT_PROTOS = frozenset({"tcp", "udp", "sctp"})
_PROTO_NUMBERS = {6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "ipv6-icmp"}


# --------------------------------------------------------------------------- kernel hashes


def hash_32(value: int, bits: int) -> int:
    """The kernel's generic hash_32 (multiplicative, GOLDEN_RATIO_32), used by sh, dh, lblc."""
    return ((value * 0x61C88647) & _M32) >> (32 - bits)


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M64


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _M64
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _M64
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _M64
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _M64
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def hsiphash(data: bytes, key: tuple[int, int]) -> int:
    """The kernel's hsiphash as built on 64-bit machines (SipHash-1-3, low 32 bits of the result).

    32-bit kernels use HalfSipHash instead and so build different mh tables; production
    load balancers are 64-bit, and that is the variant every node here agrees on.
    """
    k0, k1 = key
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    full = len(data) - len(data) % 8
    for i in range(0, full, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= b
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return (v0 ^ v1 ^ v2 ^ v3) & _M32


def hsiphash_u32(value: int, key: tuple[int, int]) -> int:
    """hsiphash of one host-order u32 as mh hashes it (``hsiphash(&v, 4, key)`` on little-endian)."""
    return hsiphash((value & _M32).to_bytes(4, "little"), key)


def addr_fold(addr: IPAddress) -> int:
    """The host-order u32 IPVS hashes for an address: IPv4 as is, IPv6 its four words XORed."""
    x = int(addr)
    if addr.version == 6:
        x ^= (x >> 32) ^ (x >> 64) ^ (x >> 96)
    return x & _M32


def _as_ip(value: IPAddress | str | int) -> IPAddress:
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    return ipaddress.ip_address(value)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Dest:
    """One real server as the scheduler sees it (``struct ip_vs_dest``).

    ``key`` is opaque to every scheduler except mh, which hashes the real server's address
    and port: give them as ``addr``/``port`` or use a key of the form ``(ip, port)``.
    ``last_weight`` is the kernel's latest non-zero weight, which mh builds its table from so
    that quiescing a server does not reshuffle it; ``None`` means "same as weight" for the
    pure helpers, while a MaglevHashing object remembers it across its own updates.
    """

    key: Hashable
    weight: int = 1
    active_conns: int = 0
    inactive_conns: int = 0
    overloaded: bool = False
    u_threshold: int = 0
    l_threshold: int = 0
    last_weight: int | None = None
    addr: IPAddress | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")

    @property
    def total_conns(self) -> int:
        """ip_vs_dest_totalconns: what u_threshold / l_threshold are compared with."""
        return self.active_conns + self.inactive_conns

    @property
    def available(self) -> bool:
        """May take a new connection at all: not quiesced and not flagged overloaded."""
        return self.weight > 0 and not self.overloaded

    def endpoint(self) -> tuple[IPAddress, int]:
        """The real server's address and port, for the hashes that depend on them."""
        addr: object = self.addr
        port: object = self.port
        if (addr is None or port is None) and isinstance(self.key, tuple) and len(self.key) == 2:
            addr = self.key[0] if addr is None else addr
            port = self.key[1] if port is None else port
        if addr is None or not isinstance(port, int):
            raise ValueError(f"destination {self.key!r}: mh needs its address and port (addr=, port=)")
        if not isinstance(addr, IPv4Address | IPv6Address | str | int):
            raise ValueError(f"destination {self.key!r}: {addr!r} is not an IP address")
        return _as_ip(addr), port


def overload_after(dest: Dest, *, conn_added: bool) -> bool:
    """The IP_VS_DEST_F_OVERLOAD flag once a connection was bound to (or unbound from) ``dest``.

    ``dest`` carries the flag before and the counts after the change.  The flag is set when
    the total reaches u_threshold and cleared, with hysteresis, below l_threshold (or 3/4 of
    u_threshold when l_threshold is 0).
    """
    total = dest.total_conns
    if conn_added:
        return dest.overloaded or (dest.u_threshold != 0 and total >= dest.u_threshold)
    if dest.l_threshold != 0:
        return dest.overloaded and total >= dest.l_threshold
    if dest.u_threshold != 0:
        return dest.overloaded and total * 4 >= dest.u_threshold * 3
    return False


@dataclass(frozen=True, slots=True)
class Flow:
    """The first packet of a connection as the schedulers read it (hash_addr, ports, daddr)."""

    client: IPAddress
    client_port: int
    vip: IPAddress
    vport: int
    proto: str = "tcp"
    client_fold: int = field(init=False, repr=False, compare=False)
    vip_fold: int = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        client: IPAddress | str | int,
        client_port: int,
        vip: IPAddress | str | int,
        vport: int,
        proto: str | int = "tcp",
    ) -> None:
        c, v = _as_ip(client), _as_ip(vip)
        p = _PROTO_NUMBERS.get(proto, str(proto)) if isinstance(proto, int) else proto.lower()
        for name, value in (
            ("client", c),
            ("client_port", client_port),
            ("vip", v),
            ("vport", vport),
            ("proto", p),
            ("client_fold", addr_fold(c)),
            ("vip_fold", addr_fold(v)),
        ):
            object.__setattr__(self, name, value)

    @property
    def hash_port(self) -> int:
        """The client port, for protocols that have one (the kernel reads 0 for the others)."""
        return self.client_port if self.proto in _PORT_PROTOS else 0


# --------------------------------------------------------------------------- protocol


class Scheduler(Protocol):
    """What every scheduler offers; see the module docstring for the update/pick contract."""

    @property
    def name(self) -> str:
        """The ipvsadm / keepalived scheduler name."""

    def update(self, dests: Sequence[Dest]) -> None:
        """The destination set, its order or a weight changed: rebuild derived state."""

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        """The key of the destination for a new connection, or None (no destination available)."""


def parse_flags(flags: Iterable[str] | int) -> int:
    """keepalived's flag keywords (or netlink's bitmask) as IP_VS_SVC_F_SCHED* bits."""
    if isinstance(flags, int):
        return flags & (SCHED_FLAG_1 | SCHED_FLAG_2 | SCHED_FLAG_3)
    bits = 0
    for name in flags:
        low = name.lower()
        if low in _SERVICE_FLAGS:
            continue
        if low not in _FLAG_NAMES:
            raise ValueError(f"unknown scheduler flag {name!r}")
        bits |= _FLAG_NAMES[low]
    return bits


def _check_view(dests: Sequence[Dest], expected: int) -> None:
    if len(dests) != expected:
        raise ValueError(f"pick() got {len(dests)} destinations, update() saw {expected}: call update()")


def _positive_gcd(weights: Iterable[int]) -> int:
    """gcd of the positive weights, 0 when there is none (the kernel's *_gcd_weight)."""
    g = 0
    for w in weights:
        if w > 0:
            g = math.gcd(g, w)
    return g


def conn_overhead(dest: Dest) -> int:
    """ip_vs_dest_conn_overhead: an active connection costs 256 inactive ones."""
    return (dest.active_conns << 8) + dest.inactive_conns


def _expected_delay_overhead(dest: Dest) -> int:
    """sed / nq count only active connections, plus the one being scheduled."""
    return dest.active_conns + 1


def _weighted_least(dests: Sequence[Dest], overhead: Callable[[Dest], int] = conn_overhead) -> int | None:
    """Index of the least overhead/weight destination (wlc, sed, lblc, lblcr); ties keep the first."""
    least = -1
    for i, d in enumerate(dests):
        if d.weight > 0 and not d.overloaded:
            least = i
            break
    if least < 0:
        return None
    loh, lw = overhead(dests[least]), dests[least].weight
    for i in range(least + 1, len(dests)):
        d = dests[i]
        if d.overloaded:
            continue
        doh = overhead(d)
        if loh * d.weight > doh * lw:
            least, loh, lw = i, doh, d.weight
    return least


# --------------------------------------------------------------------------- stateless


class _Stateless:
    """Schedulers that look only at the current counts: update() has nothing to rebuild."""

    name: ClassVar[str]

    def update(self, dests: Sequence[Dest]) -> None:
        return None

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        i = self._choose(dests)
        return None if i is None else dests[i].key

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        raise NotImplementedError


class LeastConnection(_Stateless):
    """lc: least overhead; ties go to the first in list order (strict ``<``)."""

    name = "lc"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        least, loh = None, 0
        for i, d in enumerate(dests):
            if d.overloaded or d.weight == 0:
                continue
            doh = conn_overhead(d)
            if least is None or doh < loh:
                least, loh = i, doh
        return least


class WeightedLeastConnection(_Stateless):
    """wlc: least (activeconns*256 + inactconns) / weight."""

    name = "wlc"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        return _weighted_least(dests)


class ShortestExpectedDelay(_Stateless):
    """sed: least (activeconns + 1) / weight."""

    name = "sed"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        return _weighted_least(dests, _expected_delay_overhead)


class NeverQueue(_Stateless):
    """nq: the first idle server (no active connection), else as sed."""

    name = "nq"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        least, loh, lw = None, 0, 0
        for i, d in enumerate(dests):
            if d.overloaded or d.weight == 0:
                continue
            doh = _expected_delay_overhead(d)
            if d.active_conns == 0:
                return i
            if least is None or loh * d.weight > doh * lw:
                least, loh, lw = i, doh, d.weight
        return least


class WeightedFailover(_Stateless):
    """fo: the highest weight; ties go to the first in list order."""

    name = "fo"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        best, hw = None, 0
        for i, d in enumerate(dests):
            if not d.overloaded and d.weight > hw:
                best, hw = i, d.weight
        return best


class Overflow(_Stateless):
    """ovf: the highest weight whose active connections do not exceed its weight."""

    name = "ovf"

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        best, hw = None, 0
        for i, d in enumerate(dests):
            w = d.weight
            if d.overloaded or d.active_conns > w or w == 0:
                continue
            if best is None or w > hw:
                best, hw = i, w
        return best


class TwoChoices(_Stateless):
    """twos: two weighted random draws, keep the one with the lower overhead/weight.

    The kernel draws from get_random; here the generator is an argument so tests (and a
    replay) are deterministic.
    """

    name = "twos"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random()

    def _choose(self, dests: Sequence[Dest]) -> int | None:
        eligible = [i for i, d in enumerate(dests) if d.available]
        if not eligible:
            return None
        total = sum(dests[i].weight for i in eligible) + 1
        r1, r2 = self._rng.randrange(total), self._rng.randrange(total)
        c1 = c2 = -1
        for i in eligible:
            w = dests[i].weight
            r1 -= w
            r2 -= w
            if r1 <= 0 and c1 < 0:
                c1 = i
            if r2 <= 0 and c2 < 0:
                c2 = i
            if c1 >= 0 and c2 >= 0:
                break
        d1, d2 = dests[c1], dests[c2]
        return c2 if d2.weight * conn_overhead(d1) > d1.weight * conn_overhead(d2) else c1


# --------------------------------------------------------------------------- round robin


def _follow_position(old_keys: Sequence[Hashable], pos: int, new_keys: Sequence[Hashable]) -> int:
    """Where a list cursor ends up after a change: on the same entry, else on its nearest
    surviving predecessor, else on the list head (-1) — as rr's del_dest moves it."""
    index = {k: i for i, k in enumerate(new_keys)}
    for j in range(pos, -1, -1):
        if old_keys[j] in index:
            return index[old_keys[j]]
    return -1


class RoundRobin:
    """rr: the next available destination after the last one picked."""

    name = "rr"

    def __init__(self) -> None:
        self._keys: list[Hashable] = []
        self._pos = -1  # -1 is the list head

    def update(self, dests: Sequence[Dest]) -> None:
        keys = [d.key for d in dests]
        self._pos = _follow_position(self._keys, self._pos, keys)
        self._keys = keys

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        _check_view(dests, len(self._keys))
        start = self._pos
        for i in chain(range(start + 1, len(dests)), range(start + 1)):
            if dests[i].available:
                self._pos = i
                return dests[i].key
        return None


def weighted_sequence(dests: Sequence[Dest]) -> list[Hashable]:
    """One full wrr cycle from a fresh (or just updated) service, in the kernel's order.

    Pass cw runs from max_weight - (gcd - 1) down to 1 in steps of gcd; each pass yields the
    destinations whose weight is at least cw.  Weights (4, 3, 2) give A A B A B C A B C.
    """
    di = _positive_gcd(d.weight for d in dests) or 1
    mw = max((d.weight for d in dests), default=0) - (di - 1)
    return [d.key for cw in range(mw, 0, -di) for d in dests if not d.overloaded and d.weight >= cw]


class WeightedRoundRobin:
    """wrr: the kernel's current-weight walk, including its overload and restart handling."""

    name = "wrr"

    def __init__(self) -> None:
        self._n = 0
        self._pos = -1
        self._cw = 0
        self._mw = 0
        self._di = 1

    def update(self, dests: Sequence[Dest]) -> None:
        self._n = len(dests)
        self._pos = -1
        self._di = _positive_gcd(d.weight for d in dests) or 1
        self._mw = max((d.weight for d in dests), default=0) - (self._di - 1)
        if self._cw > self._mw or self._cw == 0:
            self._cw = self._mw
        elif self._di > 1:
            self._cw = (self._cw // self._di) * self._di + 1

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        _check_view(dests, self._n)
        if self._mw == 0:
            return None
        last = cur = self._pos
        stop: int | None = None
        last_pass = restarted = False
        while True:
            for i in range(cur + 1, len(dests)):
                d = dests[i]
                if not d.overloaded and d.weight >= self._cw:
                    self._pos = i
                    return d.key
                if i == stop:
                    self._pos = i
                    return None
            cur = -1
            self._cw -= self._di
            if self._cw <= 0:
                self._cw = self._mw
                if last_pass or last == -1:
                    self._pos = -1
                    return None
                restarted = True
            last_pass = self._cw <= self._di
            if last_pass and restarted and last != -1:
                stop = last


# --------------------------------------------------------------------------- hash tables


def _sh_table(dests: Sequence[Dest], size: int) -> list[int]:
    """sh: walk the list, giving each destination ``weight`` consecutive buckets (at least one)."""
    if not dests:
        return [-1] * size
    table, i, count = [], 0, 0
    for _ in range(size):
        table.append(i)
        count += 1
        if count >= dests[i].weight:
            i, count = (i + 1) % len(dests), 0
    return table


def _dh_table(dests: Sequence[Dest], size: int) -> list[int]:
    """dh: one bucket per destination in turn, weights ignored."""
    return [b % len(dests) if dests else -1 for b in range(size)]


def _mh_table(dests: Sequence[Dest], last_weights: Sequence[int], size: int) -> list[int]:
    """mh: Maglev population with the kernel's permutations, weight scaling and fill order."""
    g = _positive_gcd(last_weights)
    if g < 1:
        return [-1] * size
    if len(dests) > size:
        raise ValueError(f"mh: {len(dests)} destinations do not fit a {size}-slot table")
    shift = max(0, (max(last_weights) // g).bit_length() - size.bit_length() // 2)
    perm: list[int] = []
    plan: list[tuple[int, int, int]] = []  # (index, skip, turns) of the dests that take slots
    for i, (d, lw) in enumerate(zip(dests, last_weights, strict=True)):
        addr, port = d.endpoint()
        v = (port + addr_fold(addr)) & _M32
        perm.append(hsiphash_u32(v, _MH_KEY1) % size)
        turns = ((lw // g) >> shift) or (1 if lw != 0 else 0)
        if turns >= 1:
            plan.append((i, hsiphash_u32(v, _MH_KEY2) % (size - 1) + 1, turns))
    table = [-1] * size
    filled = 0
    while True:
        for i, skip, turns in plan:
            c = perm[i]
            for _ in range(turns):
                while table[c] >= 0:
                    c += skip
                    if c >= size:
                        c -= size
                table[c] = i
                filled += 1
                if filled == size:
                    return table
            perm[i] = c


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, math.isqrt(n) + 1))


def _check_size(name: str, size: int) -> int:
    if name == "mh" and not _is_prime(size):
        raise ValueError(f"mh table size must be prime (kernel: one of {MH_PRIMES}), got {size}")
    if name in ("sh", "dh") and (size < 2 or size & (size - 1)):
        raise ValueError(f"{name} table size must be a power of two, got {size}")
    return size


def hash_table(name: str, dests: Sequence[Dest], size: int | None = None) -> list[Hashable | None]:
    """The lookup table sh, dh or mh builds for ``dests`` (None for an empty slot).

    mh uses ``last_weight`` where given, else ``weight``.  The table is what a data plane
    installs as a hash map; the slot a flow falls into is the scheduler's own hash (see
    ``SourceHashing.slot`` / ``MaglevHashing.slot``).
    """
    if name == "mh":
        size = _check_size(name, size or MH_TABLE_SIZE)
        lws = [d.weight if d.last_weight is None else d.last_weight for d in dests]
        idx = _mh_table(dests, lws, size)
    elif name in ("sh", "dh"):
        size = _check_size(name, size or SH_TABLE_SIZE)
        idx = (_sh_table if name == "sh" else _dh_table)(dests, size)
    else:
        raise ValueError(f"{name!r} has no hash table (only sh, dh, mh)")
    return [None if i < 0 else dests[i].key for i in idx]


class _TableScheduler:
    """sh, dh and mh: a table of destination indexes, one slot per flow hash, optional fallback."""

    name: ClassVar[str]

    def __init__(self, size: int, flags: int = 0) -> None:
        self.size = _check_size(self.name, size)
        self.fallback = bool(flags & SCHED_FLAG_1)
        self.use_port = bool(flags & SCHED_FLAG_2)
        self._table: list[int] = [-1] * self.size
        self._n = 0

    @property
    def table(self) -> list[int]:
        """Destination index per slot (-1 empty), as of the last update()."""
        return list(self._table)

    def update(self, dests: Sequence[Dest]) -> None:
        self._table = self._build(dests)
        self._n = len(dests)

    def _build(self, dests: Sequence[Dest]) -> list[int]:
        raise NotImplementedError

    def _flow_value(self, flow: Flow) -> int:
        """What the flow contributes to its hash: source address (+ source port with the flag)."""
        port = flow.hash_port if self.use_port else 0
        return (port + flow.client_fold) & _M32

    def _slot(self, value: int, offset: int) -> int:
        raise NotImplementedError

    def slot(self, flow: Flow) -> int:
        """The table slot the flow hashes to first."""
        return self._slot(self._flow_value(flow), 0)

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        _check_view(dests, self._n)
        table, value = self._table, self._flow_value(flow)
        ihash = self._slot(value, 0)
        i = table[ihash]
        if i < 0:
            return None
        if dests[i].available:
            return dests[i].key
        if not self.fallback:
            return None
        for offset in range(self.size):
            i = table[self._slot(value, (offset + ihash) % self.size)]
            if i < 0:
                break
            if dests[i].available:
                return dests[i].key
        return None


class SourceHashing(_TableScheduler):
    """sh: slot = hash_32(source address [+ source port]) over a weighted 256-bucket table."""

    name = "sh"

    def __init__(self, flags: int = 0, size: int = SH_TABLE_SIZE) -> None:
        super().__init__(size, flags)
        self._bits = size.bit_length() - 1

    def _build(self, dests: Sequence[Dest]) -> list[int]:
        return _sh_table(dests, self.size)

    def _slot(self, value: int, offset: int) -> int:
        return (offset + hash_32(value, self._bits)) & (self.size - 1)


class DestinationHashing(_TableScheduler):
    """dh: slot = hash_32(packet destination address); no fallback, no port, no weights."""

    name = "dh"

    def __init__(self, flags: int = 0, size: int = DH_TABLE_SIZE) -> None:
        super().__init__(size, 0)
        self._bits = size.bit_length() - 1

    def _build(self, dests: Sequence[Dest]) -> list[int]:
        return _dh_table(dests, self.size)

    def _flow_value(self, flow: Flow) -> int:
        return flow.vip_fold

    def _slot(self, value: int, offset: int) -> int:
        return hash_32(value, self._bits)


class MaglevHashing(_TableScheduler):
    """mh: Maglev consistent hashing with the kernel's fixed keys, so tables agree across nodes.

    The object remembers each destination's latest non-zero weight across updates, as the
    kernel's last_weight does: setting a weight to 0 quiesces without moving any slot.
    """

    name = "mh"

    def __init__(self, flags: int = 0, size: int = MH_TABLE_SIZE) -> None:
        super().__init__(size, flags)
        self._last_weights: dict[Hashable, int] = {}

    def _build(self, dests: Sequence[Dest]) -> list[int]:
        known = self._last_weights
        lws = []
        for d in dests:
            if d.last_weight is not None:
                lws.append(d.last_weight)
            elif d.weight != 0:
                lws.append(d.weight)
            else:
                lws.append(known.get(d.key, 0))
        self._last_weights = {d.key: lw for d, lw in zip(dests, lws, strict=True)}
        return _mh_table(dests, lws, self.size)

    def _slot(self, value: int, offset: int) -> int:
        return hsiphash_u32(offset + value, _MH_KEY1) % self.size


# --------------------------------------------------------------------------- locality


@dataclass(slots=True)
class _LblcEntry:
    dest: Hashable
    lastuse: float


@dataclass(slots=True)
class _LblcrEntry:
    dests: list[Hashable]  # newest first, as the kernel's set list
    lastmod: float
    lastuse: float


def _lblc_overloaded(d: Dest, dests: Sequence[Dest]) -> bool:
    """lblc's own notion: more active connections than weight while some server is under half."""
    return d.active_conns > d.weight and any(x.active_conns * 2 < x.weight for x in dests)


class _LocalityScheduler:
    """lblc / lblcr: a cache keyed by the packet's destination address, garbage-collected as the
    kernel's periodic timer does (every minute; full expiry check every 30 minutes; entries idle
    for 6 minutes reclaimed early only when the cache holds more than 16384 entries)."""

    name: ClassVar[str]

    def __init__(self, expiration: float = LBLC_DEFAULT_EXPIRATION) -> None:
        self.expiration = expiration
        self.entries: dict[IPAddress, _LblcEntry | _LblcrEntry] = {}
        self._index: dict[Hashable, int] = {}
        self._gone: dict[Hashable, Dest] = {}  # last view of removed destinations still cached
        self._view: list[Dest] = []
        self._n = 0
        self._next_check: float | None = None
        self._counter = 1
        self._rover = 0

    def update(self, dests: Sequence[Dest]) -> None:
        index = {d.key: i for i, d in enumerate(dests)}
        for key, i in self._index.items():
            if key not in index:
                self._gone[key] = self._view[i]
        cached = self._cached_keys()
        self._gone = {k: d for k, d in self._gone.items() if k not in index and k in cached}
        self._view = list(dests)
        self._index = index
        self._n = len(dests)

    def _cached_keys(self) -> set[Hashable]:
        raise NotImplementedError

    def _resolve(self, key: Hashable, dests: Sequence[Dest]) -> tuple[Dest, bool]:
        """A cached destination's current view and whether it is still in the service."""
        i = self._index.get(key)
        if i is not None:
            return dests[i], True
        return self._gone.get(key, Dest(key, weight=0)), False

    def pick(self, flow: Flow, dests: Sequence[Dest], now: float = 0.0) -> Hashable | None:
        _check_view(dests, self._n)
        self.collect(now)
        return self._pick(flow.vip, dests, now)

    def _pick(self, addr: IPAddress, dests: Sequence[Dest], now: float) -> Hashable | None:
        raise NotImplementedError

    # -- garbage collection, ticking on the kernel's one-minute timer

    def collect(self, now: float) -> None:
        """Run every periodic check due by ``now``."""
        if self._next_check is None:
            self._next_check = now + LBLC_CHECK_INTERVAL
            return
        behind = int((now - self._next_check) // LBLC_CHECK_INTERVAL)
        if behind > 2 * _LBLC_FULL_CHECK_EVERY:
            skip = behind - 2 * _LBLC_FULL_CHECK_EVERY
            self._next_check += skip * LBLC_CHECK_INTERVAL
            self._counter = (self._counter - 1 + skip) % _LBLC_FULL_CHECK_EVERY + 1
        while self._next_check <= now:
            self._tick(self._next_check)
            self._next_check += LBLC_CHECK_INTERVAL

    def _tick(self, now: float) -> None:
        entries = self.entries
        if self._counter % _LBLC_FULL_CHECK_EVERY == 0:
            for addr in [a for a, e in entries.items() if now >= e.lastuse + self.expiration]:
                del entries[addr]
            self._counter = 1
            return
        if len(entries) <= _LBLC_MAX_ENTRIES:
            self._counter += 1
            return
        goal = min((len(entries) - _LBLC_MAX_ENTRIES) * 4 // 3, _LBLC_MAX_ENTRIES // 2)
        buckets: dict[int, list[IPAddress]] = {}
        for addr in entries:
            buckets.setdefault(hash_32(addr_fold(addr), _LBLC_TAB_BITS), []).append(addr)
        mask = (1 << _LBLC_TAB_BITS) - 1
        j = self._rover
        for _ in range(mask + 1):
            j = (j + 1) & mask
            for addr in buckets.get(j, ()):
                if now >= entries[addr].lastuse + LBLC_ENTRY_TIMEOUT:
                    del entries[addr]
                    goal -= 1
            if goal <= 0:
                break
        self._rover = j


class LocalityLeastConnection(_LocalityScheduler):
    """lblc: keep sending a destination address to the same server unless it is gone,
    quiesced or (lblc's sense) overloaded; then choose by wlc and remember."""

    name = "lblc"

    def _cached_keys(self) -> set[Hashable]:
        return {e.dest for e in self.entries.values() if isinstance(e, _LblcEntry)}

    def _pick(self, addr: IPAddress, dests: Sequence[Dest], now: float) -> Hashable | None:
        en = self.entries.get(addr)
        if isinstance(en, _LblcEntry):
            en.lastuse = now
            d, present = self._resolve(en.dest, dests)
            if present and d.weight > 0 and not _lblc_overloaded(d, dests):
                return d.key
        i = _weighted_least(dests)
        if i is None:
            return None
        key = dests[i].key
        if not (isinstance(en, _LblcEntry) and en.dest == key):
            self.entries.pop(addr, None)
            self.entries[addr] = _LblcEntry(key, now)
        return key


class LocalityLeastConnectionReplicated(_LocalityScheduler):
    """lblcr: like lblc with a server *set* per address; grows under load and sheds its most
    loaded member once the set has not changed for ``expiration`` seconds."""

    name = "lblcr"

    def _cached_keys(self) -> set[Hashable]:
        return {k for e in self.entries.values() if isinstance(e, _LblcrEntry) for k in e.dests}

    def _set_min(self, en: _LblcrEntry, dests: Sequence[Dest]) -> Dest | None:
        views = [self._resolve(k, dests) for k in en.dests]
        least: Dest | None = None
        for d, present in views:
            if d.overloaded:
                continue
            if least is None:
                if d.weight > 0 and present:
                    least, loh = d, conn_overhead(d)
                continue
            doh = conn_overhead(d)
            if loh * d.weight > doh * least.weight and present:
                least, loh = d, doh
        return least

    def _set_max(self, en: _LblcrEntry, dests: Sequence[Dest]) -> Dest | None:
        most: Dest | None = None
        for k in en.dests:
            d, _ = self._resolve(k, dests)
            if most is None:
                if d.weight > 0:
                    most, moh = d, conn_overhead(d)
                continue
            doh = conn_overhead(d)
            if moh * d.weight < doh * most.weight and d.weight > 0:
                most, moh = d, doh
        return most

    def _pick(self, addr: IPAddress, dests: Sequence[Dest], now: float) -> Hashable | None:
        en = self.entries.get(addr)
        if isinstance(en, _LblcrEntry):
            en.lastuse = now
            best = self._set_min(en, dests)
            if len(en.dests) > 1 and now > en.lastmod + self.expiration:
                m = self._set_max(en, dests)
                if m is not None:
                    en.dests.remove(m.key)
                    en.lastmod = now
            if best is not None and not _lblc_overloaded(best, dests):
                return best.key
        i = _weighted_least(dests)
        if i is None:
            return None
        key = dests[i].key
        if isinstance(en, _LblcrEntry):
            if key not in en.dests:
                en.dests.insert(0, key)
                en.lastmod = now
        else:
            self.entries[addr] = _LblcrEntry([key], now, now)
        return key


# --------------------------------------------------------------------------- factory


def make_scheduler(
    name: str,
    flags: Iterable[str] | int = (),
    *,
    mh_size: int = MH_TABLE_SIZE,
    rng: random.Random | None = None,
    expiration: float = LBLC_DEFAULT_EXPIRATION,
) -> Scheduler:
    """A fresh scheduler for an ``lvs_sched`` name and its flags (keepalived's flag keywords).

    ``mh_size`` is the kernel's CONFIG_IP_VS_MH_TAB_INDEX table (4093 in stock kernels);
    ``expiration`` is the lblc/lblcr_expiration sysctl; ``rng`` feeds twos.
    """
    bits = parse_flags(flags)
    match name.lower():
        case "rr":
            return RoundRobin()
        case "wrr":
            return WeightedRoundRobin()
        case "lc":
            return LeastConnection()
        case "wlc":
            return WeightedLeastConnection()
        case "sed":
            return ShortestExpectedDelay()
        case "nq":
            return NeverQueue()
        case "fo":
            return WeightedFailover()
        case "ovf":
            return Overflow()
        case "twos":
            return TwoChoices(rng)
        case "sh":
            return SourceHashing(bits)
        case "dh":
            return DestinationHashing(bits)
        case "mh":
            return MaglevHashing(bits, mh_size)
        case "lblc":
            return LocalityLeastConnection(expiration)
        case "lblcr":
            return LocalityLeastConnectionReplicated(expiration)
    raise ValueError(f"unknown scheduler {name!r} (one of {' '.join(SCHEDULER_NAMES)})")
