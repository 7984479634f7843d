"""Health checks drive the pool, and tell people: HTTP_GET digest, notify_up/down, quorum scripts, FIFO lines.

One pykeepalived daemon on the seed topology's lb1, checkers only (the front VIP 10.0.0.5 and the
gateway 192.168.0.1 are plain addresses of lb1 here, so nothing waits for a VRRP election).  rs1's
web server serves a file the test rewrites (``python -m http.server``), rs2 the lab's own server.
Both real servers are checked by HTTP_GET with the MD5 digest of their page:

* rs1's page changes -> digest mismatch -> rs1 leaves the table within
  connect_timeout + retry × delay_before_retry + delay_loop (keepalived's check/ipwrapper.c:
  update_svr_checker_state()) and new connections all reach rs2 without an error; the page is
  restored -> rs1 returns;
* notify_up / notify_down and quorum_up / quorum_down (quorum 2 of weights 1 + 1) run with their
  configured argv only, in the order of the transitions (keepalived's check/ipwrapper.c:
  do_rs_notifies(), do_vs_notifies());
* ``lvs_notify_fifo`` receives ``RS [ip]:tcp:port [vip]:tcp:port UP|DOWN`` and
  ``VS [vip]:tcp:port UP|DOWN`` lines, one per line, exactly as keepalived writes them
  (check/ipwrapper.c: notify_fifo_vs(), notify_fifo_rs()).

The notify script is keepalived's own capture script (``notify.sh.txt`` of the 2.2.7 captures)
pointed at this lab's log, so its lines read ``argc=N args=[...]`` as in ``notify.log``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.demo import REAL_SERVERS, SeedLab
from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.netns import list_netns, unique_prefix
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP, seed_topology
from tests.conftest import data_path, require_root

pytestmark = pytest.mark.root

RS1, RS2 = REAL_SERVERS["rs1"], REAL_SERVERS["rs2"]
BOTH = {RS1, RS2}
#: HTTP_GET timing of both real servers
DELAY_LOOP, CONNECT_TIMEOUT, RETRY, DELAY_BEFORE_RETRY = 2, 1, 1, 1
#: keepalived's detection bound for a server that fails every attempt: one failure, then ``retry`` retries
#: ``delay_before_retry`` apart
DOWN_BOUND = CONNECT_TIMEOUT + RETRY * DELAY_BEFORE_RETRY + DELAY_LOOP
#: a healed server: HTTP polls the failed url every max(delay_before_retry, delay_loop); once it passes, every
#: url is walked again (one per delay_loop) before the checker is up (check_http.c's epilog)
UP_BOUND = max(DELAY_BEFORE_RETRY, DELAY_LOOP) + DELAY_LOOP
#: scheduling and status polling on a small shared machine
SLACK = 0.75

PAGE_RS1 = b"rs1\n"
PAGE_RS2 = b"rs2\n"  # what pykeepalived.lab.web serves on rs2
CHANGED = b"rs1 after a bad deploy\n"

RS_FIFO = "RS [{rs}]:tcp:80 [10.0.0.5]:tcp:80 {state}"
VS_FIFO = "VS [10.0.0.5]:tcp:80 {state}"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def notify_script_text(log: Path) -> str:
    """keepalived's capture script (``notify.sh.txt``), logging to ``log`` instead of /run/katest."""
    text = data_path("keepalived-2.2.7-captures", "notify.sh.txt").read_text()
    assert "/run/katest/run/notify.log" in text
    return text.replace("/run/katest/run/notify.log", str(log))


def checker_conf(lab: SeedLab, fifo: Path) -> str:
    n = lab.notify_script
    real = ""
    for name, addr, page in (("rs1", RS1, PAGE_RS1), ("rs2", RS2, PAGE_RS2)):
        real += f"""
    real_server {addr} 80 {{
        weight 1
        notify_up "{n} {name} up"
        notify_down "{n} {name} down"
        HTTP_GET {{
            url {{
                path /
                digest {md5(page)}
            }}
            connect_timeout {CONNECT_TIMEOUT}
            retry {RETRY}
            delay_before_retry {DELAY_BEFORE_RETRY}
        }}
    }}
"""
    return f"""global_defs {{
    router_id lb1
    enable_script_security
    script_user root
    lvs_notify_fifo {fifo}
}}

virtual_server {SEED_FRONT_VIP} 80 {{
    delay_loop {DELAY_LOOP}
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    quorum_up "{n} vs quorum_up"
    quorum_down "{n} vs quorum_down"
{real}}}
"""


# -- helpers shared with test_mail_alerts --------------------------------------------------------

def prepare(prefix: str) -> SeedLab:
    """A SeedLab shell: state directory (root-owned, 0755) with keepalived's capture notify script."""
    require_root()
    lab = SeedLab(prefix)
    if lab.dir.exists():
        import shutil

        shutil.rmtree(lab.dir)
    lab.dir.mkdir(parents=True, mode=0o755)
    os.chmod(lab.state_root, 0o755)
    os.chmod(lab.dir, 0o755)
    lab.notify_script.write_text(notify_script_text(lab.notify_log))
    lab.notify_script.chmod(0o755)
    return lab


def serve_file(lab: SeedLab, node: str, page: bytes) -> Path:
    """``python -m http.server`` on ``node``:80 serving ``index.html`` (returned, to be rewritten)."""
    www = lab.dir / f"www-{node}"
    www.mkdir(exist_ok=True)
    index = www / "index.html"
    index.write_bytes(page)
    argv = [sys.executable, "-u", "-m", "http.server", "80", "--bind", "0.0.0.0", "--directory", str(www)]
    proc = lab._popen(f"web-{node}", node, argv)
    log = Path(proc.log)
    wait_for(lambda: "Serving HTTP" in log.read_text(errors="replace"), 10, f"http.server on {node}")
    return index


def set_page(index: Path, page: bytes) -> None:
    tmp = index.with_suffix(".tmp")
    tmp.write_bytes(page)
    tmp.replace(index)  # atomic: a check sees the old page or the new one


def open_fifo(path: Path) -> int:
    """Create the FIFO and hold its read end (non-blocking) before the daemon opens it."""
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


class FifoReader:
    """Everything written to a FIFO so far, raw (so doubled or missing newlines show)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def read(self) -> str:
        for _ in range(1000):  # bounded: at most 64 MiB
            try:
                chunk = os.read(self.fd, 65536)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    break
                raise
            if not chunk:
                break
            self.data += chunk
        return self.data.decode()

    def lines(self) -> list[str]:
        return self.read().split("\n")[:-1]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def notify_args(lab: SeedLab) -> list[str]:
    """``argc=N args=[...]`` of every script run so far (timestamps stripped)."""
    try:
        text = lab.notify_log.read_text()
    except FileNotFoundError:
        return []
    return [line.split(" ", 1)[1] for line in text.splitlines() if " " in line]


def args(*argv: str) -> str:
    """What the capture script logs for ``argv`` (``$#`` and ``$*``)."""
    return f"argc={len(argv)} args=[{' '.join(argv)}]"


def teardown(lab: SeedLab) -> None:
    lab.down()
    assert not [n for n in list_netns() if n.startswith(lab.prefix)], "namespaces left behind"


# -- the lab ------------------------------------------------------------------------------------

class CheckerLab:
    def __init__(self, seed: SeedLab, index: Path, fifo: FifoReader) -> None:
        self.seed, self.index, self.fifo = seed, index, fifo


@pytest.fixture(scope="module")
def checker_lab() -> Iterator[CheckerLab]:
    lab = prepare(unique_prefix("pkcn"))
    fifo: FifoReader | None = None
    try:
        fifo = FifoReader(open_fifo(lab.dir / "lvs.fifo"))
        lab.conf_path("lb1").write_text(checker_conf(lab, lab.dir / "lvs.fifo"))
        lab.lab = seed_topology(lab.prefix)
        # the VIP and the real servers' gateway, statically: this module is about checkers, not VRRP
        lab.lab.add_address("lb1", "eth0", f"{SEED_FRONT_VIP}/24")
        lab.lab.add_address("lb1", "eth1", f"{SEED_GATEWAY_VIP}/24")
        index = serve_file(lab, "rs1", PAGE_RS1)
        lab.start_web("rs2")
        lab.start_lb("lb1")
        lab.wait_table("lb1", BOTH, 15)
        lab.wait_health("lb1", {RS1: "alive", RS2: "alive"}, 10)
        yield CheckerLab(lab, index, fifo)
    finally:
        if fifo is not None:
            fifo.close()
        teardown(lab)


# -- tests ----------------------------------------------------------------------------------------

def test_digest_mismatch_removes_rs1_within_the_bound_and_the_right_page_brings_it_back(
        checker_lab: CheckerLab) -> None:
    lab = checker_lab.seed
    # both pass their first checks (bootstrap 1 s + warmup up to delay_loop) before we break one
    time.sleep(1 + DELAY_LOOP + 0.5)
    assert set(lab.get(10).keys()) == {"rs1", "rs2"}
    seen_args, seen_fifo = len(notify_args(lab)), len(checker_lab.fifo.lines())

    t = time.monotonic()
    set_page(checker_lab.index, CHANGED)
    t_down = lab.wait_table("lb1", {RS2}, DOWN_BOUND + SLACK + 1)
    print(f"digest mismatch: rs1 removed {t_down - t:.2f} s after its page changed (bound {DOWN_BOUND} s)")
    assert t_down - t <= DOWN_BOUND + SLACK
    assert lab.health("lb1")[RS1] == "down"
    answers = lab.get(20)
    assert answers == Counter({"rs2": 20}), answers

    t = time.monotonic()
    set_page(checker_lab.index, PAGE_RS1)
    t_up = lab.wait_table("lb1", BOTH, UP_BOUND + SLACK + 1)
    print(f"page restored: rs1 back {t_up - t:.2f} s later (bound {UP_BOUND} s)")
    assert t_up - t <= UP_BOUND + SLACK
    assert lab.health("lb1")[RS1] == "alive"
    answers = lab.get(20)
    assert answers["errors"] == 0 and answers["rs1"] > 0 and answers["rs2"] > 0, answers

    # the notifications of this down/up cycle, in order (scripts: configured argv only)
    wait_for(lambda: len(notify_args(lab)) >= seen_args + 4, 5, "four notify scripts")
    assert notify_args(lab)[seen_args:] == [
        args("rs1", "down"), args("vs", "quorum_down"), args("rs1", "up"), args("vs", "quorum_up")]
    wait_for(lambda: len(checker_lab.fifo.lines()) >= seen_fifo + 4, 5, "four FIFO lines")
    raw = checker_lab.fifo.read()
    assert "\n\n" not in raw, f"empty lines in lvs_notify_fifo: {raw!r}"
    assert checker_lab.fifo.lines()[seen_fifo:] == [
        RS_FIFO.format(rs=RS1, state="DOWN"), VS_FIFO.format(state="DOWN"),
        RS_FIFO.format(rs=RS1, state="UP"), VS_FIFO.format(state="UP")]


def test_stopped_web_server_runs_notify_down_and_writes_fifo_lines(checker_lab: CheckerLab) -> None:
    lab = checker_lab.seed
    lab.wait_table("lb1", BOTH, 5)
    seen_args, seen_fifo = len(notify_args(lab)), len(checker_lab.fifo.lines())
    t = time.monotonic()
    lab.stop_web("rs2")
    try:
        t_down = lab.wait_table("lb1", {RS1}, DOWN_BOUND + SLACK + 1)
        print(f"rs2 stopped: removed {t_down - t:.2f} s later (bound {DOWN_BOUND} s)")
        assert t_down - t <= DOWN_BOUND + SLACK
        assert lab.get(10) == Counter({"rs1": 10})
    finally:
        lab.start_web("rs2")
    lab.wait_table("lb1", BOTH, UP_BOUND + SLACK + 1)
    wait_for(lambda: len(notify_args(lab)) >= seen_args + 4, 5, "four notify scripts")
    assert notify_args(lab)[seen_args:] == [
        args("rs2", "down"), args("vs", "quorum_down"), args("rs2", "up"), args("vs", "quorum_up")]
    wait_for(lambda: len(checker_lab.fifo.lines()) >= seen_fifo + 4, 5, "four FIFO lines")
    assert checker_lab.fifo.lines()[seen_fifo:] == [
        RS_FIFO.format(rs=RS2, state="DOWN"), VS_FIFO.format(state="DOWN"),
        RS_FIFO.format(rs=RS2, state="UP"), VS_FIFO.format(state="UP")]
