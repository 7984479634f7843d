"""``use_ipvlan`` in the VMAC code, without a kernel: the netlink requests VmacManager makes for an ipvlan (L2 mode,
the type as IFLA_IPVLAN_FLAGS, its address, no VMAC sysctls), adopting / updating / refusing an existing interface,
and IFLA_IPVLAN_FLAGS encoded by pyroute2 with the data class vmac.py registers (pyroute2 0.9's own lacks it).
The kernel side runs in the VM (tests/vm/vmac_ipvlan_cases.py)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from pykeepalived.vrrp.vmac import IPVLAN_FLAGS, Sysctl, VmacManager


class Attrs(dict[str, Any]):
    def get_attr(self, name: str) -> Any:
        return self.get(name)


def link_msg(index: int, kind: str, base: int, mode: int = 0, flags: int = 0) -> Attrs:
    data = Attrs(IFLA_IPVLAN_MODE=mode, IFLA_IPVLAN_FLAGS=flags) if kind == "ipvlan" else Attrs(IFLA_MACVLAN_MODE=1)
    m = Attrs(IFLA_LINKINFO=Attrs(IFLA_INFO_KIND=kind, IFLA_INFO_DATA=data), IFLA_LINK=base)
    m["index"] = index
    return m


class FakeIPRoute:
    def __init__(self, existing: dict[str, Attrs] | None = None) -> None:
        self.existing = existing or {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def link_lookup(self, ifname: str) -> list[int]:
        return [self.existing[ifname]["index"]] if ifname in self.existing else []

    async def link(self, cmd: str, **kw: Any) -> list[Attrs]:
        self.calls.append(("link", cmd, kw))
        if cmd == "get":
            return [m for m in self.existing.values() if m["index"] == kw["index"]]
        return []

    async def addr(self, cmd: str, **kw: Any) -> None:
        self.calls.append(("addr", cmd, kw))


class FakeNetlink:
    netns = None

    def __init__(self, ipr: FakeIPRoute) -> None:
        self.ipr = ipr

    async def _rt(self) -> FakeIPRoute:
        return self.ipr

    async def ifindex(self, name: str) -> int:
        return {"eth0": 2, "eth1": 3}.get(name, 7)


class RecordingSysctl(Sysctl):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, int]] = []

    def get(self, path: str) -> int | None:
        return 0

    def set(self, path: str, value: int) -> None:
        self.writes.append((path, value))


def manager(existing: dict[str, Attrs] | None = None) -> tuple[VmacManager, FakeIPRoute, RecordingSysctl]:
    ipr = FakeIPRoute(existing)
    sysctl = RecordingSysctl()
    return VmacManager(FakeNetlink(ipr), sysctl), ipr, sysctl  # type: ignore[arg-type]


ADDR = ipaddress.ip_interface("10.9.0.21/24")


def setup(mgr: VmacManager, ipvlan_type: str = "private") -> bool:
    return asyncio.run(mgr.setup("VI_1", "vrrp.51", "eth0", 51, 4, kind="ipvlan", address=ADDR,
                                 ipvlan_type=ipvlan_type))


def test_created_in_l2_mode_with_its_type_and_address_and_no_vmac_sysctls() -> None:
    mgr, ipr, sysctl = manager()
    assert setup(mgr)
    link_calls = [(cmd, kw) for what, cmd, kw in ipr.calls if what == "link"]
    assert link_calls[0] == ("add", {"ifname": "vrrp.51", "kind": "ipvlan", "link": 2, "ipvlan_mode": 0,
                                     "ipvlan_flags": 1})
    assert not any("IFLA_AF_SPEC" in kw for _, kw in link_calls)  # a macvlan's ADDR_GEN_MODE: not keepalived's here
    assert ("addr", "add", {"index": 7, "address": "10.9.0.21", "prefixlen": 24, "family": 2}) in ipr.calls
    assert sysctl.writes == [("net/ipv6/conf/vrrp.51/disable_ipv6", 1)]
    assert mgr.vmacs["VI_1"].kind == "ipvlan"
    asyncio.run(mgr.remove(["VI_1"]))
    assert ipr.calls[-1] == ("link", "del", {"index": 7})
    assert sysctl.writes == [("net/ipv6/conf/vrrp.51/disable_ipv6", 1)]  # no base interface sysctl to restore


def test_an_existing_ipvlan_is_adopted_or_updated_and_another_kind_refused() -> None:
    mgr, ipr, _ = manager({"vrrp.51": link_msg(7, "ipvlan", 2, 0, IPVLAN_FLAGS["vepa"])})
    assert setup(mgr, "vepa")
    assert not [c for c in ipr.calls if c[0] == "link" and c[1] in ("add", "del")]  # adopted (its address re-added)
    mgr, ipr, _ = manager({"vrrp.51": link_msg(7, "ipvlan", 2, 0, 0)})
    assert setup(mgr, "private")
    assert ("link", "set", {"index": 7, "kind": "ipvlan", "ipvlan_mode": 0, "ipvlan_flags": 1}) in ipr.calls
    mgr, ipr, _ = manager({"vrrp.51": link_msg(7, "ipvlan", 3)})  # on another base: re-created
    assert setup(mgr)
    assert [c[1] for c in ipr.calls if c[0] == "link" and c[1] in ("add", "del")] == ["del", "add"]
    mgr, ipr, _ = manager({"vrrp.51": link_msg(7, "macvlan", 2)})
    assert not setup(mgr) and "VI_1" not in mgr.vmacs


def test_ipvlan_flags_encode_through_pyroute2() -> None:
    msg = ifinfmsg()
    msg["attrs"] = [("IFLA_IFNAME", "vrrp.51"), ("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_KIND", "ipvlan"),
        ("IFLA_INFO_DATA", {"attrs": [("IFLA_IPVLAN_MODE", 0), ("IFLA_IPVLAN_FLAGS", 2)]})]})]
    msg.encode()
    back = ifinfmsg(msg.data)
    back.decode()
    data = back.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert (data.get_attr("IFLA_IPVLAN_MODE"), data.get_attr("IFLA_IPVLAN_FLAGS")) == (0, 2)
