"""``pykeepalived status``: ask a running daemon for its state over its control socket and print it.

The client uses only the standard library (HTTP/1.1 over AF_UNIX through ``http.client``) so that the
command starts fast and works in a minimal install.  Exit codes follow the LSB ``status`` convention,
so init scripts and monitoring can use the command directly: 0 running, 1 dead but its pid file exists,
3 not running, 4 status unknown (permission denied, unreadable answer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from pykeepalived.lvs import conntrack_watch
from pykeepalived.lvs.conntrack_watch import ConntrackUse
from pykeepalived.paths import DEFAULT_PID_FILE, control_path_for
from pykeepalived.status import ipvsadm
from pykeepalived.status.client import fetch
from pykeepalived.status.snapshot import Snapshot, SnapshotFormatError, VrrpInstanceStatus

"""keepalived's own default is /run/keepalived.pid; ours differs so both can run side by side."""

EXIT_OK, EXIT_DEAD_PIDFILE, EXIT_NOT_RUNNING, EXIT_UNKNOWN = 0, 1, 3, 4


# ---------------------------------------------------------------------------------------- text


def _table(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
    return out


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d{h:02d}h{m:02d}m"
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _priority(v: VrrpInstanceStatus) -> str:
    if v.effective_priority == v.base_priority:
        return str(v.effective_priority)
    return f"{v.effective_priority} (base {v.base_priority})"


def vrrp_table(snap: Snapshot) -> list[str]:
    """VRRP instances: state, priority, who is master, VIPs (one row each)."""
    if not snap.vrrp:
        return ["VRRP: no instances"]
    rows = [["VRRP Instance", "Interface", "VRID", "State", "Priority", "Master", "VIPs"]]
    for v in snap.vrrp:
        state = v.state + (f" ({', '.join(v.faults)})" if v.state == "FAULT" and v.faults else "")
        rows.append([
            v.name, v.interface, str(v.vrid), state, _priority(v),
            v.master_address or "-", " ".join(v.vips) or "-",
        ])  # fmt: skip
    return _table(rows, right=frozenset({2}))


def health_lines(snap: Snapshot) -> list[str]:
    """The checkers' view, which ipvsadm cannot show: down real servers are absent from its table."""
    out = ["Real servers"]
    for vs in ipvsadm.sorted_services(snap.virtual_services):
        q = vs.quorum
        verdict = "up" if q.up else "DOWN"
        out.append(f"  {ipvsadm.service_name(vs.service)}  quorum {verdict} "
                   f"(alive weight {q.weight_sum}, quorum {q.quorum}, hysteresis {q.hysteresis})")
        rows = [[f"    {d.key}", d.health.value, f"weight {d.weight}",
                 f"override: {d.override}" if d.override else ""] for d in vs.destinations]
        if rows:
            out.extend(_table(rows))
        if not q.up and vs.sorry_server is not None:
            out.append(f"    sorry server {vs.sorry_server} in use")
    for name in snap.overrides.get("disabled_services", ()):
        out.append(f"  {name}  disabled (override): out of the table, checks still running")
    return out


def render_text(snap: Snapshot, mode: ipvsadm.Mode = ipvsadm.Mode.LIST, exact: bool = False) -> str:
    d = snap.daemon
    head = (f"pykeepalived {d.version or '?'} pid {d.pid}, config {d.config_file}, data plane {d.dataplane}, "
            f"up {_duration(snap.taken_at - d.started_at)}")
    parts = [head, "", *vrrp_table(snap), ""]
    handed = snap.overrides.get("instances") or {}
    if handed:
        parts[-1:] = [f"  handed over (override): {', '.join(sorted(handed))}", ""]
    if snap.virtual_services or snap.overrides.get("disabled_services"):
        parts.append(ipvsadm.render(snap, mode, exact).rstrip("\n"))
        parts += ["", *health_lines(snap)]
    else:
        parts.append("LVS: no virtual servers")
    if snap.conntrack is not None:
        parts += ["", conntrack_line(snap.conntrack)]
    return "\n".join(parts) + "\n"


def conntrack_line(use: ConntrackUse) -> str:
    """The checker's namespace's conntrack table (the nftables data plane's NAT): a full one drops every new
    connection, clients' and checks' alike."""
    line = f"Connection tracking: {use.entries:,} of {use.limit:,} entries ({use.share:.0%})"
    if use.share >= conntrack_watch.HIGH:
        line += " - near its limit: once full, new connections are dropped (nf_conntrack_max)"
    return line


# ---------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show a running daemon's VRRP instances and its virtual server table (ipvsadm -Ln layout), "
        "read from the daemon's control socket. Exit status: 0 running, 1 dead with a pid file left, "
        "3 not running, 4 unknown."
    )
    parser.add_argument("--json", action="store_true", help="print the daemon's status document as JSON")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stats", action="store_true", help="counters, as ipvsadm -Ln --stats")
    which.add_argument("--rate", action="store_true", help="rates, as ipvsadm -Ln --rate")
    parser.add_argument("--exact", action="store_true", help="exact numbers (no K/M/G), as ipvsadm --exact")
    parser.add_argument("-p", "--pid", dest="pid_file", default=None, metavar="PIDFILE",
                        help=f"the daemon's pid file (default {DEFAULT_PID_FILE}); its control socket "
                             "is beside it (X.pid -> X.ctl)")
    parser.add_argument("--control", default=None, metavar="PATH", help="the control socket itself")
    parser.add_argument("--timeout", type=float, default=5.0, help=argparse.SUPPRESS)


def _pid_alive(pid_file: str) -> int | None:
    """The pid in the pid file if that process exists, else None."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _not_listening(path: str, args: argparse.Namespace, err: OSError, out: TextIO) -> int:
    where = "--control" if args.control else f"pid file {args.pid_file or DEFAULT_PID_FILE}"
    reason = err.strerror or str(err)
    print(f"pykeepalived status: no daemon answers on control socket {path} (from {where}): {reason}",
          file=out)
    if isinstance(err, PermissionError):
        print("  The socket is only open to its owner: run as root (or as the daemon's user).", file=out)
        return EXIT_UNKNOWN
    pid_file = args.pid_file or DEFAULT_PID_FILE
    if not args.control and os.path.exists(pid_file):
        pid = _pid_alive(pid_file)
        if pid is not None:
            print(f"  Process {pid} from {pid_file} is running but does not answer: is it a pykeepalived "
                  "started before the control socket existed, or still starting?", file=out)
            return EXIT_UNKNOWN
        print(f"  {pid_file} is left over from a daemon that is no longer running.", file=out)
        return EXIT_DEAD_PIDFILE
    print("  Is pykeepalived running? A daemon started with -p PIDFILE is found with "
          "'pykeepalived status -p PIDFILE'; '--control PATH' names a socket directly.", file=out)
    return EXIT_NOT_RUNNING


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    path = args.control or control_path_for(args.pid_file)
    try:
        status, body = fetch(path, "/status", timeout=args.timeout)
    except (FileNotFoundError, ConnectionRefusedError, PermissionError, NotADirectoryError) as e:
        return _not_listening(path, args, e, err)
    except (OSError, http.client.HTTPException) as e:
        print(f"pykeepalived status: {path}: {e}", file=err)
        return EXIT_UNKNOWN
    if status != 200:
        print(f"pykeepalived status: {path} answered HTTP {status}: {body[:200].decode(errors='replace')}",
              file=err)
        return EXIT_UNKNOWN
    if args.json:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as e:
            print(f"pykeepalived status: {path} sent something that is not JSON: {e}", file=err)
            return EXIT_UNKNOWN
        out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    try:
        snap = Snapshot.from_json(body)
    except SnapshotFormatError as e:
        print(f"pykeepalived status: {path}: {e}", file=err)
        return EXIT_UNKNOWN
    mode = ipvsadm.Mode.STATS if args.stats else ipvsadm.Mode.RATE if args.rate else ipvsadm.Mode.LIST
    out.write(render_text(snap, mode, args.exact))
    return EXIT_OK


__all__ = ["DEFAULT_PID_FILE", "add_arguments", "control_path_for", "fetch", "render_text", "run"]

if __name__ == "__main__":  # pragma: no cover
    _p = argparse.ArgumentParser(prog="pykeepalived status")
    add_arguments(_p)
    sys.exit(run(_p.parse_args()))
