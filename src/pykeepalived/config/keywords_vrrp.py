"""VRRP keywords (keepalived's vrrp_parser.c) -> :class:`~.model_vrrp.VrrpConfig`.

Parsing follows keepalived's handlers, with its messages; ``finish`` is keepalived's
``vrrp_complete_init``: sync-group resolution, per-instance defaults and fix-ups
(``vrrp_complete_instance``), duplicate VRIDs and unused scripts.  When an interface named
anywhere does not exist (and ``dynamic_interfaces`` is off) keepalived's VRRP process stops
right after parsing with ``Non-existent interface specified in configuration``; we report the
same and run the validation silently, so the model is still complete.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import Diagnostics, ErrClass
from .keywords_global import Kind, read_value
from .lines import Location, LogicalLine, Word
from .model import Script
from .model_global import GlobalDefs
from .model_vrrp import (
    Authentication,
    BfdInstance,
    GarpGroup,
    InterfaceDelays,
    LinkbeatInterface,
    NotifyScripts,
    Route,
    Rule,
    SyncGroup,
    TrackFile,
    TrackGroup,
    Tracking,
    TrackProcess,
    TrackRef,
    UnicastPeer,
    VirtualAddress,
    Vmac,
    VrrpConfig,
    VrrpInstance,
    VrrpScript,
)
from .parser import Block, Context, Draft, SkipLine, model_fields, unsupported_note
from .scripts import script_from_line

Handler = Callable[[Context, LogicalLine, Draft], None]

# -- shared helpers -------------------------------------------------------------------------


def interface_exists(ctx: Context, name: str) -> bool:
    """keepalived's ``if_get_by_ifname(IF_CREATE_IF_DYNAMIC)``: records a missing interface."""
    if ctx.interfaces is None or ctx.shared.get("dynamic_interfaces") or name in ctx.interfaces:
        return True
    ctx.shared["non_existent_interface"] = True
    return False


def _items(draft: Draft, key: str) -> list[Any]:
    return draft.setdefault(key, [])


def _name(ctx: Context, line: LogicalLine, what: str) -> str:
    if len(line.words) < 2:
        ctx.error(line, f"{what} must have a name")
        raise SkipLine
    return line.words[1].text


def _end_loc(draft: Draft) -> Location | None:
    return draft.get("_end_loc") or draft.get("_loc")


def _uniq_begin(kind: str, what: str, key: str) -> Callable[[Context, LogicalLine, Draft], Draft]:
    """A named root block (vrrp_script X …): name required, duplicates rejected."""

    def begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
        name = _name(ctx, line, what)
        seen = ctx.shared.setdefault(f"names:{key}", set())
        if name in seen:
            ctx.error(line, f"{kind} {name} already defined")
            raise SkipLine
        seen.add(name)
        return {"name": name, "_loc": line.loc}

    return begin


def _append_end(key: str, build: Callable[[Context, Draft], Any]) -> Callable[[Context, Draft, Draft], None]:
    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        obj = build(ctx, draft)
        if obj is not None:
            _items(parent, key).append(obj)

    return end


T = TypeVar("T")


def _weighted_build(model: Callable[..., T], required: str, missing: str, weights_key: str, *,
                    default_weight: int = 0) -> Callable[[Context, Draft], T | None]:
    """End of a tracker block: ``required`` missing -> ``missing`` error (``{name}``: the block's
    name) and no object; else record its (weight, reverse) in ``ctx.shared[weights_key]`` and build it."""

    def build(ctx: Context, draft: Draft) -> T | None:
        if required not in draft:
            ctx.error(_end_loc(draft), missing.format(name=draft["name"]))
            return None
        ctx.shared.setdefault(weights_key, {})[draft["name"]] = (
            draft.get("weight", default_weight),
            draft.get("weight_reverse", False),
        )
        return model(**model_fields(draft))

    return build

def _weight(ctx: Context, line: LogicalLine, draft: Draft, lo: int, hi: int, message: str) -> None:
    """``weight N [reverse]`` inside a tracker definition."""
    try:
        draft["weight"] = ctx.integer(line, 1, lo, hi)
    except SkipLine:
        ctx.error(line, message.format(arg=line.words[1].text if len(line.words) > 1 else ""))
        raise
    if len(line.words) > 2:
        if line.words[2].text == "reverse":
            draft["weight_reverse"] = True
        elif line.words[2].text != "noreverse":
            ctx.error(line, f"{draft['_what']} {draft['name']} unknown weight option {line.words[2].text}")


@dataclass(frozen=True)
class Scalar:
    """A single-valued keyword of a VRRP block, read with the shared ``read_value``."""

    keyword: str
    kind: Kind
    lo: float = 0
    hi: float = 4294967295
    invalid: str | None = None
    field: str = ""


def _install_scalars(block: Block, scalars: list[Scalar]) -> None:
    for spec in scalars:
        block.keyword(spec.keyword)(_scalar_handler(spec))


def _scalar_handler(spec: Scalar) -> Handler:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        try:
            draft[spec.field or spec.keyword] = read_value(ctx, line, spec.kind, spec.lo, spec.hi)
        except SkipLine:
            if spec.invalid and len(line.words) > 1:
                ctx.error(line, spec.invalid.format(name=draft.get("name", ""), arg=line.words[1].text))
            raise

    return handle


# -- vrrp_script ----------------------------------------------------------------------------

VRRP_SCRIPT = Block("vrrp_script", begin=_uniq_begin("vrrp script", "vrrp_script", "vrrp_script"))


@VRRP_SCRIPT.keyword("script")
def _vs_script(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        return  # keepalived reads no script; the block's end says "No script set for vrrp_script ..."
    draft["script"] = script_from_line(ctx, line)


@VRRP_SCRIPT.keyword("interval", "timeout")
def _vs_interval(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    kw = line.keyword
    ctx.arg(line, 1)  # a missing value is only MISSING_PARAMETER
    try:
        value = ctx.timer(line, 1, 0, 4294.967295)
    except SkipLine:
        ctx.error(line, f"({draft['name']}): vrrp script {kw} '{line.words[1].text}' invalid - ignoring")
        raise
    if value == 0:
        ctx.error(line, f"({draft['name']}): vrrp script {kw} must be greater than 0, setting to 1")
        value = 1.0
    draft[kw] = value


@VRRP_SCRIPT.keyword("weight")
def _vs_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["_what"] = "vrrp_script"
    _weight(ctx, line, draft, -253, 253, f"vrrp_script {draft['name']} weight {{arg}} must be in [-253, 253]")


@VRRP_SCRIPT.keyword("rise", "fall")
def _vs_rise_fall(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.arg(line, 1)  # a missing value is only MISSING_PARAMETER
    try:
        draft[line.keyword] = ctx.integer(line, 1, 1, 4294967295)
    except SkipLine:
        ctx.error(
            line,
            f"({draft['name']}): vrrp script {line.keyword} value '{line.words[1].text}' invalid,"
            " defaulting to 1",
        )
        draft[line.keyword] = 1


@VRRP_SCRIPT.keyword("user")
def _vs_user(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["user"] = ctx.string(line)
    if len(line.words) > 2:
        draft["group"] = line.words[2].text


@VRRP_SCRIPT.keyword("init_fail")
def _vs_init_fail(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["init_fail"] = True


_build_vrrp_script = _weighted_build(
    VrrpScript, "script", "No script set for vrrp_script {name} - removing", "vrrp_script_weights"
)


VRRP_SCRIPT.end = _append_end("vrrp_scripts", _build_vrrp_script)

# -- track_file ----------------------------------------------------------------------------

TRACK_FILE = Block("track_file", begin=_uniq_begin("track_file", "track_file", "track_file"))


TRACK_FILE.string_keyword("file", "file", "track file file name missing")


@TRACK_FILE.keyword("weight")
def _tf_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["_what"] = "track_file"
    if len(line.words) < 2:
        ctx.error(line, f"No weight specified for track file {draft['name']} - ignoring")
        return
    _weight(
        ctx,
        line,
        draft,
        -254,
        254,
        f"Weight for {draft['name']} must be between [-254..254] inclusive. Ignoring...",
    )


@TRACK_FILE.keyword("init_file")
def _tf_init(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["init_file"] = 0
    for i in range(1, len(line.words)):
        if line.words[i].text == "overwrite":
            draft["init_file_overwrite"] = True
        else:
            draft["init_file"] = ctx.integer(line, i, -2147483648, 2147483647)


_build_track_file = _weighted_build(
    TrackFile, "file", "No file set for track_file {name} - removing", "track_file_weights", default_weight=1
)


TRACK_FILE.end = _append_end("track_files", _build_track_file)

# -- vrrp_track_process ---------------------------------------------------------------------

TRACK_PROCESS = Block(
    "vrrp_track_process", begin=_uniq_begin("track_process", "vrrp_track_process", "track_process")
)


@TRACK_PROCESS.keyword("process")
def _tp_process(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if "process" in draft:
        ctx.error(line, f"Process already set for track process {draft['name']} - ignoring")
        return
    t = line.texts()
    draft["process"] = ctx.string(line)
    if len(t) > 2:
        draft["args"] = tuple(t[2:])


@TRACK_PROCESS.keyword("param_match")
def _tp_match(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = line.words[1].text if len(line.words) > 1 else "exact"
    if value not in ("exact", "partial", "initial"):
        ctx.error(line, f"Invalid param_match type {value} - ignoring")
        return
    draft["param_match"] = value


@TRACK_PROCESS.keyword("weight")
def _tp_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["_what"] = "vrrp_track_process"
    if len(line.words) < 2:
        ctx.error(line, f"No weight specified for track process {draft['name']} - ignoring")
        return
    _weight(
        ctx,
        line,
        draft,
        -254,
        254,
        f"Weight ({{arg}}) for vrrp_track_process {draft['name']} must be between [-254..254]",
    )


_install_scalars(
    TRACK_PROCESS,
    [
        Scalar(
            "quorum",
            "int",
            1,
            65535,
            "Quorum ({arg}) for vrrp_track_process {name} must be between 1 and 65535",
        ),
        Scalar(
            "quorum_max",
            "int",
            0,
            65535,
            "quorum_max ({arg}) for vrrp_track_process {name} must be between 0 and 65535",
        ),
        Scalar("delay", "timer", 0, 4294.967295, "delay ({arg}) for vrrp_track_process {name} is invalid"),
        Scalar(
            "terminate_delay",
            "timer",
            0,
            4294.967295,
            "terminate_delay ({arg}) for vrrp_track_process {name} is invalid",
        ),
        Scalar(
            "fork_delay",
            "timer",
            0,
            4294.967295,
            "fork_delay ({arg}) for vrrp_track_process {name} is invalid",
        ),
        Scalar("full_command", "flag"),
    ],
)


_build_track_process = _weighted_build(
    TrackProcess, "process", "track process '{name}' process name not specified",
    "track_process_weights",
)


TRACK_PROCESS.end = _append_end("track_processes", _build_track_process)

# -- bfd_instance ---------------------------------------------------------------------------

BFD_INSTANCE = Block("bfd_instance", begin=_uniq_begin("BFD", "bfd_instance", "bfd"))


def _ip_handler(field: str) -> Handler:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = ctx.string(line)
        try:
            draft[field] = ipaddress.ip_address(text)
        except ValueError:
            ctx.error(
                line,
                f"Configuration error: BFD instance {draft.get('name', '')}, {line.keyword} address"
                f" {text} not valid",
            )

    return handle


for _kw in ("neighbor_ip", "neighbour_ip"):
    BFD_INSTANCE.keyword(_kw)(_ip_handler("neighbor_ip"))
BFD_INSTANCE.keyword("source_ip")(_ip_handler("source_ip"))
_install_scalars(
    BFD_INSTANCE,
    [
        Scalar(
            "min_rx",
            "timer",
            0.001,
            4294.967295,
            "min_rx value {arg} is not valid (must be in range [1-4294967]), ignoring",
        ),
        Scalar(
            "min_tx",
            "timer",
            0.001,
            4294.967295,
            "min_tx value {arg} is not valid (must be in range [1-4294967]), ignoring",
        ),
        Scalar(
            "idle_tx",
            "timer",
            0.001,
            4294.967295,
            "idle_tx value {arg} is not valid (must be in range [1-4294967]), ignoring",
        ),
        Scalar(
            "multiplier",
            "int",
            1,
            255,
            "multiplier value {arg} not valid (must be in range [1-255]), ignoring",
        ),
        Scalar("passive", "flag"),
        Scalar(
            "ttl", "int", 1, 255, "ttl/hoplimit value {arg} not valid (must be in range [1-255]), ignoring"
        ),
        Scalar(
            "hoplimit",
            "int",
            1,
            255,
            "ttl/hoplimit value {arg} not valid (must be in range [1-255]), ignoring",
            field="ttl",
        ),
        Scalar(
            "max_hops", "int", 0, 255, "max_hops value {arg} not valid (must be in range [0-255]), ignoring"
        ),
        Scalar("vrrp", "flag"),
        Scalar("checker", "flag"),
    ],
)


@BFD_INSTANCE.keyword("weight")
def _bfd_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["_what"] = "bfd_instance"
    _weight(
        ctx, line, draft, -253, 253, "weight value {arg} not valid (must be in range [-253,253]), ignoring"
    )


_build_bfd = _weighted_build(
    BfdInstance, "neighbor_ip", "BFD instance {name} has no neighbor_ip, disabling instance",
    "bfd_weights",
)


BFD_INSTANCE.end = _append_end("bfd_instances", _build_bfd)

# -- addresses, routes, rules (shared by virtual_* and static_*) ------------------------------

ROUTE_TABLES = {"main": 254, "local": 255, "default": 253, "unspec": 0}
SCOPES = ("global", "universe", "site", "link", "host", "nowhere")
ROUTE_TYPES = (
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "throw",
    "unreachable",
    "prohibit",
    "blackhole",
    "nat",
    "anycast",
)


def parse_address(ctx: Context, where: LogicalLine, text: str, allow_prefix: bool = True) -> Any:
    """keepalived's ``parse_ipaddress``: ``ADDR[/PREFIX]``, family by the presence of ``:``."""
    v6 = ":" in text
    maxlen = 128 if v6 else 32
    addr, _, prefix = text.partition("/") if allow_prefix else (text, "", "")
    plen = maxlen
    if prefix:
        if prefix.isdigit() and int(prefix) <= maxlen:
            plen = int(prefix)
        else:
            ctx.error(where, f"Invalid address prefix len {prefix} for address {text} - using {maxlen}")
    try:
        ip = ipaddress.IPv6Address(addr) if v6 else ipaddress.IPv4Address(addr)
    except ValueError:
        ctx.error(where, f"VRRP parsed invalid IP {text}. skipping IP...")
        return None
    return ipaddress.ip_interface(f"{ip}/{plen}")


def parse_vip(ctx: Context, line: LogicalLine, static: bool) -> VirtualAddress | None:
    """One virtual_ipaddress / static_ipaddress line (``alloc_ipaddress``)."""
    t = line.texts()
    addr = parse_address(ctx, line, t[0])
    if addr is None:
        return None
    v: dict[str, Any] = {"address": addr}
    brd: str | None = None
    i = 1
    while i < len(t):
        opt = t[i]
        has_param = i + 1 < len(t)
        if opt in ("dev", "scope", "broadcast", "brd", "label", "peer", "preferred_lft") or (
            static and opt == "track_group"
        ):
            if not has_param:
                ctx.error(line, f"No {opt} parameter specified for {t[0]}")
                return None
            param = t[i + 1]
            i += 1
            if opt == "dev":
                if "dev" in v:
                    ctx.error(line, f"Cannot specify ipaddress device more than once for {t[0]}")
                    return None
                if not interface_exists(ctx, param):
                    ctx.error(line, f"WARNING - interface {param} for ip address {t[0]} doesn't exist")
                    return None
                v["dev"] = param
            elif opt == "scope":
                if param in SCOPES or (param.isdigit() and int(param) < 256):
                    v["scope"] = param
                else:
                    ctx.error(line, f"Invalid scope '{param}' specified for {t[0]} - ignoring")
            elif opt in ("broadcast", "brd"):
                if addr.version == 6:
                    ctx.error(
                        line,
                        f"VRRP is trying to assign a broadcast {opt} to the IPv6 address {t[0]} !!?? "
                        "WTF... skipping VIP...",
                    )
                    return None
                if param not in ("+", "-"):
                    try:
                        ipaddress.IPv4Address(param)
                    except ValueError:
                        ctx.error(
                            line, f"VRRP is trying to assign invalid broadcast {param}. skipping VIP..."
                        )
                        return None
                brd = param
            elif opt == "label":
                if len(param) >= 16:
                    ctx.error(
                        line, f"Address label {param} is longer than maximum length 15 - removing address"
                    )
                    return None
                v["label"] = param
            elif opt == "peer":
                if "peer" in v:
                    ctx.error(line, f"Peer {param} - another peer has already been specified")
                else:
                    peer = parse_address(ctx, line, param)
                    if peer is None:
                        ctx.error(line, f"Invalid peer address {param}")
                    elif peer.version != addr.version:
                        ctx.error(line, f"Peer address {param} does not match address family")
                    else:
                        if addr.network.prefixlen != addr.max_prefixlen:
                            ctx.error(
                                line, "Cannot specify address prefix when specifying peer address - ignoring"
                            )
                        v["peer"] = peer
                        v["address"] = addr = ipaddress.ip_interface(f"{addr.ip}/{peer.network.prefixlen}")
            elif opt == "preferred_lft":
                if param == "forever":
                    v["preferred_lft"] = 0xFFFFFFFF
                elif param.isdigit() and int(param) <= 0xFFFFFFFF:
                    v["preferred_lft"] = int(param)
                else:
                    ctx.error(line, f"preferred_lft {param} is invalid")
            else:  # track_group
                if "track_group" in v:
                    ctx.error(line, f"track_group {param} is a duplicate")
                    break
                if param not in ctx.shared.get("names:track_group", set()):
                    ctx.error(line, f"track_group {param} not found")
                else:
                    v["track_group"] = param
        elif opt in ("home", "mngtmpaddr", "noprefixroute", "autojoin", "no_track"):
            v[opt] = True
        elif opt == "-nodad":
            v["nodad"] = True
        elif not static and opt == "use_vmac":
            v["use_vmac"] = True
        else:
            ctx.error(line, f"Unknown configuration entry '{opt}' for ip address - ignoring")
        i += 1
    if brd is not None:
        if "peer" in v:
            ctx.error(line, "Cannot specify broadcast and peer addresses - ignoring broadcast address")
        elif brd in ("+", "-"):
            if addr.network.prefixlen <= 30:
                net = ipaddress.ip_network(
                    f"{(v.get('peer') or addr).ip}/{addr.network.prefixlen}", strict=False
                )
                v["broadcast"] = net.broadcast_address if brd == "+" else net.network_address
            else:
                ctx.error(line, f"Address prefix length {addr.network.prefixlen} too long for broadcast")
        else:
            v["broadcast"] = ipaddress.IPv4Address(brd)
    if static and "dev" not in v:
        default_if = ctx.shared.get("default_interface", "eth0")
        if (
            ctx.interfaces is not None
            and default_if not in ctx.interfaces
            and not ctx.shared.get("dynamic_interfaces")
        ):
            ctx.error(
                line,
                f"Static address {t[0]} requires either an interface or default interface must exist",
                cls=ErrClass.FATAL,
            )
            return None
        v["dev"] = default_if
    if addr.version == 6:
        if "scope" in v:
            ctx.error(line, f"Cannot specify scope for IPv6 addresses ({t[0]}) - ignoring scope")
            del v["scope"]
        if "label" in v:
            ctx.error(line, f"Cannot specify label for IPv6 addresses ({t[0]}) - ignoring label")
            del v["label"]
        v.setdefault("preferred_lft", 0 if addr.network.prefixlen == 128 else 0xFFFFFFFF)
    return VirtualAddress(**v)


#: route options taking one parameter (``lock`` may precede it), kept as words
_ROUTE_ARG_OPTS = (
    "tos",
    "dsfield",
    "mtu",
    "hoplimit",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "realms",
    "rto_min",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "pref",
    "ttl-propagate",
    "fastopen_no_cookie",
    "expires",
    "vrf",
    "as",
)
_ROUTE_FLAG_OPTS = ("onlink", "add", "prepend", "append")


def parse_route(ctx: Context, line: LogicalLine, static: bool) -> Route | None:
    """One virtual_routes / static_routes line (``alloc_route``)."""
    t = line.texts()
    r: dict[str, Any] = {}
    family: int | None = None
    options: list[str] = []
    nexthops: list[tuple[str, ...]] = []
    dest: str | None = None

    def fam(ip: Any) -> bool:
        nonlocal family
        if family is None:
            family = ip.version
            return True
        if family != ip.version:
            ctx.error(line, "Cannot mix IPv4 and IPv6 addresses for route")
            return False
        return True

    i = 0
    while i < len(t):
        opt = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else None
        if opt in ("inet", "inet6"):
            want = 6 if opt == "inet6" else 4
            if family is not None and family != want:
                ctx.error(line, f"{opt} specified for IPv{family} route")
                return None
            family = want
        elif opt in ("src", "via", "gw", "from"):
            if nxt is None:
                ctx.error(line, f"No {opt} parameter specified for route")
                return None
            if opt == "gw":
                ctx.error(line, '"gw" for routes is deprecated. Please use "via"')
            i += 1
            if opt in ("via", "gw") and nxt in ("inet", "inet6") and i + 1 < len(t):
                i += 1
                nxt = t[i]
            ip = parse_address(ctx, line, nxt, allow_prefix=opt == "from")
            if ip is None:
                ctx.error(line, f"invalid route {'via' if opt == 'gw' else opt} address {nxt}")
                return None
            if not fam(ip):
                return None
            r["via" if opt == "gw" else "from_" if opt == "from" else opt] = nxt
        elif opt == "table":
            if nxt is None or not (nxt.isdigit() or nxt in ROUTE_TABLES):
                ctx.error(line, f"Routing table {nxt} not found for route")
                return None
            r["table"] = nxt
            i += 1
        elif opt == "protocol":
            r["protocol"] = nxt
            i += 1
        elif opt == "scope":
            if nxt is None or not (nxt in SCOPES or nxt.isdigit()):
                ctx.error(line, f"Scope {nxt} not found or invalid for route")
                return None
            r["scope"] = nxt
            i += 1
        elif opt in ("metric", "priority", "preference"):
            if nxt is None or not nxt.isdigit() or int(nxt) > 0xFFFFFFFF:
                ctx.error(line, f"Invalid metric {nxt} specified for route")
                return None
            r["metric"] = int(nxt)
            i += 1
        elif opt in ("dev", "oif"):
            if nxt is None:
                ctx.error(line, f"No {opt} parameter specified for route")
                return None
            if not interface_exists(ctx, nxt):
                ctx.error(line, f"WARNING - interface {nxt} for VROUTE nexthop doesn't exist")
                return None
            r["dev"] = nxt
            i += 1
        elif opt in _ROUTE_FLAG_OPTS:
            options.append(opt)
        elif opt in _ROUTE_ARG_OPTS:
            options.append(opt)
            if nxt == "lock":
                options.append(nxt)
                i += 1
                nxt = t[i + 1] if i + 1 < len(t) else None
            if nxt is not None:
                options.append(nxt)
                i += 1
        elif opt == "or":
            ctx.error(line, '"or" for routes is deprecated. Please use "nexthop"')
            if nexthops:
                ctx.error(line, '"or" route already specified - ignoring subsequent')
                i += 2
                continue
            ip = parse_address(ctx, line, nxt or "", allow_prefix=False) if nxt else None
            if ip is None:
                ctx.error(line, f'Invalid "or" address {nxt}')
                return None
            assert nxt is not None
            first: list[tuple[str, ...]] = [("via", r.pop("via"))] if "via" in r else []
            nexthops = [*first, ("via", nxt)]
            i += 1
        elif opt == "nexthop":
            if nexthops:
                ctx.error(line, 'Cannot specify nexthops with "or" route')
                break
            current: list[str] = []
            for w in t[i + 1 :]:
                if w == "nexthop":
                    nexthops.append(tuple(current))
                    current = []
                else:
                    current.append(w)
            nexthops.append(tuple(current))
            for hop in nexthops:
                for k, word in enumerate(hop[:-1]):
                    if word == "dev" and not interface_exists(ctx, hop[k + 1]):
                        ctx.error(line, f"WARNING - interface {hop[k + 1]} for VROUTE nexthop doesn't exist")
            i = len(t)
            break
        elif opt == "no_track":
            r["no_track"] = True
        elif static and opt == "track_group":
            if nxt not in ctx.shared.get("names:track_group", set()):
                ctx.error(line, f"track_group {nxt} not found")
            else:
                r["track_group"] = nxt
            i += 1
        else:
            if opt == "to":
                i += 1
                opt = t[i] if i < len(t) else ""
            if (opt in ROUTE_TYPES and opt != "unicast") or (opt == "unicast" and i + 1 < len(t)):
                r["type"] = opt
                i += 1
                opt = t[i] if i < len(t) else ""
            dest = opt
            if dest in ("default", "any", "all"):
                pass
            elif dest == "default6":
                ctx.note(line, "'default6' is deprecated - please replace with 'inet6 default'")
                family = 6
            else:
                ip = parse_address(ctx, line, dest)
                if ip is None:
                    ctx.error(line, f"unknown route keyword {dest}")
                    return None
                if family is not None and family != ip.version:
                    ctx.error(line, f"Cannot mix IPv4 and IPv6 addresses for route ({dest})")
                    return None
                family = ip.version
        i += 1
    if dest is None:
        ctx.error(line, "Route must have a destination")
        return None
    if not r.get("no_track"):
        if r.get("protocol") not in (None, "keepalived", "18"):
            ctx.error(
                line, "Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol"
            )
            r["protocol"] = None
        if "dev" not in r:
            ctx.error(line, f"Warning - cannot track route {dest} with no interface specified, not tracking")
            r["no_track"] = True
    if r.get("track_group") and "dev" not in r:
        ctx.error(line, "Static route cannot have track group if no oif specified")
        r["track_group"] = None
    return Route(dest=dest, family=family or 4, nexthops=tuple(nexthops), options=tuple(options), **r)


_RULE_ARG_OPTS = (
    "tos",
    "dsfield",
    "fwmark",
    "realms",
    "suppress_prefixlength",
    "sup_pl",
    "suppress_ifgroup",
    "sup_group",
    "tunnel-id",
    "uidrange",
    "protocol",
    "ipproto",
    "sport",
    "dport",
)
_RULE_ACTIONS = ("blackhole", "prohibit", "unreachable", "nop", "l3mdev")


def parse_rule(ctx: Context, line: LogicalLine, static: bool) -> Rule | None:
    """One virtual_rules / static_rules line (``alloc_rule``); assigns a preference if missing."""
    t = line.texts()
    r: dict[str, Any] = {}
    family: int | None = None
    options: list[str] = []
    i = 0
    while i < len(t):
        opt = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else None
        if opt in ("inet", "inet6"):
            want = 6 if opt == "inet6" else 4
            if family is not None and family != want:
                ctx.error(line, f"{opt} specified for IPv{family} rule")
                return None
            family = want
        elif opt in ("from", "to"):
            i += 1
            if nxt in ("all", "any", "default"):
                r["from_" if opt == "from" else "to"] = nxt
            else:
                ip = parse_address(ctx, line, nxt or "")
                if ip is None:
                    ctx.error(line, f"Invalid rule {opt} address {nxt}")
                    return None
                if family is not None and family != ip.version:
                    ctx.error(line, "rule specification has mixed IPv4 and IPv6")
                    return None
                family = ip.version
                r["from_" if opt == "from" else "to"] = nxt
        elif opt in ("table", "lookup"):
            i += 1
            if nxt is None or not (nxt.isdigit() or nxt in ROUTE_TABLES):
                ctx.error(line, f"Routing table {nxt} not found for rule")
                return None
            if nxt in ("0", "unspec"):
                ctx.error(line, "Table 0 is not valid")
                return None
            if r.get("action"):
                ctx.error(
                    line,
                    "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable for rule",
                )
                return None
            r["table"], r["action"] = nxt, "table"
        elif opt == "not":
            r["invert"] = True
        elif opt in ("preference", "order", "priority"):
            i += 1
            if nxt is None or not nxt.isdigit() or int(nxt) > 0xFFFFFFFF:
                ctx.error(line, f"Invalid rule preference {nxt} specified")
                return None
            r["preference"] = int(nxt)
        elif opt in ("dev", "iif", "oif"):
            i += 1
            if nxt is None or not interface_exists(ctx, nxt):
                ctx.error(line, f"WARNING - interface {nxt} for rule doesn't exist")
                return None
            r["oif" if opt == "oif" else "iif"] = nxt
        elif opt in _RULE_ARG_OPTS:
            options += [opt, nxt or ""]
            i += 1
        elif opt == "no_track":
            r["no_track"] = True
        elif static and opt == "track_group":
            i += 1
            if nxt not in ctx.shared.get("names:track_group", set()):
                ctx.error(line, f"track_group {nxt} not found")
            else:
                r["track_group"] = nxt
        else:
            if opt == "type":
                i += 1
                opt = nxt or ""
            if opt == "goto":
                i += 1
                nxt = t[i] if i < len(t) else None
                if nxt is None or not nxt.isdigit():
                    ctx.error(line, f"Invalid target {nxt} specified")
                    return None
                rule_action = f"goto {nxt}"
            elif opt in _RULE_ACTIONS:
                rule_action = opt
            else:
                ctx.error(line, f"Unknown rule option {opt}")
                return None
            if r.get("action"):
                ctx.error(
                    line,
                    "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable/"
                    "l3mdev for rule",
                )
                return None
            r["action"] = rule_action
        i += 1
    action = r.get("action")
    if action and action.startswith("goto "):
        target = int(action.split()[1])
        if "preference" not in r:
            ctx.error(line, f"Invalid rule - goto target {target} specified without preference")
            return None
        if r["preference"] >= target:
            ctx.error(line, f"Invalid rule - preference {r['preference']} >= goto target {target}")
            return None
    if not action:
        ctx.error(line, "No action specified for rule - ignoring")
        return None
    if r.get("track_group") and "iif" not in r:
        ctx.error(line, "Static rule cannot have track_group if dev/iif not specified")
        r["track_group"] = None
    fam = family or 4
    if "preference" not in r:
        key = f"next_rule_priority{fam}"
        pref = ctx.shared.get(key, 16384)
        ctx.shared[key] = pref - 1
        r["preference"] = pref
        ctx.error(
            line, f"Rule has no preference specified - setting to {pref}. This is probably not what you want."
        )
    return Rule(family=fam, options=tuple(options), **r)


def _entries_block(name: str, key: str, parse: Callable[[Context, LogicalLine], Any]) -> Block:
    """A line-list block whose entries are parsed one by one into ``draft[key]``."""

    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        obj = parse(ctx, line)
        if obj is not None:
            _items(draft, "entries").append(obj)

    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        _items(parent, key).extend(draft.get("entries", []))

    return Block(name, kind="lines", entry=entry, end=end)


def _vip_entry(ctx: Context, line: LogicalLine) -> Any:
    return parse_vip(ctx, line, static=False)


STATIC_IPADDRESS = _entries_block(
    "static_ipaddress", "static_ipaddress", lambda ctx, line: parse_vip(ctx, line, static=True)
)
STATIC_ROUTES = _entries_block(
    "static_routes", "static_routes", lambda ctx, line: parse_route(ctx, line, True)
)
STATIC_RULES = _entries_block("static_rules", "static_rules", lambda ctx, line: parse_rule(ctx, line, True))

# -- tracking blocks (instances and sync groups) ---------------------------------------------

#: track block keyword -> (Tracking field, shared weights key, weight range, "not found" noun)
_TRACKERS: dict[str, tuple[str, str | None, int, str]] = {
    "track_interface": ("interfaces", None, 254, "interface"),
    "track_script": ("scripts", "vrrp_script_weights", 254, "script"),
    "track_file": ("files", "track_file_weights", 254, "file"),
    "track_process": ("processes", "track_process_weights", 254, "process"),
    "track_bfd": ("bfds", "bfd_weights", 253, "bfd"),
}


def _track_block(keyword: str) -> Block:
    field, weights_key, limit, noun = _TRACKERS[keyword]

    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        owner = draft["_owner"]
        t = line.texts()
        name = t[0]
        if keyword == "track_interface":
            if not interface_exists(ctx, name):
                ctx.error(line, f"({owner}) tracked interface {name} doesn't exist")
                return
            weight, reverse = 0, False
        else:
            known = ctx.shared.get(weights_key or "", {})
            if name not in known:
                ctx.error(line, f"({owner}) track {noun} {name} not found, ignoring...")
                return
            weight, reverse = known[name]
        entries = _items(draft, "entries")
        if any(e.name == name for e in entries):
            ctx.error(line, f"({owner}) duplicate {keyword} {name} - ignoring")
            return
        if len(t) >= 2:
            if t[1] != "weight":
                what = f"track_interface {name} option" if keyword == "track_interface" else f"{noun} option"
                ctx.error(line, f"({owner}) unknown {what} {t[1]} - ignoring")
                return
            if len(t) == 2:
                ctx.error(line, f"({owner}) weight without value specified for {keyword} {name} - ignoring")
                return
            try:
                weight = ctx.integer(line, 2, -limit, limit)
            except SkipLine:
                ctx.error(
                    line,
                    f"({owner}) weight {t[2]} for {name} must be between [-253..253] inclusive. Ignoring...",
                )
                weight = 0 if keyword == "track_interface" else known[name][0]
            if abs(weight) == 254 and keyword in ("track_interface", "track_script"):
                ctx.error(line, f"({owner}) weight for {name} cannot be +/-254. Setting to +/-253")
                weight = 253 if weight > 0 else -253
            if len(t) >= 4:
                if t[3] == "reverse":
                    reverse = True
                elif t[3] == "noreverse" and keyword != "track_interface":
                    reverse = False
                else:
                    ctx.error(line, f"({owner}) unknown {keyword} {name} weight option {t[3]} - ignoring")
        entries.append(TrackRef(name, weight, reverse))

    def begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
        return {"_owner": parent.get("name", ""), "_loc": line.loc}

    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        _items(parent, f"track_{field}").extend(draft.get("entries", []))

    return Block(keyword, kind="lines", begin=begin, entry=entry, end=end)


def _notify_handler(field: str, owner_fmt: str) -> Handler:
    """notify_* keywords: one script each; a second one is reported and ignored."""

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        key = f"notify_{field}"
        if field == "deleted" and len(line.words) < 2:
            if draft.get("notify_deleted_state"):
                ctx.error(line, f"({draft['name']}) notify_deleted already specified - ignoring ")
            draft["notify_deleted_state"] = True
            return
        if key in draft or (field == "deleted" and draft.get("notify_deleted_state")):
            kw = line.keyword if field != "deleted" else "notify_deleted"
            what = kw if field == "deleted" else f"{kw} script"
            ctx.error(
                line,
                f"{owner_fmt.format(name=draft['name'])} {what} already specified - ignoring "
                f"{line.words[1].text if len(line.words) > 1 else ''}",
            )
            return
        draft[key] = script_from_line(ctx, line)
        if field == "deleted":
            draft["notify_deleted_state"] = True

    return handle


_NOTIFY_FIELDS = {
    "notify_master": "master",
    "notify_backup": "backup",
    "notify_fault": "fault",
    "notify_stop": "stop",
    "notify": "generic",
}


def _notify_from(draft: Draft) -> NotifyScripts:
    return NotifyScripts(
        **{
            f: draft[f"notify_{f}"]
            for f in ("master", "backup", "fault", "stop", "deleted", "master_rx_lower_pri", "generic")
            if f"notify_{f}" in draft
        },
        deleted_state=draft.get("notify_deleted_state", False),
    )


def _tracking_from(draft: Draft) -> Tracking:
    return Tracking(
        **{
            f: tuple(draft.get(f"track_{f}", ()))
            for f in ("interfaces", "scripts", "files", "processes", "bfds")
        }
    )


def _bool_or_error(ctx: Context, line: LogicalLine, message: str) -> bool | None:
    try:
        return ctx.boolean(line)
    except SkipLine:
        ctx.error(line, message)
        return None


# -- vrrp_sync_group ------------------------------------------------------------------------

SYNC_GROUP = Block("vrrp_sync_group", begin=_uniq_begin("vrrp sync group", "vrrp_sync_group", "sync_group"))


def _sg_group_words(ctx: Context, words: list[Word], draft: Draft) -> None:
    draft["members"] = [w.text for w in words]


def _sg_group_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if "group" in parent:
        ctx.error(draft.get("_loc"), f"Group list already specified for sync group {parent['name']}")
        return
    if not draft.get("members"):
        ctx.error(draft.get("_loc"), f"Warning - sync group {parent['name']} has empty group block")
        return
    parent["group"] = tuple(draft["members"])


SYNC_GROUP.sub("group", Block("group", kind="words", words=_sg_group_words, end=_sg_group_end))
for _kw in _TRACKERS:
    SYNC_GROUP.sub(_kw, _track_block(_kw))
SYNC_GROUP.unsupported("track_bfd")
for _kw, _f in _NOTIFY_FIELDS.items():
    SYNC_GROUP.keyword(_kw)(_notify_handler(_f, "vrrp group {name}:"))


@SYNC_GROUP.keyword("smtp_alert")
def _sg_smtp(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = _bool_or_error(ctx, line, f"Invalid vrrp_group smtp_alert parameter {line.texts()[-1]}")
    if value is not None:
        draft["smtp_alert"] = value


@SYNC_GROUP.keyword("notify_priority_changes")
def _sg_npc(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = _bool_or_error(
        ctx,
        line,
        f"({draft['name']}) Invalid value '{line.texts()[-1]}' for sync group"
        " notify_priority_changes specified",
    )
    if value is not None:
        draft["notify_priority_changes"] = value


@SYNC_GROUP.keyword("global_tracking")
def _sg_global_tracking(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.error(
        line,
        f"({draft['name']}) global_tracking is deprecated. Use track_interface/script/file on the sync group",
    )
    draft["sync_group_tracking_weight"] = True


@SYNC_GROUP.keyword("sync_group_tracking_weight")
def _sg_tracking_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["sync_group_tracking_weight"] = True


def _sg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    _items(parent, "sync_groups").append(draft)


SYNC_GROUP.end = _sg_end

# -- garp_group, track_group, linkbeat_interfaces, interface_up_down_delays --------------------

GARP_GROUP = Block("garp_group")


@GARP_GROUP.keyword("garp_interval", "gna_interval")
def _gg_interval(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.arg(line, 1)  # a missing value is only MISSING_PARAMETER
    try:
        draft[line.keyword] = ctx.timer(line, 1, 0, 2147.483647)  # [0, INT_MAX] microseconds
    except SkipLine:
        ctx.error(line, f"garp_group {line.keyword} '{line.words[1].text}' invalid")
        raise


def _gg_add_interface(ctx: Context, where: LogicalLine | Word, name: str, draft: Draft) -> None:
    if not interface_exists(ctx, name):
        ctx.error(where, f"WARNING - interface {name} specified for garp_group doesn't exist")
        return
    seen = ctx.shared.setdefault("garp_group_interfaces", set())
    if name in seen:
        ctx.error(where, f"garp_group already specified for {name} - ignoring")
        return
    seen.add(name)
    _items(draft, "interfaces").append(name)


@GARP_GROUP.keyword("interface")
def _gg_interface(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _gg_add_interface(ctx, line, ctx.string(line), draft)


def _gg_interfaces(ctx: Context, words: list[Word], draft: Draft) -> None:
    if not words:
        ctx.error(draft.get("_loc"), "Warning - empty garp_group interfaces block")
    for w in words:
        _gg_add_interface(ctx, w, w.text, draft["_parent"])


GARP_GROUP.sub(
    "interfaces",
    Block(
        "interfaces",
        kind="words",
        words=_gg_interfaces,
        begin=lambda ctx, line, parent: {"_parent": parent, "_loc": line.loc},
    ),
)


def _gg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if "garp_interval" not in draft and "gna_interval" not in draft:
        n = ctx.shared["garp_groups"] = ctx.shared.get("garp_groups", 0) + 1
        ctx.error(_end_loc(draft), f"garp group {n} does not have any delay set - removing")
        return
    _items(parent, "garp_groups").append(
        GarpGroup(tuple(draft.get("interfaces", ())), draft.get("garp_interval"), draft.get("gna_interval"))
    )


GARP_GROUP.end = _gg_end

TRACK_GROUP = Block("track_group", begin=_uniq_begin("track_group", "track_group", "track_group"))


def _tg_words(ctx: Context, words: list[Word], draft: Draft) -> None:
    draft["members"] = [w.text for w in words]


def _tg_group_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if "group" in parent:
        ctx.error(draft.get("_loc"), f"Group list already specified for sync group {parent['name']}")
    elif not draft.get("members"):
        ctx.error(draft.get("_loc"), f"Warning - track group {parent['name']} has empty group block")
    else:
        parent["group"] = tuple(draft["members"])


TRACK_GROUP.sub("group", Block("group", kind="words", words=_tg_words, end=_tg_group_end))
TRACK_GROUP.end = _append_end("track_groups", lambda ctx, d: TrackGroup(d["name"], d.get("group", ())))


def _linkbeat_entry(ctx: Context, line: LogicalLine) -> LinkbeatInterface | None:
    t = line.texts()
    if not interface_exists(ctx, t[0]):
        ctx.error(line, f"unknown interface {t[0]} specified for linkbeat interface", cls=ErrClass.FATAL)
        return None
    mode = None
    if len(t) > 1:
        if t[1] in ("MII", "ETHTOOL", "IOCTL"):
            mode = t[1]
        else:
            ctx.error(line, f"extra characters {t[1]} in linkbeat interface")
    return LinkbeatInterface(t[0], mode)


def _delays_entry(ctx: Context, line: LogicalLine) -> InterfaceDelays | None:
    t = line.texts()
    if not interface_exists(ctx, t[0]):
        ctx.error(line, f"unknown interface {t[0]} specified for up/down delay", cls=ErrClass.FATAL)
        return None
    if len(t) < 2:
        ctx.note(line, f"No timeouts specified for {t[0]} up/down delays")
        return None
    if len(t) > 3:
        ctx.note(line, f"Too many parameters for {t[0]} up/down delays")
        return None
    try:
        down = ctx.timer(line, 1, 0, 255)
        up = ctx.timer(line, 2, 0, 255) if len(t) > 2 else down
    except SkipLine:
        return None
    return InterfaceDelays(t[0], down, up)


LINKBEAT = _entries_block("linkbeat_interfaces", "linkbeat_interfaces", _linkbeat_entry)
UP_DOWN_DELAYS = _entries_block("interface_up_down_delays", "interface_up_down_delays", _delays_entry)

# -- vrrp_instance --------------------------------------------------------------------------

INSTANCE = Block("vrrp_instance", begin=_uniq_begin("vrrp instance", "vrrp_instance", "vrrp_instance"))

_install_scalars(
    INSTANCE,
    [
        Scalar(
            "virtual_router_id", "int", 1, 255, "({name}): VRID '{arg}' not valid - must be between 1 & 255"
        ),
        Scalar(
            "priority",
            "int",
            1,
            255,
            "({name}) Priority not valid! must be between 1 & 255. Using default 100",
        ),
        Scalar(
            "advert_int",
            "timer",
            0.000001,
            4294.967295,
            "({name}) Advert interval ({arg}) not valid! Must be > 0 - ignoring",
        ),
        Scalar("version", "int", 2, 3, "({name}): Version must be either 2 or 3"),
        Scalar("unicast_ttl", "int", 0, 255, "({name}): TTL '{arg}' not valid - must be between 0 & 255"),
        Scalar("preempt_delay", "timer", 0, 1000, "({name}) Preempt_delay not valid! must be between 0-1000"),
        Scalar("garp_master_delay", "int", 0, 4294, "({name}): garp_master_delay '{arg}' invalid - ignoring"),
        Scalar(
            "garp_master_refresh",
            "int",
            0,
            4294967295,
            "({name}): Invalid garp_master_refresh '{arg}' - ignoring",
        ),
        Scalar(
            "garp_lower_prio_delay",
            "int",
            0,
            4294,
            "({name}): garp_lower_prio_delay '{arg}' invalid - ignoring",
        ),
        Scalar(
            "garp_lower_prio_repeat", "int", 0, 2147483647, "({name}): Invalid garp_lower_prio_repeat '{arg}'"
        ),
        Scalar("down_timer_adverts", "int", 1, 100, "({name}): Invalid down_timer_adverts [1:100] '{arg}'"),
        Scalar("kernel_rx_buf_size", "int", 0, 4294967295, "({name}) invalid kernel_rx_buf_size specified"),
        Scalar("debug", "int", 0, 4, "({name}) Debug value '{arg}' not valid; must be between 0-4"),
        Scalar("nopreempt", "flag"),
        Scalar("dont_track_primary", "flag"),
        Scalar("promote_secondaries", "flag"),
        Scalar("unicast_fault_no_peer", "flag"),
        Scalar("check_unicast_src", "flag"),
        Scalar("track_src_ip", "flag"),
        Scalar("use_vmac_addr", "flag"),
        Scalar("vmac_xmit_base", "flag"),
        Scalar("smtp_alert", "bool", invalid="Invalid vrrp_instance smtp_alert parameter {arg}"),
        Scalar(
            "notify_priority_changes",
            "bool",
            invalid="({name}) Invalid value '{arg}' for notify_priority_changes specified",
        ),
        Scalar(
            "lower_prio_no_advert", "bool", invalid="({name}) invalid lower_prio_no_advert {arg} specified"
        ),
        Scalar(
            "higher_prio_send_advert",
            "bool",
            invalid="({name}) invalid higher_prio_send_advert {arg} specified",
        ),
        Scalar("strict_mode", "bool", invalid="({name}) invalid strict_mode {arg} specified"),
        Scalar("skip_check_adv_addr", "bool", invalid="({name}) invalid skip_check_adv_addr {arg} specified"),
    ],
)

for _kw in ("garp_master_repeat", "garp_master_refresh_repeat"):

    def _rep(ctx: Context, line: LogicalLine, draft: Draft, _kw: str = _kw) -> None:
        ctx.arg(line, 1)  # a missing value is only MISSING_PARAMETER
        try:
            value = ctx.integer(line, 1, 0, 4294967295)
        except SkipLine:
            ctx.error(line, f"({draft['name']}): {_kw} '{line.words[1].text}' invalid - ignoring")
            raise
        if value == 0:
            ctx.error(line, f"({draft['name']}): {_kw} must be greater than 0, setting to 1")
            value = 1
        draft[_kw] = value

    INSTANCE.keyword(_kw)(_rep)


@INSTANCE.keyword("state")
def _state(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if value == "MASTER":
        draft["state"] = "MASTER"
    elif value == "BACKUP":
        if draft.get("state") == "MASTER":
            ctx.error(line, f"({draft['name']}) state previously set as MASTER - ignoring BACKUP")
        else:
            draft["state"] = "BACKUP"
    else:
        ctx.error(line, f"({draft['name']}) unknown state '{value}', defaulting to BACKUP")
        draft["state"] = "BACKUP"


@INSTANCE.keyword("interface")
def _interface(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line)
    if len(name) >= 16:
        ctx.error(line, f"Interface name '{name}' too long - ignoring")
        return
    if not interface_exists(ctx, name):
        ctx.error(line, f"WARNING - interface {name} for vrrp_instance {draft['name']} doesn't exist")
        return
    if name == "lo":
        ctx.error(line, f"({draft['name']}) cannot use a loopback interface ({name}) for vrrp - ignoring")
        return
    draft["interface"] = name


@INSTANCE.keyword("vrf")
def _vrf(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line)
    if not interface_exists(ctx, name):
        ctx.error(line, f"({draft['name']}) WARNING - VRF interface {name} doesn't exist")
        return
    draft["vrf"] = name


@INSTANCE.keyword("preempt")
def _preempt(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["nopreempt"] = False


@INSTANCE.keyword("accept", "no_accept")
def _accept(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["accept"] = line.keyword == "accept"


@INSTANCE.keyword("native_ipv6")
def _native_ipv6(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft.get("_family") == 4:
        ctx.error(line, f"({draft['name']}) Cannot specify native_ipv6 with IPv4 addresses")
        return
    draft["_family"] = 6


@INSTANCE.keyword("linkbeat_use_polling")
def _linkbeat_polling(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.error(
        line,
        f"({draft['name']}) 'linkbeat_use_polling' in vrrp instance deprecated - use"
        " linkbeat_interfaces block",
    )


@INSTANCE.keyword("lvs_sync_daemon_interface")
def _lvs_syncd(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = draft["name"]
    ctx.error(line, f"({name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.")
    ctx.error(line, f"      {'':{max(len(name) - 2, 0)}}Please use global lvs_sync_daemon")
    syncd = ctx.shared.get("lvs_syncd_interface")
    if syncd is not None:
        ctx.error(
            line, f"({name}) lvs_sync_daemon_interface has already been specified as {syncd} - ignoring"
        )
        return
    ctx.shared["lvs_syncd_interface"] = ctx.string(line)
    draft["_lvs_sync_daemon_interface"] = ctx.string(line)


def _same_family(inst: Draft, version: int) -> bool:
    """The instance's address family is set by the first address that says one (a VIP, a source,
    a peer, mcast_dst_ip, native_ipv6); False when ``version`` differs from it."""
    if inst.get("_family") is None:
        inst["_family"] = version
    return bool(inst["_family"] == version)


def _src_ip(field: str) -> Handler:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        text = ctx.string(line)
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            ctx.error(
                line,
                f"Configuration error: VRRP instance[{draft['name']}] malformed {field}"
                f" address[{text}]. Skipping...",
            )
            return
        if not _same_family(draft, ip.version):
            if field == "mcast_dst_ip":
                ctx.error(line, f"({draft['name']}) mcast dest address {text} MUST match VRRP instance family."
                                " Skipping...")
            else:
                ctx.error(line, f"Configuration error: VRRP instance[{draft['name']}] and src address[{text}]"
                                " MUST be of the same family !!! Skipping...")
            return
        if field == "mcast_dst_ip" and not ip.is_multicast:
            ctx.error(line, f"({draft['name']}) mcast_dst_ip {text} not multicast. Skipping...")
            return
        draft[field] = ip
        if field == "unicast_src_ip":
            draft["_unicast_configured"] = True

    return handle


for _f in ("mcast_src_ip", "unicast_src_ip", "mcast_dst_ip"):
    INSTANCE.keyword(_f)(_src_ip(_f))


@INSTANCE.keyword("old_unicast_checksum")
def _old_checksum(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = line.words[1].text if len(line.words) > 1 else "always"
    if value not in ("never", "always"):
        ctx.error(line, f"({draft['name']}) Unknown old_unicast_chksum mode {value} - ignoring")
        return
    draft["old_unicast_checksum"] = value


@INSTANCE.keyword("use_vmac")
def _use_vmac(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    t = line.texts()[1:]
    ifname = mac = None
    for w in t:
        if w.count(":") == 5:
            mac = w
        elif w != "netlink_notify_msg" and ifname is None:
            ifname = w
    draft["_vmac"] = (ifname, mac)


INSTANCE.unsupported("use_vmac")


@INSTANCE.keyword("use_ipvlan")
def _use_ipvlan(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """``use_ipvlan [IFNAME] [IP/PREFIX] [l2|l3] [bridge|private|vepa]``: accepted, not modelled."""
    draft["_ipvlan"] = True


INSTANCE.unsupported("use_ipvlan")


@INSTANCE.keyword("garp_extra_if", "vmac_garp_intvl")
def _inst_garp_extra_if(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if line.keyword == "vmac_garp_intvl":
        ctx.warning(
            line,
            'Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"',
            cls=ErrClass.DEPRECATED,
        )
    delay = None
    for i in range(1, len(line.words)):
        if line.words[i].text == "all":
            draft["garp_extra_if_all"] = True
            continue
        try:
            delay = ctx.integer(line, i, 1, 86400)
        except SkipLine:
            ctx.error(line, f"({draft['name']}): {line.keyword} '{line.words[i].text}' invalid - ignoring")
            raise
    if delay is None:
        ctx.error(line, f"({draft['name']}): {line.keyword} specified without time - ignoring")
        return
    draft["garp_extra_if"] = delay


for _kw in (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "notify_deleted",
    "notify_master_rx_lower_pri",
):
    INSTANCE.keyword(_kw)(_notify_handler(_NOTIFY_FIELDS.get(_kw, _kw.removeprefix("notify_")), "({name})"))


def _vip_list_entry(excluded: bool) -> Handler:
    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        inst = draft["_parent"]
        vip = parse_vip(ctx, line, static=False)
        if vip is None:
            return
        if not excluded and not _same_family(inst, vip.address.version):
            ctx.error(
                line,
                f"({inst['name']}): address family must match VRRP instance [{line.words[0].text}]"
                " - ignoring",
            )
            return
        _items(inst, "virtual_ipaddress_excluded" if excluded else "virtual_ipaddress").append(vip)

    return entry


def _child_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    return {"_parent": parent, "_loc": line.loc}


INSTANCE.sub(
    "virtual_ipaddress",
    Block("virtual_ipaddress", kind="lines", begin=_child_begin, entry=_vip_list_entry(False)),
)
INSTANCE.sub(
    "virtual_ipaddress_excluded",
    Block("virtual_ipaddress_excluded", kind="lines", begin=_child_begin, entry=_vip_list_entry(True)),
)
INSTANCE.sub(
    "virtual_routes",
    _entries_block("virtual_routes", "virtual_routes", lambda ctx, line: parse_route(ctx, line, False)),
)
INSTANCE.sub(
    "virtual_rules",
    _entries_block("virtual_rules", "virtual_rules", lambda ctx, line: parse_rule(ctx, line, False)),
)
for _kw in _TRACKERS:
    INSTANCE.sub(_kw, _track_block(_kw))
INSTANCE.unsupported("track_bfd")


def _peer_entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    inst = draft["_parent"]
    t = line.texts()
    try:
        ip = ipaddress.ip_address(t[0])
    except ValueError:
        ctx.error(
            line,
            f"Configuration error: VRRP instance[{inst['name']}] malformed unicast peer address"
            f"[{t[0]}]. Skipping...",
        )
        return
    if not _same_family(inst, ip.version):
        ctx.error(line, f"Configuration error: VRRP instance[{inst['name']}] and unicast peer address[{t[0]}]"
                        " MUST be of the same family !!! Skipping...")
        return
    opts: dict[str, int] = {}
    i = 1
    while i < len(t):
        if t[i] in ("min_ttl", "max_ttl"):
            if i + 1 >= len(t):
                ctx.error(line, f"({inst['name']}) {t[i]} is missing a value")
                return
            try:
                opts[t[i]] = ctx.integer(line, i + 1, 0, 255)
            except SkipLine:
                return
            i += 2
            continue
        ctx.error(line, f"({inst['name']}) unknown unicast_peer option {t[i]}")
        return
    if opts.get("min_ttl", 0) > opts.get("max_ttl", 255):
        ctx.error(
            line,
            f"({inst['name']}) min_ttl {opts['min_ttl']} > max_ttl {opts['max_ttl']} - all packets"
            " will be discarded",
        )
    _items(inst, "unicast_peer").append(UnicastPeer(ip, **opts))


def _peers_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    parent["_unicast_configured"] = True
    return {"_parent": parent, "_loc": line.loc}


INSTANCE.sub("unicast_peer", Block("unicast_peer", kind="lines", begin=_peers_begin, entry=_peer_entry))

AUTH = Block("authentication", begin=_child_begin)


@AUTH.keyword("auth_type")
def _auth_type(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if value not in ("PASS", "AH"):
        ctx.error(line, f"({draft['_parent']['name']}) unknown authentication type '{value}'")
        return
    if value == "AH":
        # the VRRP daemon refuses to run an instance with AH authentication
        ctx.note(line.words[1], unsupported_note("auth_type AH", "rejected"))
    draft["_parent"]["_auth_type"] = value


@AUTH.keyword("auth_pass")
def _auth_pass(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = ctx.string(line)
    if len(value) > 8:
        ctx.error(line, "Truncating auth_pass to 8 characters")
        value = value[:8]
    draft["_parent"]["_auth_pass"] = value


INSTANCE.sub("authentication", AUTH)


#: instance keywords that make it a unicast instance (keepalived's VRRP_FLAG_UNICAST_CONFIGURED)
_UNICAST_KEYWORDS = ("unicast_fault_no_peer", "check_unicast_src", "old_unicast_checksum")


def _instance_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    """keepalived's ``vrrp_end_handler``: unicast with a VMAC, and unicast_ttl without peers."""
    name = draft["name"]
    if any(k in draft for k in _UNICAST_KEYWORDS):
        draft["_unicast_configured"] = True
    if draft.get("_unicast_configured") and ("_vmac" in draft or draft.get("_ipvlan")):
        if draft.get("interface") is None:
            ctx.error(draft["_loc"], f"({name}): Cannot use VMAC/ipvlan with unicast and no interface"
                                     " - clearing use_vmac")
            draft.pop("_vmac", None)
            draft.pop("_ipvlan", None)
        elif not draft.get("vmac_xmit_base"):
            ctx.error(draft["_loc"], f"({name}) unicast with use_vmac requires vmac_xmit_base - setting")
            draft["vmac_xmit_base"] = True
    if not draft.get("unicast_peer") and "unicast_ttl" in draft:
        ctx.error(draft["_loc"], f"({name}): Cannot use unicast_ttl without unicast peers - resetting")
        del draft["unicast_ttl"]
    _items(parent, "instances").append(draft)


INSTANCE.end = _instance_end


def register(root: Block) -> None:
    """Install every VRRP root keyword."""
    root.sub("vrrp_script", VRRP_SCRIPT)
    root.sub("track_file", TRACK_FILE)
    root.sub("vrrp_track_file", TRACK_FILE)
    # keepalived only logs this (it is not a config error)
    root.keywords["vrrp_track_file"].note = '"vrrp_track_file" is deprecated, please use "track_file"'
    root.sub("vrrp_track_process", TRACK_PROCESS)
    root.sub("vrrp_sync_group", SYNC_GROUP)
    root.sub("garp_group", GARP_GROUP)
    root.sub("track_group", TRACK_GROUP)
    root.sub("linkbeat_interfaces", LINKBEAT)
    root.sub("interface_up_down_delays", UP_DOWN_DELAYS)
    root.sub("static_ipaddress", STATIC_IPADDRESS)
    root.sub("static_routes", STATIC_ROUTES)
    root.sub("static_rules", STATIC_RULES)
    root.sub("bfd_instance", BFD_INSTANCE)
    root.unsupported("bfd_instance")
    root.sub("vrrp_instance", INSTANCE)


# -- finish: vrrp_complete_init -------------------------------------------------------------


def finish(ctx: Context, draft: Draft, global_defs: GlobalDefs) -> VrrpConfig:
    """Validate and complete the VRRP configuration as keepalived's VRRP process does."""
    # keepalived checks VRRP scripts only when some vrrp_instance was configured at all
    ctx.shared["vrrp_instances_configured"] = bool(draft.get("instances"))
    vctx = ctx
    if ctx.shared.get("non_existent_interface"):
        ctx.error(None, "Non-existent interface specified in configuration", cls=ErrClass.BAD_IF)
        ctx.shared["vrrp_aborted"] = True
        # keepalived stops here; complete the model without reporting anything more
        vctx = Context(
            diags=Diagnostics(), config_id=ctx.config_id, interfaces=ctx.interfaces, shared=ctx.shared
        )
    return _complete(vctx, draft, global_defs)


def _complete(ctx: Context, draft: Draft, gd: GlobalDefs) -> VrrpConfig:
    instances: list[Draft] = []
    for inst in draft.get("instances", []):
        name = inst["name"]
        if "virtual_router_id" not in inst:
            ctx.error(inst["_loc"], f"({name}) the virtual router id must be set")
            continue
        if "interface" not in inst:
            # keepalived 2.2.7's chk_min_cfg runs before unicast is known: no interface is always an error
            ctx.error(inst["_loc"], f"({name}) Unknown interface!")
            continue
        instances.append(inst)
    by_name = {i["name"]: i for i in instances}

    groups: list[SyncGroup] = []
    for sg in draft.get("sync_groups", []):
        gname = sg["name"]
        if "group" not in sg:
            ctx.error(None, f"Sync group {gname} has no virtual router(s). removing")
            continue
        members: list[str] = []
        for member in sg["group"]:
            inst = by_name.get(member)
            if inst is None:
                ctx.error(
                    sg["_loc"],
                    f"Virtual router {member} specified in sync group {gname} doesn't exist - ignoring",
                )
                continue
            if inst.get("_sync") is not None:
                ctx.error(
                    sg["_loc"],
                    f"Virtual router {member} cannot exist in more than one sync group; ignoring {gname}",
                )
                continue
            inst["_sync"] = sg
            members.append(member)
        if not members:
            ctx.error(
                sg["_loc"],
                f"Sync group {gname}, no matching virtual router found in group declaration - removing",
            )
            continue
        if len(members) == 1:
            ctx.error(
                sg["_loc"],
                f"Sync group {gname} has only 1 virtual router(s) - this probably isn't what you want",
            )
        groups.append(
            SyncGroup(
                name=gname,
                group=tuple(members),
                track=_tracking_from(sg),
                notify=_notify_from(sg),
                smtp_alert=sg.get("smtp_alert"),
                notify_priority_changes=sg.get("notify_priority_changes"),
                sync_group_tracking_weight=sg.get("sync_group_tracking_weight", False),
            )
        )

    completed = [c for c in (_complete_instance(ctx, inst, gd) for inst in instances) if c is not None]
    _check_vrid_conflicts(ctx, completed, gd)
    _check_sync_group_interfaces(ctx, groups, completed)

    used_scripts = {t.name for i in completed for t in i.track.scripts}
    used_scripts |= {t.name for g in groups for t in g.track.scripts}
    scripts = []
    unused = ctx.shared["unused_vrrp_scripts"] = []
    for s in draft.get("vrrp_scripts", []):
        if s.name not in used_scripts:
            # keepalived says so after its config-test checks: a log line, not a -t error; the
            # script is still checked for security (check_vrrp_script_security sees every script)
            ctx.note(None, f"Warning - script {s.name} is not used")
            unused.append(s)
            continue
        scripts.append(s)

    return VrrpConfig(
        instances=tuple(completed),
        sync_groups=tuple(groups),
        vrrp_scripts=tuple(scripts),
        track_files=tuple(draft.get("track_files", ())),
        track_processes=tuple(draft.get("track_processes", ())),
        garp_groups=tuple(draft.get("garp_groups", ())),
        track_groups=tuple(draft.get("track_groups", ())),
        static_ipaddress=tuple(draft.get("static_ipaddress", ())),
        static_routes=tuple(draft.get("static_routes", ())),
        static_rules=tuple(draft.get("static_rules", ())),
        linkbeat_interfaces=tuple(draft.get("linkbeat_interfaces", ())),
        interface_up_down_delays=tuple(draft.get("interface_up_down_delays", ())),
        bfd_instances=tuple(draft.get("bfd_instances", ())),
    )


def _check_sync_group_interfaces(ctx: Context, groups: list[SyncGroup], instances: list[VrrpInstance]) -> None:
    """keepalived's ``sync_group_tracking_init``: a sync group's tracked interface that a member
    already tracks (its own interface, unless ``dont_track_primary``, or its track_interface)."""
    by_name = {i.name: i for i in instances}
    for sg in groups:
        for tracked in sg.track.interfaces:
            for member in sg.group:
                inst = by_name.get(member)
                if inst is None:
                    continue
                own = {inst.interface} if inst.interface and not inst.dont_track_primary else set()
                if tracked.name in own or any(t.name == tracked.name for t in inst.track.interfaces):
                    ctx.error(None, f"({member}) track_interface {tracked.name} is configured on VRRP instance"
                                    " and sync group. Remove vrrp instance or sync group config")


def _complete_instance(ctx: Context, d: Draft, gd: GlobalDefs) -> VrrpInstance | None:
    """keepalived's ``vrrp_complete_instance`` for one instance (messages at the instance's line)."""
    name = d["name"]
    loc = d["_loc"]

    def err(message: str, cls: ErrClass = ErrClass.GENERAL_ERROR) -> None:
        ctx.error(loc, f"({name}) {message}", cls=cls)

    strict = d.get("strict_mode", gd.vrrp_strict)
    family = d.get("_family")
    version = d.get("version")
    if family == 6:
        if version == 2 and strict:
            err("cannot use IPv6 with VRRP version 2; setting version 3")
            version = 3
        elif version is None:
            version = 3
    family = family or 4
    if version is None:
        version = gd.vrrp_version
    vips = d.get("virtual_ipaddress", [])
    if not vips:
        if version == 3 or strict:
            err("No VIP specified; at least one is required")
            return None
        err("No VIP specified; at least one is sensible")

    state = d.get("state")
    priority = d.get("priority")
    if priority is None:
        priority = 255 if state == "MASTER" else 100
    if state is None:
        state = "MASTER" if priority == 255 else "BACKUP"
    elif strict and (state == "MASTER") != (priority == 255):
        err("State MASTER must match being address owner")
        state = "MASTER" if priority == 255 else "BACKUP"

    auth: Authentication | None = None
    auth_type = d.get("_auth_type")
    if auth_type is not None:
        if strict:
            err("Strict mode does not support authentication. Ignoring.")
        elif version == 3:
            err("VRRP version 3 does not support authentication. Ignoring.")
        elif not d.get("_auth_pass"):
            err("Authentication specified but no password given. Ignoring")
        elif family == 6 and auth_type == "AH":
            err("Cannot use AH authentication with IPv6. ignoring")
        else:
            if auth_type == "AH" and state == "MASTER" and priority != 255:
                err("Initial state master is incompatible with AH authentication - clearing")
                state = "BACKUP"
            auth = Authentication(auth_type, d["_auth_pass"])

    peers = tuple(d.get("unicast_peer", ()))
    if strict and peers and d.get("interface"):
        err("Unicast peers are not supported in strict mode")
        return None
    if d.get("interface") is None and "unicast_src_ip" not in d:
        err("Unicast instances must have unicast_src_ip or interface")
        return None
    if d.get("_unicast_configured") and not peers and not d.get("unicast_fault_no_peer"):
        err(
            "A unicast keyword has been specified without any unicast peers. Defaulting to multicast."
            " This usage is deprecated - please update your configuration.",
            ErrClass.DEPRECATED,
        )
    if family == 6 and not peers and vips and not vips[0].address.ip.is_link_local and strict:
        err("the first IPv6 VIP address must be link local")

    nopreempt = d.get("nopreempt", False)
    preempt_delay = d.get("preempt_delay", 0.0)
    if priority == 255 and nopreempt:
        err("nopreempt is incompatible with priority 255. resetting nopreempt")
        nopreempt = False
    if state == "MASTER":
        if nopreempt:
            err("Warning - nopreempt will not work with initial state MASTER - clearing")
            nopreempt = False
        if preempt_delay:
            err("Warning - preempt delay will not work with initial state MASTER - clearing")
            preempt_delay = 0.0
    if preempt_delay:
        if strict:
            err("preempt_delay is incompatible with strict mode - resetting")
            preempt_delay = 0.0
        if nopreempt:
            err("preempt_delay is incompatible with nopreempt mode - resetting")
            preempt_delay = 0.0
    down_timer_adverts = d.get("down_timer_adverts", gd.vrrp_down_timer_adverts)
    if down_timer_adverts != 3 and strict:
        err("down_timer_adverts is incompatible with strict mode - resetting")
        down_timer_adverts = 3

    accept = d.get("accept")
    if accept is None:
        accept = True if priority == 255 else not strict
    if accept and priority != 255 and strict and version == 2:
        err("warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting")
        accept = False
    mcast_dst = d.get("mcast_dst_ip")
    if peers and mcast_dst is not None:
        err("multicast destination specified with unicast - ignoring")
        mcast_dst = None

    def strict_default(key: str, global_value: Any, strict_value: Any, message: str) -> Any:
        if key not in d:
            return strict_value if strict else global_value
        if strict and d[key] != strict_value:
            err(message)
            return strict_value
        return d[key]

    lower_rep = strict_default(
        "garp_lower_prio_repeat",
        gd.vrrp_garp_lower_prio_repeat,
        0,
        "Strict mode requires no repeat garps. resetting",
    )
    lower_delay = strict_default(
        "garp_lower_prio_delay",
        gd.vrrp_garp_lower_prio_delay,
        0,
        "Strict mode requires no repeat garp delay. resetting",
    )
    lower_no_adv = strict_default(
        "lower_prio_no_advert",
        gd.vrrp_lower_prio_no_advert,
        True,
        "Strict mode requires no lower priority advert. resetting",
    )
    higher_send = strict_default(
        "higher_prio_send_advert",
        gd.vrrp_higher_prio_send_advert,
        False,
        "strict mode requires higher_prio_send_advert to be clear. resetting",
    )

    sg = d.get("_sync")
    smtp_alert = d.get("smtp_alert")
    if smtp_alert is None:
        smtp_alert = next((v for v in (gd.smtp_alert_vrrp, gd.smtp_alert) if v is not None), False)
    npc = d.get("notify_priority_changes")
    if npc is None:
        npc = (
            sg.get("notify_priority_changes")
            if sg and sg.get("notify_priority_changes") is not None
            else gd.vrrp_notify_priority_changes
        )

    advert = d.get("advert_int", 1.0)
    advert = _round_advert(err, advert, version)

    track = _tracking_from(d)
    own = d.get("interface")
    if own is not None and any(t.name == own for t in track.interfaces):
        err(f"Ignoring track_interface {own} since own interface")
        track = dataclasses.replace(track, interfaces=tuple(t for t in track.interfaces if t.name != own))
    sync_no_weight = sg is not None and not sg.get("sync_group_tracking_weight")
    if sync_no_weight or priority == 255:
        track = _drop_weights(err, track, sync_no_weight)

    vmac = None
    if "_vmac" in d:
        ifname, mac = d["_vmac"]
        if strict and mac:
            err("cannot specify MAC address with strict mode - clearing")
            mac = None
        vmac = Vmac(
            ifname or f"{gd.vmac_prefix}.{d['virtual_router_id']}",
            mac,
            d.get("use_vmac_addr", False),
            d.get("vmac_xmit_base", False) or bool(peers),
        )

    promote_secondaries = d.get("promote_secondaries", False)
    if promote_secondaries and (vmac is not None or d.get("_ipvlan")):
        err("promote_secondaries is automatically set for vmacs - ignoring")
        promote_secondaries = False

    return VrrpInstance(
        name=name,
        state=state,
        interface=d.get("interface"),
        virtual_router_id=d["virtual_router_id"],
        priority=priority,
        advert_int=advert,
        version=version,
        family=family,
        virtual_ipaddress=tuple(vips),
        virtual_ipaddress_excluded=tuple(d.get("virtual_ipaddress_excluded", ())),
        virtual_routes=tuple(d.get("virtual_routes", ())),
        virtual_rules=tuple(d.get("virtual_rules", ())),
        nopreempt=nopreempt,
        preempt_delay=preempt_delay,
        mcast_src_ip=d.get("mcast_src_ip"),
        unicast_src_ip=d.get("unicast_src_ip"),
        mcast_dst_ip=mcast_dst,
        unicast_peer=peers,
        unicast_ttl=d.get("unicast_ttl", 255 if family == 4 else None) if peers else None,
        unicast_fault_no_peer=d.get("unicast_fault_no_peer", False),
        check_unicast_src=d.get("check_unicast_src", gd.vrrp_check_unicast_src),
        old_unicast_checksum=d.get("old_unicast_checksum"),
        track_src_ip=d.get("track_src_ip", False),
        vrf=d.get("vrf"),
        authentication=auth,
        track=track,
        dont_track_primary=d.get("dont_track_primary", False),
        notify=_notify_from(d),
        smtp_alert=smtp_alert,
        notify_priority_changes=npc,
        garp_master_delay=d.get("garp_master_delay", gd.vrrp_garp_master_delay),
        garp_master_repeat=d.get("garp_master_repeat", gd.vrrp_garp_master_repeat),
        garp_master_refresh=d.get("garp_master_refresh", gd.vrrp_garp_master_refresh),
        garp_master_refresh_repeat=d.get("garp_master_refresh_repeat", gd.vrrp_garp_master_refresh_repeat),
        garp_lower_prio_delay=lower_delay,
        garp_lower_prio_repeat=lower_rep,
        garp_extra_if=d.get("garp_extra_if", gd.vrrp_garp_extra_if),
        garp_extra_if_all=d.get(
            "garp_extra_if_all", gd.vrrp_garp_extra_if_all if "garp_extra_if" not in d else False
        ),
        down_timer_adverts=down_timer_adverts,
        lower_prio_no_advert=lower_no_adv,
        higher_prio_send_advert=higher_send,
        accept=accept,
        strict_mode=strict,
        skip_check_adv_addr=d.get("skip_check_adv_addr", gd.vrrp_skip_check_adv_addr),
        vmac=vmac,
        promote_secondaries=promote_secondaries,
        kernel_rx_buf_size=d.get("kernel_rx_buf_size"),
        debug=d.get("debug", 0),
        sync_group=sg["name"] if sg else None,
        loc=loc,
    )


def _round_advert(err: Callable[[str], None], advert: float, version: int) -> float:
    """advert_int rules: v2 whole seconds below 256, v3 centiseconds below 40.96 s."""
    usec = round(advert * 1_000_000)
    if version == 2:
        if usec >= 256 * 1_000_000:
            err(
                f"VRRPv2 advertisement interval {usec / 1e6:.2f}s is out of range. Must be less than 256s."
                " Setting to 255s"
            )
            usec = 255 * 1_000_000
        elif usec % 1_000_000:
            err(f"VRRPv2 advertisement interval {usec / 1e6:f}s must be an integer. rounding")
            usec = (usec + 500_000) // 1_000_000 * 1_000_000 or 1_000_000
    else:
        if usec >= 4096 * 10_000:
            err(
                f"VRRPv3 advertisement interval {usec / 1e6:.2f}s is out of range. Must be less than 40.96s."
                " Setting to 40.95s"
            )
            usec = 4095 * 10_000
        elif usec % 10_000:
            err(f"VRRPv3 advertisement interval {usec / 1e6:f}s must be in units of 10ms - rounding")
            usec = (usec + 5_000) // 10_000 * 10_000 or 10_000
    return usec / 1_000_000


def _drop_weights(err: Callable[[str], None], track: Tracking, sync_no_weight: bool) -> Tracking:
    """Weighted trackers are ignored in sync groups (unless sync_group_tracking_weight) and for owners."""
    why = "SYNC group" if sync_no_weight else "address owner"
    why_ = "SYNC group" if sync_no_weight else "address_owner"
    ifs = []
    for t in track.interfaces:
        if t.weight:
            err(f"ignoring {t.name} tracked interface {'weight ' if sync_no_weight else ''}due to {why}")
            if sync_no_weight:
                ifs.append(dataclasses.replace(t, weight=0))
            continue
        ifs.append(t)
    scripts = []
    for t in track.scripts:
        if t.weight:
            err(f"ignoring tracked script {t.name} with weights due to {why_}")
            continue
        scripts.append(t)
    files = []
    for t in track.files:
        if t.weight == 1:
            err(f"ignoring weight from tracked file {t.name} due to {why_}. specify weight 0")
            files.append(dataclasses.replace(t, weight=0))
        elif t.weight:
            err(f"ignoring tracked file {t.name} with weight {t.weight} due to {why_}")
        else:
            files.append(t)
    bfds = []
    for t in track.bfds:
        if t.weight:
            err(f"ignoring tracked bfd {t.name} with weight {t.weight} due to {why_}")
            continue
        bfds.append(t)
    return Tracking(tuple(ifs), tuple(scripts), tuple(files), track.processes, tuple(bfds))


def _check_vrid_conflicts(ctx: Context, instances: list[VrrpInstance], gd: GlobalDefs) -> None:
    """Two multicast instances with the same VRID, family and group on one interface conflict."""
    seen: dict[tuple[str | None, int, int, str], VrrpInstance] = {}
    for inst in instances:
        if inst.unicast_peer:
            continue
        group = str(inst.mcast_dst_ip or (gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6))
        key = (inst.interface, inst.family, inst.virtual_router_id, group)
        other = seen.get(key)
        if other is not None:
            ctx.error(
                inst.loc,
                f"{inst.name} and {other.name} both use VRID {inst.virtual_router_id} with"
                f" IPv{inst.family} on interface {inst.interface}",
            )
            continue
        seen[key] = inst


# -- render ---------------------------------------------------------------------------------


def _vip_text(v: VirtualAddress, static: bool) -> str:
    from .render import word

    parts = [str(v.address.ip) if v.peer is not None else str(v.address.with_prefixlen)]
    for key, value in (
        ("dev", v.dev),
        ("scope", v.scope),
        ("brd", v.broadcast),
        ("label", v.label),
        ("peer", v.peer.with_prefixlen if v.peer is not None else None),
        ("preferred_lft", v.preferred_lft),
        ("track_group", v.track_group),
    ):
        if value is not None:
            parts += [key, word(str(value))]
    for flag, present in (
        ("home", v.home),
        ("-nodad", v.nodad),
        ("mngtmpaddr", v.mngtmpaddr),
        ("noprefixroute", v.noprefixroute),
        ("autojoin", v.autojoin),
        ("no_track", v.no_track),
        ("use_vmac", v.use_vmac),
    ):
        if present:
            parts.append(flag)
    return " ".join(parts)


def _set_options(*pairs: tuple[str, object]) -> list[str]:
    """``key value`` words for the options that are set (route and rule rendering)."""
    out: list[str] = []
    for key, value in pairs:
        if value is not None:
            out += [key, str(value)]
    return out


def _route_text(r: Route) -> str:
    parts = ["inet6"] if r.family == 6 else []
    if r.type is not None:
        parts.append(r.type)
    parts.append(r.dest)
    parts += _set_options(("via", r.via), ("src", r.src), ("from", r.from_), ("dev", r.dev), ("table", r.table),
                          ("metric", r.metric), ("scope", r.scope), ("protocol", r.protocol),
                          ("track_group", r.track_group))
    parts += r.options
    if r.no_track:
        parts.append("no_track")
    for hop in r.nexthops:
        parts += ["nexthop", *hop]
    return " ".join(parts)


def _rule_text(r: Rule) -> str:
    parts = ["inet6"] if r.family == 6 else []
    if r.invert:
        parts.append("not")
    parts += _set_options(("from", r.from_), ("to", r.to), ("preference", r.preference), ("iif", r.iif),
                          ("oif", r.oif), ("track_group", r.track_group))
    parts += r.options
    if r.action == "table":
        parts += ["table", str(r.table)]
    elif r.action is not None:
        parts.append(r.action)
    if r.no_track:
        parts.append("no_track")
    return " ".join(parts)


def _track_lines(track: Tracking) -> list[str]:
    out: list[str] = []
    for kw, refs in (
        ("track_interface", track.interfaces),
        ("track_script", track.scripts),
        ("track_file", track.files),
        ("track_process", track.processes),
        ("track_bfd", track.bfds),
    ):
        if refs:
            out.append(f"{kw} {{")
            out += [f"  {t.name} weight {t.weight}" + (" reverse" if t.reverse else "") for t in refs]
            out.append("}")
    return out


def _notify_lines(n: NotifyScripts) -> list[str]:
    from .render import script_line

    out = []
    for kw, s in (
        ("notify_master", n.master),
        ("notify_backup", n.backup),
        ("notify_fault", n.fault),
        ("notify_stop", n.stop),
        ("notify_deleted", n.deleted),
        ("notify_master_rx_lower_pri", n.master_rx_lower_pri),
        ("notify", n.generic),
    ):
        if s is not None:
            out.append(script_line(kw, s))
    if n.deleted_state and n.deleted is None:
        out.append("notify_deleted")
    return out


def _block(head: str, body: list[str]) -> list[str]:
    return [f"{head} {{", *(f"  {b}" for b in body), "}"]


def _opt_lines(pairs: list[tuple[str, Any]]) -> list[str]:
    """``keyword value`` for every value that is set (True: the bare keyword)."""
    from .render import word

    out = []
    for kw, value in pairs:
        if value is None or value is False:
            continue
        out.append(kw if value is True else f"{kw} {word(_fmt(value))}")
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _instance_lines(i: VrrpInstance) -> list[str]:
    from .render import word

    body = [
        f"state {i.state}",
        f"virtual_router_id {i.virtual_router_id}",
        f"priority {i.priority}",
        f"advert_int {_fmt(i.advert_int)}",
        f"version {i.version}",
    ]
    if i.family == 6 and not i.virtual_ipaddress:
        body.append("native_ipv6")
    body += _opt_lines(
        [
            ("interface", i.interface),
            ("vrf", i.vrf),
            ("nopreempt", i.nopreempt),
            ("preempt_delay", i.preempt_delay or None),
            ("mcast_src_ip", i.mcast_src_ip),
            ("unicast_src_ip", i.unicast_src_ip),
            ("mcast_dst_ip", i.mcast_dst_ip),
            ("unicast_ttl", i.unicast_ttl),
            ("unicast_fault_no_peer", i.unicast_fault_no_peer),
            ("check_unicast_src", i.check_unicast_src),
            ("old_unicast_checksum", i.old_unicast_checksum),
            ("track_src_ip", i.track_src_ip),
            ("dont_track_primary", i.dont_track_primary),
            ("garp_master_delay", i.garp_master_delay),
            ("garp_master_repeat", i.garp_master_repeat),
            ("garp_master_refresh", i.garp_master_refresh),
            # 0 only comes from the global vrrp_min_garp (the keyword itself corrects 0 to 1)
            ("garp_master_refresh_repeat", i.garp_master_refresh_repeat or None),
            ("garp_lower_prio_delay", i.garp_lower_prio_delay),
            ("garp_lower_prio_repeat", i.garp_lower_prio_repeat),
            ("down_timer_adverts", i.down_timer_adverts),
            ("promote_secondaries", i.promote_secondaries),
            ("kernel_rx_buf_size", i.kernel_rx_buf_size),
            ("debug", i.debug or None),
        ]
    )
    if i.garp_extra_if is not None:
        body.append(f"garp_extra_if {'all ' if i.garp_extra_if_all else ''}{i.garp_extra_if}")
    for kw, value in (
        ("smtp_alert", i.smtp_alert),
        ("notify_priority_changes", i.notify_priority_changes),
        ("lower_prio_no_advert", i.lower_prio_no_advert),
        ("higher_prio_send_advert", i.higher_prio_send_advert),
        ("strict_mode", i.strict_mode),
        ("skip_check_adv_addr", i.skip_check_adv_addr),
    ):
        body.append(f"{kw} {'true' if value else 'false'}")
    body.append("accept" if i.accept else "no_accept")
    if i.vmac is not None:
        body.append(" ".join(["use_vmac", word(i.vmac.ifname), *([i.vmac.mac] if i.vmac.mac else [])]))
        body += _opt_lines([("use_vmac_addr", i.vmac.use_vmac_addr), ("vmac_xmit_base", i.vmac.xmit_base)])
    if i.authentication is not None:
        body += _block(
            "authentication",
            [f"auth_type {i.authentication.type}", f"auth_pass {word(i.authentication.password)}"],
        )
    if i.unicast_peer:
        body += _block(
            "unicast_peer",
            [
                " ".join(
                    [
                        str(p.address),
                        *(
                            f"{k} {v}"
                            for k, v in (("min_ttl", p.min_ttl), ("max_ttl", p.max_ttl))
                            if v is not None
                        ),
                    ]
                )
                for p in i.unicast_peer
            ],
        )
    for kw, vips in (
        ("virtual_ipaddress", i.virtual_ipaddress),
        ("virtual_ipaddress_excluded", i.virtual_ipaddress_excluded),
    ):
        if vips:
            body += _block(kw, [_vip_text(v, False) for v in vips])
    if i.virtual_routes:
        body += _block("virtual_routes", [_route_text(r) for r in i.virtual_routes])
    if i.virtual_rules:
        body += _block("virtual_rules", [_rule_text(r) for r in i.virtual_rules])
    body += _track_lines(i.track)
    body += _notify_lines(i.notify)
    return _block(f"vrrp_instance {word(i.name)}", body)


def render(vrrp: VrrpConfig) -> str:
    """keepalived syntax for the VRRP configuration (definitions before their users)."""
    from .render import script_line, word

    out: list[str] = []
    for s in vrrp.vrrp_scripts:
        body = [
            script_line("script", s.script),
            f"interval {_fmt(s.interval)}",
            f"weight {s.weight}" + (" reverse" if s.weight_reverse else ""),
            f"rise {s.rise}",
            f"fall {s.fall}",
        ]
        body += _opt_lines([("timeout", s.timeout), ("init_fail", s.init_fail)])
        if s.user is not None:
            body.append(" ".join(word(x) for x in ("user", s.user, s.group) if x))
        out += _block(f"vrrp_script {word(s.name)}", body)
    for f in vrrp.track_files:
        body = [f"file {word(f.file)}", f"weight {f.weight}" + (" reverse" if f.weight_reverse else "")]
        if f.init_file is not None:
            body.append(f"init_file {f.init_file}" + (" overwrite" if f.init_file_overwrite else ""))
        out += _block(f"track_file {word(f.name)}", body)
    for p in vrrp.track_processes:
        body = [
            " ".join([word(x) for x in (p.process, *(p.args or ()))]).join(("process ", "")),
            f"weight {p.weight}" + (" reverse" if p.weight_reverse else ""),
            f"quorum {p.quorum}",
        ]
        body += _opt_lines(
            [
                ("param_match", p.param_match),
                ("quorum_max", p.quorum_max),
                ("delay", p.delay),
                ("terminate_delay", p.terminate_delay),
                ("fork_delay", p.fork_delay),
                ("full_command", p.full_command),
            ]
        )
        out += _block(f"vrrp_track_process {word(p.name)}", body)
    for b in vrrp.bfd_instances:
        body = _opt_lines(
            [
                ("neighbor_ip", b.neighbor_ip),
                ("source_ip", b.source_ip),
                ("min_rx", b.min_rx),
                ("min_tx", b.min_tx),
                ("idle_tx", b.idle_tx),
                ("multiplier", b.multiplier),
                ("passive", b.passive),
                ("ttl", b.ttl),
                ("max_hops", b.max_hops),
                ("vrrp", b.vrrp),
                ("checker", b.checker),
            ]
        )
        body.append(f"weight {b.weight}" + (" reverse" if b.weight_reverse else ""))
        out += _block(f"bfd_instance {word(b.name)}", body)
    for t in vrrp.track_groups:
        out += _block(f"track_group {word(t.name)}", _block("group", [word(m) for m in t.group]))
    for g in vrrp.garp_groups:
        body = _opt_lines([("garp_interval", g.garp_interval), ("gna_interval", g.gna_interval)])
        body += _block("interfaces", list(g.interfaces))
        out += _block("garp_group", body)
    for kw, items in (
        (
            "linkbeat_interfaces",
            [" ".join(filter(None, (x.interface, x.mode))) for x in vrrp.linkbeat_interfaces],
        ),
        (
            "interface_up_down_delays",
            [f"{x.interface} {_fmt(x.down_delay)} {_fmt(x.up_delay)}" for x in vrrp.interface_up_down_delays],
        ),
        ("static_ipaddress", [_vip_text(v, True) for v in vrrp.static_ipaddress]),
        ("static_routes", [_route_text(r) for r in vrrp.static_routes]),
        ("static_rules", [_rule_text(r) for r in vrrp.static_rules]),
    ):
        if items:
            out += _block(kw, items)
    for i in vrrp.instances:
        out += _instance_lines(i)
    for sg in vrrp.sync_groups:
        body = _block("group", list(sg.group)) + _track_lines(sg.track) + _notify_lines(sg.notify)
        for kw, value in (
            ("smtp_alert", sg.smtp_alert),
            ("notify_priority_changes", sg.notify_priority_changes),
        ):
            if value is not None:
                body.append(f"{kw} {'true' if value else 'false'}")
        if sg.sync_group_tracking_weight:
            body.append("sync_group_tracking_weight")
        out += _block(f"vrrp_sync_group {word(sg.name)}", body)
    return "\n".join(out) + ("\n" if out else "")


def _notify_scripts(notify: NotifyScripts) -> Iterator[Script]:
    for s in (notify.master, notify.backup, notify.fault, notify.stop, notify.deleted,
              notify.master_rx_lower_pri, notify.generic):
        if s is not None:
            yield s


def iter_scripts(vrrp: VrrpConfig) -> Iterator[Script]:
    """Every script the VRRP side may run, in model field order (instances' notify scripts,
    sync groups' notify scripts, vrrp_script commands).

    Lets script-security checks visit just these instead of walking the whole model.
    """
    for inst in vrrp.instances:
        yield from _notify_scripts(inst.notify)
    for sg in vrrp.sync_groups:
        yield from _notify_scripts(sg.notify)
    for vs in vrrp.vrrp_scripts:
        yield vs.script
