"""``pykeepalived lab up|demo|down``: the seed scenario on one machine, inside network namespaces.

``up`` builds it and leaves it running, ``demo`` builds it, walks through the seed (table, 20:8
spread, load-balancer failover, real-server failure, sorry server, recovery) and removes it,
``down`` stops what ``up`` started and removes leftovers of interrupted runs.  All of it needs
root, iproute2 and nftables; without them the command says so, checks the seed's configuration
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

from pykeepalived.daemon.runtime import pid_alive
from pykeepalived.lab import netns as nsmod
from pykeepalived.lab.demo import (
    DEFAULT_PREFIX,
    DEMO_TAG,
    LBS,
    STATE_ROOT,
    URL,
    NotReady,
    SeedLab,
    daemon_argv,
    demo,
    seed_conf,
    stale_demo_prefixes,
)

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


def missing_prerequisites() -> list[str]:
    """What this machine lacks for the lab, in words people can act on (empty: all there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"root (you are uid {os.geteuid()}): network namespaces, veths, VIPs and nft "
                       "tables need CAP_NET_ADMIN and CAP_SYS_ADMIN")
    if shutil.which("ip") is None:
        missing.append("iproute2's 'ip' command (Debian/Ubuntu: apt install iproute2)")
    if ctypes.util.find_library("nftables") is None or shutil.which("nft") is None:
        missing.append("nftables: the 'nft' command and libnftables.so.1 (Debian/Ubuntu: apt install nftables; "
                       "the lab forwards the VIP with the nftables data plane)")
    return missing


def _config_check(out: TextIO) -> None:
    """Show the part that needs no privilege: the seed's configs pass ``pykeepalived -t``."""
    with tempfile.TemporaryDirectory(prefix="pykeepalived-lab-") as tmp:
        for lb in LBS:
            path = Path(tmp) / f"{lb}.conf"
            path.write_text(seed_conf(lb))
            cp = subprocess.run([*daemon_argv(), "-t", "--interfaces", "eth0,eth1", "-f", str(path)],
                                capture_output=True, text=True, timeout=60)
            verdict = "ok" if cp.returncode == 0 else f"exit {cp.returncode}"
            print(f"  pykeepalived -t -f {lb}.conf (the seed's config for {lb}): {verdict}", file=out)
            for line in (cp.stderr or "").splitlines()[:5]:
                print(f"    {line}", file=out)


def _refuse(action: str, missing: list[str], out: TextIO) -> int:
    print(f"pykeepalived lab {action}: cannot run here. The lab builds the seed scenario inside network "
          "namespaces and needs:", file=out)
    for m in missing:
        print(f"  - {m}", file=out)
    if os.geteuid() != 0:
        print(f"Run it as root, e.g.: sudo {Path(sys.argv[0]).name} lab {action}", file=out)
    print("Meanwhile, what needs no privilege:", file=out)
    try:
        _config_check(out)
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


def _guarded(seed: SeedLab, body: Callable[[], None], out: TextIO, *, keep: bool) -> int:
    """Run ``body``; on error or interruption (and always unless ``keep``), tear the lab down."""
    rc = EXIT_OK
    try:
        with _signals_unwind():
            body()
    except (KeyboardInterrupt, Interrupted) as e:
        name = e.args[0] if isinstance(e, Interrupted) else "SIGINT"
        print(f"\nInterrupted ({name}): cleaning up ...", file=out, flush=True)
        rc = 128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT)
        keep = False
    except (NotReady, nsmod.LabError, OSError) as e:
        print(f"pykeepalived lab: {e}", file=out, flush=True)
        for lb in LBS:
            log = seed.log_path(lb)
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-8:]
                print(f"  last lines of {log}:", *(f"    {t}" for t in tail), sep="\n", file=out)
        rc = EXIT_FAILED
        keep = False
    if not keep:
        with _uninterruptible():
            removed = seed.down()
        print(f"Cleaned up: {len(removed)} items (processes, namespaces {seed.prefix}*, {seed.dir}).",
              file=out, flush=True)
    return rc


def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    seed = SeedLab(args.prefix, dataplane=args.dataplane)

    def body() -> None:
        print(f"Building the seed in namespaces {seed.prefix}* ...", file=out, flush=True)
        seed.up(wait=args.wait)
        seed.lab.detach()  # type: ignore[union-attr]  # up just succeeded
    rc = _guarded(seed, body, out, keep=True)
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
Stop it all: pykeepalived lab down{'' if seed.prefix == DEFAULT_PREFIX else f' --prefix {seed.prefix}'}""",
          file=out)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    seed = SeedLab(args.prefix or f"{DEMO_TAG}{os.getpid()}-", dataplane=args.dataplane)
    rc = _guarded(seed, lambda: demo(seed, out), out, keep=False)
    if rc == EXIT_OK:
        print("Demo finished: every step of the seed worked.", file=out)
    return rc


def cmd_down(args: argparse.Namespace, out: TextIO) -> int:
    # the lab asked for, plus demos killed before they could clean up (namespaces or state left)
    prefixes = [args.prefix]
    for p in [*stale_demo_prefixes(), *stale_demo_prefixes_of_dirs()]:
        if p not in prefixes:
            prefixes.append(p)
    total = 0
    with _uninterruptible():
        for prefix in prefixes:
            seed = SeedLab.attach(prefix)
            removed = seed.down()
            total += len(removed)
            for r in removed:
                print(f"removed {r}", file=out)
    if not total:
        print(f"Nothing to remove (no namespaces {args.prefix}*, no state in {STATE_ROOT}).", file=out)
    return EXIT_OK


def stale_demo_prefixes_of_dirs() -> list[str]:
    """Demo state directories whose demo process is gone."""
    out = []
    if STATE_ROOT.is_dir():
        for d in STATE_ROOT.iterdir():
            rest = d.name.removeprefix(DEMO_TAG)
            if d.name.startswith(DEMO_TAG) and rest.isdigit() and not pid_alive(int(rest)):
                out.append(f"{d.name}-")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The seed scenario on this machine (root): two load balancers sharing 10.0.0.5 by VRRP, spreading "
        "requests over two web servers (wlc 20:8, persistence 50 s, HTTP_GET checks, a sorry server), all "
        "inside network namespaces that are removed afterwards.")
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
    so = sub.add_parser("scaleout", help="N active load balancers behind ECMP, announced by BGP (FRR)",
                        description="A router with FRR and ECMP, three load balancers each with FRR and "
                                    "pykeepalived (bgp_announce, mh, full NAT), four real servers: shows the "
                                    "routes, the spread over the nodes, a node killed and returning, then removes "
                                    "it all (docs/scaleout.md).")
    so.add_argument("scaleout_action", choices=("demo",))


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    action = args.action
    try:
        nsmod.check_prefix(getattr(args, "prefix", None) or DEFAULT_PREFIX)
    except ValueError as e:
        print(f"pykeepalived lab {action}: {e}", file=out)
        return EXIT_FAILED
    missing = missing_prerequisites()
    if missing:
        return _refuse(action, missing, out)
    if action == "scaleout":
        from . import scaleout

        if scaleout.find_frr("bgpd") is None:
            print("pykeepalived lab scaleout: FRR's bgpd and zebra are needed (apt-get install frr)", file=out)
            return EXIT_FAILED
        with _signals_unwind():
            return scaleout.demo(out)
    return {"up": cmd_up, "demo": cmd_demo, "down": cmd_down}[action](args, out)


__all__ = ["add_arguments", "missing_prerequisites", "run"]

if __name__ == "__main__":  # pragma: no cover
    _p = argparse.ArgumentParser(prog="pykeepalived lab")
    add_arguments(_p)
    sys.exit(run(_p.parse_args()))
