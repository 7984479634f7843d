"""``pykeepalived -t`` and ``pykeepalived config show``.

``-t`` (``config_test``) prints every problem as ``FILE:LINE:COL: error|warning|note: message``
(keepalived's message text, plus a hint where the fix is obvious) and returns keepalived
2.2.7's exit status: 0 ok, 2 a keyword missing its parameter, 4 file/interface problems only,
5 any other error, 6 scripts configured without ``enable_script_security``.

``config show`` prints the effective model as JSON (indent 2, keys in model field order), so
two configs can be diffed after includes, conditionals and macros.  The schema is the model:
``{"global_defs": GlobalDefs, "vrrp": VrrpConfig, "lvs": LvsConfig, "files": [...],
"config_id": ...}`` with the fields of :mod:`.model_global`, :mod:`.model_vrrp` and
:mod:`.model_lvs`; addresses are strings, times are seconds, enums their values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO

from .loader import LoadResult, load_config, load_for_config_test
from .model import to_jsonable

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def _interfaces(spec: str | None) -> frozenset[str] | None:
    """``--interfaces lo,eth0`` -> that set; None: ask this machine."""
    if spec is None:
        return None
    return frozenset(x.strip() for x in spec.split(",") if x.strip())


def _load(args: argparse.Namespace) -> LoadResult:
    return load_config(args.config_file, config_id=args.config_id, interfaces=_interfaces(args.interfaces),
                       all_config=getattr(args, "all_config", False))


def _load_for_test(args: argparse.Namespace) -> LoadResult:
    """As ``keepalived -t``: in the network namespace of ``-s`` or of the config's ``net_namespace``."""
    return load_for_config_test(args.config_file, config_id=args.config_id, interfaces=_interfaces(args.interfaces),
                                namespace=getattr(args, "namespace", None) or None,
                                all_config=getattr(args, "all_config", False))


def print_diagnostics(result: LoadResult, out: TextIO) -> None:
    for d in result.diagnostics:
        print(str(d), file=out)


def config_test(args: argparse.Namespace) -> int:
    """``pykeepalived -t [-f FILE] [--config-test=LOGFILE]``: keepalived's exit status."""
    log_file = None
    if args.config_test and args.config_test != "-":
        # as keepalived opens it: append, create 0644, never through a symbolic link
        try:
            fd = os.open(args.config_test, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644)
        except OSError as e:
            print(f"Unable to open config-test log file {args.config_test} {e.errno} - {e.strerror}",
                  file=sys.stderr)
            return 1
        log_file = open(fd, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    result = _load_for_test(args)
    try:
        print_diagnostics(result, log_file or sys.stderr)
    finally:
        if log_file is not None:
            log_file.close()
    return result.diagnostics.config_test_exit_code()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (__doc__ or "").split("\n\n", 1)[0] + (
        "\n\nshow: print the effective configuration model as JSON (stable key order); problems go to stderr."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = sub.add_parser(
        "show",
        help="print the effective configuration as JSON",
        description="Print the effective configuration model (after includes, conditionals, "
        "macros and keepalived's defaults) as JSON.",
    )
    show.add_argument(
        "-f",
        "--use-file",
        dest="config_file",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default {DEFAULT_CONFIG})",
    )
    show.add_argument(
        "-i",
        "--config-id",
        dest="config_id",
        default=None,
        metavar="ID",
        help="config id for @ID conditional lines (default: short host name)",
    )
    show.add_argument(
        "--interfaces",
        default=None,
        metavar="IF,IF...",
        help="treat exactly these interfaces as existing (default: this machine's)",
    )


def run(args: argparse.Namespace) -> int:
    """``config show``: JSON on stdout, diagnostics on stderr; status 1 if nothing could be loaded."""
    result = _load(args)
    print_diagnostics(result, sys.stderr)
    if result.config is None:
        return 1
    json.dump(to_jsonable(result.config), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
