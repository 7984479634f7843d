"""VMAC interfaces (``use_vmac``) as keepalived 2.2.7 makes them (``vrrp_vmac.c``, ``vrrp_if_config.c``).

An instance with ``use_vmac [NAME]`` gets a macvlan interface (mode private) named NAME, default
``vrrp.VRID`` (``vmac_prefix``), on its ``interface``, with the VRRP virtual MAC 00:00:5e:00:01:VRID
(00:00:5e:00:02:VRID for IPv6; keepalived's ``use_vmac NAME MAC`` takes another).  Its VIPs go on the
VMAC, so ARP/ND answers and gratuitous ARPs carry the virtual MAC and a client's neighbour entry stays
right across a failover.  Adverts are sent from the VMAC too, unless ``vmac_xmit_base`` (then from the
base interface, as before).

Set up at start (an interface of that name that already is a macvlan on the same base is adopted;
one with the wrong MAC or mode is updated; a macvlan on another base is removed and re-created; any
other interface is left alone and the instance gets no VMAC), removed at stop (adopted ones too, as
keepalived does).  Sysctls, as keepalived sets them:

* on the VMAC (IPv4 instances): arp_ignore=1, accept_local=1, rp_filter=0, promote_secondaries=1; IPv6
  off unless the instance is IPv6 (address generation "none" in any case: no EUI-64 link-local);
* on the base interface (IPv4): arp_ignore=1 and arp_filter=1, the old values restored when its last
  VMAC goes;
* if ``net.ipv4.conf.all.rp_filter`` is not 0 (rp_filter=0 on the VMAC would not count), keepalived's
  ``clear_rp_filter``: default and every interface raised to the ``all`` value, then ``all`` set to 0;
  restored at stop.

An IPv6 VMAC without ``vmac_xmit_base`` gets the base's link-local address (the advert source), as
keepalived's ``set_link_local_address`` does.

``use_ipvlan [IFNAME] [IP[/PREFIX]] [bridge|private|vepa]`` is the same mechanism with an ipvlan (L2 mode,
the type as IFLA_IPVLAN_FLAGS) instead of the macvlan, as keepalived's ``netlink_link_add_ipvlan``: it
shares the base's MAC (no virtual MAC), gets the configured address (the adverts' source) and IPv6 off for
an IPv4 instance, and no other sysctl.  The adverts go out of it; the VIPs stay on the base interface
(keepalived 2.2.7 moves VIPs to a VMAC only).  An interface of that name
that is an ipvlan on the same base is adopted (its mode/type set right), an ipvlan on another base
re-created.  Where the kernel has no ipvlan (or an IPv4 ipvlan has no address) the instance stays in
FAULT with keepalived's messages.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink import nla
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from .addresses import IPInterface, Netlink

log = logging.getLogger("pykeepalived.vrrp")

MACVLAN_MODE_PRIVATE = 1
IN6_ADDR_GEN_MODE_NONE = 1
IPVLAN_MODE_L2 = 0
#: use_ipvlan's type -> IFLA_IPVLAN_FLAGS (linux/if_link.h: IPVLAN_F_PRIVATE, IPVLAN_F_VEPA)
IPVLAN_FLAGS = {"bridge": 0, "private": 0x01, "vepa": 0x02}


class _IpvlanData(nla):  # type: ignore[misc]
    """IFLA_INFO_DATA of an ipvlan with IFLA_IPVLAN_FLAGS (Linux 4.15), which pyroute2 0.9's own ipvlan
    data lacks; registered through pyroute2's ``register_link_kind`` (same attribute numbers, a superset)."""

    prefix = "IFLA_"
    nla_map = (("IFLA_IPVLAN_UNSPEC", "none"), ("IFLA_IPVLAN_MODE", "uint16"), ("IFLA_IPVLAN_FLAGS", "uint16"))


ifinfmsg.ifinfo.register_link_kind(module={"ipvlan": _IpvlanData})


def vmac_mac(vrid: int, family: int, configured: str | None = None) -> str:
    """The VMAC's MAC: the configured one, else 00:00:5e:00:01:VRID (IPv4) / 00:00:5e:00:02:VRID (IPv6)."""
    if configured:
        return configured.lower()
    return f"00:00:5e:00:{1 if family == 4 else 2:02x}:{vrid:02x}"


class Sysctl:
    """``/proc/sys/net`` of the process's namespace, or of ``netns`` (through ``ip netns exec``)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def get(self, path: str) -> int | None:
        try:
            if self.netns is None:
                with open(f"/proc/sys/{path}") as f:
                    return int(f.read().split()[0])
            out = subprocess.run(["ip", "netns", "exec", self.netns, "cat", f"/proc/sys/{path}"],
                                 capture_output=True, text=True, check=True).stdout
            return int(out.split()[0])
        except (OSError, ValueError, IndexError, subprocess.CalledProcessError):
            return None

    def set(self, path: str, value: int) -> None:
        try:
            if self.netns is None:
                with open(f"/proc/sys/{path}", "w") as f:
                    f.write(f"{value}\n")
            else:
                subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c", f"echo {value} > /proc/sys/{path}"],
                               capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            log.info("cannot set %s to %d: %s", path.replace("/", "."), value, e)


@dataclass
class VmacIf:
    """One VMAC interface this process set up."""

    instance: str
    ifname: str
    base: str
    family: int
    mac: str
    kind: str = "macvlan"


@dataclass
class VmacManager:
    """The VMACs of one VRRP process and the sysctls changed for them."""

    nl: Netlink
    sysctl: Sysctl
    vmacs: dict[str, VmacIf] = field(default_factory=dict)
    #: base interface -> (arp_ignore, arp_filter) before we changed them, and how many VMACs use it
    _base_saved: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    _base_users: dict[str, int] = field(default_factory=dict)
    #: sysctl path -> old value, for clear_rp_filter
    _rp_saved: dict[str, int] = field(default_factory=dict)

    async def _link(self, ifname: str) -> Any | None:
        ipr = await self.nl._rt()
        try:
            found = await ipr.link_lookup(ifname=ifname)
        except Exception:
            return None
        if not found:
            return None
        for msg in await ipr.link("get", index=found[0]):
            return msg
        return None

    @staticmethod
    def _kind(msg: Any) -> tuple[str | None, Any]:
        """The link's kind and its mode: a macvlan's mode, an ipvlan's (mode, flags)."""
        info = msg.get_attr("IFLA_LINKINFO")
        if info is None:
            return None, None
        kind = info.get_attr("IFLA_INFO_KIND")
        data = info.get_attr("IFLA_INFO_DATA")
        if data is None or not hasattr(data, "get_attr"):
            return kind, None
        if kind == "macvlan":
            return kind, data.get_attr("IFLA_MACVLAN_MODE")
        if kind == "ipvlan":
            return kind, (data.get_attr("IFLA_IPVLAN_MODE"), data.get_attr("IFLA_IPVLAN_FLAGS") or 0)
        return kind, None

    async def setup(self, instance: str, vmac: str, base: str, vrid: int, family: int,
                    mac: str | None = None, xmit_base: bool = False, *, kind: str = "macvlan",
                    address: IPInterface | None = None, ipvlan_type: str = "bridge") -> bool:
        """Create (or adopt) the VMAC (``kind`` macvlan) or ipvlan of ``instance``; False (logged) when
        it cannot be had."""
        ipr = await self.nl._rt()
        ipvlan = kind == "ipvlan"
        what = "ipvlan" if ipvlan else "VMAC"
        want = vmac_mac(vrid, family, mac)
        if ipvlan:
            attrs: dict[str, Any] = {"ipvlan_mode": IPVLAN_MODE_L2, "ipvlan_flags": IPVLAN_FLAGS[ipvlan_type]}
            right_mode: Any = (IPVLAN_MODE_L2, IPVLAN_FLAGS[ipvlan_type])
        else:
            attrs = {"macvlan_mode": "private", "address": want}
            right_mode = ("private", MACVLAN_MODE_PRIVATE)
        try:
            base_idx = await self.nl.ifindex(base)
        except LookupError:
            log.error("(%s): Unable to create %s interface %s", instance, what, vmac)
            return False
        existing = await self._link(vmac)
        create, update = True, False
        if existing is not None:
            found, mode = self._kind(existing)
            if found != kind:
                log.info("VMAC %s conflicts with existing interface", vmac)
                return False
            if existing.get_attr("IFLA_LINK") != base_idx:
                log.info("(%s) Removing old VMAC interface %s due to conflicting interface", instance, vmac)
                await ipr.link("del", index=existing["index"])
            elif (mode != right_mode if ipvlan else
                  (existing.get_attr("IFLA_ADDRESS") or "").lower() != want or mode not in right_mode):
                log.info("(%s) Update old VMAC interface %s due to wrong MAC/mode ", instance, vmac)
                update = True
            else:
                create = False
        try:
            if update and existing is not None:
                await ipr.link("set", index=existing["index"], kind=kind, **attrs)
            elif create:
                await ipr.link("add", ifname=vmac, kind=kind, link=base_idx, **attrs)
        except Exception as e:
            log.error("(%s): Unable to create %s interface %s (%s)", instance, what, vmac, e)
            return False
        idx = await self.nl.ifindex(vmac)
        if ipvlan:
            pass  # keepalived sets no IPv4 sysctl on an ipvlan, nor on its base
        elif family == 4 and create:
            self._set_interface_parameters(vmac, base)
        elif family == 4:
            self._base_users[base] = self._base_users.get(base, 0) + 1
            self._base_saved.setdefault(base, (None, None))
        # no IPv6 on an IPv4 VMAC/ipvlan; no auto-generated (EUI-64 of the virtual MAC) link-local on a VMAC
        self.sysctl.set(f"net/ipv6/conf/{vmac}/disable_ipv6", 1 if family == 4 else 0)
        if not ipvlan:
            try:
                await ipr.link("set", index=idx, IFLA_AF_SPEC={"attrs": [
                    ("AF_INET6", {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_NONE)]})]})
            except Exception as e:
                log.info("(%s) Error setting ADDR_GEN_MODE to NONE on %s (%s)", instance, vmac, e)
        await ipr.link("set", index=idx, state="up")
        if ipvlan and address is not None:
            try:
                await ipr.addr("add", index=idx, address=str(address.ip), prefixlen=address.network.prefixlen,
                               family=10 if address.version == 6 else 2)
            except Exception as e:
                if getattr(e, "code", None) != errno.EEXIST:
                    log.info("%s: Failed to add interface address to %s", instance, vmac)
        if family == 6 and not xmit_base and not ipvlan:
            ll = await self.nl.link_local_ipv6(base)
            if ll is not None:
                try:
                    # as keepalived's add_link_local_address: no DAD, deprecated (never another source)
                    await ipr.addr("add", index=idx, address=ll, prefixlen=64, family=10, flags=0x02,
                                   preferred_lft=0, valid_lft=0xFFFFFFFF)
                except Exception as e:
                    if getattr(e, "code", None) != errno.EEXIST:
                        log.info("(%s) adding link-local address to %s failed", instance, vmac)
        self.vmacs[instance] = VmacIf(instance, vmac, base, family, want, kind)
        log.info("(%s): Success %s %s interface %s", instance,
                 "updating" if update else "creating" if create else "adopting", what, vmac)
        return True

    def _set_interface_parameters(self, vmac: str, base: str) -> None:
        """``set_interface_parameters_sysctl`` (and ``clear_rp_filter`` once)."""
        if not self._rp_saved:
            self._clear_rp_filter()
        for name, value in (("arp_ignore", 1), ("accept_local", 1), ("rp_filter", 0),
                            ("promote_secondaries", 1)):
            self.sysctl.set(f"net/ipv4/conf/{vmac}/{name}", value)
        if self._base_users.get(base):
            self._base_users[base] += 1
            return
        self._base_users[base] = 1
        ign = self.sysctl.get(f"net/ipv4/conf/{base}/arp_ignore")
        flt = self.sysctl.get(f"net/ipv4/conf/{base}/arp_filter")
        self._base_saved[base] = (ign, flt)
        if ign is not None and ign != 1:
            self.sysctl.set(f"net/ipv4/conf/{base}/arp_ignore", 1)
        if flt is not None and flt != 1:
            self.sysctl.set(f"net/ipv4/conf/{base}/arp_filter", 1)

    def _clear_rp_filter(self) -> None:
        all_rp = self.sysctl.get("net/ipv4/conf/all/rp_filter")
        self._rp_saved["done"] = 1
        if not all_rp:
            return
        default = self.sysctl.get("net/ipv4/conf/default/rp_filter")
        if default is not None and default < all_rp:
            log.info("NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from %d to %d", default, all_rp)
            self._rp_saved["net/ipv4/conf/default/rp_filter"] = default
            self.sysctl.set("net/ipv4/conf/default/rp_filter", all_rp)
        base = "/proc/sys/net/ipv4/conf"
        names = os.listdir(base) if self.sysctl.netns is None else []
        for name in names:
            if name in ("all", "default"):
                continue
            path = f"net/ipv4/conf/{name}/rp_filter"
            value = self.sysctl.get(path)
            if value is not None and value < all_rp:
                self._rp_saved[path] = value
                self.sysctl.set(path, all_rp)
        self._rp_saved["net/ipv4/conf/all/rp_filter"] = all_rp
        self.sysctl.set("net/ipv4/conf/all/rp_filter", 0)

    def forget(self, instances: Iterable[str]) -> list[VmacIf]:
        """Take these instances' VMACs off the books (a reload replaces them); :meth:`remove_ifs` deletes."""
        return [v for name in list(instances) if (v := self.vmacs.pop(name, None)) is not None]

    async def remove(self, instances: Iterable[str]) -> None:
        """Delete these instances' VMACs and put the base interfaces' sysctls back."""
        await self.remove_ifs(self.forget(instances))

    async def remove_ifs(self, gone: Iterable[VmacIf]) -> None:
        ipr = await self.nl._rt()
        for v in gone:
            name = v.instance
            if v.family == 4 and v.kind == "macvlan":
                self._reset_interface_parameters(v.base)
            try:
                await ipr.link("del", index=await self.nl.ifindex(v.ifname))
                log.info("(%s) Success removing VMAC interface %s", name, v.ifname)
            except Exception as e:
                log.info("(%s) Error removing VMAC interface %s (%s)", name, v.ifname, e)
        if not self.vmacs and len(self._rp_saved) > 1:
            for path, value in self._rp_saved.items():
                if path != "done":
                    self.sysctl.set(path, value)
            self._rp_saved.clear()

    def _reset_interface_parameters(self, base: str) -> None:
        users = self._base_users.get(base, 0) - 1
        if users > 0:
            self._base_users[base] = users
            return
        self._base_users.pop(base, None)
        ign, flt = self._base_saved.pop(base, (None, None))
        if ign is not None:
            self.sysctl.set(f"net/ipv4/conf/{base}/arp_ignore", ign)
        if flt is not None:
            self.sysctl.set(f"net/ipv4/conf/{base}/arp_filter", flt)

    async def close(self) -> None:
        await self.remove(list(self.vmacs))


async def remove_leftover_vmacs(nl: Netlink, instances: Iterable[Any]) -> list[str]:
    """After the VRRP process died: delete the configured instances' VMACs and ipvlans that are still there
    (only of their kind: an interface of that name of another kind is not ours).  The base interfaces'
    sysctls cannot be put back (their old values died with the process)."""
    mgr = VmacManager(nl, Sysctl(nl.netns))
    removed: list[str] = []
    for inst in instances:
        if inst.vmac is None:
            continue
        link = await mgr._link(inst.vmac.ifname)
        if link is None or mgr._kind(link)[0] != inst.vmac.kind:
            continue
        try:
            await (await nl._rt()).link("del", index=link["index"])
            removed.append(inst.vmac.ifname)
        except Exception as e:
            log.info("(%s) Error removing VMAC interface %s (%s)", inst.name, inst.vmac.ifname, e)
    return removed
