"""What a reload keeps, removes and adds: old config and new config in, a plan out (pure).

Instances are matched by name.  One whose identity (VRID, interface, family, version, advert
interval, unicast or multicast, address owner or not) and sync group (same name, same members) are
unchanged is kept: its state machine, timers and VIPs carry on, with the new priority, VIPs, trackers
and notify scripts applied in place.  Any other running instance is removed (priority 0 if MASTER,
VIPs dropped, FAULT or DELETED notified) and any other configured one added (starting in BACKUP).
keepalived 2.2.7 pairs an old instance with a new one by VRID, family, interface and unicast-ness
(``vrrp.c`` ``vrrp_exist``, called from ``clear_diff_vrrp``); here the name must match as well.

For a kept instance that is MASTER, :func:`address_changes` says what to do with its VIPs and eVIPs,
virtual_routes and virtual_rules, by the same comparison as the static ones below (:func:`reload_changes`,
keepalived 2.2.7's ``clear_diff_vrrp_vrules``, ``clear_diff_vrrp_vroutes``, ``clear_diff_vrrp_vip`` then
``restore_vrrp_state``): the rules no longer configured, then the routes (each replaced by its new line of
the same key, or removed), then the addresses no longer configured go; an address or rule still configured
is left as it is (a changed broadcast or lifetime waits for a restart); then the new addresses, every
route (again: one found there has been added) and the new rules are added.

The root-level ``static_ipaddress``, ``static_routes`` and ``static_rules`` are the VRRP process's own,
whatever state its instances are in; :func:`static_changes` says what to do with them at start (old config
None), on reload and at stop (new config None), as keepalived 2.2.7's VRRP process does:

* start: the leftovers of an earlier run removed first -- every configured rule (removed whether this
  process set it or not), and with ``-V`` (``--dont-release-vrrp``) every configured address --, then the
  addresses, routes and rules added, in that order, before any instance starts (and before
  ``vrrp_startup_delay``);
* reload (``clear_diff_static_*``, before the instances' changes; the additions after them): a rule or an
  address no longer configured is removed; a route no longer configured is removed, and one configured
  again (same :func:`~.routes.route_key`, however else it changed) is replaced by its new line, or, if the
  kernel refuses the replacement (its source address not added yet), removed and added afresh with the
  additions; a rule equal in every selector (:func:`~.routes.rule_key`) and an address equal in what
  keepalived compares (:func:`address_key`: address, prefix, device, scope, label) carry over, untouched,
  so a changed broadcast or lifetime of a kept address waits for a restart, as with keepalived; then
  every configured address, route and rule not set yet is added (so one the kernel refused is tried again);
* stop (after the instances): rules, routes, then addresses removed, ``-V`` or not (``-V`` only keeps the
  instances' VIPs; with it every configured static address is removed, set by this process or not).

Removals and additions only touch what this process set (keepalived's ``set`` flags, kept by the executor)
unless forced as above.  When the VRRP process dies, nothing removes them (keepalived's parent does not):
the process started next adds them again (finding them there) and removes them when it stops.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .addresses import SCOPES, VipSpec
from .instances import vip_spec
from .routes import route_key, rule_key

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


def address_key(vip: VipSpec) -> tuple[object, ...]:
    """What keepalived compares to pair an address of the running config with one of the new on reload
    (``compare_ipaddress``): the address and prefix, the device, the scope and the label."""
    scope = vip.scope if isinstance(vip.scope, int) else int(vip.scope) if vip.scope.isdigit() else SCOPES[vip.scope]
    return vip.address, vip.dev, scope, vip.label


@dataclass(frozen=True, slots=True)
class EntryChanges:
    """What to do with one owner's addresses, routes and rules -- the VRRP process's static ones
    (:func:`static_changes`) or a kept MASTER instance's (:func:`address_changes`): first the removals --
    rules, routes, addresses --, then the additions -- addresses, routes, rules.  Removals are of what the
    owner set unless ``force_*``; additions skip what it has set already, routes unless ``force_routes``."""

    remove_rules: tuple[Rule, ...] = ()
    #: each route to remove, with the new line of the same key that replaces it (None: removed)
    remove_routes: tuple[tuple[Route, Route | None], ...] = ()
    remove_addresses: tuple[VipSpec, ...] = ()
    #: (old, new) addresses and rules a reload pairs: the new one is set if the old one was
    kept: tuple[tuple[VipSpec, VipSpec] | tuple[Rule, Rule], ...] = ()
    add_addresses: tuple[VipSpec, ...] = ()
    add_routes: tuple[Route, ...] = ()
    add_rules: tuple[Rule, ...] = ()
    #: remove ``remove_rules`` / ``remove_addresses`` whether the owner set them or not
    force_rules: bool = False
    force_addresses: bool = False
    #: add every one of ``add_routes``, set or not (a route found there has been added)
    force_routes: bool = False
    #: a reload's: each address removed is logged as keepalived logs it ("no longer exist")
    reload: bool = False

    def __bool__(self) -> bool:
        return any((self.remove_rules, self.remove_routes, self.remove_addresses, self.add_addresses,
                    self.add_routes, self.add_rules))


def reload_changes(old_addresses: Sequence[VipSpec], new_addresses: Sequence[VipSpec], old_routes: Sequence[Route],
                   new_routes: Sequence[Route], old_rules: Sequence[Rule], new_rules: Sequence[Rule]) -> EntryChanges:
    """A reload of one owner's entries, as keepalived 2.2.7's ``clear_diff_rules``, ``clear_diff_routes`` and
    ``get_diff_address``: a rule (:func:`~.routes.rule_key`) or an address (:func:`address_key`) no longer
    configured removed, one still configured carried over untouched (its new line set in its place); every
    running route removed, or replaced by the new line of the same :func:`~.routes.route_key`; then every
    new entry to add (the executor skips those set already)."""
    rules_by_key = {rule_key(r): r for r in reversed(new_rules)}  # reversed: the first of equal ones wins
    routes_by_key = {route_key(r): r for r in reversed(new_routes)}
    addresses_by_key = {address_key(v): v for v in reversed(new_addresses)}
    kept: list[tuple[VipSpec, VipSpec] | tuple[Rule, Rule]] = [
        (v, addresses_by_key[address_key(v)]) for v in old_addresses if address_key(v) in addresses_by_key]
    kept += [(r, rules_by_key[rule_key(r)]) for r in old_rules if rule_key(r) in rules_by_key]
    return EntryChanges(
        remove_rules=tuple(r for r in old_rules if rule_key(r) not in rules_by_key),
        remove_routes=tuple((r, routes_by_key.get(route_key(r))) for r in old_routes),
        remove_addresses=tuple(v for v in old_addresses if address_key(v) not in addresses_by_key),
        kept=tuple(kept), add_addresses=tuple(new_addresses), add_routes=tuple(new_routes),
        add_rules=tuple(new_rules), reload=True)


def address_changes(old_addrs: Sequence[VipSpec], new_addrs: Sequence[VipSpec], old: VrrpInstance,
                    new: VrrpInstance) -> EntryChanges:
    """A kept MASTER instance's reload: its VIPs and eVIPs (``old_addrs`` → ``new_addrs``), virtual_routes
    and virtual_rules, as :func:`reload_changes`; every route is added again after (keepalived's
    ``restore_vrrp_state``: the kernel may have dropped one that depended on a VIP removed)."""
    return replace(reload_changes(old_addrs, new_addrs, old.virtual_routes, new.virtual_routes,
                                  old.virtual_rules, new.virtual_rules), force_routes=True)


def static_addresses(config: Config) -> list[VipSpec]:
    """``static_ipaddress`` as addresses to add (without ``dev``: on the default interface)."""
    return [vip_spec(va, config.global_defs.default_interface) for va in config.vrrp.static_ipaddress]


def static_changes(old: Config | None, new: Config | None, *, dont_release: bool = False) -> EntryChanges:
    """What to do with the static addresses, routes and rules going from ``old`` to ``new``: start (``old``
    None), reload, or stop (``new`` None); ``dont_release``: keepalived's ``-V``.  See the module docstring."""
    if old is None and new is None:
        return EntryChanges()
    if new is None:
        assert old is not None
        return EntryChanges(remove_rules=old.vrrp.static_rules,
                            remove_routes=tuple((r, None) for r in old.vrrp.static_routes),
                            remove_addresses=tuple(static_addresses(old)), force_addresses=dont_release)
    addresses = tuple(static_addresses(new))
    routes, rules = new.vrrp.static_routes, new.vrrp.static_rules
    if old is None:  # an earlier run's leftovers first
        return EntryChanges(remove_rules=rules, remove_addresses=addresses if dont_release else (),
                            add_addresses=addresses, add_routes=routes, add_rules=rules,
                            force_rules=True, force_addresses=dont_release)
    return reload_changes(static_addresses(old), addresses, old.vrrp.static_routes, routes,
                          old.vrrp.static_rules, rules)
