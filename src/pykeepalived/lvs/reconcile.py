"""Desired vs observed data-plane state -> an ordered list of operations.

Pure: the same function serves a start, a reload, a restart after a crash (adopting what the
kernel already has) and the repair after someone ran ``ipvsadm -C``.  ``pykeepalived plan``
prints the operations without applying them.

Order matters to the kernel and to traffic: services are added before their destinations,
destinations are added or re-weighted before stale ones are removed (so a service never has
fewer usable destinations than it needs in between), and services are deleted last.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Destination, DestKey, Service, ServiceKey, Table


@dataclass(frozen=True, slots=True)
class AddService:
    service: Service  # settings only; destinations come as AddDest ops

    def __str__(self) -> str:
        return f"add service {self.service.key} {_settings(self.service)}"


@dataclass(frozen=True, slots=True)
class EditService:
    service: Service

    def __str__(self) -> str:
        return f"edit service {self.service.key} {_settings(self.service)}"


@dataclass(frozen=True, slots=True)
class DelService:
    key: ServiceKey

    def __str__(self) -> str:
        return f"delete service {self.key}"


@dataclass(frozen=True, slots=True)
class AddDest:
    service: ServiceKey
    dest: Destination

    def __str__(self) -> str:
        return f"add dest {self.dest.key} to {self.service} {_dest(self.dest)}"


@dataclass(frozen=True, slots=True)
class EditDest:
    service: ServiceKey
    dest: Destination

    def __str__(self) -> str:
        return f"edit dest {self.dest.key} of {self.service} {_dest(self.dest)}"


@dataclass(frozen=True, slots=True)
class DelDest:
    service: ServiceKey
    key: DestKey

    def __str__(self) -> str:
        return f"delete dest {self.key} from {self.service}"


Op = AddService | EditService | DelService | AddDest | EditDest | DelDest


def diff(desired: Table, observed: Table) -> list[Op]:
    """Operations that turn ``observed`` into ``desired``; empty when they already agree."""
    want = desired.service_map()
    have = observed.service_map()
    adds: list[Op] = []
    edits: list[Op] = []
    dest_adds: list[Op] = []
    dest_edits: list[Op] = []
    dest_dels: list[Op] = []
    dels: list[Op] = []

    # the services that differ, in order (the common case, on every periodic reconcile and for most services
    # of a reload, is an equal one: only the few others are sorted)
    get = have.get
    changed = sorted([key for key, svc in want.items() if get(key) != svc])
    for key in changed:
        svc = want[key]
        old = get(key)
        if old is None:
            adds.append(AddService(svc))
            old_dests: dict[DestKey, Destination] = {}
        else:
            if old.settings() != svc.settings():
                edits.append(EditService(svc))
            old_dests = old.dest_map()
        new_dests = svc.dest_map()
        for dkey in sorted(new_dests):
            d = new_dests[dkey]
            prev = old_dests.get(dkey)
            if prev is None:
                dest_adds.append(AddDest(key, d))
            elif prev != d:
                dest_edits.append(EditDest(key, d))
        for dkey in sorted(old_dests):
            if dkey not in new_dests:
                dest_dels.append(DelDest(key, dkey))

    for key in sorted([key for key in have if key not in want]):
        dels.append(DelService(key))

    return adds + edits + dest_adds + dest_edits + dest_dels + dels


def apply_ops(table: Table, ops: list[Op]) -> Table:
    """The table that results from applying ``ops`` to ``table`` (a model of any data plane).

    Used by tests (apply then diff must be empty) and by data planes that keep the table in
    memory (the userspace proxy).
    """
    services = {s.key: s for s in table.services}
    for op in ops:
        if isinstance(op, AddService | EditService):
            dests = services[op.service.key].destinations if op.service.key in services else ()
            services[op.service.key] = _with_dests(op.service, dests)
        elif isinstance(op, DelService):
            services.pop(op.key, None)
        elif isinstance(op, AddDest | EditDest):
            svc = services[op.service]
            kept = tuple(d for d in svc.destinations if d.key != op.dest.key)
            services[op.service] = _with_dests(svc, (*kept, op.dest))
        elif isinstance(op, DelDest):
            svc = services[op.service]
            services[op.service] = _with_dests(svc, tuple(d for d in svc.destinations if d.key != op.key))
    return Table(tuple(services[k] for k in sorted(services)))


def _with_dests(svc: Service, dests: tuple[Destination, ...]) -> Service:
    return Service(svc.key, svc.scheduler, svc.flags, svc.persistence_timeout, svc.persistence_netmask,
                   tuple(sorted(dests, key=lambda d: d.key)))


def _settings(svc: Service) -> str:
    text = svc.scheduler
    if svc.flags:
        text += " " + ",".join(sorted(svc.flags))
    if svc.persistence_timeout:
        text += f" persistent {svc.persistence_timeout}"
        if svc.persistence_netmask is not None:
            text += f" mask /{svc.persistence_netmask}"
    return text


def _dest(d: Destination) -> str:
    text = f"{d.forward.value} weight {d.weight}"
    if d.u_threshold or d.l_threshold:
        text += f" thresholds {d.l_threshold}-{d.u_threshold}"
    return text
