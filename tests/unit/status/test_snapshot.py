"""Snapshot: JSON round trip (what crosses the control socket), assembly from the daemon's pieces."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.lvs.conntrack_watch import ConntrackUse
from pykeepalived.lvs.model import ConnCounts, Destination, DestKey, Forward, Service, ServiceKey
from pykeepalived.status.snapshot import (
    SCHEMA_VERSION,
    VRRP_RFC_STAT_NAMES,
    VRRP_STAT_NAMES,
    Counters,
    DaemonInfo,
    DestinationStatus,
    Health,
    QuorumStatus,
    Rates,
    Snapshot,
    SnapshotFormatError,
    VirtualServiceStatus,
    VrrpInstanceStatus,
    VrrpStats,
)
from pykeepalived.vrrp.fsm import Instance, InstanceParams, Start, State

from .conftest import RS1, RS2, SORRY, seed_service

# ------------------------------------------------------------------------------------ strategies

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
v4 = st.builds(ipaddress.IPv4Address, u32)
v6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
port = st.integers(0, 65535)


@st.composite
def service_keys(draw: st.DrawFn) -> ServiceKey:
    kind = draw(st.sampled_from(["tcp", "udp", "sctp", "fwm"]))
    if kind == "fwm":
        return ServiceKey.mark(draw(st.integers(1, 2**32 - 1)), draw(st.sampled_from([4, 6])))
    return ServiceKey.inet(kind, draw(v4 | v6), draw(port))


dest_keys = st.builds(DestKey, v4 | v6, port)
destinations = st.builds(Destination, dest_keys, st.integers(0, 65535), st.sampled_from(list(Forward)),
                         u32, u32)
services = st.builds(
    Service, service_keys(), st.sampled_from(["rr", "wlc", "sh", "mh"]),
    st.frozensets(st.sampled_from(["sh-port", "flag-3", "ops", "hashed"])), st.integers(0, 2**31),
    st.none() | st.integers(0, 128), st.lists(destinations, max_size=4).map(tuple),
)  # fmt: skip
counters = st.builds(Counters, u64, u64, u64, u64, u64)
rates = st.builds(Rates, u32, u32, u32, u64, u64)
dest_status = st.builds(DestinationStatus, dest_keys, st.integers(0, 65535), st.sampled_from(list(Health)),
                        u32, u32, counters, rates)
virtual_services = st.builds(
    VirtualServiceStatus, services, st.lists(dest_status, max_size=4).map(tuple),
    st.builds(QuorumStatus, u32, u32, u64, st.booleans()), st.none() | counters, st.none() | rates,
    st.none() | dest_keys, st.none() | text,
)  # fmt: skip
vrrp_stats = st.builds(VrrpStats, **{n: u64 for n in VRRP_STAT_NAMES})
vrrp = st.builds(
    VrrpInstanceStatus, text, text, st.integers(1, 255),
    st.sampled_from(["INIT", "BACKUP", "MASTER", "FAULT", "STOP"]), st.integers(0, 255), st.integers(0, 255),
    version=st.sampled_from([2, 3]), master_address=st.none() | (v4 | v6).map(str),
    master_priority=st.integers(0, 255), vips=st.lists(text, max_size=3).map(tuple),
    sync_group=st.none() | text, faults=st.lists(text, max_size=2).map(tuple),
    last_transition=st.none() | st.floats(0, 2e9), stats=vrrp_stats,
)  # fmt: skip
finite = st.floats(0, 2e9, allow_nan=False)
snapshots = st.builds(
    Snapshot,
    st.builds(DaemonInfo, st.integers(1, 2**22), text, st.sampled_from(["ipvs", "nftables", "proxy"]), finite,
              text, st.none() | text, st.none() | text),
    finite, st.lists(vrrp, max_size=3).map(tuple), st.lists(virtual_services, max_size=3).map(tuple),
    conntrack=st.none() | st.builds(ConntrackUse, u32, u32),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(snapshots)
def test_json_round_trip(snap: Snapshot) -> None:
    assert Snapshot.from_json(snap.to_json()) == snap


def test_seed_round_trip_and_shape(seed: Snapshot) -> None:
    doc = json.loads(seed.to_json())
    assert doc["schema"] == SCHEMA_VERSION
    assert doc["vrrp"][0]["stats"]["advert_sent"] == 314
    # keepalived's names and order, then its two counters only RFC 2787's global error counters show
    assert list(doc["vrrp"][0]["stats"]) == [*VRRP_STAT_NAMES, *VRRP_RFC_STAT_NAMES]
    dest = doc["virtual_services"][0]["destinations"][0]
    assert dest["key"] == {"addr": "192.168.0.12", "port": 80}
    assert dest["health"] == "alive" and dest["active_conns"] == 3
    assert doc["virtual_services"][0]["service"]["key"] == {
        "protocol": "tcp", "addr": "10.0.0.5", "port": 80, "fwmark": 0, "family": 4,
    }  # fmt: skip
    assert Snapshot.from_json(seed.to_json()) == seed


def test_unknown_fields_are_ignored_and_other_schemas_refused(seed: Snapshot) -> None:
    doc = json.loads(seed.to_json())
    doc["daemon"]["something_new"] = 1
    doc["vrrp"][0]["stats"]["new_counter"] = 5
    assert Snapshot.from_json(json.dumps(doc)) == seed
    doc["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(SnapshotFormatError, match="schema"):
        Snapshot.from_json(json.dumps(doc))
    with pytest.raises(SnapshotFormatError):
        Snapshot.from_json("[]")
    with pytest.raises(SnapshotFormatError):
        Snapshot.from_json("{not json")
    doc["schema"] = SCHEMA_VERSION
    del doc["virtual_services"][0]["service"]["key"]
    with pytest.raises(SnapshotFormatError, match="malformed"):
        Snapshot.from_json(json.dumps(doc))


# ------------------------------------------------------------------------------------ assembly


def test_build_derives_health_from_the_data_plane() -> None:
    # configured: rs1 (20), rs2 (8); in the table: rs1 inhibited to 0, rs2 absent, the sorry server
    table = seed_service(Destination(RS1, 0), Destination(SORRY, 1))
    vs = VirtualServiceStatus.build(
        table,
        configured=[Destination(RS1, 20), Destination(RS2, 8)],
        conn_counts={(table.key, RS1): ConnCounts(0, 4), (table.key, SORRY): ConnCounts(2, 0)},
        sorry_server=SORRY,
    )
    by_key = {d.key: d for d in vs.destinations}
    assert by_key[RS1].health is Health.INHIBITED and by_key[RS1].weight == 20
    assert by_key[RS1].inactive_conns == 4
    assert by_key[RS2].health is Health.DOWN
    assert by_key[SORRY].health is Health.SORRY and by_key[SORRY].active_conns == 2
    assert vs.quorum == QuorumStatus(weight_sum=0, up=False)


def test_build_health_from_checkers_wins() -> None:
    table = seed_service(Destination(RS1, 20), Destination(RS2, 8))
    vs = VirtualServiceStatus.build(table, health={RS2: Health.DOWN})
    assert [d.health for d in vs.destinations] == [Health.ALIVE, Health.DOWN]
    assert vs.quorum.weight_sum == 20


def test_service_totals_default_to_the_sum_of_destinations(seed: Snapshot) -> None:
    vs = seed.virtual_services[0]
    assert vs.total_stats() == Counters(168, 6300, 6050, 434_000, 7_280_000)
    assert vs.total_rates() == Rates(3, 55, 52, 3800, 63_000)
    own = VirtualServiceStatus(vs.service, vs.destinations, stats=Counters(1000))
    assert own.total_stats() == Counters(1000)


def test_vrrp_status_from_the_state_machine() -> None:
    inst = Instance(InstanceParams("VI_1", 51, priority=150, initial_state=State.MASTER,
                                   primary_address=ipaddress.ip_address("10.0.0.3")))
    inst.handle(0.0, Start())
    deadline = inst.next_deadline()
    assert deadline is not None
    from pykeepalived.vrrp.fsm import TimerFired

    inst.handle(deadline, TimerFired())
    assert inst.state is State.MASTER
    v = VrrpInstanceStatus.from_fsm(inst, interface="eth0", vips=["10.0.0.5/24"],
                                    errors={"auth_failure": 2, "not_a_counter": 9})
    assert (v.name, v.interface, v.vrid, v.state) == ("VI_1", "eth0", 51, "MASTER")
    assert (v.base_priority, v.effective_priority, v.master_address) == (150, 150, "10.0.0.3")
    assert v.vips == ("10.0.0.5/24",)
    assert v.stats.become_master == 1 and v.stats.advert_sent >= 1 and v.stats.auth_failure == 2
