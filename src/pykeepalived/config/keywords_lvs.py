"""Keyword tables and validation for ``SSL``, ``virtual_server_group`` and ``virtual_server``.

Parsing follows keepalived's check_parser.c: while the blocks are read, each keyword stores
what was *written* in a draft (``None`` = not set) and block ends do keepalived's parse-time
checks (address families, urls without path, checkers without urls …).  :func:`finish` then
runs keepalived's ``link_vsg_to_vs`` + ``validate_check_config``: defaults, inheritance of
timing options (keepalived-behaviour.md §3.1), port rules, quorum fix-ups, and builds the
frozen :mod:`model_lvs` objects.  Messages are keepalived's texts.

:func:`render` writes a model back as keepalived syntax with every effective value explicit,
so that ``parse(render(m)) == m`` (the round-trip property test relies on it).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from .errors import ErrClass
from .lines import LogicalLine, Word
from .model import Script
from .model_lvs import (
    BfdCheck,
    CheckConnection,
    Checker,
    CheckTiming,
    DnsCheck,
    DnsType,
    FileCheck,
    Forwarding,
    HttpCheck,
    HttpProtocol,
    IPAddress,
    IpFamily,
    LvsConfig,
    LvsMethod,
    MiscCheck,
    PingCheck,
    Protocol,
    RealServer,
    SmtpCheck,
    SorryServer,
    SslConfig,
    TcpCheck,
    TunnelChecksum,
    TunnelType,
    UdpCheck,
    Url,
    VirtualServer,
    VirtualServerGroup,
    VsgAddressRange,
    VsgFwmark,
    format_trio,
    format_vs,
)
from .parser import Block, Context, Draft, Handler, Keyword, SkipLine
from .scripts import script_from_line

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
#: IPVS_WEIGHT_LIMIT
WEIGHT_MAX = INT_MAX
#: LVS_MAX_TIMEOUT (31 days)
PERSISTENCE_MAX = 86400 * 31
#: IPVS_SVC_PERSISTENT_TIMEOUT
PERSISTENCE_DEFAULT = 360
#: read_timer's upper bound when none is given (TIMER_MAXIMUM, in seconds)
TIMER_MAX = (2**64 - 2) / 1e6
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos")
REGEX_OPTIONS = (
    "allow_empty_class",
    "alt_bsux",
    "auto_callout",
    "caseless",
    "dollar_endonly",
    "dotall",
    "dupnames",
    "extended",
    "firstline",
    "match_unset_backref",
    "multiline",
    "never_ucp",
    "never_utf",
    "no_auto_capture",
    "no_auto_possess",
    "no_dotstar_anchor",
    "no_start_optimize",
    "ucp",
    "ungreedy",
    "utf",
    "never_backslash_c",
    "alt_circumflex",
    "alt_verbnames",
    "use_offset_limit",
)
#: per checker type: (default retry, default delay_before_retry; None = the checker's delay_loop)
CHECKER_DEFAULTS: dict[str, tuple[int, float | None]] = {
    "TCP_CHECK": (1, 1.0),
    "HTTP_GET": (1, 3.0),
    "SSL_GET": (1, 3.0),
    "SMTP_CHECK": (1, 1.0),
    "UDP_CHECK": (1, 1.0),
    "PING_CHECK": (1, 1.0),
    "DNS_CHECK": (3, None),
    "MISC_CHECK": (0, 1.0),
    "BFD_CHECK": (1, 1.0),
}


# --- small readers ---------------------------------------------------------------------------


def parse_ip(text: str) -> IPAddress | None:
    """keepalived's ``inet_stosockaddr``: family from ':'; any ``-range``/``/mask`` suffix ignored."""
    for sep in "-/":
        text = text.split(sep, 1)[0]
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _port_text(word: Word | None) -> str | None:
    """A written port, or None when absent or all zeros (keepalived treats ``0`` as no port)."""
    if word is None or not word.text.strip("0"):
        return None
    return word.text


def _port(ctx: Context, line: LogicalLine, word: Word) -> int:
    return ctx.integer(line, 0, 1, 65535, word=word)


def _with_message(ctx: Context, line: LogicalLine, message: str, read: Callable[[], Any]) -> Any:
    """Run a number reader; when it rejects the value add keepalived's keyword-specific message."""
    try:
        return read()
    except SkipLine:
        ctx.error(line, message)
        raise


def _uint(ctx: Context, line: LogicalLine, lo: int, hi: int, message: str | None = None, pos: int = 1) -> int:
    if message is None:
        return ctx.integer(line, pos, lo, hi)
    word = ctx.arg(line, pos)
    try:
        return ctx.integer(line, pos, lo, hi)
    except SkipLine:
        ctx.error(line, message.format(word.text))
        raise


def _timer(ctx: Context, line: LogicalLine, lo: float, hi: float, message: str) -> float:
    word = ctx.arg(line, 1)
    try:
        return ctx.timer(line, 1, lo, hi)
    except SkipLine:
        ctx.error(line, message.format(word.text))
        raise


def _flag(ctx: Context, line: LogicalLine, message: str) -> bool:
    """``KEYWORD [BOOL]``: no argument means true; a bad word keeps the old value."""
    w = ctx.opt(line, 1)
    if w is None:
        return True
    if w.text in ("true", "on", "yes"):
        return True
    if w.text in ("false", "off", "no"):
        return False
    ctx.error(line, message.format(w.text))
    raise SkipLine


def _family(ip: IPAddress) -> IpFamily:
    return IpFamily.INET if ip.version == 4 else IpFamily.INET6


def _parse_forwarding(
    ctx: Context, line: LogicalLine, current: Forwarding | None, s_type: str
) -> Forwarding | None:
    """``NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`` (svr_forwarding_handler).

    The method is taken even when a tunnel option is then rejected, as keepalived does.
    """
    text = ctx.string(line, 1)
    try:
        method = LvsMethod(text)
    except ValueError:
        ctx.error(line, f"PARSER : unknown [{text}] routing method for {s_type} server.")
        return current
    base = current if current is not None else Forwarding()
    took_method = replace(base, method=method)
    tun_type, port, csum = TunnelType.IPIP, 0, TunnelChecksum.NOCSUM
    words = line.texts()
    i = 2
    while i < len(words):
        w = words[i]
        if w == "type":
            if i + 1 == len(words):
                ctx.error(line, f"Missing tunnel type for {s_type} server.")
                return took_method
            try:
                tun_type = TunnelType(words[i + 1])
            except ValueError:
                ctx.error(line, f"Unknown tunnel type {words[i + 1]} for {s_type} server.")
                return took_method
            i += 1
        elif w == "port":
            if i + 1 == len(words):
                ctx.error(line, f"Missing port for {s_type} server gue tunnel.")
                return took_method
            try:
                port = ctx.integer(line, i + 1, 1, 65535)
            except SkipLine:
                ctx.error(line, f"Invalid gue tunnel port {words[i + 1]} for {s_type} server.")
                return took_method
            i += 1
        elif w in ("nocsum", "csum", "remcsum"):
            csum = TunnelChecksum(w)
        else:
            ctx.error(line, f"Invalid tunnel option {w} for {s_type} server.")
            return took_method
        i += 1
    if (tun_type is TunnelType.GUE) != (port != 0):
        ctx.error(line, "gue tunnels require port, otherwise cannot have port.")
        return took_method
    if tun_type is TunnelType.IPIP and csum is not TunnelChecksum.NOCSUM:
        ctx.error(line, "ipip tunnels do not support checksum option.")
        return took_method
    if tun_type is TunnelType.GRE and csum is TunnelChecksum.REMCSUM:
        ctx.error(line, "gre tunnels do not support remote checksum option.")
        return took_method
    return Forwarding(method, tun_type, port, csum)


# --- SSL -------------------------------------------------------------------------------------

SSL = Block("SSL")


@SSL.keyword("password", "ca", "certificate", "key")
def _ssl_file(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    kind = {"password": "password", "ca": "cafile", "certificate": "certfile", "key": "keyfile"}[line.keyword]
    w = ctx.opt(line, 1)
    if w is None:
        ctx.error(line, f"SSL {kind} missing")
        return
    if draft.get(line.keyword) is not None:
        ctx.error(line, f"SSL {kind} already specified - replacing")
    draft[line.keyword] = w.text


def _ssl_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if parent.get("lvs_ssl") is not None:
        ctx.error(draft["_loc"], "SSL context already specified - replacing")
    parent["lvs_ssl"] = SslConfig(
        draft.get("password"), draft.get("ca"), draft.get("certificate"), draft.get("key")
    )


SSL.end = _ssl_end


# --- virtual_server_group --------------------------------------------------------------------


def _vsg_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    return {"name": ctx.string(line, 1), "addresses": [], "fwmarks": []}


def _vsg_entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """One group entry (keepalived's alloc_vsg_entry)."""
    name = draft["name"]
    words = line.words
    first = words[0].text
    if first == "fwmark":
        fw_word = ctx.arg(line, 1)
        fwmark = _with_message(
            ctx,
            line,
            f"({name}): fwmark '{fw_word.text}' must be in [0, {UINT_MAX}] - ignoring",
            lambda: ctx.integer(line, 1, 0, UINT_MAX),
        )
        family: IpFamily | None = None
        if len(words) > 2:
            try:
                family = IpFamily(words[2].text)
            except ValueError:
                ctx.error(line, f"({name}): fwmark '{fwmark}' family {words[2].text} unknown - ignoring")
                return
        draft["fwmarks"].append(VsgFwmark(fwmark, family))
        return

    port_text = _port_text(ctx.opt(line, 1))
    port = 0
    bad_addr = (
        f"Invalid virtual server group IP address {first} "
        f"{'/port/' + port_text if port_text else ''} - skipping"
    )
    if port_text is not None:
        try:
            port = _port(ctx, line, words[1])
        except SkipLine:
            ctx.error(line, bad_addr)
            return
    start = parse_ip(first)
    if start is None:
        ctx.error(line, bad_addr)
        return
    end = _vsg_range_end(ctx, line, first, start)
    if end is None:
        return
    draft["addresses"].append(VsgAddressRange(start, end, port))


def _vsg_range_end(ctx: Context, line: LogicalLine, text: str, start: IPAddress) -> IPAddress | None:
    """The last address of ``IP``, ``IP/PREFIX``, ``IP-IP`` or ``IP-LAST`` (None: entry rejected)."""
    bits = start.max_prefixlen
    if "/" in text:
        mask_text = text.split("/", 1)[1]
        if not mask_text.isdigit() or not 0 < int(mask_text) <= bits:
            ctx.error(line, f"Invalid netmask - {text} - skipping")
            return None
        try:
            net = ipaddress.ip_network(f"{start}/{mask_text}", strict=True)
        except ValueError:
            ctx.error(line, f"Address mask bits not empty - {text} - skipping")
            return None
        return net.broadcast_address
    if "-" not in text:
        return start
    tail = text.split("-", 1)[1]
    if ("." if start.version == 4 else ":") in tail:
        end = parse_ip(tail)
        if end is None:
            ctx.error(line, f"Invalid range end {text} - skipping")
            return None
        if end.version != start.version:
            ctx.error(line, f"Range address families do not match {text} - skipping")
            return None
        if int(end) < int(start):
            ctx.error(line, f"Address range end is less than address range start - {text} - skipping")
            return None
        return end
    # IP-LAST: the last octet (IPv4, decimal) or last 16-bit group (IPv6, hex) is replaced
    base, limit = (10, 255) if start.version == 4 else (16, 0xFFFF)
    digits = ""
    for ch in tail:
        if ch.isascii() and ch.isalnum() and _digit_ok(ch, base):
            digits += ch
        else:
            break
    value = int(digits, base) if digits else 0
    if digits != tail:
        ctx.error(
            line,
            f"Virtual server group range '{text}' has extra characters at end '{tail[len(digits) :]}'",
            cls=ErrClass.INVALID_NUMBER,
        )
        return None
    if value > limit:
        ctx.error(
            line, f"Virtual server group range '{text}' end '{tail}' too large", cls=ErrClass.INVALID_NUMBER
        )
        return None
    width = 8 if start.version == 4 else 16
    low = int(start) & ((1 << width) - 1)
    if low >= value:
        ctx.error(line, f"Address range end is not greater than address range start - {text} - skipping")
        return None
    return ipaddress.ip_address((int(start) >> width << width) | value)


def _digit_ok(ch: str, base: int) -> bool:
    try:
        int(ch, base)
    except ValueError:
        return False
    return True


def _vsg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    name = draft["name"]
    if not draft["addresses"] and not draft["fwmarks"]:
        ctx.error(draft["_loc"], f"virtual server group {name} has no entries - removing")
        return
    v4 = any(a.first.version == 4 for a in draft["addresses"]) or any(
        f.family is IpFamily.INET for f in draft["fwmarks"]
    )
    v6 = any(a.first.version == 6 for a in draft["addresses"]) or any(
        f.family is IpFamily.INET6 for f in draft["fwmarks"]
    )
    if v4 and v6 and any(f.family is None for f in draft["fwmarks"]):
        ctx.error(
            draft["_loc"],
            f"virtual server group {name} cannot have IPv4, IPv6 and fwmark without family - removing",
        )
        return
    parent.setdefault("lvs_vsgs", []).append(
        VirtualServerGroup(name, tuple(draft["addresses"]), tuple(draft["fwmarks"]), loc=draft["_loc"])
    )


VSG = Block("virtual_server_group", kind="lines", begin=_vsg_begin, entry=_vsg_entry, end=_vsg_end)


# --- checkers: the keywords every checker shares (install_checker_common_keywords) -----------


def _checker_of(draft: Draft) -> Draft:
    """The checker a line applies to (inside an SMTP ``host {}`` it is the enclosing checker)."""
    owner: Draft = draft.get("_checker", draft)
    return owner


def _co_address(field: str, other: str, name: str, other_name: str) -> Handler:
    """connect_ip / bindto: an address whose family must match the other one's, if set."""

    def handler(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        co = draft["co"]
        text = ctx.string(line, 1)
        ip = parse_ip(text)
        if ip is None:
            ctx.error(line, f"Invalid {name} address {text} - ignoring")
        elif co[other] is not None and co[other].version != ip.version:
            ctx.error(line, f"{name} address {text} does not match address family of {other_name} - skipping")
            co[field] = None
        else:
            co[field] = ip

    return handler


_co_ip = _co_address("ip", "bindto", "connect_ip", "bindto")
_co_bindto = _co_address("bindto", "ip", "bindto", "connect_ip")


def _co_port(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["co"]["port"] = _uint(ctx, line, 1, 65535, "Invalid checker connect_port '{}'")


def _co_bind_port(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["co"]["bind_port"] = _uint(ctx, line, 1, 65535, "Invalid checker bind_port '{}'")


def _co_bind_if(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line, 1)
    if len(name) > 15:
        ctx.error(line, f"Interface name {name} is too long - ignoring")
        return
    draft["co"]["bind_if"] = name


def _co_timeout(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["co"]["connect_timeout"] = _timer(
        ctx, line, 0.000001, UINT_MAX / 1e6, "connect_timeout {} invalid - ignoring"
    )


def _co_fwmark(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["co"]["fwmark"] = _uint(ctx, line, 0, UINT_MAX, "Invalid fwmark connection value '{}'")


def _ck_retry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    message = (
        "Invalid nb_get_retry value '{}'"
        if line.keyword == "nb_get_retry"
        else "Invalid retry connection value '{}'"
    )
    _checker_of(draft)["timing"]["retry"] = _uint(ctx, line, 0, UINT_MAX, message)


def _ck_delay_before_retry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["delay_before_retry"] = _timer(
        ctx, line, 0.0, TIMER_MAX, "Invalid delay_before_retry connection value '{}'"
    )


def _ck_warmup(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["warmup"] = _timer(
        ctx, line, 0.0, TIMER_MAX, "Invalid warmup connection value '{}'"
    )


def _ck_delay_loop(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["delay_loop"] = _timer(
        ctx, line, 0.000001, TIMER_MAX, "delay_loop '{}' is invalid - ignoring"
    )


def _ck_alpha(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["alpha"] = _flag(ctx, line, "Invalid alpha parameter {}")


def _ck_log_all_failures(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["log_all_failures"] = _flag(
        ctx, line, "Invalid log_all_failures parameter {}"
    )


CONNECTION_KEYWORDS: dict[str, Callable[[Context, LogicalLine, Draft], None]] = {
    "connect_ip": _co_ip,
    "connect_port": _co_port,
    "bindto": _co_bindto,
    "bind_port": _co_bind_port,
    "bind_if": _co_bind_if,
    "connect_timeout": _co_timeout,
    "fwmark": _co_fwmark,
}
TIMING_KEYWORDS: dict[str, Callable[[Context, LogicalLine, Draft], None]] = {
    "retry": _ck_retry,
    "delay_before_retry": _ck_delay_before_retry,
    "warmup": _ck_warmup,
    "delay_loop": _ck_delay_loop,
    "alpha": _ck_alpha,
    "log_all_failures": _ck_log_all_failures,
}


def checker_block(name: str, *, connection: bool = True, timing: bool = True, **kwargs: Any) -> Block:
    """A checker block with keepalived's common checker keywords already installed."""
    block = Block(name, **kwargs)
    table = {**(CONNECTION_KEYWORDS if connection else {}), **(TIMING_KEYWORDS if timing else {})}
    for kw, fn in table.items():
        block.keywords[kw] = Keyword(kw, handler=fn)
    return block


def _new_co(rs: Draft, *, unset: bool = False) -> Draft:
    """Connection options defaulting to the real server (SMTP starts unset, to see what was given)."""
    return {
        "ip": None if unset else rs["ip"],
        "port": None,
        "bindto": None,
        "bind_port": 0,
        "bind_if": None,
        "connect_timeout": None,
        "fwmark": 0,
    }


def _checker_begin(
    kind: str, *, co: bool = True, **extra: Any
) -> Callable[[Context, LogicalLine, Draft], Draft]:
    def begin(ctx: Context, line: LogicalLine, rs: Draft) -> Draft:
        draft: Draft = {
            "kind": kind if kind != "HTTP" else line.keyword,
            "_rs": rs,
            "timing": dict.fromkeys(TIMING_KEYWORDS),
        }
        if co:
            draft["co"] = _new_co(rs, unset=kind == "SMTP_CHECK")
        for key, value in extra.items():
            draft[key] = value() if callable(value) else value
        return draft

    return begin


def _link_local_ok(ctx: Context, draft: Draft, co: Draft) -> bool:
    """check_conn_opts: an IPv6 link-local destination needs ``bind_if``."""
    ip = co["ip"]
    if ip is not None and ip.version == 6 and ip.is_link_local and not co["bind_if"]:
        ctx.error(draft["_loc"], f"Checker link local address {ip} requires a bind_if")
        return False
    return True


def _queue(draft: Draft, rs: Draft) -> None:
    rs["checkers"].append(draft)


def _simple_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if _link_local_ok(ctx, draft, draft["co"]):
        _queue(draft, rs)


TCP_CHECK = checker_block("TCP_CHECK", begin=_checker_begin("TCP_CHECK"), end=_simple_end)
PING_CHECK = checker_block("PING_CHECK", begin=_checker_begin("PING_CHECK"), end=_simple_end)


# --- HTTP_GET / SSL_GET ----------------------------------------------------------------------

URL = Block("url")


def _url_begin(ctx: Context, line: LogicalLine, checker: Draft) -> Draft:
    return {
        "path": None,
        "digest": None,
        "codes": set(),
        "virtualhost": None,
        "regex": None,
        "regex_no_match": False,
        "regex_options": [],
        "regex_min_offset": 0,
        "regex_max_offset": None,
        "regex_stack": None,
    }


URL.string_keyword("path", "path")


@URL.keyword("digest")
def _url_digest(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    digest = ctx.string(line, 1)
    if draft["digest"] is not None:
        ctx.error(line, f"Digest '{digest}' is a duplicate")
        return
    if len(digest) != 32:
        ctx.error(line, f"digest '{digest}' character length should be 32 rather than {len(digest)}")
        return
    for i in range(15, -1, -1):
        pair = digest[2 * i : 2 * i + 2]
        if not all(c in "0123456789abcdefABCDEF" for c in pair):
            ctx.error(
                line,
                f"Unable to interpret hex digit in '{digest[: 2 * i + 2]}' at offset {2 * i}/{2 * i + 1}",
            )
            return
    draft["digest"] = digest.lower()


@URL.keyword("status_code")
def _url_status_code(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    for w in line.words[1:]:
        lo_text, _, hi_text = w.text.partition("-")
        ok = lo_text.isdigit() and (hi_text.isdigit() if "-" in w.text else True)
        lo = int(lo_text) if ok else 0
        hi = int(hi_text) if ok and hi_text else lo
        if not ok or not (100 <= lo <= hi <= 599):
            ctx.error(w, f"Invalid HTTP_GET status code '{w.text}'")
            continue
        draft["codes"].update(range(lo, hi + 1))


URL.string_keyword("virtualhost", "virtualhost", "Missing HTTP_GET virtualhost name")


URL.string_keyword("regex", "regex", "regex missing or too many fields", exactly_one=True, on_missing="note")


@URL.keyword("regex_no_match")
def _url_regex_no_match(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["regex_no_match"] = True


@URL.keyword("regex_options")
def _url_regex_options(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    for w in line.words[1:]:
        if w.text in REGEX_OPTIONS and w.text not in draft["regex_options"]:
            draft["regex_options"].append(w.text)


@URL.keyword("regex_min_offset", "regex_max_offset")
def _url_regex_offset(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    which = "min" if line.keyword == "regex_min_offset" else "max"
    if len(line.words) != 2:
        ctx.note(line, f"Missing or too may options for regex_{which}_offset")
        value = 0
    elif not line.words[1].text.isdigit():
        ctx.note(line, f"Invalid regex_{which}_offset {line.words[1].text} specified")
        value = 0
    else:
        value = int(line.words[1].text)
    if which == "min":
        draft["regex_min_offset"] = value
    else:
        draft["regex_max_offset"] = value


@URL.keyword("regex_stack")
def _url_regex_stack(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    texts = line.texts()
    if len(texts) != 3:
        ctx.note(line, "regex_stack requires start and max values")
        return
    if not texts[1].isdigit():
        ctx.note(line, "regex_stack invalid start value")
        return
    if not texts[2].isdigit():
        ctx.note(line, "regex_stack invalid max value")
        return
    start, top = int(texts[1]), int(texts[2])
    if start > top:
        ctx.note(line, "regex stack start cannot exceed max value")
        return
    draft["regex_stack"] = (start, top)


def _url_end(ctx: Context, draft: Draft, checker: Draft) -> None:
    loc = draft["_loc"]
    if draft["path"] is None:
        ctx.error(loc, "HTTP/SSL_GET checker url has no path - ignoring")
        return
    codes = draft["codes"] or set(range(200, 300))
    regex_extras = (
        draft["regex_options"]
        or draft["regex_no_match"]
        or draft["regex_min_offset"]
        or draft["regex_max_offset"] is not None
        or draft["regex_stack"] is not None
    )
    if draft["regex"] is None and regex_extras:
        ctx.note(loc, "regex parameters specified without regex")
        draft.update(
            regex_options=[],
            regex_no_match=False,
            regex_min_offset=0,
            regex_max_offset=None,
            regex_stack=None,
        )
    if draft["regex_max_offset"] is not None and draft["regex_min_offset"] > draft["regex_max_offset"]:
        ctx.note(
            loc,
            f"regex min offset {draft['regex_min_offset']} > regex_max_offset "
            f"{draft['regex_max_offset']} - ignoring",
        )
        draft.update(regex_min_offset=0, regex_max_offset=None)
    checker["urls"].append(
        Url(
            path=draft["path"],
            digest=draft["digest"],
            status_codes=_ranges(codes),
            virtualhost=draft["virtualhost"],
            regex=draft["regex"],
            regex_no_match=draft["regex_no_match"],
            regex_options=tuple(draft["regex_options"]),
            regex_min_offset=draft["regex_min_offset"],
            regex_max_offset=draft["regex_max_offset"],
            regex_stack=draft["regex_stack"],
        )
    )


def _ranges(codes: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Merge a set of codes into sorted inclusive ranges."""
    out: list[tuple[int, int]] = []
    for c in sorted(codes):
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return tuple(out)


URL.begin, URL.end = _url_begin, _url_end


def _http_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if not draft["urls"]:
        ctx.error(draft["_loc"], "HTTP/SSL_GET checker has no urls specified - ignoring")
        return
    _simple_end(ctx, draft, rs)


HTTP_GET = checker_block(
    "HTTP_GET",
    begin=_checker_begin(
        "HTTP",
        urls=list,
        virtualhost=None,
        http_protocol=HttpProtocol.HTTP_1_0,
        fast_recovery=False,
        enable_sni=False,
    ),
    end=_http_end,
)
HTTP_GET.sub("url", URL)
HTTP_GET.keywords["nb_get_retry"] = Keyword("nb_get_retry", handler=_ck_retry, deprecated="retry")


HTTP_GET.string_keyword("virtualhost", "virtualhost", "HTTP_GET virtualhost name missing")


@HTTP_GET.keyword("http_protocol")
def _http_protocol(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    w = ctx.opt(line, 1)
    if w is None:
        ctx.error(line, "Missing http_protocol version")
        return
    text = "1.0C" if w.text == "1.0c" else w.text
    try:
        draft["http_protocol"] = HttpProtocol(text)
    except ValueError:
        ctx.error(line, f"Invalid http_protocol version {w.text}")


@HTTP_GET.keyword("fast_recovery", "enable_sni")
def _http_flag(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft[line.keyword] = _flag(ctx, line, f"Invalid {line.keyword} parameter {{}}")


SSL_GET = Block("SSL_GET", begin=HTTP_GET.begin, end=HTTP_GET.end, keywords=HTTP_GET.keywords)


# --- MISC_CHECK ------------------------------------------------------------------------------

MISC_CHECK = checker_block(
    "MISC_CHECK",
    connection=False,
    begin=_checker_begin(
        "MISC_CHECK", co=False, path=None, misc_timeout=None, misc_dynamic=False, user=None, group=None
    ),
)


@MISC_CHECK.keyword("misc_path")
def _misc_path(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        return  # keepalived reads no path; the block's end says "No script path has been specified ..."
    # only the (quoted) first word is the command; anything after it is ignored, as keepalived does
    draft["path"] = replace(script_from_line(ctx, line), user=None, group=None)


@MISC_CHECK.keyword("misc_timeout")
def _misc_timeout(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["misc_timeout"] = _uint(ctx, line, 0, UINT_MAX // 1000000, "Invalid misc_timeout value '{}'")


@MISC_CHECK.keyword("misc_dynamic")
def _misc_dynamic(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["misc_dynamic"] = True


@MISC_CHECK.keyword("user")
def _misc_user(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        cmd = draft["path"].command if draft["path"] is not None else ""
        ctx.error(line, f"No user specified for misc checker script {cmd}")
        return
    draft["user"] = line.words[1].text
    draft["group"] = line.words[2].text if len(line.words) > 2 else None


def _misc_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if draft["path"] is None:
        ctx.error(draft["_loc"], "No script path has been specified for MISC_CHECKER - skipping")
        return
    if draft["user"] is not None:
        draft["path"] = replace(draft["path"], user=draft["user"], group=draft["group"])
    _queue(draft, rs)


MISC_CHECK.end = _misc_end


# --- SMTP_CHECK (with the deprecated host {} blocks) -----------------------------------------

SMTP_CHECK = checker_block("SMTP_CHECK", begin=_checker_begin("SMTP_CHECK", helo_name=None, hosts=list))


SMTP_CHECK.string_keyword("helo_name", "helo_name", "SMTP_CHECK helo name missing")


def _smtp_host_begin(ctx: Context, line: LogicalLine, checker: Draft) -> Draft:
    return {"_checker": checker, "co": _new_co(checker["_rs"])}


def _smtp_host_end(ctx: Context, draft: Draft, checker: Draft) -> None:
    if _link_local_ok(ctx, draft, draft["co"]):
        checker["hosts"].append(draft["co"])


SMTP_HOST = checker_block("host", begin=_smtp_host_begin, end=_smtp_host_end)
SMTP_CHECK.sub("host", SMTP_HOST)


def _smtp_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    """Each deprecated ``host {}`` becomes a checker of its own (smtp_check_end_handler).

    keepalived gives host entries a connect_timeout of 0 unless they set one; we let them
    inherit like any checker (a 0 timeout can never succeed).
    """
    if draft["helo_name"] is None:
        draft["helo_name"] = "smtpchecker.keepalived.org"
    hosts: list[Draft] = draft.pop("hosts")
    if hosts:
        ctx.note(draft["_loc"], "The SMTP_CHECK host block is deprecated. Please define additional checkers.")
    co = draft["co"]
    configured = (
        co["ip"] is not None
        or co["port"] is not None
        or co["bindto"] is not None
        or co["bind_port"]
        or co["bind_if"]
        or co["fwmark"]
        or co["connect_timeout"] is not None
    )
    if configured or not hosts:
        if co["ip"] is None:
            co["ip"] = rs["ip"]
        if not _link_local_ok(ctx, draft, co):
            return
    else:
        draft["co"] = hosts.pop(0)
    _queue(draft, rs)
    for host_co in hosts:
        _queue({**draft, "co": host_co}, rs)


SMTP_CHECK.end = _smtp_end


# --- DNS_CHECK, UDP_CHECK --------------------------------------------------------------------

DNS_CHECK = checker_block("DNS_CHECK", begin=_checker_begin("DNS_CHECK", query_type=DnsType.SOA, name=None))


@DNS_CHECK.keyword("type")
def _dns_type(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    try:
        draft["query_type"] = DnsType(text.upper())
    except ValueError:
        ctx.error(line, f"Unknown DNS check type {text} - ignoring")


@DNS_CHECK.keyword("name")
def _dns_name(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line, 1)
    if draft["name"] is not None:
        ctx.error(line, "DNS_CHECK name already specified - ignoring")
        return
    if (name.startswith(".") and name != ".") or ".." in name:
        ctx.error(line, f"DNS_CHECK name '{name}' has empty label - ignoring")
        return
    draft["name"] = name


def _dns_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if draft["name"] is None:
        draft["name"] = ""
    _simple_end(ctx, draft, rs)


DNS_CHECK.end = _dns_end

UDP_CHECK = checker_block(
    "UDP_CHECK",
    begin=_checker_begin(
        "UDP_CHECK",
        payload=None,
        require_reply=False,
        reply_pattern=None,
        min_reply_length=0,
        max_reply_length=255,
    ),
)


def read_hex(text: str, wildcards: bool) -> str | None:
    """keepalived's read_hex_str, as canonical lowercase hex (``x`` = wildcard nibble).

    Bytes are pairs of digits; spaces separate groups and a lone digit is one byte.
    """
    out: list[str] = []
    ok_chars = "0123456789abcdef" + ("x" if wildcards else "")
    i, s = 0, text.lower()
    while True:
        while i < len(s) and s[i] in " \t":
            i += 1
        if i >= len(s):
            break
        if s[i] not in ok_chars:
            return None
        if i + 1 < len(s) and s[i + 1] != " ":
            if s[i + 1] not in ok_chars:
                return None
            out.append(s[i : i + 2])
            i += 2
        else:
            out.append("0" + s[i])
            i += 1
    return "".join(out) or None


@UDP_CHECK.keyword("payload")
def _udp_payload(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) == 1:
        ctx.error(line, "UDP_CHECK payload requires a payload")
        return
    value = read_hex(" ".join(line.texts()[1:]), wildcards=False)
    if value is None:
        ctx.error(line, "Invalid hex string for UDP_CHECK payload")
    draft["payload"] = value


@UDP_CHECK.keyword("require_reply")
def _udp_require_reply(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["require_reply"] = True
    if len(line.words) == 1:
        return
    value = read_hex(" ".join(line.texts()[1:]), wildcards=True)
    if value is None:
        ctx.error(line, "Invalid hex string for UDP_CHECK reply")
    draft["reply_pattern"] = value


@UDP_CHECK.keyword("min_reply_length", "max_reply_length")
def _udp_length(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    which = "min" if line.keyword.startswith("min") else "max"
    draft[line.keyword] = _uint(
        ctx, line, 0, 65535, f"UDP_CHECK {which} length {{}} not valid - must be between 0 & 65535"
    )


def _udp_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if not _link_local_ok(ctx, draft, draft["co"]):
        return
    if draft["min_reply_length"] > draft["max_reply_length"]:
        ctx.error(
            draft["_loc"],
            f"UDP_CHECK min_reply length {draft['min_reply_length']} > max_reply_length "
            f"{draft['max_reply_length']} - will always fail",
        )
    _queue(draft, rs)


UDP_CHECK.end = _udp_end


# --- FILE_CHECK, BFD_CHECK -------------------------------------------------------------------

FILE_CHECK = checker_block(
    "FILE_CHECK",
    connection=False,
    timing=False,
    begin=_checker_begin("FILE_CHECK", co=False, track_file=None, weight=None, reverse=False),
)


FILE_CHECK.string_keyword("track_file", "track_file")


@FILE_CHECK.keyword("weight")
def _file_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        ctx.error(line, "track file weight missing")
        return
    weight = _uint(
        ctx,
        line,
        -WEIGHT_MAX,
        WEIGHT_MAX,
        f"weight for track file must be in [{-WEIGHT_MAX}..{WEIGHT_MAX}] inclusive. Ignoring...",
    )
    reverse = False
    if len(line.words) >= 3:
        opt = line.words[2].text
        if opt not in ("reverse", "noreverse"):
            ctx.error(line, f"unknown track file weight option {opt} - ignoring")
            return
        reverse = opt == "reverse"
    draft["weight"], draft["reverse"] = weight, reverse


def _file_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if draft["track_file"] is None:
        ctx.error(draft["_loc"], "FILE_CHECK has no track_file specified - ignoring")
        return
    _queue(draft, rs)


FILE_CHECK.end = _file_end

BFD_CHECK = checker_block(
    "BFD_CHECK", connection=False, timing=False, begin=_checker_begin("BFD_CHECK", co=False, name=None)
)


@BFD_CHECK.keyword("name")
def _bfd_name(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    rs = draft["_rs"]
    who = format_trio(rs["ip"], rs["port"], None)
    if len(line.words) != 2:
        ctx.error(line, f"({who}) BFD_CHECK - No or too many names specified - skipping checker")
        draft["_dropped"] = True
        return
    name = line.words[1].text
    if draft["name"] is not None:
        ctx.error(line, f"({who}) BFD_CHECK - BFD {name} already specified as {draft['name']}")
        draft["_dropped"] = True
        return
    if name in rs["_bfds"]:
        ctx.error(line, f"({who}) BFD_CHECK - RS already monitoring {name}")
        draft["_dropped"] = True
        return
    draft["name"] = name


@BFD_CHECK.keyword("alpha")
def _bfd_alpha(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["timing"]["alpha"] = _flag(ctx, line, "Invalid alpha parameter {}")


def _bfd_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if draft.get("_dropped"):
        return
    if draft["name"] is None:
        who = format_trio(rs["ip"], rs["port"], None)
        ctx.error(draft["_loc"], f"({who}) No name has been specified for BFD_CHECKER - skipping")
        return
    rs["_bfds"].add(draft["name"])
    _queue(draft, rs)


BFD_CHECK.end = _bfd_end

CHECKER_BLOCKS = {
    b.name: b
    for b in (
        TCP_CHECK,
        HTTP_GET,
        SSL_GET,
        MISC_CHECK,
        SMTP_CHECK,
        DNS_CHECK,
        UDP_CHECK,
        PING_CHECK,
        FILE_CHECK,
        BFD_CHECK,
    )
}


# --- real_server -----------------------------------------------------------------------------

RS = Block("real_server")


def _rs_begin(ctx: Context, line: LogicalLine, vs: Draft) -> Draft | None:
    ip_text = ctx.string(line, 1)
    port_word = ctx.opt(line, 2)
    port_text = _port_text(port_word)
    ip = parse_ip(ip_text)
    port = 0
    written = port_word.text if port_word else "(null)"
    bad = f"Invalid real server ip address/port {ip_text}/{written} - skipping"
    if port_text is not None and port_word is not None:
        try:
            port = _port(ctx, line, port_word)
        except SkipLine:
            ip = None
    if ip is None:
        ctx.error(line, bad)
        return None
    return {
        "ip": ip,
        "port": port,
        "_written_port": port,
        "weight": None,
        "forwarding": vs["forwarding"],
        "inhibit": None,
        "alpha": None,
        "notify_up": None,
        "notify_down": None,
        "uthreshold": None,
        "lthreshold": None,
        "retry": None,
        "delay_before_retry": None,
        "warmup": None,
        "connect_timeout": None,
        "delay_loop": None,
        "smtp_alert": None,
        "virtualhost": None,
        "snmp_name": None,
        "checkers": [],
        "_bfds": set(),
    }


def _rs_end(ctx: Context, draft: Draft, vs: Draft) -> None:
    fwd = draft["forwarding"]
    if fwd is None or fwd.method is not LvsMethod.TUN:
        fam = _family(draft["ip"])
        if vs["af"] is None:
            vs["af"] = fam
        elif vs["af"] is not fam:
            ctx.error(
                draft["_loc"],
                f"Address family of virtual server and real server {draft['ip']} "
                "don't match - skipping real server.",
            )
            return
    vs["real_servers"].append(draft)


RS.begin, RS.end = _rs_begin, _rs_end


@RS.keyword("weight")
def _rs_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["weight"] = _uint(
        ctx, line, 0, WEIGHT_MAX, f"Real server weight {{}} is outside range 0-{WEIGHT_MAX}"
    )


@RS.keyword("lvs_method")
def _rs_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["forwarding"] = _parse_forwarding(ctx, line, draft["forwarding"], "real")


@RS.keyword("uthreshold", "lthreshold")
def _rs_threshold(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft[line.keyword] = _uint(
        ctx, line, 0, UINT_MAX, f"Invalid real_server {line.keyword} '{{}}' - ignoring"
    )


@RS.keyword("inhibit_on_failure")
def _rs_inhibit(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["inhibit"] = _flag(ctx, line, "Invalid inhibit_on_failure parameter {}")


@RS.keyword("alpha")
def _rs_alpha(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["alpha"] = _flag(ctx, line, "Invalid alpha parameter {}")


@RS.keyword("smtp_alert")
def _rs_smtp_alert(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["smtp_alert"] = _flag(ctx, line, "Invalid real_server smtp_alert parameter {}")


@RS.keyword("notify_up", "notify_down")
def _rs_notify(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft[line.keyword] is not None:
        ctx.error(line, f"(null) {line.keyword} script already specified - ignoring {ctx.string(line, 1)}")
        return
    draft[line.keyword] = script_from_line(ctx, line)


RS.string_keyword("virtualhost", "virtualhost", "real server virtualhost missing")


RS.string_keyword("snmp_name", "snmp_name", "real server snmp_name missing or extra parameters", exactly_one=True)


def _server_timing_keywords(block: Block, who: str) -> None:
    """retry / delay_before_retry / warmup / connect_timeout / delay_loop at VS and RS level."""

    def retry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        draft["retry"] = _uint(ctx, line, 1, UINT_MAX, "retry value invalid - {}")

    def connect_timeout(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        draft["connect_timeout"] = _timer(
            ctx, line, 0.000001, UINT_MAX / 1e6, f"{who} server connect_timeout {{}} invalid - ignoring"
        )

    def delay_loop(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = "delay loop" if who == "virtual" else "delay_loop"
        draft["delay_loop"] = _timer(
            ctx, line, 0.000001, TIMER_MAX, f"{who} server {text} '{{}}' invalid - ignoring"
        )

    def delay_before_retry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = "delay before retry" if who == "virtual" else "delay_before_retry"
        draft["delay_before_retry"] = _timer(
            ctx, line, 0.0, TIMER_MAX, f"{who} server {text} '{{}}' invalid - ignoring"
        )

    def warmup(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        draft["warmup"] = _timer(ctx, line, 0.0, TIMER_MAX, f"{who} server warmup '{{}}' invalid - ignoring")

    for fn in (retry, connect_timeout, delay_loop, delay_before_retry, warmup):
        block.keywords[fn.__name__] = Keyword(fn.__name__, handler=fn)


_server_timing_keywords(RS, "real")
for _name, _block in CHECKER_BLOCKS.items():
    RS.sub(_name, _block)
RS.unsupported("BFD_CHECK")


# --- virtual_server --------------------------------------------------------------------------

VS = Block("virtual_server")


def _vs_begin(ctx: Context, line: LogicalLine, root: Draft) -> Draft | None:
    p1 = ctx.string(line, 1)
    draft: Draft = {
        "address": None,
        "port": 0,
        "fwmark": None,
        "group": None,
        "af": None,
        "protocol": None,
        "sched": None,
        "flags": [],
        "forwarding": None,
        "persistence_timeout": 0,
        "granularity": None,
        "engine": None,
        "delay_loop": 60.0,
        "connect_timeout": 5.0,
        "retry": None,
        "delay_before_retry": None,
        "warmup": None,
        "weight": 1,
        "alpha": False,
        "omega": False,
        "inhibit": False,
        "ha_suspend": False,
        "quorum": 1,
        "hysteresis": 0,
        "quorum_up": None,
        "quorum_down": None,
        "sorry": None,
        "virtualhost": None,
        "smtp_alert": None,
        "snmp_name": None,
        "real_servers": [],
    }
    if p1 == "group":
        draft["group"] = ctx.string(line, 2)
    elif p1 == "fwmark":
        w = ctx.arg(line, 2)
        draft["fwmark"] = _with_message(
            ctx,
            line,
            f"virtual server fwmark '{w.text}' must be in [0, {UINT_MAX}] - ignoring",
            lambda: ctx.integer(line, 2, 0, UINT_MAX),
        )
    else:
        port_word = ctx.opt(line, 2)
        port_text = _port_text(port_word)
        ip = parse_ip(p1)
        if port_text is not None and port_word is not None:
            try:
                draft["port"] = _port(ctx, line, port_word)
            except SkipLine:
                ip = None
        if ip is None:
            suffix = f"/port {p1}/{port_text}" if port_text else f" {p1}"
            ctx.error(line, f"Invalid virtual server IP address{suffix} - skipping")
            return None
        draft["address"], draft["af"] = ip, _family(ip)
    return draft


def _vs_end(ctx: Context, draft: Draft, root: Draft) -> None:
    """vs_end_handler: the sorry server's family, unless tunnelled, must match the service."""
    sorry = draft["sorry"]
    if sorry is not None and sorry["forwarding"] is not None and sorry["forwarding"].method is LvsMethod.TUN:
        pass
    elif sorry is not None:
        fam = _family(sorry["ip"])
        if draft["af"] is None:
            draft["af"] = fam
        elif draft["af"] is not fam:
            ctx.error(
                draft["_loc"],
                f"Address family of virtual server and sorry server {sorry['ip']} don't match "
                "- skipping sorry server.",
            )
            draft["sorry"] = None
    root.setdefault("lvs_vss", []).append(draft)


VS.begin, VS.end = _vs_begin, _vs_end
_server_timing_keywords(VS, "virtual")
VS.sub("real_server", RS)


@VS.keyword("ip_family")
def _vs_ip_family(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    try:
        fam = IpFamily(text)
    except ValueError:
        ctx.error(line, f"unknown address family {text}")
        return
    if draft["af"] is not None and draft["af"] is not fam:
        ctx.error(line, f"Virtual server specified family {text} conflicts with server family")
        return
    draft["af"] = fam


@VS.keyword("lvs_sched", "lb_algo")
def _vs_sched(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    if text not in SCHEDULERS:
        ctx.error(line, f"Invalid lvs_scheduler '{text}' - ignoring")
        return
    draft["sched"] = text


@VS.keyword("hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback")
def _vs_flag(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """Scheduler flags; sh-/mh- flags only count when that scheduler is already set (lbflags_handler)."""
    kw = line.keyword
    sched = draft["sched"]
    if (
        kw in ("ops", "flag-1", "flag-2", "flag-3")
        or (sched == "sh" and kw.startswith("sh-"))
        or (sched == "mh" and kw.startswith("mh-"))
    ):
        if kw not in draft["flags"]:
            draft["flags"].append(kw)
    elif sched not in ("sh", "mh"):
        ctx.error(line, f"{kw} only applies to sh scheduler - ignoring")


@VS.keyword("lvs_method", "lb_kind")
def _vs_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["forwarding"] = _parse_forwarding(ctx, line, draft["forwarding"], "virtual")


@VS.keyword("persistence_timeout")
def _vs_persistence(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        draft["persistence_timeout"] = PERSISTENCE_DEFAULT
        return
    draft["persistence_timeout"] = _uint(ctx, line, 1, PERSISTENCE_MAX, "persistence_timeout invalid")


@VS.keyword("persistence_engine")
def _vs_engine(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line, 1)
    if len(name) > 15:
        ctx.error(line, f"persistence_name too long, truncating - {name}")
        name = name[:15]
    draft["engine"] = name


@VS.keyword("persistence_granularity")
def _vs_granularity(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    fam = draft["af"] or (IpFamily.INET if "." in text else IpFamily.INET6)
    if fam is IpFamily.INET6:
        draft["granularity"] = _uint(ctx, line, 1, 128, "Invalid IPv6 persistence_granularity specified - {}")
    else:
        try:
            draft["granularity"] = ipaddress.IPv4Address(socket.inet_aton(text))
        except (OSError, ValueError):
            ctx.error(line, f"Invalid IPv4 persistence_granularity specified - {text}")
            return
    if draft["af"] is None:
        draft["af"] = fam
    if not draft["persistence_timeout"]:
        draft["persistence_timeout"] = PERSISTENCE_DEFAULT


@VS.keyword("protocol")
def _vs_protocol(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    try:
        draft["protocol"] = Protocol(text.upper())
    except ValueError:
        ctx.error(line, f"Unknown protocol {text} - ignoring")


@VS.keyword("ha_suspend", "alpha", "omega", "inhibit_on_failure")
def _vs_bare_flag(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    key = "inhibit" if line.keyword == "inhibit_on_failure" else line.keyword
    draft[key] = True


@VS.keyword("smtp_alert")
def _vs_smtp_alert(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["smtp_alert"] = _flag(ctx, line, "Invalid virtual_server smtp_alert parameter {}")


VS.string_keyword("virtualhost", "virtualhost", "virtual server virtualhost missing")


VS.string_keyword("snmp_name", "snmp_name", "virtual server snmp_name missing or extra parameters", exactly_one=True)


@VS.keyword("quorum_up", "quorum_down")
def _vs_quorum_script(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft[line.keyword] is not None:
        ctx.error(
            line,
            f"({draft['group'] or '(null)'}) {line.keyword} script already specified - ignoring "
            f"{ctx.string(line, 1)}",
        )
        return
    draft[line.keyword] = script_from_line(ctx, line)


@VS.keyword("quorum")
def _vs_quorum(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    try:
        draft["quorum"] = _uint(
            ctx, line, 1, UINT_MAX, f"Quorum {{}} must be in [1, {UINT_MAX}]. Setting to 1."
        )
    except SkipLine:
        draft["quorum"] = 1


@VS.keyword("hysteresis")
def _vs_hysteresis(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["hysteresis"] = _uint(
        ctx, line, 0, UINT_MAX, f"Hysteresis {{}} must be in [0, {UINT_MAX}] - ignoring"
    )


@VS.keyword("weight")
def _vs_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["weight"] = _uint(
        ctx, line, 1, WEIGHT_MAX, f"Virtual server weight {{}} is outside range 1-{WEIGHT_MAX}"
    )


@VS.keyword("sorry_server")
def _vs_sorry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ip_text = ctx.string(line, 1)
    port_word = ctx.opt(line, 2)
    ip = parse_ip(ip_text)
    port = 0
    if _port_text(port_word) is not None and port_word is not None:
        try:
            port = _port(ctx, line, port_word)
        except SkipLine:
            ip = None
    if ip is None:
        ctx.error(line, f"Invalid sorry server IP address {ip_text} - skipping")
        return
    draft["sorry"] = {"ip": ip, "port": port, "forwarding": draft["forwarding"], "inhibit": False}


@VS.keyword("sorry_server_inhibit")
def _vs_sorry_inhibit(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft["sorry"] is None:
        ctx.error(line, "Ignoring sorry_server inhibit used before or without sorry_server")
        return
    draft["sorry"]["inhibit"] = True


@VS.keyword("sorry_server_lvs_method")
def _vs_sorry_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft["sorry"] is None:
        ctx.error(line, "sorry_server forwarding used without sorry_server")
        return
    draft["sorry"]["forwarding"] = _parse_forwarding(ctx, line, draft["sorry"]["forwarding"], "sorry")


def register(root: Block) -> None:
    """Install the root-level LVS blocks."""
    root.sub("SSL", SSL)
    root.sub("virtual_server_group", VSG)
    root.sub("virtual_server", VS)


# --- validation: link_vsg_to_vs + validate_check_config ---------------------------------------


def finish(ctx: Context, draft: Draft, global_defs: Any) -> LvsConfig:
    """Validate the parsed LVS drafts as keepalived does and build the effective model."""
    groups: tuple[VirtualServerGroup, ...] = tuple(draft.get("lvs_vsgs", ()))
    by_name: dict[str, VirtualServerGroup] = {}
    for g in groups:
        by_name.setdefault(g.name, g)
    smtp_default = _global_smtp_alert(global_defs)
    members: dict[str, int] = {}
    linked: list[tuple[Draft, VirtualServerGroup | None]] = []
    for vs in draft.get("lvs_vss", ()):
        vsg: VirtualServerGroup | None = None
        if vs["group"] is not None:
            vsg = _link_group(ctx, vs, by_name, members)
            if vsg is None:
                continue
        linked.append((vs, vsg))
    servers: list[VirtualServer] = []
    for vs, vsg in linked:
        built = _validate_vs(ctx, vs, vsg, smtp_default)
        if built is not None:
            servers.append(built)
    return LvsConfig(ssl=draft.get("lvs_ssl"), virtual_server_groups=groups, virtual_servers=tuple(servers))


def _global_smtp_alert(global_defs: Any) -> bool | None:
    """global ``smtp_alert_checker``, else ``smtp_alert`` (None: neither set)."""
    for name in ("smtp_alert_checker", "smtp_alert"):
        value = getattr(global_defs, name, None)
        if value is not None:
            return bool(value)
    return None


def _fmt(vs: Draft) -> str:
    return format_vs(
        vs["address"], vs["port"], vs["fwmark"], vs["group"], vs["protocol"], vs.get("_index", 0)
    )


def _link_group(
    ctx: Context, vs: Draft, by_name: dict[str, VirtualServerGroup], members: dict[str, int]
) -> VirtualServerGroup | None:
    """link_vsg_to_vs (keepalived logs these, they do not change ``-t``'s status)."""
    name = vs["group"]
    vs["_index"] = members.get(name, 0)
    vsg = by_name.get(name)
    if vsg is None:
        ctx.note(
            vs["_loc"],
            f"Virtual server group {name} specified but not configured - ignoring virtual server {_fmt(vs)}",
        )
        return None
    v4 = any(a.first.version == 4 for a in vsg.addresses) or any(
        f.family is IpFamily.INET for f in vsg.fwmarks
    )
    v6 = any(a.first.version == 6 for a in vsg.addresses) or any(
        f.family is IpFamily.INET6 for f in vsg.fwmarks
    )
    group_af = IpFamily.INET if v4 and not v6 else IpFamily.INET6 if v6 and not v4 else None
    if v4 and v6 and vs["af"] is not None:
        ctx.note(
            vs["_loc"],
            f"{name}: virtual server group with IPv4 & IPv6 doesn't match virtual server "
            f"{_fmt(vs)} - ignoring",
        )
        return None
    if group_af is not None and vs["af"] is not None and vs["af"] is not group_af:
        ctx.note(vs["_loc"], f"{name}: address family doesn't match virtual server {_fmt(vs)} - ignoring")
        return None
    if group_af is not None:
        vs["af"] = group_af
    elif vs["af"] is None and any(f.family is None for f in vsg.fwmarks):
        ctx.note(
            vs["_loc"],
            f"{name}: Virtual server {_fmt(vs)} address family cannot be determined, defaulting to IPv4",
        )
    members[name] = vs["_index"] + 1
    return vsg


def _validate_vs(
    ctx: Context, vs: Draft, vsg: VirtualServerGroup | None, smtp_default: bool | None
) -> VirtualServer | None:
    loc = vs["_loc"]
    if not vs["real_servers"]:
        ctx.error(loc, f"Virtual server {_fmt(vs)} has no real servers - ignoring")
        return None
    has_fwmarks = vs["fwmark"] is not None or (vsg is not None and bool(vsg.fwmarks))
    if vs["ha_suspend"] and has_fwmarks:
        ctx.error(loc, f"Virtual server {_fmt(vs)}: cannot use ha_suspend with fwmarks - clearing ha_suspend")
        vs["ha_suspend"] = False

    by_address = (vsg is not None and bool(vsg.addresses)) or (vsg is None and vs["fwmark"] is None)
    if by_address:
        if vs["protocol"] is None:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: no protocol set - defaulting to UDP")
            vs["protocol"] = Protocol.UDP
        if "ops" in vs["flags"] and vs["protocol"] is not Protocol.UDP:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: one packet scheduling requires UDP - resetting")
            vs["flags"].remove("ops")
        if not vs["persistence_timeout"] and vsg is None and vs["fwmark"] is None and not vs["port"]:
            ctx.error(
                loc, f"Virtual server {_fmt(vs)}: zero port only valid for persistent services - setting"
            )
            vs["persistence_timeout"] = PERSISTENCE_DEFAULT
    if not vs["persistence_timeout"] and vsg is not None and any(not a.port for a in vsg.addresses):
        ctx.error(loc, f"Virtual server {_fmt(vs)}: zero port only valid for persistent services - setting")
        vs["persistence_timeout"] = PERSISTENCE_DEFAULT
    fwmark_only = (vsg is not None and not vsg.addresses and bool(vsg.fwmarks)) or (
        vsg is None and vs["fwmark"] is not None
    )
    if vs["protocol"] is not None and fwmark_only:
        ctx.error(
            loc,
            f"Warning: Virtual server {_fmt(vs)}: protocol specified for fwmark - protocol will be ignored",
        )
        vs["protocol"] = None
    if vs["sched"] is None:
        ctx.error(loc, f"Virtual server {_fmt(vs)}: no scheduler set, setting default 'wlc'")
        vs["sched"] = "wlc"
    vs_smtp = vs["smtp_alert"] if vs["smtp_alert"] is not None else bool(smtp_default)

    def default_forwarding() -> Forwarding:
        if vs["forwarding"] is None:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: no forwarding method set, setting default NAT")
            vs["forwarding"] = Forwarding()
        fwd: Forwarding = vs["forwarding"]
        return fwd

    kept: list[Draft] = []
    seen: set[tuple[IPAddress, int]] = set()
    weight_sum = 0
    sorry = vs["sorry"]
    for rs in vs["real_servers"]:
        key = (rs["ip"], rs["port"])
        if key in seen:
            ctx.error(
                rs["_loc"],
                f"VS {_fmt(vs)}: real server {format_trio(rs['ip'], rs['port'], vs['protocol'])} "
                "is duplicated - removing second rs",
            )
            continue
        seen.add(key)
        if rs["forwarding"] is None:
            rs["forwarding"] = default_forwarding()
        for k, vk in (
            ("alpha", "alpha"),
            ("inhibit", "inhibit"),
            ("retry", "retry"),
            ("connect_timeout", "connect_timeout"),
            ("delay_loop", "delay_loop"),
            ("warmup", "warmup"),
            ("delay_before_retry", "delay_before_retry"),
            ("weight", "weight"),
        ):
            if rs[k] is None:
                rs[k] = vs[vk]
        if rs["smtp_alert"] is None:
            rs["smtp_alert"] = smtp_default if smtp_default is not None else True
        weight_sum += rs["weight"]
        if sorry is not None and (sorry["ip"], sorry["port"]) == key and sorry["inhibit"] != rs["inhibit"]:
            ctx.error(
                loc,
                f"Virtual server {_fmt(vs)}: real server "
                f"{format_trio(rs['ip'], rs['port'], vs['protocol'])} matches sorry server, but "
                f"inhibit setting differs, {'sett' if rs['inhibit'] else 'clear'}ing on sorry server",
            )
            sorry["inhibit"] = rs["inhibit"]
        kept.append(rs)
    if sorry is not None and sorry["forwarding"] is None:
        sorry["forwarding"] = default_forwarding()
    if vs["quorum"] > weight_sum:
        ctx.error(
            loc,
            f"Warning - quorum {vs['quorum']} for {_fmt(vs)} exceeds total weight of real servers "
            f"{weight_sum}, reducing quorum to {weight_sum}",
        )
        vs["quorum"] = weight_sum
    if vs["hysteresis"] >= vs["quorum"]:
        fixed = max(vs["quorum"] - 1, 0)
        ctx.error(
            loc,
            f"Virtual server {_fmt(vs)}: hysteresis {vs['hysteresis']} >= quorum {vs['quorum']}; "
            f"setting hysteresis to {fixed}",
        )
        vs["hysteresis"] = fixed
    _check_ports(ctx, vs, vsg, kept)

    if vs["af"] is None:
        vs["af"] = _fallback_family(vs, vsg, kept)
    real_servers = tuple(_build_rs(ctx, vs, rs) for rs in kept)
    return VirtualServer(
        address=vs["address"],
        port=vs["port"],
        fwmark=vs["fwmark"],
        group=vs["group"],
        protocol=vs["protocol"],
        ip_family=vs["af"],
        lvs_sched=vs["sched"],
        sched_flags=tuple(vs["flags"]),
        forwarding=vs["forwarding"] or Forwarding(),
        persistence_timeout=vs["persistence_timeout"],
        persistence_granularity=vs["granularity"],
        persistence_engine=vs["engine"],
        delay_loop=vs["delay_loop"],
        connect_timeout=vs["connect_timeout"],
        retry=vs["retry"],
        delay_before_retry=vs["delay_before_retry"],
        warmup=vs["warmup"],
        weight=vs["weight"],
        alpha=vs["alpha"],
        omega=vs["omega"],
        inhibit_on_failure=vs["inhibit"],
        ha_suspend=vs["ha_suspend"],
        quorum=vs["quorum"],
        hysteresis=vs["hysteresis"],
        quorum_up=vs["quorum_up"],
        quorum_down=vs["quorum_down"],
        sorry_server=None
        if sorry is None
        else SorryServer(sorry["ip"], sorry["port"], sorry["forwarding"], sorry["inhibit"]),
        virtualhost=vs["virtualhost"],
        smtp_alert=vs_smtp,
        snmp_name=vs["snmp_name"],
        real_servers=real_servers,
        loc=loc,
    )


def _fallback_family(vs: Draft, vsg: VirtualServerGroup | None, kept: list[Draft]) -> IpFamily | None:
    """Family of a fwmark service whose servers are all tunnelled (vs_end_handler), else IPv4."""
    if vsg is not None:
        mixed = any(a.first.version == 4 for a in vsg.addresses) and any(
            a.first.version == 6 for a in vsg.addresses
        )
        return None if mixed else IpFamily.INET
    fams = {_family(rs["ip"]) for rs in kept}
    if vs["sorry"] is not None:
        fams.add(_family(vs["sorry"]["ip"]))
    return fams.pop() if len(fams) == 1 else IpFamily.INET


def _check_ports(ctx: Context, vs: Draft, vsg: VirtualServerGroup | None, kept: list[Draft]) -> None:
    """Unless NAT, real (and sorry) servers use the service's port; with fwmarks no port at all."""
    loc, name, proto = vs["_loc"], _fmt(vs), vs["protocol"]
    sorry = vs["sorry"]
    sorry_nat = sorry is None or sorry["forwarding"].method is LvsMethod.NAT
    if vsg is not None:
        if vsg.fwmarks:
            for rs in kept:
                if rs["forwarding"].method is not LvsMethod.NAT and rs["port"]:
                    ctx.error(
                        loc,
                        f"WARNING - fwmark virtual server {name}, real server "
                        f"{format_trio(rs['ip'], rs['port'], proto)} has port specified - port will be "
                        "ignored",
                    )
            if sorry is not None and not sorry_nat and sorry["port"]:
                ctx.error(
                    loc,
                    f"WARNING - fwmark virtual server {name}, sorry server has port specified - port will "
                    "be ignored",
                )
        for entry in vsg.addresses:
            for rs in kept:
                if rs["forwarding"].method is not LvsMethod.NAT and rs["port"] and rs["port"] != entry.port:
                    ctx.error(
                        loc,
                        f"virtual server {name}:[{_fmt_vsge(entry)}] and real server "
                        f"{format_trio(rs['ip'], rs['port'], proto)} ports don't match",
                    )
            if sorry is not None and not sorry_nat and sorry["port"] and sorry["port"] != entry.port:
                ctx.error(
                    loc,
                    f"WARNING - virtual server {name}, sorry server has port specified - port will be "
                    "ignored",
                )
        return
    for rs in kept:
        if rs["forwarding"].method is LvsMethod.NAT:
            if vs["fwmark"] is None and not rs["port"]:
                rs["port"] = vs["port"]
            continue
        if vs["fwmark"] is not None:
            if rs["port"]:
                ctx.error(
                    loc,
                    f"WARNING - fwmark virtual server {name}, real server "
                    f"{format_trio(rs['ip'], rs['port'], proto)} has port specified - clearing",
                )
                rs["port"] = 0
        elif not rs["port"]:
            rs["port"] = vs["port"]
        elif rs["port"] != vs["port"]:
            ctx.error(
                loc,
                f"WARNING - virtual server {name} and real server "
                f"{format_trio(rs['ip'], rs['port'], proto)} ports don't match - resetting",
            )
            rs["port"] = vs["port"]
    if sorry is not None and not sorry_nat:
        if vs["fwmark"] is not None:
            if sorry["port"]:
                ctx.error(loc, f"WARNING - virtual server {name}, sorry server has port specified - clearing")
                sorry["port"] = 0
        elif not sorry["port"]:
            sorry["port"] = vs["port"]
        elif sorry["port"] != vs["port"]:
            ctx.error(loc, f"WARNING - virtual server {name} and sorry server ports don't match - resetting")
            sorry["port"] = vs["port"]


def _fmt_vsge(entry: VsgAddressRange) -> str:
    if entry.first != entry.last:
        return f"{entry.first}-{entry.last},{entry.port}"
    return f"{entry.first},{entry.port}"


def _build_rs(ctx: Context, vs: Draft, rs: Draft) -> RealServer:
    checkers = tuple(_build_checker(vs, rs, c) for c in rs["checkers"])
    return RealServer(
        ip=rs["ip"],
        port=rs["port"],
        weight=rs["weight"],
        forwarding=rs["forwarding"],
        inhibit_on_failure=rs["inhibit"],
        alpha=rs["alpha"],
        notify_up=rs["notify_up"],
        notify_down=rs["notify_down"],
        uthreshold=rs["uthreshold"],
        lthreshold=rs["lthreshold"],
        smtp_alert=rs["smtp_alert"],
        virtualhost=rs["virtualhost"],
        snmp_name=rs["snmp_name"],
        checkers=checkers,
        loc=rs["_loc"],
    )


def _build_checker(vs: Draft, rs: Draft, c: Draft) -> Checker:
    """One checker with §3.1's inheritance applied (checker <- real server <- virtual server <- default)."""
    kind = c["kind"]
    t = c["timing"]
    alpha = t["alpha"] if t["alpha"] is not None else rs["alpha"]
    if kind == "FILE_CHECK":
        return FileCheck(track_file=c["track_file"], weight=c["weight"], reverse=c["reverse"])
    if kind == "BFD_CHECK":
        return BfdCheck(name=c["name"], alpha=alpha)
    default_retry, default_dbr = CHECKER_DEFAULTS[kind]
    delay_loop = t["delay_loop"] if t["delay_loop"] is not None else rs["delay_loop"]
    retry = (
        t["retry"] if t["retry"] is not None else rs["retry"] if rs["retry"] is not None else default_retry
    )
    warmup = (
        t["warmup"] if t["warmup"] is not None else rs["warmup"] if rs["warmup"] is not None else delay_loop
    )
    dbr = t["delay_before_retry"]
    if dbr is None:
        dbr = rs["delay_before_retry"]
    if dbr is None:
        dbr = default_dbr if default_dbr is not None else delay_loop
    timing = CheckTiming(
        delay_loop=delay_loop,
        retry=retry,
        delay_before_retry=dbr,
        warmup=warmup,
        alpha=alpha,
        log_all_failures=bool(t["log_all_failures"]),
    )
    if kind == "MISC_CHECK":
        return MiscCheck(
            timing=timing,
            misc_path=c["path"],
            misc_timeout=float(c["misc_timeout"] or vs["delay_loop"]),
            misc_dynamic=c["misc_dynamic"],
        )
    co = c["co"]
    connection = CheckConnection(
        connect_ip=co["ip"] if co["ip"] is not None else rs["ip"],
        # keepalived copies the real server as written; one written without a port uses the effective one
        connect_port=co["port"] if co["port"] is not None else rs["_written_port"] or rs["port"],
        connect_timeout=co["connect_timeout"] if co["connect_timeout"] is not None else rs["connect_timeout"],
        bindto=co["bindto"],
        bind_port=co["bind_port"],
        bind_if=co["bind_if"],
        fwmark=co["fwmark"],
    )
    if kind in ("HTTP_GET", "SSL_GET"):
        return HttpCheck(
            type=kind,
            timing=timing,
            connection=connection,
            urls=tuple(c["urls"]),
            virtualhost=c["virtualhost"],
            http_protocol=c["http_protocol"],
            fast_recovery=c["fast_recovery"],
            enable_sni=c["enable_sni"],
        )
    if kind == "SMTP_CHECK":
        return SmtpCheck(timing=timing, connection=connection, helo_name=c["helo_name"])
    if kind == "DNS_CHECK":
        return DnsCheck(timing=timing, connection=connection, query_type=c["query_type"], name=c["name"])
    if kind == "UDP_CHECK":
        return UdpCheck(
            timing=timing,
            connection=connection,
            payload=c["payload"],
            require_reply=c["require_reply"],
            reply_pattern=c["reply_pattern"],
            min_reply_length=c["min_reply_length"],
            max_reply_length=c["max_reply_length"],
        )
    if kind == "PING_CHECK":
        return PingCheck(timing=timing, connection=connection)
    return TcpCheck(timing=timing, connection=connection)


# --- render ----------------------------------------------------------------------------------


def _q(text: str) -> str:
    """A single word, quoted when it would otherwise split or start a comment."""
    if text and not any(c in text for c in ' \t"#!{}\\') and text != "":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(x: float) -> str:
    """A timer as keepalived reads it (up to 6 decimal places, no exponent)."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _script(s: Script) -> str:
    words = " ".join(_q(a) for a in s.argv)
    out = '"' + words.replace('"', '\\"') + '"' if len(s.argv) != 1 else _q(s.argv[0])
    if s.user is not None:
        out += f" {s.user}" + (f" {s.group}" if s.group is not None else "")
    return out


def _fwd(f: Forwarding) -> str:
    out = f.method.value
    if f.tunnel_type is not TunnelType.IPIP:
        out += f" type {f.tunnel_type.value}"
    if f.tunnel_port:
        out += f" port {f.tunnel_port}"
    if f.tunnel_checksum is not TunnelChecksum.NOCSUM:
        out += f" {f.tunnel_checksum.value}"
    return out


def _b(v: bool) -> str:
    return "true" if v else "false"


def render(lvs: LvsConfig) -> str:
    """keepalived syntax for ``lvs`` that parses back to the same model (effective values explicit)."""
    out: list[str] = []
    if lvs.ssl is not None:
        out.append("SSL {")
        for key in ("password", "ca", "certificate", "key"):
            value = getattr(lvs.ssl, key)
            if value is not None:
                out.append(f"    {key} {_q(value)}")
        out.append("}")
    for g in lvs.virtual_server_groups:
        out.append(f"virtual_server_group {_q(g.name)} {{")
        for a in g.addresses:
            addr = str(a.first) if a.first == a.last else f"{a.first}-{a.last}"
            out.append(f"    {addr}" + (f" {a.port}" if a.port else ""))
        for f in g.fwmarks:
            out.append(f"    fwmark {f.fwmark}" + (f" {f.family.value}" if f.family else ""))
        out.append("}")
    for vs in lvs.virtual_servers:
        out.extend(_render_vs(vs))
    return "\n".join(out) + "\n"


def _render_vs(vs: VirtualServer) -> list[str]:
    if vs.group is not None:
        head = f"group {_q(vs.group)}"
    elif vs.fwmark is not None:
        head = f"fwmark {vs.fwmark}"
    else:
        head = f"{vs.address}" + (f" {vs.port}" if vs.port else "")
    out = [f"virtual_server {head} {{"]
    ind = "    "
    if vs.fwmark is not None and vs.ip_family is not None:
        out.append(f"{ind}ip_family {vs.ip_family.value}")
    if vs.protocol is not None:
        out.append(f"{ind}protocol {vs.protocol.value}")
    out.append(f"{ind}lvs_sched {vs.lvs_sched}")
    out.extend(f"{ind}{flag}" for flag in vs.sched_flags)
    out.append(f"{ind}lvs_method {_fwd(vs.forwarding)}")
    if vs.persistence_timeout:
        out.append(f"{ind}persistence_timeout {vs.persistence_timeout}")
    if vs.persistence_granularity is not None:
        out.append(f"{ind}persistence_granularity {vs.persistence_granularity}")
    if vs.persistence_engine is not None:
        out.append(f"{ind}persistence_engine {_q(vs.persistence_engine)}")
    out.append(f"{ind}delay_loop {_num(vs.delay_loop)}")
    out.append(f"{ind}connect_timeout {_num(vs.connect_timeout)}")
    if vs.retry is not None:
        out.append(f"{ind}retry {vs.retry}")
    if vs.delay_before_retry is not None:
        out.append(f"{ind}delay_before_retry {_num(vs.delay_before_retry)}")
    if vs.warmup is not None:
        out.append(f"{ind}warmup {_num(vs.warmup)}")
    out.append(f"{ind}weight {vs.weight}")
    for flag, on in (
        ("alpha", vs.alpha),
        ("omega", vs.omega),
        ("inhibit_on_failure", vs.inhibit_on_failure),
        ("ha_suspend", vs.ha_suspend),
    ):
        if on:
            out.append(f"{ind}{flag}")
    out.append(f"{ind}quorum {vs.quorum}" if vs.quorum else f"{ind}quorum 1")
    out.append(f"{ind}hysteresis {vs.hysteresis}")
    if vs.quorum_up is not None:
        out.append(f"{ind}quorum_up {_script(vs.quorum_up)}")
    if vs.quorum_down is not None:
        out.append(f"{ind}quorum_down {_script(vs.quorum_down)}")
    if vs.sorry_server is not None:
        s = vs.sorry_server
        out.append(f"{ind}sorry_server {s.ip}" + (f" {s.port}" if s.port else ""))
        out.append(f"{ind}sorry_server_lvs_method {_fwd(s.forwarding)}")
        if s.inhibit:
            out.append(f"{ind}sorry_server_inhibit")
    if vs.virtualhost is not None:
        out.append(f"{ind}virtualhost {_q(vs.virtualhost)}")
    out.append(f"{ind}smtp_alert {_b(vs.smtp_alert)}")
    if vs.snmp_name is not None:
        out.append(f"{ind}snmp_name {_q(vs.snmp_name)}")
    for rs in vs.real_servers:
        out.extend(_render_rs(rs, ind, vs.delay_loop))
    out.append("}")
    return out


def _render_rs(rs: RealServer, ind: str, vs_delay_loop: float) -> list[str]:
    i2 = ind * 2
    out = [f"{ind}real_server {rs.ip}" + (f" {rs.port}" if rs.port else "") + " {"]
    out.append(f"{i2}weight {rs.weight}")
    out.append(f"{i2}lvs_method {_fwd(rs.forwarding)}")
    out.append(f"{i2}inhibit_on_failure {_b(rs.inhibit_on_failure)}")
    out.append(f"{i2}alpha {_b(rs.alpha)}")
    out.append(f"{i2}smtp_alert {_b(rs.smtp_alert)}")
    if rs.notify_up is not None:
        out.append(f"{i2}notify_up {_script(rs.notify_up)}")
    if rs.notify_down is not None:
        out.append(f"{i2}notify_down {_script(rs.notify_down)}")
    if rs.uthreshold is not None:
        out.append(f"{i2}uthreshold {rs.uthreshold}")
    if rs.lthreshold is not None:
        out.append(f"{i2}lthreshold {rs.lthreshold}")
    if rs.virtualhost is not None:
        out.append(f"{i2}virtualhost {_q(rs.virtualhost)}")
    if rs.snmp_name is not None:
        out.append(f"{i2}snmp_name {_q(rs.snmp_name)}")
    for c in rs.checkers:
        out.extend(_render_checker(c, i2, ind, vs_delay_loop))
    out.append(f"{ind}}}")
    return out


def _render_checker(c: Checker, ind: str, step: str, vs_delay_loop: float) -> list[str]:
    i2 = ind + step
    out = [f"{ind}{c.type} {{"]
    if isinstance(c, FileCheck):
        out.append(f"{i2}track_file {_q(c.track_file)}")
        if c.weight is not None:
            out.append(f"{i2}weight {c.weight}" + (" reverse" if c.reverse else ""))
        out.append(f"{ind}}}")
        return out
    if isinstance(c, BfdCheck):
        out += [f"{i2}name {_q(c.name)}", f"{i2}alpha {_b(c.alpha)}", f"{ind}}}"]
        return out
    t = c.timing
    out += [
        f"{i2}delay_loop {_num(t.delay_loop)}",
        f"{i2}retry {t.retry}",
        f"{i2}delay_before_retry {_num(t.delay_before_retry)}",
        f"{i2}warmup {_num(t.warmup)}",
        f"{i2}alpha {_b(t.alpha)}",
        f"{i2}log_all_failures {_b(t.log_all_failures)}",
    ]
    if isinstance(c, MiscCheck):
        out.append(f"{i2}misc_path {_script(replace(c.misc_path, user=None, group=None))}")
        if c.misc_timeout != vs_delay_loop:  # the default; it may have decimals misc_timeout cannot take
            out.append(f"{i2}misc_timeout {int(c.misc_timeout)}")
        if c.misc_dynamic:
            out.append(f"{i2}misc_dynamic")
        if c.misc_path.user is not None:
            out.append(
                f"{i2}user {c.misc_path.user}" + (f" {c.misc_path.group}" if c.misc_path.group else "")
            )
        out.append(f"{ind}}}")
        return out
    co = c.connection
    out.append(f"{i2}connect_ip {co.connect_ip}")
    if co.connect_port:
        out.append(f"{i2}connect_port {co.connect_port}")
    out.append(f"{i2}connect_timeout {_num(co.connect_timeout)}")
    if co.bindto is not None:
        out.append(f"{i2}bindto {co.bindto}")
    if co.bind_port:
        out.append(f"{i2}bind_port {co.bind_port}")
    if co.bind_if is not None:
        out.append(f"{i2}bind_if {_q(co.bind_if)}")
    if co.fwmark:
        out.append(f"{i2}fwmark {co.fwmark}")
    if isinstance(c, HttpCheck):
        if c.virtualhost is not None:
            out.append(f"{i2}virtualhost {_q(c.virtualhost)}")
        out.append(f"{i2}http_protocol {c.http_protocol.value}")
        out.append(f"{i2}fast_recovery {_b(c.fast_recovery)}")
        out.append(f"{i2}enable_sni {_b(c.enable_sni)}")
        for u in c.urls:
            out.extend(_render_url(u, i2, step))
    elif isinstance(c, SmtpCheck):
        out.append(f"{i2}helo_name {_q(c.helo_name)}")
    elif isinstance(c, DnsCheck):
        out.append(f"{i2}type {c.query_type.value}")
        if c.name:
            out.append(f"{i2}name {_q(c.name)}")
    elif isinstance(c, UdpCheck):
        if c.payload is not None:
            out.append(f"{i2}payload {c.payload}")
        if c.require_reply:
            out.append(f"{i2}require_reply" + (f" {c.reply_pattern}" if c.reply_pattern else ""))
        out.append(f"{i2}min_reply_length {c.min_reply_length}")
        out.append(f"{i2}max_reply_length {c.max_reply_length}")
    out.append(f"{ind}}}")
    return out


def _render_url(u: Url, ind: str, step: str) -> list[str]:
    i2 = ind + step
    out = [f"{ind}url {{", f"{i2}path {_q(u.path)}"]
    if u.digest is not None:
        out.append(f"{i2}digest {u.digest}")
    codes = " ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in u.status_codes)
    out.append(f"{i2}status_code {codes}")
    if u.virtualhost is not None:
        out.append(f"{i2}virtualhost {_q(u.virtualhost)}")
    if u.regex is not None:
        out.append(f"{i2}regex {_q(u.regex)}")
        if u.regex_no_match:
            out.append(f"{i2}regex_no_match")
        if u.regex_options:
            out.append(f"{i2}regex_options {' '.join(u.regex_options)}")
        if u.regex_min_offset:
            out.append(f"{i2}regex_min_offset {u.regex_min_offset}")
        if u.regex_max_offset is not None:
            out.append(f"{i2}regex_max_offset {u.regex_max_offset}")
        if u.regex_stack is not None:
            out.append(f"{i2}regex_stack {u.regex_stack[0]} {u.regex_stack[1]}")
    out.append(f"{ind}}}")
    return out


def iter_scripts(lvs: LvsConfig) -> Iterator[Script]:
    """Every script the LVS side may run (quorum_up/down, notify_up/down, misc_path).

    Lets script-security checks visit just these instead of walking the whole model.
    """
    for vs in lvs.virtual_servers:
        yield from (s for s in (vs.quorum_up, vs.quorum_down) if s is not None)
        for rs in vs.real_servers:
            yield from (s for s in (rs.notify_up, rs.notify_down) if s is not None)
            yield from (c.misc_path for c in rs.checkers if isinstance(c, MiscCheck))
