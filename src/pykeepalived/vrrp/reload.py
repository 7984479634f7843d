"""What a reload keeps, removes and adds: old config and new config in, a plan out (pure).

Instances are matched by name.  One whose identity (VRID, interface, family, version, advert
interval, unicast or multicast, address owner or not) and sync group (same name, same members) are
unchanged is kept: its state machine, timers and VIPs carry on, with the new priority, VIPs, trackers
and notify scripts applied in place.  Any other running instance is removed (priority 0 if MASTER,
VIPs dropped, FAULT or DELETED notified) and any other configured one added (starting in BACKUP).
keepalived 2.2.7 pairs an old instance with a new one by VRID, family, interface and unicast-ness
(``vrrp.c`` ``vrrp_exist``, called from ``clear_diff_vrrp``); here the name must match as well.

For a kept instance that is MASTER, :func:`address_changes` says which VIPs, routes and rules to
remove and which to add; the ones in both configs are left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .addresses import VipSpec

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_vrrp import Route, Rule, VrrpInstance
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel


def identity(inst: VrrpInstance, default_if: str) -> tuple[object, ...]:
    """What must stay the same for a reloaded instance to keep its state machine."""
    return (inst.virtual_router_id, inst.interface or default_if, inst.family, inst.version,
            inst.advert_int, bool(inst.unicast_peer), inst.priority == 255, inst.vmac, inst.ipvlan)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """Instance names: ``keep`` (state carried over), ``drop`` (stopped and removed), ``add`` (new)."""

    keep: tuple[str, ...]
    drop: tuple[str, ...]
    add: tuple[str, ...]


def same_group(name: str, new: Config, running: Collection[str], group_of: Mapping[str, str],
               group_models: Mapping[str, SyncGroupModel]) -> bool:
    """Same sync group with the same members before and after (or in none both times).

    ``running``: the instances running now; ``group_of`` / ``group_models``: their sync groups."""
    names = {i.name for i in new.vrrp.instances}
    new_gm = next((g for g in new.vrrp.sync_groups if name in g.group), None)
    old_name = group_of.get(name)
    if new_gm is None or old_name is None:
        return new_gm is None and old_name is None
    old_gm = group_models[old_name]
    return (old_gm.name == new_gm.name and {n for n in old_gm.group if n in running}
            == {n for n in new_gm.group if n in names})


def plan_reload(running: Mapping[str, VrrpInstance], new: Config, group_of: Mapping[str, str],
                group_models: Mapping[str, SyncGroupModel]) -> ReloadPlan:
    """The plan for going from the ``running`` instances (by name) to ``new``."""
    default_if = new.global_defs.default_interface
    models = {i.name: i for i in new.vrrp.instances}
    keep = tuple(n for n, model in running.items()
                 if n in models and identity(model, default_if) == identity(models[n], default_if)
                 and same_group(n, new, running, group_of, group_models))
    return ReloadPlan(keep=keep, drop=tuple(n for n in running if n not in keep),
                      add=tuple(n for n in models if n not in keep))


@dataclass(frozen=True, slots=True)
class AddressChanges:
    """What a kept MASTER instance removes and adds on reload."""

    gone: tuple[VipSpec, ...] = ()
    added: tuple[VipSpec, ...] = ()
    gone_routes: tuple[Route, ...] = ()
    gone_rules: tuple[Rule, ...] = ()
    new_routes: tuple[Route, ...] = ()
    new_rules: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return any((self.gone, self.added, self.gone_routes, self.gone_rules, self.new_routes, self.new_rules))


def address_changes(old_addrs: list[VipSpec], new_addrs: list[VipSpec], old: VrrpInstance,
                    new: VrrpInstance) -> AddressChanges:
    """VIPs/eVIPs (``old_addrs`` → ``new_addrs``), virtual_routes and virtual_rules that differ."""
    return AddressChanges(
        gone=tuple(v for v in old_addrs if v not in new_addrs),
        added=tuple(v for v in new_addrs if v not in old_addrs),
        gone_routes=tuple(r for r in old.virtual_routes if r not in new.virtual_routes),
        gone_rules=tuple(r for r in old.virtual_rules if r not in new.virtual_rules),
        new_routes=tuple(r for r in new.virtual_routes if r not in old.virtual_routes),
        new_rules=tuple(r for r in new.virtual_rules if r not in old.virtual_rules),
    )
