"""``pykeepalived lab up|demo|down`` and ``lab scaleout up|demo|down``: labs on one machine, inside network namespaces.

``lab`` is the seed scenario (two load balancers sharing a VIP by VRRP); ``lab scaleout`` is N active load
balancers behind a router's ECMP, announced by BGP through FRR (docs/scaleout.md).  For both, ``up`` builds
the lab and leaves it running, ``demo`` builds it, walks through it and removes it, ``down`` stops what ``up``
started (by the PIDs it recorded under /run/pykeepalived-lab/<prefix>) and removes leftovers of interrupted
demos: one mechanism, :class:`pykeepalived.lab.running.RunningLab`.  All of it needs root, iproute2 and
nftables (and FRR for ``scaleout``); without them the command says so, checks the lab's configuration
(which needs no privilege) and lists the parts of pykeepalived that work without root.
"""

from __future__ import annotations

import argparse
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from pykeepalived.lab import netns as nsmod
from pykeepalived.lab import scaleout as so
from pykeepalived.lab.demo import (
    DEFAULT_PREFIX,
    DEMO_TAG,
    LBS,
    URL,
    NotReady,
    SeedLab,
    daemon_argv,
    demo,
    seed_conf,
)
from pykeepalived.lab.running import STATE_ROOT, AlreadyUp, RunningLab

EXIT_OK, EXIT_FAILED, EXIT_PREREQUISITES = 0, 1, 4

NO_PRIVILEGE = """\
Without root, these parts of pykeepalived work:
  pykeepalived -t -f keepalived.conf            check a configuration (keepalived's exit codes)
  pykeepalived config show -f keepalived.conf   the effective configuration as JSON
  pykeepalived genhash -s HOST -p PORT -u /     MD5 digest of a web page, as keepalived's genhash
  pykeepalived status -p PIDFILE                a running daemon's state (as its user or root)
"""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so the finally clauses clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def missing_prerequisites(frr: bool = False) -> list[str]:
    """What this machine lacks for the lab, in words people can act on (empty: all there); ``frr``: the
    scaleout lab's routing daemons too."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"root (you are uid {os.geteuid()}): network namespaces, veths, VIPs and nft "
                       "tables need CAP_NET_ADMIN and CAP_SYS_ADMIN")
    if shutil.which("ip") is None:
        missing.append("iproute2's 'ip' command (Debian/Ubuntu: apt install iproute2)")
    if ctypes.util.find_library("nftables") is None or shutil.which("nft") is None:
        missing.append("nftables: the 'nft' command and libnftables.so.1 (Debian/Ubuntu: apt install nftables; "
                       "the lab forwards the VIP with the nftables data plane)")
    if frr and (so.find_frr("zebra") is None or so.find_frr("bgpd") is None or shutil.which("vtysh") is None):
        missing.append("FRR: zebra, bgpd and vtysh (Debian/Ubuntu: apt install frr; the router and every load "
                       "balancer run their own, in their namespace; the frr service need not run)")
    return missing


def _configs(scaleout: bool) -> list[tuple[str, str, str]]:
    """(file name, text, what it is) of the lab's keepalived.conf files."""
    if scaleout:
        return [(f"lb{i}.conf", so.lb_keepalived_conf(i), f"the scaleout lab's config for lb{i}")
                for i in range(1, 4)]
    return [(f"{lb}.conf", seed_conf(lb), f"the seed's config for {lb}") for lb in LBS]


def _config_check(out: TextIO, scaleout: bool = False) -> None:
    """Show the part that needs no privilege: the lab's configs pass ``pykeepalived -t``."""
    with tempfile.TemporaryDirectory(prefix="pykeepalived-lab-") as tmp:
        for name, text, what in _configs(scaleout):
            path = Path(tmp) / name
            path.write_text(text)
            cp = subprocess.run([*daemon_argv(), "-t", "--interfaces", "eth0,eth1", "-f", str(path)],
                                capture_output=True, text=True, timeout=60)
            verdict = "ok" if cp.returncode == 0 else f"exit {cp.returncode}"
            print(f"  pykeepalived -t -f {name} ({what}): {verdict}", file=out)
            for line in (cp.stderr or "").splitlines()[:5]:
                print(f"    {line}", file=out)


def _refuse(command: str, missing: list[str], out: TextIO) -> int:
    scaleout = command.startswith("scaleout")
    what = ("N load balancers behind ECMP, announced by BGP (FRR)," if scaleout else "the seed scenario")
    print(f"pykeepalived lab {command}: cannot run here. The lab builds {what} inside network "
          "namespaces and needs:", file=out)
    for m in missing:
        print(f"  - {m}", file=out)
    if os.geteuid() != 0:
        print(f"Run it as root, e.g.: sudo {Path(sys.argv[0]).name} lab {command}", file=out)
    print("Meanwhile, what needs no privilege:", file=out)
    try:
        _config_check(out, scaleout)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"  (could not run the config check: {e})", file=out)
    print(NO_PRIVILEGE, end="", file=out)
    return EXIT_PREREQUISITES


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Interrupted` (SIGINT already raises KeyboardInterrupt)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """Teardown must finish: a second Ctrl-C must not leave half a lab behind."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _guarded(lab: RunningLab, body: Callable[[], None], out: TextIO, *, keep: bool) -> int:
    """Run ``body``; on error or interruption (and always unless ``keep``), tear the lab down."""
    rc = EXIT_OK
    try:
        with _signals_unwind():
            body()
    except AlreadyUp as e:  # someone's lab: not ours to tear down
        print(f"pykeepalived {lab.COMMAND}: {e}", file=out, flush=True)
        return EXIT_FAILED
    except (KeyboardInterrupt, Interrupted) as e:
        name = e.args[0] if isinstance(e, Interrupted) else "SIGINT"
        print(f"\nInterrupted ({name}): cleaning up ...", file=out, flush=True)
        rc = 128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT)
        keep = False
    except (NotReady, nsmod.LabError, OSError, TimeoutError, subprocess.SubprocessError) as e:
        print(f"pykeepalived {lab.COMMAND}: {e}", file=out, flush=True)
        for log in lab.failure_logs():
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-8:]
                print(f"  last lines of {log}:", *(f"    {t}" for t in tail), sep="\n", file=out)
        rc = EXIT_FAILED
        keep = False
    if not keep:
        with _uninterruptible():
            removed = lab.down()
        print(f"Cleaned up: {len(removed)} items (processes, namespaces {lab.prefix}*, {lab.dir}).",
              file=out, flush=True)
    return rc


def _bring_up(lab: RunningLab, up: Callable[[], object], out: TextIO) -> int:
    """``up``: build, then detach (the namespaces and processes outlive this command)."""
    def body() -> None:
        print(f"Building the {lab.KIND} lab in namespaces {lab.prefix}* ...", file=out, flush=True)
        up()
        lab.detach()
    return _guarded(lab, body, out, keep=True)


def _tear_down(cls: type[RunningLab], prefix: str, out: TextIO) -> int:
    """``down``: the lab asked for, plus this kind's demos killed before they could clean up."""
    prefixes = [prefix]
    for p in cls.stale_demo_prefixes():
        if p not in prefixes:
            prefixes.append(p)
    total, problems = 0, []
    with _uninterruptible():
        for p in prefixes:
            lab = cls.attach(p)
            removed = lab.down()
            total += len(removed)
            for r in removed:
                print(f"removed {r}", file=out)
            for note in lab.notes:
                print(f"checked: {note}", file=out)
            problems += lab.problems
    for problem in problems:
        print(f"PROBLEM: {problem}", file=out)
    if not total:
        print(f"Nothing to remove (no namespaces {prefix}*, no state in {STATE_ROOT}).", file=out)
    return EXIT_FAILED if problems else EXIT_OK


# -- the seed -------------------------------------------------------------------------------------

def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    seed = SeedLab(args.prefix, dataplane=args.dataplane)
    rc = _bring_up(seed, lambda: seed.up(wait=args.wait), out)
    if rc != EXIT_OK:
        return rc
    client, d = seed.ns("client"), seed.dir
    assert seed.lab is not None
    print("The seed is up:", *(f"  {line}" for line in seed.lab.describe()), sep="\n", file=out)
    print(f"lb1 is MASTER for 10.0.0.5 and 192.168.0.1; configs, logs and pid files are in {d}/", file=out)
    print(f"""
Try:
  ip netns exec {client} curl -s {URL}
  pykeepalived status -p {seed.pid_file('lb1')}
  pykeepalived status -p {seed.pid_file('lb2')}
  ip netns exec {client} wrk -t1 -c8 -d5s {URL}
  ip netns exec {seed.ns('lb1')} {"nft list table ip pykeepalived" if seed.dataplane == "nftables" else "ss -ltnp"}
  tail -f {seed.log_path('lb1')} {seed.log_path('lb2')} {seed.notify_log}
  kill -TERM $(cat {seed.pid_file('lb1')})     # lb2 takes over 10.0.0.5
Stop it all: pykeepalived {seed.down_command()}""", file=out)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    seed = SeedLab(args.prefix or f"{DEMO_TAG}{os.getpid()}-", dataplane=args.dataplane)
    rc = _guarded(seed, lambda: demo(seed, out), out, keep=False)
    if rc == EXIT_OK:
        print("Demo finished: every step of the seed worked.", file=out)
    return rc


def cmd_down(args: argparse.Namespace, out: TextIO) -> int:
    return _tear_down(SeedLab, args.prefix, out)


# -- scaleout -------------------------------------------------------------------------------------

def scaleout_howto(s: so.ScaleoutLab) -> str:
    """How to reach a running scaleout lab (what ``lab scaleout up`` prints)."""
    router, client, d = s.ns("router"), s.ns("client"), s.dir
    route = nsmod.run(["ip", "-n", router, "route", "show", f"{so.VIP}/32"], check=False).stdout.rstrip()
    lbs = range(1, s.lbs + 1)
    rows = [f"  router   {router:<18} FRR AS {so.ROUTER_AS}, ECMP (L4 hash); eth0 {so.ROUTER_EDGE} (edge), "
            "eth1 10.0.0.1 (clients)"]
    rows += [f"  lb{i}      {s.ns(f'lb{i}'):<18} FRR AS {so.LB_AS} + pykeepalived -C (nftables, mh, full NAT); "
             f"eth0 {so.lb_edge(i)}, eth1 {so.lb_back(i)}" for i in lbs]
    rows += [f"  rs{i}      {s.ns(f'rs{i}'):<18} HTTP :80 answering 'rs{i} <node address>'; eth0 {so.rs_addr(i)}"
             for i in range(1, s.real_servers + 1)]
    rows.append(f"  client   {client:<18} 10.0.0.100-{99 + s.sources}, default via 10.0.0.1")
    vty = s.frr("router").dir
    return "\n".join([
        f"The scaleout lab is up (namespaces {s.prefix}*; configs, logs, pid files and FRR's files in {d}/):",
        *rows,
        f"VIP {so.VIP}:80, announced by BGP from every node; the router's route:",
        *(f"  {line}" for line in route.splitlines()),
        "",
        "Try:",
        f"  ip netns exec {client} curl -s http://{so.VIP}/              # 'rsN 192.168.0.K': real server, node",
        f"  ip netns exec {client} {sys.executable} -m pykeepalived.lab.scaleout client --sources {s.sources}"
        "   # one request per address: [t, src, rs, node]",
        f"  ip netns exec {client} wrk -t2 -c64 -d5s http://{so.VIP}/",
        f"  ip netns exec {router} vtysh --vty_socket {vty} -c 'show ip route'",
        f"  ip netns exec {router} vtysh --vty_socket {vty} -c 'show ip bgp {so.VIP}/32'",
        f"  ip -n {router} route show {so.VIP}/32",
        f"  pykeepalived status -p {s.pid_file('lb1')}",
        f"  tail -f {s.log_path('lb1')} {s.frr('router').dir / 'bgpd.log'}",
        f"  kill -9 $(cat {s.pid_file('lb2')} {d / 'lb2_checkers.pid'})   # lb2 crashes: its route leaves "
        "the router at once",
        f"  kill -TERM $(cat {s.pid_file('lb3')})   # lb3 stops: withdraws, then releases its data plane",
        "(each node's FRR has its own vty socket directory, hence --vty_socket; FRR's files are under "
        f"{d / 'frr'}/NODE)",
        f"Stop it all: pykeepalived {s.down_command()}",
    ])


def cmd_scaleout_up(args: argparse.Namespace, out: TextIO) -> int:
    s = so.ScaleoutLab(args.prefix, pickup=args.pickup)
    rc = _bring_up(s, lambda: s.up(wait=args.wait), out)
    if rc == EXIT_OK:
        print(scaleout_howto(s), file=out)
    return rc


def cmd_scaleout_demo(args: argparse.Namespace, out: TextIO) -> int:
    s = so.ScaleoutLab(args.prefix or f"{so.DEMO_TAG}{os.getpid()}-", pickup=args.pickup)
    rc = _guarded(s, lambda: so.demo(s, out), out, keep=False)
    if rc == EXIT_OK:
        print("Demo finished: routes, spread, a node killed and returning all worked.", file=out)
    return rc


def cmd_scaleout_down(args: argparse.Namespace, out: TextIO) -> int:
    return _tear_down(so.ScaleoutLab, args.prefix, out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Labs on this machine (root), inside network namespaces: the seed scenario (two load balancers sharing "
        "10.0.0.5 by VRRP, spreading requests over two web servers: wlc 20:8, persistence 50 s, HTTP_GET checks, "
        "a sorry server), and 'scaleout' (three active load balancers behind a router's ECMP, announced by BGP "
        "through FRR). 'up' leaves a lab running, 'down' removes it, 'demo' builds, shows and removes it.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="up|demo|down|scaleout")
    up = sub.add_parser("up", help="build the seed and leave it running",
                        description="Build the seed topology in network namespaces PREFIX*, start web servers "
                                    "on rs1, rs2 and the sorry server and pykeepalived on lb1 and lb2 (configs, "
                                    f"logs and notify log under {STATE_ROOT}/), print how to reach things, and "
                                    "leave it running until 'pykeepalived lab down'.")
    up.add_argument("--prefix", default=DEFAULT_PREFIX,
                    help=f"namespace name prefix, ending in '-' (default {DEFAULT_PREFIX})")
    up.add_argument("--wait", type=float, default=30.0, help=argparse.SUPPRESS)
    up.add_argument("--dataplane", choices=("nftables", "proxy"), default="nftables",
                    help="the load balancers' data plane: nftables (kernel DNAT, default) or proxy (the "
                         "userspace proxy: real servers see the load balancer's address)")
    dm = sub.add_parser("demo", help="build the seed, walk through it, remove it",
                        description="Build the seed, then show it working step by step with real requests from "
                                    "the client: the status table, the 20:8 spread, lb1 killed and lb2 taking "
                                    "10.0.0.5 (time printed), rs1 failing its HTTP_GET check (time printed), "
                                    "the sorry server when both are down, and everything restored; then remove "
                                    "it all. Ctrl-C at any point cleans up.")
    dm.add_argument("--dataplane", choices=("nftables", "proxy"), default="nftables",
                    help="the load balancers' data plane: nftables (default) or proxy (userspace)")
    dm.add_argument("--prefix", default=None,
                    help=f"namespace name prefix (default {DEMO_TAG}<pid>-, which 'lab down' sweeps if the "
                         "demo was killed)")
    dn = sub.add_parser("down", help="stop what 'up' started and remove its namespaces",
                        description="Stop the processes 'lab up' started (by the PIDs it recorded), remove the "
                                    "namespaces PREFIX* and the state directory; also removes what interrupted "
                                    "demos left behind.")
    dn.add_argument("--prefix", default=DEFAULT_PREFIX,
                    help=f"the prefix given to 'lab up' (default {DEFAULT_PREFIX})")
    sc = sub.add_parser("scaleout", help="N active load balancers behind ECMP, announced by BGP (FRR): up|demo|down",
                        description="A router with FRR and ECMP (L4 hash), three load balancers each with FRR and "
                                    "pykeepalived (bgp_announce, mh, full NAT), four real servers, a client with "
                                    "64 addresses, all in network namespaces PREFIX* (docs/scaleout.md). Needs "
                                    "root, iproute2, nftables and FRR (zebra, bgpd, vtysh).")
    ssub = sc.add_subparsers(dest="scaleout_action", required=True, metavar="up|demo|down")
    sup = ssub.add_parser("up", help="build the scaleout lab and leave it running",
                          description="Build the scaleout lab in namespaces PREFIX*, start the real servers, FRR "
                                      "on the router and every node and pykeepalived on every node (configs, logs, "
                                      f"pid files and FRR's files under {STATE_ROOT}/PREFIX), wait until the "
                                      f"router has a route to {so.VIP} through all three nodes, print how to reach "
                                      "things (namespaces, VIP, client, vtysh, killing a node) and leave it running "
                                      "until 'pykeepalived lab scaleout down'.")
    sup.add_argument("--prefix", default=so.DEFAULT_PREFIX,
                     help=f"namespace name prefix, ending in '-' (default {so.DEFAULT_PREFIX})")
    sup.add_argument("--wait", type=float, default=60.0,
                     help="seconds to wait for every node's route on the router (default 60)")
    pickup_help = ("connection pickup: conntrackd on every node shares the connections' state (NAT included), so "
                   "established connections that ECMP moves to another node go on (needs conntrackd)")
    sup.add_argument("--pickup", action="store_true", help=pickup_help)
    sdm = ssub.add_parser("demo", help="build the scaleout lab, walk through it, remove it",
                          description="Build the scaleout lab, show the router's ECMP route, the spread over the "
                                      "nodes, lb2's pykeepalived killed under long-lived connections (its route "
                                      "gone, no client address changing real server; with --pickup the "
                                      "connections lb2 had go on through the others) and started again, then "
                                      "remove it all. Ctrl-C at any point cleans up.")
    sdm.add_argument("--prefix", default=None,
                     help=f"namespace name prefix (default {so.DEMO_TAG}<pid>-, which 'lab scaleout down' sweeps "
                          "if the demo was killed)")
    sdm.add_argument("--pickup", action="store_true", help=pickup_help)
    sdn = ssub.add_parser("down", help="stop what 'scaleout up' started, check no route is left, remove it",
                          description="Stop the processes 'lab scaleout up' started, by the PIDs it recorded: "
                                      "pykeepalived first (each node withdraws its route), then check that the "
                                      f"router has no route to {so.VIP} left (exit 1 if it has), then FRR and the "
                                      "real servers; remove the namespaces PREFIX* and the state directory; also "
                                      "removes what interrupted scaleout demos left behind.")
    sdn.add_argument("--prefix", default=so.DEFAULT_PREFIX,
                     help=f"the prefix given to 'lab scaleout up' (default {so.DEFAULT_PREFIX})")


ACTIONS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "up": cmd_up, "demo": cmd_demo, "down": cmd_down,
    "scaleout up": cmd_scaleout_up, "scaleout demo": cmd_scaleout_demo, "scaleout down": cmd_scaleout_down,
}


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    action = args.action
    if action == "scaleout":
        action = f"scaleout {args.scaleout_action}"
    default = so.DEFAULT_PREFIX if action.startswith("scaleout") else DEFAULT_PREFIX
    try:
        nsmod.check_prefix(getattr(args, "prefix", None) or default)
    except ValueError as e:
        print(f"pykeepalived lab {action}: {e}", file=out)
        return EXIT_FAILED
    # down needs no FRR: it only stops processes by PID and removes namespaces
    missing = missing_prerequisites(frr=action in ("scaleout up", "scaleout demo"))
    if missing:
        return _refuse(action, missing, out)
    return ACTIONS[action](args, out)


__all__ = ["add_arguments", "missing_prerequisites", "run"]

if __name__ == "__main__":  # pragma: no cover
    _p = argparse.ArgumentParser(prog="pykeepalived lab")
    add_arguments(_p)
    sys.exit(run(_p.parse_args()))
