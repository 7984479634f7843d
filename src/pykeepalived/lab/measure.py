"""Measuring VRRP in a lab: configs, node processes (ours or keepalived), wire capture, a client probe.

Shared by the integration and interop tests (``tests/integration/test_vrrp_*.py``,
``tests/interop/test_vrrp_*keepalived.py``) and ``bench/failover.py``:

* :func:`vrrp_conf` writes a keepalived.conf both implementations read (one instance on eth0);
* :class:`Node` runs pykeepalived's VRRP process or Debian's keepalived in a lab node, with its
  pid files, log and dumps in a private directory, stopped by PID;
* :class:`Sniffer` captures adverts (IPv4 and IPv6), gratuitous ARPs and unsolicited neighbour
  advertisements with kernel timestamps (AF_PACKET in the node's namespace), and :func:`takeover`
  reads the takeover time off it;
* :class:`Prober` connects from the client to the VIP every few ms (what users see);
* :func:`skew` / :func:`down_bound` are keepalived's timer formulas (keepalived's include/vrrp.h:
  ``VRRP_TIMER_SKEW``, ``VRRP_MS_DOWN_TIMER``).

Everything happens inside the namespaces of a :class:`~pykeepalived.lab.topology.Lab`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykeepalived.lab.topology import TWO_NODE_ADDRESSES, Lab
from pykeepalived.vrrp.io import open_socket

VIP = "10.9.0.50"
#: the IPv6 VIP of the IPv6 tests (``vrrp_conf(vip=VIP6 + "/64")``)
VIP6 = "fd09::50"
VRID = 51
PORT = 8080
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
RUNNER = [sys.executable, "-m", "pykeepalived.vrrp.runner"]
#: extra time allowed past the protocol bound on a 2-core machine shared with other jobs
SLACK = 0.06


def node_ip(node: str) -> str:
    return TWO_NODE_ADDRESSES[node][0].split("/")[0]


def node_ip6(node: str) -> str:
    """The global IPv6 address of a two_node_lan node (adverts come from its link-local one)."""
    return TWO_NODE_ADDRESSES[node][1].split("/")[0]


def link_local(lab: Lab, node: str, dev: str = "eth0") -> str:
    """The node's IPv6 link-local address on ``dev``: the source of its IPv6 adverts."""
    out = lab.run(node, ["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"]).stdout
    for line in out.splitlines():
        words = line.split()
        if "inet6" in words:
            return words[words.index("inet6") + 1].split("/")[0]
    raise AssertionError(f"no link-local address on {node}:{dev}")


# -- configs ----------------------------------------------------------------------------------

def vrrp_conf(*, prio: int, version: int = 3, advert: float = 0.1, state: str = "BACKUP",
              nopreempt: bool = False, auth: str | None = None, peers: Sequence[str] = (),
              src: str | None = None, notify: str | None = None, fifo: str | None = None,
              garp_delay: int = 1, vrid: int = VRID, vip: str = VIP, name: str = "VI_1",
              interface: str = "eth0", instance_extra: Sequence[str] = (), blocks: str = "",
              global_extra: Sequence[str] = ()) -> str:
    """A keepalived.conf both implementations read: one instance on eth0 holding ``vip``/24.

    ``vip`` may carry its own prefix (``"fd09::50/64"``: an IPv6 instance, which needs version 3).
    ``instance_extra`` lines go inside the instance (track_script, notify_*, ...), ``blocks``
    (vrrp_script, track_file, ...) before it, ``global_extra`` into global_defs.
    """
    lines = ["global_defs {", f"  vrrp_garp_master_delay {garp_delay}", "  vrrp_garp_master_repeat 1",
             *(f"  {g}" for g in global_extra)]
    if notify or fifo or instance_extra or blocks:
        lines.append("  script_user root")
    if fifo:
        lines.append(f"  vrrp_notify_fifo {fifo}")
    lines += ["}", blocks, f"vrrp_instance {name} {{", f"  state {state}", f"  interface {interface}",
              f"  virtual_router_id {vrid}", f"  priority {prio}", f"  advert_int {advert}",
              f"  version {version}"]
    if nopreempt:
        lines.append("  nopreempt")
    if auth:
        lines += ["  authentication {", "    auth_type PASS", f"    auth_pass {auth}", "  }"]
    if peers:
        if src:
            lines.append(f"  unicast_src_ip {src}")
        lines += ["  unicast_peer {", *(f"    {p}" for p in peers), "  }"]
    if notify:
        lines.append(f'  notify "{notify}"')
    lines += [f"  {x}" for x in instance_extra]
    lines += ["  virtual_ipaddress {", f"    {vip if '/' in vip else vip + '/24'}", "  }", "}"]
    return "\n".join(lines) + "\n"


def skew(version: int, advert: float, prio: int) -> float:
    """keepalived's skew: v2 (256-prio)/256 s; v3 (256-prio)*advert/256, in whole µs as it computes."""
    if version == 2:
        return (256 - prio) * 1_000_000 // 256 / 1e6
    return ((256 - prio) * round(advert * 100) * 625 // 16) / 1e6


def down_bound(version: int, advert: float, prio: int) -> float:
    """Master_Down_Interval: 3 × advert + skew."""
    return 3 * (round(advert) if version == 2 else advert) + skew(version, advert, prio)


# -- node processes ---------------------------------------------------------------------------

#: the VRRP processes started and not yet stopped, by (id of their lab, node name): :func:`elect` looks
#: up the backup's
_running: dict[tuple[int, str], Node] = {}


@dataclass
class Node:
    """One VRRP process (ours or keepalived) in a lab node, with its files in a private dir."""

    lab: Lab
    name: str
    #: "py": pykeepalived's VRRP process alone; "ka": keepalived -P; "pyd": the pykeepalived daemon -P, with
    #: keepalived's command line (its supervisor and VRRP child)
    kind: str
    conf: str
    dir: Path
    proc: subprocess.Popen[Any] | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / f"{self.kind}.log"

    @property
    def conf_path(self) -> Path:
        return self.dir / f"{self.kind}.conf"

    def reload(self, conf: str) -> float:
        """Write a new config and send SIGHUP (keepalived: to its parent); returns the time."""
        self.conf = conf
        self.conf_path.write_text(conf)
        return self.signal(signal.SIGHUP)

    def start(self) -> Node:
        """Start the process (not waiting: :func:`elect` waits until the backup listens)."""
        self._launch()
        _running[(id(self.lab), self.name)] = self
        return self

    def listening(self) -> bool:
        """Whether the process has entered its first state (its socket listens), or is gone."""
        return self.proc is None or self.proc.poll() is not None or bool(
            re.search(r"Entering (BACKUP|MASTER|FAULT) STATE", self.log()))

    def _launch(self) -> None:
        conf_path = self.conf_path
        conf_path.write_text(self.conf)
        for f in ("vrrp.pid", "main.pid", "check.pid"):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / f).unlink()
        out = open(self.log_path, "a")  # noqa: SIM115 - handed to the child
        if self.kind == "py":
            argv = [*RUNNER, "-f", str(conf_path), "-l", "-r", str(self.dir / "vrrp.pid"),
                    "--stats-file", str(self.dir / "keepalived.stats")]
        else:
            daemon = ["keepalived"] if self.kind == "ka" else [sys.executable, "-m", "pykeepalived.cli"]
            argv = [*daemon, "-n", "-l", "-P", "-R", "-f", str(conf_path),
                    "-p", str(self.dir / "main.pid"), "-r", str(self.dir / "vrrp.pid"),
                    "-c", str(self.dir / "check.pid")]
        env = {**os.environ, "TMPDIR": str(self.dir)}
        self.proc = self.lab.popen(self.name, argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()

    def vrrp_pid(self, timeout: float = 5.0) -> int:
        """The process that sends adverts (keepalived's VRRP child; ours is the runner itself)."""
        assert self.proc is not None
        if self.kind == "py":
            return self.proc.pid
        path = self.dir / "vrrp.pid"
        wait_for(lambda: path.exists() and path.read_text().strip().isdigit(), timeout, "keepalived vrrp pid")
        return int(path.read_text())

    def signal(self, sig: int) -> float:
        """Send ``sig`` to the VRRP process; returns the monotonic time just before."""
        pid = self.vrrp_pid() if sig in (signal.SIGKILL, signal.SIGUSR2) else self.proc.pid  # type: ignore[union-attr]
        t = time.monotonic()
        os.kill(pid, sig)
        return t

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc is None:
            return None
        _running.pop((id(self.lab), self.name), None)
        proc, self.proc = self.proc, None
        return self.lab.stop(proc, grace=timeout)

    def reap(self, timeout: float = 5.0) -> int | None:
        """After a SIGKILL: collect the process (keepalived's parent exits by itself with -R)."""
        if self.proc is None:
            return None
        _running.pop((id(self.lab), self.name), None)
        proc, self.proc = self.proc, None
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.lab.stop(proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stats(self) -> dict[str, int]:
        """SIGUSR2 dump of the VRRP process, flattened to ``"Section/Name": value``."""
        path = self.dir / "keepalived.stats"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.signal(signal.SIGUSR2)
        wait_for(lambda: path.exists() and path.stat().st_size > 0, 5, f"{self.kind} stats file")
        time.sleep(0.05)
        return parse_stats(path.read_text())


def parse_stats(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    section = ""
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if not value.strip():
            section = key if line.startswith("  ") else ""
            continue
        if line.startswith("    "):
            out[f"{section}/{key}"] = int(value)
        elif line.startswith("  "):
            out[key] = int(value)
    return out


ERROR_STATS = ("Packet Errors/Length", "Packet Errors/TTL", "Packet Errors/Invalid Type",
               "Packet Errors/Advertisement Interval", "Packet Errors/Address List",
               "Authentication Errors/Invalid Type", "Authentication Errors/Type Mismatch",
               "Authentication Errors/Failure")


def error_counters(stats: dict[str, int]) -> dict[str, int]:
    return {k: stats[k] for k in ERROR_STATS if stats.get(k)}


def wait_for(cond: Callable[[], object], timeout: float, what: str, step: float = 0.02) -> float:
    """Poll ``cond`` until true (bounded); returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def has_vip(lab: Lab, node: str, vip: str = VIP, dev: str = "eth0") -> bool:
    out = lab.run(node, ["ip", "-6" if ":" in vip else "-4", "-o", "addr", "show", "dev", dev],
                  check=False).stdout
    return f" {vip.split('/')[0]}/" in out


def vip_holders(lab: Lab, nodes: Sequence[str] = ("a", "b"), vip: str = VIP, dev: str = "eth0") -> list[str]:
    return [n for n in nodes if has_vip(lab, n, vip, dev)]


# -- what crossed the wire --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Seen:
    t: float  # CLOCK_MONOTONIC seconds
    kind: str  # "vrrp" | "garp" | "na" (unsolicited neighbour advertisement) | "bfd" (IPv4 single hop)
    src: str  # IP source (VRRP), sender IP (GARP) or target address (NA)
    prio: int = -1
    vrid: int = -1
    mac: str = ""  # Ethernet source
    ttl: int = -1  # IPv4 TTL / IPv6 hop limit
    flags: int = -1  # NA: the R/S/O flag byte (0x80 Router, 0x20 Override)
    state: int = -1  # BFD: the State field (0 AdminDown, 1 Down, 2 Init, 3 Up)
    diag: int = -1  # BFD: the Diagnostic (1: Control Detection Time Expired)


class Sniffer:
    """AF_PACKET capture of VRRP adverts, gratuitous ARPs, unsolicited NAs and BFD Control packets in one node
    (incoming and outgoing), with the kernel's receive timestamps."""

    def __init__(self, lab: Lab, node: str, ifname: str = "eth0") -> None:
        self.sock = open_socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL), lab.ns(node))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.settimeout(0.2)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = False
        self._offset = time.time() - time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                frame, anc, _flags, _addr = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            except OSError:
                return
            t = time.monotonic()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    t = sec + nsec / 1e9 - self._offset
            item = parse_frame(t, frame)
            if item is not None:
                with self._lock:
                    self.seen.append(item)

    def events(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def adverts(self, src: str | None = None, since: float = 0.0) -> list[Seen]:
        return [e for e in self.events()
                if e.kind == "vrrp" and e.t >= since and (src is None or e.src == src)]

    def garps(self, ip: str, since: float = 0.0) -> list[Seen]:
        """Gratuitous ARPs for an IPv4 ``ip``, unsolicited NAs for an IPv6 one."""
        kind = "na" if ":" in ip else "garp"
        return [e for e in self.events() if e.kind == kind and e.src == ip and e.t >= since]

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def parse_frame(t: float, frame: bytes) -> Seen | None:
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 112:
        ihl = (frame[14] & 0x0F) * 4
        v = frame[14 + ihl:]
        if len(v) >= 3:
            return Seen(t, "vrrp", socket.inet_ntoa(frame[26:30]), prio=v[2], vrid=v[1],
                        mac=frame[6:12].hex(":"), ttl=frame[22])
    if ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 17:  # UDP to BFD's single-hop port
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl:]
        if len(udp) >= 10 and int.from_bytes(udp[2:4], "big") == 3784:
            return Seen(t, "bfd", socket.inet_ntoa(frame[26:30]), mac=frame[6:12].hex(":"), ttl=frame[22],
                        state=udp[9] >> 6, diag=udp[8] & 0x1F)
    if ethertype == 0x0806 and len(frame) >= 42:
        sender, target = frame[28:32], frame[38:42]
        if sender == target:
            return Seen(t, "garp", socket.inet_ntoa(sender), mac=frame[22:28].hex(":"))
    if ethertype == 0x86DD and len(frame) >= 54:
        nxt, src, dst, body = frame[20], frame[22:38], frame[38:54], frame[54:]
        if nxt == 112 and len(body) >= 3:
            return Seen(t, "vrrp", socket.inet_ntop(socket.AF_INET6, src), prio=body[2], vrid=body[1],
                        mac=frame[6:12].hex(":"), ttl=frame[21])
        # ICMPv6 type 136 (NA) to all-nodes, Solicited flag clear, hop limit 255
        if (nxt == 58 and len(body) >= 24 and body[0] == 136 and not body[4] & 0x40
                and dst == socket.inet_pton(socket.AF_INET6, "ff02::1") and frame[21] == 255):
            return Seen(t, "na", socket.inet_ntop(socket.AF_INET6, body[8:24]), mac=frame[6:12].hex(":"),
                        ttl=255, flags=body[4])
    return None


@dataclass(frozen=True, slots=True)
class Takeover:
    last_old: Seen
    first_new: Seen

    @property
    def seconds(self) -> float:
        return self.first_new.t - self.last_old.t


def takeover(sn: Sniffer, old: str, new: str, since: float, timeout: float) -> Takeover:
    """The new master's first advert after ``since`` and the old master's last advert before it."""
    first: list[Seen] = []

    def came() -> bool:
        first[:] = [e for e in sn.adverts(new, since) if e.prio > 0][:1]
        return bool(first)

    wait_for(came, timeout, f"first advert from {new}", step=0.01)
    olds = [e for e in sn.adverts(old) if e.t < first[0].t]
    assert olds, f"no advert from {old} before {new} took over"
    return Takeover(olds[-1], first[0])


# -- the client's view ------------------------------------------------------------------------

SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 and IPv6 VIPs alike
s.bind(("::", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept(); c.sendall(sys.argv[2].encode()); c.close()
"""

PROBE = """
import socket, sys, time
vip, port, duration, every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + duration
while time.monotonic() < end:
    t = time.monotonic()
    try:
        with socket.create_connection((vip, port), timeout=every) as s:
            s.settimeout(every)
            who = s.recv(16).decode() or "?"
        print(f"{t:.6f} ok {who}", flush=True)
    except OSError:
        print(f"{t:.6f} fail -", flush=True)
    time.sleep(max(0.0, every - (time.monotonic() - t)))
"""


def start_servers(lab: Lab, nodes: Sequence[str] = ("a", "b")) -> None:
    """A TCP server on every node answering its own name: who holds the VIP, seen by the client."""
    for n in nodes:
        lab.popen(n, [sys.executable, "-c", SERVER, str(PORT), n])


@dataclass
class Prober:
    """The client connecting to the VIP every ``every`` seconds for ``duration`` (bounded)."""

    lab: Lab
    duration: float
    every: float = 0.01
    vip: str = VIP
    proc: subprocess.Popen[str] | None = None
    results: list[tuple[float, bool, str]] = field(default_factory=list)

    def start(self) -> Prober:
        self.proc = self.lab.popen("client", [sys.executable, "-c", PROBE, self.vip, str(PORT),
                                              str(self.duration), str(self.every)],
                                   stdout=subprocess.PIPE, text=True)
        return self

    def finish(self) -> list[tuple[float, bool, str]]:
        assert self.proc is not None
        out, _ = self.proc.communicate(timeout=self.duration + 10)
        self.lab.processes.remove(self.proc) if self.proc in self.lab.processes else None
        for line in out.splitlines():
            t, status, who = line.split()
            self.results.append((float(t), status == "ok", who))
        return self.results

    def first_ok_from(self, who: str, since: float) -> float | None:
        return next((t for t, ok, w in self.results if ok and w == who and t >= since), None)


# -- small helpers -------------------------------------------------------------------------

def node(lab: Lab, tmp: Path, name: str, kind: str, conf: str) -> Node:
    d = tmp / f"{name}-{kind}"
    d.mkdir(exist_ok=True)
    return Node(lab, name, kind, conf, d)


def elect(lab: Lab, master: str, backup: str, timeout: float, vip: str = VIP, dev: str = "eth0") -> None:
    """Wait until ``master`` holds the VIP and ``backup`` does not, and the process started on ``backup``
    (if any) listens: a backup still importing when the test then acts on the master would miss the master's
    adverts and take over by its full timeout, not by the bound the test measures (CI under load, stop 20)."""
    started = time.monotonic()
    wait_for(lambda: vip_holders(lab, (master, backup), vip, dev) == [master], timeout,
             f"{master} alone holding {vip}")
    node_b = _running.get((id(lab), backup))
    if node_b is not None:
        wait_for(node_b.listening, max(1.0, timeout - (time.monotonic() - started)), f"{backup} listening")


def masters_entered(n: Node) -> int:
    return n.log().count("Entering MASTER STATE")


