"""A reload hands the health state to the new runner: dead servers stay out, live ones stay in, no notifies."""

from __future__ import annotations

import asyncio
import socket

from pykeepalived.check.runner import Runner
from pykeepalived.check.state import Event, Log, RealServerChanged
from pykeepalived.config.loader import load_config_text


def conf(live: int, dead: int, delay_loop: float, extra_rs: str = "") -> str:
    rs = "".join(f" real_server 127.0.0.1 {p} {{\n  TCP_CHECK {{\n   connect_timeout 0.5\n   warmup 0\n  }}\n }}\n"
                 for p in (live, dead))
    return (f"virtual_server 10.0.0.5 80 {{\n protocol TCP\n lb_algo rr\n delay_loop {delay_loop}\n"
            f"{rs}{extra_rs}}}\n")


def dests(runner: Runner) -> set[int]:
    return {d.key.port for s in runner.desired_table().services for d in s.destinations}


async def test_reload_hands_health_over_and_removed_servers_go() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    live = listener.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens there: refused
    events: list[Event] = []
    try:
        cfg = load_config_text(conf(live, dead, 0.3)).config
        first = Runner(cfg.lvs.virtual_servers, on_events=events.extend)
        first.start()
        assert dests(first) == {live, dead}  # non-alpha: in before the first check
        await asyncio.sleep(1.6)
        assert dests(first) == {live}
        events.clear()
        # reload: other timing, same checkers
        cfg2 = load_config_text(conf(live, dead, 0.4)).config
        second = Runner(cfg2.lvs.virtual_servers, on_events=events.extend)
        first.abandon()
        second.start(previous=first)
        assert dests(second) == {live}
        await asyncio.sleep(1.8)  # the restarted checks run: still the same verdicts, and nothing said
        assert dests(second) == {live}
        assert not [e for e in events if isinstance(e, RealServerChanged)]
        # reload without the dead server: it is reported gone
        cfg3 = load_config_text(conf(live, dead, 0.4).replace(
            f" real_server 127.0.0.1 {dead} {{\n  TCP_CHECK {{\n   connect_timeout 0.5\n   warmup 0\n  }}\n }}\n",
            "")).config
        third = Runner(cfg3.lvs.virtual_servers, on_events=events.extend)
        second.abandon()
        third.start(previous=second)
        assert f"service [127.0.0.1]:tcp:{dead} no longer exist" in [e.text for e in events if isinstance(e, Log)]
        assert dests(third) == {live}
        await third.stop()
    finally:
        listener.close()
