"""The change signal (status.changes): long polls on a process's state, bounded, served on the control socket
and followed by the supervisor across a restart of the process behind the socket."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import aiohttp
import pytest

from pykeepalived.status import changes
from pykeepalived.status.changes import Busy, ChangeSignal, follow
from pykeepalived.status.server import ControlServer

from .conftest import seed_snapshot


async def test_a_long_poll_answers_when_the_generation_moves() -> None:
    sig = ChangeSignal()
    first = await sig.wait(None, 5)  # nothing known yet: at once
    assert first == sig.token == f"{sig.epoch}:0"
    asyncio.get_running_loop().call_later(0.02, sig.bump)
    t0 = time.monotonic()
    moved = await sig.wait(first, 5)
    assert moved == f"{sig.epoch}:1" and time.monotonic() - t0 < 1
    assert await sig.wait(first, 5) == moved  # behind: at once
    t0 = time.monotonic()
    assert await sig.wait(moved, 0.05) == moved  # nothing moved: the same token once the wait is over
    assert 0.04 < time.monotonic() - t0 < 1


async def test_a_token_of_another_run_is_answered_at_once() -> None:
    """A restarted process has a new epoch: a reader holding the old one's token hears of it at once, even
    where the generations happen to be equal."""
    old, new = ChangeSignal(), ChangeSignal()
    assert old.epoch != new.epoch
    assert await asyncio.wait_for(new.wait(old.token, 30), 1) == new.token


async def test_waits_are_bounded_in_number_and_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    sig = ChangeSignal(max_waiters=2)
    waits = [asyncio.ensure_future(sig.wait(sig.token, 30)) for _ in range(2)]
    await asyncio.sleep(0)
    assert sig.waiters == 2
    with pytest.raises(Busy):
        await sig.wait(sig.token, 30)
    assert sig.refused == 1
    sig.bump()
    assert await asyncio.wait_for(asyncio.gather(*waits), 1) == [sig.token] * 2
    assert sig.waiters == 0
    monkeypatch.setattr(changes, "MAX_WAIT", 0.05)  # a longer wait asked for is cut to MAX_WAIT
    assert await asyncio.wait_for(sig.wait(sig.token, 3600), 1) == sig.token


async def test_close_ends_every_wait_and_listeners_hear_each_bump() -> None:
    sig = ChangeSignal()
    heard: list[int] = []
    sig.subscribe(lambda: heard.append(sig.generation))
    waiting = asyncio.ensure_future(sig.wait(sig.token, 30))
    await asyncio.sleep(0)
    sig.close()
    assert await asyncio.wait_for(waiting, 1) == sig.token
    assert await asyncio.wait_for(sig.wait(sig.token, 30), 1) == sig.token  # closed: at once
    sig.reopen()
    sig.bump()
    sig.bump()
    assert heard == [1, 2]
    for _ in range(changes.MAX_LISTENERS - 1):
        sig.subscribe(lambda: None)
    with pytest.raises(RuntimeError):
        sig.subscribe(lambda: None)


async def test_served_on_the_control_socket(tmp_path: Path) -> None:
    sig = ChangeSignal(max_waiters=1)
    path = str(tmp_path / "c.ctl")
    server = ControlServer(seed_snapshot, path, changes=sig)
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as http:
        await server.start()
        async with http.get("http://localhost/changes") as r:
            assert r.status == 200 and (await r.json())["token"] == sig.token
        async with http.get("http://localhost/changes", params={"wait": "soon"}) as r:
            assert r.status == 400
        asyncio.get_running_loop().call_later(0.05, sig.bump)
        async with http.get("http://localhost/changes", params={"since": sig.token, "wait": "5"}) as r:
            assert (await r.json())["token"] == f"{sig.epoch}:1"

        async def long_poll() -> tuple[int, str]:
            async with http.get("http://localhost/changes", params={"since": sig.token, "wait": "30"}) as r:
                return r.status, (await r.json())["token"]

        waiting = asyncio.ensure_future(long_poll())
        while not sig.waiters:
            await asyncio.sleep(0.01)
        async with http.get("http://localhost/changes", params={"since": sig.token}) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "1"  # one waiter at most
        # the server stops without waiting for the long poll's 30 s: the poll is answered, unchanged
        t0 = time.monotonic()
        await server.stop()
        assert time.monotonic() - t0 < 5
        assert await asyncio.wait_for(waiting, 1) == (200, sig.token)


async def test_the_follower_hears_each_change_and_the_restart_of_the_process(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "RETRY_MIN", 0.01)
    monkeypatch.setattr(changes, "RETRY_MAX", 0.05)
    path = str(tmp_path / "child.ctl")
    heard = asyncio.Queue[float]()
    follower = asyncio.ensure_future(follow(path, lambda: heard.put_nowait(time.monotonic()), wait=1.0, gap=0.0))
    try:
        await asyncio.sleep(0.1)  # nobody answers yet: the follower waits and tries again, quietly
        assert heard.empty()
        first = ChangeSignal()
        async with ControlServer(seed_snapshot, path, changes=first):
            await asyncio.wait_for(heard.get(), 2)  # the first answer: nothing was known before it
            await asyncio.sleep(0.05)
            assert heard.empty()  # the follower now waits on the signal
            t0 = time.monotonic()
            first.bump()
            assert await asyncio.wait_for(heard.get(), 2) - t0 < 0.5
        await asyncio.wait_for(heard.get(), 2)  # the process went away: its status with it
        second = ChangeSignal()  # "restarted": another epoch, the generation from 0 again
        async with ControlServer(seed_snapshot, path, changes=second):
            await asyncio.wait_for(heard.get(), 2)
            second.bump()
            await asyncio.wait_for(heard.get(), 2)
    finally:
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower


async def test_a_flood_of_changes_is_folded_by_the_follower(tmp_path: Path) -> None:
    """1000 bumps in a burst reach the follower as a few answers, one per FOLLOW_GAP at most."""
    path = str(tmp_path / "child.ctl")
    sig = ChangeSignal()
    heard: list[float] = []
    async with ControlServer(seed_snapshot, path, changes=sig):
        follower = asyncio.ensure_future(follow(path, lambda: heard.append(time.monotonic()), wait=1.0,
                                                gap=0.05))
        try:
            while not sig.waiters:
                await asyncio.sleep(0.01)
            heard.clear()
            for _ in range(10):
                for _ in range(100):
                    sig.bump()
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
        finally:
            follower.cancel()
            with pytest.raises(asyncio.CancelledError):
                await follower
    assert 1 <= len(heard) <= 4, heard  # ~0.1 s of bumps, answers at most 0.05 s apart
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(heard))
