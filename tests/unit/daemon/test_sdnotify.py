"""systemd's notify protocol (daemon.sdnotify) on a datagram socket the test binds, and the readiness pipe."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pykeepalived.daemon.child import checkers_ready, vrrp_ready
from pykeepalived.daemon.sdnotify import (
    READY_FD_ENV,
    Notifier,
    ReadyWatch,
    report_ready,
    socket_address,
    watchdog_interval,
)
from pykeepalived.vrrp.fsm import State


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_addresses_are_absolute_paths_or_abstract_names() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@sd-notify") == b"\0sd-notify"
    assert socket_address("run/notify") is None
    assert socket_address("@") is None


@pytest.mark.parametrize(("env", "interval"), [
    ({}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({"WATCHDOG_USEC": "4000000"}, 2.0),
    ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "4242"}, 2.0),
    ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, None),  # another process's watchdog
])
def test_watchdog_interval_is_half_the_period_for_this_process(env: dict[str, str], interval: float | None) -> None:
    assert watchdog_interval(env, pid=4242) == interval


def test_ready_reloading_stopping_are_one_datagram_each(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    n = Notifier(path)
    assert n.enabled
    assert n.ready("Running: vrrp")
    assert fields(sock) == {"READY": "1", "STATUS": "Running: vrrp"}
    assert n.reloading()
    got = fields(sock)
    assert got["RELOADING"] == "1" and int(got["MONOTONIC_USEC"]) > 0
    assert n.stopping()
    assert fields(sock) == {"STOPPING": "1"}
    assert n.sent == 3
    n.close()


def test_abstract_address() -> None:
    name = f"pykeepalived-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        assert Notifier("@" + name).ready()
        assert fields(sock) == {"READY": "1"}
    finally:
        sock.close()


def test_from_environ_takes_the_variables_out_of_the_environment(listener: tuple[str, socket.socket]) -> None:
    path, _sock = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid()), "PATH": "/bin"}
    n = Notifier.from_environ(env)
    assert n.enabled and n.watchdog == 0.5
    assert env == {"PATH": "/bin"}


def test_without_systemd_nothing_is_sent() -> None:
    n = Notifier.from_environ({})
    assert not n.enabled
    assert not n.ready() and not n.stopping()


def test_a_failing_socket_is_logged_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level(logging.WARNING, logger="pykeepalived"):
        for _ in range(5):
            assert not n.ready()
        assert not n.stopping()
    warnings = [r for r in caplog.records if "notify socket" in r.getMessage()]
    assert len(warnings) == 1 and n.failures == 6


def test_a_relative_notify_socket_is_refused_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pykeepalived"):
        n = Notifier("relative/notify")
        assert not n.enabled and not n.ready()
    assert "neither an absolute path nor @abstract" in caplog.text


async def test_watchdog_pings_every_half_period(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    n = Notifier(path, watchdog=0.02)
    task = asyncio.get_running_loop().create_task(n.run_watchdog())
    await asyncio.sleep(0.11)
    task.cancel()
    sock.setblocking(False)
    pings = []
    while True:
        try:
            pings.append(sock.recv(100))
        except BlockingIOError:
            break
    assert 4 <= len(pings) <= 7 and set(pings) == {b"WATCHDOG=1"}


async def test_watchdog_without_period_returns_at_once(listener: tuple[str, socket.socket]) -> None:
    await asyncio.wait_for(Notifier(listener[0]).run_watchdog(), 1)


async def test_child_readiness_travels_over_the_pipe() -> None:
    watch = ReadyWatch()
    w, env = watch.open("vrrp")
    assert env[READY_FD_ENV] == str(w)
    child_env = {READY_FD_ENV: str(w)}
    waiter = asyncio.get_running_loop().create_task(watch.wait(["vrrp"]))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    assert report_ready(child_env)  # the child's side: writes, closes the write end
    assert not report_ready(child_env)  # once
    await asyncio.wait_for(waiter, 1)
    await asyncio.sleep(0.01)  # EOF seen: the read end is closed
    watch.close()


async def test_a_child_that_dies_before_ready_only_closes_its_pipe() -> None:
    watch = ReadyWatch()
    w, _env = watch.open("checkers")
    os.close(w)
    await asyncio.sleep(0.02)
    assert not watch.event("checkers").is_set()
    watch.close()


# -- what the children wait for before they say ready ---------------------------------------------------

class FakeFsm:
    def __init__(self, wantstate: State, deadline: float | None) -> None:
        self.state = State.INIT
        self.wantstate = wantstate
        self.deadline = deadline

    def next_deadline(self) -> float | None:
        return self.deadline


class FakeVrrp:
    """The parts of VrrpProcess that vrrp_ready reads: instances[name].fsm and the ordered effects queue."""

    def __init__(self, **fsms: FakeFsm) -> None:
        self.instances = {name: SimpleNamespace(fsm=fsm) for name, fsm in fsms.items()}
        self.effects: list[Any] = []

    def _effect(self, job: Any) -> None:
        self.effects.append(job)


def config_of(*names: str) -> Any:
    return SimpleNamespace(vrrp=SimpleNamespace(instances=[SimpleNamespace(name=n) for n in names]))


async def test_vrrp_is_ready_once_the_master_has_its_vips() -> None:
    loop = asyncio.get_running_loop()
    master = FakeFsm(State.MASTER, loop.time() + 5)
    backup = FakeFsm(State.BACKUP, loop.time() + 5)
    proc = FakeVrrp(VI_1=master, VI_2=backup)
    ready = loop.create_task(vrrp_ready(proc, config_of("VI_1", "VI_2"), poll=0.005))
    await asyncio.sleep(0.03)
    master.state = backup.state = State.BACKUP  # started: both in BACKUP (init)
    await asyncio.sleep(0.03)
    assert not ready.done() and not proc.effects  # VI_1 still waits for its master-down timer
    master.state = State.MASTER  # AddVips queued on the effects queue, then our marker
    await asyncio.sleep(0.03)
    assert not ready.done() and len(proc.effects) == 1
    await proc.effects.pop()()  # the effects worker reaches the marker: the VIPs before it are in place
    await asyncio.wait_for(ready, 1)


async def test_vrrp_waiting_for_master_is_bounded_by_its_first_down_timer() -> None:
    loop = asyncio.get_running_loop()
    fsm = FakeFsm(State.MASTER, loop.time() + 0.05)  # a better master answers: it stays BACKUP
    fsm.state = State.BACKUP
    proc = FakeVrrp(VI_1=fsm)
    ready = loop.create_task(vrrp_ready(proc, config_of("VI_1"), poll=0.005))
    await asyncio.sleep(0.02)
    assert not proc.effects
    await asyncio.sleep(0.1)
    assert len(proc.effects) == 1
    await proc.effects.pop()()
    await asyncio.wait_for(ready, 1)


async def test_vrrp_waits_for_instances_not_built_yet() -> None:
    proc = FakeVrrp()
    ready = asyncio.get_running_loop().create_task(vrrp_ready(proc, config_of("VI_1"), poll=0.005))
    await asyncio.sleep(0.03)
    assert not ready.done()
    fsm = FakeFsm(State.BACKUP, None)
    fsm.state = State.BACKUP
    proc.instances["VI_1"] = SimpleNamespace(fsm=fsm)
    await asyncio.sleep(0.03)
    await proc.effects.pop()()
    await asyncio.wait_for(ready, 1)


async def test_checkers_are_ready_after_the_first_reconcile() -> None:
    proc = SimpleNamespace(reconciles=0)
    ready = asyncio.get_running_loop().create_task(checkers_ready(proc, poll=0.005))
    await asyncio.sleep(0.02)
    assert not ready.done()
    proc.reconciles = 1
    await asyncio.wait_for(ready, 1)


def test_reloads_are_announced_only_after_the_first_ready(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    n = Notifier(path)
    assert not n.reloading() and not n.reloaded("Reloaded")  # HUP during start-up: part of the start
    assert n.ready("Running: vrrp")
    assert fields(sock)["READY"] == "1"
    assert n.reloading()
    assert fields(sock)["RELOADING"] == "1"
    assert n.reloaded("Reloaded")
    assert fields(sock) == {"READY": "1", "STATUS": "Reloaded"}
    assert not n.reloaded()  # one READY per RELOADING
