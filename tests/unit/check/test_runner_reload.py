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


def three_services(weight_of_8002: int = 1, delay_loop_of_second: int = 6, third: bool = True) -> str:
    def vs(addr: str, delay: int, servers: list[tuple[int, int]]) -> str:
        rs = "".join(f" real_server 127.0.0.1 {p} {{\n  weight {w}\n  TCP_CHECK {{\n   connect_timeout 1\n  }}\n }}\n"
                     for p, w in servers)
        return f"virtual_server {addr} 80 {{\n protocol TCP\n lb_algo wrr\n delay_loop {delay}\n{rs}}}\n"

    return (vs("10.0.0.1", 6, [(8001, 1), (8002, weight_of_8002), (8003, 1)])
            + vs("10.0.0.2", delay_loop_of_second, [(8004, 1)])
            + (vs("10.0.0.3", 6, [(8005, 1)]) if third else ""))


def jobs_by_port(runner: Runner) -> dict[int, object]:
    return {job.rs.port: job for job in runner.jobs}


async def test_a_reload_in_place_keeps_the_checkers_of_unchanged_real_servers_as_they_are() -> None:
    events: list[Event] = []
    runner = Runner(load_config_text(three_services()).config.lvs.virtual_servers, on_events=events.extend)
    runner.start()
    try:
        before = jobs_by_port(runner)
        probes = {p: j.probe for p, j in before.items()}  # type: ignore[attr-defined]
        states = {p: j.state for p, j in before.items()}  # type: ignore[attr-defined]
        dues = {p: j.due for p, j in before.items()}  # type: ignore[attr-defined]
        servers_8001 = before[8001].server  # type: ignore[attr-defined]
        # one weight changed in the first service, the second one's own settings changed, the third removed
        new = load_config_text(three_services(weight_of_8002=5, delay_loop_of_second=9, third=False)).config
        kept, built, dropped = runner.reconfigure(new.lvs.virtual_servers)
        after = jobs_by_port(runner)
        assert (kept, built, dropped) == (2, 2, 3)
        for port in (8001, 8003):  # untouched servers: the same job, probe, state and due time
            assert after[port] is before[port]
            assert after[port].probe is probes[port] and after[port].state is states[port]  # type: ignore[attr-defined]
            assert after[port].due == dues[port]  # type: ignore[attr-defined]
        assert after[8001].server is servers_8001  # type: ignore[attr-defined]
        vs1 = runner.health[("[10.0.0.1]:tcp:80", "TCP")]
        assert after[8001].vs is vs1 and vs1.servers[after[8001].rs] is servers_8001  # type: ignore[attr-defined]
        for port in (8002, 8004):  # changed: built anew
            assert after[port] is not before[port]
        assert before[8002].dropped and before[8005].dropped  # type: ignore[attr-defined]
        assert 8005 not in after
        weights = {d.key.port: d.weight for s in runner.desired_table().services for d in s.destinations}
        assert weights == {8001: 1, 8002: 5, 8003: 1, 8004: 1}
        # the same configuration again: nothing rebuilt
        assert runner.reconfigure(new.lvs.virtual_servers) == (4, 0, 0)
        assert jobs_by_port(runner) == after
    finally:
        await runner.stop()
