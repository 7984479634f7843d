"""BFD against FRR's bfdd in lab namespaces: the interop test's and the benchmark's shared harness.

:func:`bfd_pair` builds two nodes on one bridge (``py`` 10.77.0.1, ``frr`` 10.77.0.2, both inside the lab's
namespaces), :class:`FrrBfdd` runs Debian's ``/usr/lib/frr/bfdd`` in ``frr`` with every path (config, pid,
vty and control sockets) under a private directory and no zebra, :class:`PyBfd` runs pykeepalived's BFD
process (``python -m pykeepalived.bfd``) in ``py`` and reads its state changes (JSON lines carrying the
monotonic time of the change and of the last valid packet received: one clock for every process here).

:func:`detection_trial` cuts the peer off (an nftables drop in ``py``'s own namespace, or SIGSTOP of bfdd),
waits for the session to go Down and reports the time from the last packet received to Down against the
bound (the detection time the session had negotiated), then restores the path and waits for Up again.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .topology import Lab

PY_ADDR, FRR_ADDR = "10.77.0.1", "10.77.0.2"
BFDD_PATHS = ("/usr/lib/frr/bfdd", "/usr/libexec/frr/bfdd")
NFT_TABLE = "pk_bfd_cut"


def find_bfdd() -> str | None:
    for p in BFDD_PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("bfdd")


def bfd_pair(lab: Lab) -> None:
    lab.add_bridge("lan")
    lab.add_node("py")
    lab.add_node("frr")
    lab.connect("py", "eth0", "lan", [f"{PY_ADDR}/24"])
    lab.connect("frr", "eth0", "lan", [f"{FRR_ADDR}/24"])


def frr_conf(interval_ms: int, multiplier: int, *, peer: str = PY_ADDR, local: str = FRR_ADDR,
             passive: bool = False) -> str:
    return "\n".join([
        "bfd",
        f" peer {peer} local-address {local}",
        f"  receive-interval {interval_ms}",
        f"  transmit-interval {interval_ms}",
        f"  detect-multiplier {multiplier}",
        *(["  passive-mode"] if passive else []),
        " !",
        "!",
        "",
    ])


def py_conf(interval_ms: float, multiplier: int, *, name: str = "frr", neighbor: str = FRR_ADDR,
            source: str = PY_ADDR, extra: tuple[str, ...] = ()) -> str:
    return "\n".join([
        f"bfd_instance {name} {{",
        f"  neighbor_ip {neighbor}",
        f"  source_ip {source}",
        f"  min_rx {interval_ms:g}",
        f"  min_tx {interval_ms:g}",
        f"  multiplier {multiplier}",
        *[f"  {e}" for e in extra],
        "}",
        "",
    ])


class FrrBfdd:
    """FRR's bfdd in a lab node, its files in a directory of its own under /tmp (bfdd drops to the frr user,
    which must reach it: the directory is 0777 in a 0711 parent; both are removed by :meth:`stop`)."""

    def __init__(self, lab: Lab, node: str, conf: str) -> None:
        self.lab, self.node = lab, node
        self._top = Path(tempfile.mkdtemp(prefix="pk-bfdd-"))
        self._top.chmod(0o711)
        self.dir = self._top / "run"
        self.dir.mkdir()
        self.dir.chmod(0o777)
        (self.dir / "bfdd.conf").write_text(conf)
        (self.dir / "bfdd.conf").chmod(0o644)
        self.proc: subprocess.Popen[Any] | None = None
        self.saved_log = ""

    def start(self) -> FrrBfdd:
        bfdd = find_bfdd()
        if bfdd is None:
            raise FileNotFoundError("FRR's bfdd is not installed (apt-get install frr)")
        d = self.dir
        argv = [bfdd, "-f", str(d / "bfdd.conf"), "-i", str(d / "bfdd.pid"), "--vty_socket", str(d),
                "--bfdctl", str(d / "bfdd.sock"), "-z", str(d / "zserv.api"), "-P", "0",
                "--log", f"file:{d / 'bfdd.log'}", "--log-level", "debug"]
        self.proc = self.lab.popen(self.node, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.lab.stop(self.proc)
            self.proc = None
        if self._top.exists():
            self.saved_log = self.log()
            shutil.rmtree(self._top, ignore_errors=True)

    def log(self) -> str:
        p = self.dir / "bfdd.log"
        return p.read_text(errors="replace") if p.exists() else self.saved_log


class PyBfd:
    """pykeepalived's BFD process in a lab node; :meth:`next_change` returns its state changes in order."""

    def __init__(self, lab: Lab, node: str, workdir: Path, conf: str) -> None:
        self.lab, self.node, self.dir = lab, node, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "keepalived.conf"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last_status: dict[str, Any] = {}
        self._reader: threading.Thread | None = None

    def start(self) -> PyBfd:
        argv = [sys.executable, "-m", "pykeepalived.bfd", "-f", str(self.conf),
                "--events", str(self.dir / "bfd.events")]
        err = (self.dir / "stderr.log").open("w")
        self.proc = self.lab.popen(self.node, argv, stdout=subprocess.PIPE, stderr=err, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "state":
                self.lines.put(msg)
            elif msg.get("event") == "stopped":
                self.last_status = msg

    def next_change(self, timeout: float) -> dict[str, Any]:
        return self.lines.get(timeout=timeout)

    def wait_state(self, new: str, timeout: float) -> dict[str, Any]:
        """The next change into ``new`` (earlier changes are skipped)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no change to {new} within {timeout} s")
            try:
                msg = self.next_change(left)
            except queue.Empty:
                raise TimeoutError(f"no change to {new} within {timeout} s") from None
            if msg["new"] == new:
                return msg

    def settle(self, quiet: float, timeout: float) -> None:
        """Until the session has been Up with no state change for ``quiet`` seconds (a peer that was
        stopped may still bounce the session once while it catches up)."""
        end = time.monotonic() + timeout
        state = None
        while time.monotonic() < end:
            try:
                state = self.next_change(quiet)["new"]
            except queue.Empty:
                if state in (None, "Up"):
                    return
                state = self.wait_state("Up", max(0.1, end - time.monotonic()))["new"]
        raise TimeoutError(f"the session did not settle Up within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None:
            self.lab.stop(self.proc)
            self.proc = None
        if self._reader is not None:
            self._reader.join(2.0)

    def stderr(self) -> str:
        p = self.dir / "stderr.log"
        return p.read_text(errors="replace") if p.exists() else ""


@dataclass(frozen=True, slots=True)
class Trial:
    method: str
    #: last valid packet -> Down (the session's own clock), and the negotiated detection time
    detected_after: float
    bound: float
    #: failure injected -> Down (includes up to one of the peer's transmit intervals before the cut bites)
    since_cut: float
    diag: str
    #: trials spoilt by a flap of the session around the cut (then run again)
    flaps: int = 0

    @property
    def within(self) -> bool:
        return self.detected_after <= self.bound

    def line(self) -> str:
        return (f"{self.method:6s} last packet -> Down {self.detected_after * 1000:8.2f} ms, bound "
                f"{self.bound * 1000:7.1f} ms, late by {(self.detected_after - self.bound) * 1000:+6.2f} ms; "
                f"cut -> Down {self.since_cut * 1000:7.2f} ms ({self.diag})"
                + (f" [{self.flaps} spoilt by a flap]" if self.flaps else ""))


def cut(lab: Lab, node: str, peer: str) -> None:
    """Drop every packet from ``peer`` in ``node``'s own namespace (nftables, a table of ours)."""
    script = (f"table inet {NFT_TABLE} {{\n chain in {{\n  type filter hook input priority -300;\n"
              f"  ip saddr {peer} drop\n }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", lab.ns(node), "nft", "-f", "-"], input=script, text=True, check=True,
                   timeout=10)


def uncut(lab: Lab, node: str) -> None:
    lab.run(node, ["nft", "delete", "table", "inet", NFT_TABLE], check=False)


def peer_detection_trial(lab: Lab, py: PyBfd, sniffer: Any, bound: float, *, up_timeout: float = 15.0,
                         quiet: float = 1.5) -> Trial:
    """The baseline in the other direction: FRR's bfdd detecting *us*.  pykeepalived's BFD process is stopped
    (SIGSTOP); on ``frr``'s interface, ``sniffer`` (a :class:`~pykeepalived.lab.measure.Sniffer` there) gives
    the kernel's time of the last packet from us and of bfdd's first packet saying Down with "Control
    Detection Time Expired", which it sends the moment it decides: their difference is bfdd's
    last-packet-to-Down, against the same bound (our multiplier x the negotiated interval)."""
    assert py.proc is not None
    py.settle(quiet, up_timeout)
    t_cut = time.monotonic()
    os.kill(py.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        down = None
        while down is None and time.monotonic() < deadline:
            time.sleep(0.02)
            down = next((e for e in sniffer.events() if e.kind == "bfd" and e.src == FRR_ADDR and e.t > t_cut
                         and e.state == 1 and e.diag == 1), None)
    finally:
        os.kill(py.proc.pid, signal.SIGCONT)
    if down is None:
        raise RuntimeError("bfdd did not say Down within 10 s of our BFD process stopping")
    last = max(e.t for e in sniffer.events() if e.kind == "bfd" and e.src == PY_ADDR and e.t < down.t)
    py.wait_state("Down", up_timeout)  # bfdd's Down reaches us once we run again
    py.wait_state("Up", up_timeout)
    return Trial("peer", down.t - last, bound, down.t - t_cut, "Control Detection Time Expired")


def detection_trial(lab: Lab, py: PyBfd, frr: FrrBfdd, method: str, *, up_timeout: float = 15.0,
                    quiet: float = 1.5, attempts: int = 3) -> Trial:
    """One failure of the path (``nft``: drop the peer's packets; ``stop``: SIGSTOP bfdd), measured; the
    session must have been Up and quiet for ``quiet`` seconds before, and is Up again after.  A session that
    flaps by itself around the cut (a loaded machine starving either side at short intervals) spoils the
    trial: it is counted in :attr:`Trial.flaps` and the trial is run again (up to ``attempts`` times)."""
    flaps = 0
    for _ in range(attempts):
        py.settle(quiet, up_timeout)
        t_cut = time.monotonic()
        if method == "nft":
            cut(lab, "py", FRR_ADDR)
        else:
            frr.pause()
        try:
            down = py.wait_state("Down", 10.0)
        finally:
            if method == "nft":
                uncut(lab, "py")
            else:
                frr.resume()
        py.wait_state("Up", up_timeout)
        if down["at"] < t_cut or down["diag"] != "Control Detection Time Expired":
            flaps += 1
            continue
        return Trial(method, down["at"] - down["last_rx"], down["bound_us"] / 1e6, down["at"] - t_cut,
                     down["diag"], flaps)
    raise RuntimeError(f"the session flapped by itself around {attempts} cuts in a row")
