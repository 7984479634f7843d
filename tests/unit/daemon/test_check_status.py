"""The checkers' timing in the status snapshot (issue 15): each configured checker of a real server shows its
verdict, attempts, failures, the last attempt's end (unix time) and duration, and the duration histogram."""

from __future__ import annotations

import asyncio
import socket
import time

from pykeepalived.config import load_config_text
from pykeepalived.daemon.checker import CheckerOptions, CheckerProcess

from .test_counters_on_demand import CountingDataPlane


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_runners_checks_show_in_the_snapshot_with_durations() -> None:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    up_port, down_port = ls.getsockname()[1], free_port()
    text = (
        "bfd_instance b1 {\n neighbor_ip 127.0.0.9\n}\n"
        "virtual_server 10.0.0.5 80 {\n protocol TCP\n delay_loop 0.1\n"
        f" real_server 127.0.0.1 {up_port} {{\n  TCP_CHECK {{\n   connect_timeout 0.5\n   warmup 0\n  }}\n"
        "  BFD_CHECK {\n   name b1\n  }\n }\n"
        f" real_server 127.0.0.2 {down_port} {{\n  TCP_CHECK {{\n   connect_port {down_port}\n"
        "   connect_timeout 0.5\n   retry 0\n   warmup 0\n  }\n }\n}\n"
    )
    cfg = load_config_text(text).config
    assert cfg is not None
    proc = CheckerProcess(cfg, CheckerOptions(), dataplane=CountingDataPlane(None))  # type: ignore[arg-type]
    before = time.time()
    proc._start_runner(cfg)
    try:
        await asyncio.sleep(1.6)  # the bootstrap delay (1 s), then a check every 0.1 s
        await proc.reconcile()
        snap = proc.snapshot()
    finally:
        assert proc.runner is not None
        await proc.runner.stop()
        ls.close()
    (vss,) = snap.virtual_services
    dests = {d.key.port: d for d in vss.destinations}
    tcp_up, bfd = dests[up_port].checks
    assert (tcp_up.kind, tcp_up.target, tcp_up.up) == ("TCP_CHECK", f"127.0.0.1:{up_port}", True)
    assert tcp_up.attempts >= 3 and tcp_up.failures == 0
    assert tcp_up.last_run is not None and before < tcp_up.last_run <= time.time()
    assert tcp_up.last_duration is not None and 0 <= tcp_up.last_duration < 0.5
    assert tcp_up.durations.count == tcp_up.attempts and 0 < tcp_up.durations.sum < 0.5 * tcp_up.attempts
    assert (bfd.kind, bfd.target, bfd.up, bfd.attempts) == ("BFD_CHECK", "b1", None, 0)  # fed by events only
    (tcp_down,) = dests[down_port].checks
    assert tcp_down.up is False and tcp_down.attempts >= 1 and tcp_down.failures == tcp_down.attempts
    assert tcp_down.target == f"127.0.0.2:{down_port}"
