"""The proxy's dispatch picks exactly what lvs.schedulers picks, fed the same operations, flows and counts."""

from __future__ import annotations

import random

import pytest

from pykeepalived.lvs import schedulers as sched
from pykeepalived.lvs.dataplane.proxy.dispatch import ServiceDispatch, Unsupported, check_supported
from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey

VIP = "127.0.0.5"
KEY = ServiceKey.inet("tcp", VIP, 8080)


def _dests(u_threshold: int = 0) -> tuple[Destination, ...]:
    return (Destination(DestKey.of("127.0.0.11", 80), 3),
            Destination(DestKey.of("127.0.0.12", 80), 1, u_threshold=u_threshold),
            Destination(DestKey.of("127.0.0.13", 80), 2),
            Destination(DestKey.of("127.0.0.14", 8080), 5))


class Reference:
    """The scheduler driven directly, with the connection counts and overload flags kept by the test."""

    def __init__(self, svc: Service, rng: random.Random) -> None:
        self.s = sched.make_scheduler(svc.scheduler, svc.flags, rng=rng)
        self.order: list[Destination] = []
        self.active: dict[DestKey, int] = {}
        self.over: dict[DestKey, bool] = {}
        for d in svc.destinations:
            self.add(d)

    def views(self) -> list[sched.Dest]:
        return [sched.Dest(d.key, d.weight, self.active[d.key], 0, self.over[d.key], d.u_threshold,
                           d.l_threshold, None, d.key.addr, d.key.port) for d in self.order]

    def add(self, d: Destination) -> None:
        self.order.insert(0, d)
        self.active[d.key] = 0
        self.over[d.key] = False
        self.s.update(self.views())

    def edit(self, d: Destination) -> None:
        self.order = [d if x.key == d.key else x for x in self.order]
        self.s.update(self.views())

    def delete(self, key: DestKey) -> None:
        self.order = [x for x in self.order if x.key != key]
        self.s.update(self.views())

    def pick(self, client: str, port: int, now: float) -> object:
        return self.s.pick(sched.Flow(client, port, VIP, 8080, "tcp"), self.views(), now)

    def conn(self, key: DestKey, added: bool) -> None:
        self.active[key] += 1 if added else -1
        view = next((v for v in self.views() if v.key == key), None)
        if view is not None:
            self.over[key] = sched.overload_after(view, conn_added=added)


@pytest.mark.parametrize("name", sched.SCHEDULER_NAMES)
@pytest.mark.parametrize("u_threshold", [0, 40])
def test_picks_equal_lvs_schedulers_over_10000_flows(name: str, u_threshold: int) -> None:
    flags = frozenset({"sh-port"}) if name == "sh" else frozenset({"mh-port"}) if name == "mh" else frozenset()
    svc = Service(KEY, name, flags, destinations=_dests(u_threshold))
    disp = ServiceDispatch(svc, rng=lambda: random.Random(7))
    ref = Reference(svc, random.Random(7))
    rnd = random.Random(name)
    open_conns: list[tuple[DestKey, object]] = []
    clients = [f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(300)]
    extra = Destination(DestKey.of("127.0.0.15", 80), 4)
    for step in range(10_000):
        now = step * 0.5
        if step == 4000:  # drain one
            d = Destination(DestKey.of("127.0.0.13", 80), 0)
            disp.edit_dest(d)
            ref.edit(d)
        elif step == 6000:
            disp.add_dest(extra)
            ref.add(extra)
        elif step == 8000:
            disp.del_dest(DestKey.of("127.0.0.11", 80))
            ref.delete(DestKey.of("127.0.0.11", 80))
            open_conns = [c for c in open_conns if c[0] != DestKey.of("127.0.0.11", 80)]
        while open_conns and rnd.random() < 0.45:
            key, _ = open_conns.pop(rnd.randrange(len(open_conns)))
            disp.unbound(disp.by_key[key], None, active=True)
            ref.conn(key, added=False)
        client, port = rnd.choice(clients), rnd.randrange(1024, 65536)
        want = ref.pick(client, port, now)
        got = disp.pick(client, port, now)
        assert (got.key if got is not None else None) == want, f"{name}: step {step}"
        if got is not None:
            disp.bound(got, disp.last_template, active=True)
            ref.conn(got.key, added=True)
            open_conns.append((got.key, None))


def test_kernel_list_order_is_newest_first() -> None:
    disp = ServiceDispatch(Service(KEY, "rr", destinations=_dests()))
    assert disp.dest_order() == [d.key for d in reversed(_dests())]
    # read back sorted, as every data plane's observe()
    assert [d.key for d in disp.table_service().destinations] == sorted(d.key for d in _dests())


def test_weight_zero_is_never_picked_and_removal_stops_new_connections() -> None:
    disp = ServiceDispatch(Service(KEY, "wrr", destinations=_dests()))
    disp.edit_dest(Destination(DestKey.of("127.0.0.14", 8080), 0))
    disp.del_dest(DestKey.of("127.0.0.11", 80))
    picks = {disp.pick("10.0.0.1", 1000 + i, 0.0).key for i in range(100)}  # type: ignore[union-attr]
    assert picks == {DestKey.of("127.0.0.12", 80), DestKey.of("127.0.0.13", 80)}


@pytest.mark.parametrize(("family", "clients", "mask"), [
    (4, ("10.1.2.3", "10.1.2.200"), 24),
    (6, ("2001:db8:1:2::5", "2001:db8:1:2:ffff::9"), 64),
])
def test_persistence_keeps_a_client_network_on_one_server(family: int, clients: tuple[str, str], mask: int) -> None:
    vip = "127.0.0.5" if family == 4 else "::1"
    dests = tuple(Destination(DestKey.of(f"127.0.0.1{i}" if family == 4 else f"::1{i}", 80)) for i in range(1, 4))
    disp = ServiceDispatch(Service(ServiceKey.inet("tcp", vip, 80), "rr", persistence_timeout=30,
                                   persistence_netmask=mask, destinations=dests))
    first = disp.pick(clients[0], 1000, 0.0)
    assert first is not None
    assert all(disp.pick(clients[i % 2], 2000 + i, 1.0 + i) is first for i in range(20))
    other = "10.9.9.9" if family == 4 else "2001:db8:9::1"
    assert disp.pick(other, 1, 22.0) is not first  # rr moves on for a new network
    # the template expires timeout seconds after its last use, unless a connection it placed is open
    assert disp.pick(clients[0], 3000, 60.0) is not None
    disp.expire(60.0)  # the other network's template (last used at 22) is gone
    assert len(disp.templates) == 1
    disp.bound(first, disp.last_template, active=True)
    disp.expire(200.0)
    assert len(disp.templates) == 1
    disp.unbound(first, disp.templates[next(iter(disp.templates))], active=True)
    disp.expire(200.0)
    assert not disp.templates


def test_persistent_client_follows_a_quiesced_server_but_not_a_removed_one() -> None:
    disp = ServiceDispatch(Service(KEY, "rr", persistence_timeout=30, destinations=_dests()))
    first = disp.pick("10.0.0.1", 1000, 0.0)
    assert first is not None
    disp.edit_dest(Destination(first.key, 0))  # IPVS (expire_quiescent_template=0) keeps the template
    assert disp.pick("10.0.0.1", 1001, 1.0) is first
    disp.del_dest(first.key)
    again = disp.pick("10.0.0.1", 1002, 2.0)
    assert again is not None and again.key != first.key


@pytest.mark.parametrize("svc", [
    Service(ServiceKey.mark(1), "rr"),
    Service(ServiceKey.inet("sctp", VIP, 80), "rr"),
    Service(KEY, "rr", destinations=(Destination(DestKey.of("127.0.0.11", 80), forward=Forward.DR),)),
])
def test_what_the_proxy_cannot_serve_is_refused_with_a_reason(svc: Service) -> None:
    with pytest.raises(Unsupported, match="proxy data plane"):
        check_supported(svc)


def test_closed_connections_count_as_inactive_for_time_wait_as_in_ipvs() -> None:
    """IPVS keeps a closed connection (FIN_WAIT / TIME_WAIT) as inactive for two minutes, which is
    what spreads short connections under wlc; the proxy counts them the same way."""
    from pykeepalived.lvs.dataplane.proxy.dispatch import TIME_WAIT

    disp = ServiceDispatch(Service(KEY, "wlc", destinations=(
        Destination(DestKey.of("127.0.0.11", 80), 20), Destination(DestKey.of("127.0.0.12", 80), 8))))
    disp.expire(0.0)
    picks = []
    for i in range(56):  # one short connection after another
        d = disp.pick("10.0.0.1", 1000 + i, 1.0)
        assert d is not None
        disp.bound(d, None, active=True)
        disp.unbound(d, None, active=True)
        disp.linger(d, 1.0)
        picks.append(d.key.addr.exploded)
    assert picks.count("127.0.0.11") == 40 and picks.count("127.0.0.12") == 16
    disp.expire(1.0 + TIME_WAIT - 1)
    assert sum(d.inactive for d in disp.dests) == 56
    disp.expire(1.0 + TIME_WAIT)
    assert sum(d.inactive for d in disp.dests) == 0
