"""What is left to do after the VRRP process died: its VIPs, routes and rules released, and a
priority-0 advert for each instance that was MASTER.

The supervisor calls :func:`release_vips` once the VRRP child is gone: whatever the child held must not
outlive it.  An instance whose VIPs were still up was MASTER: a priority-0 advert is sent on its behalf,
as its own stop would have sent, so the backups take over after Skew_Time instead of
Master_Down_Interval.

The static addresses, routes and rules are left in place: keepalived's parent does nothing when its VRRP
child dies, and the static ones belong to no instance.  The next VRRP process finds them there, takes them
as its own and removes them when it stops (``vrrp.reload.static_changes``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from . import packet as pkt
from .addresses import Netlink, VipSpec
from .firewall import remove_leftover_tables
from .instances import advert_auth, advert_destinations, advert_source, all_vips, configured_vips
from .io import VrrpSocket
from .routes import change_routes_rules
from .vmac import remove_leftover_vmacs

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_global import GlobalDefs
    from pykeepalived.config.model_vrrp import VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")


async def resign(nl: Netlink, inst: VrrpInstance, g: GlobalDefs, netns: str | None = None) -> bool:
    """One priority-0 advert on behalf of an instance whose process died while MASTER, as its own stop
    would have sent: the backups take over after Skew_Time instead of Master_Down_Interval."""
    ifname = inst.interface or g.default_interface
    family = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
    src = await advert_source(nl, inst, ifname, family)
    if src is None:
        return False
    vips, _ = configured_vips(inst, g.default_interface)
    auth_type, auth_pass = advert_auth(inst)
    adv = pkt.Advert.build(version=inst.version, vrid=inst.virtual_router_id, priority=0,
                           addresses=tuple(v.address.ip for v in vips if v.address.version == inst.family),
                           adver_int=inst.advert_int, family=inst.family, auth_type=auth_type, auth_pass=auth_pass)
    peers, group = advert_destinations(inst, g)
    try:
        sock = VrrpSocket(ifname, family, group=str(group) if group is not None else None, netns=netns, join=False)
    except OSError as e:
        log.warning("(%s) no priority-0 advert for the dead VRRP process: %s", inst.name, e.strerror or e)
        return False
    try:
        for dst in peers or ((group,) if group is not None else ()):
            if family == socket.AF_INET:
                ttl = (inst.unicast_ttl or pkt.VRRP_TTL) if peers else pkt.VRRP_TTL
                sock.send(pkt.encode_ipv4(adv, src, dst, 0, ttl))
            else:
                sock.send(pkt.encode_payload(adv, src, dst), str(dst), str(src), inst.unicast_ttl if peers else None)
    except OSError as e:
        log.warning("(%s) priority-0 advert for the dead VRRP process failed: %s", inst.name, e.strerror or e)
        return False
    finally:
        sock.close()
    log.info("(%s) sent priority 0 on behalf of the dead VRRP process", inst.name)
    return True


async def release_vips_async(config: Config, netns: str | None = None) -> list[VipSpec]:
    """:func:`release_vips` for a caller that already runs an event loop."""
    async with Netlink(netns) as nl:
        for inst in config.vrrp.instances:  # routes and rules first, as a stopping MASTER does
            routes, rules = await change_routes_rules(nl, inst.name, inst.virtual_routes,
                                                      inst.virtual_rules, add=False)
            for route in routes:
                log.info("(%s) Removed virtual route %s after the VRRP process stopped", inst.name, route.dest)
            for rule in rules:
                log.info("(%s) Removed virtual rule (preference %d) after the VRRP process stopped",
                         inst.name, rule.preference)
        removed = await nl.remove_stale_vips(all_vips(config))
        held = {(v.address, v.dev) for v in removed}
        for inst in config.vrrp.instances:  # an instance whose VIPs were up was MASTER
            vips, evips = configured_vips(inst, config.global_defs.default_interface)
            if any((v.address, v.dev) in held for v in vips + evips):
                await resign(nl, inst, config.global_defs, netns)
        for ifname in await remove_leftover_vmacs(nl, config.vrrp.instances):
            log.info("Removed VMAC interface %s after the VRRP process stopped", ifname)
    for table in remove_leftover_tables(config, netns):
        log.info("Removed nftables table %s after the VRRP process stopped", table)
    for vip in removed:
        log.info("Removed VIP %s from %s after the VRRP process stopped", vip.address, vip.dev)
    return removed


def release_vips(config: Config, netns: str | None = None) -> list[VipSpec]:
    """Remove every configured VIP and eVIP, virtual_route and virtual_rule of every instance;
    idempotent.

    For the supervisor after the VRRP child died: whatever the child held must not outlive it.
    Returns the addresses that were actually present.
    """
    return asyncio.run(release_vips_async(config, netns))
