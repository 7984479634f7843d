"""Fuzzed VRRP packets at two running VRRP processes: no crash, no state change, every drop counted.

``a`` (priority 150, MASTER) and ``b`` (100, BACKUP) run VRRPv2 with PASS auth; the client sends
20,000 mutated adverts to 224.0.0.18 through a raw IP_HDRINCL socket (random bytes, truncations,
bad checksums, wrong versions, types, TTLs, VRIDs, auth types and passwords, address lists, lengths,
intervals, bit flips; ``bench/fault_suite.py`` has the generator and sends a million).  Each packet's
fate is known beforehand from :func:`pykeepalived.vrrp.packet.validate` (routed by VRID first, as the
runner does), so the SIGUSR2 counters of both nodes must equal the sums over keepalived's counters
exactly, with no packet lost in the kernel (the sender paces itself; /proc/net/raw says so).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from bench.fault_suite import fuzz_conf, run_fuzz

from pykeepalived.lab.measure import elect, node, vip_holders
from pykeepalived.lab.topology import Lab
from pykeepalived.vrrp import packet as pkt

pytestmark = pytest.mark.root

PACKETS = 20_000
RATE = 3_000.0


def test_fuzzed_adverts_leave_both_nodes_up_in_their_state_with_every_drop_counted(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    a = node(lab, tmp, "a", "py", fuzz_conf(150)).start()
    b = node(lab, tmp, "b", "py", fuzz_conf(100)).start()
    try:
        elect(lab, "a", "b", 15)
        time.sleep(1.5)  # past b's start-up: its state is settled
        seed = random.randrange(1 << 30)
        report = run_fuzz(lab, {"a": a, "b": b}, PACKETS, random.Random(seed), RATE)
        print(f"seed {seed}\n{report.summary()}")
        assert report.sent == PACKETS and not report.send_errors
        assert report.alive == {"a": True, "b": True}
        assert report.state_changes == {"a": 0, "b": 0}
        assert vip_holders(lab) == ["a"]
        assert report.kernel_drops == {"a": 0, "b": 0}, "the kernel dropped packets: pace the sender"
        # every kind of drop keepalived counts was exercised, and each was counted exactly
        assert set(report.expected_counted) == set(pkt.STAT_NAMES) - {"advert_interval_err"}
        assert report.counted == {"a": report.expected_counted, "b": report.expected_counted}
        for nd in (a, b):
            text = nd.log()
            assert "Traceback" not in text
            # the sender controls what is rejected, not how much is logged: a few lines per (instance,
            # reason) every 10 s (ratelimit.LogLimiter), then one line with the count suppressed
            assert len(text.splitlines()) < 400, f"{len(text.splitlines())} log lines for {PACKETS} rejects"
    finally:
        a.stop()
        b.stop()
