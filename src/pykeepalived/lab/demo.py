"""The seed scenario, running: two pykeepalived daemons, two web servers, a sorry server, a client.

:class:`SeedLab` is what ``pykeepalived lab up|demo|down``, the end-to-end test and the soak run
share: it builds :func:`~pykeepalived.lab.topology.seed_topology`, writes the seed's
keepalived.conf for lb1 and lb2 (:func:`seed_conf`: ``examples/lb*.conf`` plus notify scripts
that log their arguments), starts everything in its namespaces and records every process it
started (PID and start time) in a state directory, so that ``lab down`` — from another process,
after ``lab up`` has exited or a demo was killed — stops exactly those processes and removes the
namespaces.  :func:`demo` walks through the seed and says what happens as it happens.

Nothing here touches the root namespace's interfaces: addresses, routes, nft tables and
processes all live in namespaces named ``<prefix>…``.  Unix control sockets and files live in the
state directory, which is why status can be read from outside the namespaces.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TextIO, TypeVar

from pykeepalived.lab import netns as nsmod
from pykeepalived.lab import web
from pykeepalived.lab.netns import InNetns
from pykeepalived.lab.running import (  # noqa: F401  (Proc, _stop_procs, _start_time: re-exported)
    STATE_ROOT,
    Proc,
    RunningLab,
    _comm,
    _in_netns,
    _start_time,
    _stop_procs,
    pids_in_netns,
)
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP, SEED_SORRY_SERVER, seed_topology

T = TypeVar("T")

#: ``lab up`` / ``lab down`` without ``--prefix``
DEFAULT_PREFIX = "pklab-"
#: prefixes of demos carry the demo's pid, so ``lab down`` can tell an interrupted one
DEMO_TAG = "pkdemo"

LBS = ("lb1", "lb2")
REAL_SERVERS = {"rs1": "192.168.0.12", "rs2": "192.168.0.13"}
WEB_NODES = ("rs1", "rs2", "sorry")
WEIGHTS = {"rs1": 20, "rs2": 8}
URL = f"http://{SEED_FRONT_VIP}/"
ADVERT_INT = 1.0
PRIORITY = {"lb1": 150, "lb2": 100}


# -- the seed's configuration ------------------------------------------------------------------

_SEED_HEAD = """\
! pykeepalived example: the seed scenario, load balancer {n} ({state}).
! Two load balancers share the front VIP 10.0.0.5 and the gateway VIP 192.168.0.1 (a sync group, so
! both move together); requests to 10.0.0.5:80 are spread over two web servers by wlc with weights
! 20 and 8, persistence 50 s, health-checked by HTTP_GET; a sorry server answers when both are down.
! Interfaces: eth0 faces the clients (10.0.0.0/24), eth1 the real servers (192.168.0.0/24).
"""

_REAL_SERVER = """\
    real_server {addr} 80 {{
        weight {weight}
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
"""


def seed_conf(lb: str, *, notify: str | None = None, persistence: int | None = 50) -> str:
    """The seed's keepalived.conf for ``lb`` (``examples/lbN.conf`` byte for byte when ``notify`` is None).

    ``notify`` (a script path) adds the sync group's notify_master/backup/fault scripts, called
    with ``LB STATE`` as their configured arguments, and the generic ``notify`` script, called with
    ``LB notify`` (keepalived appends ``GROUP VG1 STATE 0``).  ``persistence=None`` drops
    ``persistence_timeout`` (to show the 20:8 spread from one client).
    """
    master = lb == "lb1"
    n = lb.removeprefix("lb")
    state, prio = ("MASTER", PRIORITY["lb1"]) if master else ("BACKUP", PRIORITY[lb])
    out = [_SEED_HEAD.format(n=n, state=state), "global_defs {", f"    router_id {lb}",
           "    enable_script_security", "    script_user root", "}", "",
           "vrrp_sync_group VG1 {", "    group {", "        VI_FRONT", "        VI_GATEWAY", "    }"]
    if notify:
        out += [f'    notify_master "{notify} {lb} MASTER"', f'    notify_backup "{notify} {lb} BACKUP"',
                f'    notify_fault "{notify} {lb} FAULT"', f'    notify "{notify} {lb} notify"']
    out += ["}", ""]
    for name, iface, vrid, vip in (("VI_FRONT", "eth0", 51, SEED_FRONT_VIP),
                                   ("VI_GATEWAY", "eth1", 52, SEED_GATEWAY_VIP)):
        out += [f"vrrp_instance {name} {{", f"    state {state}", f"    interface {iface}",
                f"    virtual_router_id {vrid}", f"    priority {prio}", f"    advert_int {ADVERT_INT:g}",
                "    authentication {", "        auth_type PASS", "        auth_pass seedpass", "    }",
                "    virtual_ipaddress {", f"        {vip}/24 dev {iface}", "    }", "}", ""]
    out += [f"virtual_server {SEED_FRONT_VIP} 80 {{", "    delay_loop 2", "    lb_algo wlc", "    lb_kind NAT"]
    if persistence:
        out.append(f"    persistence_timeout {persistence}")
    out += ["    protocol TCP", f"    sorry_server {SEED_SORRY_SERVER} 80", ""]
    text = "\n".join(out) + "\n"
    text += "".join(_REAL_SERVER.format(addr=REAL_SERVERS[rs], weight=WEIGHTS[rs]) for rs in WEIGHTS)
    return text + "}\n"


NOTIFY_SCRIPT = """\
#!/bin/sh
# pykeepalived lab: log every VRRP notification with its arguments, one line each
echo "$(date +%s.%N) $*" >> '{log}'
"""


# -- running a function inside a namespace (the client) -----------------------------------------

def in_netns(ns: str, fn: Callable[..., T], *args: Any, timeout: float = 120.0, **kwargs: Any) -> T:
    t = InNetns(ns, fn, *args, **kwargs)
    t.start()
    return t.result(timeout)  # type: ignore[no-any-return]


# -- the seed, running ---------------------------------------------------------------------------

class NotReady(RuntimeError):
    """The seed did not reach the expected state in time (the message says what was missing)."""


def daemon_argv() -> list[str]:
    """How to run pykeepalived from this install (the console script need not be on PATH)."""
    return [sys.executable, "-m", "pykeepalived.cli"]


@dataclass
class SeedLab(RunningLab):
    """The seed scenario's nodes and processes, with a state directory that outlives this process."""

    KIND: ClassVar[str] = "seed"
    COMMAND: ClassVar[str] = "lab"
    DEFAULT_PREFIX: ClassVar[str] = DEFAULT_PREFIX
    DEMO_TAG: ClassVar[str] = DEMO_TAG
    FIRST: ClassVar[tuple[str, ...]] = LBS

    prefix: str = DEFAULT_PREFIX
    persistence: int | None = 50
    dataplane: str = "nftables"
    #: niceness of the web servers (the soak lowers it so a saturated server never delays adverts)
    web_nice: int = 0
    #: what the last :meth:`kill_lb` killed (pid -> command line), for logs
    last_killed: dict[int, str] = field(default_factory=dict, repr=False)

    # -- files -----------------------------------------------------------------------------
    @property
    def notify_script(self) -> Path:
        return self.dir / "notify.sh"

    @property
    def notify_log(self) -> Path:
        return self.dir / "notify.log"

    def conf_path(self, lb: str) -> Path:
        return self.dir / f"{lb}.conf"

    def pid_file(self, lb: str) -> Path:
        return self.dir / f"{lb}.pid"

    # -- building --------------------------------------------------------------------------
    def up(self, wait: float = 30.0) -> None:
        """Topology, configs, web servers, both daemons; returns when lb1 is MASTER and checks pass."""
        self.prepare()
        self.notify_script.write_text(NOTIFY_SCRIPT.format(log=self.notify_log))
        self.notify_script.chmod(0o755)
        for lb in LBS:
            self.write_conf(lb)
        self.lab = seed_topology(self.prefix, sorry_server=True)
        for name in WEB_NODES:
            self.start_web(name)
        for lb in LBS:
            self.start_lb(lb)
        self.wait_ready(wait)

    def write_conf(self, lb: str, persistence: int | bool | None = True) -> Path:
        """(Re)write lb's config; ``persistence=True`` keeps this lab's setting."""
        p = self.persistence if persistence is True else persistence or None
        path = self.conf_path(lb)
        path.write_text(seed_conf(lb, notify=str(self.notify_script), persistence=p))
        return path

    def start_web(self, name: str, wait: float = 10.0) -> Proc:
        """The web server of ``name`` (rs1, rs2, sorry): its page is its name."""
        with contextlib.suppress(FileNotFoundError):
            self.log_path(f"web-{name}").unlink()
        nice = ["nice", "-n", str(self.web_nice)] if self.web_nice else []
        argv = [*nice, sys.executable, "-m", "pykeepalived.lab.web", "serve", name]
        proc = self._popen(f"web-{name}", name, argv)
        log = Path(proc.log)
        _wait(lambda: "ready" in log.read_text(errors="replace"), wait, f"web server on {name}",
              alive=proc.alive)
        return proc

    def stop_web(self, name: str) -> None:
        self._stop(f"web-{name}")

    def start_lb(self, lb: str) -> Proc:
        """pykeepalived on ``lb`` in the foreground (-n), logging to the console (-l) into its log file."""
        argv = [*daemon_argv(), "-f", str(self.conf_path(lb)), "-n", "-l", "-p", str(self.pid_file(lb)),
                "--dataplane", self.dataplane]
        if self.dataplane == "proxy":  # each load balancer's proxy workers in a runtime directory of its own
            argv = ["env", f"PYKEEPALIVED_PROXY_DIR={self.dir / f'{lb}-proxy'}", *argv]
        return self._popen(lb, lb, argv)

    def daemon_pids(self, lb: str) -> list[int]:
        """The supervisor and its VRRP and checker children (from the pid files the daemon wrote)."""
        pids = []
        stem = self.pid_file(lb).with_suffix("")
        for path in (self.pid_file(lb), stem.with_name(f"{lb}_vrrp.pid"), stem.with_name(f"{lb}_checkers.pid")):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text().split()[0]))
        return pids

    def stop_lb(self, lb: str, grace: float = 10.0) -> float:
        """SIGTERM (a clean stop: priority 0 adverts, VIPs removed); returns when it has exited."""
        t = time.monotonic()
        self._stop(lb, grace)
        return t

    def kill_lb(self, lb: str) -> float:
        """kill -9 of lb's daemon processes (supervisor, VRRP, checkers) at once; returns the time."""
        # every process in lb's namespace is this daemon's (or a notify script it forked); pid files
        # can be stale, and `ip netns pids` fails when a process exits during its scan
        pids = pids_in_netns(self.ns(lb))
        self.last_killed = {p: _comm(p) for p in pids}
        t = time.monotonic()
        # freeze all first: a VRRP child outliving its parent by a few ms would get the parent-death
        # signal and stop cleanly (priority 0 advert), which is not a crash
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        self._forget(lb)
        _wait(lambda: not any(_in_netns(p, self.ns(lb)) for p in pids), 5, f"{lb}'s daemons to die")
        return t

    def crash_lb(self, lb: str) -> float:
        """lb dies: kill -9 of its daemons and both cables pulled at once; returns the kill time.

        A killed daemon leaves its VIPs and nft table behind, as keepalived does; nobody can see
        them on an unplugged machine, and they are wiped right away as its reboot would.
        """
        t = self.kill_lb(lb)
        self.unplug(lb)
        self.wipe_lb(lb)
        return t

    def unplug(self, lb: str, up: bool = False) -> None:
        """Pull (or plug back) both of lb's cables at the switch."""
        assert self.lab is not None
        for ifname in ("eth0", "eth1"):
            self.lab.set_port(lb, ifname, up)

    def wipe_lb(self, lb: str) -> None:
        """What a reboot clears after a crash: the VIPs and nft tables a killed daemon left behind."""
        assert self.lab is not None
        for vip, dev in ((SEED_FRONT_VIP, "eth0"), (SEED_GATEWAY_VIP, "eth1")):
            self.lab.run(lb, ["ip", "addr", "del", f"{vip}/24", "dev", dev], check=False)
        self.lab.run(lb, ["nft", "flush", "ruleset"], check=False)  # this namespace's only

    # -- looking -----------------------------------------------------------------------------
    def status(self, lb: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """The daemon's status document (control socket), or None if it does not answer."""
        from pykeepalived.paths import control_path_for
        from pykeepalived.status.client import fetch

        try:
            code, body = fetch(control_path_for(str(self.pid_file(lb))), "/status", timeout)
        except (OSError, ValueError):
            return None
        if code != 200:
            return None
        with contextlib.suppress(ValueError):
            return json.loads(body)  # type: ignore[no-any-return]
        return None

    def status_text(self, lb: str) -> str:
        from pykeepalived.status.cli import render_text
        from pykeepalived.status.snapshot import Snapshot

        doc = self.status(lb)
        if doc is None:
            return f"({lb}: no daemon answers)\n"
        return render_text(Snapshot.from_json(json.dumps(doc)))

    def vrrp_states(self, lb: str) -> dict[str, str]:
        doc = self.status(lb)
        return {v["name"]: v["state"] for v in doc.get("vrrp", ())} if doc else {}

    def health(self, lb: str) -> dict[str, str]:
        """Checker verdict per destination address (``192.168.0.12`` -> ``alive`` / ``down`` / ``sorry``)."""
        doc = self.status(lb)
        out: dict[str, str] = {}
        for vs in (doc or {}).get("virtual_services", ()):
            for d in vs.get("destinations", ()):
                out[d["key"]["addr"]] = d["health"]
        return out

    def conn_counts(self, lb: str) -> dict[str, int]:
        """ActiveConn + InActConn per destination address, as ``status`` shows them."""
        doc = self.status(lb)
        out: dict[str, int] = {}
        for vs in (doc or {}).get("virtual_services", ()):
            for d in vs.get("destinations", ()):
                out[d["key"]["addr"]] = int(d.get("active_conns", 0)) + int(d.get("inactive_conns", 0))
        return out

    def in_table(self, lb: str) -> list[str]:
        """Destinations the data plane holds (what ipvsadm would list)."""
        doc = self.status(lb)
        return [d["key"]["addr"] for vs in (doc or {}).get("virtual_services", ())
                for d in vs.get("service", {}).get("destinations", ())]

    def vip_holders(self, vip: str = SEED_FRONT_VIP, dev: str = "eth0") -> list[str]:
        """Which lbs have ``vip`` on ``dev`` right now (``ip addr``, not what the daemons say)."""
        out = []
        for lb in LBS:
            cp = nsmod.run(["ip", "-n", self.ns(lb), "-4", "-o", "addr", "show", "dev", dev], check=False)
            if f" {vip}/" in cp.stdout:
                out.append(lb)
        return out

    def notify_lines(self) -> list[str]:
        """``LB STATE`` / ``LB notify GROUP VG1 STATE 0`` lines the notify scripts logged (time stripped)."""
        try:
            text = self.notify_log.read_text()
        except FileNotFoundError:
            return []
        return [line.split(" ", 1)[1] for line in text.splitlines() if " " in line]

    def wait_master(self, lb: str, timeout: float) -> float:
        """Until ``lb`` holds both VIPs and the other lb neither; returns the monotonic time."""
        other = "lb2" if lb == "lb1" else "lb1"

        def ok() -> bool:
            return (self.vip_holders() == [lb]
                    and self.vip_holders(SEED_GATEWAY_VIP, "eth1") == [lb]
                    and other not in self.vip_holders())
        return _wait(ok, timeout, f"{lb} holding {SEED_FRONT_VIP} and {SEED_GATEWAY_VIP} alone", step=0.02)

    def wait_health(self, lb: str, want: dict[str, str], timeout: float) -> float:
        """Until lb's checkers report ``want`` (address -> health)."""
        def ok() -> bool:
            h = self.health(lb)
            return all(h.get(a) == s for a, s in want.items())
        return _wait(ok, timeout, f"{lb} reporting {want}", step=0.05)

    def wait_table(self, lb: str, want: set[str], timeout: float) -> float:
        """Until lb's data plane holds exactly the destinations ``want`` (addresses)."""
        return _wait(lambda: set(self.in_table(lb)) == want, timeout,
                     f"{lb}'s table holding {sorted(want)}", step=0.05)

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.wait_master("lb1", timeout)
        alive = {addr: "alive" for addr in REAL_SERVERS.values()}
        for lb in LBS:
            self.wait_health(lb, alive, timeout)
        _wait(lambda: self.vrrp_states("lb2") and set(self.vrrp_states("lb2").values()) == {"BACKUP"},
              timeout, "lb2 BACKUP")

    # -- the client -------------------------------------------------------------------------
    def get(self, count: int, *, sources: Sequence[str] | None = None,
            timeout: float = 2.0) -> collections.Counter[str]:
        """``count`` requests to http://10.0.0.5/ from the client: answers counted by page."""
        return in_netns(self.ns("client"), _client_get, URL, count, list(sources or ()), timeout)

    def add_clients(self, n: int, first: int = 101) -> list[str]:
        """Give the client ``n`` more addresses (10.0.0.101 …): ``n`` clients as persistence sees them."""
        assert self.lab is not None
        if not 101 <= first <= first + n - 1 <= 250:
            raise ValueError("client addresses are 10.0.0.101 to 10.0.0.250")
        addrs = [f"10.0.0.{first + i}" for i in range(n)]
        nsmod.ip_batch(self.ns("client"), [f"addr add {a}/24 dev eth0" for a in addrs])
        return addrs

    def start_probe(self, duration: float, every: float = 0.05, timeout: float = 0.25) -> InNetns:
        """A request every ``every`` s from the client for ``duration`` s; ``.result()`` -> list of Probe."""
        stop = threading.Event()
        t = InNetns(self.ns("client"), web.probe, URL, duration, every=every, timeout=timeout, stop=stop)
        t.stop_event = stop  # type: ignore[attr-defined]
        t.start()
        return t


def _client_get(url: str, count: int, sources: list[str], timeout: float) -> collections.Counter[str]:
    return web.get(url, count, sources=sources or None, timeout=timeout)


def _wait(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.05,
          alive: Callable[[], bool] | None = None) -> float:
    """Poll ``cond`` (bounded); the monotonic time it became true, or :class:`NotReady`."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return time.monotonic()
        if alive is not None and not alive():
            raise NotReady(f"{what}: the process exited")
        if time.monotonic() > deadline:
            raise NotReady(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def stale_demo_prefixes() -> list[str]:
    """Prefixes of seed demos whose process is gone (interrupted by SIGKILL or a crash)."""
    return SeedLab.stale_demo_prefixes()


# -- the walk-through ----------------------------------------------------------------------------

def down_bound(prio: int, advert: float = ADVERT_INT) -> float:
    """VRRPv2 Master_Down_Interval: 3 × advert_int + (256 - priority) / 256 s."""
    return 3 * advert + (256 - prio) / 256


@dataclass
class Narrator:
    """Prints steps with the time since the start, as they happen."""

    out: TextIO = sys.stdout
    t0: float = field(default_factory=time.monotonic)

    def say(self, msg: str = "") -> None:
        stamp = f"[{time.monotonic() - self.t0:6.1f}s] " if msg else ""
        for i, line in enumerate(msg.splitlines() or [""]):
            print((stamp if i == 0 else " " * len(stamp)) + line, file=self.out, flush=True)

    def block(self, text: str, indent: str = "    ") -> None:
        for line in text.rstrip("\n").splitlines():
            print(indent + line, file=self.out, flush=True)


def _spread(c: collections.Counter[str]) -> str:
    total = sum(c.values()) or 1
    return ", ".join(f"{k} {v} ({100 * v / total:.0f}%)" for k, v in sorted(c.items()))


@contextlib.contextmanager
def _probing(seed: SeedLab, duration: float) -> Iterator[InNetns]:
    p = seed.start_probe(duration)
    try:
        yield p
    finally:
        p.stop_event.set()  # type: ignore[attr-defined]


def _outage(results: Sequence[web.Probe], since: float) -> tuple[int, float]:
    """Failed requests after ``since`` and how long from ``since`` to the first success after them."""
    after = [r for r in results if r.t >= since]
    failed = [r for r in after if not r.ok]
    if not failed:
        return 0, 0.0
    back = next((r.t for r in after if r.ok and r.t > failed[-1].t), failed[-1].t)
    return len(failed), back - since


def demo(seed: SeedLab, out: TextIO = sys.stdout) -> None:
    """Up, then the seed step by step, printing what happens; the caller tears down (``seed.down()``)."""
    n = Narrator(out)
    n.say(f"Building the seed topology in network namespaces {seed.prefix}* (state in {seed.dir})")
    seed.up(wait=30)
    assert seed.lab is not None
    n.block("\n".join(seed.lab.describe()))
    n.say(f"lb1 is MASTER for {SEED_FRONT_VIP} and {SEED_GATEWAY_VIP}; HTTP_GET says rs1 and rs2 are alive.")
    page = seed.get(1)
    n.say(f"client -> {URL}: {next(iter(page))!r}")
    clients = seed.add_clients(56)
    many = seed.get(56, sources=clients)
    how = ("spreads new clients 40:16" if seed.dataplane != "proxy" else
           "spreads new clients about 40:16 (each proxy worker schedules the clients hashed to it and "
           "learns the others' counts once a second)")
    n.say(f"56 clients (10.0.0.101-156), one request each: {_spread(many)}  <- wlc, weights 20:8, {how}")
    one = seed.get(20)
    n.say(f"20 requests from one client (10.0.0.100): {_spread(one)}  <- persistence_timeout 50 keeps a "
          "client on one real server")
    time.sleep(1.5)  # the checker process reads connection counts from conntrack every second
    n.say("pykeepalived status (lb1): InActConn counts the connections just made")
    n.block(seed.status_text("lb1"))

    # -- lb1 dies ---------------------------------------------------------------------------
    bound = down_bound(PRIORITY["lb2"])
    n.say(f"Killing lb1 (kill -9 of its pykeepalived processes, cables pulled as for a dead machine); "
          f"lb2 must take over within 3 x advert_int + skew = {bound:.2f} s ...")
    with _probing(seed, 15) as probe:
        time.sleep(0.5)
        t_kill = seed.crash_lb("lb1")
        t_vip = _wait(lambda: seed.vip_holders() == ["lb2"], 15, "lb2 holding the VIP", step=0.02)
        time.sleep(1.0)  # the client's first answers through lb2
        probe.stop_event.set()  # type: ignore[attr-defined]
        results = probe.result(20)
    failed, outage = _outage(results, t_kill)
    n.say(f"lb2 took {SEED_FRONT_VIP} {t_vip - t_kill:.2f} s after the kill; the client (a request every 50 ms) "
          f"saw {failed} failed requests, {outage:.2f} s without an answer.")
    n.say(f"client -> {URL}: {next(iter(seed.get(1)))!r} (through lb2)")
    for line in seed.notify_lines():
        if line.startswith("lb2"):
            n.block(f"notify: {line}")

    # -- real servers fail --------------------------------------------------------------------
    n.say("Stopping rs1's web server; lb2's HTTP_GET check (delay_loop 2, retry 1) must notice ...")
    t_stop = time.monotonic()
    seed.stop_web("rs1")
    t_gone = seed.wait_table("lb2", {REAL_SERVERS["rs2"]}, 15)
    n.say(f"rs1 removed from the table {t_gone - t_stop:.2f} s after its web server stopped.")
    n.say(f"10 requests: {_spread(seed.get(10))}")
    n.say("Stopping rs2's web server too: quorum lost, the sorry server takes the traffic ...")
    t_stop = time.monotonic()
    seed.stop_web("rs2")
    t_gone = seed.wait_table("lb2", {SEED_SORRY_SERVER}, 15)
    n.say(f"rs2 removed and sorry server {SEED_SORRY_SERVER} in the table {t_gone - t_stop:.2f} s later; "
          f"5 requests: {_spread(seed.get(5))}")
    n.say("pykeepalived status (lb2):")
    n.block(seed.status_text("lb2"))

    # -- restore --------------------------------------------------------------------------------
    n.say("Restoring: web servers on rs1 and rs2 back ...")
    t_start = time.monotonic()
    seed.start_web("rs1")
    seed.start_web("rs2")
    t_back = seed.wait_table("lb2", set(REAL_SERVERS.values()), 15)
    n.say(f"both back in the table {t_back - t_start:.2f} s later; 5 requests: {_spread(seed.get(5))}")
    n.say("lb1 reboots (cables back, pykeepalived started); with priority 150 it preempts lb2 ...")
    seed.unplug("lb1", up=True)
    t_start = time.monotonic()
    seed.start_lb("lb1")
    t_master = seed.wait_master("lb1", 20)
    n.say(f"lb1 MASTER again {t_master - t_start:.2f} s after its daemon started.")
    seed.wait_table("lb1", set(REAL_SERVERS.values()), 15)
    n.say(f"the 56 clients again, through lb1: {_spread(seed.get(56, sources=clients))}")
    n.say("notify scripts ran (sync group VG1: notify_master/backup/fault 'LB STATE'; notify appends "
          "'GROUP VG1 STATE 0'):")
    n.block("\n".join(seed.notify_lines()))
    n.say("pykeepalived status (lb1):")
    n.block(seed.status_text("lb1"))
