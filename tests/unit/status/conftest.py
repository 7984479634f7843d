"""Snapshots shared by the status tests: the seed's load balancer, plus odd cases for the renderers."""

from __future__ import annotations

import pytest

from pykeepalived.lvs.model import ConnCounts, Destination, DestKey, Forward, Service, ServiceKey
from pykeepalived.status.snapshot import (
    Counters,
    DaemonInfo,
    DestinationStatus,
    Health,
    QuorumStatus,
    Rates,
    Snapshot,
    VirtualServiceStatus,
    VrrpInstanceStatus,
    VrrpStats,
)

RS1 = DestKey.of("192.168.0.12", 80)
RS2 = DestKey.of("192.168.0.13", 80)
SORRY = DestKey.of("192.168.0.200", 80)


def seed_service(*dests: Destination) -> Service:
    """virtual_server 10.0.0.5 80 { lb_algo wlc  lb_kind NAT  persistence_timeout 50 }"""
    return Service(ServiceKey.inet("tcp", "10.0.0.5", 80), "wlc", frozenset(), 50, None, dests)


def seed_snapshot() -> Snapshot:
    """lb1 of the seed: MASTER of VI_1, both real servers up and carrying traffic."""
    svc = seed_service(Destination(RS1, 20), Destination(RS2, 8))
    vs = VirtualServiceStatus.build(
        svc,
        configured=svc.destinations,
        conn_counts={(svc.key, RS1): ConnCounts(3, 1), (svc.key, RS2): ConnCounts(0, 2)},
        stats={
            RS1: Counters(120, 4500, 4300, 310_000, 5_200_000),
            RS2: Counters(48, 1800, 1750, 124_000, 2_080_000),
        },
        rates={RS1: Rates(2, 40, 38, 2700, 45_000), RS2: Rates(1, 15, 14, 1100, 18_000)},
        quorum=QuorumStatus(quorum=1, hysteresis=0, weight_sum=28, up=True),
        sorry_server=None,
    )
    vrrp = (
        VrrpInstanceStatus(
            name="VI_1", interface="eth0", vrid=51, state="MASTER", base_priority=150,
            effective_priority=150, master_address="10.0.0.3", master_priority=150,
            vips=("10.0.0.5/24",), stats=VrrpStats(advert_rcvd=2, advert_sent=314, become_master=1),
        ),
        VrrpInstanceStatus(
            name="VI_GW", interface="eth1", vrid=52, state="BACKUP", base_priority=100,
            effective_priority=90, master_address="192.168.0.3", master_priority=150,
            vips=("192.168.0.1/24",), sync_group="G1", stats=VrrpStats(advert_rcvd=300),
        ),
    )  # fmt: skip
    daemon = DaemonInfo(pid=4242, config_file="/etc/keepalived/keepalived.conf", dataplane="nftables",
                        started_at=1_700_000_000.0, version="0.1.0", pid_file="/run/pykeepalived.pid")
    return Snapshot(daemon=daemon, taken_at=1_700_003_725.0, vrrp=vrrp, virtual_services=(vs,))


def degraded_snapshot() -> Snapshot:
    """rs1 inhibited (inhibit_on_failure), rs2 down, quorum lost, the sorry server in the table."""
    svc = seed_service(Destination(RS1, 0), Destination(SORRY, 1))
    vs = VirtualServiceStatus(
        service=svc,
        destinations=(
            DestinationStatus(RS1, 20, Health.INHIBITED, 0, 4),
            DestinationStatus(RS2, 8, Health.DOWN),
            DestinationStatus(SORRY, 1, Health.SORRY, 1, 0),
        ),
        quorum=QuorumStatus(quorum=10, hysteresis=2, weight_sum=0, up=False),
        sorry_server=SORRY,
    )
    base = seed_snapshot()
    fault = VrrpInstanceStatus("VI_1", "eth0", 51, "FAULT", 150, 150, faults=("eth0 down",))
    return Snapshot(base.daemon, base.taken_at, (fault,), (vs,))


@pytest.fixture
def seed() -> Snapshot:
    return seed_snapshot()


@pytest.fixture
def degraded() -> Snapshot:
    return degraded_snapshot()


__all__ = ["RS1", "RS2", "SORRY", "Forward", "degraded_snapshot", "seed_service", "seed_snapshot"]
