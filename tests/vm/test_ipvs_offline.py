"""The IPVS data plane's netlink messages and data-plane choice, checked without a kernel (fast, host-side).

These pin the pyroute2 traps we work around: a weight change must be SET_DEST (pyroute2's "update" is a
delete), NAT must be forwarding method 0 (pyroute2 defaults to DR), and an IPv6 persistence netmask is a
prefix length (pyroute2 types it as an IPv4 address).
"""

from __future__ import annotations

import ipaddress

import pytest

from pykeepalived.lvs.dataplane import ipvs
from pykeepalived.lvs.dataplane.ipvs import IpvsMsg, decode_dest, decode_service, op_message
from pykeepalived.lvs.dataplane.select import DataPlaneUnavailable, choose_dataplane
from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey
from pykeepalived.lvs.reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService

VIP = ServiceKey.inet("tcp", "10.0.0.5", 80)
RS1 = Destination(DestKey.of("192.168.0.12", 80), 20)


def roundtrip(msg: IpvsMsg) -> IpvsMsg:
    msg.encode()
    back = IpvsMsg(msg.data)
    back.decode()
    return back


def attrs(msg: IpvsMsg, name: str) -> dict[str, object]:
    return dict(msg.get_attr(name)["attrs"])


@pytest.mark.parametrize(("op", "cmd"), [
    (AddService(Service(VIP)), ipvs.CMD_NEW_SERVICE),
    (EditService(Service(VIP, "rr")), ipvs.CMD_SET_SERVICE),
    (DelService(VIP), ipvs.CMD_DEL_SERVICE),
    (AddDest(VIP, RS1), ipvs.CMD_NEW_DEST),
    (EditDest(VIP, RS1), ipvs.CMD_SET_DEST),
    (DelDest(VIP, RS1.key), ipvs.CMD_DEL_DEST),
])
def test_each_operation_is_one_command(op: object, cmd: int) -> None:
    assert roundtrip(op_message(op))["cmd"] == cmd  # type: ignore[arg-type]


@pytest.mark.parametrize(("forward", "method"), [(Forward.NAT, 0), (Forward.DR, 3), (Forward.TUN, 2)])
def test_forwarding_method_is_explicit_and_reads_back(forward: Forward, method: int) -> None:
    d = Destination(RS1.key, 5, forward, 100, 10)
    got = attrs(roundtrip(op_message(AddDest(VIP, d))), "IPVS_CMD_ATTR_DEST")
    assert got["IPVS_DEST_ATTR_FWD_METHOD"] == method
    assert decode_dest(got, 4) == d


def test_persistent_service_sets_the_persistent_flag_and_mask() -> None:
    svc = Service(VIP, "sh", frozenset({"sh-port", "sh-fallback", "ops"}), 50, 24)
    got = attrs(roundtrip(op_message(AddService(svc))), "IPVS_CMD_ATTR_SERVICE")
    assert got["IPVS_SVC_ATTR_FLAGS"]["flags"] == 0x1 | 0x4 | 0x8 | 0x10  # type: ignore[index]
    assert got["IPVS_SVC_ATTR_NETMASK"] == bytes([255, 255, 255, 0])
    assert decode_service(got) == svc


def test_ipv6_netmask_is_a_prefix_length() -> None:
    svc = Service(ServiceKey.inet("udp", "fd00::1", 53), "mh", frozenset({"mh-port"}), 300, 64)
    got = attrs(roundtrip(op_message(AddService(svc))), "IPVS_CMD_ATTR_SERVICE")
    assert int.from_bytes(got["IPVS_SVC_ATTR_NETMASK"], "little") == 64  # type: ignore[arg-type]
    assert decode_service(got) == svc


def test_fwmark_service_identity() -> None:
    key = ServiceKey.mark(7, 6)
    got = attrs(roundtrip(op_message(DelService(key))), "IPVS_CMD_ATTR_SERVICE")
    assert got == {"IPVS_SVC_ATTR_AF": 10, "IPVS_SVC_ATTR_FWMARK": 7}


def test_flags_are_named_as_the_kernel_reads_them_back() -> None:
    assert ipvs.canonical_flags("sh", {"flag-1", "hashed"}) == {"sh-fallback"}
    assert ipvs.canonical_flags("rr", {"sh-port"}) == {"flag-2"}
    assert ipvs.canonical_flags("mh", {"mh-port", "ops"}) == {"mh-port", "ops"}


def test_sync_daemon_attributes() -> None:
    cfg = ipvs.SyncDaemonConfig("eth0", 7, 1400, 8849, 2, "224.0.0.82")
    got = attrs(roundtrip(ipvs.make_msg(ipvs.CMD_NEW_DAEMON, daemon=cfg.attrs(ipvs.SYNC_MASTER))),
                "IPVS_CMD_ATTR_DAEMON")
    assert got == {"IPVS_DAEMON_ATTR_STATE": 1, "IPVS_DAEMON_ATTR_MCAST_IFN": "eth0",
                   "IPVS_DAEMON_ATTR_SYNC_ID": 7, "IPVS_DAEMON_ATTR_SYNC_MAXLEN": 1400,
                   "IPVS_DAEMON_ATTR_MCAST_GROUP": ipaddress.IPv4Address("224.0.0.82").packed,
                   "IPVS_DAEMON_ATTR_MCAST_PORT": 8849, "IPVS_DAEMON_ATTR_MCAST_TTL": 2}


def test_unknown_dataplane_names_are_refused_with_a_reason() -> None:
    """Only data planes that exist are offered."""
    with pytest.raises(ValueError,
                       match=r"unknown data plane 'userspace' \(expected one of: auto, ipvs, nftables, proxy\)"):
        choose_dataplane("userspace")


def test_auto_says_what_it_picked_and_why() -> None:
    try:
        dp, reason = choose_dataplane("auto")
    except DataPlaneUnavailable as e:
        assert "ipvs unavailable" in str(e)
        return
    assert reason.startswith(f"data plane {dp.name} (auto: ")
    assert dp.name != "proxy"  # only an explicit --dataplane proxy runs the userspace proxy
    if dp.name == "nftables":
        assert "ipvs unavailable: " in reason
