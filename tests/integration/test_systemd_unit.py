"""A real systemd starts, watches (WatchdogSec), reloads and stops packaging/systemd/pykeepalived.service (nspawn).

The container boots Debian 12's systemd from an image built once with mmdebstrap and cached (as
bench/fresh_debian.sh does, in $PYKEEPALIVED_BENCH_CACHE, default /var/cache/pykeepalived-bench/); it has a
private network namespace (``--private-network``), where a veth pair made at boot carries the VRRP instance.
pykeepalived is installed into /opt/pykeepalived from wheels built here (its dependencies' wheels cached beside
the image), the unit as shipped, ``DAEMON_ARGS`` in /etc/default/keepalived.

Opt-in (the first run builds the image: about 3 minutes): ``PYKEEPALIVED_NSPAWN=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require_binary, require_root

CACHE = Path(os.environ.get("PYKEEPALIVED_BENCH_CACHE", "/var/cache/pykeepalived-bench"))
IMAGE = CACHE / "debian12-systemd.tar"
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,iproute2,nftables,libnftables1,procps,kmod,ca-certificates"
MIRRORS = ["deb http://deb.debian.org/debian bookworm main",
           "deb http://deb.debian.org/debian-security bookworm-security main"]
VIP = "10.79.0.5"
CONF = f"""vrrp_instance VI_UNIT {{
  state MASTER
  interface veth0
  virtual_router_id 79
  priority 150
  advert_int 1
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
virtual_server {VIP} 80 {{
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.79.0.9 80 {{
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""
VETH_UNIT = """[Unit]
Description=the test's link for VRRP (inside the container's own network namespace)
Before=pykeepalived.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link add veth0 type veth peer name veth1
ExecStart=/sbin/ip link set veth1 up
ExecStart=/sbin/ip link set veth0 up
[Install]
WantedBy=multi-user.target
"""


def build_image() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    part = IMAGE.with_suffix(".part")
    subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "--format=tar", f"--include={PACKAGES}",
                    "bookworm", str(part), *MIRRORS], check=True, timeout=900)
    part.rename(IMAGE)


def wheels(into: Path) -> None:
    """pykeepalived and its dependencies as wheels (the dependencies' cached across runs)."""
    deps = CACHE / "wheels"
    source = into.parent / "source"  # a copy: a build leaves build/ and *.egg-info behind in its source
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(deps), str(source)], check=True,
                   timeout=600)
    into.mkdir()
    for whl in deps.glob("*.whl"):
        shutil.copy(whl, into)
    (deps / next(deps.glob("pykeepalived-*.whl")).name).unlink()  # rebuilt from the checkout each run


class Container:
    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def boot(self) -> None:
        out = open(self.log, "wb")  # noqa: SIM115 - handed to nspawn
        # no systemd on the host: no registration, no transient scope (the container runs in our cgroup)
        self.proc = subprocess.Popen(["systemd-nspawn", "-q", "-D", str(self.root), "--boot", "--private-network",
                                      "--register=no", "--keep-unit"], stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        self.wait(lambda: self.leader() is not None, 30, "the container's init")
        self.wait(lambda: self.sh("systemctl is-system-running").stdout.strip() in ("running", "degraded"), 90,
                  "systemd in the container to finish booting")

    def leader(self) -> int | None:
        assert self.proc is not None
        with contextlib.suppress(OSError):
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            if kids:
                return int(kids[0])
        return None

    def sh(self, command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        pid = self.leader()
        assert pid is not None, "container not running"
        return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "/bin/sh", "-c",
                               command], capture_output=True, text=True, timeout=120, check=check)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show -p {','.join(props)} {unit}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait(self, cond: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"container exited while waiting for {what}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def halt(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def container() -> Iterator[Container]:
    require_root()
    if os.environ.get("PYKEEPALIVED_NSPAWN") != "1":
        pytest.skip("opt-in: PYKEEPALIVED_NSPAWN=1 (boots systemd in a container; builds a cached image once)")
    for tool in ("systemd-nspawn", "mmdebstrap", "nsenter"):
        require_binary(tool)  # in CI a missing tool is a failure (.ci/run turns this test on)
    if not IMAGE.exists():
        build_image()
    with tempfile.TemporaryDirectory(prefix="pykeepalived-nspawn.", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        subprocess.run(["tar", "-C", str(root), "-xf", str(IMAGE)], check=True)
        (root / "etc/hostname").write_text("pk-unit\n")
        wheels(root / "wheels")
        subprocess.run(["chroot", str(root), "/bin/sh", "-ec",
                        "python3 -m venv /opt/pykeepalived && /opt/pykeepalived/bin/pip install -q --no-index "
                        "--find-links /wheels pykeepalived"],
                       check=True, timeout=300, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"})
        (root / "etc/keepalived").mkdir()
        (root / "etc/keepalived/keepalived.conf").write_text(CONF)
        (root / "etc/default/keepalived").write_text('DAEMON_ARGS="-D"\n')
        units = root / "etc/systemd/system"
        shutil.copy(REPO / "packaging/systemd/pykeepalived.service", units / "pykeepalived.service")
        (units / "pk-veth.service").write_text(VETH_UNIT)
        # the watchdog as docs/systemd.md says to turn it on: a drop-in (systemd kills a unit whose pings stop)
        (units / "pykeepalived.service.d").mkdir()
        (units / "pykeepalived.service.d" / "watchdog.conf").write_text("[Service]\nWatchdogSec=1s\n")
        wants = units / "multi-user.target.wants"
        wants.mkdir(exist_ok=True)
        for unit in ("pykeepalived.service", "pk-veth.service"):
            (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
        box = Container(root, Path(tmp) / "console.log")
        try:
            box.boot()
            yield box
        finally:
            box.halt()


def vip_in(box: Container) -> bool:
    return f"{VIP}/24" in box.sh("ip -4 -o addr show dev veth0").stdout


def test_systemd_starts_reloads_and_stops_the_shipped_unit(container: Container) -> None:
    box = container
    box.wait(lambda: box.show("pykeepalived", "ActiveState")["ActiveState"] in ("active", "failed"), 60,
             "pykeepalived.service to start")
    state = box.show("pykeepalived", "ActiveState", "MainPID", "StatusText")
    journal = box.sh("journalctl -u pykeepalived --no-pager -o cat").stdout
    assert state["ActiveState"] == "active", f"{state}\n{journal}"
    assert state["StatusText"] == "Running: vrrp, checkers", state
    assert vip_in(box), f"active (READY=1) without the VIP\n{journal}"
    assert "Starting pykeepalived" in journal and "Entering MASTER STATE" in journal
    main_pid = state["MainPID"]

    # WatchdogSec=1s: systemd would abort and fail the unit after 1 s without WATCHDOG=1
    assert box.show("pykeepalived", "WatchdogUSec")["WatchdogUSec"] == "1s"
    time.sleep(4)
    watched = box.show("pykeepalived", "ActiveState", "MainPID", "Result")
    assert watched == {"ActiveState": "active", "MainPID": main_pid, "Result": "success"}, watched

    reload = box.sh("systemctl reload pykeepalived")
    assert reload.returncode == 0, reload.stderr
    box.wait(lambda: box.show("pykeepalived", "SubState")["SubState"] == "running", 30, "the reload to finish")
    after = box.show("pykeepalived", "MainPID", "StatusText")
    assert after == {"MainPID": main_pid, "StatusText": "Reloaded"}
    assert "Reloading" in box.sh("journalctl -u pykeepalived --no-pager -o cat").stdout
    assert vip_in(box)

    stop = box.sh("systemctl stop pykeepalived")
    assert stop.returncode == 0, stop.stderr
    final = box.show("pykeepalived", "ActiveState", "Result")
    assert final == {"ActiveState": "inactive", "Result": "success"}, final
    assert not vip_in(box)
    assert box.sh("pgrep -f '[p]ykeepalived'").stdout.strip() == ""  # nothing left behind
    assert "watchdog" not in box.sh("journalctl -u pykeepalived --no-pager -o cat").stdout.lower()
