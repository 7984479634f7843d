"""``pykeepalived ctl``: change a running daemon without editing its configuration (the runtime API).

    pykeepalived ctl [-p PIDFILE | --control PATH] [--json] COMMAND ...
      drain   VIP:PORT RIP:PORT      weight 0: established connections finish, new ones go elsewhere
      undrain VIP:PORT RIP:PORT
      weight  VIP:PORT RIP:PORT N    the real server's weight while it is up (until reset)
      weight  VIP:PORT RIP:PORT N until-reload
                                     the same until the next reload (keepalived: an SNMP SET)
      disable VIP:PORT [RIP:PORT]    take a real server (or the whole virtual server) out of the table
      enable  VIP:PORT [RIP:PORT]
      handover INSTANCE              give the VRRP instance's mastership away (planned maintenance)
      restore  INSTANCE              its configured priority again
      priority INSTANCE N            a new base priority (1-255) until a reload (keepalived: an SNMP SET)
      preempt  INSTANCE on|off       preemption on or off until a reload (keepalived: an SNMP SET)
      reset                          drop every override
      reload                         as SIGHUP, but says whether the new configuration loaded

VIP:PORT is ``10.0.0.5:80``, ``udp:10.0.0.5:53``, ``[2001:db8::5]:443`` or ``fwm 7``.  Overrides show in
``pykeepalived status`` beside the checkers' verdicts and survive reloads while their object exists
(priority and preempt are not overrides: a reload or a restart of the VRRP process ends them).
Exit status: 0 done, 1 refused (the message says why), 3 no daemon answers, 4 unknown.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from typing import TextIO

from pykeepalived.paths import DEFAULT_PID_FILE, control_path_for
from pykeepalived.status.api import COMMANDS
from pykeepalived.status.client import post

EXIT_OK, EXIT_REFUSED, EXIT_NOT_RUNNING, EXIT_UNKNOWN = 0, 1, 3, 4


class CtlUsage(ValueError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "\n".join(__doc__.split("\n")[2:]) if __doc__ else None
    parser.add_argument("-p", "--pid", dest="pid_file", default=None, metavar="PIDFILE",
                        help=f"the daemon's pid file (default {DEFAULT_PID_FILE}); its control socket is beside it")
    parser.add_argument("--control", default=None, metavar="PATH", help="the control socket itself")
    parser.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    parser.add_argument("--timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("words", nargs="+", metavar="COMMAND", help="the command and its arguments (above)")


def request(words: list[str]) -> dict[str, object]:
    """The API request for a command line (``fwm N`` is one service)."""
    name, *rest = words
    if name not in COMMANDS:
        raise CtlUsage(f"unknown command {name!r} (one of: {', '.join(COMMANDS)})")
    if len(rest) >= 2 and rest[0].lower() == "fwm":
        rest = [f"fwm {rest[1]}", *rest[2:]]
    required, optional = COMMANDS[name]
    fields = [*required, *optional]
    if not len(required) <= len(rest) <= len(fields):
        shape = " ".join([f.upper() for f in required] + [f"[{f.upper()}]" for f in optional])
        raise CtlUsage(f"usage: pykeepalived ctl {name} {shape}".rstrip())
    out: dict[str, object] = {"command": name}
    for f, value in zip(fields, rest, strict=False):
        if f in ("weight", "priority"):
            if not value.isdigit():
                raise CtlUsage(f"{f} must be a number, not {value!r}")
            out[f] = int(value)
        elif f == "until_reload":
            if value != "until-reload":
                raise CtlUsage(f"after the weight: nothing, or until-reload, not {value!r}")
            out[f] = True
        elif f == "preempt":
            if value not in ("on", "off"):
                raise CtlUsage(f"preempt is on or off, not {value!r}")
            out[f] = value == "on"
        else:
            out[f] = value
    return out


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        body = request(args.words)
    except CtlUsage as e:
        print(f"pykeepalived ctl: {e}", file=err)
        return EXIT_REFUSED
    path = args.control or control_path_for(args.pid_file)
    try:
        status, raw = post(path, "/api/v1/command", json.dumps(body).encode(), timeout=args.timeout)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as e:
        print(f"pykeepalived ctl: no daemon answers on {path}: {e.strerror} "
              "(a daemon started with -p PIDFILE is reached with 'pykeepalived ctl -p PIDFILE ...')", file=err)
        return EXIT_NOT_RUNNING
    except PermissionError:
        print(f"pykeepalived ctl: {path}: permission denied (run as root, or be in the daemon's "
              "--control-write-group)", file=err)
        return EXIT_REFUSED
    except (OSError, http.client.HTTPException) as e:
        print(f"pykeepalived ctl: {path}: {e}", file=err)
        return EXIT_UNKNOWN
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError:
        print(f"pykeepalived ctl: {path} answered HTTP {status}: {raw[:200].decode(errors='replace')}", file=err)
        return EXIT_UNKNOWN
    if args.json:
        out.write(json.dumps(answer, indent=2) + "\n")
    elif status == 200:
        out.write(f"{answer.get('message', 'done')}\n")
    if status != 200:
        if not args.json:
            print(f"pykeepalived ctl: {answer.get('error', answer)}", file=err)
        return EXIT_REFUSED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    _p = argparse.ArgumentParser(prog="pykeepalived ctl")
    add_arguments(_p)
    sys.exit(run(_p.parse_args()))
