"""Overload is lateness, never a false failure.

2,000 TCP checks with delay_loop 0.05 s ask for 40,000 checks/s — far more than one Python loop
on a shared core can run — with at most 8 attempts in flight.  Checks must run late (queued) but
every attempt against the healthy listeners must pass, so no real server is ever reported down.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator

from pykeepalived.check.runner import Runner
from pykeepalived.check.state import Event, RealServerChanged
from pykeepalived.config.loader import load_config_text

N_CHECKS = 2000
N_LISTENERS = 20
DELAY_LOOP = 0.05


@contextlib.contextmanager
def listeners(n: int) -> Iterator[list[int]]:
    """Listening sockets drained by one acceptor thread (accept + close), so no backlog ever fills."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        s.setblocking(False)
        socks.append(s)
    stop = threading.Event()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)

    def acceptor() -> None:
        while not stop.is_set():
            for key, _ in sel.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                while True:
                    try:
                        c, _ = sock.accept()
                    except (BlockingIOError, ConnectionAbortedError):
                        break
                    c.close()

    t = threading.Thread(target=acceptor, daemon=True)
    t.start()
    try:
        yield [s.getsockname()[1] for s in socks]
    finally:
        stop.set()
        t.join()
        for s in socks:
            s.close()


def big_config(ports: list[int]) -> str:
    parts = []
    per_vs = N_CHECKS // 10
    for v in range(10):
        parts.append(f"virtual_server 10.1.0.{v + 1} 80 {{\n protocol TCP\n lb_algo rr\n delay_loop {DELAY_LOOP}\n")
        for i in range(per_vs):
            n = v * per_vs + i
            ip = f"127.0.{1 + n // 250}.{1 + n % 250}"  # distinct real servers, all answered by 127/8
            port = ports[n % len(ports)]
            parts.append(f" real_server {ip} {port} {{\n  TCP_CHECK {{\n   connect_ip 127.0.0.1\n"
                         f"   connect_timeout 1\n   warmup {DELAY_LOOP}\n  }}\n }}\n")
        parts.append("}\n")
    return "".join(parts)


async def test_overload_runs_late_but_never_fails() -> None:
    with listeners(N_LISTENERS) as ports:
        cfg = load_config_text(big_config(ports)).config
        downs: list[Event] = []

        def sink(events: list[Event]) -> None:
            downs.extend(e for e in events if isinstance(e, RealServerChanged) and not e.alive)

        runner = Runner(cfg.lvs.virtual_servers, on_events=sink, max_in_flight=8)
        assert len(cfg.lvs.virtual_servers) == 10
        runner.start()
        try:
            await asyncio.sleep(3.0)
            running_downs = list(downs)  # stop() reports every server down: not a check result
            table = runner.desired_table()
        finally:
            await runner.stop()
    st = runner.stats
    wanted = N_CHECKS * (3.0 - 1.0) / DELAY_LOOP  # what an infinitely fast loop would have done after bootstrap
    assert st.attempts > 1000
    assert st.failures == 0, f"{st.failures} false failures in {st.attempts} attempts"
    assert running_downs == []
    assert st.attempts < wanted  # it could not keep up ...
    # ... and that showed as a queue and lateness (how late depends on the machine's speed)
    assert st.max_queue > 100 and st.max_lateness > 0.02
    print(f"attempts {st.attempts} of {wanted:.0f} wanted, max lateness {st.max_lateness:.3f} s, "
          f"max queue {st.max_queue}")
    assert all(s.destinations and len(s.destinations) == N_CHECKS // 10 for s in table.services)
