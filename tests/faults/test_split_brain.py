"""Split brain and heal: VRRP dropped by nft in b's input makes both nodes MASTER; once the rule goes,
exactly one master within one advert interval (plus the lab's SLACK), and the winner re-sends
gratuitous ARPs for the VIP so the LAN forgets the loser's MAC.

``a`` (150) and ``b`` (100) run VRRPv3 with 0.1 s adverts.  The rule (``ip protocol vrrp drop`` in a
table of b's own namespace) cuts only a -> b: b stops hearing a and takes over after
Master_Down_Interval while a keeps hearing b's lower-priority adverts and stays MASTER.  After the heal,
b's next advert reaches a, which answers at once (keepalived: a MASTER receiving a lower priority advert
sends one), and b steps down: its last advert is seen on the wire at most one interval after the heal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.fault_suite import SPLIT_ADVERT, split_brain, split_conf

from pykeepalived.lab.measure import SLACK, Sniffer, down_bound, node
from pykeepalived.lab.topology import Lab

pytestmark = pytest.mark.root


def test_split_brain_heals_to_one_master_within_one_advert_interval_and_winner_resends_garps(
        lan: tuple[Lab, Path]) -> None:
    from tests.conftest import require_binary

    require_binary("nft")
    lab, tmp = lan
    a = node(lab, tmp, "a", "py", split_conf(150)).start()
    b = node(lab, tmp, "b", "py", split_conf(100)).start()
    sn, client_sn = Sniffer(lab, "b"), Sniffer(lab, "client")
    try:
        for _ in range(3):
            r = split_brain(lab, a, b, sn, client_sn)
            print(r)
            # both MASTER: b took over once a's adverts stopped reaching it (bound + polling)
            assert r.both_master_after <= down_bound(3, SPLIT_ADVERT, 100) + 1.0
            assert r.one_master_after <= SPLIT_ADVERT + SLACK, r
            assert r.vip_alone_after <= SPLIT_ADVERT + SLACK + 0.5, r  # `ip addr` polled every 20 ms
            assert r.garps_after_heal >= 1 and r.winner_mac_ok, r
            assert r.garp_first_after is not None and r.garp_first_after <= SPLIT_ADVERT + SLACK, r
        for nd in (a, b):
            assert "Traceback" not in nd.log()
        assert "Received advert from 10.9.0.2 with lower priority 100, ours 150, forcing new election" in a.log()
    finally:
        sn.close()
        client_sn.close()
        a.stop()
        b.stop()
