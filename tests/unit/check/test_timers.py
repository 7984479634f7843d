"""The checkers' timers: a heap for arbitrary times, FIFO lanes for fixed delays; never early, none lost."""

from __future__ import annotations

import asyncio
import random

from pykeepalived.check.net import Timers


async def test_lanes_and_heap_fire_everything_never_early() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    fired: list[tuple[str, float, float]] = []  # (name, due, fired at)

    def at(entry: tuple[str, float]) -> None:
        fired.append((entry[0], entry[1], loop.time()))

    rng = random.Random(7)
    expected = set()
    for i in range(300):
        now = loop.time()
        if i % 3 == 0:  # arbitrary absolute times: the heap
            when = now + rng.uniform(0, 0.2)
            timers.add(when, at, (f"h{i}", when))
        else:  # two fixed delays: two lanes, appended as time goes on
            delay = 0.05 if i % 3 == 1 else 0.12
            timers.add_after(delay, at, (f"l{i}", now + delay), now=now)
        expected.add(f"h{i}" if i % 3 == 0 else f"l{i}")
        if i % 50 == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.4)
    assert {name for name, _, _ in fired} == expected and len(timers) == 0
    assert all(t >= due for _, due, t in fired), "a timer fired before its time"
    assert max(t - due for _, due, t in fired) < 0.1  # (a loaded CI machine may be slow, never 0.1 s here)
    lane = [due for name, due, _ in fired if name.startswith("l") and int(name[1:]) % 3 == 1]
    assert lane == sorted(lane)  # one delay: in the order added


async def test_more_delays_than_lanes_fall_back_to_the_heap() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    fired: list[float] = []
    n = Timers.MAX_LANES + 20
    for i in range(n):
        timers.add_after(0.001 * (i + 1), lambda d: fired.append(d), 0.001 * (i + 1))
    assert len(timers) == n
    await asyncio.sleep(0.2)
    assert sorted(fired) == [0.001 * (i + 1) for i in range(n)]


async def test_a_callback_may_add_timers_and_a_failing_one_does_not_stop_the_others() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
    seen: list[str] = []

    def boom(_: object) -> None:
        raise RuntimeError("broken owner")

    def chain(n: int) -> None:
        seen.append(f"chain{n}")
        if n < 3:
            timers.add_after(0.0 if n == 1 else 0.01, chain, n + 1)

    timers.add_after(0.01, boom)
    timers.add_after(0.01, chain, 1)
    await asyncio.sleep(0.1)
    assert seen == ["chain1", "chain2", "chain3"]
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
