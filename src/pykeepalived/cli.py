"""The ``pykeepalived`` command.

``pykeepalived [keepalived options]`` runs the daemon (or ``-t`` tests the config), exactly as
keepalived 2.2.7's command line does: the same options, parsed the same way (glibc ``getopt_long``
with keepalived's option string, so ``-tFILE`` takes a log file and ``-t FILE`` does not), the same
messages and exit statuses (``-x``/``-A`` start the AgentX subagent, :mod:`pykeepalived.snmp`).
Extra tools are subcommands: ``config show``, ``genhash``, ``status``, ``plan``, ``lab``.
Each lives in the package it belongs to and exposes ``add_arguments(parser)`` and ``run(args) ->
int``; this module only parses and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pykeepalived.getopt import NO_ARGUMENT, OPTIONAL_ARGUMENT, REQUIRED_ARGUMENT, GetoptLong

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "config": ("pykeepalived.config.cli",
               "inspect a keepalived.conf (config show: the effective model as JSON)"),
    "genhash": ("pykeepalived.check.genhash", "MD5 digest of a web page, as keepalived's genhash"),
    "status": ("pykeepalived.status.cli", "show a running daemon's VRRP instances and virtual server table"),
    "ctl": ("pykeepalived.status.ctl", "change a running daemon: drain, weight, disable a real server, hand over"),
    "plan": ("pykeepalived.plan", "print the data-plane changes a configuration needs, without applying them"),
    "lab": ("pykeepalived.lab.cli",
            "labs in network namespaces (root): lab up|demo|down (the seed), lab scaleout up|demo|down"),
}

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
DATAPLANES = ("auto", "ipvs", "nftables", "proxy")

#: keepalived 2.2.7's option string (Debian's build: VRRP, LVS, BFD, SNMP) and long options, in its order
SHORTOPTS = ":vhlndu:DRS:f:p:i:es:mM::g::Gt::PCr:VXac:ITBb:xA:"
LONGOPTS: tuple[tuple[str, int, str], ...] = (
    ("use-file", REQUIRED_ARGUMENT, "f"),
    ("vrrp", NO_ARGUMENT, "P"),
    ("check", NO_ARGUMENT, "C"),
    ("no_bfd", NO_ARGUMENT, "B"),
    ("all", NO_ARGUMENT, "all"),
    ("log-console", NO_ARGUMENT, "l"),
    ("log-detail", NO_ARGUMENT, "D"),
    ("log-facility", REQUIRED_ARGUMENT, "S"),
    ("log-file", OPTIONAL_ARGUMENT, "g"),
    ("all-config", NO_ARGUMENT, "e"),
    ("no-syslog", NO_ARGUMENT, "G"),
    ("umask", REQUIRED_ARGUMENT, "u"),
    ("release-vips", NO_ARGUMENT, "X"),
    ("dont-release-vrrp", NO_ARGUMENT, "V"),
    ("dont-release-ipvs", NO_ARGUMENT, "I"),
    ("dont-respawn", NO_ARGUMENT, "R"),
    ("dont-fork", NO_ARGUMENT, "n"),
    ("dump-conf", NO_ARGUMENT, "d"),
    ("pid", REQUIRED_ARGUMENT, "p"),
    ("vrrp_pid", REQUIRED_ARGUMENT, "r"),
    ("genhash", NO_ARGUMENT, "T"),
    ("checkers_pid", REQUIRED_ARGUMENT, "c"),
    ("address-monitoring", NO_ARGUMENT, "a"),
    ("bfd_pid", REQUIRED_ARGUMENT, "b"),
    ("snmp", NO_ARGUMENT, "x"),
    ("snmp-agent-socket", REQUIRED_ARGUMENT, "A"),
    ("core-dump", NO_ARGUMENT, "m"),
    ("core-dump-pattern", OPTIONAL_ARGUMENT, "M"),
    ("namespace", REQUIRED_ARGUMENT, "s"),
    ("config-id", REQUIRED_ARGUMENT, "i"),
    ("signum", REQUIRED_ARGUMENT, "signum"),
    ("config-test", OPTIONAL_ARGUMENT, "t"),
    ("config-fd", REQUIRED_ARGUMENT, "config-fd"),
    ("version", NO_ARGUMENT, "v"),
    ("help", NO_ARGUMENT, "h"),
    # pykeepalived's own (long only, so no keepalived short option is taken)
    ("dataplane", REQUIRED_ARGUMENT, "dataplane"),
    ("control", REQUIRED_ARGUMENT, "control"),
    ("listen", REQUIRED_ARGUMENT, "listen"),
    ("listen-token-file", REQUIRED_ARGUMENT, "listen-token-file"),
    ("control-read-group", REQUIRED_ARGUMENT, "control-read-group"),
    ("control-write-group", REQUIRED_ARGUMENT, "control-write-group"),
    ("interfaces", REQUIRED_ARGUMENT, "interfaces"),
    ("dashboard-name", REQUIRED_ARGUMENT, "dashboard-name"),
    ("dashboard-peer", REQUIRED_ARGUMENT, "dashboard-peer"),
)

#: syslog facilities by name and number (keepalived's LOG_FACILITY table and facility_names)
_FACILITIES = {"daemon": 3 << 3, "user": 1 << 3, **{str(i): (16 + i) << 3 for i in range(8)},
               **{f"local{i}": (16 + i) << 3 for i in range(8)}}

USAGE = f"""\
Usage: pykeepalived [OPTION...]
       pykeepalived SUBCOMMAND ...   ({", ".join(SUBCOMMANDS)}; pykeepalived SUBCOMMAND --help)
  -f, --use-file=FILE          Use the specified configuration file
                                default '{DEFAULT_CONFIG}'
  -P, --vrrp                   Only run with VRRP subsystem
  -C, --check                  Only run with Health-checker subsystem
  -B, --no_bfd                 Don't run BFD subsystem
      --all                    Force all child processes to run, even if have no configuration
  -l, --log-console            Log messages to local console
  -D, --log-detail             Detailed log messages
  -S, --log-facility=([0-7]|local[0-7]|user|daemon)
                               Set syslog facility to LOG_LOCAL[0-7], user or daemon (default)
  -G, --no-syslog              Don't log via syslog
  -u, --umask=MASK             umask for file creation (in numeric form)
  -X, --release-vips           Drop VIP on transition from signal.
  -V, --dont-release-vrrp      Don't remove VRRP VIPs and VROUTEs on daemon stop
  -I, --dont-release-ipvs      Don't remove IPVS topology on daemon stop
  -R, --dont-respawn           Don't respawn child processes
  -n, --dont-fork              Don't fork the daemon process
  -d, --dump-conf              Dump the configuration data (as JSON, to the log)
  -p, --pid=FILE               Use specified pidfile for parent process
  -r, --vrrp_pid=FILE          Use specified pidfile for VRRP child process
  -T, --genhash                Enter into genhash utility mode (this should be the first option used).
  -c, --checkers_pid=FILE      Use specified pidfile for checkers child process
  -a, --address-monitoring     Report all address additions/deletions notified via netlink
  -b, --bfd_pid=FILE           Use specified pidfile for BFD child process
  -x, --snmp                   Enable SNMP subsystem
  -A, --snmp-agent-socket=FILE Use the specified socket for master agent
  -s, --namespace=NAME         Run in network namespace NAME (overrides config)
  -m, --core-dump              Produce core dump if terminate abnormally
  -M, --core-dump-pattern=PATN Also set /proc/sys/kernel/core_pattern to PATN (default 'core')
  -e, --all-config             Error if any configuration file missing (same as includet)
  -i, --config-id id           Skip any configuration lines beginning '@' that don't match id
                                or any lines beginning @^ that do match.
                                The config-id defaults to the node name if option not used
      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON
  -t, --config-test[=LOG_FILE] Check the configuration for obvious errors, output to
                                stderr by default (exit 0 ok, 2 missing parameter,
                                4 file/interface, 5 errors, 6 script security)
  -v, --version                Display the version number
  -h, --help                   Display this help message
pykeepalived's additions:
      --dataplane=NAME         auto (default: ipvs if the kernel has it, else nftables), ipvs, nftables,
                                proxy (userspace TCP/UDP proxy, no root needed; only when named)
      --control=PATH           control socket for `pykeepalived status` (default: the pid file's
                                name with .ctl)
      --listen=HOST:PORT       also serve status JSON, Prometheus /metrics and the dashboard over TCP
                                (read-only unless --listen-token-file is given)
      --listen-token-file=FILE writes on --listen need 'Authorization: Bearer TOKEN' with this file's
                                token (mode 0600, owned by root, at least 16 characters)
      --control-read-group=G   members of group G may read the control socket (status, metrics)
      --control-write-group=G  members of group G may also send commands (pykeepalived ctl)
      --interfaces=IF,IF...    with -t: check interface names against this list, not this host's
      --dashboard-name=NAME    this daemon's name on the dashboard (default: the host name)
      --dashboard-peer=[NAME=]URL
                               also show on the dashboard the daemon whose --listen is URL (its
                                /events relayed by this one); repeatable
"""


class UsageError(Exception):
    """The command line cannot run: keepalived printed ``lines`` and exited 1."""


@dataclass
class Parsed:
    args: argparse.Namespace
    messages: list[str]  # to stderr before acting (keepalived's warnings that do not stop it)
    unexpected: list[str]  # "Unexpected argument(s)", printed on stdout as keepalived does
    action: str = "run"  # run | help | version | signum | genhash
    rest: list[str] | None = None  # genhash's argv (after -T)


def _defaults() -> argparse.Namespace:
    return argparse.Namespace(
        config_file=DEFAULT_CONFIG, config_id=None, config_test=None, interfaces=None,
        vrrp=False, check=False, run_all=False, log_console=False, log_detail=False, log_facility=None,
        no_syslog=False, umask=None, release_vips=False, dont_release_vrrp=False, dont_release_ipvs=False,
        dont_respawn=False, dont_fork=False, dump_conf=False, pid_file=None, vrrp_pid_file=None,
        checkers_pid_file=None, bfd_pid_file=None, no_bfd=False, address_monitoring=False, namespace=None,
        core_dump=False, core_dump_pattern=None, all_config=False, dataplane="auto", control=None, listen=None,
        listen_token_file=None, control_read_group=None, control_write_group=None,
        dashboard_name=None, dashboard_peers=[], signum=None, snmp=False, snmp_socket=None,
    )


def _umask(text: str) -> int | None:
    """keepalived's set_umask: ``strtoll(text, 0)`` (0x.. hex, 0.. octal, else decimal), permission bits only."""
    t = text.lstrip(" \t\n\v\f\r")
    for pattern, base in ((r"[+-]?0[xX][0-9a-fA-F]+", 16), (r"[+-]?0[0-7]*", 8), (r"[+-]?[1-9][0-9]*", 10)):
        if re.fullmatch(pattern, t):
            value = int(t, base)
            return value if 0 <= value <= 0o777 else None
    return None


_FLAGS = {"P": "vrrp", "C": "check", "l": "log_console", "n": "dont_fork", "d": "dump_conf",
          "V": "dont_release_vrrp", "I": "dont_release_ipvs", "R": "dont_respawn", "X": "release_vips",
          "G": "no_syslog", "a": "address_monitoring", "e": "all_config", "all": "run_all", "B": "no_bfd",
          "x": "snmp"}
_VALUES = {"f": "config_file", "p": "pid_file", "r": "vrrp_pid_file", "c": "checkers_pid_file",
           "b": "bfd_pid_file", "s": "namespace", "i": "config_id", "control": "control", "listen": "listen",
           "listen-token-file": "listen_token_file", "control-read-group": "control_read_group",
           "control-write-group": "control_write_group", "dashboard-name": "dashboard_name",
           "interfaces": "interfaces", "signum": "signum", "A": "snmp_socket"}


def parse_daemon_args(argv: Sequence[str]) -> Parsed:
    """keepalived's ``parse_cmdline`` (2.2.7): raises :class:`UsageError` where keepalived exits 1."""
    args = _defaults()
    words = ["pykeepalived", *argv]
    g = GetoptLong(words, SHORTOPTS, LONGOPTS)
    messages: list[str] = []
    bad = False
    first = True
    while (o := g.next()) is not None:
        c = o.c
        if o.longindex >= 0 and LONGOPTS[o.longindex][1] == REQUIRED_ARGUMENT and o.optarg == "":
            c = ":"
        arg = o.optarg or ""
        if c in _FLAGS:
            setattr(args, _FLAGS[c], True)
        elif c in _VALUES:
            setattr(args, _VALUES[c], arg)
            if c == "signum":
                return Parsed(args, messages, [], action="signum")
        elif c == "h":
            return Parsed(args, messages, [], action="help")
        elif c == "v":
            return Parsed(args, messages, [], action="version")
        elif c == "T":
            if not first:
                name = "-T" if o.longindex < 0 else LONGOPTS[o.longindex][0]
                messages.append(f"Warning -- `{name}` not used as first option, previous options ignored")
            return Parsed(args, messages, [], action="genhash", rest=g.argv[g.optind:])
        elif c == "D":
            args.log_detail = True
        elif c == "S":
            facility = _FACILITIES.get(arg)
            if facility is None:
                messages.append(f"Invalid log facility '{arg}'")
            else:
                args.log_facility = facility
        elif c == "u":
            mask = _umask(arg)
            if mask is None:
                messages.append(f"Invalid --umask option {arg}")
            else:
                args.umask = mask
        elif c == "t":
            args.config_test = arg or "-"
            args.dont_fork = True
            args.dont_respawn = True
        elif c in ("M", "m"):
            args.core_dump = True
            if c == "M":
                args.core_dump_pattern = arg or "core"
        elif c == "g":
            messages.append("-g requires configure option --enable-log-file")
            bad = True
        elif c == "dataplane":
            if arg not in DATAPLANES:
                messages.append(f"Invalid --dataplane {arg} (one of: {', '.join(DATAPLANES)})")
                bad = True
            args.dataplane = arg
        elif c == "dashboard-peer":
            from pykeepalived.status.dashboard import PeerError, parse_peer

            try:
                parse_peer(arg)
            except PeerError as e:
                messages.append(str(e))
                bad = True
            args.dashboard_peers = [*args.dashboard_peers, arg]
        elif c == "config-fd":
            pass  # keepalived's parent hands its children the config this way; pykeepalived's re-read it
        elif c == "?":
            here = g.argv[o.curind]
            messages.append(f"Unknown option -{o.optopt}" if o.optopt and here[1:2] != "-"
                            else f"Unknown option {here}")
            bad = True
        elif c == ":":
            here = g.argv[o.curind]
            if o.optopt and here[1:2] != "-":
                messages.append(f"Missing parameter for option -{o.optopt}")
            else:
                name = LONGOPTS[o.longindex][0] if o.longindex >= 0 else here.lstrip("-").split("=")[0]
                messages.append(f"Missing parameter for option --{name}")
            bad = True
        first = False
    unexpected = g.argv[g.optind:]
    if bad:
        raise UsageError("\n".join(messages), unexpected)
    return Parsed(args, messages, unexpected)


def _run_subcommand(name: str, rest: list[str]) -> int:
    if name == "genhash":
        # genhash keeps keepalived's getopt_long parsing and messages, so argparse stays out of it
        from pykeepalived.check.genhash import run_argv

        return run_argv(["genhash", *rest], "genhash")
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"pykeepalived {name}", description=help_text, allow_abbrev=False)
    module.add_arguments(sub)
    return int(module.run(sub.parse_args(rest)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        return _run_subcommand(args_list[0], args_list[1:])
    try:
        parsed = parse_daemon_args(args_list)
    except UsageError as e:
        message, unexpected = e.args
        print(message, file=sys.stderr)
        if unexpected:
            print("Unexpected argument(s): " + "".join(f"{a} " for a in unexpected))
        return 1
    for line in parsed.messages:
        print(line, file=sys.stderr)
    args = parsed.args
    if parsed.action == "help":
        sys.stderr.write(USAGE)
        return 0
    if parsed.action == "version":
        from pykeepalived import __version__

        print(f"pykeepalived {__version__} (keepalived 2.2.7 compatible)", file=sys.stderr)
        return 0
    if parsed.action == "signum":
        from pykeepalived.daemon.signals import signum

        number = signum(args.signum)
        if number is None:
            print(f"Unknown sigfunc {args.signum}", file=sys.stderr)
            return 1
        print(number)
        return 0
    if parsed.action == "genhash":
        from pykeepalived.check.genhash import run_argv

        return run_argv(["pykeepalived", *(parsed.rest or [])], "pykeepalived --genhash")
    if parsed.unexpected:
        print("Unexpected argument(s): " + "".join(f"{a} " for a in parsed.unexpected))
    if args.config_test is not None:
        from pykeepalived.config.cli import config_test

        return config_test(args)
    from pykeepalived.daemon.options import DaemonOptions
    from pykeepalived.daemon.supervisor import run_daemon

    return run_daemon(DaemonOptions.from_args(args), detach=not args.dont_fork)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
