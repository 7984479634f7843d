"""keepalived's signals sent to a running pykeepalived (supervisor, VRRP child, checker child) in a namespace.

The daemon runs tests/data/signal-dumps/keepalived.conf, the config Debian's keepalived 2.2.7 ran to produce the
reference dumps there, in the same topology (``lb`` with eth0 10.9.0.2/24, ``peer`` with 10.9.0.12 serving HTTP),
with a private TMPDIR.  So each file must have keepalived's layout field for field (values differ with state).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived.daemon.signals import SIGJSON, SIGSTATS_CLEAR
from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_root
from tests.unit.status.dump_layout import REFERENCE, json_keys, layout, reference, stats_values

PEER_CONF = """vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    10.9.0.5/24
  }
}
"""
DATA_FILES = ("keepalived_parent.data", "keepalived.data", "keepalived_check.data")
ALL_FILES = (*DATA_FILES, "keepalived.stats", "keepalived.json")


@dataclass
class Daemon:
    lab: Lab
    proc: subprocess.Popen[bytes]
    dir: Path
    dumps: Path
    log: Path

    @property
    def peer_log(self) -> Path:
        return self.dir / "peer.log"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def child_pids(self) -> dict[str, int]:
        return {kind: int((self.dir / f"main_{kind}.pid").read_text()) for kind in ("vrrp", "checkers")}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int, *, wait_for_files: tuple[str, ...] = ()) -> None:
        """Send ``sig`` to the supervisor and wait until each of ``wait_for_files`` is (re)written."""
        for name in wait_for_files:
            (self.dumps / name).unlink(missing_ok=True)
        os.kill(self.pid, sig)
        for name in wait_for_files:
            path = self.dumps / name
            wait_for(lambda p=path: p.exists() and not p.is_symlink(), 10, f"{name} after signal {sig}")  # type: ignore[misc]

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until the log and the dump directory have not changed for ``quiet`` seconds (queued
        signals all handled)."""
        def state() -> object:
            try:
                files = tuple(sorted((p.name, p.lstat().st_mtime_ns) for p in self.dumps.iterdir()))
            except FileNotFoundError:  # a temporary file renamed while we looked: still busy
                return time.monotonic()
            return self.log.stat().st_size, files

        deadline = time.monotonic() + timeout
        last, since = state(), time.monotonic()
        while time.monotonic() - since < quiet:
            assert time.monotonic() < deadline, "the daemon did not settle"
            time.sleep(0.1)
            now = state()
            if now != last:
                last, since = now, time.monotonic()

    def read(self, name: str) -> str:
        return (self.dumps / name).read_text()

    def vip_held(self) -> bool:
        return "10.9.0.5/24" in self.lab.run("lb", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    require_root()
    tmp = tmp_path_factory.mktemp("signals")
    dumps = tmp / "tmpdir"
    dumps.mkdir()
    with Lab() as lab:
        lab.add_node("lb")
        lab.add_node("peer")
        lab.run("lb", ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", lab.ns("peer")])
        for node, cidr in (("lb", "10.9.0.2/24"), ("peer", "10.9.0.12/24")):
            lab.run(node, ["ip", "addr", "add", cidr, "dev", "eth0"])
            lab.run(node, ["ip", "link", "set", "eth0", "up"])
        lab.popen("peer", [sys.executable, "-m", "http.server", "80", "--bind", "10.9.0.12"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = tmp / "daemon.log"
        with open(log, "wb") as out:
            proc = lab.popen("lb", [sys.executable, "-m", "pykeepalived.cli", "-n", "-l", "-D",
                                    "-f", str(REFERENCE / "keepalived.conf"), "-p", str(tmp / "main.pid")],
                             stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(dumps)})
        d = Daemon(lab, proc, tmp, dumps, log)
        try:
            wait_for(lambda: "(VI_1) Entering MASTER STATE" in d.log_text(), 60, "VI_1 MASTER")
            wait_for(lambda: "TCP_CHECK on service [10.9.0.13]:tcp:80 failed" in d.log_text()
                     and "[10.9.0.12]:tcp:80 success" in d.log_text(), 30, "both checkers ran")
            wait_for(d.vip_held, 10, "VIP set")
            # a BACKUP peer: it takes over if the MASTER's adverts stop for 3.6 s (a stalled VRRP loop)
            (tmp / "peer.conf").write_text(PEER_CONF)
            with open(d.peer_log, "wb") as out:
                lab.popen("peer", [sys.executable, "-m", "pykeepalived.vrrp.runner", "-l",
                                   "-f", str(tmp / "peer.conf")],
                          stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)})
            wait_for(lambda: "(VI_1) Entering BACKUP STATE" in d.peer_log.read_text(), 30, "the peer in BACKUP")
            yield d
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
            lab.processes.remove(proc)
        assert rc == 0, d.log_text()[-3000:]


def test_usr1_writes_parent_vrrp_and_checker_data_in_keepalived_layouts(daemon: Daemon) -> None:
    daemon.signal(signal.SIGUSR1, wait_for_files=DATA_FILES)
    for name in DATA_FILES:
        assert layout(daemon.read(name)) == layout(reference(name)), name
        assert stat.S_IMODE((daemon.dumps / name).stat().st_mode) == 0o600
    text = daemon.log_text()
    pids = daemon.child_pids()
    assert f"Printing parent data for process({daemon.pid}) on signal" in text
    assert f"Printing VRRP data for process({pids['vrrp']}) on signal" in text
    assert f"Printing checker data for process({pids['checkers']}) on signal" in text


def test_usr2_writes_keepalived_stats_and_36_keepalived_json(daemon: Daemon) -> None:
    daemon.signal(signal.SIGUSR2, wait_for_files=("keepalived.stats",))
    assert layout(daemon.read("keepalived.stats")) == layout(reference("keepalived.stats"))
    daemon.signal(SIGJSON, wait_for_files=("keepalived.json",))
    assert json_keys(daemon.read("keepalived.json")) == json_keys(reference("keepalived.json"))
    assert daemon.read("keepalived.json").count("\n") == 1


def test_stats_clear_zeroes_the_counters_of_the_next_usr2_dump(daemon: Daemon) -> None:
    daemon.signal(signal.SIGUSR2, wait_for_files=("keepalived.stats",))
    before = stats_values(daemon.read("keepalived.stats"))
    assert before["Became master"] == 1 and before["Advertisements/Sent"] >= 1
    cleared_at = time.monotonic()
    daemon.signal(SIGSTATS_CLEAR, wait_for_files=("keepalived.stats",))
    assert layout(daemon.read("keepalived.stats")) == layout(reference("keepalived.stats.clearing"))
    written = stats_values(daemon.read("keepalived.stats"))
    assert written["Became master"] == 1  # STATS_CLEAR writes the counters, then clears them
    daemon.signal(signal.SIGUSR2, wait_for_files=("keepalived.stats",))
    assert layout(daemon.read("keepalived.stats")) == layout(reference("keepalived.stats.after-clear"))
    after = stats_values(daemon.read("keepalived.stats"))
    assert after["Became master"] == 0
    assert stats_values(reference("keepalived.stats.after-clear"))["Became master"] == 0  # as keepalived's
    # only the adverts sent since the clear (advert_int 1)
    assert after["Advertisements/Sent"] <= time.monotonic() - cleared_at + 1
    assert all(v == 0 for k, v in after.items() if k != "Advertisements/Sent"), after
    assert "Printing and clearing VRRP stats for process" in daemon.log_text()


def test_dump_signals_sent_100_times_to_a_master_cause_no_transition_and_no_restart(daemon: Daemon) -> None:
    pids = daemon.child_pids()
    mark = len(daemon.log_text())
    for sig in (signal.SIGUSR1, signal.SIGUSR2, SIGJSON, SIGSTATS_CLEAR):
        for _ in range(100):
            for pid in (daemon.pid, *pids.values()):  # the parent, and each child directly
                os.kill(pid, sig)
            time.sleep(0.002)
    daemon.settle()
    assert daemon.proc.poll() is None
    assert daemon.child_pids() == pids
    for pid in pids.values():
        os.kill(pid, 0)  # still there
    since = daemon.log_text()[mark:]
    for bad in ("Entering", "exited", "Restarting", "Traceback", "Stopping"):
        assert bad not in since, since[-2000:]
    assert "Printing VRRP stats for process" in since and "Printing checker data for process" in since
    assert daemon.vip_held()
    assert "Entering MASTER" not in daemon.peer_log.read_text()  # the adverts kept coming on time


def test_links_planted_at_the_dump_names_are_replaced_not_followed(daemon: Daemon) -> None:
    daemon.settle()
    victims = {}
    for name in ALL_FILES:
        victim = daemon.dir / f"victim-{name}"
        victim.write_text("not yours\n")
        victims[name] = victim
        link = daemon.dir / f"link-{name}"
        link.symlink_to(victim)
        link.replace(daemon.dumps / name)
    for sig, names in ((signal.SIGUSR1, DATA_FILES), (signal.SIGUSR2, ("keepalived.stats",)),
                       (SIGJSON, ("keepalived.json",))):
        os.kill(daemon.pid, sig)
        for name in names:
            wait_for(lambda p=daemon.dumps / name: not p.is_symlink(), 10, f"{name} replaced")  # type: ignore[misc]
    for name, victim in victims.items():
        assert victim.read_text() == "not yours\n", name
        st = (daemon.dumps / name).lstat()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, name
    assert daemon.read("keepalived.stats").startswith("VRRP Instance: VI_1\n")
    assert sorted(p.name for p in daemon.dumps.iterdir()) == sorted(ALL_FILES)  # no temporary left behind


def test_hup_sent_in_a_loop_with_the_dump_signals_reloads_without_transition_restart_or_traceback(
        daemon: Daemon) -> None:
    """Every signal keepalived handles but TERM/INT, in a loop (issue 13's fault suite): 30 HUPs, each with
    USR1/USR2/JSON/STATS_CLEAR, to the parent and to each child.  The same file reloads as many times as the
    processes take it; nothing changes state, nothing restarts, the daemon still reloads afterwards."""
    pids = daemon.child_pids()
    mark = len(daemon.log_text())
    for _ in range(30):
        for pid in (daemon.pid, *pids.values()):
            os.kill(pid, signal.SIGHUP)
            for sig in (signal.SIGUSR1, signal.SIGUSR2, SIGJSON, SIGSTATS_CLEAR):
                os.kill(pid, sig)
        time.sleep(0.01)
    daemon.settle(quiet=2.0, timeout=90)
    assert daemon.proc.poll() is None
    assert daemon.child_pids() == pids
    since = daemon.log_text()[mark:]
    assert "Reloading" in since
    for bad in ("Entering", "exited", "Restarting", "Traceback", "Stopping", "Reload aborted"):
        assert bad not in since, since[-3000:]
    assert daemon.vip_held()
    assert "Entering MASTER" not in daemon.peer_log.read_text()
    mark = len(daemon.log_text())
    os.kill(daemon.pid, signal.SIGHUP)  # one more, alone: still handled
    wait_for(lambda: "Reloading" in daemon.log_text()[mark:], 10, "a reload after the storm")
    daemon.settle()
    assert "Traceback" not in daemon.log_text()[mark:] and daemon.child_pids() == pids
