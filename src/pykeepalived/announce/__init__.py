"""Health-gated BGP announcement of virtual-server addresses for N active nodes behind ECMP.

:mod:`.core` decides (pure); :mod:`.tether` holds the routes the node's routing daemon (FRR, BIRD) exports;
:class:`Announcer` is what the checker process calls after each reconcile and at stop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pykeepalived.config.model_announce import AnnounceConfig, IPNetwork

from .core import Plan, ServiceView, plan, wanted

__all__ = ["Announcer", "Plan", "ServiceView", "follow", "plan", "services_view", "wanted"]

log = logging.getLogger("pykeepalived.announce")


class Speaker(Protocol):
    def open(self) -> None: ...
    def announce(self, prefix: IPNetwork) -> None: ...
    def withdraw(self, prefix: IPNetwork) -> None: ...
    def close(self) -> None: ...


class Announcer:
    """Keeps the speaker's announced prefixes equal to :func:`core.wanted`. Blocking: call off the event loop."""

    def __init__(self, config: AnnounceConfig, speaker: Speaker | None = None) -> None:
        from .tether import Tether

        self.config = config
        self.speaker: Speaker = speaker if speaker is not None else Tether(config)
        self.announced: frozenset[IPNetwork] = frozenset()
        self._open = False

    def sync(self, services: Iterable[ServiceView], *, stopping: bool = False) -> Plan:
        want = wanted(self.config, services, stopping=stopping)
        p = plan(self.announced, want)
        if not p:
            return p
        if not self._open:
            self.speaker.open()
            self._open = True
        for prefix in p.withdraw:
            self.speaker.withdraw(prefix)
            self.announced -= {prefix}
        for prefix in p.announce:
            self.speaker.announce(prefix)
            self.announced |= {prefix}
        return p

    def stop(self) -> None:
        """Withdraw everything and let the device go."""
        self.sync((), stopping=True)
        if self._open:
            self.speaker.close()
            self._open = False


def services_view(virtual_servers: Iterable[Any], groups: Mapping[str, Any], health: Mapping[Any, Any],
                  programmed: Iterable[Any]) -> list[ServiceView]:
    """The checker process's state as :class:`ServiceView` rows: every service of every virtual server, whether
    the data plane holds it (``programmed``: the keys of the table read back) and whether its virtual server has
    quorum (``health``: the checkers' state by virtual server id)."""
    from pykeepalived.check.state import service_keys, vs_id

    have = set(programmed)
    out = []
    for vs in virtual_servers:
        st = health.get(vs_id(vs))
        quorum = bool(st is not None and st.quorum_up)
        for key in service_keys(vs, groups):
            out.append(ServiceView(key.addr, key in have, quorum))
    return out


def follow(announcer: Announcer | None, config: Any, runner: Any, observed: Any) -> Announcer | None:
    """The checker process's hook, called after each reconcile (on the data plane's thread, under its lock):
    start, replace (a reload changed ``bgp_announce``: withdraw all, then announce anew) or drop the announcer,
    then sync it with the checkers' verdicts and the table the data plane read back."""
    if announcer is not None and announcer.config != config.announce:
        announcer.stop()
        announcer = None
    if config.announce is None:
        return None
    if announcer is None:
        announcer = Announcer(config.announce)
    announcer.sync(services_view(config.lvs.virtual_servers, {g.name: g for g in config.lvs.virtual_server_groups},
                                 runner.health if runner is not None else {}, (s.key for s in observed.services)))
    return announcer
