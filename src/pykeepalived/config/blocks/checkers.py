"""The health checker blocks of a real_server: TCP_CHECK, HTTP_GET/SSL_GET (with ``url``),
MISC_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK, on top of the
keywords every checker shares (keepalived's ``install_checker_common_keywords``).  Each block's
end queues a draft on its real server; the timing inheritance is applied after parsing
(:mod:`..validate.lvs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from ..lines import LogicalLine
from ..model_lvs import (
    DnsType,
    HttpProtocol,
    Url,
    format_trio,
)
from ..parser import Block, Context, Draft, Handler, Keyword
from ..scripts import script_from_line
from .common import UINT_MAX, Scalar, read_checked, scalar_handler
from .lvs_common import TIMER_MAX, WEIGHT_MAX, parse_ip, read_flag

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


def _co_bind_if(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line, 1)
    if len(name) > 15:
        ctx.error(line, f"Interface name {name} is too long - ignoring")
        return
    draft["co"]["bind_if"] = name


def _co(draft: Draft) -> Draft:
    co: Draft = draft["co"]
    return co


def _timing(draft: Draft) -> Draft:
    timing: Draft = _checker_of(draft)["timing"]
    return timing


_co_port, _co_bind_port, _co_timeout, _co_fwmark = (scalar_handler(spec) for spec in (
    Scalar("connect_port", "int", 1, 65535, "Invalid checker connect_port '{arg}'", field="port", into=_co),
    Scalar("bind_port", "int", 1, 65535, "Invalid checker bind_port '{arg}'", into=_co),
    Scalar("connect_timeout", "timer", 0.000001, UINT_MAX / 1e6, "connect_timeout {arg} invalid - ignoring",
           into=_co),
    Scalar("fwmark", "int", 0, UINT_MAX, "Invalid fwmark connection value '{arg}'", into=_co),
))
_ck_retry, _ck_nb_get_retry, _ck_delay_before_retry, _ck_warmup, _ck_delay_loop = (scalar_handler(spec) for spec in (
    Scalar("retry", "int", 0, UINT_MAX, "Invalid retry connection value '{arg}'", into=_timing),
    Scalar("nb_get_retry", "int", 0, UINT_MAX, "Invalid nb_get_retry value '{arg}'", field="retry", into=_timing),
    Scalar("delay_before_retry", "timer", 0.0, TIMER_MAX, "Invalid delay_before_retry connection value '{arg}'",
           into=_timing),
    Scalar("warmup", "timer", 0.0, TIMER_MAX, "Invalid warmup connection value '{arg}'", into=_timing),
    Scalar("delay_loop", "timer", 0.000001, TIMER_MAX, "delay_loop '{arg}' is invalid - ignoring", into=_timing),
))


def _ck_alpha(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["alpha"] = read_flag(ctx, line, "Invalid alpha parameter {}")


def _ck_log_all_failures(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _checker_of(draft)["timing"]["log_all_failures"] = read_flag(
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


#: a new checker's connection options and timing (copied: a copy of a dict is cheaper than a display of it,
#: and a large configuration makes one per real server)
_CO: Draft = {"ip": None, "port": None, "bindto": None, "bind_port": 0, "bind_if": None, "connect_timeout": None,
       "fwmark": 0}
_TIMING = dict.fromkeys(TIMING_KEYWORDS)


def _new_co(rs: Draft, *, unset: bool = False) -> Draft:
    """Connection options defaulting to the real server (SMTP starts unset, to see what was given)."""
    co = _CO.copy()
    if not unset:
        co["ip"] = rs["ip"]
    return co


def _checker_begin(
    kind: str, *, co: bool = True, **extra: Any
) -> Callable[[Context, LogicalLine, Draft], Draft]:
    # the extras' values, and those made afresh for each checker (a callable: list, dict ...), sorted once
    constants = {key: value for key, value in extra.items() if not callable(value)}
    factories = [(key, value) for key, value in extra.items() if callable(value)]
    unset = kind == "SMTP_CHECK"

    # every key the draft will hold (those the parser adds too), so that a copy is made at its size and never grows
    template: Draft = {"_loc": None, "_end_line": None, "kind": kind, "_rs": None, "timing": None, **constants}
    if co:
        template["co"] = None
    template.update((key, None) for key, _ in factories)

    def begin(ctx: Context, line: LogicalLine, rs: Draft) -> Draft:
        draft = template.copy()
        draft["_loc"] = line  # (see _url_begin)
        if kind == "HTTP":
            draft["kind"] = line.keyword
        draft["_rs"] = rs
        draft["timing"] = _TIMING.copy()
        if co:
            draft["co"] = _new_co(rs, unset=unset)
        for key, make in factories:
            draft[key] = make()
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
    """The checker joins its real server; its link back to the real server goes (it was for the checker's own
    keywords; kept, it would make a cycle that only a full garbage collection frees)."""
    draft.pop("_rs", None)
    rs["checkers"].append(draft)


def _simple_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if _link_local_ok(ctx, draft, draft["co"]):
        _queue(draft, rs)


TCP_CHECK = checker_block("TCP_CHECK", begin=_checker_begin("TCP_CHECK"), end=_simple_end)
PING_CHECK = checker_block("PING_CHECK", begin=_checker_begin("PING_CHECK"), end=_simple_end)


# --- HTTP_GET / SSL_GET ----------------------------------------------------------------------

URL = Block("url")


_URL: Draft = {"_loc": None, "_end_line": None, "path": None, "digest": None, "codes": None, "virtualhost": None,
        "regex": None, "regex_no_match": False, "regex_options": None, "regex_min_offset": 0, "regex_max_offset": None,
        "regex_stack": None}


def _url_begin(ctx: Context, line: LogicalLine, checker: Draft) -> Draft:
    url = _URL.copy()  # (its codes and regex options made when the first is given: most urls have neither)
    # where it was written, for the messages about it: the opening line itself (the model keeps no location, so
    # none is made for each of tens of thousands of checkers and urls; ``Context.error`` takes a line)
    url["_loc"] = line
    return url


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
    for pos, text in enumerate(line.tokens[1:], 1):
        lo_text, _, hi_text = text.partition("-")
        ok = lo_text.isdigit() and (hi_text.isdigit() if "-" in text else True)
        lo = int(lo_text) if ok else 0
        hi = int(hi_text) if ok and hi_text else lo
        if not ok or not (100 <= lo <= hi <= 599):
            ctx.error(line.words[pos], f"Invalid HTTP_GET status code '{text}'")
            continue
        codes = draft["codes"]
        if codes is None:
            codes = draft["codes"] = set()
        codes.update(range(lo, hi + 1))


URL.string_keyword("virtualhost", "virtualhost", "Missing HTTP_GET virtualhost name")


URL.string_keyword("regex", "regex", "regex missing or too many fields", exactly_one=True, on_missing="note")


@URL.keyword("regex_no_match")
def _url_regex_no_match(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["regex_no_match"] = True


@URL.keyword("regex_options")
def _url_regex_options(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    for w in line.words[1:]:
        options = draft["regex_options"]
        if options is None:
            options = draft["regex_options"] = []
        if w.text in REGEX_OPTIONS and w.text not in options:
            options.append(w.text)


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
    key = (draft["path"], draft["digest"], _ranges(codes), draft["virtualhost"], draft["regex"],
           draft["regex_no_match"], tuple(draft["regex_options"] or ()), draft["regex_min_offset"],
           draft["regex_max_offset"], draft["regex_stack"])
    # equal urls are one object (a large configuration checks the same page on thousands of servers)
    urls: dict[tuple[Any, ...], Url] = ctx.shared.setdefault("urls", {})
    url = urls.get(key)
    if url is None:
        url = urls[key] = Url(*key)
    checker["urls"].append(url)


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
HTTP_GET.keywords["nb_get_retry"] = Keyword("nb_get_retry", handler=_ck_nb_get_retry, deprecated="retry")


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
    draft[line.keyword] = read_flag(ctx, line, f"Invalid {line.keyword} parameter {{}}")


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
    draft["misc_timeout"] = read_checked(ctx, line, "int", 0, UINT_MAX // 1000000, "Invalid misc_timeout value '{arg}'")


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
    draft[line.keyword] = read_checked(
        ctx, line, "int", 0, 65535, f"UDP_CHECK {which} length {{arg}} not valid - must be between 0 & 65535"
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
    weight = read_checked(
        ctx,
        line,
        "int",
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
    if name not in ctx.read_shared("bfd_checker_names", ()):
        # a bfd_instance defined earlier in the file and reporting to the checkers (not ``vrrp`` only)
        ctx.error(line, f"({who}) BFD_CHECK - BFD {name} not configured")
        draft["_dropped"] = True
        return
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
    draft["timing"]["alpha"] = read_flag(ctx, line, "Invalid alpha parameter {}")


def _bfd_end(ctx: Context, draft: Draft, rs: Draft) -> None:
    if draft.get("_dropped"):
        return
    if draft["name"] is None:
        who = format_trio(rs["ip"], rs["port"], None)
        ctx.error(draft["_loc"], f"({who}) No name has been specified for BFD_CHECKER - skipping")
        return
    rs["_bfds"] = rs["_bfds"] | {draft["name"]}  # starts as a shared empty frozenset
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


