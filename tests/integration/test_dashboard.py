"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright, in the seed lab.

Both daemons serve ``--listen`` on their front address and name each other with ``--dashboard-peer``;
haproxy in the client namespace maps ``/lb1/`` and ``/lb2/`` to them (the dashboard behind a reverse
proxy, from a sub-path), and Chromium runs in the client namespace too (``ip netns exec`` around the
executable Playwright starts), so nothing leaves the lab's namespaces.

The page loads and shows MASTER/BACKUP for both load balancers; it shows no drain button until the write
token is typed; a drain clicked in the page shows on the page within 1 s, with weight 0 in the data plane
and every new connection on the other server; undrain; then lb1's daemon stops (SIGTERM) and lb2's page
shows lb2 MASTER within 1 s of lb2 saying so, and lb1 unreachable.  Screenshots go to the test's tmp dir
(and, with PYKEEPALIVED_DASHBOARD_DOCS=1, two of them to docs/).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.lab.demo import SeedLab, daemon_argv
from pykeepalived.lab.netns import unique_prefix
from tests.conftest import IN_CI, REPO, require_binary, require_root

#: timing under a loaded machine: run once more on failure (as the failover tests do), in a fresh lab
pytestmark = pytest.mark.flaky(reruns=1)

TOKEN = "dashboard-test-token-0123456789"
LISTEN = {"lb1": "10.0.0.3:8080", "lb2": "10.0.0.4:8080"}
PROXY = "http://127.0.0.1:8000"
RS1, RS2 = "192.168.0.12:80", "192.168.0.13:80"
SERVICE = "tcp:10.0.0.5:80"

HAPROXY_CFG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend dashboards
    bind 127.0.0.1:8000
    http-request redirect location %[path]/ code 302 if { path -m reg ^/lb[12]$ }
    http-request set-var(txn.lb) str(lb1) if { path_beg /lb1/ }
    http-request set-var(txn.lb) str(lb2) if { path_beg /lb2/ }
    http-request replace-path ^/lb[12](/.*)$ \\1
    use_backend %[var(txn.lb)] if { var(txn.lb) -m found }
backend lb1
    server lb1 10.0.0.3:8080
backend lb2
    server lb2 10.0.0.4:8080
"""

#: ten new connections a second through the VIP, for the rate charts
LOAD = """
import time, urllib.request
while True:
    try:
        urllib.request.urlopen("http://10.0.0.5/", timeout=1).read()
    except OSError:
        pass
    time.sleep(0.1)
"""


def sync_playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright as sp
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed; the test extras include it")
        pytest.skip("playwright not installed")
    return sp()


class DashboardLab(SeedLab):
    """The seed, each daemon with --listen on its front address, a token, and the other as its peer."""

    token_file: Path

    def start_lb(self, lb: str) -> Any:
        other = "lb2" if lb == "lb1" else "lb1"
        argv = [*daemon_argv(), "-f", str(self.conf_path(lb)), "-n", "-l", "-p", str(self.pid_file(lb)),
                "--dataplane", self.dataplane, "--listen", LISTEN[lb], "--listen-token-file", str(self.token_file),
                "--dashboard-name", lb, "--dashboard-peer", f"{other}=http://{LISTEN[other]}/"]
        return self._popen(lb, lb, argv)


@pytest.fixture
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardLab]:
    require_root()
    s = DashboardLab(unique_prefix("pkdash"), persistence=None)
    s.token_file = tmp_path_factory.mktemp("dashboard-token") / "token"
    s.token_file.write_text(TOKEN + "\n")
    os.chmod(s.token_file, 0o600)
    try:
        s.up(wait=30)
        yield s
    finally:
        s.down()


def plane_weight(seed: SeedLab, lb: str, server: str) -> int | None:
    """rs's weight in lb's data plane, as the daemon reads it back (None: not in the table)."""
    for vs in (seed.status(lb) or {}).get("virtual_services", ()):
        for d in vs["service"]["destinations"]:
            if f"{d['key']['addr']}:{d['key']['port']}" == server:
                return int(d["weight"])
    return None


def front_state(seed: SeedLab, lb: str) -> tuple[str | None, float | None]:
    for v in (seed.status(lb, timeout=0.5) or {}).get("vrrp", ()):
        if v["name"] == "VI_FRONT":
            return v["state"], v.get("last_transition")
    return None, None


@pytest.mark.root
def test_dashboard_in_a_browser(seed: DashboardLab, tmp_path: Path) -> None:
    chromium = require_binary("chromium")
    haproxy = require_binary("haproxy")
    pw_context = sync_playwright()
    from playwright.sync_api import expect

    assert seed.lab is not None
    t_start = time.monotonic()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG)
    wrapper = tmp_path / "chromium-in-client-ns"
    # Playwright talks to the browser over inherited pipes: ip netns exec keeps them
    wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {seed.ns('client')} {chromium} \"$@\"\n")
    wrapper.chmod(0o755)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    proxy = seed.lab.popen("client", [haproxy, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    load = seed.lab.popen("client", [sys.executable, "-c", LOAD], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    timings: dict[str, float] = {}
    try:
        with pw_context as pw:
            browser = pw.chromium.launch(executable_path=str(wrapper), headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                run_in_browser(seed, browser, expect, shots, timings)
            finally:
                browser.close()
    finally:
        for p in (load, proxy):
            seed.lab.stop(p)
    timings["total_s"] = time.monotonic() - t_start
    print(f"dashboard browser test: {timings}; screenshots in {shots}")
    if os.environ.get("PYKEEPALIVED_DASHBOARD_DOCS"):
        for name in ("dashboard-drain.png", "dashboard-failover.png"):
            shutil.copy(shots / name, REPO / "docs" / name)


def run_in_browser(seed: DashboardLab, browser: Any, expect: Any, shots: Path, timings: dict[str, float]) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{PROXY}/lb1")  # redirected to /lb1/: every URL of the page is relative to it
    assert page.url == f"{PROXY}/lb1/"

    def state(p: Any, lb: str, inst: str = "VI_FRONT") -> Any:
        return p.locator(f'.card[data-lb="{lb}"] tr[data-instance="{inst}"] [data-role="state"]')

    # -- loads, both load balancers' VRRP state (lb2 relayed by lb1) --------------------------------------
    for inst in ("VI_FRONT", "VI_GATEWAY"):
        expect(state(page, "lb1", inst)).to_have_text("MASTER", timeout=10_000)
        expect(state(page, "lb2", inst)).to_have_text("BACKUP", timeout=10_000)
    expect(page.locator("#stream")).to_have_attribute("data-state", "live")
    rs1 = page.locator(f'.svc[data-lb="lb1"] tr[data-server="{RS1}"]')
    expect(rs1.locator('[data-role="health"]')).to_have_text("alive")
    expect(rs1.locator('[data-role="weight"]')).to_have_attribute("data-plane", "20")

    # -- read-only without the token: no buttons; with it, drain/undrain ---------------------------------
    expect(page.locator("#access")).to_contain_text("read-only")
    assert page.locator("button[data-action]").count() == 0
    page.fill("#token", "not-the-token-0123456789")
    page.click("#use-token")
    expect(page.locator("#access")).to_contain_text("token refused")
    assert page.locator("button[data-action]").count() == 0
    page.fill("#token", TOKEN)
    page.click("#use-token")
    expect(page.locator("#access")).to_contain_text("read-write")
    drain = rs1.locator('button[data-action="drain"]')
    expect(drain).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('pykeepalived-token')") == TOKEN
    page.wait_for_timeout(8000)  # some samples for the rate chart (10 new connections a second)

    shown = ("() => document.querySelector('.svc[data-lb=\"lb1\"] tr[data-server=\"%s\"] [data-role=\"override\"]')"
             "?.textContent === '%s'")
    t0 = time.monotonic()
    with page.expect_response("**/api/v1/command") as answer:
        drain.click()
    t_answer = time.monotonic()
    assert answer.value.ok
    page.wait_for_function(shown % (RS1, "drained"), polling="raf", timeout=5000)
    t_shown = time.monotonic()
    timings["drain_answered_s"] = t_answer - t0  # the API answers once the data plane has it
    timings["drain_shown_s"] = t_shown - t0
    assert t_shown - t_answer < 0.5, timings  # the page's own part: the next event, at once
    assert t_shown - t0 < 1.0, timings
    expect(rs1.locator('[data-role="weight"]')).to_have_attribute("data-plane", "0")
    expect(rs1.locator('[data-role="health"]')).to_have_text("alive")  # the checker still runs under it
    assert plane_weight(seed, "lb1", RS1) == 0  # the data plane, read back by the daemon
    assert seed.get(10) == {"rs2": 10}  # every new connection avoids it
    page.wait_for_timeout(3000)  # the drained server's line falls to zero on the chart
    page.screenshot(path=str(shots / "dashboard-drain.png"), full_page=True)

    t0 = time.monotonic()
    rs1.locator('button[data-action="undrain"]').click()
    page.wait_for_function(shown % (RS1, "\u2013"), polling="raf", timeout=5000)
    timings["undrain_shown_s"] = time.monotonic() - t0
    assert timings["undrain_shown_s"] < 1.0, timings
    expect(rs1.locator('[data-role="weight"]')).to_have_attribute("data-plane", "20")
    assert plane_weight(seed, "lb1", RS1) == 20

    # -- failover: lb1's daemon stops; lb2's page (lb1 relayed by lb2) shows it ---------------------------
    page2 = browser.new_page(viewport={"width": 1440, "height": 1000})
    page2.on("pageerror", lambda e: errors.append(str(e)))
    page2.goto(f"{PROXY}/lb2/")
    expect(state(page2, "lb2")).to_have_text("BACKUP", timeout=10_000)
    expect(state(page2, "lb1")).to_have_text("MASTER", timeout=10_000)
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch_lb2() -> None:  # when lb2's daemon itself first says MASTER
        while not stop.is_set():
            st, last = front_state(seed, "lb2")
            if st == "MASTER":
                seen["daemon"] = time.time()
                if last:
                    seen["last_transition"] = last
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch_lb2, daemon=True)
    watcher.start()
    t_term = time.time()
    assert seed.procs["lb1"].signal(signal.SIGTERM)
    try:
        page2.wait_for_function(
            "() => document.querySelector('.card[data-lb=\"lb2\"] tr[data-instance=\"VI_FRONT\"] "
            "[data-role=\"state\"]')?.textContent === 'MASTER'", polling="raf", timeout=15_000)
        t_page = time.time()
    finally:
        stop.set()
        watcher.join(5)
    assert "daemon" in seen
    timings["failover_daemon_after_sigterm_s"] = seen["daemon"] - t_term
    timings["failover_page_after_daemon_s"] = t_page - seen["daemon"]
    assert t_page - seen["daemon"] < 1.0, timings
    if "last_transition" in seen:
        timings["failover_page_after_transition_s"] = t_page - seen["last_transition"]
        assert t_page - seen["last_transition"] < 1.0, timings
    assert seed.vip_holders() == ["lb2"]
    # lb1 is gone: shown unreachable within 1 s of its daemon's exit
    popen = seed.popens["lb1"]
    popen.wait(15)
    t_exit = time.time()
    expect(page2.locator('.card[data-lb="lb1"]')).to_have_attribute("data-connected", "0", timeout=1000)
    timings["peer_gone_shown_s"] = time.time() - t_exit
    expect(page2.locator('#transitions li[data-lb="lb2"][data-instance="VI_FRONT"][data-to="MASTER"]')
           ).to_have_count(1)
    page2.wait_for_timeout(1500)
    page2.screenshot(path=str(shots / "dashboard-failover.png"), full_page=True)
    # lb1's own page lost its daemon: it says so rather than showing stale data as live
    expect(page.locator("#stream")).not_to_have_attribute("data-state", "live", timeout=5000)
    page.screenshot(path=str(shots / "dashboard-lb1-gone.png"), full_page=True)
    assert errors == []  # no script error in either page


# -- the page's rendering of what the seed does not show yet: checker latency, an unreachable peer ---------------


def test_page_with_checks_and_a_dead_peer_on_loopback(tmp_path: Path) -> None:
    """No root, no lab: a control server on 127.0.0.1 with a fake snapshot carrying checker results and
    durations, and a peer that never answers; Chromium on loopback."""
    import asyncio
    import dataclasses

    from pykeepalived.status.api import Access
    from pykeepalived.status.dashboard import DashboardOptions, Peer
    from pykeepalived.status.server import ControlServer
    from pykeepalived.status.snapshot import CheckStatus, DurationHistogram
    from tests.unit.status.conftest import seed_snapshot

    chromium = require_binary("chromium")
    pw_context = sync_playwright()
    from playwright.sync_api import expect

    hist = DurationHistogram()
    for d in (0.004, 0.008, 0.012):
        hist = hist.observe(d)
    base = seed_snapshot()
    vs = base.virtual_services[0]
    dests = (dataclasses.replace(vs.destinations[0], checks=(
                 CheckStatus("HTTP_GET", "192.168.0.12:80", True, time.time(), 0.012, 3, 0, hist),)),
             dataclasses.replace(vs.destinations[1], checks=(
                 CheckStatus("TCP_CHECK", "192.168.0.13:80", False, time.time(), 1.0, 3, 2),)))
    state = {"snap": dataclasses.replace(base, virtual_services=(dataclasses.replace(vs, destinations=dests),))}
    asked: list[dict[str, Any]] = []

    def source() -> Any:
        return dataclasses.replace(state["snap"], taken_at=time.time())

    async def handler(cmd: Any, caller: Any) -> dict[str, Any]:
        asked.append(cmd.to_json())
        snap = state["snap"]
        v = snap.virtual_services[0]
        ds = tuple(dataclasses.replace(d, override="drained" if cmd.name == "drain" else "")
                   if f"{d.key.addr}:{d.key.port}" == cmd.server else d for d in v.destinations)
        state["snap"] = dataclasses.replace(snap, virtual_services=(dataclasses.replace(v, destinations=ds),))
        return {"message": f"{cmd.name}ed", "overrides": {}}

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    loop = asyncio.new_event_loop()
    server = ControlServer(source, str(tmp_path / "k.ctl"), tcp=("127.0.0.1", 0), commands=handler,
                           access=Access.configure(token_file=str(token_file)),
                           dashboard=DashboardOptions("lb1", (Peer("lb9", "http://127.0.0.1:9/"),)))
    loop.run_until_complete(server.start())
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    try:
        with pw_context as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{server.tcp_port}/")
                rs1 = page.locator('.svc[data-lb="lb1"] tr[data-server="192.168.0.12:80"]')
                rs2 = page.locator('.svc[data-lb="lb1"] tr[data-server="192.168.0.13:80"]')
                expect(rs1.locator('[data-role="latency"]')).to_have_text("12.0 ms (avg 8.0 ms)", timeout=10_000)
                expect(rs1.locator(".check.ok")).to_have_text("HTTP_GET")
                expect(rs2.locator(".check.bad")).to_have_text("TCP_CHECK")
                expect(rs2.locator('[data-role="latency"]')).to_have_text("1.00 s")
                expect(page.locator('.card[data-lb="lb1"] tr[data-instance="VI_1"] [data-role="state"]')
                       ).to_have_text("MASTER")
                expect(page.locator('.card[data-lb="lb9"]')).to_have_attribute("data-connected", "0")
                expect(page.locator('.card[data-lb="lb9"] [data-role="unreachable"]')).to_contain_text("unreachable")
                assert page.locator("button[data-action]").count() == 0
                page.fill("#token", TOKEN)
                page.click("#use-token")
                rs1.locator('button[data-action="drain"]').click()
                expect(rs1.locator('[data-role="override"]')).to_have_text("drained", timeout=2000)
                assert asked == [{"command": "drain", "service": "tcp:10.0.0.5:80", "server": "192.168.0.12:80"}]
                page.screenshot(path=str(tmp_path / "dashboard-checks.png"), full_page=True)
                assert errors == []
            finally:
                browser.close()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        serving.join(5)
        loop.close()
