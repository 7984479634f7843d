"""The tracker definitions VRRP instances and sync groups refer to: ``vrrp_script``, ``track_file``
(``vrrp_track_file``), ``vrrp_track_process`` and ``bfd_instance`` (keepalived's vrrp_parser.c).
Each block's end records the tracker's (weight, reverse) in ``ctx.shared`` for the ``track_*``
blocks that name it.
"""

from __future__ import annotations

import ipaddress

from ..lines import LogicalLine
from ..model_vrrp import (
    BfdInstance,
    TrackFile,
    TrackProcess,
    VrrpScript,
)
from ..parser import Block, Context, Draft, Handler
from ..scripts import script_from_line
from .common import UINT_MAX, Scalar, append_end, install_scalars, tracker_weight, uniq_begin, weighted_build

# -- vrrp_script ----------------------------------------------------------------------------

VRRP_SCRIPT = Block("vrrp_script", begin=uniq_begin("vrrp script", "vrrp_script", "vrrp_script"))


@VRRP_SCRIPT.keyword("script")
def _vs_script(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        return  # keepalived reads no script; the block's end says "No script set for vrrp_script ..."
    draft["script"] = script_from_line(ctx, line)


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

TRACK_FILE = Block("track_file", begin=uniq_begin("track_file", "track_file", "track_file"))


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
    "vrrp_track_process", begin=uniq_begin("track_process", "vrrp_track_process", "track_process")
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

BFD_INSTANCE = Block("bfd_instance", begin=uniq_begin("BFD", "bfd_instance", "bfd"))


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
install_scalars(
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


BFD_INSTANCE.keyword("weight")(tracker_weight(
    "bfd_instance", 253, "weight value {arg} not valid (must be in range [-253,253]), ignoring"))


_build_bfd = weighted_build(
    BfdInstance, "neighbor_ip", "BFD instance {name} has no neighbor_ip, disabling instance",
    "bfd_weights",
)


BFD_INSTANCE.end = append_end("bfd_instances", _build_bfd)


def register_scripts(root: Block) -> None:
    root.sub("vrrp_script", VRRP_SCRIPT)
    root.sub("track_file", TRACK_FILE)
    root.sub("vrrp_track_file", TRACK_FILE)
    # keepalived only logs this (it is not a config error)
    root.keywords["vrrp_track_file"].note = '"vrrp_track_file" is deprecated, please use "track_file"'
    root.sub("vrrp_track_process", TRACK_PROCESS)


def register_bfd(root: Block) -> None:
    root.sub("bfd_instance", BFD_INSTANCE)
    root.unsupported("bfd_instance")
