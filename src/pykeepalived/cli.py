"""The ``pykeepalived`` command.

``pykeepalived [keepalived options]`` runs the daemon (or ``-t`` tests the config), exactly as
keepalived's command line does.  Extra tools are subcommands: ``config show``, ``genhash``,
``status``, ``plan``, ``lab``.  Each subcommand lives in the package it belongs to and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "config": ("pykeepalived.config.cli",
               "inspect a keepalived.conf (config show: the effective model as JSON)"),
    "genhash": ("pykeepalived.check.genhash", "MD5 digest of a web page, as keepalived's genhash"),
    "status": ("pykeepalived.status.cli", "show a running daemon's VRRP instances and virtual server table"),
    "plan": ("pykeepalived.lvs.plan", "print the data-plane changes a configuration needs, without applying them"),
    "lab": ("pykeepalived.lab.cli", "the seed scenario in network namespaces: lab up|demo|down (root)"),
}

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"


def daemon_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pykeepalived",
        allow_abbrev=False,
        description=(
            "A keepalived-compatible high-availability load balancer. Reads keepalived.conf unchanged.\n"
            "Subcommands: " + ", ".join(SUBCOMMANDS) + " (pykeepalived SUBCOMMAND --help)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-f", "--use-file", dest="config_file", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configuration file (default {DEFAULT_CONFIG})")
    p.add_argument("-t", "--config-test", dest="config_test", nargs="?", const="-", default=None,
                   metavar="LOGFILE",
                   help="check the configuration and exit with keepalived's status codes "
                        "(0 ok, 2 missing parameter, 4 file/interface, 5 errors, 6 script security); "
                        "messages go to stderr or LOGFILE")
    p.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                   help="config id for @ID conditional lines (default: short host name)")
    p.add_argument("--interfaces", default=None, metavar="IF,IF...",
                   help="with -t: check interface names against this list instead of this machine's")
    p.add_argument("-P", "--vrrp", action="store_true", help="run only the VRRP subsystem")
    p.add_argument("-C", "--check", action="store_true", help="run only the health checkers and LVS")
    p.add_argument("-n", "--dont-fork", action="store_true", help="stay in the foreground")
    p.add_argument("-l", "--log-console", action="store_true", help="log to the console")
    p.add_argument("-D", "--log-detail", action="store_true", help="detailed log messages")
    p.add_argument("-p", "--pid", dest="pid_file", default=None, metavar="FILE", help="main pid file")
    p.add_argument("-r", "--vrrp_pid", dest="vrrp_pid_file", default=None, metavar="FILE",
                   help="VRRP pid file")
    p.add_argument("-c", "--checkers_pid", dest="checkers_pid_file", default=None, metavar="FILE",
                   help="checkers pid file")
    p.add_argument("-V", "--dont-release-vrrp", action="store_true",
                   help="leave VIPs and routes in place when stopping")
    p.add_argument("-I", "--dont-release-ipvs", action="store_true",
                   help="leave the virtual server table in place when stopping")
    p.add_argument("-R", "--dont-respawn", action="store_true", help="do not restart a child that died")
    p.add_argument("--dataplane", default="auto", choices=["auto", "ipvs", "nftables", "proxy"],
                   help="how virtual servers are forwarded: ipvs (kernel IPVS), nftables (kernel DNAT, "
                        "for kernels without ip_vs), auto = ipvs if available else nftables (default)")
    p.add_argument("--control", default=None, metavar="PATH",
                   help="control socket for `pykeepalived status` (default: beside the pid file, X.pid -> X.ctl)")
    p.add_argument("--listen", default=None, metavar="HOST:PORT",
                   help="also serve the status JSON, Prometheus /metrics and the dashboard on this TCP address")
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "genhash":
        # genhash keeps keepalived's getopt_long parsing and messages, so argparse stays out of it
        from pykeepalived.check.genhash import run_argv

        return run_argv(["genhash", *args_list[1:]], "genhash")
    if args_list and args_list[0] in SUBCOMMANDS:
        name = args_list[0]
        module_name, help_text = SUBCOMMANDS[name]
        module = importlib.import_module(module_name)
        sub = argparse.ArgumentParser(prog=f"pykeepalived {name}", description=help_text, allow_abbrev=False)
        module.add_arguments(sub)
        return int(module.run(sub.parse_args(args_list[1:])) or 0)

    args = daemon_parser().parse_args(args_list)
    if args.version:
        from pykeepalived import __version__

        print(f"pykeepalived {__version__}")
        return 0
    if args.config_test is not None:
        from pykeepalived.config.cli import config_test

        return config_test(args)
    from pykeepalived.daemon.options import DaemonOptions
    from pykeepalived.daemon.supervisor import run_daemon

    return run_daemon(DaemonOptions.from_args(args), detach=not args.dont_fork)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
