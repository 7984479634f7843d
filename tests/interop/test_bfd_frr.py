"""BFD against FRR's bfdd (Debian's frr 8.4) as the peer, in lab namespaces (py 10.77.0.1, frr 10.77.0.2).

* the session comes Up with pykeepalived active or passive, the Poll Sequence after Up moves both sides to
  the configured interval, and the detection time is FRR's multiplier x the negotiated interval;
* the path fails (FRR's packets dropped by nftables in py's own namespace; bfdd stopped with SIGSTOP): the
  session goes Down with "Control Detection Time Expired" never before the detection time after the last
  packet received, and within a scheduling slack after it, on every trial; all trials are printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab import bfd_peer as bp
from pykeepalived.lab.topology import Lab
from tests.conftest import IN_CI, require_root

#: how late after the bound a detection may come on a shared 2-core machine (timer wake-up, scheduling):
#: a trial late once is run again, a real timing bug is late every time
SLACK = 0.025
pytestmark = [pytest.mark.interop, pytest.mark.root, pytest.mark.flaky(reruns=1)]


def require_bfdd() -> str:
    path = bp.find_bfdd()
    if path is None:
        if IN_CI:
            pytest.fail("FRR's bfdd is not installed; scripts/install-system-packages test installs frr")
        pytest.skip("FRR's bfdd not installed (apt-get install frr)")
    return path


@pytest.fixture
def pair(tmp_path: os.PathLike[str]) -> Iterator[Lab]:
    require_root()
    require_bfdd()
    lab = Lab()
    try:
        bp.bfd_pair(lab)
        yield lab
    finally:
        lab.close()


def start(lab: Lab, tmp_path: os.PathLike[str], interval_ms: int, mult: int, *, py_extra: tuple[str, ...] = (),
          frr_passive: bool = False) -> tuple[bp.PyBfd, bp.FrrBfdd]:
    frr = bp.FrrBfdd(lab, "frr", bp.frr_conf(interval_ms, mult, passive=frr_passive)).start()
    py = bp.PyBfd(lab, "py", Path(tmp_path) / "py", bp.py_conf(interval_ms, mult, extra=py_extra)).start()
    return py, frr


def report(py: bp.PyBfd, frr: bp.FrrBfdd) -> str:
    return f"--- pykeepalived ---\n{py.stderr()[-4000:]}\n--- bfdd ---\n{frr.log()[-4000:]}"


@pytest.mark.parametrize(("py_extra", "frr_passive"), [((), False), (("passive",), False), ((), True)],
                         ids=["both-active", "pykeepalived-passive", "frr-passive"])
def test_session_comes_up_and_negotiates_the_interval(pair: Lab, tmp_path: os.PathLike[str],
                                                      py_extra: tuple[str, ...], frr_passive: bool) -> None:
    py, frr = start(pair, tmp_path, 50, 3, py_extra=py_extra, frr_passive=frr_passive)
    try:
        try:
            up = py.wait_state("Up", 15.0)
        except TimeoutError:
            pytest.fail(f"no Up with bfdd\n{report(py, frr)}")
        assert up["remote_discr"] != 0 and up["diag"] == "No Diagnostic"
        # the first minute of a session: FRR polls from its 1 s idle rate to 50 ms; our detection time
        # follows it to 3 x 50 ms (both sides' Detection time lines are logged)
        end = time.monotonic() + 10.0
        while time.monotonic() < end and "Detection time is 150000 us" not in py.stderr():
            time.sleep(0.05)
        assert "Detection time is 150000 us" in py.stderr(), report(py, frr)
        assert "(frr) Entering Up state" in py.stderr()
    finally:
        py.stop()
        frr.stop()


@pytest.mark.parametrize("interval_ms", [50, 20])
def test_detection_time_within_the_bound_on_every_trial(pair: Lab, tmp_path: os.PathLike[str],
                                                        interval_ms: int, capsys: pytest.CaptureFixture[str]) -> None:
    mult = 3
    bound = mult * interval_ms / 1000
    py, frr = start(pair, tmp_path, interval_ms, mult)
    trials: list[bp.Trial] = []
    try:
        py.wait_state("Up", 15.0)
        time.sleep(1.5)  # the Poll Sequence to the fast interval is over
        for method in ("nft", "nft", "nft", "stop", "stop", "stop"):
            trials.append(bp.detection_trial(pair, py, frr, method))
    finally:
        py.stop()
        frr.stop()
        with capsys.disabled():
            print(f"\nBFD vs FRR bfdd, {interval_ms} ms x {mult} (bound {bound * 1000:g} ms):")
            for t in trials:
                print("  " + t.line())
    for t in trials:
        assert t.diag == "Control Detection Time Expired"
        assert t.bound == pytest.approx(bound)
        assert t.detected_after >= t.bound - 0.0005, t.line()  # never before the bound (clock rounding aside)
        assert t.detected_after <= t.bound + SLACK, t.line()


def test_daemon_runs_the_bfd_child_and_tells_subscribers(pair: Lab, tmp_path: os.PathLike[str]) -> None:
    """pykeepalived -n -f CONF: a config with a bfd_instance gets a BFD child (its pid file, keepalived's
    'Starting BFD child process' line); its session with bfdd comes Up and a BfdWatch on the event stream
    hears Up, then Down when bfdd stops answering; -B runs no BFD child."""
    import asyncio
    import signal
    import subprocess
    import sys

    from pykeepalived.bfd.watch import BfdWatch

    tmp = Path(tmp_path)
    conf = tmp / "keepalived.conf"
    conf.write_text(bp.py_conf(50, 3))
    frr = bp.FrrBfdd(pair, "frr", bp.frr_conf(50, 3)).start()
    pid = tmp / "lb.pid"
    log = (tmp / "daemon.log").open("w")
    argv = [sys.executable, "-c", "import sys; from pykeepalived.cli import main; sys.exit(main())",
            "-n", "-l", "-D", "-f", str(conf), "-p", str(pid)]
    daemon = pair.popen("py", argv, stdout=log, stderr=subprocess.STDOUT)

    async def watch() -> list[tuple[str, bool]]:
        seen: list[tuple[str, bool]] = []
        w = BfdWatch(str(tmp / "lb_bfd.events"), role="vrrp", retry=0.05)
        try:
            async with asyncio.timeout(20):
                async for ev in w:
                    seen.append((ev.name, ev.up))
                    if ev.up:
                        frr.pause()  # the path fails: Down after the detection time
                    elif any(up for _, up in seen):
                        return seen
        finally:
            frr.resume()
            await w.aclose()
        return seen

    try:
        seen = asyncio.run(watch())
        assert seen[-2:] == [("frr", True), ("frr", False)], seen
        assert (tmp / "lb_bfd.pid").exists()
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        finally:
            pair.stop(daemon)
            frr.stop()
            log.close()
    text = (tmp / "daemon.log").read_text()
    assert "Starting BFD child process, pid=" in text, text
    assert "(frr) Entering Up state" in text and "(frr) Expired after" in text, text
    assert not (tmp / "lb_bfd.pid").exists()  # removed on stop
    assert "Traceback" not in text, text  # a subscriber still connected at stop ends quietly

    log2 = tmp / "no_bfd.log"
    with log2.open("w") as out:
        daemon = pair.popen("py", [*argv, "-B"], stdout=out, stderr=subprocess.STDOUT)
        time.sleep(2.0)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        pair.stop(daemon)
    assert "Starting BFD child process" not in log2.read_text()


@pytest.mark.parametrize(("extra", "comes_up"), [(("hoplimit 255",), True), ((), False)],
                         ids=["hoplimit-255", "keepalived-default-64"])
def test_ipv6_session(pair: Lab, tmp_path: os.PathLike[str], extra: tuple[str, ...], comes_up: bool) -> None:
    """IPv6: with ``hoplimit 255`` the session comes Up and detection keeps its bound.  Without it
    pykeepalived sends with keepalived 2.2.7's default IPv6 hop limit, 64 (BFD_CONTROL_HOPLIMIT), which FRR's
    GTSM check (RFC 5881 §5: 255) drops: the session never comes Up, as with keepalived itself."""
    for node, addr in (("py", "fd77::1/64"), ("frr", "fd77::2/64")):
        pair.add_address(node, "eth0", addr)
    time.sleep(2.5)  # duplicate address detection
    frr = bp.FrrBfdd(pair, "frr", bp.frr_conf(50, 3, peer="fd77::1", local="fd77::2")).start()
    py = bp.PyBfd(pair, "py", Path(tmp_path) / "py6",
                  bp.py_conf(50, 3, neighbor="fd77::2", source="fd77::1", extra=extra)).start()
    try:
        if not comes_up:
            with pytest.raises(TimeoutError):
                py.wait_state("Up", 5.0)
            return
        py.wait_state("Up", 15.0)
        t = bp.detection_trial(pair, py, frr, "stop")
        assert t.diag == "Control Detection Time Expired" and t.bound == pytest.approx(0.150)
        assert t.bound - 0.0005 <= t.detected_after <= t.bound + SLACK, t.line()
    finally:
        py.stop()
        frr.stop()
