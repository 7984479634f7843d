"""Faults the daemon must survive, run long and measured: fuzzed VRRP, split brain, SIGKILLs under wrk.

Run (root; bounded; everything happens in network namespaces that are removed afterwards):
``python bench/fault_suite.py --duration 1800 [--packets 1000000] [--seed N] [--json]``.
The CI variants are ``tests/faults/`` (a few minutes in all).

Three parts, in this order; ``--duration`` is the total wall time they share:

1. **Fuzzed VRRP on a live socket.**  Two pykeepalived VRRP processes (``two_node_lan``: ``a`` MASTER,
   ``b`` BACKUP, VRRPv2 with PASS auth); the client sends ``--packets`` mutated adverts to 224.0.0.18
   through a raw IP_HDRINCL socket: random bytes, truncations, bad checksums, wrong versions, types,
   TTLs, VRIDs, auth types and passwords, address lists, lengths.  Reported: packets/s sent and taken
   by the daemon, drops by keepalived counter (SIGUSR2 ``keepalived.stats``) against what
   :func:`pykeepalived.vrrp.packet.validate` says each packet should cost, kernel receive-buffer drops,
   and whether either node changed state.
2. **Split brain and heal**, repeated: VRRP dropped by nft in ``b``'s input, both become MASTER, the
   rule goes; reported: time from the heal to one master (wire), the winner's gratuitous ARPs.
3. **SIGKILL chaos under wrk** in the seed lab (for the rest of the duration): every 2-5 s a random
   process (supervisor, VRRP child or checker child) of a random load balancer is killed with SIGKILL;
   a killed supervisor is started again after 1-3 s (its children die with it), children are restarted
   by their supervisor.  Reported: wrk requests, socket errors and non-2xx, the longest time both load
   balancers held a VIP, daemon crashes (tracebacks, daemons exiting on their own, children not
   restarted) and what was left behind after the stop.

The helpers (:func:`fuzz_packets`, :func:`send_packets`, :class:`Daemon`, :func:`split_brain`) are the
ones ``tests/faults/`` uses.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pykeepalived.daemon.supervisor import MAX_RESTART_DELAY
from pykeepalived.lab import netns as nsmod
from pykeepalived.lab.demo import LBS, InNetns, SeedLab, _in_netns, daemon_argv, pids_in_netns
from pykeepalived.lab.measure import (
    SLACK,
    VIP,
    VRID,
    Node,
    Sniffer,
    elect,
    node,
    node_ip,
    vip_holders,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab, two_node_lan
from pykeepalived.vrrp import packet as pkt

# -- 1. fuzzed VRRP ---------------------------------------------------------------------------------

#: the instance the fuzzer attacks: VRRPv2 (so auth can be wrong), PASS auth, 1 s adverts
FUZZ_PASS = "fuzzpass"
FUZZ_ADVERT = 1
MCAST = "224.0.0.18"
SENDER = "client"

KINDS = ("random_payload", "random_ip_packet", "truncated", "bad_checksum", "wrong_version", "bad_type",
         "bad_ttl", "wrong_vrid", "wrong_auth_pass", "wrong_auth_type", "addr_list", "too_long",
         "bad_interval", "bit_flip")


def fuzz_conf(prio: int) -> str:
    return vrrp_conf(prio=prio, version=2, advert=FUZZ_ADVERT, auth=FUZZ_PASS)


def fuzz_expectation() -> pkt.Expectation:
    """What the daemon's instance accepts (as the runner builds it from :func:`fuzz_conf`)."""
    return pkt.Expectation(vrid=VRID, version=2, auth_type=pkt.AUTH_PASS, auth_pass=FUZZ_PASS,
                           adver_int=FUZZ_ADVERT, vips=(ipaddress.ip_address(VIP),))


def _checksummed(vrrp: bytes) -> bytes:
    """A v2 payload with its checksum recomputed (so only the mutation is wrong)."""
    if len(vrrp) < 8:
        return vrrp
    body = vrrp[:6] + b"\0\0" + vrrp[8:]
    return body[:6] + pkt.internet_checksum(body).to_bytes(2, "big") + body[8:]


def _good(rng: random.Random, *, vrid: int = VRID, auth: str = FUZZ_PASS, version: int = 2) -> bytearray:
    adv = pkt.Advert.build(version=2, vrid=vrid, priority=rng.randrange(1, 255), addresses=[VIP],
                           adver_int=FUZZ_ADVERT, auth_type=pkt.AUTH_PASS, auth_pass=auth)
    return bytearray(pkt.encode_payload(adv))


def mutate(rng: random.Random, kind: str) -> tuple[bytes, int]:
    """One mutated VRRP payload (what follows the IP header) and the TTL to send it with.

    None of them is acceptable to :func:`fuzz_expectation`: a wrong password, VRID or a broken field
    in each (``bit_flip`` and the random kinds are checked by the caller against the validator)."""
    ttl = 255
    if kind == "random_payload":
        data = bytearray(rng.randbytes(rng.randrange(0, 64)))
        if len(data) > 1 and rng.random() < 0.5:
            data[1] = VRID  # routed to the instance, so it is validated there
        return bytes(data), ttl
    if kind == "random_ip_packet":  # random VRRP bytes with a random TTL
        return rng.randbytes(rng.randrange(8, 40)), rng.randrange(256)
    if kind == "truncated":
        data = _good(rng, auth="x")
        return bytes(data[:rng.randrange(0, len(data))]), ttl
    if kind == "bad_checksum":
        data = _good(rng, auth="x" if rng.random() < 0.5 else FUZZ_PASS)
        data[6] ^= rng.randrange(1, 256)
        return bytes(data), ttl
    if kind == "wrong_version":
        data = _good(rng)
        data[0] = (rng.choice([0, 1, 3, 4, 5, 15]) << 4) | 1
        return _checksummed(bytes(data)), ttl
    if kind == "bad_type":
        data = _good(rng)
        data[0] = 0x20 | rng.choice([0, 2, 3, 7, 15])
        return _checksummed(bytes(data)), ttl
    if kind == "bad_ttl":
        return bytes(_good(rng)), rng.choice([0, 1, 64, 128, 254])
    if kind == "wrong_vrid":
        return bytes(_good(rng, vrid=rng.choice([v for v in range(256) if v != VRID]))), ttl
    if kind == "wrong_auth_pass":
        return bytes(_good(rng, auth=rng.choice(["", "fuzzpas", "FUZZPASS", "secret"]))), ttl
    if kind == "wrong_auth_type":
        data = _good(rng)
        data[4] = rng.choice([0, 2, 3, 9, 255])
        return _checksummed(bytes(data)), ttl
    if kind == "addr_list":
        data = _good(rng)
        if rng.random() < 0.5:  # another VIP
            data[8:12] = ipaddress.ip_address(f"10.9.0.{rng.randrange(60, 250)}").packed
        else:  # a count that does not match
            data[3] = rng.choice([0, 2, 3, 255])
        return _checksummed(bytes(data)), ttl
    if kind == "too_long":
        return _checksummed(bytes(_good(rng)) + rng.randbytes(rng.randrange(1, 40))), ttl
    if kind == "bad_interval":
        data = _good(rng)
        data[5] = rng.choice([0, 2, 3, 255])
        return _checksummed(bytes(data)), ttl
    if kind == "bit_flip":
        data = _good(rng, auth="x")
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data), ttl
    raise ValueError(kind)


def ip_packet(payload: bytes, ttl: int, ident: int, src: str) -> bytes:
    """The IPv4 packet as the receiver's raw socket gets it (the kernel fills length and checksum)."""
    return pkt.ipv4_header(src, MCAST, len(payload), ident, ttl) + payload


@dataclass(frozen=True, slots=True)
class Fuzzed:
    kind: str
    payload: bytes
    ttl: int
    #: what the packet must cost the instance: keepalived's counter, or "unknown_vrid", or the
    #: uncounted DropReason's value (version, checksum, interval, truncated)
    expect: str


def classify(data: bytes, expect: pkt.Expectation) -> str:
    """Where a received IPv4 packet ends up in the daemon: routed by VRID first (runner), then
    validated in keepalived's order (``vrrp.packet.validate``)."""
    if len(data) <= 21 or data[21] != expect.vrid:
        return "unknown_vrid"
    result = pkt.validate(pkt.Received(data, 4), expect)
    if not isinstance(result, pkt.Rejected):
        return "accepted"
    return result.reason.stat or result.reason.value


def fuzz_packets(n: int, rng: random.Random, src: str) -> list[Fuzzed]:
    """``n`` packets over every kind in turn; a mutation that happens to be acceptable is re-drawn."""
    exp = fuzz_expectation()
    out: list[Fuzzed] = []
    while len(out) < n:
        kind = KINDS[len(out) % len(KINDS)]
        payload, ttl = mutate(rng, kind)
        what = classify(ip_packet(payload, ttl, 1, src), exp)
        if what != "accepted":
            out.append(Fuzzed(kind, payload, ttl, what))
    return out


@dataclass
class SendResult:
    sent: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def tried(self) -> int:
        return self.sent + self.errors


def send_packets(packets: list[Fuzzed], src: str, rate: float | None, until: float | None = None,
                 ifname: str = "eth0") -> SendResult:
    """Run in the sender's namespace: each packet through a raw IP_HDRINCL socket to 224.0.0.18,
    at most ``rate`` per second (None: as fast as possible), in bursts of 50, until the monotonic
    time ``until`` at the latest."""
    res = SendResult()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        t0 = time.monotonic()
        for i, p in enumerate(packets):
            if until is not None and i % 50 == 0 and time.monotonic() > until:
                break
            try:
                s.sendto(ip_packet(p.payload, p.ttl, (i % 65535) + 1, src), (MCAST, 0))
                res.sent += 1
            except OSError:
                res.errors += 1
            if rate and i % 50 == 49:
                ahead = (i + 1) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        res.seconds = time.monotonic() - t0
    finally:
        s.close()
    return res


def raw_socket_drops(lab: Lab, name: str) -> int:
    """Packets the kernel dropped for VRRP raw sockets in ``name`` (receive buffer full): /proc/net/raw."""
    out = lab.run(name, ["cat", "/proc/net/raw"]).stdout.splitlines()[1:]
    return sum(int(line.split()[-1]) for line in out if line.split()[1].endswith(":0070"))


@dataclass
class FuzzReport:
    packets: int
    sent: int = 0
    send_errors: int = 0
    send_seconds: float = 0.0
    #: until both daemons had counted every packet (or gave up waiting)
    taken_seconds: float = 0.0
    expected: dict[str, int] = field(default_factory=dict)  # what validate says, per counter/reason
    counted: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> keepalived counter -> count
    kernel_drops: dict[str, int] = field(default_factory=dict)
    state_changes: dict[str, int] = field(default_factory=dict)  # node -> "Entering ... STATE" lines added
    alive: dict[str, bool] = field(default_factory=dict)
    #: node -> "Traceback" lines in its log (a crash the process survived is still a bug)
    tracebacks: dict[str, int] = field(default_factory=dict)
    vip_holders: list[str] = field(default_factory=list)

    @property
    def expected_counted(self) -> dict[str, int]:
        """The part of ``expected`` keepalived's stats show (its counter names)."""
        return {k: v for k, v in self.expected.items() if k in pkt.STAT_NAMES}

    def summary(self) -> str:
        pps = self.sent / self.send_seconds if self.send_seconds else 0.0
        taken = {n: (self.sent - d) / self.taken_seconds if self.taken_seconds else 0.0
                 for n, d in self.kernel_drops.items()}
        lines = [f"fuzz: {self.sent} packets sent in {self.send_seconds:.1f} s ({pps:,.0f}/s; "
                 f"{self.send_errors} send errors); all read by the daemons after {self.taken_seconds:.1f} s "
                 "(" + ", ".join(f"{n} {v:,.0f}/s" for n, v in taken.items()) + ")",
                 "  expected drops by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(self.expected.items()))]
        share = sum(self.expected_counted.values()) / self.sent if self.sent else 0.0
        for name, counted in self.counted.items():
            missing = sum(self.expected_counted.values()) - sum(counted.values())
            drops = self.kernel_drops.get(name, 0)
            lines.append(f"  {name}: counted {dict(sorted(counted.items()))}, kernel drops {drops}, "
                         f"state changes {self.state_changes.get(name, 0)}, alive {self.alive.get(name)}, "
                         f"tracebacks {self.tracebacks.get(name, 0)}")
            lines.append(f"    missing from its counters: {missing} (kernel drops x share of counted kinds "
                         f"= {drops * share:.0f})")
        lines.append(f"  VIP holders after: {self.vip_holders}")
        return "\n".join(lines)


def counted_drops(stats: dict[str, int]) -> dict[str, int]:
    """keepalived's per-instance error counters from a parsed SIGUSR2 dump, under STAT_NAMES."""
    names = dict(zip(pkt.STAT_NAMES, ("Packet Errors/Length", "Packet Errors/TTL", "Packet Errors/Invalid Type",
                                      "Packet Errors/Advertisement Interval", "Packet Errors/Address List",
                                      "Authentication Errors/Invalid Type", "Authentication Errors/Type Mismatch",
                                      "Authentication Errors/Failure"), strict=True))
    return {k: stats.get(v, 0) for k, v in names.items()}


def run_fuzz(lab: Lab, nodes: dict[str, Node], n: int, rng: random.Random, rate: float | None,
             settle: float = 30.0, until: float | None = None) -> FuzzReport:
    """Send ``n`` fuzzed packets from the client at the running nodes (fewer if the monotonic time
    ``until`` comes first) and account for them."""
    src = node_ip(SENDER)
    report = FuzzReport(n)
    before = {name: counted_drops(nd.stats()) for name, nd in nodes.items()}
    drops0 = {name: raw_socket_drops(lab, name) for name in nodes}
    states0 = {name: _transitions(nd) for name, nd in nodes.items()}
    chunk = 100_000  # generated and sent in pieces: 1e6 packets need not sit in memory at once
    t0 = time.monotonic()
    expected: collections.Counter[str] = collections.Counter()
    left = n
    while left > 0 and (until is None or time.monotonic() < until):
        packets = fuzz_packets(min(chunk, left), rng, src)
        left -= len(packets)
        res = InNetns(lab.ns(SENDER), send_packets, packets, src, rate, until)
        res.start()
        r: SendResult = res.result(timeout=3600)
        expected.update(p.expect for p in packets[:r.tried])
        report.sent += r.sent
        report.send_errors += r.errors
        report.send_seconds += r.seconds
    report.expected = dict(expected)
    want = report.expected_counted

    def counted(name: str) -> dict[str, int]:
        now = counted_drops(nodes[name].stats())
        return {k: now[k] - before[name][k] for k in now if now[k] - before[name][k]}

    deadline = time.monotonic() + settle
    for name in nodes:  # wait until the counters stop moving (the daemon may still be reading)
        last: dict[str, int] = {}
        while time.monotonic() < deadline:
            report.counted[name] = counted(name)
            if report.counted[name] == want or report.counted[name] == last:
                break
            last = report.counted[name]
            time.sleep(0.5)
    report.taken_seconds = time.monotonic() - t0
    for name, nd in nodes.items():
        report.kernel_drops[name] = raw_socket_drops(lab, name) - drops0[name]
        report.state_changes[name] = _transitions(nd) - states0[name]
        report.alive[name] = nd.proc is not None and nd.proc.poll() is None
        report.tracebacks[name] = nd.log().count("Traceback")
    report.vip_holders = vip_holders(lab)
    return report


def _transitions(nd: Node) -> int:
    log = nd.log()
    return sum(log.count(f"Entering {s} STATE") for s in ("MASTER", "BACKUP", "FAULT"))


# -- 2. split brain ---------------------------------------------------------------------------------

SPLIT_ADVERT = 0.1
NFT_TABLE = "pkfault"


def block_vrrp(lab: Lab, name: str) -> None:
    """Drop every VRRP packet in ``name``'s input (its own table, nothing else touched)."""
    script = (f"add table inet {NFT_TABLE}\n"
              f"add chain inet {NFT_TABLE} input {{ type filter hook input priority -10; }}\n"
              f"add rule inet {NFT_TABLE} input ip protocol vrrp counter drop\n")
    nsmod.run(nsmod.exec_argv(lab.ns(name), ["nft", "-f", "-"]), input=script)


def unblock_vrrp(lab: Lab, name: str) -> None:
    lab.run(name, ["nft", "delete", "table", "inet", NFT_TABLE])


@dataclass
class SplitBrain:
    both_master_after: float  # from the block to both holding the VIP
    one_master_after: float  # from the heal to b's last advert (wire): b stepped down
    vip_alone_after: float  # from the heal to a alone holding the VIP (ip addr, polled)
    garps_after_heal: int  # the winner's gratuitous ARPs for the VIP after the heal
    garp_first_after: float | None
    winner_mac_ok: bool


def split_brain(lab: Lab, a: Node, b: Node, sn: Sniffer, client_sn: Sniffer, timeout: float = 10.0) -> SplitBrain:
    """a (higher priority) is MASTER, b BACKUP: cut VRRP into b, wait for both MASTER, heal, measure."""
    elect(lab, "a", "b", timeout)
    t_block = time.monotonic()
    block_vrrp(lab, "b")
    t_both = wait_for(lambda: vip_holders(lab) == ["a", "b"], timeout, "both holding the VIP")
    time.sleep(3 * SPLIT_ADVERT)  # both advertising for a while
    unblock_vrrp(lab, "b")
    # the heal: when nft has deleted the table (measured from before the command, the start of `ip netns exec
    # nft` on a loaded machine was counted as the daemons' time)
    t_heal = time.monotonic()
    t_alone = wait_for(lambda: vip_holders(lab) == ["a"], timeout, "a alone holding the VIP")
    time.sleep(5 * SPLIT_ADVERT)  # b quiet for long enough to tell its last advert
    b_adverts = [e for e in sn.adverts(node_ip("b"), t_heal) if e.prio > 0]
    last_b = b_adverts[-1].t if b_adverts else t_heal
    a_mac = lab.run("a", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    garps = client_sn.garps(VIP, since=t_heal)
    return SplitBrain(both_master_after=t_both - t_block, one_master_after=last_b - t_heal,
                      vip_alone_after=t_alone - t_heal, garps_after_heal=len(garps),
                      garp_first_after=(garps[0].t - t_heal) if garps else None,
                      winner_mac_ok=bool(garps) and all(g.mac == a_mac for g in garps))


def split_conf(prio: int) -> str:
    return vrrp_conf(prio=prio, version=3, advert=SPLIT_ADVERT)


# -- the whole daemon in a lab node -----------------------------------------------------------------

@dataclass
class Daemon:
    """pykeepalived (supervisor + children) in a lab node, files in a private directory, stopped by PID."""

    lab: Lab
    name: str
    dir: Path
    conf: str
    dataplane: str = "nftables"
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[Any] | None = None

    @property
    def conf_path(self) -> Path:
        return self.dir / "keepalived.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "main.pid"

    @property
    def log_path(self) -> Path:
        return self.dir / "daemon.log"

    def start(self) -> Daemon:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.conf_path.write_text(self.conf)
        argv = [*daemon_argv(), "-f", str(self.conf_path), "-n", "-l", "-p", str(self.pid_file),
                "--dataplane", self.dataplane, *self.extra]
        with open(self.log_path, "ab") as out:
            self.proc = self.lab.popen(self.name, argv, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(self.dir)},
                                       cwd=str(self.dir))
        return self

    def child_pid(self, kind: str, timeout: float = 10.0, other_than: int | None = None) -> int:
        """The VRRP (``vrrp``) or checker (``checkers``) child, from its pid file."""
        path = self.dir / f"main_{kind}.pid"

        def read() -> int | None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(path.read_text().split()[0])
                if pid != other_than and _alive(pid):
                    return pid
            return None

        wait_for(lambda: read() is not None, timeout, f"{self.name}'s {kind} child")
        pid = read()
        assert pid is not None
        return pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self, timeout: float = 2.0) -> dict[str, Any] | None:
        from pykeepalived.status.cli import control_path_for, fetch

        try:
            code, body = fetch(control_path_for(str(self.pid_file)), "/status", timeout)
        except (OSError, ValueError):
            return None
        with contextlib.suppress(ValueError):
            return json.loads(body) if code == 200 else None  # type: ignore[no-any-return]
        return None

    def health(self) -> dict[str, str]:
        """Checker verdict per real server ``addr:port``."""
        out: dict[str, str] = {}
        for vs in (self.status() or {}).get("virtual_services", ()):
            for d in vs.get("destinations", ()):
                out[f"{d['key']['addr']}:{d['key']['port']}"] = d["health"]
        return out

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return self.lab.stop(proc, grace)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def crashes_in(log: str, expected_exits: int = 0) -> list[str]:
    """Tracebacks, and child exits beyond the ``expected_exits`` SIGKILLs we sent."""
    lines = log.splitlines()
    found = [lines[i - 1] if i else line for i, line in enumerate(lines) if line.startswith("Traceback")]
    exits = [line for line in lines if "child process(" in line and "exited with status" in line]
    killed = [e for e in exits if e.rstrip().endswith("status -9")]
    found += [e for e in exits if not e.rstrip().endswith("status -9")]
    found += killed[expected_exits:]
    return found


# -- 3. SIGKILL chaos under wrk (bench only) --------------------------------------------------------

@dataclass
class KillReport:
    duration: float
    seed: int
    kills: collections.Counter[str] = field(default_factory=collections.Counter)
    events: list[str] = field(default_factory=list)
    requests: int = 0
    socket_errors: int = 0
    non_2xx: int = 0
    wrk_runs: int = 0
    overlap: dict[str, float] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    final_answers: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return "\n".join([
            f"SIGKILL chaos {self.duration:.0f} s (seed {self.seed}): kills {dict(self.kills)}",
            f"  wrk: {self.requests} requests in {self.wrk_runs} runs, {self.socket_errors} socket errors, "
            f"{self.non_2xx} non-2xx",
            "  longest time both lbs held a VIP: " + ", ".join(f"{v} {s:.3f} s" for v, s in self.overlap.items()),
            f"  daemon crashes: {len(self.crashes)}" + "".join(f"\n    {c}" for c in self.crashes[:20]),
            f"  after restoring everything, the client got: {self.final_answers}",
            f"  left behind after stop: {self.leftovers or 'nothing'}",
        ])


def run_kill_chaos(duration: float, rng_seed: int, log: Callable[[str], None] = print) -> KillReport:
    """The seed under wrk while random daemon processes get SIGKILL (see the module docstring)."""
    from bench.soak import VIPS, WrkTotals, held_intervals, leftovers_after, longest_overlap, sample_vips, wrk_loop

    rng = random.Random(rng_seed)
    seed = SeedLab(nsmod.unique_prefix("pkfk"))
    seed.web_nice = 10
    report = KillReport(duration, rng_seed)
    t0 = time.monotonic()
    stop = threading.Event()
    samplers: dict[str, InNetns] = {}
    totals = WrkTotals()
    wrk: threading.Thread | None = None
    child_kills = {lb: 0 for lb in LBS}
    down_until: dict[str, float] = {}
    last_kill: dict[str, float] = {}

    def say(msg: str) -> None:
        line = f"[{time.monotonic() - t0:6.1f}s] {msg}"
        report.events.append(line)
        log(line)

    try:
        seed.up(wait=30)
        say("seed up")
        for lb in LBS:
            samplers[lb] = InNetns(seed.ns(lb), sample_vips, stop, 0.05)
            samplers[lb].start()
        wrk = threading.Thread(target=wrk_loop, args=(seed, stop, totals), daemon=True)
        wrk.start()
        end = t0 + duration
        while time.monotonic() < end:
            now = time.monotonic()
            for lb, when in list(down_until.items()):
                if when <= now:
                    del down_until[lb]
                    orphans = _reap_lb(seed, lb)
                    if orphans:
                        report.crashes.append(f"{lb}: children outlived their killed supervisor: {orphans}")
                        say(f"{lb}: orphans after the supervisor's SIGKILL: {orphans}")
                    seed.start_lb(lb)
                    say(f"{lb}: supervisor started again")
            for lb in LBS:
                p = seed.procs.get(lb)
                if lb not in down_until and (p is None or not p.alive()):
                    report.crashes.append(f"{lb}: daemon exited on its own")
                    say(f"{lb}: daemon exited on its own! starting it again")
                    _reap_lb(seed, lb)
                    seed.start_lb(lb)
            # a killed child is back within 10 s of the wait keepalived's respawn-rate limit gives it (at once
            # after a minute's run, else 1, 2, 4 ... 60 s: supervisor.restart_delay)
            for lb in LBS:
                if lb not in down_until and now - last_kill.get(lb, 0.0) > 10 + MAX_RESTART_DELAY \
                        and lb in seed.procs:
                    pids = seed.daemon_pids(lb)
                    if len(pids) != 3 or not all(_in_netns(p, seed.ns(lb)) and not _zombie(p) for p in pids):
                        report.crashes.append(f"{lb}: not all of supervisor, VRRP and checker running: {pids}")
                        say(f"{lb}: a process is missing {10 + MAX_RESTART_DELAY:.0f} s after the last kill: {pids}")
                        last_kill[lb] = now
            lb = rng.choice(LBS)
            if lb not in down_until:
                which = rng.choice(("parent", "vrrp", "checkers"))
                pids = seed.daemon_pids(lb)
                if len(pids) == 3 and all(_in_netns(p, seed.ns(lb)) for p in pids):
                    target = pids[{"parent": 0, "vrrp": 1, "checkers": 2}[which]]
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)
                    report.kills[which] += 1
                    last_kill[lb] = time.monotonic()
                    if which == "parent":
                        down_until[lb] = time.monotonic() + rng.uniform(1.0, 3.0)
                    else:
                        child_kills[lb] += 1
                    say(f"{lb}: SIGKILL {which} {target}")
            time.sleep(min(rng.uniform(2.0, 5.0), max(0.0, end - time.monotonic())))
        for lb in list(down_until):
            _reap_lb(seed, lb)
            seed.start_lb(lb)
        down_until.clear()
        seed.wait_master("lb1", 30)
        from pykeepalived.lab.demo import REAL_SERVERS

        for lb in LBS:
            seed.wait_table(lb, set(REAL_SERVERS.values()), 20)
        report.final_answers = dict(seed.get(20, sources=seed.add_clients(20, first=231)))
        for lb in LBS:
            text = seed.log_path(lb).read_text(errors="replace") if seed.log_path(lb).exists() else ""
            report.crashes += [f"{lb}: {c}" for c in crashes_in(text, child_kills[lb])]
    finally:
        stop.set()
        if wrk is not None:
            wrk.join(20)
        samples = {}
        for lb, sampler in samplers.items():
            with contextlib.suppress(Exception):
                samples[lb] = sampler.result(5)
        if len(samples) == 2:
            for vip in VIPS:
                report.overlap[vip] = longest_overlap(held_intervals(samples["lb1"], vip),
                                                      held_intervals(samples["lb2"], vip))
        report.requests, report.socket_errors = totals.requests, totals.socket_errors
        report.non_2xx, report.wrk_runs = totals.non_2xx, totals.runs
        procs = list(seed.procs.values())
        seed.down()
        report.leftovers = {k: v for k, v in leftovers_after(seed, procs).items() if v}
    return report


def _reap_lb(seed: SeedLab, lb: str) -> list[int]:
    """After its supervisor was killed: its children follow (parent-death signal); wait for them.
    Returns the processes still there after 10 s (orphans: a bug)."""
    ns = seed.ns(lb)

    def left() -> list[int]:
        return [p for p in pids_in_netns(ns) if not _zombie(p)]

    with contextlib.suppress(AssertionError):
        wait_for(lambda: not left(), 10, f"{lb}'s children to exit")
    popen = seed.popens.pop(lb, None)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(2)
        if seed.lab is not None and popen in seed.lab.processes:
            seed.lab.processes.remove(popen)
    seed.procs.pop(lb, None)
    return left()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


# -- the run ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def lan_nodes(confs: dict[str, str]) -> Iterator[tuple[Lab, dict[str, Node]]]:
    with two_node_lan(nsmod.unique_prefix("pkfs")) as lab, tempfile.TemporaryDirectory(prefix="pkfault-") as tmp:
        nodes = {name: node(lab, Path(tmp), name, "py", conf).start() for name, conf in confs.items()}
        try:
            yield lab, nodes
        finally:
            for nd in nodes.values():
                nd.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=float, default=1800.0,
                   help="total seconds (default 1800): the fuzz stops at 60%% of it at the latest, split brain "
                        "runs at least 3 rounds, SIGKILL chaos the rest (at least 60 s)")
    p.add_argument("--packets", type=int, default=1_000_000, help="fuzzed VRRP packets (default 1,000,000)")
    p.add_argument("--rate", type=float, default=6000.0,
                   help="fuzz packets/s, paced so the daemons read every one (default 6000)")
    p.add_argument("--flood", type=int, default=300_000,
                   help="then this many fuzzed packets as fast as the sender goes (default 300,000)")
    p.add_argument("--splits", type=int, default=20, help="split-brain rounds (default 20)")
    p.add_argument("--seed", type=int, default=None, help="random seed (printed; reuse it to replay)")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = p.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("wrk") is None:
        print("bench/fault_suite.py needs root (network namespaces) and wrk", file=sys.stderr)
        return 4
    rng_seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(rng_seed)
    t_end = time.monotonic() + args.duration
    print(f"fault suite: {args.duration:.0f} s, seed {rng_seed}", flush=True)
    out: dict[str, Any] = {"seed": rng_seed}
    ok = True

    with lan_nodes({"a": fuzz_conf(150), "b": fuzz_conf(100)}) as (lab, nodes):
        elect(lab, "a", "b", 15)
        time.sleep(2)
        fuzz_end = time.monotonic() + 0.6 * args.duration
        fz = run_fuzz(lab, nodes, args.packets, rng, args.rate or None, settle=60, until=fuzz_end - 40)
        print(fz.summary(), flush=True)
        flood = run_fuzz(lab, nodes, args.flood, rng, None, settle=60, until=fuzz_end) if args.flood else None
    if flood is not None:
        print("flood (unpaced; the kernel drops what the daemons cannot read, so counts are partial)\n"
              + flood.summary(), flush=True)
    out["fuzz"], out["flood"] = asdict(fz), asdict(flood) if flood else None
    ok &= (all(fz.alive.values()) and not any(fz.state_changes.values()) and fz.vip_holders == ["a"]
           and not any(fz.tracebacks.values())
           and all(c == fz.expected_counted for name, c in fz.counted.items() if not fz.kernel_drops[name]))
    if flood is not None:
        ok &= all(flood.alive.values()) and not any(flood.tracebacks.values())

    splits: list[SplitBrain] = []
    with lan_nodes({"a": split_conf(150), "b": split_conf(100)}) as (lab, nodes):
        sn, csn = Sniffer(lab, "b"), Sniffer(lab, "client")
        try:
            for i in range(args.splits):
                if i >= 3 and time.monotonic() > t_end - 60:
                    break
                splits.append(split_brain(lab, nodes["a"], nodes["b"], sn, csn))
        finally:
            sn.close()
            csn.close()
        split_tracebacks = sum(nd.log().count("Traceback") for nd in nodes.values())
    if splits:
        worst = max(s.one_master_after for s in splits)
        print(f"split brain: {len(splits)} rounds; both MASTER after {_stats([s.both_master_after for s in splits])}; "
              f"one master after the heal (wire) {_stats([s.one_master_after for s in splits])} "
              f"(bound {SPLIT_ADVERT + SLACK:.2f} s); VIP alone (polled) "
              f"{_stats([s.vip_alone_after for s in splits])}; winner's GARPs after the heal "
              f"{min(s.garps_after_heal for s in splits)}-{max(s.garps_after_heal for s in splits)}, "
              f"all from the winner: {all(s.winner_mac_ok for s in splits)}; tracebacks {split_tracebacks}",
              flush=True)
        ok &= worst <= SPLIT_ADVERT + SLACK and all(s.winner_mac_ok for s in splits) and not split_tracebacks
    out["split_brain"] = [asdict(s) for s in splits]

    left = max(60.0, t_end - time.monotonic())
    kr = run_kill_chaos(left, rng.randrange(1 << 30), log=lambda s: None if args.json else print(s, flush=True))
    print(kr.summary(), flush=True)
    out["kill_chaos"] = {**asdict(kr), "kills": dict(kr.kills), "events": len(kr.events)}
    ok &= not kr.crashes and not kr.leftovers and all(v <= 1.0 for v in kr.overlap.values())
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    return 0 if ok else 1


def _stats(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {xs[len(xs) // 2]:.3f} s, max {xs[-1]:.3f} s"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.soak, run as a script
    sys.exit(main())
