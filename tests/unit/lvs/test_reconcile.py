"""The reconciler: random desired/observed pairs converge in one apply; applying twice is a no-op."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import AddDest, AddService, DelDest, DelService, EditDest, apply_ops, diff

SCHEDS = ["rr", "wrr", "lc", "wlc", "sh", "mh"]

service_keys = st.one_of(
    st.builds(lambda p, a, port: ServiceKey.inet(p, ipaddress.IPv4Address(a), port),
              st.sampled_from(["tcp", "udp"]), st.integers(0x0A000001, 0x0A000008),
              st.sampled_from([80, 443])),
    st.builds(ServiceKey.mark, st.integers(1, 4)),
)
dest_keys = st.builds(lambda a, p: DestKey(ipaddress.IPv4Address(a), p),
                      st.integers(0xC0A8000A, 0xC0A80014), st.sampled_from([80, 8080]))
destinations = st.builds(Destination, dest_keys, st.integers(0, 100), st.sampled_from(list(Forward)),
                         st.integers(0, 3), st.integers(0, 3))


@st.composite
def services(draw: st.DrawFn) -> Service:
    dests = draw(st.lists(destinations, max_size=6, unique_by=lambda d: d.key))
    return Service(draw(service_keys), draw(st.sampled_from(SCHEDS)),
                   draw(st.frozensets(st.sampled_from(["sh-port", "sh-fallback"]), max_size=2)),
                   draw(st.sampled_from([0, 50, 360])), draw(st.sampled_from([None, 24])),
                   tuple(sorted(dests, key=lambda d: d.key)))


tables = st.lists(services(), max_size=5, unique_by=lambda s: s.key).map(
    lambda ss: Table(tuple(sorted(ss, key=lambda s: s.key))))


@settings(max_examples=300, deadline=None)
@given(tables, tables)
def test_one_apply_converges_and_second_is_noop(desired: Table, observed: Table) -> None:
    ops = diff(desired, observed)
    after = apply_ops(observed, ops)
    assert after == apply_ops(desired, [])  # normalised form of desired
    assert diff(desired, after) == []


@settings(max_examples=200, deadline=None)
@given(tables)
def test_identical_tables_need_nothing(table: Table) -> None:
    assert diff(table, table) == []


def test_order_adds_before_removals() -> None:
    svc_key = ServiceKey.inet("tcp", "10.0.0.5", 80)
    rs1, rs2 = DestKey.of("192.168.0.12", 80), DestKey.of("192.168.0.13", 80)
    observed = Table((Service(svc_key, "wlc", destinations=(Destination(rs1, 20),)),
                      Service(ServiceKey.mark(1), "rr")))
    desired = Table((Service(svc_key, "wlc", destinations=(Destination(rs1, 0), Destination(rs2, 8))),
                     Service(ServiceKey.inet("udp", "10.0.0.6", 53), "rr")))
    ops = diff(desired, observed)
    kinds = [type(op) for op in ops]
    assert kinds == [AddService, AddDest, EditDest, DelService]
    assert str(ops[0]) == "add service UDP 10.0.0.6:53 rr"
    assert str(ops[2]) == "edit dest 192.168.0.12:80 of TCP 10.0.0.5:80 NAT weight 0"
    assert str(ops[3]) == "delete service FWM 1"


def test_weight_change_is_one_op() -> None:
    key = ServiceKey.inet("tcp", "10.0.0.5", 80)
    dests = tuple(Destination(DestKey.of(f"192.168.0.{i}", 80), 1) for i in range(10, 20))
    observed = Table((Service(key, "wrr", destinations=dests),))
    changed = (Destination(dests[3].key, 5), *dests[:3], *dests[4:])
    ops = diff(Table((Service(key, "wrr", destinations=changed),)), observed)
    assert ops == [EditDest(key, Destination(dests[3].key, 5))]
    assert not any(isinstance(op, DelDest | DelService) for op in ops)
