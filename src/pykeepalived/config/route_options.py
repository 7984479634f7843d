"""A route's metrics, realms and encapsulation, and its nexthops, read from words as keepalived 2.2.7 reads them.

``alloc_route`` (``vrrp/vrrp_iproute.c``) takes, besides the common ``ip route`` words the route model keeps as
fields, the route metrics (``mtu [lock] N``, ``rtt [lock] TIME`` …), ``tos``, ``realms [FROM/]TO``,
``features ecn``, ``quickack``, ``congctl [lock] NAME``, ``pref``, ``expires``, ``fastopen_no_cookie``,
``ttl-propagate`` and ``encap mpls|ip|ip6|ila …``; ``parse_nexthops`` reads ``nexthop`` groups (``via``,
``dev``, ``weight``, ``onlink``, ``realms``, ``encap``).  :class:`RouteOptionParser` reads one option at a
time (the config parser's loop hands it the words it does not know) and says how many words it used, which
family it implies and what keepalived reports; :func:`route_options` folds a route's stored option words
into a :class:`RouteOptions`, and :func:`parse_nexthops` / :func:`nexthop` do the same for nexthops.

Values are kept as keepalived keeps them: ``rtt`` in the kernel's 1/8 ms, ``rttvar`` in 1/4 ms, ``rto_min``
in ms (``s``/``ms`` units multiplied, a bare number taken as it is, then clamped to 200 ms .. 120 s), ``pref``
as the kernel's ICMPV6_ROUTER_PREF value, ``realms`` as FROM << 16 | TO, MPLS labels as numbers, the ILA
locator as its 8 bytes.  Names of DS fields and realms come from ``/etc/iproute2/rt_dsfield`` and
``rt_realms`` (numbers are taken in any C base).

Pure but for reading those two files once; the ``names`` argument replaces them.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ErrClass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: LWTUNNEL_ENCAP_* (the kernel's numbers)
ENCAP_TYPES = {"mpls": 1, "ip": 2, "ila": 3, "ip6": 4}
#: ICMPV6_ROUTER_PREF_* for ``pref low|medium|high``
ROUTER_PREFS = {"low": 3, "medium": 0, "high": 1}
#: metrics that take ``lock`` (keepalived's RTAX_* lock bits; congctl's has no SNMP column)
LOCKABLE = ("mtu", "advmss", "rtt", "rttvar", "reordering", "cwnd", "ssthresh", "rto_min", "congctl")
#: plain unsigned 32-bit metrics: keyword -> the words of keepalived's "Invalid … specified for route"
_U32 = {
    "mtu": "MTU", "advmss": "advmss", "reordering": "reordering value", "window": "window value",
    "cwnd": "cwnd value", "ssthresh": "ssthresh value", "initcwnd": "initcwnd value", "initrwnd": "initrwnd value",
}
#: time metrics: keyword -> (kernel units per ms, how keepalived names it in its error)
_TIMES = {"rtt": (8, "Invalid rtt {} for route"), "rttvar": (4, "Invalid rttvar {} for route"),
          "rto_min": (1, "Invalid rto_min value {} specified for route")}
_RTT_MIN_MS = 200
_RTT_MAX_MS = 120000
_MAX_MPLS_LABELS = 2
_UINT_MAX = 0xFFFFFFFF
_ULONG_MAX = 0xFFFFFFFFFFFFFFFF

Message = tuple[ErrClass, str]
#: keepalived's log-only lines (they do not change ``-t``'s exit status)
NOTE = ErrClass.OK


# -- /etc/iproute2 names ----------------------------------------------------------------------------------

def read_rt_file(text: str, maximum: int = 255) -> dict[str, int]:
    """An /etc/iproute2 table (``NUMBER NAME`` lines, ``#`` comments) as keepalived's ``read_file`` takes it:
    lines of exactly two words, the number in any C base and at most ``maximum``; the first of a name wins."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        words = []
        for w in line.split():
            if w[0] in "#!":
                break
            words.append(w)
        if len(words) != 2:
            continue
        value, rest, _ = _strtoul(words[0], 0)
        if words[0].lstrip()[:1] == "-" or value is None or rest or value > maximum:
            continue
        out.setdefault(words[1], value)
    return out


@functools.cache
def rt_names(kind: str) -> Mapping[str, int]:
    """``/etc/iproute2/rt_<kind>`` (``dsfield``, ``realms``); empty when unreadable."""
    try:
        with open(f"/etc/iproute2/rt_{kind}", errors="replace") as f:
            return read_rt_file(f.read())
    except OSError:
        return {}


Names = Callable[[str], Mapping[str, int]]


def find_rt_entry(text: str, kind: str, maximum: int = 255, names: Names = rt_names) -> int | None:
    """keepalived's ``find_entry``: a number in any C base (at most ``maximum``) or a name of the table."""
    value, rest, _ = _strtoul(text, 0)
    if value is not None and not rest:
        value &= _UINT_MAX
        return value if value <= maximum else None
    return names(kind).get(text)


#: keepalived's own protocol names, for numbers /etc/iproute2/rt_protos does not name (``rtprot_default``)
RTPROT_DEFAULTS = {"none": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10,
                   "zebra": 11, "bird": 12, "babel": 42, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16}


def find_protocol(text: str, names: Names = rt_names) -> int | None:
    """keepalived's ``find_rttables_proto``: a number up to 255, a name of /etc/iproute2/rt_protos, or one of
    :data:`RTPROT_DEFAULTS` whose number the file does not name."""
    listed = names("protos")
    taken = set(listed.values())

    def merged(kind: str) -> Mapping[str, int]:
        return {**{k: v for k, v in RTPROT_DEFAULTS.items() if v not in taken}, **listed}

    return find_rt_entry(text, "protos", names=merged)


def get_realms(text: str, names: Names = rt_names) -> int | None:
    """``realms [FROM/]TO`` as keepalived's ``get_realms``: FROM << 16 | TO (just TO without a slash)."""
    first, slash, second = text.partition("/")
    a = find_rt_entry(first, "realms", names=names)
    if a is None:
        return None
    if not slash:
        return a
    b = find_rt_entry(second, "realms", names=names)
    return None if b is None else a << 16 | b


# -- numbers as keepalived reads them -----------------------------------------------------------------------

def _strtoul(text: str, base: int) -> tuple[int | None, str, bool]:
    """C's strtoul: (value or None without digits, the rest, overflowed).  A minus sign negates modulo 2**64."""
    s = text.lstrip(" \t\n\r\f\v")
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if base in (0, 16) and s[:2].lower() == "0x" and s[2:3] and s[2] in "0123456789abcdefABCDEF":
        s, base = s[2:], 16
    elif base == 0:
        base = 8 if s[:1] == "0" else 10
    digits = "0123456789abcdef"[:base]
    n = 0
    for n, ch in enumerate(s):  # noqa: B007 - n is the digits' length
        if ch.lower() not in digits:
            break
    else:
        n = len(s)
    if n == 0:
        return None, text, False
    value = int(s[:n], base)
    over = value > _ULONG_MAX
    value = _ULONG_MAX if over else (-value) % (_ULONG_MAX + 1) if neg else value
    return value, s[n:], over


def read_unsigned(text: str, hi: int, *, bits: int = 32, base: int = 10) -> tuple[int | None, list[Message]]:
    """keepalived's ``read_unsigned`` / ``read_unsigned64`` (decimal unless ``base``, in [0, hi]) with its
    messages."""
    stripped = text.lstrip(" \t\n\r\f\v")
    value, rest, over = _strtoul(stripped, base)
    if value is None:  # strtoul read nothing: 0, the whole word left over
        value, rest = 0, stripped
    if stripped[:1] == "-":
        return None, [(ErrClass.INVALID_NUMBER, f"negative number '{text}'")]
    if rest:
        return None, [(ErrClass.INVALID_NUMBER, f"invalid number '{text}'")]
    if bits == 32 and (over or value > _UINT_MAX):
        return None, [(ErrClass.INVALID_NUMBER, f"number '{text}' outside unsigned integer range")]
    if bits == 64 and over:
        return None, [(ErrClass.INVALID_NUMBER, f"number '{text}' outside unsigned 64 bit range")]
    if value > hi:
        return None, [(ErrClass.INVALID_NUMBER, f"number '{text}' outside range [0, {hi}]")]
    return value, []


def read_decimal(text: str, hi: int, shift: int) -> tuple[int | None, list[Message]]:
    """keepalived's ``read_decimal_unsigned``: a decimal with up to ``shift`` places, times 10**shift, in
    [0, hi] (more places are reported and rounded)."""
    msgs: list[Message] = []
    if text[:1] == "-":
        return None, [(ErrClass.INVALID_NUMBER, f"negative number '{text}'")]
    whole, dot, frac = text.partition(".")
    round_up = False
    if dot and len(frac) > shift:
        msgs.append((ErrClass.INVALID_NUMBER, f"number '{text}' has too many decimal places"))
        round_up = frac[shift] >= "5"
        frac = frac[:shift]
    digits = whole + frac + "0" * (shift - len(frac))
    value, rest, over = _strtoul(digits, 10)
    if value is None or rest:
        return None, [*msgs, (ErrClass.INVALID_NUMBER, f"invalid number '{text}'")]
    value += round_up
    if over or value > _ULONG_MAX:
        return None, [*msgs, (ErrClass.INVALID_NUMBER, f"number '{text}' outside unsigned decimal range")]
    if value > hi:
        unit = 10 ** shift

        def fmt(v: int) -> str:
            return f"{v // unit}." + (f"{v % unit:0{shift}d}" if shift else "")

        return None, [*msgs, (ErrClass.INVALID_NUMBER, f"number '{text}' outside range [{fmt(0)}, {fmt(hi)}]")]
    return value, msgs


def get_time_rtt(text: str, per_ms: int) -> tuple[int | None, list[Message]]:
    """keepalived's ``get_time_rtt``: ``N`` in kernel units, ``Ns``/``Nsec``/``Nsecs`` (up to 3 places) or
    ``Nms`` in ms times ``per_ms``; clamped to 200 ms .. 120 s.  No exponents."""
    s = text.lstrip(" \t\n\r\f\v")
    raw = True
    shift = 0
    i = min((s.find(c) for c in "sS" if c in s), default=-1)
    if i >= 0:
        if s[i:].lower() not in ("s", "sec", "secs"):
            return None, []
        raw = False
        if i > 0 and s[i - 1].lower() == "m":
            i -= 1
        else:
            shift = 3
        if i == 0:
            return None, []
        s = s[:i]
    if "e" in s.lower():
        return None, [(NOTE, f"rtt value exponential form {text} no longer supported")]
    value, msgs = read_decimal(s, _RTT_MAX_MS * per_ms, shift)
    if value is None:
        return None, msgs
    if not raw:
        value *= per_ms
    if value > _RTT_MAX_MS * per_ms:
        msgs.append((NOTE, f"rtt value {text} exceeds maximum {_RTT_MAX_MS // 1000}s, resetting"))
        value = _RTT_MAX_MS * per_ms
    elif value < _RTT_MIN_MS * per_ms:
        msgs.append((NOTE, f"rtt value {text} below minimum {_RTT_MIN_MS}ms, resetting"))
        value = _RTT_MIN_MS * per_ms
    return value, msgs


def get_addr64(text: str) -> bytes | None:
    """keepalived's ``get_addr64`` (an ILA locator): four hexadecimal groups of at most 16 bits, ``:``-separated."""
    s = text.lstrip(" \t\n\r\f\v")
    out = b""
    for i in range(4):
        if not s[:1] or s[0] not in "0123456789abcdefABCDEF":
            return None
        value, rest, _ = _strtoul(s, 16)
        if value is None or value > 0xFFFF:
            return None
        out += value.to_bytes(2, "big")
        if not rest:
            return out if i == 3 else None
        if i == 3 or rest[0] != ":":
            return None
        s = rest[1:]
    return None


def parse_mpls(text: str) -> tuple[int, ...] | None:
    """keepalived's ``parse_mpls_address``: at most two labels of 20 bits, ``/``-separated, any C base."""
    s = text.lstrip(" \t\n\r\f\v")
    labels: list[int] = []
    for _ in range(_MAX_MPLS_LABELS):
        if s[:1] == "-" or s[:1].isspace():
            return None
        value, rest, _ = _strtoul(s, 0)
        if value is None or value > 0xFFFFF:
            return None
        labels.append(value)
        if not rest:
            return tuple(labels)
        if rest[0] != "/":
            return None
        s = rest[1:]
    return None


def _address(text: str) -> IPAddress | None:
    """keepalived's ``parse_ipaddress`` for a single address (a ``/prefix`` is allowed)."""
    try:
        return ipaddress.ip_interface(text).ip
    except ValueError:
        return None


# -- encapsulation -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Encap:
    """``encap …``: the kind and what it sets (``ip6``'s ``tc`` and ``hoplimit`` are ``tos`` and ``ttl``)."""

    kind: str
    labels: tuple[int, ...] = ()
    id: int | None = None
    dst: IPAddress | None = None
    src: IPAddress | None = None
    tos: int | None = None
    ttl: int | None = None
    flags: int | None = None
    locator: bytes | None = None

    @property
    def type(self) -> int:
        return ENCAP_TYPES[self.kind]

    def words(self) -> tuple[str, ...]:
        """Words that read back as this encapsulation, whatever words follow them."""
        if self.kind == "mpls":
            return ("encap", "mpls", "/".join(map(str, self.labels)) if self.labels else "-")
        if self.kind == "ila":
            return ("encap", "ila", ":".join(self.locator[i:i + 2].hex() for i in range(0, 8, 2))
                    if self.locator else "-")
        tos, ttl = ("tc", "hoplimit") if self.kind == "ip6" else ("tos", "ttl")
        out = ["encap", self.kind]
        for key, value in (("id", self.id), ("dst", self.dst), ("src", self.src), (tos, self.tos),
                           (ttl, self.ttl), ("flags", self.flags)):
            if value is not None:
                out += [key, str(value)]
        return tuple(out)


@dataclass(frozen=True, slots=True)
class _Taken:
    end: int
    encap: Encap | None
    messages: list[Message]


def _parse_encap(words: Sequence[str], i: int, names: Names) -> _Taken:
    """``encap TYPE …`` at ``words[i]`` (keepalived's ``parse_encap``): where the route's words go on, the
    encapsulation (None when the type is missing or unknown) and the messages."""
    if i + 1 >= len(words):
        return _Taken(i + 1, None, [(ErrClass.GENERAL_ERROR, "Missing encap type")])
    kind = words[i + 1]
    j = i + 2
    if kind == "mpls":
        if j >= len(words):
            return _Taken(j, Encap("mpls"), [(ErrClass.GENERAL_ERROR, "missing address for MPLS encapsulation")])
        labels = parse_mpls(words[j])
        if labels is None:
            return _Taken(j + 1, Encap("mpls"), [
                (ErrClass.GENERAL_ERROR, f"invalid mpls address {words[j]} for encapsulation")])
        return _Taken(j + 1, Encap("mpls", labels=labels), [])
    if kind == "ila":
        if j >= len(words):
            return _Taken(j, Encap("ila"), [(ErrClass.GENERAL_ERROR, "missing locator for ILA encapsulation")])
        locator = get_addr64(words[j])
        if locator is None:
            return _Taken(j + 1, Encap("ila"), [
                (ErrClass.GENERAL_ERROR, f"invalid locator {words[j]} for ila encapsulation")])
        return _Taken(j + 1, Encap("ila", locator=locator), [])
    if kind not in ("ip", "ip6"):
        # keepalived returns past the unknown type without stepping back: its loop then skips one more word
        return _Taken(j + 1, None, [(ErrClass.GENERAL_ERROR, f"Unknown encap type - {kind}")])
    return _parse_encap_ip(words, j, kind, names)


def _parse_encap_ip(words: Sequence[str], i: int, kind: str, names: Names) -> _Taken:
    v6 = kind == "ip6"
    enc: dict[str, object] = {}
    msgs: list[Message] = []
    tos_key, ttl_key = ("tc", "hoplimit") if v6 else ("tos", "ttl")

    def fail(msg: str, *extra: Message) -> _Taken:
        # keepalived forgets the addresses and goes on at the word that failed; the numbers stay set
        kept = {k: v for k, v in enc.items() if k not in ("dst", "src")}
        return _Taken(i, Encap(kind, **kept), [*msgs, *extra, (ErrClass.GENERAL_ERROR, msg)])  # type: ignore[arg-type]

    while i + 1 < len(words):
        key, value = words[i], words[i + 1]
        if key == "id":
            n, m = read_unsigned(value, _ULONG_MAX, bits=64)
            if n is None:
                return fail((f"id {value} value invalid for IPv6 encapsulation" if v6
                             else f"encap id {value} value is invalid"), *m)
            enc["id"] = n
        elif key in ("dst", "src"):
            addr = _address(value)
            if addr is None:
                return fail(f"Invalid encap {kind} {key} {value}")
            if addr.version != (6 if v6 else 4):
                return fail(f"IPv4 address {value} not valid for ip6 encapsulation" if v6
                            else f"IPv6 address {value} not valid for ip encapsulation")
            enc[key] = addr
        elif key == tos_key:
            n = find_rt_entry(value, "dsfield", names=names)
            if n is None:
                # keepalived names the keyword, not the value, in the ip6 message
                return fail(f"tc value {key} is invalid for ip6 encapsulation" if v6
                            else f"dsfield {value} not valid for ip encapsulation")
            enc["tos"] = n & 0xFF
        elif key == ttl_key:
            n, m = read_unsigned(value, 255)
            if n is None:
                return fail(f"Invalid hoplimit {value} specified for ip6 encapsulation" if v6
                            else f"ttl {value} is not valid for ip encapsulation", *m)
            enc["ttl"] = n
        elif key == "flags":
            n, m = read_unsigned(value, 0xFFFF)
            if n is None:
                return fail(f"flags {value} is not valid for {kind} encapsulation", *m)
            enc["flags"] = n
        else:
            break
        i += 2
    if "dst" not in enc and "id" not in enc:
        msgs.append((ErrClass.GENERAL_ERROR, f"address or id missing for {kind} encapsulation"))
        enc.pop("src", None)
    return _Taken(i, Encap(kind, **enc), msgs)  # type: ignore[arg-type]


# -- route options ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RouteOptions:
    """What keepalived's ``ip_route_t`` holds for the options; None (or 0 for realms) where not given."""

    tos: int | None = None
    expires: int | None = None
    mtu: int | None = None
    hoplimit: int | None = None
    advmss: int | None = None
    rtt: int | None = None         # 1/8 ms
    rttvar: int | None = None      # 1/4 ms
    reordering: int | None = None
    window: int | None = None
    cwnd: int | None = None
    ssthresh: int | None = None
    rto_min: int | None = None     # ms
    initcwnd: int | None = None
    initrwnd: int | None = None
    locked: frozenset[str] = frozenset()
    ecn: bool = False
    quickack: int | None = None
    congctl: str | None = None
    pref: int | None = None        # ICMPV6_ROUTER_PREF_*
    realms: int = 0
    fastopen_no_cookie: bool | None = None
    ttl_propagate: bool | None = None
    encap: Encap | None = None
    onlink: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """One option read: the index of the next word, the family the route now has, keepalived's messages;
    ``drop``: keepalived discards the route; ``missing``: a parameter is missing at word ``end``."""

    end: int
    family: int | None
    messages: tuple[Message, ...] = ()
    drop: bool = False
    missing: bool = False


#: every keyword :meth:`RouteOptionParser.take` reads
OPTION_WORDS = frozenset({
    "tos", "dsfield", "expires", "hoplimit", "realms", "features", "quickack", "congctl", "pref",
    "ttl-propagate", "fastopen_no_cookie", "encap", "onlink", "add", "prepend", "append", "as", "vrf",
    *_U32, *_TIMES,
})


@dataclass
class RouteOptionParser:
    """Reads a route's options one at a time (:meth:`take`) into :meth:`result`."""

    names: Names = rt_names
    values: dict[str, object] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)

    def take(self, words: Sequence[str], i: int, family: int | None) -> Step | None:
        """The option at ``words[i]`` (None when it is not one of these)."""
        opt = words[i]
        if opt not in OPTION_WORDS:
            return None
        if opt in ("onlink", "add", "prepend", "append"):
            if opt == "onlink":
                self.values["onlink"] = True
            return Step(i + 1, family)
        if opt == "encap":
            taken = _parse_encap(words, i, self.names)
            if taken.encap is not None:
                self.values["encap"] = taken.encap
            return Step(taken.end, family, tuple(taken.messages))
        j = i + 1
        if opt == "as":  # ``as [to] ADDR``: keepalived says so and goes on after the address
            if j < len(words) and words[j] == "to":
                j += 1
            elif j >= len(words):
                return Step(j, family, missing=True)
            return Step(j + 1, family, ((ErrClass.GENERAL_ERROR, '"as to" for MPLS only - ignoring'),))
        lock = False
        if opt in LOCKABLE and j < len(words) and words[j] == "lock":
            lock, j = True, j + 1
        if j >= len(words):
            return Step(j, family, missing=True)
        value = words[j]
        end = j + 1
        if lock:
            self.locked.add(opt)

        def bad(*msgs: Message) -> Step:
            return Step(end, family, msgs, drop=True)

        if opt in ("tos", "dsfield"):
            n = find_rt_entry(value, "dsfield", names=self.names)
            if n is None:
                return bad((ErrClass.GENERAL_ERROR, f"TOS value {value} is invalid"))
            self.values["tos"] = n & 0xFF
        elif opt in _U32 or opt in ("expires", "hoplimit"):
            if opt == "expires" and family == 4:
                return bad((ErrClass.GENERAL_ERROR, "expires is only valid for IPv6"))
            n, m = read_unsigned(value, 255 if opt == "hoplimit" else _UINT_MAX)
            if n is None:
                what = _U32.get(opt, "expires time" if opt == "expires" else opt)
                return bad(*m, (ErrClass.GENERAL_ERROR, f"Invalid {what} {value} specified for route"))
            self.values[opt] = n
            if opt == "expires":
                family = 6
        elif opt in _TIMES:
            per_ms, msg = _TIMES[opt]
            n, m = get_time_rtt(value, per_ms)
            if n is None:
                return bad(*m, (ErrClass.GENERAL_ERROR, msg.format(value)))
            self.values[opt] = n
            return Step(end, family, tuple(m))
        elif opt == "realms":
            n = get_realms(value, self.names)
            if n is None:
                return bad((ErrClass.GENERAL_ERROR, f"Invalid realms {value} for route"))
            if family == 6:
                return bad((ErrClass.GENERAL_ERROR, "realms are only valid for IPv4"))
            self.values["realms"] = n
            family = 4
        elif opt == "features":
            if value != "ecn":
                return Step(end, family, ((ErrClass.GENERAL_ERROR, f"feature {value} not supported"),))
            self.values["ecn"] = True
        elif opt in ("quickack", "fastopen_no_cookie"):
            n, m = read_unsigned(value, 1)
            if n is None:
                return bad(*m, (ErrClass.GENERAL_ERROR, f"Invalid {opt} value {value} specified for route"))
            self.values[opt] = n if opt == "quickack" else bool(n)
        elif opt == "congctl":
            self.values["congctl"] = value
        elif opt == "pref":
            if family == 4:
                return bad((ErrClass.GENERAL_ERROR, "pref is only valid for IPv6"))
            if value in ROUTER_PREFS:
                n = ROUTER_PREFS[value]
            else:
                n, m = read_unsigned(value, 255)
                if n is None:
                    return bad(*m, (ErrClass.GENERAL_ERROR, f"Invalid pref value {value} specified for route"))
            self.values["pref"] = n
            family = 6
        elif opt == "ttl-propagate":
            if value not in ("enabled", "disabled"):
                return Step(end, family, ((ErrClass.GENERAL_ERROR, f"ttl-propagate value {value} not recognised"),))
            self.values["ttl_propagate"] = value == "enabled"
        # vrf: the table comes from the VRF device (not read here)
        return Step(end, family)

    def result(self) -> RouteOptions:
        return RouteOptions(locked=frozenset(self.locked), **self.values)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1024)
def route_options(words: tuple[str, ...], names: Names = rt_names) -> RouteOptions:
    """A route's stored option words (the config parser keeps those :class:`RouteOptionParser` read) folded."""
    parser = RouteOptionParser(names)
    i = 0
    while i < len(words):
        step = parser.take(words, i, None)
        i = i + 1 if step is None or step.missing else step.end
    return parser.result()


# -- nexthops ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NextHop:
    via: IPAddress | None = None
    dev: str | None = None
    weight: int | None = None
    onlink: bool = False
    realms: int = 0
    encap: Encap | None = None


@dataclass(frozen=True, slots=True)
class NextHops:
    """``parse_nexthops``' result: each hop's words (without ``nexthop``) and value, the route's family,
    the messages; ``missing``: a parameter is missing at the end of the words."""

    hops: tuple[tuple[tuple[str, ...], NextHop], ...]
    family: int | None
    messages: tuple[Message, ...] = ()
    missing: bool = False


def parse_nexthops(words: Sequence[str], i: int, family: int | None,
                   dev_exists: Callable[[str], bool] = lambda name: True, names: Names = rt_names) -> NextHops:
    """``nexthop …`` groups from ``words[i]`` on, as keepalived's ``parse_nexthops``: a hop in error is
    dropped with the rest of the words (the route keeps the hops before it); words after the last hop that
    no hop takes are "trailing nonsense"."""
    hops: list[tuple[tuple[str, ...], NextHop]] = []
    msgs: list[Message] = []
    via_family: int | None = None  # keepalived's ``family``, kept from hop to hop

    def done(missing: bool = False) -> NextHops:
        return NextHops(tuple(hops), family, tuple(msgs), missing)

    while i < len(words) and words[i] == "nexthop":
        i += 1
        start = i
        hop: dict[str, object] = {}
        while i < len(words):
            word = words[i]
            if word == "via":
                i += 1
                if i < len(words) and words[i] in ("inet", "inet6"):
                    via_family = 6 if words[i] == "inet6" else 4
                    i += 1
                if i >= len(words):
                    return done(missing=True)
                if via_family is not None:
                    if family is None:
                        family = via_family
                    elif family != via_family:
                        msgs.append((ErrClass.GENERAL_ERROR, "IPv4/6 mismatch for nexthop"))
                        return done()
                addr = _address(words[i])
                if addr is None:
                    msgs.append((ErrClass.GENERAL_ERROR, f"invalid nexthop address {words[i]}"))
                    return done()
                if family is not None and addr.version != family:
                    msgs.append((ErrClass.GENERAL_ERROR, "Address family mismatch for next hop"))
                    return done()
                family = addr.version
                hop["via"] = addr
            elif word == "dev":
                i += 1
                if i >= len(words):
                    return done(missing=True)
                if not dev_exists(words[i]):
                    msgs.append((ErrClass.GENERAL_ERROR,
                                 f"WARNING - interface {words[i]} for VROUTE nexthop doesn't exist"))
                    return done()
                hop["dev"] = words[i]
            elif word == "weight":
                i += 1
                if i >= len(words):
                    return done(missing=True)
                n, m = read_unsigned(words[i], 256)
                if n is None:
                    msgs.extend([*m, (ErrClass.GENERAL_ERROR, f"Invalid weight {words[i]} specified for route")])
                    return done()
                if n == 0:
                    msgs.append((ErrClass.GENERAL_ERROR, "Invalid weight 0 specified for route"))
                    return done()
                hop["weight"] = n
            elif word == "onlink":
                hop["onlink"] = True
            elif word == "encap":
                taken = _parse_encap(words, i, names)
                msgs.extend(taken.messages)
                if taken.encap is not None:
                    hop["encap"] = taken.encap
                i = taken.end
                continue
            elif word == "realms":
                i += 1
                if i >= len(words):
                    return done(missing=True)
                realms = get_realms(words[i], names)
                if realms is None:
                    msgs.append((ErrClass.GENERAL_ERROR, f"Invalid realms {words[i]} for route"))
                    return done()
                if family == 6:
                    msgs.append((ErrClass.GENERAL_ERROR, "realms are only supported for IPv4"))
                    return done()
                family = 4
                hop["realms"] = realms
            elif word == "as":
                i += 1
                if i < len(words) and words[i] == "to":
                    i += 1
                msgs.append((ErrClass.GENERAL_ERROR, "'as [to]' (nat) not supported"))
                return done()
            else:
                break
            i += 1
        hops.append((tuple(words[start:i]), NextHop(**hop)))  # type: ignore[arg-type]
    if i < len(words):
        msgs.append((ErrClass.GENERAL_ERROR, f"Route has trailing nonsense after nexthops - {words[i]}"))
    return done()


@functools.lru_cache(maxsize=1024)
def nexthop(words: tuple[str, ...], names: Names = rt_names) -> NextHop:
    """One stored nexthop's words (as :func:`parse_nexthops` kept them) read back."""
    hops = parse_nexthops(("nexthop", *words), 0, None, names=names).hops
    return hops[0][1] if hops else NextHop()
