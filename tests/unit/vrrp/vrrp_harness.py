"""A VRRP node without a kernel: :class:`~pykeepalived.vrrp.core.VrrpCore` and its
:class:`~pykeepalived.vrrp.executor.Executor` over a recording fake of the I/O, on a virtual clock.

:meth:`Node.run_until` is the event loop of ``vrrp.runner`` with time taken out: it advances the clock
straight to the next thing due (the core's earliest deadline, or the end of a sleep of the effects
worker, e.g. GARP pacing) and lets the effects worker run in between, so every recorded packet, VIP
change and frame carries the exact virtual time it happened at.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.config import load_config_text
from pykeepalived.config.model import Config
from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.core import VrrpCore
from pykeepalived.vrrp.executor import Executor
from pykeepalived.vrrp.instances import build_runtime
from pykeepalived.vrrp.io import Datagram
from pykeepalived.vrrp.reload import plan_reload

MAC = bytes.fromhex("020000000003")
SRC = ipaddress.IPv4Address("10.0.0.3")
SRC6 = ipaddress.IPv6Address("fe80::3")
INTERFACES = {"lo", "eth0", "eth1"}


def config(text: str) -> Config:
    result = load_config_text(text, interfaces=INTERFACES)
    assert result.config is not None, [str(d) for d in result.diagnostics]
    return result.config


@dataclass
class Sent:
    """One thing the node did, at virtual time ``t``."""

    t: float
    kind: str  # advert | vip+ | vip- | routes+ | routes- | routes~ (replaced) | frame
    what: Any = None
    dev: str = ""


class FakeSocket:
    def __init__(self, io: FakeIO, key: tuple[str, int, str | None]) -> None:
        self.io, self.key = io, key

    def send(self, packet: bytes, dst: str | None = None, src: str | None = None,
             hop_limit: int | None = None) -> None:
        if self.key[1] == socket.AF_INET:
            adv = pkt.decode_ipv4(packet)
        else:
            adv = pkt.decode_payload(packet, src, dst or self.key[2], 255, 6)
        self.io.record("advert", adv, self.key[0])


class FakeFrames:
    mac = MAC

    def __init__(self, io: FakeIO, dev: str) -> None:
        self.io, self.dev = io, dev

    def send(self, frame: bytes) -> None:
        self.io.record("frame", frame, self.dev)


class FakeIO:
    """Records every advert, VIP change and frame; sleeps on the virtual clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[Sent] = []
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self.forwarding: dict[str, bool] = {}
        #: what the kernel refuses: (address, add), (route or rule, add), (route, "replace")
        self.refuse: set[tuple[Any, Any]] = set()

    def record(self, kind: str, what: Any = None, dev: str = "") -> None:
        self.log.append(Sent(self.now, kind, what, dev))

    # VrrpIO
    def monotonic(self) -> float:
        return self.now

    def wall_time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, fut))
        await fut

    def advert_socket(self, key: tuple[str, int, str | None]) -> FakeSocket:
        return FakeSocket(self, key)

    def frame_sender(self, ifname: str) -> FakeFrames:
        return FakeFrames(self, ifname)

    async def set_vip(self, vip: Any, add: bool) -> None:
        self.record("vip+" if add else "vip-", vip.address, vip.dev)
        if (vip.address, add) in self.refuse:
            raise OSError(22, "Invalid argument")

    async def change_routes_rules(self, owner: str, routes: Any, rules: Any, add: bool,
                                  replace: bool = False) -> tuple[list[Any], list[Any]]:
        if routes or rules:
            self.record("routes~" if replace else "routes+" if add else "routes-", (tuple(routes), tuple(rules)))
        kind = "replace" if replace else add
        return [r for r in routes if (r, kind) not in self.refuse], [r for r in rules if (r, kind) not in self.refuse]

    async def ipv6_forwarding(self, ifname: str) -> bool:
        return self.forwarding.get(ifname, False)

    # views of the log
    def adverts(self) -> list[tuple[float, int]]:
        """(time, priority) of every advert sent."""
        return [(s.t, s.what.priority) for s in self.log if s.kind == "advert"]

    def frames(self) -> list[Sent]:
        return [s for s in self.log if s.kind == "frame"]

    def of(self, kind: str, after: float = -1.0) -> list[Sent]:
        """What of ``kind`` happened after time ``after``."""
        return [s for s in self.log if s.kind == kind and s.t > after]


class Alerts:
    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def forget(self, name: str) -> None:
        self.forgotten.append(name)


@dataclass
class RecordingNotifier:
    """What ``vrrp.notifier.Notifier`` would have announced."""

    states: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, int]] = field(default_factory=list)
    groups: list[tuple[str, str]] = field(default_factory=list)
    alerts: Alerts = field(default_factory=Alerts)

    def instance_state(self, inst: Any, state: Any, priority: int) -> None:
        self.states.append((inst.name, getattr(state, "name", state)))

    def instance_event(self, inst: Any, event: str, priority: int) -> None:
        self.events.append((inst.name, event, priority))

    def group_state(self, group: Any, state: Any) -> None:
        self.groups.append((group.name, state.name))

    def reload(self, g: Any) -> None:
        pass


class Node:
    """One VRRP process's core and executor on fake I/O (see the module docstring)."""

    def __init__(self, text: str, *, dont_release_vrrp: bool = False, links_up: bool = True) -> None:
        self.cfg = config(text)
        self.io = FakeIO()
        self.notifier = RecordingNotifier()
        self.monitor_states: dict[tuple[str, str], Any] = {}
        self.executor = Executor(self.io, self.notifier, dont_release_vrrp=dont_release_vrrp)  # type: ignore[arg-type]
        self.core = VrrpCore(self.cfg, self.executor, self.notifier,  # type: ignore[arg-type]
                             lambda: self.monitor_states)
        for inst in self.cfg.vrrp.instances:
            self.core.add(build_runtime(inst, self.cfg.global_defs, SRC6 if inst.family == 6 else SRC))
        self.core.make_groups(self.cfg.vrrp.sync_groups)
        self.core.set_trackers()
        for rt in self.core.instances.values():
            self.core.register(rt)
            for ifname in self.core.watched_ifnames(rt):
                self.core.link_up[ifname] = links_up
        self._worker: asyncio.Task[None] | None = None

    @property
    def rt(self) -> Any:
        """The first (usually only) instance."""
        return next(iter(self.core.instances.values()))

    async def start(self, at: float = 0.0) -> None:
        self.core.set_statics()
        self._worker = asyncio.get_running_loop().create_task(self.executor.run())
        self.io.now = at
        self.core.start(at, list(self.core.instances))
        self.core.started = True
        await self.settle()

    async def settle(self) -> None:
        """Let the effects worker run until it waits for the clock or for work."""
        for _ in range(200):
            await asyncio.sleep(0)

    async def run_until(self, end: float) -> None:
        """Advance the virtual clock to ``end``, firing whatever is due on the way, in time order."""
        await self.settle()
        while True:
            due = [t for t, _ in self.io.sleepers]
            deadline = self.core.next_deadline()
            if deadline is not None:
                due.append(deadline)
            nxt = min(due, default=None)
            if nxt is None or nxt > end:
                self.io.now = max(self.io.now, end)
                return
            self.io.now = max(self.io.now, nxt)
            for item in [s for s in self.io.sleepers if s[0] <= nxt]:
                self.io.sleepers.remove(item)
                item[1].set_result(None)
            await self.settle()
            if deadline is not None and deadline <= nxt:
                self.core.fire_timers(nxt)
            await self.settle()

    def receive(self, advert: pkt.Advert, src: str, *, ttl: int = 255, dst: str = "224.0.0.18",
                at: float | None = None) -> None:
        """An advert arrives on the instance's socket at ``at`` (default: now)."""
        data = pkt.encode_ipv4(advert, src, dst, 1, ttl=ttl)
        dg = Datagram(socket.AF_INET, data, data[20:], src, dst, ttl, 2)
        if at is not None:
            self.io.now = max(self.io.now, at)
        self.core.on_datagram(self.io.now, self.rt.sock_key, dg)

    def link(self, at: float, ifname: str, up: bool) -> bool:
        """Netlink reports ``ifname`` up or down at ``at``."""
        self.io.now = max(self.io.now, at)
        return self.core.link_event(self.io.now, ifname, up)

    def reload(self, text: str) -> Any:
        """Apply a new config the way ``VrrpProcess.apply_config`` does; returns the plan."""
        return self.apply(config(text))

    def apply(self, new: Config) -> Any:
        """:meth:`reload` of a configuration already loaded (the supervisor's); returns the plan."""
        plan = plan_reload({n: rt.model for n, rt in self.core.instances.items()}, new, self.core.group_of,
                           self.core.group_models)
        added = self.core.reconfigure(self.io.now, new, plan, {n: SRC for n in (*plan.keep, *plan.add)})
        for rt in added:
            self.core.register(rt)
            for ifname in self.core.watched_ifnames(rt):
                self.core.link_up.setdefault(ifname, True)
        self.core.after_reload(self.io.now, plan)
        self.cfg = new
        return plan

    async def stop(self) -> None:
        self.core.stop(self.io.now)
        self.executor.finish()
        await self.settle()
        while self.io.sleepers:
            await self.run_until(min(t for t, _ in self.io.sleepers))
        if self._worker is not None:
            await asyncio.wait_for(self._worker, 1)
