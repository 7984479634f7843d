"""The data-plane conformance suite: what every data plane must do, whatever it is built on.

One set of checks, run against each data plane through a :class:`Harness` that says where the data
plane lives (a lab namespace, the ip_vs VM, this process) and how traffic reaches it:

* nftables: ``tests/conformance/test_nftables.py`` (network namespaces, root);
* IPVS: ``tests/vm/ipvs_conformance.py``, run inside the ip_vs VM by ``tests/vm/test_ipvs_in_vm.py``;
* proxy: ``tests/conformance/test_proxy.py`` (loopback, no root).

A new data plane adds one harness module calling these checks; the checks are:

* :func:`check_converges`: any desired table the data plane can hold (per its ``capabilities``) is
  reached from any observed one in one ``apply(diff(...))``; a fresh instance reads it back exactly and
  finds nothing to do (the reconciler's property, against the real thing);
* :func:`check_counters`: after N new connections, the destinations' ``conns`` add up to N, split as the
  scheduler split them, with bytes both ways;
* :func:`check_drain`: weight 0 keeps an established connection on its real server while new
  connections go elsewhere;
* :func:`check_adoption`: a new data-plane instance (a restarted checker process) finds the table the
  previous one left, diffs to nothing, and traffic never stopped.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from pykeepalived.lvs.dataplane.contract import Capabilities, DataPlane
from pykeepalived.lvs.model import Destination, DestKey, Service, ServiceKey, Table
from pykeepalived.lvs.reconcile import EditDest, diff

T = TypeVar("T")


class Connection(Protocol):
    """A client connection held open to the virtual service (HTTP keep-alive)."""

    def ask(self) -> str:
        """One request on this connection: the name of the real server that answered."""

    def close(self) -> None: ...


class Harness(Protocol):
    """Where a data plane under test lives, and a client and two real servers around it."""

    capabilities: Capabilities
    #: the virtual service traffic is sent to, and its two real servers (answering with their names)
    service: ServiceKey
    servers: dict[DestKey, str]
    #: service addresses and ports the property test may draw (ports < 1024 need root to bind)
    address_range: tuple[str, str]
    ports: tuple[int, ...]

    def run(self, fn: Callable[[Callable[[], DataPlane]], T]) -> T:
        """``fn(new)`` where the data plane lives; ``new()`` makes a fresh instance on the same table."""

    def requests(self, count: int) -> dict[str, int]:
        """``count`` new connections, one request each: answers counted by server name (+ "errors")."""

    def connect(self) -> Connection: ...


# ------------------------------------------------------------------------------------ the property


def tables_for(h: Harness) -> st.SearchStrategy[Table]:
    """Random tables within what the harness's data plane can hold."""
    caps = h.capabilities
    lo, hi = (int(ipaddress.ip_address(a)) for a in h.address_range)
    inet = [p for p in ("tcp", "udp", "sctp") if p in caps.protocols]
    keys = [st.builds(lambda p, a, port: ServiceKey.inet(p, ipaddress.IPv4Address(a), port),
                      st.sampled_from(inet), st.integers(lo, hi), st.sampled_from(h.ports))]
    if "fwm" in caps.protocols:
        keys.append(st.builds(ServiceKey.mark, st.integers(1, 4)))
    dest_keys = st.builds(lambda a, p: DestKey(ipaddress.IPv4Address(a), p),
                          st.integers(0xC0A8000A, 0xC0A80014), st.sampled_from([80, 8080]))
    destinations = st.builds(Destination, dest_keys, st.integers(0, 100),
                             st.sampled_from(sorted(caps.forwarding)))
    schedulers = sorted(caps.schedulers & {"rr", "wrr", "lc", "wlc", "sh", "mh", "sed", "nq"})

    @st.composite
    def services(draw: st.DrawFn) -> Service:
        dests = draw(st.lists(destinations, max_size=5, unique_by=lambda d: d.key))
        timeout = draw(st.sampled_from([0, 50, 360]))
        return Service(draw(st.one_of(*keys)), draw(st.sampled_from(schedulers)), frozenset(), timeout,
                       draw(st.sampled_from([None, 24])) if timeout else None,
                       tuple(sorted(dests, key=lambda d: d.key)))

    return st.lists(services(), max_size=4, unique_by=lambda s: s.key).map(
        lambda ss: Table(tuple(sorted(ss, key=lambda s: s.key))))


def check_converges(h: Harness, desired: Table, observed: Table) -> None:
    """From ``observed`` (put there first), one apply of the diff reaches ``desired``; a fresh
    instance reads back exactly ``desired`` and has nothing to do, and the instance that applied
    observes the same (observation may be incremental, never different)."""

    def work(new: Callable[[], DataPlane]) -> tuple[Table, Table, Table, list[object], set[object]]:
        keys = [s.key for s in (*desired.services, *observed.services)]
        setup = new()
        setup.open()
        setup.claim(keys)
        want_observed = setup.canonical(observed)
        setup.apply(diff(want_observed, setup.observe()))
        dp = new()  # a daemon that finds `observed` there
        dp.claim(keys)
        seen = dp.observe()
        want = dp.canonical(desired)
        dp.apply(diff(want, seen))
        mine = dp.observe()  # what the instance that applied sees (it may remember what it wrote)
        fresh = new()
        fresh.claim(keys)
        after = fresh.observe()
        assert mine == after, "the instance that applied sees other than what a fresh one reads"
        again = diff(want, after)
        dests = set(fresh.counters().dests)
        return want_observed, seen, after, again, dests

    want_observed, seen, after, again, dests = h.run(work)
    assert seen == want_observed
    want = h.run(lambda new: new().canonical(desired))
    assert after == want
    assert again == []
    assert dests == {(s.key, d.key) for s in want.services for d in s.destinations}


def clear(h: Harness) -> None:
    """Remove every service the data plane holds (between checks)."""

    def work(new: Callable[[], DataPlane]) -> None:
        dp = new()
        dp.open()
        dp.claim([h.service])
        dp.apply(diff(Table(), dp.observe()))

    h.run(work)


# ------------------------------------------------------------------------------------ traffic


def seed(h: Harness, scheduler: str = "rr", weights: tuple[int, int] = (1, 1), persistence: int = 0) -> Table:
    dests = tuple(Destination(k, w) for k, w in zip(sorted(h.servers), weights, strict=True))
    return Table((Service(h.service, scheduler, persistence_timeout=persistence, destinations=dests),))


def program(h: Harness, table: Table) -> None:
    """What a (re)started checker process does: a fresh instance observes, diffs and applies."""

    def work(new: Callable[[], DataPlane]) -> None:
        dp = new()
        dp.open()
        dp.claim(s.key for s in table.services)
        dp.apply(diff(dp.canonical(table), dp.observe()))

    h.run(work)


def read_counters(h: Harness, until: Callable[[dict[DestKey, tuple[int, int, int]]], bool],
                  timeout: float = 10.0) -> dict[DestKey, tuple[int, int, int]]:
    """(conns, inbytes, outbytes) per destination of the harness's service, polled until ``until``
    holds (IPVS folds its per-CPU counters every 2 s) or ``timeout``."""

    def work(new: Callable[[], DataPlane]) -> dict[DestKey, tuple[int, int, int]]:
        dp = new()
        dp.claim([h.service])
        dp.observe()
        return {d: (c.stats.conns, c.stats.inbytes, c.stats.outbytes)
                for (s, d), c in dp.counters().dests.items() if s == h.service}

    deadline = time.monotonic() + timeout
    got = h.run(work)
    while not until(got) and time.monotonic() < deadline:
        time.sleep(0.5)
        got = h.run(work)
    return got


def check_counters(h: Harness, count: int = 10) -> None:
    """N new connections through rr over two equal servers: conns N/2 each, bytes in and out."""
    program(h, seed(h, "rr"))
    before = read_counters(h, lambda _: True)
    seen = h.requests(count)
    assert seen.get("errors", 0) == 0 and sorted(seen.values()) == [count // 2, count // 2], seen

    def done(got: dict[DestKey, tuple[int, int, int]]) -> bool:
        return sum(c[0] for c in got.values()) - sum(c[0] for c in before.values()) >= count

    after = read_counters(h, done)
    for key, name in h.servers.items():
        conns = after[key][0] - before.get(key, (0, 0, 0))[0]
        assert conns == seen[name], (key, conns, seen)
        assert after[key][1] > before.get(key, (0, 0, 0))[1], ("no bytes in", key, after)
        assert after[key][2] > before.get(key, (0, 0, 0))[2], ("no bytes out", key, after)


def check_drain(h: Harness) -> None:
    """A held connection stays on its server after that server's weight drops to 0; new ones avoid it."""
    table = seed(h, "rr")
    program(h, table)
    conn = h.connect()
    try:
        first = conn.ask()
        by_name = {name: key for key, name in h.servers.items()}
        svc = table.services[0]
        drained = replace(svc.dest_map()[by_name[first]], weight=0)

        def work(new: Callable[[], DataPlane]) -> None:
            dp = new()
            dp.claim([svc.key])
            dp.observe()
            dp.apply([EditDest(svc.key, drained)])

        h.run(work)
        seen = h.requests(6)
        assert seen.get("errors", 0) == 0 and first not in seen, (first, seen)
        assert conn.ask() == first, "the established connection left its drained server"
    finally:
        conn.close()


def check_adoption(h: Harness) -> None:
    """A fresh instance finds the previous instance's table: nothing to change, traffic flowing."""
    table = seed(h, "wrr", (3, 1))
    program(h, table)

    def work(new: Callable[[], DataPlane]) -> tuple[Table, list[object]]:
        dp = new()
        dp.open()
        dp.claim([h.service])
        seen = dp.observe()
        return seen, diff(dp.canonical(table), seen)

    seen, ops = h.run(work)
    assert ops == [], ops
    assert [s.key for s in seen.services] == [h.service]
    got = h.requests(8)
    assert got.get("errors", 0) == 0 and sorted(got.values()) == [2, 6], got
