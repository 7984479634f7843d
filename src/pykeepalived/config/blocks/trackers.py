"""The tracker definitions VRRP instances and sync groups refer to: ``vrrp_script``, ``track_file``
(``vrrp_track_file``), ``vrrp_track_process`` and ``bfd_instance`` (keepalived's vrrp_parser.c).
Each block's end records the tracker's (weight, reverse) in ``ctx.shared`` for the ``track_*``
blocks that name it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from ..errors import ErrClass
from ..lines import LogicalLine, Word
from ..model_vrrp import (
    BfdInstance,
    TrackFile,
    TrackProcess,
    VrrpScript,
)
from ..parser import Block, Context, Draft, Handler, SkipLine, model_fields
from ..scripts import script_from_line
from .common import (
    UINT_MAX,
    Scalar,
    append_end,
    block_name,
    end_loc,
    install_scalars,
    items,
    tracker_weight,
    uniq_begin,
    weighted_build,
)

# -- vrrp_script ----------------------------------------------------------------------------

VRRP_SCRIPT = Block("vrrp_script", begin=uniq_begin("vrrp script", "vrrp_script", "vrrp_script",
                                                              fatal_name=True))


@VRRP_SCRIPT.keyword("script")
def _vs_script(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        return  # keepalived reads no script; the block's end says "No script set for vrrp_script ..."
    # set_script_params_array: only word 1 is the command (re-split); words after it are dropped
    # (a vrrp_script's user is its own `user` keyword, not words 2 and 3 as for notify scripts)
    draft["script"] = replace(script_from_line(ctx, line), user=None, group=None)


install_scalars(
    VRRP_SCRIPT,
    [
        Scalar(kw, "timer", 0, 4294.967295, "({name}): vrrp script {kw} '{arg}' invalid - ignoring",
               zero="({name}): vrrp script {kw} must be greater than 0, setting to 1")
        for kw in ("interval", "timeout")
    ],
)


VRRP_SCRIPT.keyword("weight")(tracker_weight(
    "vrrp_script", 253, "vrrp_script {name} weight {arg} must be in [-253, 253]"))


install_scalars(
    VRRP_SCRIPT,
    [
        Scalar(kw, "int", 1, UINT_MAX, "({name}): vrrp script {kw} value '{arg}' invalid, defaulting to 1",
               fallback=1)
        for kw in ("rise", "fall")
    ],
)


@VRRP_SCRIPT.keyword("user")
def _vs_user(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["user"] = ctx.string(line)
    if len(line.words) > 2:
        draft["group"] = line.words[2].text


@VRRP_SCRIPT.keyword("init_fail")
def _vs_init_fail(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["init_fail"] = True


_build_vrrp_script = weighted_build(
    VrrpScript, "script", "No script set for vrrp_script {name} - removing", "vrrp_script_weights"
)


VRRP_SCRIPT.end = append_end("vrrp_scripts", _build_vrrp_script)

# -- track_file ----------------------------------------------------------------------------

TRACK_FILE = Block("track_file", begin=uniq_begin("track_file", "track_file", "track_file", fatal_name=True))


TRACK_FILE.string_keyword("file", "file", "track file file name missing")


TRACK_FILE.keyword("weight")(tracker_weight(
    "track_file", 254, "Weight for {name} must be between [-254..254] inclusive. Ignoring...",
    "No weight specified for track file {name} - ignoring"))


@TRACK_FILE.keyword("init_file")
def _tf_init(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["init_file"] = 0
    for i in range(1, len(line.words)):
        if line.words[i].text == "overwrite":
            draft["init_file_overwrite"] = True
        else:
            draft["init_file"] = ctx.integer(line, i, -2147483648, 2147483647)


_build_track_file = weighted_build(
    TrackFile, "file", "No file set for track_file {name} - removing", "track_file_weights", default_weight=1
)


TRACK_FILE.end = append_end("track_files", _build_track_file)

# -- vrrp_track_process ---------------------------------------------------------------------

TRACK_PROCESS = Block(
    "vrrp_track_process", begin=uniq_begin("track_process", "vrrp_track_process", "track_process", fatal_name=True)
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


TRACK_PROCESS.keyword("weight")(tracker_weight(
    "vrrp_track_process", 254, "Weight ({arg}) for vrrp_track_process {name} must be between [-254..254]",
    "No weight specified for track process {name} - ignoring"))


install_scalars(
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


_build_track_process = weighted_build(
    TrackProcess, "process", "track process '{name}' process name not specified",
    "track_process_weights",
)


TRACK_PROCESS.end = append_end("track_processes", _build_track_process)

# -- bfd_instance ---------------------------------------------------------------------------
# keepalived 2.2.7's bfd/bfd_parser.c and bfd/bfd_data.c (alloc_bfd, find_bfd_by_addr); the VRRP and checker
# processes parse the same block for its name only (vrrp/vrrp_track.c: alloc_vrrp_tracked_bfd;
# bfd_checker_handler), so their messages come too, and the names they know go in ctx.shared
# ("bfd_weights" for track_bfd, "bfd_checker_names" for BFD_CHECK).

#: BFD_INAME_MAX (including the NUL)
BFD_NAME_MAX = 32
#: keepalived's ranges, in ms (bfd.h)
BFD_MS_RANGES = {"min_rx": (1, 4294967), "min_tx": (1, 4294967), "idle_tx": (1000, 4294967)}
BFD_TTL_DEFAULT_V4, BFD_HOPLIMIT_DEFAULT_V6 = 255, 64


def _bfd_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    name = block_name(ctx, line, "bfd_instance")
    seen = ctx.shared.setdefault("names:bfd", set())
    if len(name) >= BFD_NAME_MAX:
        ctx.error(line, f"BFD name {name} too long")
        ctx.error(line, f"Configuration error: BFD instance {name} name too long (maximum length is "
                        f"{BFD_NAME_MAX - 1} characters) - ignoring")
        raise SkipLine
    if name in seen:
        ctx.error(line, f"BFD {name} already specified")
        ctx.error(line, f"Configuration error: BFD instance {name} already configured - ignoring")
        raise SkipLine
    seen.add(name)
    return {"name": name, "_loc": line.loc, "_neighbor_word": "neighbor"}


def _bfd_neighbor(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line)
    if line.keyword == "neighbour_ip":
        draft["_neighbor_word"] = "neighbour"
    try:
        draft["neighbor_ip"] = ipaddress.ip_address(text)
    except ValueError:
        ctx.error(line, f"Configuration error: BFD instance {draft['name']} has malformed "
                        f"{draft['_neighbor_word']} address {text}, ignoring instance")
        draft["_dead"] = True  # keepalived frees the instance and skips the rest of the block


def _bfd_source(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft.get("_dead"):
        return
    text = ctx.string(line)
    try:
        draft["source_ip"] = ipaddress.ip_address(text)
    except ValueError:
        ctx.error(line, f"Configuration error: BFD instance {draft['name']} has malformed source address "
                        f"{text}, ignoring")


def _bfd_ms(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """min_rx / min_tx / idle_tx: ms with up to 3 decimal places (keepalived's read_decimal_unsigned_strvec,
    shift 3); stored in ms."""
    if draft.get("_dead"):
        return
    lo, hi = BFD_MS_RANGES[line.keyword]
    w = ctx.arg(line, 1)
    text = w.text
    invalid = (f"Configuration error: BFD instance {draft['name']} {line.keyword} value {text} is not valid "
               f"(must be in range [{lo}-{hi}]), ignoring")
    micro = _decimal3(ctx, w, text, lo * 1000, hi * 1000)
    if micro is None:
        ctx.error(line, invalid)
        return
    draft[line.keyword] = micro / 1000


def _decimal3(ctx: Context, w: Word, text: str, lo: int, hi: int) -> int | None:
    if text.startswith("-"):
        ctx.error(w, f"negative number '{text}'", cls=ErrClass.INVALID_NUMBER)
        return None
    whole, _dot, frac = text.partition(".")
    round_up = False
    if len(frac) > 3:
        ctx.error(w, f"number '{text}' has too many decimal places", cls=ErrClass.INVALID_NUMBER)
        round_up = frac[3] >= "5"
        frac = frac[:3]
    digits = whole + frac.ljust(3, "0")
    if not digits.isdigit() or not digits.isascii():
        ctx.error(w, f"invalid number '{text}'", cls=ErrClass.INVALID_NUMBER)
        return None
    value = int(digits) + round_up
    if not lo <= value <= hi:
        ctx.error(w, f"number '{text}' outside range [{lo // 1000}.{lo % 1000:03d}, {hi // 1000}.{hi % 1000:03d}]",
                  cls=ErrClass.INVALID_NUMBER)
        return None
    return value


def _bfd_int(field: str, lo: int, hi: int, what: str) -> Handler:
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        if draft.get("_dead"):
            return
        try:
            draft[field] = ctx.integer(line, 1, lo, hi)
        except SkipLine:
            if len(line.words) > 1:
                ctx.error(line, f"Configuration error: BFD instance {draft['name']} {what} value "
                                f"{line.words[1].text} not valid (must be in range [{lo}-{hi}]), ignoring")
            raise

    return handle


def _bfd_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """Read by keepalived's VRRP process only (bfd_vrrp_weight_handler)."""
    name = draft["name"]
    try:
        draft["weight"] = ctx.integer(line, 1, -253, 253)
    except SkipLine:
        if len(line.words) < 2:
            raise
        ctx.error(line, f"Configuration error: BFD instance {name} weight value {line.words[1].text} not valid "
                        "(must be in range [-253-253]), ignoring")
    if len(line.words) >= 3:
        if line.words[2].text == "reverse":
            draft["weight_reverse"] = True
        else:
            ctx.error(line, f"Configuration error: BFD instance {name} unknown weight option {line.words[2].text}")


def _bfd_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    name = draft["name"]
    vrrp_flag, checker_flag = draft.get("vrrp", False), draft.get("checker", False)
    to_vrrp = vrrp_flag or not checker_flag
    to_checker = checker_flag or not vrrp_flag
    # the VRRP and checker processes know the name whatever the BFD process makes of the block
    if to_vrrp:
        ctx.shared.setdefault("bfd_weights", {})[name] = (draft.get("weight", 0), draft.get("weight_reverse", False))
    if to_checker:
        ctx.shared.setdefault("bfd_checker_names", set()).add(name)
    if draft.get("_dead"):
        return
    where = end_loc(draft)
    nbr_word = draft["_neighbor_word"]
    nbr = draft.get("neighbor_ip")
    if nbr is None:
        ctx.error(where, f"Configuration error: BFD instance {name} has no {nbr_word} address set, "
                         "disabling instance")
        return
    src = draft.get("source_ip")
    if src is not None and src.version != nbr.version:
        ctx.error(where, f"Configuration error: BFD instance {name} source address {src} and {nbr_word} "
                         f"address {nbr} are not of the same family, disabling instance")
        return
    for other in items(parent, "bfd_instances"):
        # find_bfd_by_addr(): same neighbour, and either has no source or the sources are equal
        if other.neighbor_ip == nbr and (other.source_ip is None or src is None or other.source_ip == src):
            if src is not None:
                ctx.error(where, f"Configuration error: BFD instance {name} has duplicate source/{nbr_word} "
                                 f"address {src}/{nbr}, ignoring instance")
            else:
                ctx.error(where, f"Configuration error: BFD instance {name} has duplicate {nbr_word} address "
                                 f"{nbr}, ignoring instance")
            return
    ttl = draft.get("ttl") or (BFD_HOPLIMIT_DEFAULT_V6 if nbr.version == 6 else BFD_TTL_DEFAULT_V4)
    max_hops = draft.get("max_hops", 0)
    if max_hops < 0:
        max_hops = 255  # keepalived keeps it in a uint8_t: -1 is 255, "no TTL check"
    if max_hops > ttl:
        ctx.error(where, f"BFD instance {name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit")
        max_hops = ttl
    fields = {k: v for k, v in model_fields(draft).items() if k in BFD_FIELDS}
    fields.update(ttl=ttl, max_hops=max_hops, vrrp=to_vrrp, checker=to_checker)
    items(parent, "bfd_instances").append(BfdInstance(**fields))


BFD_FIELDS = frozenset(BfdInstance.__dataclass_fields__)
BFD_INSTANCE = Block("bfd_instance", begin=_bfd_begin, end=_bfd_end)
for _kw in ("neighbor_ip", "neighbour_ip"):
    BFD_INSTANCE.keyword(_kw)(_bfd_neighbor)
BFD_INSTANCE.keyword("source_ip")(_bfd_source)
for _kw in BFD_MS_RANGES:
    BFD_INSTANCE.keyword(_kw)(_bfd_ms)
BFD_INSTANCE.keyword("multiplier")(_bfd_int("multiplier", 1, 255, "multiplier"))
BFD_INSTANCE.keyword("ttl")(_bfd_int("ttl", 1, 255, "ttl/hoplimit"))
BFD_INSTANCE.keyword("hoplimit")(_bfd_int("ttl", 1, 255, "ttl/hoplimit"))
BFD_INSTANCE.keyword("max_hops")(_bfd_int("max_hops", -1, 255, "max_hops"))
BFD_INSTANCE.keyword("weight")(_bfd_weight)
install_scalars(BFD_INSTANCE, [Scalar("passive", "flag"), Scalar("vrrp", "flag"), Scalar("checker", "flag")])


def register_scripts(root: Block) -> None:
    root.sub("vrrp_script", VRRP_SCRIPT)
    root.sub("track_file", TRACK_FILE)
    root.sub("vrrp_track_file", TRACK_FILE)
    # keepalived only logs this (it is not a config error)
    root.keywords["vrrp_track_file"].note = '"vrrp_track_file" is deprecated, please use "track_file"'
    root.sub("vrrp_track_process", TRACK_PROCESS)


def register_bfd(root: Block) -> None:
    """bfd_instance: run by the BFD process (pykeepalived.bfd)."""
    root.sub("bfd_instance", BFD_INSTANCE)
