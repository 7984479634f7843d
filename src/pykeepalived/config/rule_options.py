"""A rule's selectors and table options, read from words as keepalived 2.2.7's ``alloc_rule`` reads them.

Besides ``from``/``to``/``table``/``preference``/``iif``/``oif``/``not`` and the action (fields of the rule
model), ``alloc_rule`` (``vrrp/vrrp_iprule.c``) takes ``tos``/``dsfield``, ``fwmark MARK[/MASK]``,
``realms [FROM/]TO``, ``suppress_prefixlength``/``sup_pl``, ``suppress_ifgroup``/``sup_group``,
``tunnel-id``, ``uidrange START-END``, ``protocol``, ``ipproto``, ``sport`` and ``dport``.
:class:`RuleOptionParser` reads one of them at a time (the config parser hands it the words it does not
know) and says how many words it used, which family it implies and what keepalived reports;
:func:`rule_options` folds a rule's stored option words into a :class:`RuleOptions`.

keepalived discards the rule for a bad ``tos``, ``fwmark``, ``realms``, suppressor, ``tunnel-id`` or
``uidrange``; a bad ``protocol``, ``ipproto``, ``sport`` or ``dport`` is reported and left out, the rule
kept.  2.2.7 reads a port range with ``sscanf("%hu-%hu")`` and takes only two numbers, so ``sport 80`` is
"invalid sport range 80" there (a single port needs ``80-80``).

Pure but for reading ``/etc/iproute2/rt_dsfield``, ``rt_realms`` and ``group`` and the protocol names of
``/etc/protocols`` once; the ``names`` and ``protocols`` arguments replace them.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ErrClass
from .route_options import (
    Message,
    Names,
    Step,
    _strtoul,
    find_rt_entry,
    get_realms,
    read_rt_file,
    read_unsigned,
    rt_names,
)

_INT32_MAX = 0x7FFFFFFF
_UINT_MAX = 0xFFFFFFFF
_ULONG_MAX = 0xFFFFFFFFFFFFFFFF
_INT8_MAX = 127

#: every keyword :meth:`RuleOptionParser.take` reads
OPTION_WORDS = frozenset({
    "tos", "dsfield", "fwmark", "realms", "suppress_prefixlength", "sup_pl", "suppress_ifgroup", "sup_group",
    "tunnel-id", "uidrange", "protocol", "ipproto", "sport", "dport",
})
#: options that only make sense for a ``table`` action (keepalived's ``table_option``)
TABLE_OPTIONS = frozenset({"realms", "suppress_prefixlength", "suppress_ifgroup"})


@functools.cache
def iproute2_names(kind: str) -> Mapping[str, int]:
    """``/etc/iproute2/rt_<kind>``, or for ``group`` the interface groups of ``/etc/iproute2/group`` (numbers
    up to INT32_MAX, as keepalived's ``find_rttables_group``); empty when unreadable."""
    if kind != "group":
        return rt_names(kind)
    try:
        with open("/etc/iproute2/group", errors="replace") as f:
            return read_rt_file(f.read(), _INT32_MAX)
    except OSError:
        return {}


def protocol_number(name: str) -> int | None:
    """``getprotobyname`` (``/etc/protocols``), None for an unknown name."""
    try:
        return socket.getprotobyname(name)
    except OSError:
        return None


def inet_proto(text: str, protocols: Callable[[str], int | None] = protocol_number) -> int | None:
    """keepalived's ``inet_proto_a2n``: a decimal number up to 127, else a protocol name."""
    s = text.lstrip(" \t\n\r\f\v")
    if not s or s[0] == "-":
        return None
    value, rest, _ = _strtoul(s, 10)
    if value is not None and value > _INT8_MAX:
        return None
    if value is not None and not rest:
        return value
    number = protocols(s)
    return number if number is not None and 0 <= number <= 0xFF else None


def _scan_unsigned(text: str, bits: int) -> tuple[int | None, str]:
    """One ``%u`` (``%hu`` for 16 bits) of C's sscanf: the value (wrapped to ``bits``) and the rest."""
    s = text.lstrip(" \t\n\r\f\v")
    if s[:1] in ("+", "-") and not s[1:2].isdigit():
        return None, text
    value, rest, _ = _strtoul(s, 10)
    if value is None:
        return None, text
    return value & ((1 << bits) - 1), rest


def scan_range(text: str, bits: int) -> tuple[int, int] | None:
    """``sscanf(text, "%u-%u")`` (``%hu-%hu`` for 16 bits) giving two numbers; anything after them is ignored."""
    start, rest = _scan_unsigned(text, bits)
    if start is None or not rest.startswith("-"):
        return None
    end, _ = _scan_unsigned(rest[1:], bits)
    return None if end is None else (start, end)


def read_fwmark(text: str) -> tuple[int, int | None] | None:
    """``fwmark MARK[/MASK]`` as keepalived reads it (any C base, 32 bits each); None when invalid."""
    s = text.lstrip(" \t\n\r\f\v")
    if s[:1] == "-":
        return None
    mark, rest, over = _strtoul(s, 0)
    mark = 0 if mark is None else mark
    if over or mark > _UINT_MAX:
        return None
    mask: int | None = None
    if rest.startswith("/"):
        after = rest[1:]
        if after[:1].isspace() or after[:1] == "-":
            return None
        value, rest, over = _strtoul(after, 0)
        mask = 0 if value is None else value
        if value is None:
            rest = after
        if over or mask > _UINT_MAX:
            return None
    if rest:
        return None
    return mark, mask


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """What keepalived's ``ip_rule_t`` holds for the options; None (0 for realms and tunnel-id) where not given."""

    tos: int | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    realms: int = 0
    suppress_prefixlength: int | None = None
    suppress_ifgroup: int | None = None
    tunnel_id: int = 0
    uidrange: tuple[int, int] | None = None
    protocol: int | None = None
    ipproto: int | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    #: options that need the ``table`` action (``realms``, the suppressors)
    table_options: frozenset[str] = frozenset()


@dataclass
class RuleOptionParser:
    """Reads a rule's options one at a time (:meth:`take`) into :meth:`result`."""

    names: Names = iproute2_names
    protocols: Callable[[str], int | None] = protocol_number
    values: dict[str, object] = field(default_factory=dict)
    table_options: set[str] = field(default_factory=set)

    def take(self, words: Sequence[str], i: int, family: int | None) -> Step | None:
        """The option at ``words[i]`` (None when it is not one of these)."""
        opt = words[i]
        if opt not in OPTION_WORDS:
            return None
        if i + 1 >= len(words):
            return Step(i + 1, family, missing=True)
        value = words[i + 1]
        end = i + 2

        def bad(*msgs: Message) -> Step:
            return Step(end, family, msgs, drop=True)

        def note(message: str) -> Step:  # reported, the option left out, the rule kept
            return Step(end, family, ((ErrClass.GENERAL_ERROR, message),))

        if opt in ("tos", "dsfield"):
            n = find_rt_entry(value, "dsfield", names=self.names)
            if n is None:
                return bad((ErrClass.GENERAL_ERROR, f"TOS value {value} is invalid"))
            self.values["tos"] = n & 0xFF
        elif opt == "fwmark":
            fw = read_fwmark(value)
            if fw is None:
                return bad((ErrClass.GENERAL_ERROR, f"Invalid rule fwmark {value.lstrip()} specified"))
            self.values["fwmark"], self.values["fwmask"] = fw
        elif opt == "realms":
            realms = get_realms(value, self.names)
            if realms is None:
                return bad((ErrClass.GENERAL_ERROR, f"invalid realms {value} for rule"))
            self.table_options.add("realms")
            if family == 6:
                return bad((ErrClass.GENERAL_ERROR, "realms is only valid for IPv4"))
            self.values["realms"] = realms
            family = 4
        elif opt in ("suppress_prefixlength", "sup_pl"):
            n, m = read_unsigned(value, _INT32_MAX)
            if n is None:  # keepalived names the keyword, not the value
                return bad(*m, (ErrClass.GENERAL_ERROR, f"Invalid suppress_prefixlength {opt} specified"))
            self.values["suppress_prefixlength"] = n
            self.table_options.add("suppress_prefixlength")
        elif opt in ("suppress_ifgroup", "sup_group"):
            n = find_rt_entry(value, "group", _INT32_MAX, names=self.names)
            if n is None:
                return bad((ErrClass.GENERAL_ERROR, f"suppress_group {value} is invalid"))
            self.values["suppress_ifgroup"] = n
            self.table_options.add("suppress_ifgroup")
        elif opt == "tunnel-id":
            n, m = read_unsigned(value, _ULONG_MAX, bits=64)
            if n is None:
                return bad(*m, (ErrClass.GENERAL_ERROR, f"Invalid tunnel-id {opt} specified"))
            self.values["tunnel_id"] = n
        elif opt == "uidrange":
            rng = scan_range(value, 32)
            if rng is None:
                return bad((ErrClass.GENERAL_ERROR, f"Invalid uidrange {opt} specified"))
            self.values["uidrange"] = rng
        elif opt == "protocol":
            n, m = read_unsigned(value, 0xFF)
            if n is None:
                return Step(end, family, (*m, (ErrClass.GENERAL_ERROR, f"Invalid protocol {value}")))
            self.values["protocol"] = n
        elif opt == "ipproto":
            n = inet_proto(value, self.protocols)
            if n is None:
                return note(f"Invalid ipproto {value}")
            self.values["ipproto"] = n
        else:  # sport, dport
            rng = scan_range(value, 16)
            if rng is None:
                return note(f"invalid {opt} range {value}")
            self.values[opt] = rng
        return Step(end, family)

    def result(self) -> RuleOptions:
        return RuleOptions(table_options=frozenset(self.table_options), **self.values)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1024)
def rule_options(words: tuple[str, ...], names: Names = iproute2_names) -> RuleOptions:
    """A rule's stored option words (those :class:`RuleOptionParser` read) folded; words it did not take
    (a bad value keepalived leaves out) are skipped."""
    parser = RuleOptionParser(names)
    i = 0
    while i < len(words):
        step = parser.take(words, i, None)
        i = i + 1 if step is None or step.missing else step.end
    return parser.result()
